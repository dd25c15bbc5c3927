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

/// Accept queue length asked of the kernel (capped by `net.core.somaxconn`).
pub const BACKLOG: u32 = 4096;

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

/// A TCP listener on `addr` with an accept queue of [`BACKLOG`]: every node reconnects at
/// once when the manager restarts, and tokio's default queue dropped part of such a burst of
/// 500 nodes (the connections were never accepted; found by the receiver benchmark).
pub fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
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
        let listener = listen(addr)?;
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

/// Per-server ring buffers of recent lines, and a feed of new ones, for `sideroctl logs -f`
/// (one book for kernel logs, one for events).
///
/// Memory is bounded by `capacity` lines per server; a line is stored once (`Arc<str>`) and
/// shared with followers.
#[derive(Debug)]
pub struct LogBook {
    capacity: usize,
    rings: Mutex<HashMap<Arc<str>, VecDeque<Arc<str>>>>,
    feed: broadcast::Sender<(Arc<str>, Arc<str>)>,
}

/// A follower: the kept lines of one server at the moment it started, then every new line
/// of that server.
pub struct Follower {
    /// Kept lines, oldest first.
    pub backlog: Vec<Arc<str>>,
    server: Arc<str>,
    feed: broadcast::Receiver<(Arc<str>, Arc<str>)>,
}

/// What a follower receives next.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// A new line of the followed server.
    Line(Arc<str>),
    /// The follower fell behind and this many lines (of all servers) were skipped.
    Lagged(u64),
    /// The book is gone.
    Closed,
}

impl Follower {
    /// The next line of the followed server.
    pub async fn next(&mut self) -> Next {
        loop {
            match self.feed.recv().await {
                Ok((server, line)) if server == self.server => return Next::Line(line),
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(n)) => return Next::Lagged(n),
                Err(broadcast::error::RecvError::Closed) => return Next::Closed,
            }
        }
    }

    /// The next line of the followed server if one is waiting (for batching).
    pub fn try_next(&mut self) -> Option<Next> {
        loop {
            match self.feed.try_recv() {
                Ok((server, line)) if server == self.server => return Some(Next::Line(line)),
                Ok(_) => {}
                Err(broadcast::error::TryRecvError::Lagged(n)) => return Some(Next::Lagged(n)),
                Err(broadcast::error::TryRecvError::Closed) => return Some(Next::Closed),
                Err(broadcast::error::TryRecvError::Empty) => return None,
            }
        }
    }
}

impl LogBook {
    /// Keeps the last `capacity` lines of every server.
    pub fn new(capacity: usize) -> LogBook {
        LogBook {
            capacity: capacity.max(1),
            rings: Mutex::default(),
            feed: broadcast::channel(4096).0,
        }
    }

    /// Records a line of `server`.
    pub fn push(&self, server: &str, line: &str) {
        let line: Arc<str> = Arc::from(line);
        let mut rings = self.rings.lock().unwrap_or_else(|p| p.into_inner());
        let key = match rings.get_key_value(server) {
            Some((k, _)) => k.clone(),
            None => Arc::from(server),
        };
        let ring = rings.entry(key.clone()).or_default();
        if ring.len() == self.capacity {
            ring.pop_front();
        }
        ring.push_back(line.clone());
        // Sent under the lock, so `follow` sees every line exactly once (backlog or feed).
        // No follower is not an error.
        if self.feed.receiver_count() > 0 {
            let _ = self.feed.send((key, line));
        }
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

    /// Follows `server`: its kept lines now, then its new lines, none lost or repeated in
    /// between.
    pub fn follow(&self, server: &str) -> Follower {
        let rings = self.rings.lock().unwrap_or_else(|p| p.into_inner());
        let backlog = rings
            .get(server)
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default();
        let feed = self.feed.subscribe();
        drop(rings);
        Follower {
            backlog,
            server: Arc::from(server),
            feed,
        }
    }

    /// `(servers, lines, bytes of line text)` kept now.
    pub fn usage(&self) -> (usize, usize, usize) {
        let rings = self.rings.lock().unwrap_or_else(|p| p.into_inner());
        let lines = rings.values().map(VecDeque::len).sum();
        let bytes = rings.values().flat_map(|r| r.iter().map(|l| l.len())).sum();
        (rings.len(), lines, bytes)
    }
}

/// Consumes the receiver's output as `sidero-controller-manager` does: every line is kept in
/// `book` under its server and written to `out` followed by a newline. Writes are batched:
/// flushed whenever no further line is waiting, so a quiet stream is printed at once and a
/// busy one costs a syscall per batch rather than per line. Returns when `lines` closes or
/// `out` fails.
pub async fn drain<W: std::io::Write>(
    mut lines: mpsc::Receiver<LogLine>,
    book: Option<Arc<LogBook>>,
    out: W,
) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, out);
    while let Some(first) = lines.recv().await {
        let mut next = Some(first);
        while let Some(l) = next {
            if let (Some(book), Some(server)) = (&book, &l.server_uuid) {
                book.push(server, &l.line);
            }
            out.write_all(l.line.as_bytes())?;
            out.write_all(b"\n")?;
            next = lines.try_recv().ok();
        }
        out.flush()?;
    }
    out.flush()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn log_book_keeps_the_last_lines_per_server() {
        let book = LogBook::new(3);
        let mut early = book.follow("a");
        assert!(early.backlog.is_empty());
        for i in 0..5 {
            book.push("a", &format!("a{i}"));
        }
        book.push("b", "b0");
        let a: Vec<String> = book.lines("a").iter().map(|l| l.to_string()).collect();
        assert_eq!(a, ["a2", "a3", "a4"]);
        assert_eq!(book.lines("b").len(), 1);
        assert!(book.lines("c").is_empty());
        assert_eq!(book.usage(), (2, 4, 8));
        // A follower started later gets the kept lines, then only its server's new ones.
        let mut late = book.follow("a");
        let backlog: Vec<&str> = late.backlog.iter().map(|l| &**l).collect();
        assert_eq!(backlog, ["a2", "a3", "a4"]);
        book.push("b", "b1");
        book.push("a", "a5");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            assert_eq!(late.next().await, Next::Line(Arc::from("a5")));
            // The early follower saw every line of "a" from the start, none of "b".
            for i in 0..6 {
                assert_eq!(early.next().await, Next::Line(Arc::from(format!("a{i}"))));
            }
        });
    }

    #[test]
    fn a_slow_follower_is_told_it_lagged() {
        let book = LogBook::new(10);
        let mut f = book.follow("a");
        for i in 0..5000 {
            book.push("a", &i.to_string());
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            assert!(matches!(f.next().await, Next::Lagged(n) if n > 0));
            assert!(matches!(f.next().await, Next::Line(_)));
        });
    }

    #[test]
    fn drain_keeps_and_prints_every_line_in_order() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let book = Arc::new(LogBook::new(100));
        let (tx, rx) = mpsc::channel(8);
        let out = rt.block_on(async {
            let feed = async move {
                for i in 0..50 {
                    let line = LogLine {
                        server_uuid: (i % 2 == 0).then(|| "s".to_string()),
                        source: "127.0.0.1:1".parse().unwrap(),
                        line: format!("l{i}"),
                    };
                    tx.send(line).await.unwrap();
                }
            };
            let mut out = Vec::new();
            let (_, r) = tokio::join!(feed, drain(rx, Some(book.clone()), &mut out));
            r.unwrap();
            out
        });
        let want: String = (0..50).map(|i| format!("l{i}\n")).collect();
        assert_eq!(String::from_utf8(out).unwrap(), want);
        assert_eq!(book.lines("s").len(), 25, "only annotated lines are kept");
    }
}
