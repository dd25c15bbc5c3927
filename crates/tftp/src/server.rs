//! The listening socket and the dispatcher.
//!
//! One task receives every datagram on the bound port. It never awaits anything but the
//! socket: replies it sends itself use `try_send_to`, packets for running transfers are
//! handed over with `try_send` (a full queue drops the packet, which retransmission
//! recovers), and every transfer runs in its own task. A slow disk, a slow client or a dead
//! client therefore only ever delays its own transfer.
//!
//! A registry maps client address to running transfer. In single-port mode it carries the
//! queue the dispatcher feeds. In both modes it tells an RRQ that merely repeats the request
//! of a running transfer (the client has not heard from us yet, so it retransmits; ignored)
//! from a new request from the same address and port (the client has already sent an ACK or
//! ERROR for the running transfer, so it has moved on: a PXE ROM that probes `tsize`, aborts
//! with an ERROR and asks again from the same port). A new request supersedes the running
//! transfer: its entry is dropped, which cancels it, and a new transfer starts at once.
//! Entries are removed by a guard when the transfer task ends, however it ends.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::config::{ConfigError, ServerConfig, SocketMode};
use crate::link::Incoming;
use crate::observer::{NoopObserver, TransferEvent, TransferObserver};
use crate::packet::{ErrorCode, Packet, encode_error};
use crate::source::FileSource;
use crate::transfer::{self, LinkSpec, OwnedRequest, TransferContext};

/// Largest UDP payload, so no datagram is ever truncated by the listening socket.
const RECV_BUF: usize = 65536;

/// Errors that stop the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The listening socket could not be set up.
    #[error("binding TFTP socket {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

struct Entry {
    id: u64,
    /// Single-port: where this client's packets go.
    queue: Option<mpsc::Sender<Incoming>>,
    /// Something (ACK, ERROR, …) has arrived from the client for this transfer.
    heard: Arc<AtomicBool>,
    /// Dropping it cancels a multi-port transfer (single-port ones see their queue close).
    _cancel: oneshot::Sender<()>,
}

type Registry = Arc<Mutex<HashMap<SocketAddr, Entry>>>;

/// Removes a transfer's registry entry when its task ends (completes, fails or is aborted).
struct RegistryGuard {
    registry: Registry,
    peer: SocketAddr,
    id: u64,
}

impl Drop for RegistryGuard {
    fn drop(&mut self) {
        let mut map = self.registry.lock().unwrap_or_else(PoisonError::into_inner);
        if map.get(&self.peer).is_some_and(|e| e.id == self.id) {
            map.remove(&self.peer);
        }
    }
}

/// A bound, not yet running, read-only TFTP server.
pub struct TftpServer<S> {
    socket: Arc<UdpSocket>,
    config: Arc<ServerConfig>,
    source: Arc<S>,
    observer: Arc<dyn TransferObserver>,
}

impl<S> std::fmt::Debug for TftpServer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TftpServer")
            .field("local_addr", &self.socket.local_addr().ok())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<S: FileSource> TftpServer<S> {
    /// Validates `config` and binds its address. Must be called inside a tokio runtime.
    pub async fn bind(config: ServerConfig, source: S) -> Result<Self, ServerError> {
        config.validate()?;
        let addr = config.bind;
        let bind_err = |source| ServerError::Bind { addr, source };
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::DGRAM,
            Some(socket2::Protocol::UDP),
        )
        .map_err(bind_err)?;
        if let Some(size) = config.recv_buffer_size {
            socket.set_recv_buffer_size(size).map_err(bind_err)?;
        }
        if config.reuse_address {
            socket.set_reuse_address(true).map_err(bind_err)?;
        }
        socket.set_nonblocking(true).map_err(bind_err)?;
        socket.bind(&addr.into()).map_err(bind_err)?;
        let socket = UdpSocket::from_std(socket.into()).map_err(bind_err)?;
        Ok(TftpServer {
            socket: Arc::new(socket),
            config: Arc::new(config),
            source: Arc::new(source),
            observer: Arc::new(NoopObserver),
        })
    }

    /// Reports transfer events to `observer`.
    pub fn with_observer(mut self, observer: impl TransferObserver) -> Self {
        self.observer = Arc::new(observer);
        self
    }

    /// The bound address (useful after binding port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Serves forever (until the future is dropped, which aborts every transfer).
    pub async fn serve(self) {
        self.serve_until(std::future::pending()).await
    }

    /// Serves until `shutdown` completes, then aborts the transfers in progress and returns.
    pub async fn serve_until(self, shutdown: impl Future<Output = ()>) {
        let registry: Registry = Arc::default();
        let permits = Arc::new(Semaphore::new(self.config.max_transfers));
        let mut tasks = JoinSet::new();
        let mut next_id = 0u64;
        let mut buf = vec![0u8; RECV_BUF];
        tracing::info!(
            addr = ?self.socket.local_addr().ok(),
            mode = ?self.config.mode,
            "TFTP server listening"
        );
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                    if let Err(e) = joined
                        && e.is_panic()
                    {
                        tracing::error!(error = %e, "TFTP transfer task panicked");
                    }
                }
                received = self.socket.recv_from(&mut buf) => match received {
                    Ok((n, peer)) => {
                        let datagram = buf.get(..n).unwrap_or_default();
                        let mut dispatch = Dispatch {
                            server: &self,
                            registry: &registry,
                            permits: &permits,
                            tasks: &mut tasks,
                            next_id: &mut next_id,
                        };
                        dispatch.datagram(datagram, peer);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "TFTP receive error");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
            }
        }
        tracing::info!(running = tasks.len(), "TFTP server stopping");
        tasks.shutdown().await;
    }

    fn reply_error(&self, peer: SocketAddr, code: ErrorCode, message: &str) {
        let packet = encode_error(code, message);
        if let Err(e) = self.socket.try_send_to(&packet, peer) {
            tracing::debug!(%peer, error = %e, "could not send error reply");
        }
    }

    fn reject(&self, peer: SocketAddr, file: &str, code: ErrorCode, message: &str) {
        self.reply_error(peer, code, message);
        self.observer.on_event(&TransferEvent::Rejected {
            peer,
            file,
            code,
            message,
        });
    }
}

/// The dispatcher's state for one datagram.
struct Dispatch<'a, S> {
    server: &'a TftpServer<S>,
    registry: &'a Registry,
    permits: &'a Arc<Semaphore>,
    tasks: &'a mut JoinSet<()>,
    next_id: &'a mut u64,
}

impl<S: FileSource> Dispatch<'_, S> {
    fn datagram(&mut self, datagram: &[u8], peer: SocketAddr) {
        let parsed = Packet::parse(datagram);
        {
            let mut map = self.registry.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(entry) = map.get(&peer) {
                match &parsed {
                    Ok(Packet::Rrq(_)) if entry.heard.load(Ordering::Relaxed) => {
                        tracing::debug!(%peer, "new request supersedes the running transfer");
                        map.remove(&peer);
                    }
                    // A retransmitted request: the transfer's own retransmission answers it.
                    Ok(Packet::Rrq(_) | Packet::Wrq(_)) => return,
                    Ok(packet) => {
                        entry.heard.store(true, Ordering::Relaxed);
                        if let Some(queue) = &entry.queue
                            && queue.try_send(Incoming::from_packet(packet)).is_err()
                        {
                            tracing::debug!(%peer, "transfer queue full, packet dropped");
                        }
                        return;
                    }
                    Err(_) => return,
                }
            }
        }
        let server = self.server;
        let single = server.config.mode == SocketMode::SinglePort;
        match parsed {
            Ok(Packet::Rrq(request)) => self.start(OwnedRequest::from_request(&request), peer),
            Ok(Packet::Wrq(request)) => {
                tracing::info!(%peer, file = request.filename, "write request refused");
                let message = "Server is read-only";
                server.reject(peer, request.filename, ErrorCode::AccessViolation, message);
            }
            // Late duplicates of a finished transfer's ACKs, and errors: never answered.
            Ok(Packet::Ack { .. } | Packet::Error { .. }) => {
                tracing::trace!(%peer, "packet for no running transfer ignored");
            }
            Ok(Packet::Data { .. } | Packet::Oack(_)) if single => {
                server.reply_error(peer, ErrorCode::UnknownTransferId, "Unknown transfer ID");
            }
            Ok(Packet::Data { .. } | Packet::Oack(_)) => {
                server.reply_error(peer, ErrorCode::IllegalOperation, "Illegal TFTP operation");
            }
            Err(e) => {
                tracing::debug!(%peer, error = %e, len = datagram.len(), "malformed packet");
                // Answer only what looks like TFTP at all; stray noise gets no reply.
                if datagram.len() >= 4 {
                    server.reply_error(peer, ErrorCode::IllegalOperation, "Malformed packet");
                }
            }
        }
    }

    fn start(&mut self, request: OwnedRequest, peer: SocketAddr) {
        let server = self.server;
        let Ok(permit) = Arc::clone(self.permits).try_acquire_owned() else {
            tracing::warn!(%peer, file = %request.filename, "too many concurrent transfers");
            let message = "Server busy, too many transfers; retry later";
            server.reject(peer, &request.filename, ErrorCode::NotDefined, message);
            return;
        };
        let id = *self.next_id;
        *self.next_id += 1;
        let heard = Arc::new(AtomicBool::new(false));
        let (cancel_tx, cancel) = oneshot::channel();
        let (spec, queue) = match server.config.mode {
            SocketMode::SinglePort => {
                let (tx, rx) = mpsc::channel(server.config.peer_queue);
                (LinkSpec::Shared(rx), Some(tx))
            }
            SocketMode::MultiPort => {
                let heard = Arc::clone(&heard);
                (LinkSpec::Dedicated { cancel, heard }, None)
            }
        };
        let entry = Entry {
            id,
            queue,
            heard,
            _cancel: cancel_tx,
        };
        self.registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(peer, entry);
        let guard = RegistryGuard {
            registry: Arc::clone(self.registry),
            peer,
            id,
        };
        let ctx = TransferContext {
            id,
            peer,
            source: Arc::clone(&server.source),
            config: Arc::clone(&server.config),
            observer: Arc::clone(&server.observer),
            main_socket: Arc::clone(&server.socket),
        };
        let span = tracing::info_span!("tftp", id, %peer, file = %request.filename);
        self.tasks.spawn(
            async move {
                let _guard = guard;
                let _permit = permit;
                transfer::run(ctx, spec, request).await;
            }
            .instrument(span),
        );
    }
}
