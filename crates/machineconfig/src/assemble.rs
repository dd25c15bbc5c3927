//! The metadata server's assembly of a node's config (spec §6, steps 1–5), as a pure function.

use serde_json::{Map, Value, json};

use crate::{Config, DocId, Error, Patch, apply_json_patch, load_patch, strategic_merge};

/// The label CAPS uses to find a node's Kubernetes Node.
pub const NODE_LABEL_KEY: &str = "metal.sidero.dev/uuid";

/// The patches of one source (a ServerClass or a Server).
#[derive(Debug, Clone, Default)]
pub struct Patches {
    /// Where they come from, for error messages (`server`, `serverclass`).
    pub source: &'static str,
    /// `configPatches`: RFC 6902 operations, applied together as one JSON patch.
    pub json: Vec<Value>,
    /// `strategicPatches`: each applied in order.
    pub strategic: Vec<String>,
}

/// What the SideroLink documents point at.
#[derive(Debug, Clone)]
pub struct NodeDocs {
    /// `SideroLinkConfig.apiUrl`, e.g. `grpc://10.5.0.1:8081`.
    pub api_url: String,
    /// `EventSinkConfig.endpoint`, e.g. `[fdae:…::1]:4002`.
    pub event_sink: String,
    /// `KmsgLogConfig.url`, e.g. `tcp://[fdae:…::1]:4001`.
    pub kmsg_url: String,
}

/// Why a config could not be assembled; the messages are upstream's `/configdata` bodies.
#[derive(Debug, thiserror::Error)]
pub enum AssembleError {
    /// The bootstrap data is not a config we can read.
    #[error("failure creating config struct: {0}")]
    Config(Error),
    /// A patch text does not load.
    #[error("failure loading patches from {origin}: {err}")]
    Load {
        /// `server` or `serverclass`.
        origin: &'static str,
        /// What was wrong.
        err: Error,
    },
    /// The JSON patch list cannot be serialized.
    #[error("failure marshaling config patches from {origin}: {err}")]
    Marshal {
        /// `server` or `serverclass`.
        origin: &'static str,
        /// What was wrong.
        err: String,
    },
    /// A patch does not apply.
    #[error("failure applying patches {patch} to machine config: {err}")]
    Apply {
        /// The patch text.
        patch: String,
        /// What was wrong.
        err: Error,
    },
    /// A single-document config that is not `v1alpha1`.
    #[error("unknown config type")]
    UnknownConfigType,
    /// The result cannot be rendered.
    #[error("failure converting patched config to bytes: {0}")]
    Render(Error),
}

/// Builds the config served to the node `uuid`: bootstrap data, then the class's and the
/// server's patches, the node label, and the SideroLink documents.
pub fn assemble(
    bootstrap: &str,
    class: Option<&Patches>,
    server: &Patches,
    uuid: &str,
    node: &NodeDocs,
) -> Result<String, AssembleError> {
    let mut config = Config::parse(bootstrap).map_err(AssembleError::Config)?;
    for patches in class.into_iter().chain(std::iter::once(server)) {
        apply_patches(&mut config, patches)?;
    }
    node_label(&mut config, uuid)?;
    strategic_merge(&mut config, &siderolink_docs(node)).map_err(|err| AssembleError::Apply {
        patch: "SideroLink documents".into(),
        err,
    })?;
    config.render().map_err(AssembleError::Render)
}

fn apply_patches(config: &mut Config, patches: &Patches) -> Result<(), AssembleError> {
    if !patches.json.is_empty() {
        let ops = Value::Array(patches.json.clone());
        apply_json_patch(config, &ops).map_err(|err| AssembleError::Apply {
            patch: ops.to_string(),
            err,
        })?;
    }
    for text in &patches.strategic {
        let patch = load_patch(text).map_err(|err| AssembleError::Load {
            origin: patches.source,
            err,
        })?;
        let applied = match &patch {
            Patch::Json(ops) => apply_json_patch(config, ops),
            Patch::Strategic(docs) => strategic_merge(config, docs),
        };
        applied.map_err(|err| AssembleError::Apply {
            patch: text.clone(),
            err,
        })?;
    }
    Ok(())
}

/// Adds `metal.sidero.dev/uuid=<uuid>` to `machine.kubelet.extraArgs["node-labels"]`
/// (comma-appended to an existing value), creating the path as needed.
pub fn node_label(config: &mut Config, uuid: &str) -> Result<(), AssembleError> {
    if config.docs.len() <= 1 {
        let version = config
            .docs
            .first()
            .and_then(|d| d.get("version"))
            .and_then(Value::as_str);
        if version != Some("v1alpha1") {
            return Err(AssembleError::UnknownConfigType);
        }
    }
    if config.machine_config_mut().is_none() {
        config
            .docs
            .insert(0, Map::from_iter([("version".into(), json!("v1alpha1"))]));
    }
    let label = format!("{NODE_LABEL_KEY}={uuid}");
    let doc = config
        .docs
        .iter_mut()
        .find(|d| DocId::of(d) == DocId::MachineConfig)
        .ok_or(AssembleError::UnknownConfigType)?;
    let args = object_at(doc, &["machine", "kubelet", "extraArgs"])
        .ok_or(AssembleError::UnknownConfigType)?;
    let value = match args.get("node-labels").and_then(Value::as_str) {
        Some(existing) if existing.split(',').any(|l| l == label) => existing.to_owned(),
        Some(existing) if !existing.is_empty() => format!("{existing},{label}"),
        _ => label,
    };
    args.insert("node-labels".into(), Value::String(value));
    Ok(())
}

/// The mapping at `path`, created (or replacing a non-mapping) where missing.
fn object_at<'a>(
    map: &'a mut Map<String, Value>,
    path: &[&str],
) -> Option<&'a mut Map<String, Value>> {
    let Some((first, rest)) = path.split_first() else {
        return Some(map);
    };
    let slot = map.entry(first.to_string()).or_insert_with(|| json!({}));
    if !slot.is_object() {
        *slot = json!({});
    }
    object_at(slot.as_object_mut()?, rest)
}

fn siderolink_docs(node: &NodeDocs) -> Config {
    let doc = |v: Value| match v {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    Config {
        docs: vec![
            doc(
                json!({"apiVersion": "v1alpha1", "kind": "SideroLinkConfig", "apiUrl": node.api_url}),
            ),
            doc(
                json!({"apiVersion": "v1alpha1", "kind": "EventSinkConfig", "endpoint": node.event_sink}),
            ),
            doc(
                json!({"apiVersion": "v1alpha1", "kind": "KmsgLogConfig", "name": "remote-log", "url": node.kmsg_url}),
            ),
        ],
    }
}

#[cfg(test)]
mod tests;
