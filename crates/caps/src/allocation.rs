//! Which servers a MetalMachine may take.

use sidero_api::infra::v1alpha3::ServerBinding;
use sidero_api::metal::v1alpha2::Server;

/// Why a server cannot be bound to a machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No Server of that name.
    NotFound,
    /// `spec.accepted` is false.
    NotAccepted,
    /// `spec.cordoned` is true.
    Cordoned,
    /// Not wiped since its last use.
    NotClean,
    /// Bound to another MetalMachine (`namespace/name`).
    BoundElsewhere(String),
}

impl Refusal {
    /// The condition reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::NotFound => "ServerNotFound",
            Refusal::NotAccepted => "ServerNotAccepted",
            Refusal::Cordoned => "ServerCordoned",
            Refusal::NotClean => "ServerNotClean",
            Refusal::BoundElsewhere(_) => "ServerBoundElsewhere",
        }
    }

    /// A sentence for the condition message, naming the server.
    pub fn message(&self, server: &str) -> String {
        match self {
            Refusal::NotFound => format!("server {server} does not exist"),
            Refusal::NotAccepted => format!("server {server} is not accepted"),
            Refusal::Cordoned => format!("server {server} is cordoned"),
            Refusal::NotClean => format!("server {server} has not been wiped since its last use"),
            Refusal::BoundElsewhere(m) => format!("server {server} is bound to metal machine {m}"),
        }
    }
}

/// `namespace/name` of the MetalMachine a binding belongs to.
pub fn owner_of(binding: &ServerBinding) -> String {
    let r = &binding.spec.metal_machine_ref;
    format!(
        "{}/{}",
        r.namespace.as_deref().unwrap_or_default(),
        r.name.as_deref().unwrap_or_default()
    )
}

/// Whether a server can be taken right now (accepted, not cordoned, clean, not in use).
pub fn check_free(server: Option<&Server>) -> Result<(), Refusal> {
    let server = server.ok_or(Refusal::NotFound)?;
    let status = server.status.clone().unwrap_or_default();
    if !server.spec.accepted {
        return Err(Refusal::NotAccepted);
    }
    if server.spec.cordoned.unwrap_or(false) {
        return Err(Refusal::Cordoned);
    }
    if status.in_use || !status.is_clean {
        return Err(Refusal::NotClean);
    }
    Ok(())
}

/// The servers of a class's `serversAvailable` (in its order) that are free now; `lookup`
/// finds a Server by name (from a cache), `bound` says whether a binding of that name exists.
pub fn candidates(
    available: &[String],
    lookup: impl Fn(&str) -> Option<Server>,
    bound: impl Fn(&str) -> bool,
) -> Vec<&str> {
    available
        .iter()
        .map(String::as_str)
        .filter(|name| !bound(name) && check_free(lookup(name).as_ref()).is_ok())
        .collect()
}

/// `candidates` rotated to start at a position derived from `key` (the machine's uid), so
/// machines allocating at the same moment start at different servers instead of all racing
/// for the first one (each lost race costs a refused create and a retry); the class order is
/// kept from there on, wrapping around.
pub fn spread<'a>(candidates: &[&'a str], key: &str) -> Vec<&'a str> {
    if candidates.is_empty() {
        return Vec::new();
    }
    // FNV-1a: stable across processes and versions, unlike std's hasher.
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let start = (hash % candidates.len() as u64) as usize;
    candidates[start..]
        .iter()
        .chain(&candidates[..start])
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn server(accepted: bool, cordoned: bool, in_use: bool, clean: bool) -> Server {
        serde_json::from_value(json!({
            "apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server", "metadata": {"name": "s"},
            "spec": {"accepted": accepted, "cordoned": cordoned},
            "status": {"ready": true, "inUse": in_use, "isClean": clean}
        }))
        .unwrap()
    }

    #[test]
    fn free_means_accepted_uncordoned_clean_and_unused() {
        let table = [
            (Some(server(true, false, false, true)), Ok(())),
            (None, Err(Refusal::NotFound)),
            (
                Some(server(false, false, false, true)),
                Err(Refusal::NotAccepted),
            ),
            (
                Some(server(true, true, false, true)),
                Err(Refusal::Cordoned),
            ),
            (
                Some(server(true, false, false, false)),
                Err(Refusal::NotClean),
            ),
            (
                Some(server(true, false, true, true)),
                Err(Refusal::NotClean),
            ),
        ];
        for (s, want) in table {
            assert_eq!(check_free(s.as_ref()), want, "{s:?}");
        }
    }

    #[test]
    fn candidates_keep_class_order_and_skip_taken_servers() {
        let names: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        let lookup = |n: &str| match n {
            "a" => Some(server(true, false, false, true)),
            "b" => Some(server(true, false, false, false)),
            "c" => Some(server(true, false, false, true)),
            _ => None,
        };
        assert_eq!(candidates(&names, lookup, |_| false), ["a", "c"]);
        assert_eq!(candidates(&names, lookup, |n| n == "a"), ["c"]);
    }

    #[test]
    fn refusals_read_well() {
        assert_eq!(
            Refusal::BoundElsewhere("ns/m1".into()).message("s1"),
            "server s1 is bound to metal machine ns/m1"
        );
        assert_eq!(Refusal::NotClean.reason(), "ServerNotClean");
    }

    #[test]
    fn spread_rotates_by_key_and_keeps_every_candidate() {
        let all = ["a", "b", "c", "d", "e"];
        assert!(spread(&[], "uid").is_empty());
        let mut starts = std::collections::BTreeSet::new();
        for i in 0..50 {
            let key = format!("uid-{i}");
            let got = spread(&all, &key);
            assert_eq!(got, spread(&all, &key), "stable for one key");
            let mut sorted = got.clone();
            sorted.sort();
            assert_eq!(sorted, all, "a rotation, nothing lost");
            let at = all.iter().position(|s| *s == got[0]).unwrap();
            let rotated: Vec<&str> = all[at..].iter().chain(&all[..at]).copied().collect();
            assert_eq!(got, rotated, "class order kept, wrapping");
            starts.insert(got[0]);
        }
        assert!(
            starts.len() >= 4,
            "keys spread over the servers: {starts:?}"
        );
    }
}
