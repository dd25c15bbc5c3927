//! One request/response exchange over UDP: send, wait up to the timeout for a datagram the
//! exchange accepts (ignoring stale, foreign or corrupt ones), retransmit a bounded number
//! of times. The exchange decides what each retransmission looks like (RMCP+ sessions use a
//! new session sequence number but keep the IPMI request sequence number, as the spec
//! allows, so a BMC can recognise the retry).

use std::io::ErrorKind;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;

use crate::error::{PowerError, Step};

/// Largest datagram we read; longer ones are truncated and then fail to parse.
const MAX_DATAGRAM: usize = 1024;

/// Timing of one exchange.
#[derive(Debug, Clone)]
pub(crate) struct Timing {
    /// How long to wait for an answer to each transmission.
    pub timeout: Duration,
    /// Retransmissions after the first transmission.
    pub retries: u32,
}

/// What to do with a received datagram.
pub(crate) enum Verdict<T> {
    /// The exchange is over, with this result.
    Done(Result<T, PowerError>),
    /// Not an answer to this exchange (stale, foreign, corrupt); keep waiting.
    Ignore(String),
}

/// One request/response exchange.
pub(crate) trait Exchange {
    /// The successful result.
    type Output;
    /// The datagram for transmission number `attempt` (0 = first).
    fn packet(&mut self, attempt: u32) -> Result<Vec<u8>, PowerError>;
    /// Judges a received datagram.
    fn accept(&mut self, datagram: &[u8]) -> Verdict<Self::Output>;
}

/// Runs an exchange on a connected socket.
pub(crate) async fn exchange<E: Exchange>(
    sock: &UdpSocket,
    target: &str,
    step: Step,
    timing: &Timing,
    ex: &mut E,
) -> Result<E::Output, PowerError> {
    let attempts = timing.retries.saturating_add(1);
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut refused = false;
    let mut ignored: Option<String> = None;
    let io = |source| PowerError::Io {
        target: target.to_owned(),
        step,
        source,
    };
    for attempt in 0..attempts {
        let pkt = ex.packet(attempt)?;
        let deadline = Instant::now() + timing.timeout;
        match sock.send(&pkt).await {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => refused = true,
            Err(e) => return Err(io(e)),
        }
        loop {
            match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
                Err(_) => break,
                Ok(Err(e)) if e.kind() == ErrorKind::ConnectionRefused => {
                    // ICMP port unreachable: nothing listens. Wait out this attempt anyway,
                    // so a BMC that is just starting up still gets its retries.
                    refused = true;
                    tokio::time::sleep_until(deadline).await;
                    break;
                }
                Ok(Err(e)) => return Err(io(e)),
                Ok(Ok(n)) => match ex.accept(buf.get(..n).unwrap_or_default()) {
                    Verdict::Done(r) => return r,
                    Verdict::Ignore(why) => {
                        tracing::debug!(target_bmc = target, %step, why, "ignored datagram");
                        ignored = Some(why);
                    }
                },
            }
        }
        tracing::debug!(target_bmc = target, %step, attempt, "no answer, retransmitting");
    }
    let hint = match (refused, ignored) {
        (true, _) => "; ICMP port unreachable: nothing listens on that port".to_owned(),
        (false, Some(why)) => format!("; ignored an unusable answer: {why}"),
        (false, None) => String::new(),
    };
    Err(PowerError::Timeout {
        target: target.to_owned(),
        step,
        attempts,
        timeout: timing.timeout,
        hint,
    })
}
