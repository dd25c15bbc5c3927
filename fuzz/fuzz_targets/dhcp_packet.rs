//! Arbitrary bytes through the proxy DHCP decoder and decision, on both ports and in both
//! iPXE modes: never a panic, and any reply keeps the proxy invariants; the PXE GUID reads as
//! a UUID or not at all.
#![no_main]

use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use sidero_dhcp::{Ingress, IpxeClientBoot, ProxyConfig, Request, respond};

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = Request::parse(data) {
        let _ = request.hardware_address_string();
        if let Ok(client) = sidero_dhcp::classify(&request)
            && let Some(guid) = client.guid.as_deref()
        {
            // The boot timeline names machines by their PXE GUID: always a 36-character UUID.
            let uuid = sidero_dhcp::guid_uuid(guid);
            assert!(uuid.as_ref().is_none_or(|u| u.len() == 36), "{uuid:?}");
        }
        if let Some(raw) = request.option(sidero_dhcp::OPT_CLIENT_GUID) {
            let _ = sidero_dhcp::guid_uuid(raw);
        }
    }
    for ipxe_clients in [IpxeClientBoot::Upstream, IpxeClientBoot::HttpScript] {
        let config = ProxyConfig {
            server_ip: Ipv4Addr::new(192, 0, 2, 10),
            api_port: 8081,
            ipxe_clients,
        };
        for ingress in [Ingress::Dhcp, Ingress::PxeBootServer] {
            match respond(data, ingress, &config) {
                Ok(reply) => {
                    assert!(reply.bytes.len() >= 300);
                    assert_eq!(&reply.bytes[16..20], &[0, 0, 0, 0], "yiaddr must stay zero");
                    assert_eq!(&reply.bytes[4..8], &data[4..8], "xid must be copied");
                    assert!(!reply.boot_file.is_empty());
                }
                Err(ignored) => {
                    let _ = ignored.kind().as_str();
                    let _ = ignored.to_string();
                }
            }
        }
    }
});
