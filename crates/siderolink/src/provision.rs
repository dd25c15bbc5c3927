//! The Provision decision (spec §8.1): given what a node's ServerBinding already records and
//! what the node sends, the SideroLink state to persist and the answer to give. Pure: the
//! random host part is an input, and reading/writing the binding is the caller's business.

use std::net::{Ipv6Addr, SocketAddr};

use sidero_proto::sidero::link::ProvisionResponse;

use crate::key::{self, KeyError};

/// Prefix length of every SideroLink address.
pub const PREFIX_LEN: u8 = 64;

/// Sidero's side of the tunnel, fixed for the process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSide {
    /// The WireGuard endpoint nodes dial, `ip:port`.
    pub endpoint: SocketAddr,
    /// Sidero's WireGuard public key, base64.
    pub public_key: String,
    /// The installation's /64 (host part zero).
    pub subnet: Ipv6Addr,
    /// Sidero's tunnel address (`…::1`).
    pub server_address: Ipv6Addr,
}

/// The SideroLink state recorded in a ServerBinding (`spec.siderolink`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkState {
    /// Node tunnel address with prefix, empty when not yet allocated.
    pub address: String,
    /// Node WireGuard public key, base64, empty when unknown.
    pub public_key: String,
}

/// What to persist and what to answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// The state to store in the binding.
    pub state: LinkState,
    /// Whether `state` differs from what the binding holds (no write needed otherwise).
    pub changed: bool,
    /// The answer to the node.
    pub response: ProvisionResponse,
}

/// Why a Provision request cannot be honoured.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProvisionError {
    /// The node's public key is not a WireGuard key (gRPC `InvalidArgument`).
    #[error("error parsing Wireguard key: {0}")]
    InvalidKey(#[from] KeyError),
    /// The binding holds an address that does not parse (gRPC `FailedPrecondition`).
    #[error("server binding holds an invalid SideroLink address {0:?}")]
    StoredAddress(String),
}

/// Parses `<ipv6>/<len>` into the address and prefix length.
pub fn parse_prefix(s: &str) -> Option<(Ipv6Addr, u8)> {
    let (addr, len) = s.split_once('/')?;
    let addr: Ipv6Addr = addr.parse().ok()?;
    let len: u8 = len.parse().ok()?;
    (len <= 128).then_some((addr, len))
}

/// The node address for `random` host bytes: the subnet's first 8 bytes, then `random`.
pub fn node_address(subnet: Ipv6Addr, random: [u8; 8]) -> Ipv6Addr {
    let mut b = subnet.octets();
    b[8..].copy_from_slice(&random);
    Ipv6Addr::from(b)
}

/// Decides a Provision call: keep a stored address (canonicalised) or allocate one from
/// `random`; always take the caller's key (the latest caller wins, as upstream); answer with
/// the server's endpoint, key and addresses. `grpc_peer_addr_port` stays empty: WireGuard over
/// gRPC is not offered, and the request's tokens are ignored.
pub fn decide(
    current: &LinkState,
    node_public_key: &str,
    server: &ServerSide,
    random: [u8; 8],
) -> Result<Decision, ProvisionError> {
    let public_key = key::canonical(node_public_key)?;
    let address = if current.address.is_empty() {
        format!("{}/{PREFIX_LEN}", node_address(server.subnet, random))
    } else {
        let (addr, len) = parse_prefix(&current.address)
            .ok_or_else(|| ProvisionError::StoredAddress(current.address.clone()))?;
        format!("{addr}/{len}")
    };
    let state = LinkState {
        address,
        public_key,
    };
    let response = ProvisionResponse {
        server_endpoint: vec![server.endpoint.to_string()],
        server_public_key: server.public_key.clone(),
        node_address_prefix: state.address.clone(),
        server_address: server.server_address.to_string(),
        grpc_peer_addr_port: String::new(),
    };
    Ok(Decision {
        changed: state != *current,
        state,
        response,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const KEY_A: &str = "XIBT49g9xCoBvyb/x36J+ASlQ4qaxXMG20ZgKbBbfE8=";
    const KEY_B: &str = "AAECAwQFBgcICQoLDA0OD/Dh0sO0pZaHeGlaSzwtHg8=";

    fn server() -> ServerSide {
        ServerSide {
            endpoint: "10.5.0.1:51821".parse().unwrap(),
            public_key: "c2VydmVyLWtleS1zZXJ2ZXIta2V5LXNlcnZlci1rZXk=".into(),
            subnet: "fdae:2859:5bb1:7a03::".parse().unwrap(),
            server_address: "fdae:2859:5bb1:7a03::1".parse().unwrap(),
        }
    }

    const RANDOM: [u8; 8] = [0x3a, 0xe3, 0xbe, 0x30, 0x7e, 0xc4, 0x4c, 0x09];

    fn state(address: &str, key: &str) -> LinkState {
        LinkState {
            address: address.into(),
            public_key: key.into(),
        }
    }

    #[test]
    fn decision_table() {
        let fresh = "fdae:2859:5bb1:7a03:3ae3:be30:7ec4:4c09/64";
        // (stored state, key sent, Ok((state written, changed)) or error text)
        type Row = (
            LinkState,
            &'static str,
            Result<(LinkState, bool), &'static str>,
        );
        let rows: Vec<Row> = vec![
            // First call: allocate from the random bytes, record the key.
            (state("", ""), KEY_A, Ok((state(fresh, KEY_A), true))),
            // Same node again: nothing to write.
            (state(fresh, KEY_A), KEY_A, Ok((state(fresh, KEY_A), false))),
            // Reinstalled node, new key: address kept, key replaced.
            (state(fresh, KEY_A), KEY_B, Ok((state(fresh, KEY_B), true))),
            // A stored address is canonicalised, never reallocated.
            (
                state("FDAE:2859:5bb1:7a03:0:0:0:9/64", KEY_A),
                KEY_A,
                Ok((state("fdae:2859:5bb1:7a03::9/64", KEY_A), true)),
            ),
            // Address set but key missing (a binding edited by hand).
            (state(fresh, ""), KEY_A, Ok((state(fresh, KEY_A), true))),
            // Bad keys.
            (state("", ""), "", Err("error parsing Wireguard key: ")),
            (
                state("", ""),
                "not base64!",
                Err("error parsing Wireguard key: "),
            ),
            (state("", ""), "AAAA", Err("error parsing Wireguard key: ")),
            // A corrupt stored address is reported, not silently replaced.
            (
                state("10.0.0.1", KEY_A),
                KEY_A,
                Err("server binding holds an invalid SideroLink address"),
            ),
        ];
        for (current, key, want) in rows {
            let got = decide(&current, key, &server(), RANDOM);
            match (want, got) {
                (Ok((st, changed)), Ok(d)) => {
                    assert_eq!((&d.state, d.changed), (&st, changed), "{current:?} {key}");
                    assert_eq!(d.response.node_address_prefix, st.address);
                }
                (Err(text), Err(e)) => {
                    assert!(e.to_string().starts_with(text), "{e} vs {text}")
                }
                (w, g) => panic!("{current:?} {key}: want {w:?}, got {g:?}"),
            }
        }
    }

    #[test]
    fn response_is_upstreams_shape() {
        let d = decide(&state("", ""), KEY_A, &server(), RANDOM).unwrap();
        assert_eq!(
            d.response,
            ProvisionResponse {
                server_endpoint: vec!["10.5.0.1:51821".into()],
                server_public_key: "c2VydmVyLWtleS1zZXJ2ZXIta2V5LXNlcnZlci1rZXk=".into(),
                node_address_prefix: "fdae:2859:5bb1:7a03:3ae3:be30:7ec4:4c09/64".into(),
                server_address: "fdae:2859:5bb1:7a03::1".into(),
                grpc_peer_addr_port: String::new(),
            }
        );
        let mut v6 = server();
        v6.endpoint = "[fd00::5]:51821".parse().unwrap();
        let d = decide(&state("", ""), KEY_A, &v6, RANDOM).unwrap();
        assert_eq!(d.response.server_endpoint, ["[fd00::5]:51821"]);
    }

    #[test]
    fn prefixes() {
        assert_eq!(
            parse_prefix("fd00::1/64"),
            Some(("fd00::1".parse().unwrap(), 64))
        );
        for bad in [
            "fd00::1",
            "fd00::1/129",
            "fd00::1/x",
            "10.0.0.1/8",
            "/64",
            "",
        ] {
            assert_eq!(parse_prefix(bad), None, "{bad}");
        }
    }
}
