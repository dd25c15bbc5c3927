//! The webhook routes of each manager and the TLS listener serving them.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::review::{self, ReviewError, Validator};
use crate::tls::{self, CertError};

/// Which manager's webhooks to serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// sidero-controller-manager: converts `metal.sidero.dev`, validates Servers.
    Sidero,
    /// caps-controller-manager: converts `infrastructure.cluster.x-k8s.io`, validates
    /// MetalMachineTemplates.
    Caps,
}

impl Role {
    /// The API group `/convert` handles.
    pub fn group(self) -> &'static str {
        match self {
            Role::Sidero => sidero_api::metal::GROUP,
            Role::Caps => sidero_api::infra::GROUP,
        }
    }

    /// The validating webhooks: `(path, validator)`.
    pub fn validators(self) -> &'static [(&'static str, Validator)] {
        match self {
            Role::Sidero => &[
                (crate::SERVER_V1ALPHA2_PATH, Validator::Server),
                (crate::SERVER_V1ALPHA1_PATH, Validator::Server),
            ],
            Role::Caps => &[(
                crate::METALMACHINETEMPLATE_PATH,
                Validator::MetalMachineTemplate,
            )],
        }
    }
}

fn reply(result: Result<Value, ReviewError>) -> Response {
    match result {
        Ok(v) => ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

/// The routes of `role` (plain HTTP; [`WebhookServer`] adds TLS).
pub fn router(role: Role) -> Router {
    let group = role.group();
    let mut r = Router::new().route(
        crate::CONVERT_PATH,
        post(move |body: Bytes| async move { reply(review::conversion(group, &body)) }),
    );
    for &(path, v) in role.validators() {
        r = r.route(
            path,
            post(move |body: Bytes| async move { reply(review::admission(v, &body)) }),
        );
    }
    r
}

/// Why the webhook server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The certificate folder is unusable.
    #[error("webhook certificate: {0}")]
    Cert(#[from] CertError),
    /// The port could not be bound.
    #[error("binding the webhook server on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// A bound webhook listener with its TLS configuration, ready to serve.
pub struct WebhookServer {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    router: Router,
}

impl WebhookServer {
    /// Loads the certificate in `cert_dir` and binds `addr`.
    pub async fn bind(role: Role, addr: SocketAddr, cert_dir: &Path) -> Result<Self, ServeError> {
        let config = tls::server_config(cert_dir)?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        Ok(WebhookServer {
            listener,
            acceptor: TlsAcceptor::from(Arc::new(config)),
            router: router(role),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes. Each connection runs on its own task; a failed
    /// handshake or connection is logged and does not affect the others.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let (tcp, peer) = tokio::select! {
                _ = &mut shutdown => return,
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "webhook accept failed");
                        // Out of file descriptors and the like: do not spin.
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let acceptor = self.acceptor.clone();
            let service = TowerToHyperService::new(self.router.clone());
            tokio::spawn(async move {
                let tls = match acceptor.accept(tcp).await {
                    Ok(t) => t,
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "webhook TLS handshake failed");
                        return;
                    }
                };
                if let Err(e) = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await
                {
                    tracing::debug!(%peer, error = %e, "webhook connection ended with an error");
                }
            });
        }
    }
}

/// The listen address for `--webhook-host` (empty: every address, as controller-runtime) and
/// `--webhook-port`.
pub fn listen_addr(host: &str, port: u16) -> Result<SocketAddr, String> {
    let host = host.trim_matches(['[', ']']);
    let ip: std::net::IpAddr = if host.is_empty() {
        std::net::Ipv4Addr::UNSPECIFIED.into()
    } else {
        host.parse()
            .map_err(|e| format!("invalid webhook host {host:?}: {e}"))?
    };
    Ok(SocketAddr::new(ip, port))
}

/// Starts `role`'s webhook server on a task, as the managers do at start-up.
///
/// Upstream's managers exit when the certificate is missing; in a pod the Secret volume
/// guarantees it exists. Run outside a cluster without a certificate (local runs, tests that
/// need no webhooks), ours logs that it serves no webhooks and returns `Ok(None)`, so the
/// boot path does not depend on cert-manager. A certificate that exists but does not load,
/// and a port that cannot be bound, are errors.
pub async fn start(
    role: Role,
    addr: SocketAddr,
    cert_dir: &Path,
) -> Result<Option<SocketAddr>, ServeError> {
    if !cert_dir.join(tls::CERT_FILE).exists() && !cert_dir.join(tls::KEY_FILE).exists() {
        tracing::warn!(
            cert_dir = %cert_dir.display(),
            "no webhook certificate (tls.crt, tls.key): serving no conversion or validating webhooks"
        );
        return Ok(None);
    }
    let server = WebhookServer::bind(role, addr, cert_dir).await?;
    let bound = server.local_addr().unwrap_or(addr);
    tracing::info!(addr = %bound, ?role, cert_dir = %cert_dir.display(), "serving webhooks");
    tokio::spawn(server.serve(std::future::pending()));
    Ok(Some(bound))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        assert_eq!(listen_addr("", 9443).unwrap().to_string(), "0.0.0.0:9443");
        assert_eq!(
            listen_addr("127.0.0.1", 1).unwrap().to_string(),
            "127.0.0.1:1"
        );
        assert_eq!(listen_addr("[::1]", 2).unwrap().to_string(), "[::1]:2");
        assert!(listen_addr("host.example", 2).is_err());
    }

    #[test]
    fn roles_serve_upstreams_paths() {
        let paths = |r: Role| r.validators().iter().map(|(p, _)| *p).collect::<Vec<_>>();
        assert_eq!(
            paths(Role::Sidero),
            [
                "/validate-metal-sidero-dev-v1alpha2-server",
                "/validate-metal-sidero-dev-v1alpha1-server"
            ]
        );
        assert_eq!(
            paths(Role::Caps),
            ["/validate-infrastructure-cluster-x-k8s-io-v1alpha3-metalmachinetemplate"]
        );
        assert_eq!(Role::Caps.group(), "infrastructure.cluster.x-k8s.io");
    }
}
