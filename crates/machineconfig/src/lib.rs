//! Talos machine configuration, as the metadata server handles it: a config is a set of YAML
//! documents (the `v1alpha1` machine config plus typed documents such as
//! `ExtensionServiceConfig`), patched with RFC 6902 JSON patches and Talos strategic-merge
//! patches, then given the node label and SideroLink documents (spec §6).
//!
//! The model is generic YAML (no Talos schema), so fields of Talos versions newer than this
//! code survive patching. Keys come out sorted: Talos reads the documents, not their layout.

mod assemble;
mod document;
mod error;
mod json6902;
mod strategic;

pub use assemble::{AssembleError, NODE_LABEL_KEY, NodeDocs, Patches, assemble, node_label};
pub use document::{Config, DocId, is_multi_document};
pub use error::Error;
pub use json6902::apply_json_patch;
pub use strategic::{Patch, load_patch, strategic_merge};
