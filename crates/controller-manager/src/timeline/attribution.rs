//! Whose boot step is it: the machine UUID behind a DHCP request, a TFTP transfer or an HTTP
//! fetch. A PXE client names its UUID in DHCP (option 97) and iPXE in the `/ipxe` query;
//! TFTP and file fetches only show an address, tied to the machine by the address it used
//! before or by its hardware address in the neighbour table (same L2 segment).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::step::{Note, Step};

/// How long a learned address stays attributed to a machine.
const REMEMBER: Duration = Duration::from_secs(3600);
/// Entries kept at most per map (then the stale ones are dropped, then all).
const MAX_ENTRIES: usize = 16384;
/// The same Event for the same machine within this window is published once (firmware
/// repeats DHCP requests; iPXE asks DHCP again after the ROM did).
const DEDUP: Duration = Duration::from_secs(10);

/// What the timeline task has learned about machines.
#[derive(Debug, Default)]
pub struct Attribution {
    by_mac: HashMap<String, (String, Instant)>,
    by_ip: HashMap<IpAddr, (String, Instant)>,
    recent: HashMap<(String, &'static str, String), Instant>,
}

fn remember<K: std::hash::Hash + Eq>(
    map: &mut HashMap<K, (String, Instant)>,
    k: K,
    uuid: &str,
    now: Instant,
) {
    if map.len() >= MAX_ENTRIES {
        map.retain(|_, (_, at)| now.duration_since(*at) < REMEMBER);
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
    }
    map.insert(k, (uuid.to_owned(), now));
}

fn recall<K: std::hash::Hash + Eq>(
    map: &HashMap<K, (String, Instant)>,
    k: &K,
    now: Instant,
) -> Option<String> {
    map.get(k)
        .filter(|(_, at)| now.duration_since(*at) < REMEMBER)
        .map(|(u, _)| u.clone())
}

impl Attribution {
    /// Whether `step` tells which machine uses an address (a PXE GUID, a hardware address,
    /// a `uuid` query), so it is worth attributing even when it makes no Event.
    pub fn teaches(step: &Step) -> bool {
        match step {
            Step::Dhcp { .. } => true,
            Step::Tftp { .. } => false,
            Step::Http { uuid, .. } => uuid.is_some(),
        }
    }

    /// The machine `step` belongs to, learning from it; `neighbour` maps an address to a
    /// hardware address (the kernel's neighbour table).
    pub fn attribute(
        &mut self,
        step: &Step,
        now: Instant,
        neighbour: impl Fn(IpAddr) -> Option<String>,
    ) -> Option<String> {
        let (ip, uuid) = match step {
            Step::Dhcp { mac, ip, uuid, .. } => {
                let uuid = uuid.clone().or_else(|| recall(&self.by_mac, mac, now))?;
                remember(&mut self.by_mac, mac.clone(), &uuid, now);
                (*ip, uuid)
            }
            Step::Tftp { ip, .. } => (Some(*ip), self.by_address(*ip, now, neighbour)?),
            Step::Http { ip, uuid, .. } => {
                let uuid = match uuid.as_deref().filter(|u| !u.is_empty()) {
                    Some(u) => u.to_owned(),
                    None => self.by_address(*ip, now, neighbour)?,
                };
                (Some(*ip), uuid)
            }
        };
        if let Some(ip) = ip.filter(|ip| !ip.is_unspecified()) {
            remember(&mut self.by_ip, ip, &uuid, now);
        }
        Some(uuid)
    }

    fn by_address(
        &self,
        ip: IpAddr,
        now: Instant,
        neighbour: impl Fn(IpAddr) -> Option<String>,
    ) -> Option<String> {
        recall(&self.by_ip, &ip, now).or_else(|| recall(&self.by_mac, &neighbour(ip)?, now))
    }

    /// Whether `note` for `uuid` has not been published within the de-duplication window
    /// (and records that it is now).
    pub fn first_in_window(&mut self, uuid: &str, note: &Note, now: Instant) -> bool {
        if self.recent.len() >= MAX_ENTRIES {
            self.recent.retain(|_, at| now.duration_since(*at) < DEDUP);
        }
        let key = (uuid.to_owned(), note.reason, note.note.clone());
        match self.recent.get(&key) {
            Some(at) if now.duration_since(*at) < DEDUP => false,
            _ => {
                self.recent.insert(key, now);
                true
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const MAC: &str = "52:54:00:aa:bb:cc";

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn dhcp(uuid: Option<&str>, from: Option<&str>) -> Step {
        Step::Dhcp {
            port: "dhcp",
            mac: MAC.into(),
            ip: from.map(ip),
            uuid: uuid.map(Into::into),
            firmware: "UEFI x86-64".into(),
            boot_file: "snp.efi".into(),
        }
    }

    fn tftp(from: &str) -> Step {
        Step::Tftp {
            ip: ip(from),
            file: "snp.efi".into(),
            bytes: 1,
            duration: Duration::ZERO,
            failure: None,
        }
    }

    fn http(from: &str, uuid: Option<&str>) -> Step {
        Step::Http {
            ip: ip(from),
            path: "/env/agent/vmlinuz".into(),
            uuid: uuid.map(Into::into),
            branch: None,
            status: 200,
        }
    }

    #[test]
    fn a_boot_is_followed_from_the_guid_through_its_addresses() {
        let mut a = Attribution::default();
        let t0 = Instant::now();
        let arp = |i: IpAddr| (i == ip("10.0.0.5")).then(|| MAC.to_owned());
        let none = |_: IpAddr| None;
        // Nothing known yet: an address alone says nothing.
        assert_eq!(a.attribute(&tftp("10.0.0.5"), t0, arp), None);
        assert_eq!(
            a.attribute(&dhcp(None, None), t0, none),
            None,
            "no GUID, unknown MAC"
        );
        // The GUID names the machine; its MAC is learned.
        assert_eq!(
            a.attribute(&dhcp(Some("u1"), None), t0, none).as_deref(),
            Some("u1")
        );
        // TFTP from 10.0.0.5: through the neighbour table to the MAC.
        assert_eq!(
            a.attribute(&tftp("10.0.0.5"), t0, arp).as_deref(),
            Some("u1")
        );
        // Now the address itself is known.
        assert_eq!(
            a.attribute(&http("10.0.0.5", None), t0, none).as_deref(),
            Some("u1")
        );
        // A later DHCP request without a GUID, same MAC.
        assert_eq!(
            a.attribute(&dhcp(None, Some("10.0.0.5")), t0, none)
                .as_deref(),
            Some("u1")
        );
        // `/ipxe` names another machine at 10.0.0.6; its asset fetches follow.
        assert_eq!(
            a.attribute(&http("10.0.0.6", Some("u2")), t0, none)
                .as_deref(),
            Some("u2")
        );
        assert_eq!(
            a.attribute(&tftp("10.0.0.6"), t0, none).as_deref(),
            Some("u2")
        );
        // An hour later the addresses are forgotten (DHCP leases move).
        let later = t0 + REMEMBER + Duration::from_secs(1);
        assert_eq!(a.attribute(&tftp("10.0.0.6"), later, none), None);
    }

    #[test]
    fn the_same_event_is_published_once_per_window() {
        let mut a = Attribution::default();
        let t0 = Instant::now();
        let n = |text: &str| Note {
            warning: false,
            reason: "DHCPOffer",
            action: "OfferBootFile",
            note: text.into(),
        };
        assert!(a.first_in_window("u1", &n("a"), t0));
        assert!(!a.first_in_window("u1", &n("a"), t0 + Duration::from_secs(2)));
        assert!(a.first_in_window("u1", &n("b"), t0), "another note");
        assert!(a.first_in_window("u2", &n("a"), t0), "another machine");
        assert!(a.first_in_window("u1", &n("a"), t0 + DEDUP + Duration::from_secs(1)));
    }
}
