//! Schema helpers for fields whose OpenAPI shape schemars cannot infer the way upstream's
//! CRDs declare it, and the post-processing that makes a derived CRD look like controller-gen's:
//!
//! * fields Go always serializes are `#[serde(default)]` on our side (so a hand-written object
//!   missing them still parses), which makes schemars treat them as optional; struct-level
//!   `transform`s built on [`require`] put them back into `required` where upstream has them;
//! * upstream's schemas carry neither `nullable`, `default` nor `title`, while schemars emits
//!   `nullable: true` for every `Option`, `default` for every `#[serde(default)]` field and the
//!   type name as the root `title`; [`upstream_parity`] removes them, adds the root
//!   `apiVersion`/`kind`/`metadata` properties controller-gen writes, and sets `listKind`.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use schemars::{Schema, SchemaGenerator, json_schema};

/// Free-form JSON (e.g. a JSON-patch `value`): `x-kubernetes-preserve-unknown-fields: true`.
pub fn any_json(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "x-kubernetes-preserve-unknown-fields": true })
}

/// Optional free-form JSON, same schema as [`any_json`].
pub fn any_json_opt(g: &mut SchemaGenerator) -> Schema {
    any_json(g)
}

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

const API_VERSION_DESCRIPTION: &str = "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
const KIND_DESCRIPTION: &str = "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";

pub(crate) fn typed(type_: &str, description: Option<&str>) -> JSONSchemaProps {
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
            // kube-derive's root `required: [spec]` stays (upstream's spec is optional): an
            // object without a spec would make every typed watcher of its kind fail to list.
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
