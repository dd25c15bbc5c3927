//! Per-boot tokens that release a machine config only to the machine it was rendered for.
//!
//! Upstream serves `/configdata?uuid=` (the cluster's CA keys included) to anyone who knows a
//! server's UUID. Here `/ipxe` puts a token into the `talos.config` URL when it boots a server
//! into Talos, and `/configdata` answers only with a valid, unexpired token for that UUID (and,
//! by default, from the address that fetched the script). Talos keeps extra query parameters
//! and fills in the empty `uuid=`, so it needs no change.
//!
//! A token is stateless: `base64url(expiry ‖ HMAC-SHA256(key, uuid, address, expiry)[..16])`,
//! with the key derived from the installation's secret, so every replica and every restart of
//! the manager accepts the tokens of the others.

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const MAC_LEN: usize = 16;
const DOMAIN: &[u8] = b"sidero-configdata-token-v1\0";
/// Agent tokens use their own domain, so that neither kind of token opens the other's door.
const AGENT_DOMAIN: &[u8] = b"sidero-agent-token-v1\0";

/// Why a token was refused (shown in the 403 body and the Event).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// No token in the request.
    #[error("no config token in the request")]
    Missing,
    /// Not a token we could have issued.
    #[error("malformed config token")]
    Malformed,
    /// Issued, but its lifetime is over.
    #[error("config token expired")]
    Expired,
    /// Issued for another server or another address.
    #[error("config token is not valid for this server and address")]
    Invalid,
}

/// Derives the token key from an installation secret (e.g. the SideroLink private key).
pub fn derive_key(secret: &[u8]) -> [u8; 32] {
    let mut key = [0u8; 32];
    // HMAC accepts keys of any length: `new_from_slice` cannot fail for it.
    if let Ok(mut mac) = HmacSha256::new_from_slice(secret) {
        mac.update(b"sidero configdata token key");
        key.copy_from_slice(&mac.finalize().into_bytes());
    }
    key
}

/// The MAC state for one token; `None` only if HMAC refused the key, which it never does for
/// 32 bytes.
fn mac_in(
    domain: &[u8],
    key: &[u8; 32],
    uuid: &str,
    addr: Option<IpAddr>,
    expiry: u64,
) -> Option<HmacSha256> {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).ok()?;
    mac.update(domain);
    mac.update(uuid.as_bytes());
    mac.update(b"\0");
    if let Some(a) = addr {
        mac.update(a.to_string().as_bytes());
    }
    mac.update(b"\0");
    mac.update(&expiry.to_be_bytes());
    Some(mac)
}

/// A token for `uuid` (bound to `addr` when given), valid until `now + ttl` (seconds since
/// the Unix epoch).
pub fn issue(key: &[u8; 32], uuid: &str, addr: Option<IpAddr>, now: u64, ttl: u64) -> String {
    issue_in(DOMAIN, key, uuid, addr, now, ttl)
}

/// An agent token for `uuid`, valid until `now + ttl`: `/ipxe` puts it into the agent's
/// kernel arguments (`sidero.token=`), the agent sends it with every Agent API call, and the
/// Agent API accepts calls about an accepted Server only with it (or from the address the
/// server registered from). Agent tokens never open `/configdata`, nor config tokens the Agent
/// API.
pub fn issue_agent(key: &[u8; 32], uuid: &str, now: u64, ttl: u64) -> String {
    issue_in(AGENT_DOMAIN, key, uuid, None, now, ttl)
}

/// Checks an agent token presented in an Agent API call about `uuid`.
pub fn verify_agent(
    key: &[u8; 32],
    token: Option<&str>,
    uuid: &str,
    now: u64,
) -> Result<(), TokenError> {
    verify_in(AGENT_DOMAIN, key, token, uuid, None, now)
}

fn issue_in(
    domain: &[u8],
    key: &[u8; 32],
    uuid: &str,
    addr: Option<IpAddr>,
    now: u64,
    ttl: u64,
) -> String {
    let expiry = now.saturating_add(ttl);
    let mut raw = Vec::with_capacity(8 + MAC_LEN);
    raw.extend_from_slice(&expiry.to_be_bytes());
    if let Some(m) = mac_in(domain, key, uuid, addr, expiry) {
        raw.extend_from_slice(&m.finalize().into_bytes()[..MAC_LEN]);
    }
    URL_SAFE_NO_PAD.encode(raw)
}

/// Checks a token presented with a request for `uuid` from `addr` (`None` when tokens are not
/// bound to addresses).
pub fn verify(
    key: &[u8; 32],
    token: Option<&str>,
    uuid: &str,
    addr: Option<IpAddr>,
    now: u64,
) -> Result<(), TokenError> {
    verify_in(DOMAIN, key, token, uuid, addr, now)
}

fn verify_in(
    domain: &[u8],
    key: &[u8; 32],
    token: Option<&str>,
    uuid: &str,
    addr: Option<IpAddr>,
    now: u64,
) -> Result<(), TokenError> {
    let token = token.filter(|t| !t.is_empty()).ok_or(TokenError::Missing)?;
    if token.len() > 64 {
        return Err(TokenError::Malformed);
    }
    let raw = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| TokenError::Malformed)?;
    if raw.len() != 8 + MAC_LEN {
        return Err(TokenError::Malformed);
    }
    let (exp, tag) = raw.split_at(8);
    let mut be = [0u8; 8];
    be.copy_from_slice(exp);
    let expiry = u64::from_be_bytes(be);
    // Checked before the expiry so that a forged expiry does not tell anything.
    mac_in(domain, key, uuid, addr, expiry)
        .ok_or(TokenError::Invalid)?
        .verify_truncated_left(tag)
        .map_err(|_| TokenError::Invalid)?;
    if now > expiry {
        return Err(TokenError::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn key() -> [u8; 32] {
        derive_key(b"installation private key")
    }

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn a_token_opens_only_its_servers_config_from_its_address_until_it_expires() {
        let k = key();
        let t = issue(&k, "uuid-1", ip("10.5.0.7"), NOW, 3600);
        assert_eq!(t.len(), 32);
        assert_eq!(
            verify(&k, Some(&t), "uuid-1", ip("10.5.0.7"), NOW + 10),
            Ok(())
        );
        assert_eq!(
            verify(&k, Some(&t), "uuid-2", ip("10.5.0.7"), NOW),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            verify(&k, Some(&t), "uuid-1", ip("10.5.0.8"), NOW),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            verify(&k, Some(&t), "uuid-1", None, NOW),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            verify(&k, Some(&t), "uuid-1", ip("10.5.0.7"), NOW + 3601),
            Err(TokenError::Expired)
        );
        let other = derive_key(b"another installation");
        assert_eq!(
            verify(&other, Some(&t), "uuid-1", ip("10.5.0.7"), NOW),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn agent_and_config_tokens_do_not_open_each_others_doors() {
        let k = key();
        let agent = issue_agent(&k, "uuid-1", NOW, 600);
        assert_eq!(verify_agent(&k, Some(&agent), "uuid-1", NOW + 600), Ok(()));
        assert_eq!(
            verify_agent(&k, Some(&agent), "uuid-2", NOW),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            verify_agent(&k, Some(&agent), "uuid-1", NOW + 601),
            Err(TokenError::Expired)
        );
        assert_eq!(
            verify(&k, Some(&agent), "uuid-1", None, NOW),
            Err(TokenError::Invalid)
        );
        let config = issue(&k, "uuid-1", None, NOW, 600);
        assert_eq!(
            verify_agent(&k, Some(&config), "uuid-1", NOW),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            verify_agent(&k, None, "uuid-1", NOW),
            Err(TokenError::Missing)
        );
    }

    #[test]
    fn unbound_tokens_ignore_the_address() {
        let k = key();
        let t = issue(&k, "uuid-1", None, NOW, 60);
        assert_eq!(verify(&k, Some(&t), "uuid-1", None, NOW), Ok(()));
    }

    #[test]
    fn garbage_is_refused_without_panicking() {
        let k = key();
        for bad in ["", "!!!", "AAAA", &"A".repeat(65), &"A".repeat(32)] {
            let got = verify(&k, Some(bad), "u", None, NOW);
            assert!(
                matches!(
                    got,
                    Err(TokenError::Missing | TokenError::Malformed | TokenError::Invalid)
                ),
                "{bad}: {got:?}"
            );
        }
        assert_eq!(verify(&k, None, "u", None, NOW), Err(TokenError::Missing));
        // A valid token with its expiry pushed forward no longer verifies.
        let t = issue(&k, "u", None, NOW, 60);
        let mut raw = URL_SAFE_NO_PAD.decode(&t).unwrap_or_default();
        raw[7] ^= 0xff;
        assert_eq!(
            verify(&k, Some(&URL_SAFE_NO_PAD.encode(raw)), "u", None, NOW),
            Err(TokenError::Invalid)
        );
    }
}
