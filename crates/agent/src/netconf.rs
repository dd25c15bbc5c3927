//! Bringing the boot NIC up and applying a DHCP lease over rtnetlink (spec §7.2 step 3):
//! address and prefix, MTU, routes with protocol `boot` in the main table, hostname and
//! `/etc/resolv.conf`.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use futures::TryStreamExt;
use rtnetlink::packet_route::link::LinkAttribute;
use rtnetlink::packet_route::route::{RouteProtocol, RouteScope};
use rtnetlink::{Handle, LinkUnspec, RouteMessageBuilder};
use sidero_dhcpc::Lease;

use crate::nics::format_mac;

/// Why the network could not be configured.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The netlink socket could not be opened.
    #[error("opening a netlink socket: {0}")]
    Socket(#[from] std::io::Error),
    /// A netlink request failed.
    #[error("{what}: {source}")]
    Netlink {
        /// What was being done.
        what: String,
        /// Cause.
        source: rtnetlink::Error,
    },
    /// No interface has the boot MAC.
    #[error("no interface with MAC {0} appeared within {1} s")]
    NoLink(String, u64),
}

/// A netlink connection for the calls below.
pub fn connect() -> Result<Handle, NetError> {
    let (conn, handle, _) = rtnetlink::new_connection()?;
    tokio::spawn(conn);
    Ok(handle)
}

fn nl(what: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> NetError {
    let what = what.into();
    move |source| NetError::Netlink { what, source }
}

/// Waits (1 s polls, up to `within`) for the interface whose MAC is `mac`; returns its index
/// and name.
pub async fn wait_for_link(
    handle: &Handle,
    mac: &str,
    within: Duration,
) -> Result<(u32, String), NetError> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let mut links = handle.link().get().execute();
        while let Some(link) = links.try_next().await.map_err(nl("listing links"))? {
            let mut name = String::new();
            let mut found = false;
            for a in &link.attributes {
                match a {
                    LinkAttribute::IfName(n) => name = n.clone(),
                    LinkAttribute::Address(b) => found = format_mac(b) == mac,
                    _ => {}
                }
            }
            if found {
                return Ok((link.header.index, name));
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(NetError::NoLink(mac.to_string(), within.as_secs()));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Sets link `index` up.
pub async fn link_up(handle: &Handle, index: u32) -> Result<(), NetError> {
    handle
        .link()
        .set(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .map_err(nl(format!("setting link {index} up")))
}

/// Applies `lease` to link `index`: MTU, address, routes.
pub async fn apply(handle: &Handle, index: u32, lease: &Lease) -> Result<(), NetError> {
    if let Some(mtu) = lease.mtu {
        handle
            .link()
            .set(
                LinkUnspec::new_with_index(index)
                    .mtu(u32::from(mtu))
                    .build(),
            )
            .execute()
            .await
            .map_err(nl(format!("setting MTU {mtu}")))?;
    }
    handle
        .address()
        .add(index, IpAddr::V4(lease.address), lease.prefix)
        .replace()
        .execute()
        .await
        .map_err(nl(format!("adding {}/{}", lease.address, lease.prefix)))?;
    for r in lease.routes() {
        let mut b = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(r.destination, r.prefix)
            .output_interface(index)
            .protocol(RouteProtocol::Boot);
        b = if r.gateway.is_unspecified() {
            b.scope(RouteScope::Link)
        } else {
            b.gateway(r.gateway)
        };
        handle
            .route()
            .add(b.build())
            .replace()
            .execute()
            .await
            .map_err(nl(format!(
                "adding route {}/{} via {}",
                r.destination, r.prefix, r.gateway
            )))?;
    }
    Ok(())
}

/// `/etc/resolv.conf` for the lease's DNS servers (one `nameserver` line each).
pub fn resolv_conf(lease: &Lease) -> String {
    lease
        .dns
        .iter()
        .map(|d| format!("nameserver {d}\n"))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_lines() {
        let lease = Lease {
            dns: vec![Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)],
            ..Lease::default()
        };
        assert_eq!(
            resolv_conf(&lease),
            "nameserver 10.0.0.1\nnameserver 10.0.0.2\n"
        );
        assert_eq!(resolv_conf(&Lease::default()), "");
    }
}
