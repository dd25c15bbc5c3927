//! Leader election on a `coordination.k8s.io/v1` Lease, with client-go's semantics so that a
//! replica of ours and a replica of upstream's manager never both lead:
//!
//! * a follower takes the Lease only after it has seen the same record (holder and renew
//!   time) unchanged for `leaseDurationSeconds` by **its own** clock, so clock skew between
//!   hosts does not matter;
//! * the leader renews every retry period and gives up (the process exits, as
//!   controller-runtime does) when no renewal succeeded for the renew deadline, which is
//!   shorter than the lease duration;
//! * every write is conditioned on the `resourceVersion` read, so two candidates racing for an
//!   expired Lease cannot both win: one gets `409 Conflict`;
//! * on a clean shutdown the leader empties `holderIdentity`, and a follower takes over at
//!   its next try instead of waiting for expiry.
//!
//! [`decide`] is the whole policy as a pure function; [`Elector`] reads and writes the Lease.

mod decide;
mod elector;

pub use decide::{Memory, Record, Step, decide};
pub use elector::{Elector, Error, Lost, Timing, default_identity, default_namespace};
