//! `HardwareInformation`: what the agent reports about a server (and, in a ServerClass, a
//! partial template matched against it).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Hardware inventory of a server.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HardwareInformation {
    /// SMBIOS system information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<SystemInformation>,
    /// Processors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute: Option<ComputeInformation>,
    /// Memory modules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryInformation>,
    /// Block devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageInformation>,
    /// Network interfaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkInformation>,
}

/// SMBIOS system information.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SystemInformation {
    /// SMBIOS UUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
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

/// Processor totals and the processors themselves.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComputeInformation {
    /// Total number of cores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_core_count: Option<i32>,
    /// Total number of threads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_thread_count: Option<i32>,
    /// Number of processors (sockets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processor_count: Option<i32>,
    /// The processors, in SMBIOS order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processors: Option<Vec<Processor>>,
}

/// One processor (socket).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Processor {
    /// Manufacturer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    /// Model name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_name: Option<String>,
    /// Serial number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    /// Speed is in megahertz (Mhz)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed: Option<i32>,
    /// Number of cores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub core_count: Option<i32>,
    /// Number of threads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_count: Option<i32>,
}

/// Memory totals and modules.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemoryInformation {
    /// Total size as text, e.g. `32 GB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_size: Option<String>,
    /// Number of modules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module_count: Option<i32>,
    /// The memory modules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modules: Option<Vec<MemoryModule>>,
}

/// One memory module.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemoryModule {
    /// Manufacturer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    /// Part number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_name: Option<String>,
    /// Serial number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    /// Memory type, e.g. `DDR4`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// Size is in megabytes (MB)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i32>,
    /// Speed is in megatransfers per second (MT/S)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed: Option<i32>,
}

/// Storage totals and devices.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageInformation {
    /// Total size as text, e.g. `1116 GB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_size: Option<String>,
    /// Number of devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_count: Option<i32>,
    /// The block devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<Vec<StorageDevice>>,
}

/// One block device.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageDevice {
    /// Device type: `Unknown`, `SSD`, `HDD`, `NVMe` or `SD`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// Size is in bytes
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    /// Model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_name: Option<String>,
    /// Serial number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    /// Kernel name, e.g. `sda`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Device path, e.g. `/dev/sda`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    /// Device UUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// World wide identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wwid: Option<String>,
}

/// Network interface totals and interfaces.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkInformation {
    /// Number of interfaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface_count: Option<i32>,
    /// The interfaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interfaces: Option<Vec<NetworkInterface>>,
}

/// One network interface.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkInterface {
    /// Interface index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<i32>,
    /// Interface name, e.g. `eth0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Flags, e.g. `up|broadcast|multicast`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<String>,
    /// MTU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<i32>,
    /// Hardware address (lower-case, colon separated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// Addresses in CIDR notation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addresses: Option<Vec<String>>,
}
