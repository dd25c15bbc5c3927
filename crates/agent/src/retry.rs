//! Retrying a call with exponential backoff inside a total time budget, logging every failure
//! in plain words (spec §7.2: "retry 5 min total, every 30 s, 30 s per call").

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// A retry budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Give up once this much time has passed since the first attempt.
    pub total: Duration,
    /// Timeout of each attempt.
    pub per_call: Duration,
    /// First wait between attempts; doubled after each failure up to `max_wait`.
    pub first_wait: Duration,
    /// Longest wait between attempts.
    pub max_wait: Duration,
}

impl Retry {
    /// The agent's budget for API calls: 5 minutes, 30 s per call, waits from 1 s to 30 s.
    pub const API: Retry = Retry {
        total: Duration::from_secs(300),
        per_call: Duration::from_secs(30),
        first_wait: Duration::from_secs(1),
        max_wait: Duration::from_secs(30),
    };

    /// The wait after failed attempt number `attempt` (1-based).
    pub fn wait_after(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.first_wait.saturating_mul(factor).min(self.max_wait)
    }

    /// Runs `call` until it succeeds or the budget is spent; returns the last error then.
    pub async fn run<T, E, F, Fut>(&self, what: &str, mut call: F) -> Result<T, RetryError>
    where
        E: Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let start = Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let error = match tokio::time::timeout(self.per_call, call()).await {
                Ok(Ok(v)) => {
                    if attempt > 1 {
                        tracing::info!("{what} succeeded on attempt {attempt}");
                    }
                    return Ok(v);
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("no answer within {} s", self.per_call.as_secs_f32()),
            };
            let wait = self.wait_after(attempt);
            if start.elapsed() + wait >= self.total {
                tracing::error!("{what} failed (attempt {attempt}): {error}; giving up");
                return Err(RetryError {
                    what: what.to_string(),
                    attempts: attempt,
                    last: error,
                });
            }
            tracing::warn!(
                "{what} failed (attempt {attempt}): {error}; retrying in {} s",
                wait.as_secs_f32()
            );
            tokio::time::sleep(wait).await;
        }
    }
}

/// A call that kept failing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} failed {attempts} times, last: {last}")]
pub struct RetryError {
    /// What was called.
    pub what: String,
    /// Attempts made.
    pub attempts: u32,
    /// The last error.
    pub last: String,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const FAST: Retry = Retry {
        total: Duration::from_millis(400),
        per_call: Duration::from_millis(50),
        first_wait: Duration::from_millis(10),
        max_wait: Duration::from_millis(40),
    };

    #[test]
    fn waits_double_up_to_the_cap() {
        let w: Vec<_> = (1..=7)
            .map(|a| Retry::API.wait_after(a).as_secs())
            .collect();
        assert_eq!(w, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(Retry::API.wait_after(200), Duration::from_secs(30));
    }

    #[tokio::test]
    async fn succeeds_after_failures() {
        let mut n = 0;
        let v = FAST
            .run("call", || {
                n += 1;
                let k = n;
                async move { if k < 3 { Err("refused") } else { Ok(k) } }
            })
            .await
            .unwrap();
        assert_eq!(v, 3);
    }

    #[tokio::test]
    async fn gives_up_within_the_budget_and_counts_timeouts() {
        let start = std::time::Instant::now();
        let err = FAST
            .run("Hang", || async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok::<(), String>(())
            })
            .await
            .unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(2));
        assert!(err.attempts >= 2, "{err}");
        assert!(err.last.contains("no answer"), "{err}");
    }
}
