//! Logging in plain words to `/dev/kmsg` with the `[sidero]` prefix: the kernel prints the lines
//! on every `console=` (serial and VGA) and keeps them in its log. Where `/dev/kmsg` cannot be
//! opened (not PID 1, or no devtmpfs) lines go to stderr instead. Writing to both would print
//! every line twice on the console PID 1's stderr is attached to.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::{Arc, Mutex};

/// A writer that sends each log line to `/dev/kmsg`, or to stderr without it.
#[derive(Clone)]
pub struct Console {
    kmsg: Option<Arc<Mutex<File>>>,
}

impl Console {
    /// Opens `/dev/kmsg` if possible.
    pub fn open() -> Console {
        let kmsg = OpenOptions::new()
            .write(true)
            .open("/dev/kmsg")
            .ok()
            .map(|f| Arc::new(Mutex::new(f)));
        Console { kmsg }
    }
}

impl Write for Console {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let sent = match &self.kmsg {
            Some(k) => k.lock().is_ok_and(|mut f| {
                // One write per record: kmsg takes each write as one message.
                let mut line = b"[sidero] ".to_vec();
                line.extend_from_slice(buf);
                f.write_all(&line).is_ok()
            }),
            None => false,
        };
        if !sent {
            let _ = std::io::stderr().write_all(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// The kernel's switch for `/dev/kmsg` writers (`printk.devkmsg=`).
const DEVKMSG_SWITCH: &str = "/proc/sys/kernel/printk_devkmsg";

/// Lifts the kernel's rate limit on `/dev/kmsg` writers (by default ten lines per five
/// seconds, the rest dropped with "N output lines suppressed due to ratelimiting"): the
/// agent's lines are the only account of what it did, and a wipe or a retry loop logs more
/// than that. A kernel booted with `printk.devkmsg=` fixed keeps its setting. Returns whether
/// the switch was written.
pub fn unlimit_kmsg(switch: &std::path::Path) -> bool {
    std::fs::write(switch, b"on\n").is_ok()
}

/// Installs the tracing subscriber: plain text, no colours, no targets.
pub fn init() {
    let unlimited = unlimit_kmsg(std::path::Path::new(DEVKMSG_SWITCH));
    let console = Console::open();
    let _ = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_target(false)
        .with_writer(move || console.clone())
        .try_init();
    if !unlimited {
        tracing::warn!(
            "could not lift the kernel's rate limit on console lines; some may be dropped"
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_limit_switch_is_turned_on() {
        let t = tempfile::tempdir().unwrap();
        let switch = t.path().join("printk_devkmsg");
        std::fs::write(&switch, "ratelimit\n").unwrap();
        assert!(unlimit_kmsg(&switch));
        assert_eq!(std::fs::read_to_string(&switch).unwrap(), "on\n");
        assert!(!unlimit_kmsg(&t.path().join("missing/printk_devkmsg")));
    }
}
