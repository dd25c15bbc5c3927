//! `Server` (`metal.sidero.dev/v1alpha1`): `system` and `cpu` instead of `hardware`, no
//! `strategicPatches`.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ServerStatus;
use crate::metal::common::{Bmc, ConfigPatch, ManagementApi};
use crate::reference::ObjectReference;

/// ServerSpec defines the desired state of Server.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "metal.sidero.dev",
    version = "v1alpha1",
    kind = "Server",
    plural = "servers",
    singular = "server",
    status = "ServerStatus",
    storage = false,
    derive = "PartialEq",
    derive = "Default",
    doc = "Server is the Schema for the servers API.",
    printcolumn = r#"{"name":"Hostname","type":"string","jsonPath":".spec.hostname","description":"server hostname"}"#,
    printcolumn = r#"{"name":"BMC IP","type":"string","priority":1,"jsonPath":".spec.bmc.endpoint","description":"BMC IP"}"#,
    printcolumn = r#"{"name":"Accepted","type":"boolean","jsonPath":".spec.accepted","description":"indicates if the server is accepted"}"#,
    printcolumn = r#"{"name":"Cordoned","type":"boolean","jsonPath":".spec.cordoned","description":"indicates if the server is cordoned"}"#,
    printcolumn = r#"{"name":"Allocated","type":"boolean","jsonPath":".status.inUse","description":"indicates that the server has been allocated"}"#,
    printcolumn = r#"{"name":"Clean","type":"boolean","jsonPath":".status.isClean","description":"indicates if the server is clean or not"}"#,
    printcolumn = r#"{"name":"Power","type":"string","jsonPath":".status.power","description":"display the current power status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp","description":"The age of this resource"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = crate::metal::schema::require_accepted)]
pub struct ServerSpec {
    /// Environment to boot this server with (only `name` is used; highest priority).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment_ref: Option<ObjectReference>,
    /// Hostname the agent had when it registered the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// SMBIOS system information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<SystemInformation>,
    /// First processor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuInformation>,
    /// BMC defines data about how to talk to the node via ipmitool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bmc: Option<Bmc>,
    /// ManagementAPI defines data about how to talk to the node via simple HTTP API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub management_api: Option<ManagementApi>,
    /// RFC 6902 patches applied to the Talos machine configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_patches: Option<Vec<ConfigPatch>>,
    /// Gate for any destructive action on the server.
    // Always serialized, required in the schema; a missing value reads as `false`.
    #[serde(default)]
    pub accepted: bool,
    /// Excludes the server from every ServerClass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cordoned: Option<bool>,
    /// Serve the Talos environment even after installation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pxe_boot_always: Option<bool>,
    /// BootFromDiskMethod specifies the method to exit iPXE to force boot from disk.
    ///
    /// If not set, controller default is used.
    /// Valid values: ipxe-exit, http-404, ipxe-sanboot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_from_disk_method: Option<String>,
    /// PXEMode specifies the method to trigger PXE boot via IPMI.
    ///
    /// If not set, controller default is used.
    /// Valid values: uefi, bios.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pxe_mode: Option<String>,
}

/// SMBIOS system information (v1alpha1: no `uuid`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SystemInformation {
    /// System manufacturer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    /// Product name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_name: Option<String>,
    /// Product version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Serial number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    /// SKU number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku_number: Option<String>,
    /// Product family.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
}

/// Processor information (v1alpha1).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CpuInformation {
    /// Manufacturer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    /// Model name (`productName` in v1alpha2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}
