//! Operations surface shared by `sidero-controller-manager` and `caps-controller-manager`:
//!
//! * [`probes`]: `/healthz` and `/readyz` answering from named checks, in controller-runtime's
//!   format (`ok`, or one `[+]`/`[-]` line per check and HTTP 500), on `--health-addr`;
//! * [`metrics`]: `/metrics` in the OpenMetrics text format from a `prometheus-client`
//!   [`Registry`](prometheus_client::registry::Registry) the manager builds and passes in;
//!   served plainly with `--insecure-diagnostics`, else by [`serve_secure`] (TLS, callers
//!   authenticated and authorized by the API server, as CAPI's diagnostics server);
//! * [`logging`]: the tracing subscriber, JSON lines (the default) or text;
//! * [`shutdown_signal`]: SIGINT or SIGTERM (what the kubelet sends);
//! * [`retry`]: capped watch and reconcile backoff, so both managers act again within seconds
//!   of the API server's return after an outage.

pub mod logging;
pub mod metrics;
pub mod probes;
pub mod retry;
pub mod secure;

pub use secure::serve_secure;

use std::net::SocketAddr;

/// Parses a Go-style listen address: `:port` means every IPv4 address.
pub fn listen_addr(s: &str) -> Result<SocketAddr, String> {
    let full = if s.starts_with(':') {
        format!("0.0.0.0{s}")
    } else {
        s.to_string()
    };
    full.parse()
        .map_err(|e| format!("invalid listen address {s:?}: {e}"))
}

/// Binds `addr` and serves `router` on it in a task; the bound address (useful with port 0).
pub async fn serve(
    what: &'static str,
    addr: &str,
    router: axum::Router,
) -> std::io::Result<SocketAddr> {
    let addr = listen_addr(addr).map_err(std::io::Error::other)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("binding {what} on {addr}: {e}")))?;
    let bound = listener.local_addr()?;
    tracing::info!(addr = %bound, "serving {what}");
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "{what} server stopped");
        }
    });
    Ok(bound)
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn listen_addresses() {
        assert_eq!(
            super::listen_addr(":9440").unwrap().to_string(),
            "0.0.0.0:9440"
        );
        assert_eq!(
            super::listen_addr("127.0.0.1:0").unwrap().to_string(),
            "127.0.0.1:0"
        );
        assert!(super::listen_addr("9440").is_err());
    }
}
