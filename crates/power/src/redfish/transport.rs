//! One HTTP/1.1 exchange with a Redfish service over TCP or TLS: one connection per
//! request (BMC web servers are slow but few requests are made per reconcile), the whole
//! exchange (connect, TLS handshake, request, body) bounded by one timeout.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::rustls::pki_types::ServerName;

use super::endpoint::{RedfishEndpoint, Scheme};
use crate::error::{PowerError, Step};

/// A response: status, headers, body.
#[derive(Debug)]
pub(crate) struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A request to send. Header values may be secrets (`Authorization`, `X-Auth-Token`):
/// they are never logged or put into errors.
pub(crate) struct Outgoing<'a> {
    pub method: Method,
    pub path: &'a str,
    pub step: Step,
    pub auth: Option<(header::HeaderName, HeaderValue)>,
    pub body: Option<Vec<u8>>,
}

/// Connection parameters shared by all requests of one client.
#[derive(Clone)]
pub(crate) struct Transport {
    pub endpoint: RedfishEndpoint,
    pub target: String,
    pub timeout: Duration,
    pub tls: Option<Arc<ClientConfig>>,
}

/// Aborts the connection task when the exchange ends (or times out).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Transport {
    /// Sends one request, bounded by the timeout.
    pub async fn send(&self, req: Outgoing<'_>) -> Result<Response, PowerError> {
        let step = req.step;
        match tokio::time::timeout(self.timeout, self.send_inner(req)).await {
            Ok(r) => r,
            Err(_) => Err(PowerError::Timeout {
                target: self.target.clone(),
                step,
                attempts: 1,
                timeout: self.timeout,
                hint: String::new(),
            }),
        }
    }

    async fn send_inner(&self, req: Outgoing<'_>) -> Result<Response, PowerError> {
        let step = req.step;
        let io = |source| PowerError::Io {
            target: self.target.clone(),
            step,
            source,
        };
        let ep = &self.endpoint;
        let tcp = TcpStream::connect((ep.host.as_str(), ep.port))
            .await
            .map_err(io)?;
        match (ep.scheme, &self.tls) {
            (Scheme::Https, Some(cfg)) => {
                let name =
                    ServerName::try_from(ep.host.clone()).map_err(|e| PowerError::Config {
                        target: self.target.clone(),
                        detail: format!("invalid TLS server name: {e}"),
                    })?;
                let tls = TlsConnector::from(cfg.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| PowerError::Io {
                        target: self.target.clone(),
                        step,
                        source: std::io::Error::new(e.kind(), format!("TLS handshake: {e}")),
                    })?;
                self.exchange(tls, req).await
            }
            (Scheme::Https, None) => Err(PowerError::Config {
                target: self.target.clone(),
                detail: "HTTPS endpoint without TLS configuration".to_owned(),
            }),
            (Scheme::Http, _) => self.exchange(tcp, req).await,
        }
    }

    async fn exchange<IO>(&self, stream: IO, req: Outgoing<'_>) -> Result<Response, PowerError>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let step = req.step;
        let proto = |e: &dyn std::fmt::Display| PowerError::Protocol {
            target: self.target.clone(),
            step,
            detail: e.to_string(),
        };
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| proto(&e))?;
        let _conn = AbortOnDrop(tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "Redfish connection ended");
            }
        }));
        let has_body = req.body.is_some();
        let mut builder = Request::builder()
            .method(req.method)
            .uri(req.path)
            .header(header::HOST, self.endpoint.authority())
            .header(header::ACCEPT, "application/json")
            .header("OData-Version", "4.0");
        if has_body {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
        }
        if let Some((name, mut value)) = req.auth {
            value.set_sensitive(true);
            builder = builder.header(name, value);
        }
        let request = builder
            .body(Full::new(Bytes::from(req.body.unwrap_or_default())))
            .map_err(|e| proto(&e))?;
        let resp = sender.send_request(request).await.map_err(|e| proto(&e))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| proto(&e))?
            .to_bytes();
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}
