//! Conversion between `v1alpha2` and the `v1alpha3` hub (spec §2.8).
//!
//! Field mappings are upstream's. On top of them we follow CAPI's `conversion-data` convention:
//!
//! * **down** (v1alpha3 → v1alpha2) stores the full hub object, without `metadata`, as JSON in
//!   the [`CONVERSION_DATA_ANNOTATION`] annotation of the result;
//! * **up** (v1alpha2 → v1alpha3) removes that annotation and — unlike upstream, which parses it
//!   and throws it away — restores from it the fields v1alpha2 cannot express
//!   (`MetalMachine.spec.serverClassRef`, `.status.addresses`, `.status.conditions`, the same
//!   `serverClassRef` inside a template, and whether a MetalCluster had a status at all).
//!   Fields v1alpha2 does express always come from the v1alpha2 object, so edits made through
//!   v1alpha2 win. Hence v1alpha3 → v1alpha2 → v1alpha3 is lossless.
//!
//! Every conversion is a `TryFrom` impl between the typed objects; [`convert`] does the same on
//! raw JSON objects, for the conversion webhook.

mod cluster;
mod machine;
#[cfg(test)]
mod tests;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{V1ALPHA2, V1ALPHA3, v1alpha2, v1alpha3};

/// Annotation holding the hub object on down-converted objects (CAPI's `DataAnnotation`).
pub const CONVERSION_DATA_ANNOTATION: &str = "cluster.x-k8s.io/conversion-data";

/// Why a conversion failed.
#[derive(Debug, thiserror::Error)]
pub enum ConversionError {
    /// No conversion exists between these versions of this kind.
    #[error("cannot convert {kind} from {from:?} to {to:?}")]
    Unsupported {
        /// The object's kind.
        kind: String,
        /// The object's apiVersion.
        from: String,
        /// The requested apiVersion.
        to: String,
    },
    /// The object does not parse as its declared kind and version.
    #[error("invalid {kind} object: {source}")]
    InvalidObject {
        /// The object's kind.
        kind: String,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The `cluster.x-k8s.io/conversion-data` annotation does not parse.
    #[error("invalid cluster.x-k8s.io/conversion-data annotation: {0}")]
    InvalidAnnotation(serde_json::Error),
    /// An object could not be serialized to JSON.
    #[error("cannot serialize converted object: {0}")]
    Serialize(serde_json::Error),
}

/// Converts a raw object (as found in a `ConversionReview`) to `desired_api_version`.
///
/// An object already in the desired version is returned unchanged. ServerBinding only has
/// `v1alpha3`, so only that identity conversion succeeds for it.
pub fn convert(object: Value, desired_api_version: &str) -> Result<Value, ConversionError> {
    let field = |name: &str| {
        object
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (kind, from) = (field("kind"), field("apiVersion"));
    if from == desired_api_version {
        return Ok(object);
    }
    match (kind.as_str(), from.as_str(), desired_api_version) {
        ("MetalCluster", V1ALPHA2, V1ALPHA3) => {
            via::<v1alpha2::MetalCluster, v1alpha3::MetalCluster>(&kind, object)
        }
        ("MetalCluster", V1ALPHA3, V1ALPHA2) => {
            via::<v1alpha3::MetalCluster, v1alpha2::MetalCluster>(&kind, object)
        }
        ("MetalMachine", V1ALPHA2, V1ALPHA3) => {
            via::<v1alpha2::MetalMachine, v1alpha3::MetalMachine>(&kind, object)
        }
        ("MetalMachine", V1ALPHA3, V1ALPHA2) => {
            via::<v1alpha3::MetalMachine, v1alpha2::MetalMachine>(&kind, object)
        }
        ("MetalMachineTemplate", V1ALPHA2, V1ALPHA3) => {
            via::<v1alpha2::MetalMachineTemplate, v1alpha3::MetalMachineTemplate>(&kind, object)
        }
        ("MetalMachineTemplate", V1ALPHA3, V1ALPHA2) => {
            via::<v1alpha3::MetalMachineTemplate, v1alpha2::MetalMachineTemplate>(&kind, object)
        }
        _ => Err(ConversionError::Unsupported {
            kind,
            from,
            to: desired_api_version.to_owned(),
        }),
    }
}

fn via<A, B>(kind: &str, object: Value) -> Result<Value, ConversionError>
where
    A: DeserializeOwned,
    B: TryFrom<A, Error = ConversionError> + Serialize,
{
    let typed: A =
        serde_json::from_value(object).map_err(|source| ConversionError::InvalidObject {
            kind: kind.to_owned(),
            source,
        })?;
    serde_json::to_value(B::try_from(typed)?).map_err(ConversionError::Serialize)
}

/// Writes `hub` (minus its metadata) as JSON into the conversion-data annotation of `meta`.
fn store_hub<T: Serialize>(hub: &T, meta: &mut ObjectMeta) -> Result<(), ConversionError> {
    let mut value = serde_json::to_value(hub).map_err(ConversionError::Serialize)?;
    if let Some(obj) = value.as_object_mut() {
        obj.remove("metadata");
    }
    let data = serde_json::to_string(&value).map_err(ConversionError::Serialize)?;
    meta.annotations
        .get_or_insert_with(Default::default)
        .insert(CONVERSION_DATA_ANNOTATION.to_owned(), data);
    Ok(())
}

/// The parts of a hub object the annotation carries (its `spec` and `status`).
#[derive(serde::Deserialize)]
struct HubData<S, T> {
    #[serde(default)]
    spec: S,
    #[serde(default = "Option::default")]
    status: Option<T>,
}

/// Removes the conversion-data annotation from `meta` (dropping an emptied map) and parses it.
fn take_hub<S, T>(meta: &mut ObjectMeta) -> Result<Option<HubData<S, T>>, ConversionError>
where
    S: DeserializeOwned + Default,
    T: DeserializeOwned,
{
    let Some(annotations) = meta.annotations.as_mut() else {
        return Ok(None);
    };
    let data = annotations.remove(CONVERSION_DATA_ANNOTATION);
    if annotations.is_empty() {
        meta.annotations = None;
    }
    data.map(|d| serde_json::from_str(&d).map_err(ConversionError::InvalidAnnotation))
        .transpose()
}
