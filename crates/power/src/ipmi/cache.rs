//! Sessions reused per BMC: one slot per (BMC address, user), each holding at most one
//! established session behind an async mutex, so one BMC sees one operation at a time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::session::Session;

/// Key of a cached session.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct SlotKey {
    /// `BMC host:port`.
    pub target: String,
    /// User name.
    pub user: String,
}

/// A slot: the session (if any) and the password it was opened with. `Debug` is redacted.
#[derive(Default)]
pub(crate) struct Slot {
    /// The established session.
    pub session: Option<Session>,
    /// Password used for `session`; a different password forces a new session.
    pub password: Vec<u8>,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("session", &self.session.is_some())
            .finish_non_exhaustive()
    }
}

/// Cache of RMCP+ sessions, shared by every [`super::IpmiClient`] of a process.
#[derive(Debug, Default)]
pub struct SessionCache {
    slots: Mutex<HashMap<SlotKey, Arc<tokio::sync::Mutex<Slot>>>>,
    opened: AtomicU64,
}

impl SessionCache {
    /// An empty cache.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Sessions established (RAKP completed) since the cache was created.
    pub fn sessions_opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    /// Number of BMC slots known to the cache.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no BMC was ever used through this cache.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Closes every cached session (Close Session, one attempt each) and forgets them.
    pub async fn close_all(&self) {
        let slots: Vec<_> = self.lock().drain().map(|(_, v)| v).collect();
        for slot in slots {
            if let Some(s) = slot.lock().await.session.take() {
                s.close().await;
            }
        }
    }

    pub(crate) fn slot(&self, key: SlotKey) -> Arc<tokio::sync::Mutex<Slot>> {
        self.lock().entry(key).or_default().clone()
    }

    pub(crate) fn note_opened(&self) {
        self.opened.fetch_add(1, Ordering::Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SlotKey, Arc<tokio::sync::Mutex<Slot>>>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }
}
