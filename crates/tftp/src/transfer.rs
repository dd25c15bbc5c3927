//! One read transfer: request checks, opening the file, option negotiation, then the
//! windowed send loop of [`Sender`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use std::sync::atomic::AtomicBool;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::blocks::BlockReader;
use crate::config::ServerConfig;
use crate::link::{Incoming, Link};
use crate::observer::{FailureReason, TransferEvent, TransferInfo, TransferObserver};
use crate::options::{TransferOptions, negotiate};
use crate::packet::{ErrorCode, Request, encode_error, encode_oack};
use crate::path::{CleanPath, PathError};
use crate::sender::Sender;
use crate::source::{FileSource, OpenedFile};

/// Options kept from one request (a sane client sends at most five).
const MAX_OPTIONS: usize = 32;

/// A read request copied out of the receive buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedRequest {
    /// Requested name, as sent.
    pub filename: String,
    /// Requested mode, as sent.
    pub mode: String,
    /// Requested options, in order.
    pub options: Vec<(String, String)>,
}

impl OwnedRequest {
    /// Copies a parsed request.
    pub fn from_request(request: &Request<'_>) -> Self {
        OwnedRequest {
            filename: request.filename.to_owned(),
            mode: request.mode.to_owned(),
            options: request
                .options
                .iter()
                .take(MAX_OPTIONS)
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect(),
        }
    }
}

/// Everything a transfer task shares with the server.
pub struct TransferContext<S> {
    /// Transfer number.
    pub id: u64,
    /// Client address.
    pub peer: SocketAddr,
    /// Content.
    pub source: Arc<S>,
    /// Settings.
    pub config: Arc<ServerConfig>,
    /// Event sink.
    pub observer: Arc<dyn TransferObserver>,
    /// The server's listening socket.
    pub main_socket: Arc<UdpSocket>,
}

/// How the transfer's [`Link`] is to be made.
pub enum LinkSpec {
    /// Single-port: packets arrive through this queue.
    Shared(mpsc::Receiver<Incoming>),
    /// Multi-port: bind an ephemeral socket.
    Dedicated {
        /// Cancellation by the dispatcher.
        cancel: oneshot::Receiver<()>,
        /// Shared "heard from the client" flag.
        heard: Arc<AtomicBool>,
    },
}

/// A refusal sent as an ERROR packet before any data.
struct Rejection {
    code: ErrorCode,
    message: &'static str,
    detail: String,
}

impl Rejection {
    fn new(code: ErrorCode, message: &'static str, detail: impl Into<String>) -> Self {
        Rejection {
            code,
            message,
            detail: detail.into(),
        }
    }
}

/// Runs one transfer to its end; every outcome is logged and reported to the observer.
pub async fn run<S: FileSource>(ctx: TransferContext<S>, spec: LinkSpec, request: OwnedRequest) {
    let started = Instant::now();
    let link = match spec {
        LinkSpec::Shared(rx) => Link::Shared {
            socket: Arc::clone(&ctx.main_socket),
            rx,
        },
        LinkSpec::Dedicated { cancel, heard } => {
            match UdpSocket::bind(SocketAddr::new(ctx.config.bind.ip(), 0)).await {
                Ok(socket) => Link::Dedicated {
                    socket,
                    cancel,
                    heard,
                },
                Err(e) => {
                    let rejection = Rejection::new(
                        ErrorCode::NotDefined,
                        "Server error",
                        format!("binding a transfer socket: {e}"),
                    );
                    return reject_from_main(&ctx, &request, &rejection);
                }
            }
        }
    };
    let (path, file, netascii) = match prepare(&ctx, &request).await {
        Ok(prepared) => prepared,
        Err(rejection) => return reject(&ctx, &link, &request, &rejection).await,
    };
    let tsize = if netascii { None } else { file.size };
    let options = request
        .options
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()));
    let negotiation = negotiate(options, &ctx.config, tsize);
    let info = TransferInfo {
        id: ctx.id,
        peer: ctx.peer,
        file: path.to_string(),
    };
    // Option names and decimal numbers cannot contain NUL, so encoding cannot fail; if it
    // somehow did, the transfer would run with the RFC 1350 defaults and no OACK, which
    // RFC 2347 allows.
    let (oack, opts) = match Some(&negotiation.oack).filter(|pairs| !pairs.is_empty()) {
        None => (None, negotiation.options),
        Some(pairs) => match encode_oack(pairs) {
            Ok(packet) => (Some(packet), negotiation.options),
            Err(_) => (None, TransferOptions::defaults(&ctx.config)),
        },
    };
    tracing::info!(
        local = ?link.local_addr().ok(),
        mode = %request.mode,
        requested = ?request.options,
        blksize = opts.block_size,
        windowsize = opts.window_size,
        timeout_ms = millis(opts.timeout),
        tsize = ?opts.transfer_size,
        "transfer started"
    );
    ctx.observer.on_event(&TransferEvent::Started {
        info: &info,
        options: &opts,
    });
    let blocks = BlockReader::new(file.reader, netascii);
    let mut sender = Sender::new(link, ctx.peer, blocks, opts, ctx.config.max_retries);
    let result = sender.run(oack).await;
    let bytes = sender.acked_bytes();
    let duration = started.elapsed();
    match result {
        Ok(()) => {
            tracing::info!(
                bytes,
                ms = millis(duration),
                blksize = opts.block_size,
                windowsize = opts.window_size,
                "transfer completed"
            );
            ctx.observer.on_event(&TransferEvent::Completed {
                info: &info,
                bytes,
                duration,
            });
        }
        Err(reason) => {
            let notify = match &reason {
                FailureReason::TimedOut { .. } => Some("Transfer timed out"),
                FailureReason::ReadError(_) => Some("Read error"),
                _ => None,
            };
            if let Some(message) = notify {
                let packet = encode_error(ErrorCode::NotDefined, message);
                let _ = sender.link().send(ctx.peer, &packet).await;
            }
            tracing::warn!(bytes, error = %reason, "transfer failed");
            ctx.observer.on_event(&TransferEvent::Failed {
                info: &info,
                bytes,
                duration,
                reason: &reason,
            });
        }
    }
}

/// Checks the mode and name and opens the file.
async fn prepare<S: FileSource>(
    ctx: &TransferContext<S>,
    request: &OwnedRequest,
) -> Result<(CleanPath, OpenedFile, bool), Rejection> {
    let netascii = if request.mode.eq_ignore_ascii_case("octet") {
        false
    } else if request.mode.eq_ignore_ascii_case("netascii") {
        true
    } else {
        return Err(Rejection::new(
            ErrorCode::IllegalOperation,
            "Unsupported transfer mode",
            format!("mode {:?}", request.mode),
        ));
    };
    let path = CleanPath::new(&request.filename).map_err(|e| match e {
        PathError::Empty => {
            Rejection::new(ErrorCode::FileNotFound, "File not found", e.to_string())
        }
        PathError::ControlCharacter | PathError::TooLong => Rejection::new(
            ErrorCode::AccessViolation,
            "Access violation",
            e.to_string(),
        ),
    })?;
    let opened = tokio::time::timeout(ctx.config.open_timeout, ctx.source.open(&path)).await;
    match opened {
        Ok(Ok(file)) => Ok((path, file, netascii)),
        Ok(Err(e)) => Err(Rejection::new(
            e.error_code(),
            e.client_message(),
            e.to_string(),
        )),
        Err(_) => Err(Rejection::new(
            ErrorCode::NotDefined,
            "Read error",
            format!("opening took longer than {:?}", ctx.config.open_timeout),
        )),
    }
}

async fn reject<S>(
    ctx: &TransferContext<S>,
    link: &Link,
    request: &OwnedRequest,
    rejection: &Rejection,
) {
    let packet = encode_error(rejection.code, rejection.message);
    if let Err(e) = link.send(ctx.peer, &packet).await {
        tracing::debug!(error = %e, "sending an error packet failed");
    }
    report_rejection(ctx, request, rejection);
}

fn reject_from_main<S>(ctx: &TransferContext<S>, request: &OwnedRequest, rejection: &Rejection) {
    let packet = encode_error(rejection.code, rejection.message);
    let _ = ctx.main_socket.try_send_to(&packet, ctx.peer);
    report_rejection(ctx, request, rejection);
}

fn report_rejection<S>(ctx: &TransferContext<S>, request: &OwnedRequest, rejection: &Rejection) {
    tracing::info!(
        mode = %request.mode,
        code = rejection.code.to_u16(),
        reason = %rejection.detail,
        "request refused"
    );
    ctx.observer.on_event(&TransferEvent::Rejected {
        peer: ctx.peer,
        file: &request.filename,
        code: rejection.code,
        message: rejection.message,
    });
}

/// Milliseconds for logs.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
