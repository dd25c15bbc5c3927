//! MetalCluster (spec §3.4): ready once owned by a CAPI Cluster; finalizer on, off at deletion.

/// What the reconcile does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// No owner Cluster yet: wait for CAPI to set it.
    WaitForOwner,
    /// Add the finalizer first.
    AddFinalizer,
    /// Being deleted: remove the finalizer.
    RemoveFinalizer,
    /// Deleted and finalizer gone: nothing.
    Nothing,
    /// Set `status.ready` (and `status.initialization.provisioned`).
    MarkReady,
}

/// Decides from: owned by a Cluster, being deleted, finalizer present, already ready.
pub fn decide(owned: bool, deleting: bool, has_finalizer: bool, ready: bool) -> Action {
    match (deleting, has_finalizer) {
        (true, true) => Action::RemoveFinalizer,
        (true, false) => Action::Nothing,
        _ if !owned => Action::WaitForOwner,
        (false, false) => Action::AddFinalizer,
        _ if ready => Action::Nothing,
        _ => Action::MarkReady,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        use Action::*;
        let rows = [
            ((false, false, false, false), WaitForOwner),
            ((true, false, false, false), AddFinalizer),
            ((true, false, true, false), MarkReady),
            ((true, false, true, true), Nothing),
            ((true, true, true, true), RemoveFinalizer),
            ((false, true, true, false), RemoveFinalizer),
            ((true, true, false, true), Nothing),
        ];
        for ((owned, deleting, fin, ready), want) in rows {
            assert_eq!(
                decide(owned, deleting, fin, ready),
                want,
                "{owned} {deleting} {fin} {ready}"
            );
        }
    }
}
