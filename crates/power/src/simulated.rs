//! Test-only failure injection (upstream's `--test-power-simulated-explicit-failure-prob`
//! and `--test-power-simulated-silent-failure-prob`, §9.3).
//!
//! For every call a uniform `r ∈ [0, 1)` is drawn: `r < p_e` → explicit failure
//! ([`PowerError::Simulated`]); `r < p_e + p_s` → silent failure (actions do nothing and
//! report success; the power status is a random boolean); otherwise the call goes through.
//! Upstream uses the wall clock for the silent status; here it comes from the same seeded
//! generator, so a test with a fixed seed is deterministic.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::PowerError;
use crate::manager::{BootMode, PowerFuture, PowerManager, PowerOutcome, PowerState};

/// SplitMix64: tiny, seedable, good enough for test-only fault injection.
#[derive(Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 bits of precision.
    #[allow(clippy::cast_precision_loss)]
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Counts of what the injector decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InjectionStats {
    /// Calls failed with an error.
    pub explicit: u64,
    /// Calls silently dropped.
    pub silent: u64,
    /// Calls passed to the wrapped manager.
    pub passed: u64,
}

/// The shared source of injected failures: probabilities, generator and counters. Share
/// one (in an `Arc`) between all wrappers so the sequence continues across reconciles.
#[derive(Debug)]
pub struct FailureInjection {
    /// Probability of an explicit failure.
    pub explicit_prob: f64,
    /// Probability of a silent failure.
    pub silent_prob: f64,
    rng: Mutex<SplitMix64>,
    explicit: AtomicU64,
    silent: AtomicU64,
    passed: AtomicU64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Explicit,
    Silent,
    Normal,
}

impl FailureInjection {
    /// An injector with a fixed seed (deterministic).
    pub fn with_seed(explicit_prob: f64, silent_prob: f64, seed: u64) -> Arc<Self> {
        Arc::new(Self {
            explicit_prob,
            silent_prob,
            rng: Mutex::new(SplitMix64(seed)),
            explicit: AtomicU64::new(0),
            silent: AtomicU64::new(0),
            passed: AtomicU64::new(0),
        })
    }

    /// An injector seeded from the OS.
    pub fn new(explicit_prob: f64, silent_prob: f64) -> Arc<Self> {
        let mut b = [0u8; 8];
        let seed = match getrandom::fill(&mut b) {
            Ok(()) => u64::from_le_bytes(b),
            Err(_) => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() ^ u64::from(d.subsec_nanos())),
        };
        Self::with_seed(explicit_prob, silent_prob, seed)
    }

    /// Whether any failure can be injected (both probabilities 0 = disabled, upstream's default).
    pub fn enabled(&self) -> bool {
        self.explicit_prob > 0.0 || self.silent_prob > 0.0
    }

    /// What was decided so far.
    pub fn stats(&self) -> InjectionStats {
        InjectionStats {
            explicit: self.explicit.load(Ordering::Relaxed),
            silent: self.silent.load(Ordering::Relaxed),
            passed: self.passed.load(Ordering::Relaxed),
        }
    }

    fn draw(&self) -> (Fate, bool) {
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        let r = rng.next_f64();
        let coin = rng.next_u64() & 1 == 0;
        let fate = if r < self.explicit_prob {
            self.explicit.fetch_add(1, Ordering::Relaxed);
            Fate::Explicit
        } else if r < self.explicit_prob + self.silent_prob {
            self.silent.fetch_add(1, Ordering::Relaxed);
            Fate::Silent
        } else {
            self.passed.fetch_add(1, Ordering::Relaxed);
            Fate::Normal
        };
        (fate, coin)
    }
}

/// Wraps any [`PowerManager`] and injects failures drawn from a [`FailureInjection`].
#[derive(Debug)]
pub struct SimulatedFailures {
    inner: Box<dyn PowerManager>,
    source: Arc<FailureInjection>,
}

impl SimulatedFailures {
    /// Wraps `inner`.
    pub fn new(inner: Box<dyn PowerManager>, source: Arc<FailureInjection>) -> Self {
        Self { inner, source }
    }

    fn action<'a>(
        &'a self,
        op: impl FnOnce(&'a dyn PowerManager) -> PowerFuture<'a, PowerOutcome>,
    ) -> PowerFuture<'a, PowerOutcome> {
        match self.source.draw().0 {
            Fate::Explicit => Box::pin(async { Err(PowerError::Simulated) }),
            Fate::Silent => Box::pin(async { Ok(PowerOutcome::Done) }),
            Fate::Normal => op(self.inner.as_ref()),
        }
    }
}

impl PowerManager for SimulatedFailures {
    fn power_status(&self) -> PowerFuture<'_, PowerState> {
        match self.source.draw() {
            (Fate::Explicit, _) => Box::pin(async { Err(PowerError::Simulated) }),
            (Fate::Silent, on) => {
                Box::pin(async move { Ok(if on { PowerState::On } else { PowerState::Off }) })
            }
            (Fate::Normal, _) => self.inner.power_status(),
        }
    }

    fn power_on(&self) -> PowerFuture<'_, PowerOutcome> {
        self.action(|m| m.power_on())
    }

    fn power_off(&self) -> PowerFuture<'_, PowerOutcome> {
        self.action(|m| m.power_off())
    }

    fn power_cycle(&self) -> PowerFuture<'_, PowerOutcome> {
        self.action(|m| m.power_cycle())
    }

    fn set_pxe_once(&self, mode: BootMode) -> PowerFuture<'_, PowerOutcome> {
        self.action(move |m| m.set_pxe_once(mode))
    }

    fn set_boot_disk_once(&self, mode: BootMode) -> PowerFuture<'_, PowerOutcome> {
        self.action(move |m| m.set_boot_disk_once(mode))
    }

    fn is_fake(&self) -> bool {
        self.inner.is_fake()
    }

    fn target(&self) -> String {
        self.inner.target()
    }
}
