//! Client of the management API of simulated machines (§9.3): the tiny HTTP controller of
//! each QEMU VM launched by Talos' QEMU provisioner. `POST /poweron`, `/poweroff`,
//! `/reboot`, `/pxeboot`; `GET /status` → `{"PoweredOn": bool}`. Plain HTTP/1.1, one
//! connection per call, a 10 s timeout on the whole call; any status but 200 is
//! `API error: <status line>`.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::error::{PowerError, Step};
use crate::manager::{BootMode, PowerFuture, PowerManager, PowerOutcome, PowerState};

/// Upstream's per-call timeout.
pub const DEFAULT_API_TIMEOUT: Duration = Duration::from_secs(10);

/// Management API client for one machine (`host:port`).
#[derive(Debug, Clone)]
pub struct ManagementApiClient {
    endpoint: String,
    target: String,
    timeout: Duration,
}

#[derive(serde::Deserialize)]
struct Status {
    #[serde(rename = "PoweredOn")]
    powered_on: bool,
}

/// Aborts the connection task when the call ends (or times out).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl ManagementApiClient {
    /// A client for `endpoint` (`host:port`) with the 10 s timeout.
    pub fn new(endpoint: &str) -> Self {
        Self::with_timeout(endpoint, DEFAULT_API_TIMEOUT)
    }

    /// A client with another timeout (tests).
    pub fn with_timeout(endpoint: &str, timeout: Duration) -> Self {
        Self {
            endpoint: endpoint.to_owned(),
            target: format!("management API {endpoint}"),
            timeout,
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &'static str,
        step: Step,
    ) -> Result<Bytes, PowerError> {
        match tokio::time::timeout(self.timeout, self.call_inner(method, path, step)).await {
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

    async fn call_inner(
        &self,
        method: Method,
        path: &'static str,
        step: Step,
    ) -> Result<Bytes, PowerError> {
        let io = |source| PowerError::Io {
            target: self.target.clone(),
            step,
            source,
        };
        let http = |e: &dyn std::fmt::Display| PowerError::Protocol {
            target: self.target.clone(),
            step,
            detail: e.to_string(),
        };
        let stream = TcpStream::connect(self.endpoint.as_str())
            .await
            .map_err(io)?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| http(&e))?;
        let _conn = AbortOnDrop(tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "management API connection ended");
            }
        }));
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, self.endpoint.as_str())
            .body(Empty::<Bytes>::new())
            .map_err(|e| http(&e))?;
        let resp = sender.send_request(req).await.map_err(|e| http(&e))?;
        let status = resp.status();
        if status != StatusCode::OK {
            return Err(PowerError::Api {
                target: self.target.clone(),
                step,
                status_line: format!(
                    "{} {}",
                    status.as_str(),
                    status.canonical_reason().unwrap_or("")
                )
                .trim_end()
                .to_owned(),
            });
        }
        Ok(resp
            .into_body()
            .collect()
            .await
            .map_err(|e| http(&e))?
            .to_bytes())
    }

    async fn post(
        &self,
        path: &'static str,
        step: &'static str,
    ) -> Result<PowerOutcome, PowerError> {
        self.call(Method::POST, path, Step::Api(step))
            .await
            .map(|_| PowerOutcome::Done)
    }

    async fn status(&self) -> Result<PowerState, PowerError> {
        let step = Step::Api("GET /status");
        let body = self.call(Method::GET, "/status", step).await?;
        let s: Status = serde_json::from_slice(&body).map_err(|e| PowerError::Protocol {
            target: self.target.clone(),
            step,
            detail: format!("cannot decode status: {e}"),
        })?;
        Ok(if s.powered_on {
            PowerState::On
        } else {
            PowerState::Off
        })
    }
}

impl PowerManager for ManagementApiClient {
    fn power_status(&self) -> PowerFuture<'_, PowerState> {
        Box::pin(self.status())
    }

    fn power_on(&self) -> PowerFuture<'_, PowerOutcome> {
        Box::pin(self.post("/poweron", "POST /poweron"))
    }

    fn power_off(&self) -> PowerFuture<'_, PowerOutcome> {
        Box::pin(self.post("/poweroff", "POST /poweroff"))
    }

    fn power_cycle(&self) -> PowerFuture<'_, PowerOutcome> {
        Box::pin(self.post("/reboot", "POST /reboot"))
    }

    /// `POST /pxeboot`; the API has one PXE flavour, so `mode` is ignored (as upstream).
    fn set_pxe_once(&self, _mode: BootMode) -> PowerFuture<'_, PowerOutcome> {
        Box::pin(self.post("/pxeboot", "POST /pxeboot"))
    }

    /// The API cannot select the disk ([`PowerOutcome::Unsupported`]); a VM boots its
    /// configured order whenever `/pxeboot` was not requested.
    fn set_boot_disk_once(&self, _mode: BootMode) -> PowerFuture<'_, PowerOutcome> {
        Box::pin(async { Ok(PowerOutcome::Unsupported) })
    }

    fn is_fake(&self) -> bool {
        false
    }

    fn target(&self) -> String {
        self.target.clone()
    }
}
