//! A read-only TFTP server for network boot, wire-compatible with the one in Sidero Metal.
//!
//! * Protocol: RFC 1350 read requests in `octet` and `netascii` mode (netascii is converted
//!   on the fly, LF → CR LF and CR → CR NUL); write requests are refused with error 2 (access
//!   violation), the obsolete `mail` and unknown modes with error 4. Options: RFC 2347 OACK,
//!   `blksize` (RFC 2348), `timeout` and `tsize` (RFC 2349), `windowsize` (RFC 7440); see
//!   [`options`] for the exact rules.
//! * Sockets: [`SocketMode::SinglePort`] (upstream's mode: all traffic on the bound port,
//!   demultiplexed by client address, so it works behind a Kubernetes Service) or
//!   [`SocketMode::MultiPort`] (one ephemeral socket per transfer).
//! * Content: any [`FileSource`]; [`DirSource`] serves a directory, [`MemorySource`] an
//!   updatable in-memory map. Requested names are cleaned by [`CleanPath`] so they cannot
//!   leave the root.
//! * Robustness: each transfer runs in its own task with bounded memory (one window of
//!   blocks), retransmits on timeout a bounded number of times, ignores duplicate ACKs (no
//!   Sorcerer's Apprentice syndrome), rolls block numbers over past 65535, and the number of
//!   concurrent transfers is capped ([`ServerConfig::max_transfers`]).
//! * Observability: `tracing` events in a `tftp` span carrying the transfer id, client
//!   address and file; a [`TransferObserver`] receives started/completed/failed/rejected
//!   events for metrics.
//!
//! Known limitation: replies leave through the kernel's routing choice of source address. With
//! a wildcard bind (`0.0.0.0`) on a host with several addresses on one subnet, a client may
//! see replies from a different address than it asked (no `IP_PKTINFO` handling yet), and
//! OVMF's PXE drops them. Bind the specific address, or run a second server on it beside the
//! wildcard one with [`ServerConfig::reuse_address`] set on both.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use sidero_tftp::{MemorySource, ServerConfig, TftpServer};
//!
//! let files = MemorySource::new();
//! files.insert("undionly.kpxe", vec![0u8; 1024])?;
//! let server = TftpServer::bind(ServerConfig::default(), files.clone()).await?;
//! server.serve().await;
//! # Ok(())
//! # }
//! ```

pub mod blocks;
pub mod config;
mod link;
pub mod observer;
pub mod options;
pub mod packet;
pub mod path;
mod sender;
mod server;
pub mod source;
mod transfer;

pub use config::{ConfigError, ServerConfig, SocketMode};
pub use observer::{FailureReason, NoopObserver, TransferEvent, TransferInfo, TransferObserver};
pub use options::TransferOptions;
pub use packet::{ErrorCode, Packet, PacketError};
pub use path::{CleanPath, PathError};
pub use server::{ServerError, TftpServer};
pub use source::{DirSource, FileSource, MemorySource, OpenedFile, SourceError};
