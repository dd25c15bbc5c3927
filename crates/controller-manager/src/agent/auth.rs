//! Who may speak for a Server on the Agent API.
//!
//! Upstream lets anyone who knows a server's UUID mark it wiped, rewrite its addresses or
//! point its BMC elsewhere. Here, once a Server is accepted, a call naming it is served only
//!
//! * with a valid agent token (`x-sidero-agent-token` metadata; `/ipxe` hands it to the agent
//!   as `sidero.token=` only for accepted servers, and only to the address the server
//!   registered from), or
//! * without a token, from the address the server registered from (the annotation
//!   [`AGENT_ADDRESS_ANNOTATION`], written by `CreateServer` while the server is not accepted),
//!   so that upstream's agent keeps working; or
//! * without a token when no address was ever recorded (servers created by hand): the first
//!   caller's address is recorded (trust on first use).
//!
//! Un-accepted servers are untrusted anyway (nothing is wiped or bound), so calls about them
//! are served as upstream. `--insecure-agent-api` turns all of this off.

use std::net::IpAddr;
use std::time::Duration;

use sidero_netboot::token::TokenError;

/// Annotation on a Server: the address its agent registered from.
pub const AGENT_ADDRESS_ANNOTATION: &str = "metal.sidero.dev/agent-address";

/// gRPC metadata key carrying the agent token.
pub const AGENT_TOKEN_METADATA: &str = "x-sidero-agent-token";

/// Event reason of a refused call.
pub const EVENT_REFUSED: &str = "AgentRefused";

/// Settings of the authenticated Agent API.
#[derive(Clone)]
pub struct AgentAuth {
    /// Token key, derived from the installation secret (agent tokens have their own domain).
    pub key: [u8; 32],
    /// Lifetime of an agent token (long enough for a full wipe).
    pub token_ttl: Duration,
}

impl std::fmt::Debug for AgentAuth {
    /// Never prints the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentAuth")
            .field("token_ttl", &self.token_ttl)
            .finish_non_exhaustive()
    }
}

/// What the call presented.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenCheck {
    /// No token.
    Absent,
    /// A token valid for the UUID named.
    Valid,
    /// A token that does not verify.
    Invalid(TokenError),
}

impl TokenCheck {
    /// The check of `token` (the metadata value, if any) for `uuid`.
    pub fn of(key: &[u8; 32], token: Option<&str>, uuid: &str, now: u64) -> TokenCheck {
        match token.filter(|t| !t.is_empty()) {
            None => TokenCheck::Absent,
            Some(t) => match sidero_netboot::token::verify_agent(key, Some(t), uuid, now) {
                Ok(()) => TokenCheck::Valid,
                Err(e) => TokenCheck::Invalid(e),
            },
        }
    }
}

/// The answer to one call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Serve it; when `record` is set, store the caller's address as the agent address.
    Allow {
        /// Write the caller's address into [`AGENT_ADDRESS_ANNOTATION`].
        record: bool,
    },
    /// Refuse it with `PermissionDenied` and this reason (also the Event's message).
    Deny(String),
}

/// Decides a call about an existing Server (any RPC but the creation of a new one).
///
/// `registration` is true for `CreateServer`, which (re)records the address while the server
/// is not accepted; other calls about un-accepted servers never move the recorded address,
/// so nobody can redirect it with a heartbeat.
pub fn authorize(
    accepted: bool,
    registration: bool,
    recorded: Option<IpAddr>,
    peer: Option<IpAddr>,
    token: &TokenCheck,
) -> Verdict {
    let differs = peer.is_some() && recorded != peer;
    if !accepted {
        return Verdict::Allow {
            record: registration && differs,
        };
    }
    let from = peer.map_or_else(|| "an unknown address".to_string(), |p| p.to_string());
    match (token, recorded) {
        (TokenCheck::Invalid(e), _) => Verdict::Deny(format!(
            "the server is accepted and the call from {from} carries an agent token that is refused: {}",
            why(e)
        )),
        (TokenCheck::Valid, _) => Verdict::Allow { record: differs },
        (TokenCheck::Absent, None) => Verdict::Allow { record: differs },
        (TokenCheck::Absent, Some(r)) if Some(r) == peer => Verdict::Allow { record: false },
        (TokenCheck::Absent, Some(r)) => Verdict::Deny(format!(
            "the server is accepted and its agent registered from {r}; the call came from {from} without an agent token"
        )),
    }
}

/// Why a token was refused, in words for agent tokens (the shared errors speak of config
/// tokens).
fn why(e: &TokenError) -> &'static str {
    match e {
        TokenError::Missing => "it is empty",
        TokenError::Malformed => "it is malformed",
        TokenError::Expired => "it has expired",
        TokenError::Invalid => "it is not valid for this server",
    }
}

/// Whether `/ipxe` hands an agent token to `requester` booting the agent for a server:
/// only for accepted servers, and only to the address the server registered from (or to
/// anyone when none was recorded). Others boot the agent without one, as upstream.
pub fn may_issue(accepted: bool, recorded: Option<IpAddr>, requester: IpAddr) -> bool {
    accepted && recorded.is_none_or(|r| r == requester.to_canonical())
}

/// The recorded agent address of a Server's annotations, if any parses.
pub fn recorded_address(
    annotations: Option<&std::collections::BTreeMap<String, String>>,
) -> Option<IpAddr> {
    annotations?
        .get(AGENT_ADDRESS_ANNOTATION)?
        .parse::<IpAddr>()
        .ok()
        .map(|a| a.to_canonical())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    /// (accepted, registration, recorded, peer, token, `Some(record)` if allowed).
    type Row<'a> = (
        bool,
        bool,
        Option<IpAddr>,
        Option<IpAddr>,
        &'a TokenCheck,
        Option<bool>,
    );

    #[test]
    fn authorization_table() {
        let a = ip("10.0.0.1");
        let b = ip("10.0.0.2");
        let valid = TokenCheck::Valid;
        let absent = TokenCheck::Absent;
        let bad = TokenCheck::Invalid(TokenError::Invalid);
        let allow = |record| Verdict::Allow { record };
        // (accepted, registration, recorded, peer, token, allowed?, record?)
        let rows: [Row<'_>; 14] = [
            // Not accepted: always served; only a registration moves the address.
            (false, true, None, a, &absent, Some(true)),
            (false, true, a, b, &absent, Some(true)),
            (false, true, a, a, &absent, Some(false)),
            (false, false, a, b, &absent, Some(false)),
            (false, false, None, a, &bad, Some(false)),
            // Accepted, no token: only from the recorded address (first use records).
            (true, false, a, a, &absent, Some(false)),
            (true, false, a, b, &absent, None),
            (true, true, a, b, &absent, None),
            (true, false, None, b, &absent, Some(true)),
            (true, false, a, None, &absent, None),
            // Accepted, with a token: a valid one is enough (and moves the address).
            (true, false, a, b, &valid, Some(true)),
            (true, false, a, a, &valid, Some(false)),
            (true, false, a, a, &bad, None),
            (true, false, None, a, &bad, None),
        ];
        for (i, (acc, reg, rec, peer, tok, want)) in rows.into_iter().enumerate() {
            let got = authorize(acc, reg, rec, peer, tok);
            match want {
                Some(record) => assert_eq!(got, allow(record), "row {i}"),
                None => assert!(matches!(got, Verdict::Deny(_)), "row {i}: {got:?}"),
            }
        }
    }

    #[test]
    fn refusals_say_why_without_the_token() {
        let Verdict::Deny(m) = authorize(
            true,
            false,
            ip("10.0.0.1"),
            ip("10.9.9.9"),
            &TokenCheck::Absent,
        ) else {
            panic!("allowed");
        };
        assert!(
            m.contains("10.0.0.1")
                && m.contains("10.9.9.9")
                && m.contains("without an agent token"),
            "{m}"
        );
        let Verdict::Deny(m) = authorize(
            true,
            false,
            ip("10.0.0.1"),
            ip("10.0.0.1"),
            &TokenCheck::Invalid(TokenError::Expired),
        ) else {
            panic!("allowed");
        };
        assert!(m.contains("expired"), "{m}");
    }

    #[test]
    fn tokens_go_only_to_accepted_servers_at_their_address() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert!(may_issue(true, Some(a), a));
        assert!(may_issue(true, Some(a), mapped));
        assert!(may_issue(true, None, b));
        assert!(!may_issue(true, Some(a), b));
        assert!(!may_issue(false, None, a));
        assert!(!may_issue(false, Some(a), a));
    }

    #[test]
    fn token_check_and_recorded_address() {
        let key = sidero_netboot::token::derive_key(b"k");
        let t = sidero_netboot::token::issue_agent(&key, "u1", 100, 60);
        assert_eq!(TokenCheck::of(&key, Some(&t), "u1", 120), TokenCheck::Valid);
        assert_eq!(
            TokenCheck::of(&key, Some(""), "u1", 120),
            TokenCheck::Absent
        );
        assert_eq!(TokenCheck::of(&key, None, "u1", 120), TokenCheck::Absent);
        assert_eq!(
            TokenCheck::of(&key, Some(&t), "u2", 120),
            TokenCheck::Invalid(TokenError::Invalid)
        );
        let mut ann = std::collections::BTreeMap::new();
        assert_eq!(recorded_address(Some(&ann)), None);
        ann.insert(
            AGENT_ADDRESS_ANNOTATION.to_string(),
            "::ffff:10.1.2.3".to_string(),
        );
        assert_eq!(recorded_address(Some(&ann)), ip("10.1.2.3"));
        ann.insert(AGENT_ADDRESS_ANNOTATION.to_string(), "garbage".to_string());
        assert_eq!(recorded_address(Some(&ann)), None);
        let key_debug = format!(
            "{:?}",
            AgentAuth {
                key,
                token_ttl: Duration::from_secs(1)
            }
        );
        assert!(!key_debug.contains("key"), "{key_debug}");
    }
}
