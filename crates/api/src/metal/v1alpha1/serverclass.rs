//! `ServerClass` (`metal.sidero.dev/v1alpha1`): qualifiers `cpu[]`, `systemInformation[]` and
//! `labelSelectors[]`, no `strategicPatches`.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CpuInformation, ServerClassStatus, SystemInformation};
use crate::metal::common::ConfigPatch;
use crate::reference::ObjectReference;

/// ServerClassSpec defines the desired state of ServerClass.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "metal.sidero.dev",
    version = "v1alpha1",
    kind = "ServerClass",
    plural = "serverclasses",
    singular = "serverclass",
    status = "ServerClassStatus",
    storage = false,
    derive = "PartialEq",
    derive = "Default",
    doc = "ServerClass is the Schema for the serverclasses API.",
    printcolumn = r#"{"name":"Available","type":"string","jsonPath":".status.serversAvailable","description":"the number of available servers"}"#,
    printcolumn = r#"{"name":"In Use","type":"string","jsonPath":".status.serversInUse","description":"the number of servers in use"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp","description":"The age of this resource"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ServerClassSpec {
    /// Reference to the environment which should be used to provision the servers via this server class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment_ref: Option<ObjectReference>,
    /// Qualifiers to match on the server spec.
    ///
    /// If qualifiers are empty, they match all servers.
    /// Server should match both qualifiers and selector conditions to be included into the server class.
    // Always serialized (possibly as `{}`), as upstream does.
    #[serde(default)]
    pub qualifiers: Qualifiers,
    /// Label selector to filter the matching servers based on labels.
    /// A label selector is a label query over a set of resources. The result of matchLabels and
    /// matchExpressions are ANDed. An empty label selector matches all objects. A null label selector matches no objects.
    // Always serialized (possibly as `{}`), as upstream does.
    #[serde(default)]
    #[schemars(schema_with = "crate::metal::schema::label_selector")]
    pub selector: LabelSelector,
    /// Set of config patches to apply to the machine configuration to the servers provisioned via this server class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_patches: Option<Vec<ConfigPatch>>,
    /// BootFromDiskMethod specifies the method to exit iPXE to force boot from disk.
    ///
    /// If not set, controller default is used.
    /// Valid values: ipxe-exit, http-404, ipxe-sanboot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_from_disk_method: Option<String>,
}

/// What a Server must look like to belong to the class (v1alpha1: the `cpu` list and the
/// `systemInformation` list are AND-ed with each other).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Qualifiers {
    /// Processor templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Vec<CpuInformation>>,
    /// System information templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_information: Option<Vec<SystemInformation>>,
    /// Legacy label maps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selectors: Option<Vec<BTreeMap<String, String>>>,
}
