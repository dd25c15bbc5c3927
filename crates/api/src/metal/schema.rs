//! Schema adjustments specific to the metal kinds (see [`crate::schema`]).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use crate::schema::require;

/// `integer`/`int32`: what controller-gen emits for Go's `uint32` (schemars would say `uint32`
/// with `minimum: 0`).
pub(crate) fn int32(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "integer", "format": "int32" })
}

/// `metav1.LabelSelector` with the `x-kubernetes-map-type: atomic` marker upstream's CRD has.
pub(crate) fn label_selector(generator: &mut SchemaGenerator) -> Schema {
    let mut schema = LabelSelector::json_schema(generator);
    schema.insert("x-kubernetes-map-type".into(), "atomic".into());
    schema
}

/// `spec.accepted` is required although we deserialize a missing value as `false`.
pub(crate) fn require_accepted(schema: &mut Schema) {
    require(schema, &["accepted"]);
}

/// ServerClass status lists are required although we deserialize missing ones as empty.
pub(crate) fn require_server_lists(schema: &mut Schema) {
    require(schema, &["serversAvailable", "serversInUse"]);
}
