//! The Agent API's decisions as pure functions: input validation, the request → `Server`
//! mapping, the answer to `CreateServer`, the status changes of `MarkServerAsWiped` and
//! `Heartbeat`, the address merge, and the BMC spec update. The service only reads, calls
//! these, and writes.

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::NodeAddress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use sidero_api::condition::{self, Severity};
use sidero_api::metal::v1alpha2::{
    Bmc, CONDITION_POWER_CYCLE, ComputeInformation, CredentialSource, HardwareInformation,
    MemoryInformation, MemoryModule, NetworkInformation, NetworkInterface, Processor, SecretKeyRef,
    Server, ServerSpec, ServerStatus, StorageDevice, StorageInformation, SystemInformation,
};
use sidero_proto::api;

use super::AgentConfig;
use super::error::AgentError;

/// Namespace of the BMC credentials Secrets (upstream's choice, although its docs say
/// `sidero-system`).
pub const BMC_SECRET_NAMESPACE: &str = "default";
/// Key of the BMC user name in the credentials Secret.
pub const BMC_SECRET_USER_KEY: &str = "user";
/// Key of the BMC password in the credentials Secret.
pub const BMC_SECRET_PASS_KEY: &str = "pass";
/// Port written to `spec.bmc.port` when the agent reports none.
pub const DEFAULT_BMC_PORT: u32 = sidero_api::metal::common::DEFAULT_BMC_PORT;
/// Reason of the `PowerCycle=False` condition a heartbeat writes.
pub const HEARTBEAT_REASON: &str = "InProgress";
/// Message of the `PowerCycle=False` condition a heartbeat writes.
pub const HEARTBEAT_MESSAGE: &str = "Server wipe in progress.";
/// Longest accepted server name: a Kubernetes name (253) less the `-bmc` Secret suffix.
pub const MAX_UUID_LEN: usize = 253 - "-bmc".len();

/// How much of an invalid value is quoted back in an error message.
const QUOTE_LEN: usize = 64;

/// `value` for an error message: Debug-quoted and cut to a readable length.
fn quote(value: &str) -> String {
    if value.chars().count() <= QUOTE_LEN {
        format!("{value:?}")
    } else {
        let head: String = value.chars().take(QUOTE_LEN).collect();
        format!("{head:?}… ({} bytes)", value.len())
    }
}

/// Checks the server UUID an agent sent. It names the `Server` (and the `<uuid>-bmc` Secret),
/// so it must be a valid Kubernetes name: lower-case RFC 1123 subdomain of at most
/// [`MAX_UUID_LEN`] characters. SMBIOS UUIDs as agents format them always are.
pub fn validate_uuid(uuid: &str) -> Result<&str, AgentError> {
    if uuid.is_empty() {
        return Err(AgentError::InvalidArgument(
            "uuid is empty: the agent must send the SMBIOS system UUID".into(),
        ));
    }
    let label_ok = |l: &str| {
        let b = l.as_bytes();
        !b.is_empty()
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
            && b[0] != b'-'
            && b[b.len() - 1] != b'-'
    };
    if uuid.len() > MAX_UUID_LEN || !uuid.split('.').all(label_ok) {
        return Err(AgentError::InvalidArgument(format!(
            "uuid {} is not a valid server name: use lower-case letters, digits, '-' and '.', \
             starting and ending with a letter or digit, at most {MAX_UUID_LEN} characters",
            quote(uuid)
        )));
    }
    Ok(uuid)
}

/// The UUID of a `CreateServer` request (`hardware.system.uuid`), validated.
pub fn create_request_uuid(req: &api::CreateServerRequest) -> Result<&str, AgentError> {
    let uuid = req
        .hardware
        .as_ref()
        .and_then(|h| h.system.as_ref())
        .map(|s| s.uuid.as_str())
        .unwrap_or_default();
    validate_uuid(uuid)
}

/// Go's `omitempty` for strings: empty means absent.
fn text(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// Go's `omitempty` for numbers: zero means absent. Values beyond `i32::MAX` (which no real
/// machine reports) saturate, as the CRD stores 32-bit signed integers.
fn int32(v: u32) -> Option<i32> {
    (v != 0).then(|| i32::try_from(v).unwrap_or(i32::MAX))
}

/// As [`int32`], for 64-bit sizes.
fn int64(v: u64) -> Option<i64> {
    (v != 0).then(|| i64::try_from(v).unwrap_or(i64::MAX))
}

/// Go's `omitempty` for slices: empty means absent.
fn list<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

/// The CR name of a storage type: the proto enum name (`Unknown`, `SSD`, `HDD`, `NVMe`, `SD`);
/// an unknown number is written as the number, as Go's generated `String()` does.
pub fn storage_type_name(value: i32) -> String {
    api::StorageType::try_from(value)
        .map(|t| t.as_str_name().to_string())
        .unwrap_or_else(|_| value.to_string())
}

/// `"<n> GB"` as upstream writes memory and storage totals (integer division).
fn gigabytes(n: u64) -> String {
    format!("{n} GB")
}

/// Maps the agent's hardware report to `spec.hardware` exactly as upstream: all five parts
/// are always present; empty strings and zeros are omitted (Go `omitempty`); memory total
/// `"<MB / 1024> GB"`; storage total `"<bytes / 1024³> GB"`; storage `type` by enum name,
/// `model` → `productName`, `serial` → `serialNumber`.
///
/// The counts (`processorCount`, `moduleCount`, `deviceCount`, `interfaceCount`) are copied
/// as reported, but each list holds exactly the entries sent, whatever the count says (upstream
/// sizes lists by the count: null entries when the count is larger, a crash when smaller). See
/// [`count_mismatches`] for what the service logs.
pub fn hardware_from_request(hw: &api::HardwareInformation) -> HardwareInformation {
    let default_system = api::SystemInformation::default();
    let sys = hw.system.as_ref().unwrap_or(&default_system);
    let default_compute = api::ComputeInformation::default();
    let compute = hw.compute.as_ref().unwrap_or(&default_compute);
    let default_memory = api::MemoryInformation::default();
    let memory = hw.memory.as_ref().unwrap_or(&default_memory);
    let default_storage = api::StorageInformation::default();
    let storage = hw.storage.as_ref().unwrap_or(&default_storage);
    let default_network = api::NetworkInformation::default();
    let network = hw.network.as_ref().unwrap_or(&default_network);
    HardwareInformation {
        system: Some(SystemInformation {
            uuid: text(&sys.uuid),
            manufacturer: text(&sys.manufacturer),
            product_name: text(&sys.product_name),
            version: text(&sys.version),
            serial_number: text(&sys.serial_number),
            sku_number: text(&sys.sku_number),
            family: text(&sys.family),
        }),
        compute: Some(ComputeInformation {
            total_core_count: int32(compute.total_core_count),
            total_thread_count: int32(compute.total_thread_count),
            processor_count: int32(compute.processor_count),
            processors: list(
                compute
                    .processors
                    .iter()
                    .map(|p| Processor {
                        manufacturer: text(&p.manufacturer),
                        product_name: text(&p.product_name),
                        serial_number: text(&p.serial_number),
                        speed: int32(p.speed),
                        core_count: int32(p.core_count),
                        thread_count: int32(p.thread_count),
                    })
                    .collect(),
            ),
        }),
        memory: Some(MemoryInformation {
            total_size: Some(gigabytes(u64::from(memory.total_size) / 1024)),
            module_count: int32(memory.module_count),
            modules: list(
                memory
                    .modules
                    .iter()
                    .map(|m| MemoryModule {
                        manufacturer: text(&m.manufacturer),
                        product_name: text(&m.product_name),
                        serial_number: text(&m.serial_number),
                        type_: text(&m.r#type),
                        size: int32(m.size),
                        speed: int32(m.speed),
                    })
                    .collect(),
            ),
        }),
        storage: Some(StorageInformation {
            total_size: Some(gigabytes(storage.total_size / (1024 * 1024 * 1024))),
            device_count: int32(storage.device_count),
            devices: list(
                storage
                    .devices
                    .iter()
                    .map(|d| StorageDevice {
                        type_: Some(storage_type_name(d.r#type)),
                        size: int64(d.size),
                        product_name: text(&d.model),
                        serial_number: text(&d.serial),
                        name: text(&d.name),
                        device_name: text(&d.device_name),
                        uuid: text(&d.uuid),
                        wwid: text(&d.wwid),
                    })
                    .collect(),
            ),
        }),
        network: Some(NetworkInformation {
            interface_count: int32(network.interface_count),
            interfaces: list(
                network
                    .interfaces
                    .iter()
                    .map(|i| NetworkInterface {
                        index: int32(i.index),
                        name: text(&i.name),
                        flags: text(&i.flags),
                        mtu: int32(i.mtu),
                        mac: text(&i.mac),
                        addresses: list(i.addresses.clone()),
                    })
                    .collect(),
            ),
        }),
    }
}

/// A list whose announced count differs from its length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CountMismatch {
    /// Which list: `processors`, `modules`, `devices` or `interfaces`.
    pub list: &'static str,
    /// The count the agent announced.
    pub announced: u32,
    /// The number of entries it sent.
    pub sent: usize,
}

/// Every list of the report whose announced count differs from its length.
pub fn count_mismatches(hw: &api::HardwareInformation) -> Vec<CountMismatch> {
    let mut out = Vec::new();
    let mut check = |list: &'static str, announced: u32, sent: usize| {
        if usize::try_from(announced).ok() != Some(sent) {
            out.push(CountMismatch {
                list,
                announced,
                sent,
            });
        }
    };
    if let Some(c) = &hw.compute {
        check("processors", c.processor_count, c.processors.len());
    }
    if let Some(m) = &hw.memory {
        check("modules", m.module_count, m.modules.len());
    }
    if let Some(s) = &hw.storage {
        check("devices", s.device_count, s.devices.len());
    }
    if let Some(n) = &hw.network {
        check("interfaces", n.interface_count, n.interfaces.len());
    }
    out
}

/// The `Server` `CreateServer` creates for an unknown UUID: named by the UUID, hardware mapped
/// by [`hardware_from_request`], hostname as sent, `accepted` from `--auto-accept-servers`.
pub fn new_server(uuid: &str, req: &api::CreateServerRequest, config: &AgentConfig) -> Server {
    let hardware = req.hardware.as_ref().map(hardware_from_request);
    Server::new(
        uuid,
        ServerSpec {
            hardware,
            hostname: text(&req.hostname),
            accepted: config.auto_accept_servers,
            ..ServerSpec::default()
        },
    )
}

/// What `CreateServer` answers for `server` (new or existing). Nothing is asked of a server
/// that is not accepted. An accepted one sets up its BMC when it has none and
/// `--auto-bmc-setup` is on, and wipes (fast if `--insecure-wipe`, heartbeating every third of
/// `--server-reboot-timeout`) unless `status.isClean`.
pub fn create_response(server: &Server, config: &AgentConfig) -> api::CreateServerResponse {
    let mut resp = api::CreateServerResponse::default();
    if !server.spec.accepted {
        return resp;
    }
    resp.setup_bmc = server.spec.bmc.is_none() && config.auto_bmc_setup;
    let clean = server.status.as_ref().is_some_and(|s| s.is_clean);
    if !clean {
        resp.wipe = true;
        resp.insecure_wipe = config.insecure_wipe;
        resp.reboot_timeout = config.server_reboot_timeout.as_secs_f64();
    }
    resp
}

/// `MarkServerAsWiped`: `isClean = true` and `PowerCycle = True` (CAPI semantics: an existing
/// `True` keeps its `lastTransitionTime`).
pub fn mark_wiped(status: &ServerStatus, now: Timestamp) -> ServerStatus {
    let mut next = status.clone();
    next.is_clean = true;
    let mut conditions = next.conditions.take().unwrap_or_default();
    condition::mark_true_at(&mut conditions, CONDITION_POWER_CYCLE, now);
    next.conditions = Some(conditions);
    next
}

/// `Heartbeat`: deletes `PowerCycle` and sets it again `False`, reason `InProgress`, severity
/// `Info`, message `Server wipe in progress.`, so its `lastTransitionTime` becomes `now` and
/// the Server controller's reboot timeout restarts.
pub fn heartbeat(status: &ServerStatus, now: Timestamp) -> ServerStatus {
    let mut next = status.clone();
    let mut conditions = next.conditions.take().unwrap_or_default();
    condition::delete(&mut conditions, CONDITION_POWER_CYCLE);
    condition::mark_false_at(
        &mut conditions,
        CONDITION_POWER_CYCLE,
        HEARTBEAT_REASON,
        Severity::Info,
        HEARTBEAT_MESSAGE,
        now,
    );
    next.conditions = Some(conditions);
    next
}

/// `ReconcileServerAddresses`: `None` when, for every address type in the request, the set of
/// addresses equals the server's current set of that type (nothing to write). Otherwise the new
/// list: the request's addresses, deduplicated, grouped by type in the order types first
/// appear, then the server's addresses of types the request does not mention, in their current
/// order (upstream produces the same sets in map order).
pub fn merge_addresses(
    current: &[NodeAddress],
    request: &[api::Address],
) -> Option<Vec<NodeAddress>> {
    let mut types: Vec<&str> = Vec::new();
    let mut by_type: HashMap<&str, Vec<&str>> = HashMap::new();
    for a in request {
        let addrs = by_type.entry(a.r#type.as_str()).or_insert_with(|| {
            types.push(a.r#type.as_str());
            Vec::new()
        });
        if !addrs.contains(&a.address.as_str()) {
            addrs.push(a.address.as_str());
        }
    }
    let mut old: HashMap<&str, HashSet<&str>> = HashMap::new();
    for a in current {
        old.entry(a.type_.as_str())
            .or_default()
            .insert(a.address.as_str());
    }
    let changed = types.iter().any(|t| {
        let new: HashSet<&str> = by_type
            .get(t)
            .map(|v| v.iter().copied().collect())
            .unwrap_or_default();
        old.get(t) != Some(&new)
    });
    if !changed {
        return None;
    }
    let mut out: Vec<NodeAddress> = Vec::new();
    for t in &types {
        for a in by_type.get(t).into_iter().flatten() {
            out.push(NodeAddress {
                type_: (*t).to_string(),
                address: (*a).to_string(),
            });
        }
    }
    for a in current {
        if !by_type.contains_key(a.type_.as_str()) && !out.contains(a) {
            out.push(a.clone());
        }
    }
    Some(out)
}

/// Name of the Secret holding a server's BMC credentials.
pub fn bmc_secret_name(uuid: &str) -> String {
    format!("{uuid}-bmc")
}

/// Whether the report carries credentials to store (both user and password non-empty).
pub fn has_credentials(info: &api::BmcInfo) -> bool {
    !info.user.is_empty() && !info.pass.is_empty()
}

/// Checks an `UpdateBMCInfo` request: `bmc_info` present (upstream crashes without it) and
/// the port a valid UDP port (upstream stores any number).
pub fn validate_bmc_info(info: Option<&api::BmcInfo>) -> Result<&api::BmcInfo, AgentError> {
    let info = info.ok_or_else(|| AgentError::InvalidArgument("bmc_info is missing".into()))?;
    if info.port > u32::from(u16::MAX) {
        return Err(AgentError::InvalidArgument(format!(
            "bmc_info.port {} is not a port number (1-65535, or 0 for {DEFAULT_BMC_PORT})",
            info.port
        )));
    }
    Ok(info)
}

fn secret_ref(uuid: &str, key: &str) -> CredentialSource {
    CredentialSource {
        secret_key_ref: Some(SecretKeyRef {
            namespace: BMC_SECRET_NAMESPACE.into(),
            name: bmc_secret_name(uuid),
            key: key.into(),
        }),
    }
}

/// `UpdateBMCInfo`'s new `spec.bmc`: the current one (or an empty one), with `endpoint` set
/// when an IP is reported, `port` set to the reported port or 623 (a report without a port
/// resets it, as upstream), and, when the report has credentials, `userFrom`/`passFrom`
/// pointing at the `default/<uuid>-bmc` Secret. Credentials themselves never go in the spec.
pub fn bmc_update(uuid: &str, current: Option<&Bmc>, info: &api::BmcInfo) -> Bmc {
    let mut bmc = current.cloned().unwrap_or_default();
    if !info.ip.is_empty() {
        bmc.endpoint = info.ip.clone();
    }
    bmc.port = Some(if info.port != 0 {
        info.port
    } else {
        DEFAULT_BMC_PORT
    });
    if has_credentials(info) {
        bmc.user_from = Some(secret_ref(uuid, BMC_SECRET_USER_KEY));
        bmc.pass_from = Some(secret_ref(uuid, BMC_SECRET_PASS_KEY));
    }
    bmc
}

/// Owner references of an existing BMC Secret after `UpdateBMCInfo`: `owner` (the Server, as
/// controller) replaces any other controller reference and any stale reference to the same
/// Server name (a re-registered server has a new UID, and the garbage collector would delete
/// the Secret once the old owner is gone); other references are kept.
pub fn secret_owner_references(
    existing: &[OwnerReference],
    owner: OwnerReference,
) -> Vec<OwnerReference> {
    let mut refs: Vec<_> = existing
        .iter()
        .filter(|r| {
            r.controller != Some(true)
                && r.uid != owner.uid
                && !(r.kind == owner.kind
                    && r.api_version == owner.api_version
                    && r.name == owner.name)
        })
        .cloned()
        .collect();
    refs.push(owner);
    refs
}
