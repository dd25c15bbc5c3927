//! Logging in plain words to the console (stderr) and, when it can be opened, to `/dev/kmsg`
//! with the `[sidero]` prefix, so the lines also reach the kernel log and any log receiver.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::{Arc, Mutex};

/// A writer that copies each log line to stderr and to `/dev/kmsg`.
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
        let _ = std::io::stderr().write_all(buf);
        if let Some(k) = &self.kmsg
            && let Ok(mut f) = k.lock()
        {
            // One write per record: kmsg takes each write as one message.
            let mut line = b"[sidero] ".to_vec();
            line.extend_from_slice(buf);
            let _ = f.write_all(&line);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Installs the tracing subscriber: plain text, no colours, no targets.
pub fn init() {
    let console = Console::open();
    let _ = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_target(false)
        .with_writer(move || console.clone())
        .try_init();
}
