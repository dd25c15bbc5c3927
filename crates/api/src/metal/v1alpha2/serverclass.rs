//! `ServerClass` (`metal.sidero.dev/v1alpha2`, storage version): a pool of matching Servers.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::HardwareInformation;
use crate::metal::common::{BootFromDiskMethod, ConfigPatch, InvalidValue, parse_optional};
use crate::reference::ObjectReference;

/// Name of the automatically created ServerClass that includes every Server.
pub const SERVER_CLASS_ANY: &str = "any";

/// ServerClassSpec defines the desired state of ServerClass.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "metal.sidero.dev",
    version = "v1alpha2",
    kind = "ServerClass",
    plural = "serverclasses",
    singular = "serverclass",
    status = "ServerClassStatus",
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
    /// Talos strategic merge patches applied to the machine configuration of the servers
    /// provisioned via this server class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategic_patches: Option<Vec<String>>,
    /// BootFromDiskMethod specifies the method to exit iPXE to force boot from disk.
    ///
    /// If not set, controller default is used.
    /// Valid values: ipxe-exit, http-404, ipxe-sanboot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_from_disk_method: Option<String>,
}

/// What a Server must look like to belong to the class (besides `selector`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Qualifiers {
    /// Partial hardware templates; a server matches if any one of them partially equals its hardware.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware: Option<Vec<HardwareInformation>>,
    /// Legacy label maps; a server matches if any single key/value pair of any map is among its labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selectors: Option<Vec<BTreeMap<String, String>>>,
}

/// ServerClassStatus defines the observed state of ServerClass.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = crate::metal::schema::require_server_lists)]
pub struct ServerClassStatus {
    /// Names of the matching servers that are not in use.
    // Always serialized (`[]` when empty); required in the schema.
    #[serde(default)]
    pub servers_available: Vec<String>,
    /// Names of the matching servers that are in use.
    // Always serialized (`[]` when empty); required in the schema.
    #[serde(default)]
    pub servers_in_use: Vec<String>,
}

impl ServerClass {
    /// Name of the automatically created class that includes every Server.
    pub const ANY: &'static str = SERVER_CLASS_ANY;
}

impl ServerClassSpec {
    /// The class's boot-from-disk method; `Ok(None)` when unset or empty (controller default).
    pub fn boot_from_disk_method(&self) -> Result<Option<BootFromDiskMethod>, InvalidValue> {
        parse_optional(self.boot_from_disk_method.as_deref())
    }

    /// Name of the referenced Environment, if any and non-empty.
    pub fn environment_name(&self) -> Option<&str> {
        crate::metal::common::non_empty(self.environment_ref.as_ref()?.name.as_deref())
    }
}

impl Qualifiers {
    /// Whether neither `hardware` nor `labelSelectors` has an entry (matches every server).
    pub fn is_empty(&self) -> bool {
        self.hardware.as_ref().is_none_or(Vec::is_empty)
            && self.label_selectors.as_ref().is_none_or(Vec::is_empty)
    }
}
