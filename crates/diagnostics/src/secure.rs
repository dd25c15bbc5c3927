//! The secure diagnostics server, as CAPI's `--diagnostics-address` without
//! `--insecure-diagnostics`: TLS with a self-signed certificate made at start, and every
//! request authenticated by a `TokenReview` of its bearer token and authorized by a
//! `SubjectAccessReview` for `get` on the request's path (a non-resource URL), so the
//! Prometheus service account needs `nonResourceURLs: ["/metrics"], verbs: ["get"]`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};

/// A TCP listener that hands out TLS streams (handshakes time out after 10 s).
struct TlsListener {
    tcp: tokio::net::TcpListener,
    tls: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, peer) = match self.tcp.accept().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(error = %e, "diagnostics accept");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            match tokio::time::timeout(Duration::from_secs(10), self.tls.accept(stream)).await {
                Ok(Ok(tls)) => return (tls, peer),
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "diagnostics TLS handshake"),
                Err(_) => tracing::debug!(%peer, "diagnostics TLS handshake timed out"),
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

fn tls_config() -> Result<rustls::ServerConfig, String> {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .map_err(|e| format!("self-signed certificate: {e}"))?;
    let cert = key.cert.der().clone();
    let private = rustls::pki_types::PrivateKeyDer::Pkcs8(
        rustls::pki_types::PrivatePkcs8KeyDer::from(key.signing_key.serialize_der()),
    );
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_single_cert(vec![cert], private)
    .map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Serves `router` over TLS on `addr`, each request authenticated and authorized by the API
/// server `client` talks to; the bound address.
pub async fn serve_secure(
    what: &'static str,
    addr: &str,
    router: Router,
    client: kube::Client,
) -> std::io::Result<SocketAddr> {
    let addr = crate::listen_addr(addr).map_err(std::io::Error::other)?;
    let config = tls_config().map_err(std::io::Error::other)?;
    let tcp = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("binding {what} on {addr}: {e}")))?;
    let bound = tcp.local_addr()?;
    let listener = TlsListener {
        tcp,
        tls: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
    };
    let app = router.layer(middleware::from_fn_with_state(client, authorize));
    tracing::info!(addr = %bound, "serving {what} (TLS, authenticated)");
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "{what} server stopped");
        }
    });
    Ok(bound)
}

/// The bearer token of a request, if any.
pub fn bearer(req: &Request) -> Option<&str> {
    req.headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

async fn authorize(State(client): State<kube::Client>, req: Request, next: Next) -> Response {
    let Some(token) = bearer(&req).map(str::to_owned) else {
        return (StatusCode::UNAUTHORIZED, "Unauthorized\n").into_response();
    };
    let path = req.uri().path().to_owned();
    let review = TokenReview {
        spec: TokenReviewSpec {
            token: Some(token),
            ..Default::default()
        },
        ..Default::default()
    };
    let user = match Api::<TokenReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
    {
        Ok(r) => match r.status {
            Some(s) if s.authenticated == Some(true) => s.user.unwrap_or_default(),
            _ => return (StatusCode::UNAUTHORIZED, "Unauthorized\n").into_response(),
        },
        Err(e) => {
            tracing::warn!(error = %e, "diagnostics: TokenReview failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "authentication failed\n").into_response();
        }
    };
    let sar = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: user.username.clone(),
            groups: user.groups,
            uid: user.uid,
            extra: user.extra,
            non_resource_attributes: Some(NonResourceAttributes {
                path: Some(path.clone()),
                verb: Some("get".into()),
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    match Api::<SubjectAccessReview>::all(client)
        .create(&PostParams::default(), &sar)
        .await
    {
        Ok(r) if r.status.as_ref().is_some_and(|s| s.allowed) => next.run(req).await,
        Ok(_) => (
            StatusCode::FORBIDDEN,
            format!(
                "Authorization denied for user {:?} on {path}\n",
                user.username.unwrap_or_default()
            ),
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "diagnostics: SubjectAccessReview failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "authorization failed\n").into_response()
        }
    }
}
