//! `Server` (`metal.sidero.dev/v1alpha2`, storage version): one bare-metal machine.

use k8s_openapi::api::core::v1::NodeAddress;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::HardwareInformation;
use crate::condition::Condition;
use crate::metal::common::{
    Bmc, BootFromDiskMethod, ConfigPatch, InvalidValue, ManagementApi, PxeMode, parse_optional,
};
use crate::reference::ObjectReference;

/// Condition type driving the wipe/reboot flow.
pub const CONDITION_POWER_CYCLE: &str = "PowerCycle";
/// Condition type recording that the server was PXE booted into Talos.
pub const CONDITION_PXE_BOOTED: &str = "PXEBooted";
/// Finalizer the Server controller adds.
pub const SERVER_FINALIZER: &str = "storage.finalizers.server.k8s.io";

/// `status.power` when the server is powered on.
pub const POWER_ON: &str = "on";
/// `status.power` when the server is powered off.
pub const POWER_OFF: &str = "off";
/// `status.power` when the power state cannot be read.
pub const POWER_UNKNOWN: &str = "unknown";

/// ServerSpec defines the desired state of Server.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "metal.sidero.dev",
    version = "v1alpha2",
    kind = "Server",
    plural = "servers",
    singular = "server",
    status = "ServerStatus",
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
    /// Hardware inventory, filled once when the agent registers a new server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware: Option<HardwareInformation>,
    /// Hostname the agent had when it registered the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// BMC defines data about how to talk to the node via ipmitool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bmc: Option<Bmc>,
    /// ManagementAPI defines data about how to talk to the node via simple HTTP API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub management_api: Option<ManagementApi>,
    /// RFC 6902 patches applied to the Talos machine configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_patches: Option<Vec<ConfigPatch>>,
    /// Talos strategic merge patches (YAML or JSON documents) applied to the machine configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategic_patches: Option<Vec<String>>,
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

/// ServerStatus defines the observed state of Server.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServerStatus {
    /// Ready is true when server is accepted and in use.
    #[serde(default)]
    pub ready: bool,
    /// InUse is true when server is assigned to some MetalMachine.
    #[serde(default)]
    pub in_use: bool,
    /// IsClean is true when server disks are wiped.
    #[serde(default)]
    pub is_clean: bool,
    /// Conditions defines current service state of the Server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
    /// Addresses lists discovered node IPs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addresses: Option<Vec<NodeAddress>>,
    /// Power is the current power state of the server: "on", "off" or "unknown".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power: Option<String>,
}

impl ServerSpec {
    /// `cordoned`, absent meaning `false`.
    pub fn is_cordoned(&self) -> bool {
        self.cordoned.unwrap_or(false)
    }

    /// `pxeBootAlways`, absent meaning `false`.
    pub fn is_pxe_boot_always(&self) -> bool {
        self.pxe_boot_always.unwrap_or(false)
    }

    /// The server's own boot-from-disk method; `Ok(None)` when unset or empty (inherit).
    pub fn boot_from_disk_method(&self) -> Result<Option<BootFromDiskMethod>, InvalidValue> {
        parse_optional(self.boot_from_disk_method.as_deref())
    }

    /// The server's own PXE mode; `Ok(None)` when unset or empty (controller default).
    pub fn pxe_mode(&self) -> Result<Option<PxeMode>, InvalidValue> {
        parse_optional(self.pxe_mode.as_deref())
    }

    /// Name of the referenced Environment, if any and non-empty.
    pub fn environment_name(&self) -> Option<&str> {
        crate::metal::common::non_empty(self.environment_ref.as_ref()?.name.as_deref())
    }
}

impl ServerStatus {
    /// The condition of the given type, if present.
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.conditions
            .as_deref()?
            .iter()
            .find(|c| c.type_ == type_)
    }
}

impl Server {
    /// The condition of the given type, if the status has one.
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.status.as_ref()?.condition(type_)
    }
}
