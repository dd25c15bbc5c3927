//! The workload cluster's Node of a server: found by label, given `spec.providerID`.

/// Label the metadata server puts on the node (kubelet `node-labels`).
pub const NODE_UUID_LABEL: &str = "metal.sidero.dev/uuid";

/// What to do with the Nodes found under the label (name, current providerID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeAction {
    /// Set `spec.providerID` on this node.
    Patch(String),
    /// Already set.
    Nothing,
}

/// Decides from the nodes listed with `metal.sidero.dev/uuid=<server>`; an error is the
/// `ProviderSet=False` message (upstream's texts).
pub fn provider_id_action(
    nodes: &[(String, Option<String>)],
    provider_id: &str,
) -> Result<NodeAction, String> {
    match nodes {
        [] => Err("no matching nodes found".into()),
        [(name, current)] if current.as_deref() != Some(provider_id) => {
            Ok(NodeAction::Patch(name.clone()))
        }
        [_] => Ok(NodeAction::Nothing),
        _ => Err("multiple nodes found with same uuid label".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let id = "sidero://s1";
        let n = |p: Option<&str>| ("n1".to_string(), p.map(str::to_string));
        assert_eq!(
            provider_id_action(&[], id),
            Err("no matching nodes found".into())
        );
        assert_eq!(
            provider_id_action(&[n(None)], id),
            Ok(NodeAction::Patch("n1".into()))
        );
        assert_eq!(
            provider_id_action(&[n(Some("other://x"))], id),
            Ok(NodeAction::Patch("n1".into()))
        );
        assert_eq!(
            provider_id_action(&[n(Some(id))], id),
            Ok(NodeAction::Nothing)
        );
        assert_eq!(
            provider_id_action(&[n(None), n(None)], id),
            Err("multiple nodes found with same uuid label".into())
        );
    }
}
