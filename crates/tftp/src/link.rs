//! The per-transfer view of the network: how a transfer sends to and hears from its client.
//!
//! * [`Link::Shared`] (single-port mode): sends go out of the server's one socket; the
//!   dispatcher parses packets from this client's address and queues them here.
//! * [`Link::Dedicated`] (multi-port mode): the transfer owns an ephemeral socket; packets from
//!   any other address are answered with error 5 (unknown transfer ID) and otherwise ignored,
//!   as RFC 1350 §4 asks.
//!
//! Either way [`Link::recv`] returns `None` once the dispatcher has dropped the transfer's
//! registry entry, which happens only when a new request from the same client supersedes it.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use crate::packet::{ErrorCode, Packet, encode_error, message_text};

/// Longest client error message kept (the rest is dropped).
const MAX_MESSAGE: usize = 256;
/// Receive buffer of a dedicated socket: enough for any ACK or a truncated ERROR.
const DEDICATED_BUF: usize = 1024;

/// What a transfer needs to know about a packet from its client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// An acknowledgment.
    Ack(u16),
    /// The client aborted.
    Error {
        /// Its error code.
        code: ErrorCode,
        /// Its message (truncated).
        message: String,
    },
    /// Anything else (a duplicate RRQ, a stray DATA, …); ignored by the transfer.
    Other,
}

impl Incoming {
    /// Condenses a parsed packet.
    pub fn from_packet(packet: &Packet<'_>) -> Self {
        match packet {
            Packet::Ack { block } => Incoming::Ack(*block),
            Packet::Error { code, message } => {
                let text = message_text(message);
                let mut end = text.len().min(MAX_MESSAGE);
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                Incoming::Error {
                    code: *code,
                    message: text.get(..end).unwrap_or_default().to_owned(),
                }
            }
            _ => Incoming::Other,
        }
    }
}

/// A transfer's connection to its client.
pub enum Link {
    /// Single-port mode.
    Shared {
        /// The server's socket.
        socket: Arc<UdpSocket>,
        /// Packets from this client, queued by the dispatcher.
        rx: mpsc::Receiver<Incoming>,
    },
    /// Multi-port mode.
    Dedicated {
        /// This transfer's own socket.
        socket: UdpSocket,
        /// Resolves (with an error) when the registry entry is dropped.
        cancel: oneshot::Receiver<()>,
        /// Set once anything arrives from the client (so a later RRQ is a new request).
        heard: Arc<AtomicBool>,
    },
}

impl Link {
    /// The local address replies come from.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Link::Shared { socket, .. } => socket.local_addr(),
            Link::Dedicated { socket, .. } => socket.local_addr(),
        }
    }

    /// True once the transfer has been superseded (checked before sending new blocks, so a
    /// replaced transfer stops at once even while it is not waiting for packets).
    pub fn is_cancelled(&mut self) -> bool {
        match self {
            Link::Shared { rx, .. } => rx.is_closed(),
            Link::Dedicated { cancel, .. } => {
                !matches!(cancel.try_recv(), Err(oneshot::error::TryRecvError::Empty))
            }
        }
    }

    /// Sends one datagram to `peer`.
    pub async fn send(&self, peer: SocketAddr, datagram: &[u8]) -> io::Result<()> {
        let socket = match self {
            Link::Shared { socket, .. } => socket.as_ref(),
            Link::Dedicated { socket, .. } => socket,
        };
        socket.send_to(datagram, peer).await.map(drop)
    }

    /// Waits for the next packet from `peer`; `None` means the transfer was superseded.
    /// Cancel-safe: dropping the future loses nothing but the packet being read.
    pub async fn recv(&mut self, peer: SocketAddr) -> Option<Incoming> {
        match self {
            Link::Shared { rx, .. } => rx.recv().await,
            Link::Dedicated {
                socket,
                cancel,
                heard,
            } => {
                let mut buf = [0u8; DEDICATED_BUF];
                loop {
                    // A completed oneshot must not be polled again.
                    if cancel.is_terminated() {
                        return None;
                    }
                    let received = tokio::select! {
                        _ = &mut *cancel => return None,
                        received = socket.recv_from(&mut buf) => received,
                    };
                    match received {
                        Ok((n, src)) if src == peer => {
                            heard.store(true, Ordering::Relaxed);
                            let datagram = buf.get(..n).unwrap_or_default();
                            return Some(match Packet::parse(datagram) {
                                Ok(packet) => Incoming::from_packet(&packet),
                                Err(_) => Incoming::Other,
                            });
                        }
                        Ok((_, src)) => {
                            tracing::debug!(%src, "packet from a foreign transfer ID");
                            let reply =
                                encode_error(ErrorCode::UnknownTransferId, "Unknown transfer ID");
                            // Best effort and never blocking: the reply is a courtesy.
                            let _ = socket.try_send_to(&reply, src);
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "receive error on transfer socket");
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn truncates_long_error_messages_on_char_boundaries() {
        let long = "é".repeat(300);
        let inc = Incoming::from_packet(&Packet::Error {
            code: ErrorCode::NotDefined,
            message: long.as_bytes(),
        });
        let Incoming::Error { message, .. } = inc else {
            panic!("not an error");
        };
        assert!(message.len() <= MAX_MESSAGE);
        assert!(message.chars().all(|c| c == 'é'));
    }
}
