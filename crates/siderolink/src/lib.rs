//! SideroLink, the WireGuard overlay from every Talos node back to Sidero.
//!
//! The crate root holds the installation identity and its addressing (spec §8.2): the
//! installation id names a /64 ULA subnet; the server is `::1` in it and every node gets a
//! random host part, persisted in its ServerBinding. The modules:
//!
//! * [`provision`]: the Provision decision (spec §8.1), pure;
//! * [`wireguard`]: the WireGuard device and its peers (spec §8.3);
//! * [`annotation`]: tunnel IP → node identity (spec §8.4);
//! * [`kmsg`] and [`log_receiver`]: Talos' kernel-log stream (spec §8.5);
//! * [`events`] and [`event_sink`]: Talos' events and their effects (spec §8.6);
//! * [`readable`]: those lines for people (`sideroctl logs`).
//!
//! Nothing here knows Kubernetes: the controller manager reads and writes ServerBindings and
//! drives these pieces.

pub mod annotation;
pub mod event_sink;
pub mod events;
pub mod key;
pub mod kmsg;
pub mod log_receiver;
pub mod provision;
pub mod readable;
pub mod wireguard;

use std::net::Ipv6Addr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};

/// Keys of the `siderolink` Secret (namespace `default`).
pub const SECRET_NAME: &str = "siderolink";
/// Secret key holding the installation id.
pub const INSTALLATION_ID_KEY: &str = "installation-id";
/// Secret key holding Sidero's WireGuard private key.
pub const PRIVATE_KEY_KEY: &str = "private-key";

/// Why identity material is unusable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The OS random generator failed.
    #[error("no randomness available: {0}")]
    Random(String),
}

/// A new WireGuard private key (32 random bytes, clamped for X25519), as base64 text.
///
/// Upstream also uses such a key, merely as 32 random bytes, for the installation id.
pub fn generate_key() -> Result<String, Error> {
    let mut k = [0u8; 32];
    getrandom::fill(&mut k).map_err(|e| Error::Random(e.to_string()))?;
    k[0] &= 248;
    k[31] &= 127;
    k[31] |= 64;
    Ok(B64.encode(k))
}

/// The installation's /64 subnet: the last 16 bytes of `sha256(installation id text)` with
/// byte 0 = `0xfd` (ULA) and byte 7 = `0x03` (Talos' SideroLink purpose), host part zeroed.
pub fn subnet(installation_id: &str) -> Ipv6Addr {
    let digest = Sha256::digest(installation_id.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[16..32]);
    b[0] = 0xfd;
    b[7] = 0x03;
    b[8..].fill(0);
    Ipv6Addr::from(b)
}

/// The server's tunnel address: the subnet's `::1`.
pub fn server_address(installation_id: &str) -> Ipv6Addr {
    let mut b = subnet(installation_id).octets();
    b[15] = 1;
    Ipv6Addr::from(b)
}

/// 8 random bytes for a node address' host part.
pub fn random_host_bytes() -> Result<[u8; 8], Error> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| Error::Random(e.to_string()))?;
    Ok(b)
}

/// A node address in the subnet with 8 random host bytes, as `<addr>/64`.
pub fn random_node_address(installation_id: &str) -> Result<String, Error> {
    let mut b = subnet(installation_id).octets();
    getrandom::fill(&mut b[8..]).map_err(|e| Error::Random(e.to_string()))?;
    Ok(format!("{}/64", Ipv6Addr::from(b)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn subnet_is_a_sidero_link_ula_64() {
        let id = "AKfdafTbmPeEqjtDc3OPGK9FriGO7CCBBIOZG4RjgmY=";
        let s = subnet(id).octets();
        assert_eq!((s[0], s[7]), (0xfd, 0x03));
        assert!(s[8..].iter().all(|&b| b == 0));
        // Bytes 1..7 come from the digest: deterministic for an id, different across ids.
        assert_eq!(subnet(id), subnet(id));
        assert_ne!(subnet(id), subnet("another"));
        let digest = Sha256::digest(id.as_bytes());
        assert_eq!(&s[1..7], &digest[17..23]);
        assert_eq!(server_address(id).octets()[15], 1);
        assert_eq!(&server_address(id).octets()[..8], &s[..8]);
    }

    #[test]
    fn node_addresses_are_random_inside_the_subnet() {
        let id = "x";
        let a = random_node_address(id).unwrap();
        let b = random_node_address(id).unwrap();
        assert_ne!(a, b);
        let addr: Ipv6Addr = a.trim_end_matches("/64").parse().unwrap();
        assert_eq!(&addr.octets()[..8], &subnet(id).octets()[..8]);
        assert!(a.ends_with("/64"));
    }

    #[test]
    fn keys_are_clamped_base64() {
        let k = B64.decode(generate_key().unwrap()).unwrap();
        assert_eq!(k.len(), 32);
        assert_eq!(k[0] & 7, 0);
        assert_eq!(k[31] & 0xc0, 0x40);
    }
}
