//! The leader-election policy as a pure function of the Lease record read, what this candidate
//! saw before, and the local monotonic clock.

use std::time::{Duration, Instant};

/// The fields of a Lease that election reads and writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// `spec.holderIdentity`; empty when released.
    pub holder: String,
    /// `spec.leaseDurationSeconds`.
    pub lease_duration_seconds: i32,
    /// `spec.acquireTime`.
    pub acquire_time: Option<jiff::Timestamp>,
    /// `spec.renewTime`.
    pub renew_time: Option<jiff::Timestamp>,
    /// `spec.leaseTransitions`.
    pub transitions: i32,
}

/// What a candidate remembers between tries: the last record it read and when (by its own
/// monotonic clock) that record last changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    /// The record as last read.
    pub seen: Option<Record>,
    /// When `seen` was first read with its current holder and renew time.
    pub seen_at: Option<Instant>,
}

/// What to do with the Lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// The Lease does not exist: create it holding it.
    Create(Record),
    /// Write this record (conditioned on the resourceVersion read): a renewal when we hold
    /// the Lease, a takeover when it expired or was released.
    Update(Record),
    /// Someone else holds a live Lease; try again later.
    Follow {
        /// The current holder.
        holder: String,
        /// Time until it expires by our clock if it is not renewed.
        expires_in: Duration,
    },
}

/// Decides the next step of candidate `me`, asking for `lease_duration`, given the record just
/// read (`None`: no Lease), its memory, the local clock `now` and the wall time to write.
pub fn decide(
    me: &str,
    lease_duration: Duration,
    current: Option<&Record>,
    memory: &Memory,
    now: Instant,
    wall: jiff::Timestamp,
) -> (Step, Memory) {
    let secs = i32::try_from(lease_duration.as_secs())
        .unwrap_or(i32::MAX)
        .max(1);
    let Some(current) = current else {
        let record = Record {
            holder: me.to_owned(),
            lease_duration_seconds: secs,
            acquire_time: Some(wall),
            renew_time: Some(wall),
            transitions: 0,
        };
        return (Step::Create(record), Memory::default());
    };
    // The record "changed" when its holder or renew time moved; only then restart the
    // expiry clock. A record never seen before starts it now.
    let changed = memory
        .seen
        .as_ref()
        .is_none_or(|s| s.holder != current.holder || s.renew_time != current.renew_time);
    let seen_at = match (changed, memory.seen_at) {
        (false, Some(at)) => at,
        _ => now,
    };
    let memory = Memory {
        seen: Some(current.clone()),
        seen_at: Some(seen_at),
    };
    let held_by_other = !current.holder.is_empty() && current.holder != me;
    if held_by_other {
        let their =
            Duration::from_secs(u64::try_from(current.lease_duration_seconds.max(0)).unwrap_or(0));
        let expires_at = seen_at + their;
        if expires_at > now {
            return (
                Step::Follow {
                    holder: current.holder.clone(),
                    expires_in: expires_at - now,
                },
                memory,
            );
        }
    }
    let record = if current.holder == me {
        Record {
            lease_duration_seconds: secs,
            renew_time: Some(wall),
            acquire_time: current.acquire_time.or(Some(wall)),
            ..current.clone()
        }
    } else {
        Record {
            holder: me.to_owned(),
            lease_duration_seconds: secs,
            acquire_time: Some(wall),
            renew_time: Some(wall),
            transitions: current.transitions.saturating_add(1),
        }
    };
    (Step::Update(record), memory)
}

/// The record a leader writes when it steps down: no holder, so the next candidate to read it
/// takes over without waiting for expiry (client-go's ReleaseOnCancel).
pub(crate) fn released(current: &Record, wall: jiff::Timestamp) -> Record {
    Record {
        holder: String::new(),
        lease_duration_seconds: 1,
        renew_time: Some(wall),
        ..current.clone()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const D: Duration = Duration::from_secs(15);

    fn ts(s: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    fn rec(holder: &str, renew: i64, transitions: i32) -> Record {
        Record {
            holder: holder.into(),
            lease_duration_seconds: 15,
            acquire_time: Some(ts(0)),
            renew_time: Some(ts(renew)),
            transitions,
        }
    }

    #[test]
    fn table() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let seen = |r: Record, s: u64| Memory {
            seen: Some(r),
            seen_at: Some(at(s)),
        };
        struct Case {
            name: &'static str,
            current: Option<Record>,
            memory: Memory,
            now: Instant,
            want: Step,
        }
        let cases = [
            Case {
                name: "no lease: create it as holder",
                current: None,
                memory: Memory::default(),
                now: at(0),
                want: Step::Create(Record {
                    holder: "me".into(),
                    lease_duration_seconds: 15,
                    acquire_time: Some(ts(100)),
                    renew_time: Some(ts(100)),
                    transitions: 0,
                }),
            },
            Case {
                name: "first sight of a live lease: follow for a full duration",
                current: Some(rec("other", 0, 3)),
                memory: Memory::default(),
                now: at(5),
                want: Step::Follow {
                    holder: "other".into(),
                    expires_in: D,
                },
            },
            Case {
                name: "unchanged for less than the duration: follow",
                current: Some(rec("other", 0, 3)),
                memory: seen(rec("other", 0, 3), 0),
                now: at(14),
                want: Step::Follow {
                    holder: "other".into(),
                    expires_in: Duration::from_secs(1),
                },
            },
            Case {
                name: "unchanged for the duration: take over, one more transition",
                current: Some(rec("other", 0, 3)),
                memory: seen(rec("other", 0, 3), 0),
                now: at(15),
                want: Step::Update(Record {
                    holder: "me".into(),
                    lease_duration_seconds: 15,
                    acquire_time: Some(ts(100)),
                    renew_time: Some(ts(100)),
                    transitions: 4,
                }),
            },
            Case {
                name: "renewed meanwhile: the clock restarts",
                current: Some(rec("other", 2, 3)),
                memory: seen(rec("other", 0, 3), 0),
                now: at(20),
                want: Step::Follow {
                    holder: "other".into(),
                    expires_in: D,
                },
            },
            Case {
                name: "wall clocks do not matter: an old renew time seen just now is live",
                current: Some(rec("other", -100_000, 3)),
                memory: Memory::default(),
                now: at(1),
                want: Step::Follow {
                    holder: "other".into(),
                    expires_in: D,
                },
            },
            Case {
                name: "released (no holder): take over at once",
                current: Some(rec("", 0, 3)),
                memory: Memory::default(),
                now: at(0),
                want: Step::Update(Record {
                    holder: "me".into(),
                    lease_duration_seconds: 15,
                    acquire_time: Some(ts(100)),
                    renew_time: Some(ts(100)),
                    transitions: 4,
                }),
            },
            Case {
                name: "our own lease: renew, keep acquire time and transitions",
                current: Some(rec("me", 0, 3)),
                memory: seen(rec("me", 0, 3), 0),
                now: at(2),
                want: Step::Update(Record {
                    holder: "me".into(),
                    lease_duration_seconds: 15,
                    acquire_time: Some(ts(0)),
                    renew_time: Some(ts(100)),
                    transitions: 3,
                }),
            },
        ];
        for c in cases {
            let (step, _) = decide("me", D, c.current.as_ref(), &c.memory, c.now, ts(100));
            assert_eq!(step, c.want, "{}", c.name);
        }
    }

    #[test]
    fn memory_keeps_the_first_sighting_of_an_unchanged_record() {
        let t0 = Instant::now();
        let r = rec("other", 0, 0);
        let (_, m1) = decide("me", D, Some(&r), &Memory::default(), t0, ts(0));
        let (_, m2) = decide("me", D, Some(&r), &m1, t0 + Duration::from_secs(7), ts(7));
        assert_eq!(m2.seen_at, Some(t0));
        let (step, _) = decide("me", D, Some(&r), &m2, t0 + D, ts(15));
        assert!(matches!(step, Step::Update(ref n) if n.holder == "me"));
    }

    #[test]
    fn a_released_record_has_no_holder() {
        let r = released(&rec("me", 0, 2), ts(9));
        assert_eq!((r.holder.as_str(), r.transitions), ("", 2));
        assert_eq!(r.renew_time, Some(ts(9)));
    }
}
