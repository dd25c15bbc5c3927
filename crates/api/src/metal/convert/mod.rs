//! Conversion between `metal.sidero.dev/v1alpha1` and the hub `v1alpha2` (spec §2.8).
//!
//! Down-conversion (hub → v1alpha1) maps the fields and stores the whole hub object, minus its
//! `metadata`, as JSON in the [`CONVERSION_DATA_ANNOTATION`] (Cluster API convention).
//!
//! Up-conversion (v1alpha1 → hub) maps the fields, then — unlike upstream, which reads the
//! annotation but restores nothing — restores what v1alpha1 cannot express from that data:
//! `strategicPatches`, and the hardware details beyond `system`/`cpu` (exactly when the
//! v1alpha1 `system`/`cpu` or qualifier lists are unchanged, merged field by field otherwise).
//! The annotation is removed from the result, so hub → v1alpha1 → hub is lossless. Invalid
//! annotation data is an error, as upstream.

mod environment;
mod server;
mod serverclass;

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{API_VERSION_V1ALPHA1, API_VERSION_V1ALPHA2};

pub use environment::{environment_to_v1alpha1, environment_to_v1alpha2};
pub use server::{
    server_spec_to_v1alpha1, server_spec_to_v1alpha2, server_to_v1alpha1, server_to_v1alpha2,
};
pub use serverclass::{
    qualifiers_to_v1alpha1, qualifiers_to_v1alpha2, serverclass_spec_to_v1alpha1,
    serverclass_spec_to_v1alpha2, serverclass_to_v1alpha1, serverclass_to_v1alpha2,
};

/// Annotation holding the hub object on down-converted objects.
pub const CONVERSION_DATA_ANNOTATION: &str = "cluster.x-k8s.io/conversion-data";

/// Why an object could not be converted.
#[derive(Debug, thiserror::Error)]
pub enum ConversionError {
    /// The hub object could not be serialized into the annotation.
    #[error("cannot serialize the hub object into {CONVERSION_DATA_ANNOTATION}: {0}")]
    Marshal(#[source] serde_json::Error),
    /// The annotation does not hold a valid hub object.
    #[error("invalid {CONVERSION_DATA_ANNOTATION} annotation: {0}")]
    InvalidConversionData(#[source] serde_json::Error),
    /// The object is not a valid instance of its declared version.
    #[error("cannot decode {kind} {api_version}: {source}")]
    Decode {
        /// Kind of the object.
        kind: String,
        /// Version the object declared.
        api_version: String,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
    /// The converted object could not be encoded.
    #[error("cannot encode the converted object: {0}")]
    Encode(#[source] serde_json::Error),
    /// The object lacks `apiVersion` or `kind`.
    #[error("object has no apiVersion or kind")]
    MissingTypeMeta,
    /// Not a conversion this module knows.
    #[error("cannot convert {kind} from {from} to {to}")]
    Unsupported {
        /// Kind of the object.
        kind: String,
        /// Its version.
        from: String,
        /// The requested version.
        to: String,
    },
}

/// Converts one object, as found in a `ConversionReview` request, to `desired_api_version`.
///
/// An object already in the desired version is returned unchanged.
pub fn convert_object(object: &Value, desired_api_version: &str) -> Result<Value, ConversionError> {
    let field = |name: &str| object.get(name).and_then(Value::as_str);
    let (Some(api_version), Some(kind)) = (field("apiVersion"), field("kind")) else {
        return Err(ConversionError::MissingTypeMeta);
    };
    if api_version == desired_api_version {
        return Ok(object.clone());
    }
    let up = api_version == API_VERSION_V1ALPHA1 && desired_api_version == API_VERSION_V1ALPHA2;
    let down = api_version == API_VERSION_V1ALPHA2 && desired_api_version == API_VERSION_V1ALPHA1;
    match (kind, up, down) {
        ("Server", true, _) => via(object, kind, api_version, server_to_v1alpha2),
        ("Server", _, true) => via(object, kind, api_version, server_to_v1alpha1),
        ("ServerClass", true, _) => via(object, kind, api_version, serverclass_to_v1alpha2),
        ("ServerClass", _, true) => via(object, kind, api_version, serverclass_to_v1alpha1),
        ("Environment", true, _) => via(object, kind, api_version, environment_to_v1alpha2),
        ("Environment", _, true) => via(object, kind, api_version, environment_to_v1alpha1),
        _ => Err(ConversionError::Unsupported {
            kind: kind.to_owned(),
            from: api_version.to_owned(),
            to: desired_api_version.to_owned(),
        }),
    }
}

fn via<A, B>(
    object: &Value,
    kind: &str,
    api_version: &str,
    convert: impl FnOnce(&A) -> Result<B, ConversionError>,
) -> Result<Value, ConversionError>
where
    A: DeserializeOwned,
    B: Serialize,
{
    let typed: A =
        serde_json::from_value(object.clone()).map_err(|source| ConversionError::Decode {
            kind: kind.to_owned(),
            api_version: api_version.to_owned(),
            source,
        })?;
    serde_json::to_value(convert(&typed)?).map_err(ConversionError::Encode)
}

/// `meta` plus the annotation holding `hub` (without its metadata) as JSON.
fn annotate<H: Serialize>(meta: &ObjectMeta, hub: &H) -> Result<ObjectMeta, ConversionError> {
    let mut value = serde_json::to_value(hub).map_err(ConversionError::Marshal)?;
    if let Some(object) = value.as_object_mut() {
        object.remove("metadata");
    }
    let data = serde_json::to_string(&value).map_err(ConversionError::Marshal)?;
    let mut meta = meta.clone();
    meta.annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(CONVERSION_DATA_ANNOTATION.to_owned(), data);
    Ok(meta)
}

/// `meta` without the annotation (and without an annotation map left empty by removing it),
/// and the hub `spec` stored in the annotation, if any.
fn restore<S: DeserializeOwned>(
    meta: &ObjectMeta,
) -> Result<(ObjectMeta, Option<S>), ConversionError> {
    let mut meta = meta.clone();
    let data = meta
        .annotations
        .as_mut()
        .and_then(|a| a.remove(CONVERSION_DATA_ANNOTATION));
    if meta.annotations.as_ref().is_some_and(BTreeMap::is_empty) {
        meta.annotations = None;
    }
    let Some(data) = data else {
        return Ok((meta, None));
    };
    let mut hub: Value =
        serde_json::from_str(&data).map_err(ConversionError::InvalidConversionData)?;
    let spec = match hub.as_object_mut().and_then(|o| o.remove("spec")) {
        Some(spec) => {
            Some(serde_json::from_value(spec).map_err(ConversionError::InvalidConversionData)?)
        }
        None => None,
    };
    Ok((meta, spec))
}

/// `Some(list)` only for a non-empty list.
fn non_empty_vec<T>(list: Vec<T>) -> Option<Vec<T>> {
    (!list.is_empty()).then_some(list)
}
