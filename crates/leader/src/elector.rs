//! The thin executor: reads the Lease, applies [`decide`], writes with the resourceVersion it
//! read, and keeps renewing while leading.

use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};

use crate::decide::{Memory, Record, Step, decide, released};

/// Lease timing. A takeover happens within `lease_duration + 2 * retry_period` of the leader's
/// death (12 s with the defaults; client-go's 15/10/2 s would allow 19 s): a follower restarts
/// its expiry clock when it sees a renewal, which it sees at most one retry period late, and
/// notices expiry at most one retry period late.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// How long a follower waits on an unchanged record before taking over.
    pub lease_duration: Duration,
    /// How long a leader keeps leading without a successful renewal (must be shorter than
    /// `lease_duration`, so it stops before anyone may take over).
    pub renew_deadline: Duration,
    /// Time between tries (followers) and renewals (leader).
    pub retry_period: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            lease_duration: Duration::from_secs(10),
            renew_deadline: Duration::from_secs(7),
            retry_period: Duration::from_secs(1),
        }
    }
}

/// Failures talking to the API server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server failed or refused a request.
    #[error("lease {name}: {source}")]
    Kube {
        /// The Lease.
        name: String,
        /// The failure.
        source: kube::Error,
    },
    /// The timing cannot work.
    #[error(
        "leader election: renew deadline {renew:?} must be shorter than the lease duration {lease:?}"
    )]
    Timing {
        /// Renew deadline.
        renew: Duration,
        /// Lease duration.
        lease: Duration,
    },
}

/// Why leadership ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lost {
    /// We stepped down on shutdown and released the Lease.
    Released,
    /// Another candidate holds the Lease.
    TakenOver {
        /// Its identity.
        holder: String,
    },
    /// No renewal succeeded within the renew deadline.
    Deadline {
        /// The last failure.
        last_error: String,
    },
}

/// Outcome of one try.
enum Try {
    Held,
    Other(String),
    Conflict,
}

/// One candidate for one Lease.
pub struct Elector {
    api: Api<Lease>,
    name: String,
    identity: String,
    timing: Timing,
    memory: Memory,
}

impl Elector {
    /// A candidate `identity` for Lease `namespace/name`.
    pub fn new(
        client: kube::Client,
        namespace: &str,
        name: &str,
        identity: &str,
        timing: Timing,
    ) -> Result<Elector, Error> {
        if timing.renew_deadline >= timing.lease_duration {
            return Err(Error::Timing {
                renew: timing.renew_deadline,
                lease: timing.lease_duration,
            });
        }
        Ok(Elector {
            api: Api::namespaced(client, namespace),
            name: name.to_owned(),
            identity: identity.to_owned(),
            timing,
            memory: Memory::default(),
        })
    }

    /// This candidate's identity (the Lease's `holderIdentity` while it leads).
    pub fn identity(&self) -> &str {
        &self.identity
    }

    fn kube(&self, source: kube::Error) -> Error {
        Error::Kube {
            name: self.name.clone(),
            source,
        }
    }

    async fn try_once(&mut self) -> Result<Try, Error> {
        let lease = self
            .api
            .get_opt(&self.name)
            .await
            .map_err(|e| self.kube(e))?;
        let current = lease.as_ref().map(record_of);
        let (step, memory) = decide(
            &self.identity,
            self.timing.lease_duration,
            current.as_ref(),
            &self.memory,
            Instant::now(),
            jiff::Timestamp::now(),
        );
        self.memory = memory;
        let written = match step {
            Step::Follow { holder, .. } => return Ok(Try::Other(holder)),
            Step::Create(record) => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.name.clone()),
                        ..Default::default()
                    },
                    spec: Some(spec_of(&record)),
                };
                self.api.create(&PostParams::default(), &lease).await
            }
            Step::Update(record) => {
                // `lease` is Some here (Update needs a current record); its metadata carries
                // the resourceVersion that conditions the write.
                let mut lease = lease.unwrap_or_default();
                lease.spec = Some(spec_of(&record));
                self.api
                    .replace(&self.name, &PostParams::default(), &lease)
                    .await
            }
        };
        match written {
            Ok(l) => {
                self.memory = Memory {
                    seen: Some(record_of(&l)),
                    seen_at: Some(Instant::now()),
                };
                Ok(Try::Held)
            }
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(Try::Conflict),
            Err(e) => Err(self.kube(e)),
        }
    }

    /// Waits until this candidate leads. Failures are logged and retried every retry period.
    pub async fn acquire(&mut self) {
        let mut last_holder = None;
        loop {
            match self.try_once().await {
                Ok(Try::Held) => {
                    tracing::info!(lease = %self.name, identity = %self.identity, "acquired the leader lease");
                    return;
                }
                Ok(Try::Other(holder)) => {
                    if last_holder.as_ref() != Some(&holder) {
                        tracing::info!(lease = %self.name, %holder, "another replica leads; waiting");
                        last_holder = Some(holder);
                    }
                }
                Ok(Try::Conflict) => {
                    tracing::debug!(lease = %self.name, "lost a race for the lease");
                }
                Err(e) => tracing::warn!(error = %e, "leader election"),
            }
            tokio::time::sleep(self.timing.retry_period).await;
        }
    }

    /// Renews the Lease until leadership is lost, or until `shutdown` resolves (then the Lease
    /// is released so a follower takes over at once).
    pub async fn keep(mut self, shutdown: impl Future<Output = ()>) -> Lost {
        let mut last_ok = Instant::now();
        let mut last_error = String::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => {
                    self.release().await;
                    return Lost::Released;
                }
                () = tokio::time::sleep(self.timing.retry_period) => {}
            }
            let left = self.timing.renew_deadline.saturating_sub(last_ok.elapsed());
            match tokio::time::timeout(left, self.try_once()).await {
                Ok(Ok(Try::Held)) => last_ok = Instant::now(),
                Ok(Ok(Try::Other(holder))) => return Lost::TakenOver { holder },
                Ok(Ok(Try::Conflict)) => last_error = "conflict".into(),
                Ok(Err(e)) => last_error = e.to_string(),
                Err(_) => last_error = "renewal timed out".into(),
            }
            if last_ok.elapsed() >= self.timing.renew_deadline {
                return Lost::Deadline { last_error };
            }
        }
    }

    /// Empties `holderIdentity` if we still hold the Lease.
    async fn release(&self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await else {
            return;
        };
        let current = record_of(&lease);
        if current.holder != self.identity {
            return;
        }
        lease.spec = Some(spec_of(&released(&current, jiff::Timestamp::now())));
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => tracing::info!(lease = %self.name, "released the leader lease"),
            Err(e) => tracing::warn!(lease = %self.name, error = %e, "releasing the leader lease"),
        }
    }
}

fn record_of(lease: &Lease) -> Record {
    let spec = lease.spec.clone().unwrap_or_default();
    Record {
        holder: spec.holder_identity.unwrap_or_default(),
        lease_duration_seconds: spec.lease_duration_seconds.unwrap_or(0),
        acquire_time: spec.acquire_time.map(|t| t.0),
        renew_time: spec.renew_time.map(|t| t.0),
        transitions: spec.lease_transitions.unwrap_or(0),
    }
}

fn spec_of(r: &Record) -> LeaseSpec {
    LeaseSpec {
        holder_identity: Some(r.holder.clone()),
        lease_duration_seconds: Some(r.lease_duration_seconds),
        acquire_time: r.acquire_time.map(MicroTime),
        renew_time: r.renew_time.map(MicroTime),
        lease_transitions: Some(r.transitions),
        ..Default::default()
    }
}

/// A unique candidate identity, as client-go's `<hostname>_<unique>`: `POD_NAME` or the host
/// name, then the process id and start time (two replicas on one host differ).
pub fn default_identity() -> String {
    let host = std::env::var("POD_NAME")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{host}_{}_{nanos:08x}", std::process::id())
}

/// The namespace of the Lease when no flag names one: the pod's (service-account namespace
/// file, then `POD_NAMESPACE`), else `sidero-system`, where the provider is installed.
pub fn default_namespace() -> String {
    std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| {
            std::env::var("POD_NAMESPACE")
                .ok()
                .filter(|s| !s.is_empty())
        })
        .unwrap_or_else(|| "sidero-system".into())
}
