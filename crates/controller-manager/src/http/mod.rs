//! The combined HTTP listener (spec §1.5, §5.3): `/boot.ipxe`, `/ipxe`, `/configdata`,
//! `/env/…`, `/tftp/…`; with `--siderolink` also [`logs`] (`/logs/<server>`, `/events/<server>`).
//! HTTP/1.1 and h2c are both accepted; gRPC services join it through [`combined`].

mod cache;
mod configdata;
mod grpc;
mod ipxe;
pub mod logs;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::any;
use sidero_netboot::boot::BootConfig;
use tower_http::services::ServeDir;

pub use cache::{BootCache, Cached};
pub use grpc::{combined, is_grpc};

/// What the boot handlers need.
pub struct BootState {
    /// Kubernetes client used to look up Servers, ServerBindings, ServerClasses, Environments.
    pub client: kube::Client,
    /// Flag-derived boot settings.
    pub config: BootConfig,
    /// The rendered embedded script served at `/boot.ipxe`.
    pub boot_script: String,
    /// Authenticated config release; `None` serves `/configdata` to anyone who knows a UUID,
    /// as upstream (`--insecure-configdata`).
    pub release: Option<ConfigRelease>,
    /// Agent tokens handed to accepted servers' agents (`sidero.token=`); `None` with
    /// `--insecure-agent-api`.
    pub agent_tokens: Option<crate::agent::AgentAuth>,
    /// Watch-fed caches `/ipxe` answers from when the API server cannot be read; `None`
    /// reads only from the API server.
    pub cache: Option<BootCache>,
}

/// How machine configs are released (see [`sidero_netboot::token`]).
#[derive(Clone)]
pub struct ConfigRelease {
    /// Token key, derived from the installation secret.
    pub key: [u8; 32],
    /// Token lifetime.
    pub ttl: std::time::Duration,
    /// Bind tokens to the address that fetched the iPXE script.
    pub bind_address: bool,
}

impl ConfigRelease {
    /// The address a token is bound to, if binding is on.
    pub fn bound(&self, remote: std::net::IpAddr) -> Option<std::net::IpAddr> {
        self.bind_address.then_some(remote.to_canonical())
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Where static boot files live.
#[derive(Clone, Debug)]
pub struct Dirs {
    /// Environment assets, served at `/env/`.
    pub env: PathBuf,
    /// iPXE binaries, served at `/tftp/`.
    pub tftp: PathBuf,
}

/// The boot router. Any method is accepted, as upstream (iPXE only sends GET).
pub fn router(state: Arc<BootState>, dirs: &Dirs) -> Router {
    let script = state.boot_script.clone();
    Router::new()
        .route("/boot.ipxe", any(move || async move { script }))
        .route("/ipxe", any(ipxe::handler))
        .route("/configdata", any(configdata::handler))
        .nest_service("/env", ServeDir::new(&dirs.env))
        .nest_service("/tftp", ServeDir::new(&dirs.tftp))
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

/// Logs every boot request as `HTTP <method> <url> <remote>` with its status, so an operator
/// can follow a machine's boot from the manager's log.
async fn log_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let uri = redact(req.uri());
    let remote = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.to_string())
        .unwrap_or_default();
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_canonical());
    let uuid = query_uuid(req.uri().query());
    let resp = next.run(req).await;
    let branch = resp
        .extensions()
        .get::<crate::metrics::Branch>()
        .map(|b| b.0);
    if let Some(ip) = peer {
        crate::timeline::record(crate::timeline::Step::Http {
            ip,
            path: path.clone(),
            uuid,
            branch,
            status: resp.status().as_u16(),
        });
    }
    if let Some(m) = crate::metrics::get() {
        let branch = branch.unwrap_or("-");
        m.boot_requests
            .get_or_create(&crate::metrics::BootLabels {
                endpoint: crate::metrics::boot_endpoint(&path),
                branch,
                status: resp.status().as_u16(),
            })
            .inc();
    }
    tracing::info!(%method, %uri, %remote, status = resp.status().as_u16(), "HTTP {method} {uri} {remote}");
    resp
}

/// The `uuid` query parameter (`/ipxe?uuid=…`, `/configdata?uuid=…`), if any.
fn query_uuid(query: Option<&str>) -> Option<String> {
    query?
        .split('&')
        .find_map(|kv| kv.strip_prefix("uuid="))
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
}

/// The request target with the value of every `token` query parameter replaced by
/// `REDACTED`: a config token opens a machine config (CA keys included) and must not end up
/// in logs.
pub fn redact(uri: &http::Uri) -> String {
    let path = uri.path();
    let Some(query) = uri.query() else {
        return path.to_string();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("token") => format!("{k}=REDACTED"),
            _ => kv.to_string(),
        })
        .collect();
    format!("{path}?{}", query.join("&"))
}

/// Serves `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::redact;

    #[test]
    fn tokens_are_redacted_from_logged_urls() {
        let cases = [
            (
                "/configdata?token=abc&uuid=u1",
                "/configdata?token=REDACTED&uuid=u1",
            ),
            (
                "/configdata?uuid=u1&TOKEN=abc",
                "/configdata?uuid=u1&TOKEN=REDACTED",
            ),
            ("/ipxe?uuid=u1&mac=m", "/ipxe?uuid=u1&mac=m"),
            ("/boot.ipxe", "/boot.ipxe"),
            ("/configdata?tokenx=1&token", "/configdata?tokenx=1&token"),
        ];
        for (uri, want) in cases {
            assert_eq!(redact(&uri.parse().unwrap()), want, "{uri}");
        }
    }
}
