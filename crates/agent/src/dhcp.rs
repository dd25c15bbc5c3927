//! DHCPv4 on the boot NIC (spec §7.2 step 3): DISCOVER → OFFER → REQUEST → ACK over a UDP
//! socket bound to the interface, with the broadcast flag so replies reach a client that has
//! no address yet. Messages and parsing live in `sidero-dhcpc`.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use sidero_dhcpc::reply::{self, MessageType};
use sidero_dhcpc::{Lease, request};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::time::Instant;

/// How long to wait for a reply before sending again.
const RESEND: Duration = Duration::from_secs(4);

/// Why no lease was obtained in one attempt.
#[derive(Debug, thiserror::Error)]
pub enum DhcpError {
    /// The socket could not be set up.
    #[error("DHCP socket on {ifname}: {source}")]
    Socket {
        /// Interface.
        ifname: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Sending or receiving failed.
    #[error("DHCP exchange: {0}")]
    Io(#[from] std::io::Error),
    /// The server refused the request.
    #[error("the DHCP server {0} answered NAK")]
    Nak(Ipv4Addr),
    /// No usable answer in time.
    #[error("no DHCP {0} within the attempt")]
    Timeout(&'static str),
}

fn socket(ifname: &str) -> Result<UdpSocket, DhcpError> {
    let err = |source| DhcpError::Socket {
        ifname: ifname.to_string(),
        source,
    };
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(err)?;
    s.set_reuse_address(true).map_err(err)?;
    s.set_broadcast(true).map_err(err)?;
    s.bind_device(Some(ifname.as_bytes())).map_err(err)?;
    s.bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68).into())
        .map_err(err)?;
    s.set_nonblocking(true).map_err(err)?;
    UdpSocket::from_std(s.into()).map_err(err)
}

/// A transaction id that differs between boots and machines without a random source.
fn xid(mac: [u8; 6]) -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32))
        .unwrap_or(0);
    nanos ^ u32::from_be_bytes([mac[2], mac[3], mac[4], mac[5]])
}

/// One DHCP attempt on `ifname` for `mac`, bounded by `within`.
pub async fn acquire(ifname: &str, mac: [u8; 6], within: Duration) -> Result<Lease, DhcpError> {
    let sock = socket(ifname)?;
    let deadline = Instant::now() + within;
    let xid = xid(mac);
    let server = SocketAddrV4::new(Ipv4Addr::BROADCAST, 67);

    let discover = request::discover(xid, mac);
    tracing::info!("DHCP: sending DISCOVER on {ifname}");
    let offer = exchange(&sock, &discover, server, xid, mac, deadline, "OFFER", |k| {
        k == MessageType::Offer
    })
    .await?;
    let server_id = offer.lease.server_id.unwrap_or(Ipv4Addr::UNSPECIFIED);
    tracing::info!(
        "DHCP: offer of {} from {server_id}; sending REQUEST",
        offer.lease.address
    );
    let req = request::request(xid, mac, offer.lease.address, server_id);
    let ack = exchange(&sock, &req, server, xid, mac, deadline, "ACK", |k| {
        matches!(k, MessageType::Ack | MessageType::Nak)
    })
    .await?;
    if ack.kind == MessageType::Nak {
        return Err(DhcpError::Nak(server_id));
    }
    Ok(ack.lease)
}

/// Sends `msg` (again every [`RESEND`]) until a reply for this client and transaction whose
/// type `wanted` accepts arrives, or `deadline`.
#[allow(clippy::too_many_arguments)]
async fn exchange(
    sock: &UdpSocket,
    msg: &[u8],
    to: SocketAddrV4,
    xid: u32,
    mac: [u8; 6],
    deadline: Instant,
    what: &'static str,
    wanted: impl Fn(MessageType) -> bool,
) -> Result<reply::Reply, DhcpError> {
    let mut buf = vec![0u8; 1500];
    loop {
        if Instant::now() >= deadline {
            return Err(DhcpError::Timeout(what));
        }
        sock.send_to(msg, to).await?;
        let resend_at = (Instant::now() + RESEND).min(deadline);
        while let Ok(r) = tokio::time::timeout_at(resend_at, sock.recv_from(&mut buf)).await {
            let (n, from) = r?;
            match reply::parse(buf.get(..n).unwrap_or_default()) {
                Ok(rep) if rep.xid == xid && rep.chaddr == mac && wanted(rep.kind) => {
                    return Ok(rep);
                }
                Ok(_) => {}
                Err(e) => tracing::debug!("DHCP: ignoring a bad reply from {from}: {e}"),
            }
        }
    }
}
