//! Server configuration.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::packet::{MAX_BLOCK_SIZE, MIN_BLOCK_SIZE};

/// Largest window the server ever uses, whatever is configured. Keeping it below 32768 makes
/// the 16-bit block numbers of a window unambiguous across rollover.
pub const HARD_MAX_WINDOW: u16 = 16384;

/// How transfer traffic is carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SocketMode {
    /// Every transfer stays on the server's bound port and packets are demultiplexed by client
    /// address (upstream Sidero's mode; works behind a Kubernetes Service or a NAT that only
    /// forwards the one port).
    #[default]
    SinglePort,
    /// Classic RFC 1350: each transfer gets its own ephemeral socket (a new server TID).
    MultiPort,
}

/// Server settings. [`ServerConfig::default`] matches upstream: `0.0.0.0:69`, single-port,
/// 5 s retransmission timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Address to bind.
    pub bind: SocketAddr,
    /// Socket mode.
    pub mode: SocketMode,
    /// Retransmission timeout when the client does not negotiate `timeout`.
    pub default_timeout: Duration,
    /// Retransmissions of an unacknowledged window before the transfer is abandoned.
    pub max_retries: u32,
    /// Largest `blksize` granted (requests above it are clamped), 8..=65464.
    pub max_block_size: u16,
    /// Largest `windowsize` granted (requests above it are clamped), at least 1; the server
    /// never uses more than [`HARD_MAX_WINDOW`].
    pub max_window_size: u16,
    /// Memory bound for one transfer's unacknowledged window: `windowsize` is further clamped
    /// so that `windowsize * (blksize + 4)` stays within it (but is at least 1).
    pub max_window_bytes: usize,
    /// Concurrent transfers; requests beyond it get TFTP error 0 "server busy".
    pub max_transfers: usize,
    /// How long opening a file may take before the request fails.
    pub open_timeout: Duration,
    /// Packets queued per transfer in single-port mode; more are dropped (and recovered by
    /// retransmission), so one flooding client cannot grow memory.
    pub peer_queue: usize,
    /// `SO_RCVBUF` for the listening socket, if set.
    pub recv_buffer_size: Option<usize>,
    /// `SO_REUSEADDR` on the listening socket: lets a server on the wildcard address and one
    /// on a specific address of the same port run side by side (both need it). The kernel
    /// hands datagrams sent to the specific address to that server, whose replies then come
    /// from the address the client asked (replies from a wildcard socket take the routing
    /// choice of source address, which a client such as OVMF's PXE drops).
    pub reuse_address: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 69)),
            mode: SocketMode::SinglePort,
            default_timeout: Duration::from_secs(5),
            max_retries: 5,
            max_block_size: MAX_BLOCK_SIZE,
            max_window_size: 64,
            max_window_bytes: 256 * 1024,
            max_transfers: 256,
            open_timeout: Duration::from_secs(10),
            peer_queue: 32,
            recv_buffer_size: None,
            reuse_address: false,
        }
    }
}

/// A setting out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid TFTP server configuration: {0}")]
pub struct ConfigError(pub String);

impl ServerConfig {
    /// Checks every setting's range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |m: &str| Err(ConfigError(m.to_owned()));
        if self.default_timeout.is_zero() || self.default_timeout > Duration::from_secs(255) {
            return err("default_timeout must be within 1 ms..=255 s");
        }
        if !(MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&self.max_block_size) {
            return err("max_block_size must be within 8..=65464");
        }
        if self.max_window_size == 0 {
            return err("max_window_size must be at least 1");
        }
        if self.max_transfers == 0 {
            return err("max_transfers must be at least 1");
        }
        if self.peer_queue == 0 {
            return err("peer_queue must be at least 1");
        }
        if self.open_timeout.is_zero() {
            return err("open_timeout must be positive");
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn default_is_upstream_and_valid() {
        let c = ServerConfig::default();
        assert_eq!(c.bind.port(), 69);
        assert_eq!(c.mode, SocketMode::SinglePort);
        assert_eq!(c.default_timeout, Duration::from_secs(5));
        c.validate().unwrap();
    }

    #[test]
    fn rejects_out_of_range() {
        let bad = [
            ServerConfig {
                max_block_size: 7,
                ..Default::default()
            },
            ServerConfig {
                max_window_size: 0,
                ..Default::default()
            },
            ServerConfig {
                default_timeout: Duration::ZERO,
                ..Default::default()
            },
            ServerConfig {
                max_transfers: 0,
                ..Default::default()
            },
        ];
        for c in bad {
            assert!(c.validate().is_err(), "{c:?}");
        }
    }
}
