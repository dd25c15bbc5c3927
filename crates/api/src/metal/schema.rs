//! Schema adjustments that make the generated CRDs match upstream's controller-gen output.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

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

/// Adds `names` to an object schema's `required` list.
fn require(schema: &mut Schema, names: &[&str]) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    let required = object
        .entry("required")
        .or_insert_with(|| serde_json::Value::Array(Vec::new()));
    if let Some(list) = required.as_array_mut() {
        for name in names {
            if !list.iter().any(|v| v.as_str() == Some(name)) {
                list.push((*name).into());
            }
        }
    }
}

/// `spec.accepted` is required although we deserialize a missing value as `false`.
pub(crate) fn require_accepted(schema: &mut Schema) {
    require(schema, &["accepted"]);
}

/// ServerClass status lists are required although we deserialize missing ones as empty.
pub(crate) fn require_server_lists(schema: &mut Schema) {
    require(schema, &["serversAvailable", "serversInUse"]);
}

/// Brings a derived CRD to the shape controller-gen gives upstream's: `listKind` set, root
/// `apiVersion`/`kind`/`metadata` properties declared, no root `title`, and no `nullable` or
/// `default` anywhere (kube-derive adds `nullable: true` for `Option` fields and schemars a
/// `default` for `#[serde(default)]` fields; upstream has neither, so the API server prunes
/// explicit `null`s and does not default, e.g., the required `spec.accepted`).
pub(crate) fn upstream_shape(crd: &mut CustomResourceDefinition) {
    let names = &mut crd.spec.names;
    names.list_kind = Some(format!("{}List", names.kind));
    for version in &mut crd.spec.versions {
        let Some(root) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        else {
            continue;
        };
        strip_props(root);
        root.title = None;
        let properties = root.properties.get_or_insert_with(Default::default);
        properties.insert("apiVersion".into(), string_prop(API_VERSION_DOC));
        properties.insert("kind".into(), string_prop(KIND_DOC));
        properties.insert(
            "metadata".into(),
            JSONSchemaProps {
                type_: Some("object".into()),
                ..Default::default()
            },
        );
    }
}

const API_VERSION_DOC: &str = "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
const KIND_DOC: &str = "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";

fn string_prop(description: &str) -> JSONSchemaProps {
    JSONSchemaProps {
        description: Some(description.into()),
        type_: Some("string".into()),
        ..Default::default()
    }
}

fn strip_props(props: &mut JSONSchemaProps) {
    props.nullable = None;
    props.default = None;
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
        .chain(props.all_of.iter_mut().flatten())
        .chain(props.any_of.iter_mut().flatten())
        .chain(props.one_of.iter_mut().flatten())
        .chain(props.not.as_deref_mut());
    for child in children {
        strip_props(child);
    }
    match props.items.as_mut() {
        Some(JSONSchemaPropsOrArray::Schema(item)) => strip_props(item),
        Some(JSONSchemaPropsOrArray::Schemas(items)) => items.iter_mut().for_each(strip_props),
        None => {}
    }
    if let Some(JSONSchemaPropsOrBool::Schema(extra)) = props.additional_properties.as_mut() {
        strip_props(extra);
    }
}
