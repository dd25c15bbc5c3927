//! The kernel-log receiver (spec §8.5, `serverlogs`): a TCP listener where every Talos node
//! streams its kernel log as JSON ([`crate::kmsg`]). Each connection is decoded on its own
//! task; each record is annotated from the [`AnnotationCache`] by the source IP and handed on
//! as a [`LogLine`] (the caller prints it and keeps it in a [`LogBook`]).
//!
//! Garbage never stops the listener or other connections: it is skipped line by line,
//! counted in [`Counters`], and logged once per connection (with a total when it closes).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, broadcast, mpsc};

use crate::annotation::AnnotationCache;
use crate::kmsg::{self, Decoder};

/// Default port of the receiver.
pub const DEFAULT_PORT: u16 = 4001;

/// Limits of the receiver.
#[derive(Clone, Debug)]
pub struct Config {
    /// Largest record accepted, in bytes.
    pub max_record: usize,
    /// Connections served at once; more wait in the accept queue.
    pub max_connections: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_record: kmsg::DEFAULT_MAX_RECORD,
            max_connections: 1024,
        }
    }
}

/// One annotated record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// The node's server UUID, when its address is known.
    pub server_uuid: Option<String>,
    /// The TCP peer.
    pub source: SocketAddr,
    /// The `serverlogs` JSON line (no newline).
    pub line: String,
}

/// What the receiver has seen.
#[derive(Debug, Default)]
pub struct Counters {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Records forwarded.
    pub records: AtomicU64,
    /// Records skipped as garbage.
    pub garbage: AtomicU64,
    /// Records from addresses no ServerBinding has.
    pub unknown_source: AtomicU64,
}

impl Counters {
    /// `(connections, records, garbage, unknown_source)` now.
    pub fn snapshot(&self) -> (u64, u64, u64, u64) {
        (
            self.connections.load(Ordering::Relaxed),
            self.records.load(Ordering::Relaxed),
            self.garbage.load(Ordering::Relaxed),
            self.unknown_source.load(Ordering::Relaxed),
        )
    }
}

/// A bound receiver.
pub struct LogReceiver {
    listener: TcpListener,
    cache: AnnotationCache,
    out: mpsc::Sender<LogLine>,
    config: Config,
    counters: Arc<Counters>,
}

impl LogReceiver {
    /// Binds `addr`; records go to `out` in per-connection order.
    pub async fn bind(
        addr: SocketAddr,
        cache: AnnotationCache,
        out: mpsc::Sender<LogLine>,
        config: Config,
    ) -> std::io::Result<LogReceiver> {
        let listener = TcpListener::bind(addr).await?;
        Ok(LogReceiver::from_listener(listener, cache, out, config))
    }

    /// A receiver on an already bound listener (e.g. one bound inside a network namespace).
    pub fn from_listener(
        listener: TcpListener,
        cache: AnnotationCache,
        out: mpsc::Sender<LogLine>,
        config: Config,
    ) -> LogReceiver {
        LogReceiver {
            listener,
            cache,
            out,
            config,
            counters: Arc::default(),
        }
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The counters, shared with the running receiver.
    pub fn counters(&self) -> Arc<Counters> {
        self.counters.clone()
    }

    /// Accepts connections until `shutdown` completes or the output is closed.
    pub async fn serve(self, shutdown: impl std::future::Future<Output = ()>) {
        let slots = Arc::new(Semaphore::new(self.config.max_connections.max(1)));
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                _ = &mut shutdown => return,
                p = slots.clone().acquire_owned() => p,
            };
            let Ok(permit) = permit else {
                return;
            };
            let (stream, peer) = tokio::select! {
                _ = &mut shutdown => return,
                a = self.listener.accept() => match a {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: wait instead of spinning.
                        tracing::warn!(error = %e, "log receiver: accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            if self.out.is_closed() {
                return;
            }
            self.counters.connections.fetch_add(1, Ordering::Relaxed);
            let conn = Connection {
                cache: self.cache.clone(),
                out: self.out.clone(),
                counters: self.counters.clone(),
                peer,
                max_record: self.config.max_record,
            };
            tokio::spawn(async move {
                conn.run(stream).await;
                drop(permit);
            });
        }
    }
}

struct Connection {
    cache: AnnotationCache,
    out: mpsc::Sender<LogLine>,
    counters: Arc<Counters>,
    peer: SocketAddr,
    max_record: usize,
}

impl Connection {
    async fn run(self, mut stream: TcpStream) {
        tracing::debug!(peer = %self.peer, "log stream connected");
        let mut decoder = Decoder::new(self.max_record);
        let mut buf = vec![0u8; 16 * 1024];
        let mut garbage = 0u64;
        let mut records = 0u64;
        let mut open = true;
        while open {
            let n = match stream.read(&mut buf).await {
                Ok(0) => 0,
                Ok(n) => n,
                Err(e) => {
                    tracing::debug!(peer = %self.peer, error = %e, "log stream read failed");
                    0
                }
            };
            // One lookup per chunk: the binding may appear after the node connected.
            let annotation = self.cache.get(self.peer.ip());
            let mut batch = Vec::new();
            let mut emit = |r: Result<kmsg::Record, kmsg::Garbage>| match r {
                Ok(rec) => batch.push(kmsg::annotate(rec, annotation.as_ref())),
                Err(g) => {
                    if garbage == 0 {
                        tracing::warn!(peer = %self.peer, garbage = %g, "log stream: skipping garbage");
                    }
                    garbage += 1;
                }
            };
            if n == 0 {
                decoder.finish(&mut emit);
                open = false;
            } else {
                decoder.push(&buf[..n], &mut emit);
            }
            records += batch.len() as u64;
            self.counters
                .records
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            if annotation.is_none() {
                self.counters
                    .unknown_source
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
            for line in batch {
                let msg = LogLine {
                    server_uuid: annotation.as_ref().map(|a| a.server_uuid.clone()),
                    source: self.peer,
                    line,
                };
                if self.out.send(msg).await.is_err() {
                    return;
                }
            }
        }
        self.counters.garbage.fetch_add(garbage, Ordering::Relaxed);
        if garbage > 0 {
            tracing::warn!(peer = %self.peer, records, garbage, "log stream closed; garbage was skipped");
        } else {
            tracing::debug!(peer = %self.peer, records, "log stream closed");
        }
    }
}

/// Per-server ring buffers of recent lines, and a feed of new ones, for `sideroctl logs -f`.
#[derive(Debug)]
pub struct LogBook {
    capacity: usize,
    rings: Mutex<HashMap<String, VecDeque<Arc<str>>>>,
    feed: broadcast::Sender<(String, Arc<str>)>,
}

impl LogBook {
    /// Keeps the last `capacity` lines of every server.
    pub fn new(capacity: usize) -> LogBook {
        LogBook {
            capacity: capacity.max(1),
            rings: Mutex::default(),
            feed: broadcast::channel(1024).0,
        }
    }

    /// Records a line of `server`.
    pub fn push(&self, server: &str, line: &str) {
        let line: Arc<str> = Arc::from(line);
        {
            let mut rings = self.rings.lock().unwrap_or_else(|p| p.into_inner());
            let ring = rings.entry(server.to_string()).or_default();
            if ring.len() == self.capacity {
                ring.pop_front();
            }
            ring.push_back(line.clone());
        }
        // No follower is not an error.
        let _ = self.feed.send((server.to_string(), line));
    }

    /// The kept lines of `server`, oldest first.
    pub fn lines(&self, server: &str) -> Vec<Arc<str>> {
        self.rings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(server)
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// New lines of every server from now on.
    pub fn follow(&self) -> broadcast::Receiver<(String, Arc<str>)> {
        self.feed.subscribe()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn log_book_keeps_the_last_lines_per_server() {
        let book = LogBook::new(3);
        let mut follow = book.follow();
        for i in 0..5 {
            book.push("a", &format!("a{i}"));
        }
        book.push("b", "b0");
        let a: Vec<String> = book.lines("a").iter().map(|l| l.to_string()).collect();
        assert_eq!(a, ["a2", "a3", "a4"]);
        assert_eq!(book.lines("b").len(), 1);
        assert!(book.lines("c").is_empty());
        let (server, line) = follow.try_recv().unwrap();
        assert_eq!((server.as_str(), &*line), ("a", "a0"));
    }
}
