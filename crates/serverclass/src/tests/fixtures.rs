//! Servers and classes used by the table tests.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use sidero_api::metal::v1alpha2::{
    HardwareInformation, Server, ServerClassSpec, ServerSpec, ServerStatus,
};

/// A server named `name` with the given labels, acceptance and hardware (as JSON).
pub fn server(name: &str, labels: &[(&str, &str)], accepted: bool, hardware: Value) -> Server {
    let mut server = Server::new(
        name,
        ServerSpec {
            accepted,
            hardware: (!hardware.is_null()).then(|| serde_json::from_value(hardware).unwrap()),
            ..ServerSpec::default()
        },
    );
    if !labels.is_empty() {
        server.metadata.labels = Some(
            labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>(),
        );
    }
    server
}

/// `server` with `status.inUse = true`.
pub fn in_use(mut server: Server) -> Server {
    server.status = Some(ServerStatus {
        in_use: true,
        ..ServerStatus::default()
    });
    server
}

/// `server` with `spec.cordoned = Some(cordoned)`.
pub fn cordoned(mut server: Server, cordoned: bool) -> Server {
    server.spec.cordoned = Some(cordoned);
    server
}

/// A ServerClass spec from its JSON form (the wire shape).
pub fn class(spec: Value) -> ServerClassSpec {
    serde_json::from_value(spec).unwrap()
}

/// Hardware from its JSON form.
pub fn hardware(value: Value) -> HardwareInformation {
    serde_json::from_value(value).unwrap()
}

fn processor(manufacturer: &str, product: &str, speed: i32, cores: i32, threads: i32) -> Value {
    json!({
        "manufacturer": manufacturer, "productName": product, "serialNumber": "",
        "speed": speed, "coreCount": cores, "threadCount": threads,
    })
}

pub const INTEL: &str = "Intel(R) Corporation";
pub const AMD: &str = "Advanced Micro Devices, Inc.";

/// Upstream's *atom*: one Intel Atom, labels `common-label=true, zone=central`.
pub fn atom() -> Server {
    let cpu = processor(INTEL, "Intel(R) Atom(TM) CPU C3558 @ 2.20GHz", 2200, 4, 4);
    let hw = json!({"compute": {
        "totalCoreCount": 4, "totalThreadCount": 4, "processorCount": 1, "processors": [cpu],
    }});
    server(
        "atom",
        &[("common-label", "true"), ("zone", "central")],
        true,
        hw,
    )
}

/// Upstream's *dualXeon*: two Intel Xeons, no labels.
pub fn dual_xeon() -> Server {
    let cpu = processor(
        INTEL,
        "Intel(R) Xeon(R) CPU E5-2630 v3 @ 2.40GHz",
        2400,
        8,
        16,
    );
    let hw = json!({"compute": {
        "totalCoreCount": 16, "totalThreadCount": 32, "processorCount": 2,
        "processors": [cpu.clone(), cpu],
    }});
    server("dualXeon", &[], true, hw)
}

fn ryzen_hardware() -> Value {
    let cpu = processor(AMD, "AMD Ryzen 7 2700X Eight-Core Processor", 3700, 8, 16);
    json!({
        "system": {"manufacturer": "QEMU"},
        "compute": {
            "totalCoreCount": 8, "totalThreadCount": 16, "processorCount": 1, "processors": [cpu],
        },
    })
}

/// Upstream's *ryzen*: system manufacturer `QEMU`, one AMD, labels `common-label=true, zone=east`.
pub fn ryzen() -> Server {
    server(
        "ryzen",
        &[("common-label", "true"), ("zone", "east")],
        true,
        ryzen_hardware(),
    )
}

/// Upstream's *notAccepted*: like ryzen, but not accepted and in zone west.
pub fn not_accepted() -> Server {
    let labels = [("common-label", "true"), ("zone", "west")];
    server("notAccepted", &labels, false, ryzen_hardware())
}

/// The four servers of upstream's `TestFilterAcceptedServers`.
pub fn pinned_servers() -> Vec<Server> {
    vec![atom(), dual_xeon(), ryzen(), not_accepted()]
}

/// Extra servers for the non-pinned rows: no hardware, system info only, network and storage.
pub fn extra_servers() -> Vec<Server> {
    vec![
        server("bare", &[("zone", "central")], true, Value::Null),
        server(
            "sysonly",
            &[],
            true,
            json!({"system": {"manufacturer": "QEMU"}}),
        ),
        server(
            "netbox",
            &[("rack", "r1")],
            true,
            json!({
                "network": {"interfaceCount": 1, "interfaces": [{
                    "index": 1, "name": "eth0", "mtu": 1500, "mac": "aa:bb:cc:dd:ee:ff",
                    "addresses": ["10.0.0.2/24", "fd00::2/64"],
                }]},
                "storage": {"totalSize": "1000 GB", "deviceCount": 1, "devices": [{
                    "type": "NVMe", "size": 1_000_204_886_016_i64, "name": "nvme0n1",
                }]},
                "memory": {"totalSize": "32 GB", "moduleCount": 2, "modules": [
                    {"type": "DDR4", "size": 16384}, {"type": "DDR4", "size": 16384},
                ]},
            }),
        ),
        cordoned(
            server("fenced", &[("zone", "central")], true, ryzen_hardware()),
            true,
        ),
    ]
}
