//! The windowed send loop (RFC 1350 lock-step is the `windowsize = 1` case of RFC 7440).
//!
//! Packets are numbered with a 64-bit index: the OACK, if any, is index 0 and DATA block `n`
//! is index `n`; on the wire the block number is the index modulo 65536, so block numbers
//! roll over from 65535 to 0 (the convention of tftp-hpa, curl, iPXE and EDK2) and files of
//! any size can be sent.
//!
//! The unacknowledged packets (at most one window) are kept, fully encoded, in `window`:
//! * an ACK for a packet in the window acknowledges it and everything before it; if packets
//!   remain (the client saw a gap and acknowledged the last in-order block, RFC 7440 §4),
//!   they are sent again at once, then the window is topped up with new blocks;
//! * an ACK for anything else (a duplicate of an already acknowledged block, or garbage) is
//!   ignored: duplicates never cause sends, which is what prevents the Sorcerer's Apprentice
//!   syndrome (RFC 1123 §4.2.3.1);
//! * if no ACK advances the window within the timeout, the whole window is retransmitted;
//!   after `max_retries` retransmissions without progress the transfer fails. Ignored packets
//!   do not extend the deadline, so a client spraying duplicates cannot keep a transfer alive.
//!
//! Because the window is at most [`crate::config::HARD_MAX_WINDOW`] (< 32768) packets, a
//! 16-bit ACK maps to a unique packet of the window.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;

use tokio::time::Instant;

use crate::blocks::BlockReader;
use crate::link::{Incoming, Link};
use crate::observer::FailureReason;
use crate::options::TransferOptions;
use crate::packet::data_header;

/// Sends one file to one client.
pub struct Sender {
    link: Link,
    peer: SocketAddr,
    blocks: BlockReader,
    options: TransferOptions,
    max_retries: u32,
    /// Sent, unacknowledged packets; `window[i]` has index `base + i`.
    window: VecDeque<Vec<u8>>,
    base: u64,
    /// The last block has been read.
    eof: bool,
    acked_bytes: u64,
}

/// The wire block number of a packet index.
fn wire(index: u64) -> u16 {
    (index & 0xFFFF) as u16
}

impl Sender {
    /// Prepares a transfer of `blocks` to `peer`.
    pub fn new(
        link: Link,
        peer: SocketAddr,
        blocks: BlockReader,
        options: TransferOptions,
        max_retries: u32,
    ) -> Self {
        Sender {
            link,
            peer,
            blocks,
            options,
            max_retries,
            window: VecDeque::new(),
            base: 1,
            eof: false,
            acked_bytes: 0,
        }
    }

    /// The link, for a final ERROR packet.
    pub fn link(&self) -> &Link {
        &self.link
    }

    /// Payload bytes acknowledged so far.
    pub fn acked_bytes(&self) -> u64 {
        self.acked_bytes
    }

    /// Runs the transfer, starting with `oack` if options were acknowledged.
    pub async fn run(&mut self, oack: Option<Vec<u8>>) -> Result<(), FailureReason> {
        if let Some(oack) = oack {
            self.base = 0;
            self.send(&oack).await?;
            self.window.push_back(oack);
        }
        let mut retries = 0u32;
        loop {
            self.fill().await?;
            if self.window.is_empty() {
                return Ok(());
            }
            let mut deadline = Instant::now() + self.options.timeout;
            loop {
                match tokio::time::timeout_at(deadline, self.link.recv(self.peer)).await {
                    Err(_elapsed) => {
                        if retries >= self.max_retries {
                            return Err(FailureReason::TimedOut { retries });
                        }
                        retries += 1;
                        tracing::debug!(
                            block = wire(self.base),
                            retries,
                            "no acknowledgment, retransmitting window"
                        );
                        self.resend_window().await?;
                        deadline = Instant::now() + self.options.timeout;
                    }
                    Ok(None) => return Err(FailureReason::Superseded),
                    Ok(Some(Incoming::Ack(block))) => {
                        if self.acknowledge(block) {
                            retries = 0;
                            // Leftovers mean the client lost part of the window.
                            self.resend_window().await?;
                            break;
                        }
                    }
                    Ok(Some(Incoming::Error { code, message })) => {
                        return Err(FailureReason::ClientAborted { code, message });
                    }
                    Ok(Some(Incoming::Other)) => {}
                }
            }
        }
    }

    /// Reads and sends new blocks until the window is full or the file is exhausted. An
    /// outstanding OACK (index 0) is alone in its window: DATA 1 waits for ACK 0.
    async fn fill(&mut self) -> Result<(), FailureReason> {
        let block_size = usize::from(self.options.block_size);
        let window_size = usize::from(self.options.window_size);
        while self.base > 0 && self.window.len() < window_size && !self.eof {
            if self.link.is_cancelled() {
                return Err(FailureReason::Superseded);
            }
            let index = self.base + self.window.len() as u64;
            let mut packet = Vec::with_capacity(4 + block_size);
            packet.extend_from_slice(&data_header(wire(index)));
            let n = self
                .blocks
                .read_block(&mut packet, block_size)
                .await
                .map_err(|e| FailureReason::ReadError(e.to_string()))?;
            if n < block_size {
                self.eof = true;
            }
            self.send(&packet).await?;
            self.window.push_back(packet);
        }
        Ok(())
    }

    /// Applies an ACK; true if it acknowledged at least one outstanding packet.
    fn acknowledge(&mut self, block: u16) -> bool {
        let offset = usize::from(block.wrapping_sub(wire(self.base)));
        if offset >= self.window.len() {
            return false;
        }
        for _ in 0..=offset {
            if let Some(packet) = self.window.pop_front() {
                if self.base > 0 {
                    self.acked_bytes += packet.len().saturating_sub(4) as u64;
                }
                self.base += 1;
            }
        }
        true
    }

    async fn resend_window(&mut self) -> Result<(), FailureReason> {
        for packet in &self.window {
            send(&self.link, self.peer, packet).await?;
        }
        Ok(())
    }

    async fn send(&mut self, packet: &[u8]) -> Result<(), FailureReason> {
        send(&self.link, self.peer, packet).await
    }
}

/// Sends a packet. Transient socket errors are only logged (retransmission covers them);
/// errors that cannot go away fail the transfer. (A free function borrowing only the link,
/// so the future stays `Send` although the content reader is not `Sync`.)
async fn send(link: &Link, peer: SocketAddr, packet: &[u8]) -> Result<(), FailureReason> {
    match link.send(peer, packet).await {
        Ok(()) => Ok(()),
        Err(e) if is_permanent(&e) => Err(FailureReason::SendError(e.to_string())),
        Err(e) => {
            tracing::debug!(error = %e, "send failed, relying on retransmission");
            Ok(())
        }
    }
}

fn is_permanent(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::InvalidInput
            | io::ErrorKind::AddrNotAvailable
            | io::ErrorKind::Unsupported
            | io::ErrorKind::PermissionDenied
    )
}

#[cfg(test)]
mod tests {
    use super::wire;

    #[test]
    fn block_numbers_roll_over_to_zero() {
        assert_eq!(wire(65535), 65535);
        assert_eq!(wire(65536), 0);
        assert_eq!(wire(65537), 1);
        assert_eq!(wire(3 * 65536 + 7), 7);
    }
}
