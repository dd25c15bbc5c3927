//! The discovery agent's DHCPv4 client messages (spec §7.2 step 3).
//!
//! * [`request`]: DISCOVER and REQUEST for the boot NIC, asking for classless static routes
//!   (121), DNS (6), interface MTU (26) and hostname (12) besides the basics, with the
//!   broadcast flag set (the client has no address to receive unicast on).
//! * [`reply`]: a bounds-checked parser of the server's replies into a [`Lease`]; the bytes
//!   come from whoever answers on the wire, so nothing is trusted.

pub mod reply;
pub mod request;

pub use reply::{Lease, MessageType, Reply, ReplyError, Route};
