//! Schema adjustments that make the derived CRDs match upstream's controller-gen output.
//!
//! * Fields Go always serializes are `#[serde(default)]` on our side (so a hand-written object
//!   missing them still parses), which makes schemars treat them as optional; the
//!   struct-level `transform`s below put them back into `required` where upstream has them.
//! * Upstream's schemas carry neither `nullable`, `default` nor `title` anywhere, while
//!   schemars emits `nullable: true` for every `Option`, `default` for every
//!   `#[serde(default)]` field and the type name as the root `title`. [`upstream_parity`]
//!   removes them from a finished CRD, drops the root `required: [spec]` kube adds (upstream's
//!   `spec` is optional), adds the root `apiVersion`/`kind`/`metadata` properties
//!   controller-gen writes, and sets `names.listKind`.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use schemars::{Schema, SchemaGenerator, json_schema};

/// Adds `fields` to the `required` list of an object schema (idempotent, keeps it sorted).
pub(crate) fn require(schema: &mut Schema, fields: &[&str]) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    let mut names: Vec<String> = obj
        .get("required")
        .and_then(|r| r.as_array())
        .map(|r| {
            r.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    names.extend(fields.iter().map(|f| (*f).to_string()));
    names.sort();
    names.dedup();
    obj.insert("required".into(), names.into());
}

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

const API_VERSION_DESCRIPTION: &str = "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
const KIND_DESCRIPTION: &str = "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";

fn typed(type_: &str, description: Option<&str>) -> JSONSchemaProps {
    JSONSchemaProps {
        description: description.map(String::from),
        type_: Some(type_.into()),
        ..Default::default()
    }
}

/// Makes a derived CRD look like controller-gen's; see the module docs.
pub(crate) fn upstream_parity(mut crd: CustomResourceDefinition) -> CustomResourceDefinition {
    crd.spec.names.list_kind = Some(format!("{}List", crd.spec.names.kind));
    for version in &mut crd.spec.versions {
        if let Some(root) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        {
            root.required = None;
            scrub(root);
            let props = root.properties.get_or_insert_with(Default::default);
            props.insert(
                "apiVersion".into(),
                typed("string", Some(API_VERSION_DESCRIPTION)),
            );
            props.insert("kind".into(), typed("string", Some(KIND_DESCRIPTION)));
            props.insert("metadata".into(), typed("object", None));
        }
    }
    crd
}

fn scrub(props: &mut JSONSchemaProps) {
    props.nullable = None;
    props.default = None;
    props.title = None;
    let children = props
        .properties
        .iter_mut()
        .flat_map(|m| m.values_mut())
        .chain(
            props
                .pattern_properties
                .iter_mut()
                .flat_map(|m| m.values_mut()),
        )
        .chain(props.definitions.iter_mut().flat_map(|m| m.values_mut()))
        .chain(props.all_of.iter_mut().flatten())
        .chain(props.any_of.iter_mut().flatten())
        .chain(props.one_of.iter_mut().flatten())
        .chain(props.not.as_deref_mut());
    for child in children {
        scrub(child);
    }
    match props.items.as_mut() {
        Some(JSONSchemaPropsOrArray::Schema(s)) => scrub(s),
        Some(JSONSchemaPropsOrArray::Schemas(v)) => v.iter_mut().for_each(scrub),
        None => {}
    }
    if let Some(JSONSchemaPropsOrBool::Schema(s)) = props.additional_properties.as_mut() {
        scrub(s);
    }
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
