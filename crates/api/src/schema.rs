//! Schema helpers for fields whose OpenAPI shape schemars cannot infer the way upstream's
//! CRDs declare it.

use schemars::{Schema, SchemaGenerator, json_schema};

/// Free-form JSON (e.g. a JSON-patch `value`): `x-kubernetes-preserve-unknown-fields: true`.
pub fn any_json(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "x-kubernetes-preserve-unknown-fields": true })
}

/// Optional free-form JSON, same schema as [`any_json`].
pub fn any_json_opt(g: &mut SchemaGenerator) -> Schema {
    any_json(g)
}
