//! Schema adjustments specific to the infrastructure kinds (see [`crate::schema`]).

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use schemars::{Schema, SchemaGenerator, json_schema};

pub(crate) use crate::schema::upstream_parity;
use crate::schema::{require, typed};

/// `required: [ready]`.
pub(crate) fn require_ready(schema: &mut Schema) {
    require(schema, &["ready"]);
}

/// `required: [host, port]`.
pub(crate) fn require_host_port(schema: &mut Schema) {
    require(schema, &["host", "port"]);
}

/// `required: [address, publicKey]`.
pub(crate) fn require_siderolink(schema: &mut Schema) {
    require(schema, &["address", "publicKey"]);
}

/// A Go `int`: `type: integer` without a `format`.
pub(crate) fn go_int(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "integer" })
}

/// Adds upstream's `status: {type: object}` property (an empty Go struct that is always
/// serialized) to every version of a CRD whose Rust type has no status.
pub(crate) fn with_empty_status(
    mut crd: CustomResourceDefinition,
    description: &str,
) -> CustomResourceDefinition {
    for version in &mut crd.spec.versions {
        if let Some(root) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        {
            root.properties
                .get_or_insert_with(Default::default)
                .insert("status".into(), typed("object", Some(description)));
        }
    }
    crd
}
