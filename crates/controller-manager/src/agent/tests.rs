//! Table tests of the Agent API's pure decisions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::NodeAddress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
use serde_json::json;
use sidero_api::condition::Condition;
use sidero_api::metal::v1alpha2::{Bmc, CONDITION_POWER_CYCLE, Server, ServerSpec, ServerStatus};
use sidero_proto::api;
use tonic::Code;

use super::AgentConfig;
use super::decide::*;
use super::error::AgentError;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn full_report() -> api::HardwareInformation {
    api::HardwareInformation {
        system: Some(api::SystemInformation {
            uuid: "4c4c4544-0042-3510-8052-b4c04f4e4d32".into(),
            manufacturer: "Dell Inc.".into(),
            product_name: "PowerEdge R640".into(),
            version: "".into(),
            serial_number: "B5RNM2".into(),
            sku_number: "SKU=0716".into(),
            family: "PowerEdge".into(),
        }),
        compute: Some(api::ComputeInformation {
            total_core_count: 40,
            total_thread_count: 80,
            processor_count: 2,
            processors: vec![
                api::Processor {
                    manufacturer: "Intel".into(),
                    product_name: "Xeon Gold 6230".into(),
                    serial_number: "".into(),
                    speed: 2100,
                    core_count: 20,
                    thread_count: 40,
                },
                api::Processor {
                    manufacturer: "Intel".into(),
                    product_name: "Xeon Gold 6230".into(),
                    serial_number: "".into(),
                    speed: 2100,
                    core_count: 20,
                    thread_count: 40,
                },
            ],
        }),
        memory: Some(api::MemoryInformation {
            total_size: 65536 + 1023,
            module_count: 1,
            modules: vec![api::MemoryModule {
                manufacturer: "Samsung".into(),
                product_name: "M393A4K40CB2-CVF".into(),
                serial_number: "1234ABCD".into(),
                r#type: "DDR4".into(),
                size: 65536,
                speed: 2933,
            }],
        }),
        storage: Some(api::StorageInformation {
            total_size: 1_000_204_886_016 + 512_110_190_592,
            device_count: 3,
            devices: vec![
                api::StorageDevice {
                    r#type: api::StorageType::Ssd as i32,
                    size: 1_000_204_886_016,
                    model: "Samsung SSD 870".into(),
                    serial: "S5Y1NG0R".into(),
                    name: "sda".into(),
                    device_name: "/dev/sda".into(),
                    uuid: "".into(),
                    wwid: "naa.5002538f".into(),
                },
                api::StorageDevice {
                    r#type: api::StorageType::NvMe as i32,
                    size: 512_110_190_592,
                    model: "PM981".into(),
                    serial: "S4".into(),
                    name: "nvme0n1".into(),
                    device_name: "/dev/nvme0n1".into(),
                    uuid: "u-1".into(),
                    wwid: "eui.0025".into(),
                },
                api::StorageDevice {
                    r#type: 0,
                    size: 0,
                    model: "".into(),
                    serial: "".into(),
                    name: "loop0".into(),
                    device_name: "/dev/loop0".into(),
                    uuid: "".into(),
                    wwid: "".into(),
                },
            ],
        }),
        network: Some(api::NetworkInformation {
            interface_count: 1,
            interfaces: vec![api::NetworkInterface {
                index: 2,
                name: "eno1".into(),
                flags: "up|broadcast|multicast|running".into(),
                mtu: 1500,
                mac: "52:54:00:12:34:56".into(),
                addresses: vec!["10.5.0.7/24".into(), "fe80::1/64".into()],
            }],
        }),
    }
}

/// The whole mapping, compared as the JSON the API server stores (Go `omitempty` rules).
#[test]
fn hardware_mapping_matches_upstream_json() {
    let got = serde_json::to_value(hardware_from_request(&full_report())).unwrap();
    let want = json!({
        "system": {
            "uuid": "4c4c4544-0042-3510-8052-b4c04f4e4d32",
            "manufacturer": "Dell Inc.",
            "productName": "PowerEdge R640",
            "serialNumber": "B5RNM2",
            "skuNumber": "SKU=0716",
            "family": "PowerEdge"
        },
        "compute": {
            "totalCoreCount": 40, "totalThreadCount": 80, "processorCount": 2,
            "processors": [
                {"manufacturer": "Intel", "productName": "Xeon Gold 6230", "speed": 2100, "coreCount": 20, "threadCount": 40},
                {"manufacturer": "Intel", "productName": "Xeon Gold 6230", "speed": 2100, "coreCount": 20, "threadCount": 40}
            ]
        },
        "memory": {
            "totalSize": "64 GB", "moduleCount": 1,
            "modules": [{"manufacturer": "Samsung", "productName": "M393A4K40CB2-CVF",
                         "serialNumber": "1234ABCD", "type": "DDR4", "size": 65536, "speed": 2933}]
        },
        "storage": {
            "totalSize": "1408 GB", "deviceCount": 3,
            "devices": [
                {"type": "SSD", "size": 1_000_204_886_016_i64, "productName": "Samsung SSD 870",
                 "serialNumber": "S5Y1NG0R", "name": "sda", "deviceName": "/dev/sda", "wwid": "naa.5002538f"},
                {"type": "NVMe", "size": 512_110_190_592_i64, "productName": "PM981", "serialNumber": "S4",
                 "name": "nvme0n1", "deviceName": "/dev/nvme0n1", "uuid": "u-1", "wwid": "eui.0025"},
                {"type": "Unknown", "name": "loop0", "deviceName": "/dev/loop0"}
            ]
        },
        "network": {
            "interfaceCount": 1,
            "interfaces": [{"index": 2, "name": "eno1", "flags": "up|broadcast|multicast|running",
                            "mtu": 1500, "mac": "52:54:00:12:34:56",
                            "addresses": ["10.5.0.7/24", "fe80::1/64"]}]
        }
    });
    assert_eq!(got, want);
}

#[test]
fn totals_use_integer_division() {
    // (memory MB, storage bytes) → (memory text, storage text)
    let gib = 1024_u64 * 1024 * 1024;
    let cases: &[(u32, u64, &str, &str)] = &[
        (0, 0, "0 GB", "0 GB"),
        (1023, gib - 1, "0 GB", "0 GB"),
        (1024, gib, "1 GB", "1 GB"),
        (2047, 2 * gib - 1, "1 GB", "1 GB"),
        (32768, 480_103_981_056, "32 GB", "447 GB"),
        (u32::MAX, u64::MAX, "4194303 GB", "17179869183 GB"),
    ];
    for &(mb, bytes, mem, disk) in cases {
        let hw = hardware_from_request(&api::HardwareInformation {
            memory: Some(api::MemoryInformation {
                total_size: mb,
                ..Default::default()
            }),
            storage: Some(api::StorageInformation {
                total_size: bytes,
                ..Default::default()
            }),
            ..Default::default()
        });
        assert_eq!(
            hw.memory.unwrap().total_size.as_deref(),
            Some(mem),
            "{mb} MB"
        );
        assert_eq!(
            hw.storage.unwrap().total_size.as_deref(),
            Some(disk),
            "{bytes} B"
        );
    }
}

#[test]
fn empty_report_has_all_five_parts() {
    let got =
        serde_json::to_value(hardware_from_request(&api::HardwareInformation::default())).unwrap();
    assert_eq!(
        got,
        json!({"system": {}, "compute": {}, "memory": {"totalSize": "0 GB"},
               "storage": {"totalSize": "0 GB"}, "network": {}})
    );
}

#[test]
fn storage_type_names() {
    let cases = [
        (0, "Unknown"),
        (1, "SSD"),
        (2, "HDD"),
        (3, "NVMe"),
        (4, "SD"),
        (5, "5"),
        (-1, "-1"),
    ];
    for (v, want) in cases {
        assert_eq!(storage_type_name(v), want);
    }
}

#[test]
fn numbers_beyond_the_crd_range_saturate() {
    let hw = hardware_from_request(&api::HardwareInformation {
        compute: Some(api::ComputeInformation {
            total_core_count: u32::MAX,
            ..Default::default()
        }),
        storage: Some(api::StorageInformation {
            devices: vec![api::StorageDevice {
                size: u64::MAX,
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    });
    assert_eq!(hw.compute.unwrap().total_core_count, Some(i32::MAX));
    let devices = hw.storage.unwrap().devices.unwrap();
    assert_eq!(devices[0].size, Some(i64::MAX));
}

/// Upstream sizes lists by the announced counts (null entries, or a crash); we store exactly
/// the entries sent, keep the counts as reported, and report the mismatch for the log.
#[test]
fn mismatched_counts_keep_the_entries_sent() {
    let mut report = full_report();
    report.compute.as_mut().unwrap().processor_count = 4; // 2 sent
    report.memory.as_mut().unwrap().module_count = 0; // 1 sent
    report.network.as_mut().unwrap().interface_count = 3;
    report.network.as_mut().unwrap().interfaces.clear(); // 0 sent
    let hw = hardware_from_request(&report);
    let compute = hw.compute.unwrap();
    assert_eq!(compute.processor_count, Some(4));
    assert_eq!(compute.processors.unwrap().len(), 2);
    let memory = hw.memory.unwrap();
    assert_eq!(memory.module_count, None);
    assert_eq!(memory.modules.unwrap().len(), 1);
    let network = hw.network.unwrap();
    assert_eq!(network.interface_count, Some(3));
    assert_eq!(network.interfaces, None);
    assert_eq!(
        count_mismatches(&report),
        vec![
            CountMismatch {
                list: "processors",
                announced: 4,
                sent: 2
            },
            CountMismatch {
                list: "modules",
                announced: 0,
                sent: 1
            },
            CountMismatch {
                list: "interfaces",
                announced: 3,
                sent: 0
            },
        ]
    );
    assert!(count_mismatches(&full_report()).is_empty());
    assert!(count_mismatches(&api::HardwareInformation::default()).is_empty());
}

#[test]
fn uuid_validation() {
    let long_ok = "a".repeat(MAX_UUID_LEN);
    let too_long = "a".repeat(MAX_UUID_LEN + 1);
    let cases: &[(&str, bool)] = &[
        ("4c4c4544-0042-3510-8052-b4c04f4e4d32", true),
        ("00000000-0000-0000-0000-000000000000", true),
        ("ffffffff-ffff-ffff-ffff-ffffffffffff", true),
        ("server.rack-1", true),
        ("a", true),
        (&long_ok, true),
        ("", false),
        (&too_long, false),
        ("4C4C4544-0042-3510-8052-B4C04F4E4D32", false),
        ("-abc", false),
        ("abc-", false),
        ("a..b", false),
        (".a", false),
        ("a/b", false),
        ("../../namespaces/kube-system/secrets/x", false),
        ("a b", false),
        ("a_b", false),
        ("ä", false),
    ];
    for (uuid, ok) in cases {
        let got = validate_uuid(uuid);
        assert_eq!(got.is_ok(), *ok, "{uuid:?}: {got:?}");
        if let Err(e) = got {
            assert_eq!(e.code(), Code::InvalidArgument);
            assert!(e.to_string().len() < 300, "message stays short: {e}");
        }
    }
    let missing = api::CreateServerRequest {
        hardware: None,
        hostname: "h".into(),
    };
    assert!(create_request_uuid(&missing).is_err());
    let no_system = api::CreateServerRequest {
        hardware: Some(api::HardwareInformation::default()),
        hostname: "h".into(),
    };
    assert!(create_request_uuid(&no_system).is_err());
}

fn config(auto_accept: bool, insecure: bool, auto_bmc: bool) -> AgentConfig {
    AgentConfig {
        auto_accept_servers: auto_accept,
        insecure_wipe: insecure,
        auto_bmc_setup: auto_bmc,
        server_reboot_timeout: Duration::from_secs(1200),
    }
}

fn server(accepted: bool, bmc: bool, clean: Option<bool>) -> Server {
    let mut s = Server::new(
        "s",
        ServerSpec {
            accepted,
            bmc: bmc.then(|| Bmc {
                endpoint: "10.0.0.1".into(),
                ..Bmc::default()
            }),
            ..ServerSpec::default()
        },
    );
    s.status = clean.map(|is_clean| ServerStatus {
        is_clean,
        ..ServerStatus::default()
    });
    s
}

#[test]
fn create_response_table() {
    // (accepted, has bmc, isClean (None = no status), insecure flag, auto-bmc flag)
    //   → (wipe, insecure_wipe, setup_bmc, reboot_timeout)
    type Row = (
        (bool, bool, Option<bool>, bool, bool),
        (bool, bool, bool, f64),
    );
    let rows: &[Row] = &[
        ((false, false, None, true, true), (false, false, false, 0.0)),
        (
            (false, false, Some(false), true, true),
            (false, false, false, 0.0),
        ),
        (
            (false, true, Some(true), true, true),
            (false, false, false, 0.0),
        ),
        ((true, false, None, true, true), (true, true, true, 1200.0)),
        (
            (true, false, Some(false), false, true),
            (true, false, true, 1200.0),
        ),
        (
            (true, false, Some(false), true, false),
            (true, true, false, 1200.0),
        ),
        (
            (true, true, Some(false), true, true),
            (true, true, false, 1200.0),
        ),
        (
            (true, false, Some(true), true, true),
            (false, false, true, 0.0),
        ),
        (
            (true, true, Some(true), true, true),
            (false, false, false, 0.0),
        ),
        (
            (true, false, Some(true), true, false),
            (false, false, false, 0.0),
        ),
    ];
    for &((accepted, bmc, clean, insecure, auto_bmc), want) in rows {
        let got = create_response(
            &server(accepted, bmc, clean),
            &config(true, insecure, auto_bmc),
        );
        assert_eq!(
            (
                got.wipe,
                got.insecure_wipe,
                got.setup_bmc,
                got.reboot_timeout
            ),
            want,
            "accepted={accepted} bmc={bmc} clean={clean:?} insecure={insecure} auto_bmc={auto_bmc}"
        );
    }
    // The reboot timeout is sent in (fractional) seconds.
    let mut c = config(true, true, true);
    c.server_reboot_timeout = Duration::from_millis(1500);
    assert_eq!(
        create_response(&server(true, false, None), &c).reboot_timeout,
        1.5
    );
}

#[test]
fn new_server_follows_auto_accept() {
    let req = api::CreateServerRequest {
        hardware: Some(full_report()),
        hostname: "node-1".into(),
    };
    for auto_accept in [false, true] {
        let s = new_server("u-1", &req, &config(auto_accept, true, true));
        assert_eq!(s.metadata.name.as_deref(), Some("u-1"));
        assert_eq!(s.spec.accepted, auto_accept);
        assert_eq!(s.spec.hostname.as_deref(), Some("node-1"));
        assert!(s.spec.hardware.is_some() && s.spec.bmc.is_none() && s.status.is_none());
    }
    let no_hostname = api::CreateServerRequest {
        hardware: Some(full_report()),
        hostname: String::new(),
    };
    let s = new_server("u-1", &no_hostname, &AgentConfig::default());
    assert_eq!(s.spec.hostname, None);
    assert!(!s.spec.accepted);
}

fn cond(type_: &str, status: &str, time: &str) -> Condition {
    Condition {
        type_: type_.into(),
        status: status.into(),
        severity: None,
        last_transition_time: Time(ts(time)),
        reason: None,
        message: None,
    }
}

#[test]
fn mark_wiped_sets_clean_and_power_cycle_true() {
    let now = ts("2026-03-01T10:00:00.750Z");
    let pxe = cond("PXEBooted", "True", "2026-01-01T00:00:00Z");
    let mut false_pc = cond(CONDITION_POWER_CYCLE, "False", "2026-02-01T00:00:00Z");
    false_pc.reason = Some("InProgress".into());
    false_pc.severity = Some("Info".into());
    false_pc.message = Some("Server wipe in progress.".into());
    let true_pc = cond(CONDITION_POWER_CYCLE, "True", "2026-02-01T00:00:00Z");
    // (conditions before) → PowerCycle lastTransitionTime after
    let rows: Vec<(Vec<Condition>, &str)> = vec![
        (vec![], "2026-03-01T10:00:00Z"),
        (vec![false_pc.clone(), pxe.clone()], "2026-03-01T10:00:00Z"),
        (vec![true_pc.clone(), pxe.clone()], "2026-02-01T00:00:00Z"),
    ];
    for (before, want_time) in rows {
        let status = ServerStatus {
            ready: true,
            in_use: false,
            is_clean: false,
            conditions: Some(before.clone()),
            addresses: Some(vec![NodeAddress {
                type_: "InternalIP".into(),
                address: "10.0.0.5".into(),
            }]),
            power: Some("on".into()),
        };
        let next = mark_wiped(&status, now);
        assert!(next.is_clean && next.ready && !next.in_use);
        assert_eq!(next.addresses, status.addresses);
        assert_eq!(next.power, status.power);
        let conds = next.conditions.unwrap();
        let pc = conds
            .iter()
            .find(|c| c.type_ == CONDITION_POWER_CYCLE)
            .unwrap();
        assert_eq!(pc.status, "True");
        assert_eq!(
            (&pc.reason, &pc.severity, &pc.message),
            (&None, &None, &None)
        );
        assert_eq!(pc.last_transition_time.0, ts(want_time), "{before:?}");
        let others: Vec<_> = conds
            .iter()
            .filter(|c| c.type_ != CONDITION_POWER_CYCLE)
            .collect();
        let before_others: Vec<_> = before
            .iter()
            .filter(|c| c.type_ != CONDITION_POWER_CYCLE)
            .collect();
        assert_eq!(others, before_others);
    }
}

#[test]
fn heartbeat_always_moves_last_transition_time() {
    let now = ts("2026-03-01T10:00:05Z");
    let mut same = cond(CONDITION_POWER_CYCLE, "False", "2026-03-01T09:00:00Z");
    same.reason = Some(HEARTBEAT_REASON.into());
    same.severity = Some("Info".into());
    same.message = Some(HEARTBEAT_MESSAGE.into());
    let rows: Vec<Vec<Condition>> = vec![
        vec![],
        vec![same],
        vec![cond(CONDITION_POWER_CYCLE, "True", "2026-02-01T00:00:00Z")],
        vec![
            cond("PXEBooted", "True", "2026-01-01T00:00:00Z"),
            cond("Ready", "True", "2026-01-01T00:00:00Z"),
        ],
    ];
    for before in rows {
        let status = ServerStatus {
            conditions: Some(before.clone()),
            ..ServerStatus::default()
        };
        let conds = heartbeat(&status, now).conditions.unwrap();
        let pc = conds
            .iter()
            .find(|c| c.type_ == CONDITION_POWER_CYCLE)
            .unwrap();
        assert_eq!(
            (
                pc.status.as_str(),
                pc.reason.as_deref(),
                pc.severity.as_deref(),
                pc.message.as_deref()
            ),
            (
                "False",
                Some("InProgress"),
                Some("Info"),
                Some("Server wipe in progress.")
            )
        );
        assert_eq!(pc.last_transition_time.0, now, "{before:?}");
        assert_eq!(
            conds.len(),
            before
                .iter()
                .filter(|c| c.type_ != CONDITION_POWER_CYCLE)
                .count()
                + 1
        );
        // CAPI order: Ready first, then by type.
        let types: Vec<_> = conds.iter().map(|c| c.type_.as_str()).collect();
        let mut sorted = types.clone();
        sorted.sort_by_key(|t| (*t != "Ready", *t));
        assert_eq!(types, sorted);
    }
}

fn na(t: &str, a: &str) -> NodeAddress {
    NodeAddress {
        type_: t.into(),
        address: a.into(),
    }
}

fn ra(t: &str, a: &str) -> api::Address {
    api::Address {
        r#type: t.into(),
        address: a.into(),
    }
}

#[test]
fn merge_addresses_table() {
    let ip = "InternalIP";
    let host = "Hostname";
    let ext = "ExternalIP";
    type Row = (
        Vec<NodeAddress>,
        Vec<api::Address>,
        Option<Vec<NodeAddress>>,
    );
    let rows: Vec<Row> = vec![
        // Nothing reported: nothing to do.
        (vec![na(ip, "10.0.0.1")], vec![], None),
        (vec![], vec![], None),
        // First report.
        (
            vec![],
            vec![ra(ip, "10.0.0.1")],
            Some(vec![na(ip, "10.0.0.1")]),
        ),
        // Same set, other order and duplicates: unchanged.
        (
            vec![na(ip, "10.0.0.1"), na(ip, "10.0.0.2")],
            vec![ra(ip, "10.0.0.2"), ra(ip, "10.0.0.1"), ra(ip, "10.0.0.2")],
            None,
        ),
        // Same set for the reported type, other types untouched: unchanged.
        (
            vec![na(host, "node-1"), na(ip, "10.0.0.1")],
            vec![ra(ip, "10.0.0.1")],
            None,
        ),
        // New address replaces the type's set; other types kept after the reported ones.
        (
            vec![na(host, "node-1"), na(ip, "10.0.0.1"), na(ext, "1.2.3.4")],
            vec![ra(ip, "10.0.0.9"), ra(ip, "fd00::9"), ra(ip, "10.0.0.9")],
            Some(vec![
                na(ip, "10.0.0.9"),
                na(ip, "fd00::9"),
                na(host, "node-1"),
                na(ext, "1.2.3.4"),
            ]),
        ),
        // A subset is a change (addresses are removed).
        (
            vec![na(ip, "10.0.0.1"), na(ip, "10.0.0.2")],
            vec![ra(ip, "10.0.0.1")],
            Some(vec![na(ip, "10.0.0.1")]),
        ),
        // Two reported types: one unchanged, one new → whole list rewritten.
        (
            vec![na(ip, "10.0.0.1")],
            vec![ra(ip, "10.0.0.1"), ra(host, "n"), ra(ip, "10.0.0.1")],
            Some(vec![na(ip, "10.0.0.1"), na(host, "n")]),
        ),
        // Duplicates already stored for an unreported type are collapsed.
        (
            vec![na(host, "n"), na(host, "n")],
            vec![ra(ip, "10.0.0.1")],
            Some(vec![na(ip, "10.0.0.1"), na(host, "n")]),
        ),
    ];
    for (current, request, want) in rows {
        assert_eq!(
            merge_addresses(&current, &request),
            want,
            "{current:?} + {request:?}"
        );
    }
}

fn info(ip: &str, port: u32, user: &str, pass: &str) -> api::BmcInfo {
    api::BmcInfo {
        ip: ip.into(),
        port,
        user: user.into(),
        pass: pass.into(),
    }
}

#[test]
fn bmc_update_table() {
    let uuid = "u-1";
    let refs = |b: &Bmc| {
        (
            b.user_from
                .as_ref()
                .and_then(|f| f.secret_key_ref.as_ref())
                .map(|r| (r.namespace.clone(), r.name.clone(), r.key.clone())),
            b.pass_from
                .as_ref()
                .and_then(|f| f.secret_key_ref.as_ref())
                .map(|r| (r.namespace.clone(), r.name.clone(), r.key.clone())),
        )
    };
    let existing = Bmc {
        endpoint: "10.0.0.1".into(),
        port: Some(6230),
        interface: Some("lan".into()),
        ..Bmc::default()
    };
    // IP and port, no current BMC.
    let b = bmc_update(uuid, None, &info("10.1.1.1", 6231, "", ""));
    assert_eq!((b.endpoint.as_str(), b.port), ("10.1.1.1", Some(6231)));
    assert_eq!(refs(&b), (None, None));
    // No port: 623, even over an existing port; no IP keeps the endpoint; other fields kept.
    let b = bmc_update(uuid, Some(&existing), &info("", 0, "", ""));
    assert_eq!((b.endpoint.as_str(), b.port), ("10.0.0.1", Some(623)));
    assert_eq!(b.interface.as_deref(), Some("lan"));
    // Credentials: references to default/<uuid>-bmc, values never in the spec.
    let b = bmc_update(uuid, Some(&existing), &info("", 0, "sidero", "s3cret"));
    assert_eq!(
        refs(&b),
        (
            Some(("default".into(), "u-1-bmc".into(), "user".into())),
            Some(("default".into(), "u-1-bmc".into(), "pass".into()))
        )
    );
    assert_eq!((b.user.as_deref(), b.pass.as_deref()), (None, None));
    assert!(!serde_json::to_string(&b).unwrap().contains("s3cret"));
    // Only one of user/pass: no references.
    for i in [info("", 0, "sidero", ""), info("", 0, "", "s3cret")] {
        assert!(!has_credentials(&i));
        assert_eq!(refs(&bmc_update(uuid, None, &i)), (None, None));
    }
    // Empty report on no BMC: an empty endpoint with the default port (as upstream).
    let b = bmc_update(uuid, None, &info("", 0, "", ""));
    assert_eq!((b.endpoint.as_str(), b.port), ("", Some(623)));
}

#[test]
fn bmc_info_validation() {
    assert_eq!(
        validate_bmc_info(None).unwrap_err().code(),
        Code::InvalidArgument
    );
    for (port, ok) in [
        (0, true),
        (623, true),
        (65535, true),
        (65536, false),
        (u32::MAX, false),
    ] {
        let i = info("10.0.0.1", port, "", "");
        assert_eq!(validate_bmc_info(Some(&i)).is_ok(), ok, "{port}");
    }
}

fn owner(kind: &str, name: &str, uid: &str, controller: bool) -> OwnerReference {
    OwnerReference {
        api_version: "metal.sidero.dev/v1alpha2".into(),
        kind: kind.into(),
        name: name.into(),
        uid: uid.into(),
        controller: controller.then_some(true),
        block_owner_deletion: controller.then_some(true),
    }
}

#[test]
fn secret_owner_references_table() {
    let me = owner("Server", "u-1", "uid-new", true);
    let rows: Vec<(Vec<OwnerReference>, Vec<OwnerReference>)> = vec![
        (vec![], vec![me.clone()]),
        (vec![me.clone()], vec![me.clone()]),
        // A stale reference to the re-registered server is replaced.
        (
            vec![owner("Server", "u-1", "uid-old", true)],
            vec![me.clone()],
        ),
        (
            vec![owner("Server", "u-1", "uid-old", false)],
            vec![me.clone()],
        ),
        // Another controller is replaced (there can be only one); plain owners stay.
        (
            vec![
                owner("Other", "x", "uid-x", true),
                owner("Other", "y", "uid-y", false),
            ],
            vec![owner("Other", "y", "uid-y", false), me.clone()],
        ),
    ];
    for (existing, want) in rows {
        assert_eq!(
            secret_owner_references(&existing, me.clone()),
            want,
            "{existing:?}"
        );
    }
}

fn api_error(code: u16) -> AgentError {
    AgentError::Kube(kube::Error::Api(
        kube::core::Status::failure("x", "Reason")
            .with_code(code)
            .boxed(),
    ))
}

#[test]
fn error_codes() {
    let rows = [
        (
            AgentError::InvalidArgument("x".into()),
            Code::InvalidArgument,
        ),
        (AgentError::ServerNotFound("u".into()), Code::NotFound),
        (
            AgentError::Conflict {
                name: "u".into(),
                attempts: 5,
            },
            Code::Aborted,
        ),
        (api_error(400), Code::InvalidArgument),
        (api_error(422), Code::InvalidArgument),
        (api_error(403), Code::PermissionDenied),
        (api_error(404), Code::NotFound),
        (api_error(409), Code::Aborted),
        (api_error(429), Code::Unavailable),
        (api_error(503), Code::Unavailable),
        (api_error(418), Code::Unknown),
    ];
    for (e, code) in rows {
        let text = e.to_string();
        let status: tonic::Status = e.into();
        assert_eq!(status.code(), code, "{text}");
        assert_eq!(status.message(), text);
    }
    let nf: tonic::Status = AgentError::ServerNotFound("abc".into()).into();
    assert!(
        nf.message().contains("\"abc\" not found"),
        "{}",
        nf.message()
    );
}

#[test]
fn config_from_flags() {
    use clap::Parser;
    let flags = crate::config::Flags::try_parse_from([
        "m",
        "--auto-accept-servers",
        "--insecure-wipe=false",
        "--auto-bmc-setup=false",
        "--server-reboot-timeout=90s",
    ])
    .unwrap();
    assert_eq!(
        AgentConfig::from_flags(&flags),
        AgentConfig {
            auto_accept_servers: true,
            insecure_wipe: false,
            auto_bmc_setup: false,
            server_reboot_timeout: Duration::from_secs(90),
        }
    );
    let defaults = crate::config::Flags::try_parse_from(["m"]).unwrap();
    assert_eq!(AgentConfig::from_flags(&defaults), AgentConfig::default());
}
