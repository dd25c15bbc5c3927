//! Readable progress: phases with their duration, steps with the time since the start.

use std::time::{Duration, Instant};

/// The run's clock and the current phase.
pub struct Progress {
    start: Instant,
    phase: Option<(String, Instant)>,
}

fn secs(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

impl Progress {
    /// Starts the clock.
    pub fn new() -> Progress {
        Progress {
            start: Instant::now(),
            phase: None,
        }
    }

    /// Ends the current phase (printing how long it took) and starts `name`.
    pub fn phase(&mut self, name: &str) {
        self.end_phase();
        println!("==> {name}");
        self.phase = Some((name.to_string(), Instant::now()));
    }

    /// Ends the current phase, if any.
    pub fn end_phase(&mut self) {
        if let Some((_, at)) = self.phase.take() {
            println!("    done in {}", secs(at.elapsed()));
        }
    }

    /// One step of the current phase, stamped with the time since the start.
    pub fn step(&self, msg: impl std::fmt::Display) {
        println!("    [{:>7}] {msg}", secs(self.start.elapsed()));
    }

    /// Time since the start.
    pub fn total(&self) -> Duration {
        self.start.elapsed()
    }

    /// A duration as printed.
    pub fn fmt(d: Duration) -> String {
        secs(d)
    }
}
