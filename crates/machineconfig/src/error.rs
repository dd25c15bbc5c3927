//! Errors of parsing and patching.

/// Why a config or a patch could not be used. Messages are shown to users (in `/configdata`
/// error bodies and Events), so they say what was wrong with which input.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The text is not valid YAML (or exceeds the parser's limits).
    #[error("invalid YAML: {0}")]
    Yaml(String),
    /// A document is not a mapping.
    #[error("document {index} is not a mapping")]
    NotAMapping {
        /// Zero-based position of the document.
        index: usize,
    },
    /// A JSON patch is malformed or does not apply.
    #[error("{0}")]
    JsonPatch(String),
    /// The config has no `v1alpha1` machine config document to apply a JSON patch to.
    #[error("the config has no v1alpha1 machine config document")]
    NoMachineConfig,
    /// A strategic-merge patch is malformed.
    #[error("invalid strategic merge patch: {0}")]
    Strategic(String),
    /// The config could not be rendered back to YAML.
    #[error("failure converting config to YAML: {0}")]
    Render(String),
}
