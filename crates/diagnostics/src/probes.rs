//! `/healthz` and `/readyz` with named checks, answered as controller-runtime's healthz
//! handler does: `200 ok` when every check passes, else `500` with one line per check.

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use futures::FutureExt;
use futures::future::BoxFuture;

/// One named check: `Ok` or a reason.
pub type Check = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// The checks behind both endpoints.
#[derive(Clone, Default)]
pub struct Checks {
    healthz: Vec<(String, Check)>,
    readyz: Vec<(String, Check)>,
}

impl Checks {
    /// Adds a liveness check.
    pub fn healthz(mut self, name: &str, check: Check) -> Self {
        self.healthz.push((name.to_owned(), check));
        self
    }

    /// Adds a readiness check.
    pub fn readyz(mut self, name: &str, check: Check) -> Self {
        self.readyz.push((name.to_owned(), check));
        self
    }
}

/// A check that always passes (controller-runtime's `healthz.Ping`).
pub fn ping() -> Check {
    Arc::new(|| async { Ok(()) }.boxed())
}

/// Runs `checks`: the status and the body.
pub async fn run(kind: &str, checks: &[(String, Check)]) -> (StatusCode, String) {
    let mut lines = Vec::new();
    let mut failed = false;
    for (name, check) in checks {
        match check().await {
            Ok(()) => lines.push(format!("[+]{name} ok")),
            Err(e) => {
                failed = true;
                lines.push(format!("[-]{name} failed: {e}"));
            }
        }
    }
    if failed {
        lines.push(format!("{kind} check failed"));
        (StatusCode::INTERNAL_SERVER_ERROR, lines.join("\n") + "\n")
    } else {
        (StatusCode::OK, "ok".into())
    }
}

/// The router for `/healthz` and `/readyz`.
pub fn router(checks: Checks) -> Router {
    let health = Arc::new(checks.healthz);
    let ready = Arc::new(checks.readyz);
    Router::new()
        .route(
            "/healthz",
            get(move || {
                let c = Arc::clone(&health);
                async move { run("healthz", &c).await }
            }),
        )
        .route(
            "/readyz",
            get(move || {
                let c = Arc::clone(&ready);
                async move { run("readyz", &c).await }
            }),
        )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn failing(reason: &'static str) -> Check {
        Arc::new(move || async move { Err(reason.to_owned()) }.boxed())
    }

    #[tokio::test]
    async fn all_pass_is_ok_any_failure_is_500_with_lines() {
        let ok = vec![("ping".to_owned(), ping())];
        assert_eq!(run("readyz", &ok).await, (StatusCode::OK, "ok".into()));
        let mixed = vec![
            ("ping".to_owned(), ping()),
            ("ipxe".to_owned(), failing("GET /boot.ipxe: 503")),
        ];
        let (code, body) = run("readyz", &mixed).await;
        assert_eq!(code, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            body,
            "[+]ping ok\n[-]ipxe failed: GET /boot.ipxe: 503\nreadyz check failed\n"
        );
    }
}
