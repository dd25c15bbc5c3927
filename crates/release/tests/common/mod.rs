//! Shared by the release tests: a release written to a temp folder, and its documents.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod managers;
pub mod through_api;

use std::path::PathBuf;

use serde_json::Value;
use sidero_release::{Release, vars};

pub const VERSION: &str = "v0.7.0";

/// The release written by the same code the `sidero-release` binary runs.
pub fn written() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let release = Release {
        version: VERSION.into(),
        registry: "registry.test".into(),
    };
    let dir = release.write(tmp.path()).unwrap();
    (tmp, dir)
}

pub fn read(dir: &std::path::Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

pub fn docs(text: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(text)
        .unwrap()
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

/// The components with every variable at its default, or at a value from `values`.
pub fn render(text: &str, values: &[(&str, &str)]) -> Vec<Value> {
    let out = vars::envsubst(text, |n| {
        values
            .iter()
            .find(|(k, _)| *k == n)
            .map(|(_, v)| (*v).to_string())
    })
    .unwrap();
    docs(&out)
}

pub fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}
