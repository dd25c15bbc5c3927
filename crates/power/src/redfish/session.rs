//! Authentication state: basic auth or a Redfish session (`X-Auth-Token`), decided once per
//! BMC and user and shared between the short-lived clients of successive reconciles, so a
//! BMC's few session slots are not exhausted by one login per reconcile.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use http::{HeaderName, HeaderValue, header};

/// How a client authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RedfishAuth {
    /// Session auth when the service root advertises `Links.Sessions`, otherwise (or when
    /// creating a session is not supported) basic auth. Default.
    #[default]
    Auto,
    /// Always HTTP basic auth.
    Basic,
    /// Always a session (`POST /redfish/v1/SessionService/Sessions`).
    Session,
}

/// Established authentication for one BMC and user. `Debug` hides the token.
#[derive(Clone)]
pub(crate) enum AuthState {
    /// HTTP basic auth.
    Basic,
    /// A session: token and the session resource (for logout).
    Session {
        token: String,
        location: Option<String>,
    },
}

impl std::fmt::Debug for AuthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Basic => f.write_str("Basic"),
            Self::Session { location, .. } => f
                .debug_struct("Session")
                .field("token", &"<redacted>")
                .field("location", location)
                .finish(),
        }
    }
}

impl AuthState {
    /// The header to send with a request.
    pub fn header(&self, user: &str, pass: &str) -> Option<(HeaderName, HeaderValue)> {
        match self {
            Self::Basic => {
                let raw =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
                HeaderValue::from_str(&format!("Basic {raw}"))
                    .ok()
                    .map(|v| (header::AUTHORIZATION, v))
            }
            Self::Session { token, .. } => HeaderValue::from_str(token)
                .ok()
                .map(|v| (HeaderName::from_static("x-auth-token"), v)),
        }
    }

    /// Whether this is a session (which may expire and be re-established on 401).
    pub fn is_session(&self) -> bool {
        matches!(self, Self::Session { .. })
    }
}

/// Authentication states shared between clients, keyed by `base URL` and user. Cloning
/// shares the store.
#[derive(Clone, Default)]
pub struct RedfishSessions {
    inner: Arc<Mutex<HashMap<(String, String), AuthState>>>,
}

impl std::fmt::Debug for RedfishSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.inner.lock().map(|m| m.len()).unwrap_or(0);
        f.debug_struct("RedfishSessions")
            .field("entries", &n)
            .finish()
    }
}

impl RedfishSessions {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn get(&self, base: &str, user: &str) -> Option<AuthState> {
        self.inner
            .lock()
            .ok()?
            .get(&(base.to_owned(), user.to_owned()))
            .cloned()
    }

    pub(crate) fn put(&self, base: &str, user: &str, state: AuthState) {
        if let Ok(mut m) = self.inner.lock() {
            m.insert((base.to_owned(), user.to_owned()), state);
        }
    }

    pub(crate) fn remove(&self, base: &str, user: &str) -> Option<AuthState> {
        self.inner
            .lock()
            .ok()?
            .remove(&(base.to_owned(), user.to_owned()))
    }
}
