//! Authenticated requests: choosing basic or session auth, logging in and out, re-login on
//! `401`, and turning error responses into [`PowerError`]s.

use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::session::AuthState;
use super::transport::{Outgoing, Response};
use super::{RedfishAuth, RedfishClient, odata_id, static_step};
use crate::error::{PowerError, Step};

impl RedfishClient {
    pub(super) fn err_for(&self, step: Step, resp: &Response) -> PowerError {
        let target = self.transport.target.clone();
        match resp.status {
            StatusCode::UNAUTHORIZED => PowerError::Auth {
                target,
                step,
                reason: "401 Unauthorized: user name or password rejected".to_owned(),
            },
            StatusCode::FORBIDDEN => PowerError::Auth {
                target,
                step,
                reason: "403 Forbidden: insufficient privilege?".to_owned(),
            },
            s => {
                let mut line = format!("{} {}", s.as_str(), s.canonical_reason().unwrap_or(""))
                    .trim_end()
                    .to_owned();
                if let Some(m) = redfish_message(&resp.body) {
                    line = format!("{line}: {m}");
                }
                PowerError::Api {
                    target,
                    step,
                    status_line: line,
                }
            }
        }
    }

    async fn send_raw(
        &self,
        method: Method,
        path: &str,
        step: Step,
        auth: Option<&AuthState>,
        body: Option<Vec<u8>>,
    ) -> Result<Response, PowerError> {
        self.transport
            .send(Outgoing {
                method,
                path,
                step,
                auth: auth.and_then(|a| a.header(&self.user, &self.pass)),
                body,
            })
            .await
    }

    /// Creates a session at `path`; `Ok(None)` when the service does not support it.
    async fn login(&self, path: &str) -> Result<Option<AuthState>, PowerError> {
        let step = static_step("POST SessionService/Sessions (login)");
        let body = json!({"UserName": self.user, "Password": self.pass}).to_string();
        let resp = self
            .send_raw(Method::POST, path, step, None, Some(body.into_bytes()))
            .await?;
        if matches!(
            resp.status,
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED | StatusCode::NOT_IMPLEMENTED
        ) && self.config.auth == RedfishAuth::Auto
        {
            return Ok(None);
        }
        if !resp.status.is_success() {
            return Err(self.err_for(step, &resp));
        }
        let header = |n: &str| {
            resp.headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let token = header("x-auth-token").ok_or_else(|| PowerError::Protocol {
            target: self.transport.target.clone(),
            step,
            detail: "session created without an X-Auth-Token header".to_owned(),
        })?;
        Ok(Some(AuthState::Session {
            token,
            location: header("location"),
        }))
    }

    async fn establish_auth(&self) -> Result<AuthState, PowerError> {
        let sessions_path = match self.config.auth {
            RedfishAuth::Basic => None,
            RedfishAuth::Session => Some("/redfish/v1/SessionService/Sessions".to_owned()),
            RedfishAuth::Auto => {
                let step = static_step("GET /redfish/v1/ (service root)");
                let resp = self
                    .send_raw(Method::GET, "/redfish/v1/", step, None, None)
                    .await?;
                serde_json::from_slice::<Value>(&resp.body)
                    .ok()
                    .filter(|_| resp.status.is_success())
                    .and_then(|root| odata_id(&root["Links"]["Sessions"]))
            }
        };
        let state = match sessions_path {
            Some(p) => self.login(&p).await?.unwrap_or(AuthState::Basic),
            None => AuthState::Basic,
        };
        self.config
            .sessions
            .put(&self.base(), &self.user, state.clone());
        Ok(state)
    }

    /// Sends an authenticated request; a `401` with a session re-logs in once.
    pub(super) async fn request(
        &self,
        method: Method,
        path: &str,
        step: Step,
        body: Option<Value>,
    ) -> Result<Response, PowerError> {
        let body = body.map(|b| b.to_string().into_bytes());
        let mut relogged = false;
        loop {
            let auth = match self.config.sessions.get(&self.base(), &self.user) {
                Some(a) => a,
                None => self.establish_auth().await?,
            };
            let resp = self
                .send_raw(method.clone(), path, step, Some(&auth), body.clone())
                .await?;
            if resp.status == StatusCode::UNAUTHORIZED && auth.is_session() && !relogged {
                tracing::debug!(target = %self.transport.target, "Redfish session expired");
                self.config.sessions.remove(&self.base(), &self.user);
                relogged = true;
                continue;
            }
            if !resp.status.is_success() {
                return Err(self.err_for(step, &resp));
            }
            return Ok(resp);
        }
    }

    pub(super) async fn get_json(&self, path: &str, step: Step) -> Result<Value, PowerError> {
        let resp = self.request(Method::GET, path, step, None).await?;
        serde_json::from_slice(&resp.body).map_err(|e| PowerError::Protocol {
            target: self.transport.target.clone(),
            step,
            detail: format!("invalid JSON: {e}"),
        })
    }

    /// Deletes the shared session of this BMC and user, if any (best effort; sessions
    /// also expire on the BMC by themselves).
    pub async fn logout(&self) -> Result<(), PowerError> {
        let state = self.config.sessions.remove(&self.base(), &self.user);
        if let Some(AuthState::Session {
            location: Some(loc),
            ..
        }) = &state
        {
            let step = static_step("DELETE session (logout)");
            // `Location` may be a path or an absolute URL.
            let path = match loc.split_once("://") {
                Some((_, rest)) => rest.find('/').and_then(|i| rest.get(i..)).unwrap_or("/"),
                None => loc.as_str(),
            };
            let resp = self
                .send_raw(Method::DELETE, path, step, state.as_ref(), None)
                .await?;
            tracing::debug!(status = %resp.status, "Redfish logout");
        }
        Ok(())
    }
}

/// The first human-readable message of a Redfish error body, shortened.
fn redfish_message(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let e = &v["error"];
    let m = e["@Message.ExtendedInfo"][0]["Message"]
        .as_str()
        .or_else(|| e["message"].as_str())?;
    Some(m.chars().take(300).collect())
}
