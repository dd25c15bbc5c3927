//! Hooks for counting transfers (the manager turns these into Prometheus metrics).

use std::net::SocketAddr;
use std::time::Duration;

use crate::options::TransferOptions;
use crate::packet::ErrorCode;

/// Identifies one transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferInfo {
    /// Server-unique transfer number.
    pub id: u64,
    /// The client's address and port.
    pub peer: SocketAddr,
    /// The cleaned file name.
    pub file: String,
}

/// Why a started transfer did not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FailureReason {
    /// The client stopped acknowledging; the window was retransmitted `retries` times.
    #[error("timed out after {retries} retransmissions")]
    TimedOut {
        /// Retransmissions made.
        retries: u32,
    },
    /// The client sent an ERROR packet (it aborted the transfer).
    #[error("client aborted with error {code:?}: {message}")]
    ClientAborted {
        /// The client's error code.
        code: ErrorCode,
        /// The client's message.
        message: String,
    },
    /// Reading the content failed.
    #[error("read error: {0}")]
    ReadError(String),
    /// Sending failed at the socket level.
    #[error("send error: {0}")]
    SendError(String),
    /// The same client address sent a new read request, which replaced this transfer (a PXE
    /// ROM that probes `tsize`, aborts and asks again from the same port, or a restart).
    #[error("superseded by a new request from the same client")]
    Superseded,
}

/// A transfer lifecycle event.
#[derive(Debug, Clone, Copy)]
pub enum TransferEvent<'a> {
    /// A request was accepted and the first packet is about to be sent.
    Started {
        /// The transfer.
        info: &'a TransferInfo,
        /// Negotiated options.
        options: &'a TransferOptions,
    },
    /// The last block was acknowledged.
    Completed {
        /// The transfer.
        info: &'a TransferInfo,
        /// Payload bytes delivered (and acknowledged).
        bytes: u64,
        /// Time since the request arrived.
        duration: Duration,
    },
    /// A started transfer failed.
    Failed {
        /// The transfer.
        info: &'a TransferInfo,
        /// Payload bytes acknowledged before the failure.
        bytes: u64,
        /// Time since the request arrived.
        duration: Duration,
        /// Why.
        reason: &'a FailureReason,
    },
    /// A request was refused with an ERROR packet before any data was sent.
    Rejected {
        /// The client's address and port.
        peer: SocketAddr,
        /// The file name as requested (empty for non-RRQ packets).
        file: &'a str,
        /// The error code sent.
        code: ErrorCode,
        /// The error message sent.
        message: &'a str,
    },
}

/// Receives [`TransferEvent`]s. Called inline from transfer tasks, so keep it cheap and
/// non-blocking (increment counters, no I/O).
pub trait TransferObserver: Send + Sync + 'static {
    /// Handles one event.
    fn on_event(&self, event: &TransferEvent<'_>);
}

impl<F> TransferObserver for F
where
    F: Fn(&TransferEvent<'_>) + Send + Sync + 'static,
{
    fn on_event(&self, event: &TransferEvent<'_>) {
        self(event)
    }
}

/// An observer that ignores everything (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopObserver;

impl TransferObserver for NoopObserver {
    fn on_event(&self, _event: &TransferEvent<'_>) {}
}
