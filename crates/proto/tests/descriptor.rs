//! The compiled descriptors match the spec's §7.1 table exactly: package, service, methods,
//! every message with every field's number, label and type, the enum, and the reserved number.
//! A typo in `proto/api.proto` fails here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;

use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{FieldDescriptorProto, FileDescriptorProto, FileDescriptorSet};

/// One field: `(name, number, type)`; `repeated X` for lists, the bare message or enum name
/// for references.
type Field = (&'static str, i32, &'static str);

/// Spec §7.1, message by message.
const MESSAGES: &[(&str, &[Field])] = &[
    (
        "BMCInfo",
        &[
            ("ip", 1, "string"),
            ("port", 2, "uint32"),
            ("user", 3, "string"),
            ("pass", 4, "string"),
        ],
    ),
    (
        "SystemInformation",
        &[
            ("uuid", 1, "string"),
            ("manufacturer", 2, "string"),
            ("product_name", 3, "string"),
            ("version", 4, "string"),
            ("serial_number", 5, "string"),
            ("sku_number", 6, "string"),
            ("family", 7, "string"),
        ],
    ),
    (
        "Processor",
        &[
            ("manufacturer", 1, "string"),
            ("product_name", 2, "string"),
            ("serial_number", 3, "string"),
            ("speed", 4, "uint32"),
            ("core_count", 5, "uint32"),
            ("thread_count", 6, "uint32"),
        ],
    ),
    (
        "ComputeInformation",
        &[
            ("total_core_count", 1, "uint32"),
            ("total_thread_count", 2, "uint32"),
            ("processor_count", 3, "uint32"),
            ("processors", 4, "repeated Processor"),
        ],
    ),
    (
        "MemoryModule",
        &[
            ("manufacturer", 1, "string"),
            ("product_name", 2, "string"),
            ("serial_number", 3, "string"),
            ("type", 4, "string"),
            ("size", 5, "uint32"),
            ("speed", 6, "uint32"),
        ],
    ),
    (
        "MemoryInformation",
        &[
            ("total_size", 1, "uint32"),
            ("module_count", 2, "uint32"),
            ("modules", 3, "repeated MemoryModule"),
        ],
    ),
    (
        "StorageDevice",
        &[
            ("type", 1, "StorageType"),
            ("size", 2, "uint64"),
            ("model", 3, "string"),
            ("serial", 4, "string"),
            ("name", 5, "string"),
            ("device_name", 6, "string"),
            ("uuid", 7, "string"),
            ("wwid", 8, "string"),
        ],
    ),
    (
        "StorageInformation",
        &[
            ("total_size", 1, "uint64"),
            ("device_count", 2, "uint32"),
            ("devices", 3, "repeated StorageDevice"),
        ],
    ),
    (
        "NetworkInterface",
        &[
            ("index", 1, "uint32"),
            ("name", 2, "string"),
            ("flags", 3, "string"),
            ("mtu", 4, "uint32"),
            ("mac", 5, "string"),
            ("addresses", 6, "repeated string"),
        ],
    ),
    (
        "NetworkInformation",
        &[
            ("interface_count", 1, "uint32"),
            ("interfaces", 2, "repeated NetworkInterface"),
        ],
    ),
    (
        "HardwareInformation",
        &[
            ("system", 1, "SystemInformation"),
            ("compute", 2, "ComputeInformation"),
            ("memory", 3, "MemoryInformation"),
            ("storage", 4, "StorageInformation"),
            ("network", 5, "NetworkInformation"),
        ],
    ),
    (
        "CreateServerRequest",
        &[
            ("hardware", 1, "HardwareInformation"),
            ("hostname", 3, "string"),
        ],
    ),
    (
        "Address",
        &[("type", 1, "string"), ("address", 2, "string")],
    ),
    (
        "CreateServerResponse",
        &[
            ("wipe", 1, "bool"),
            ("insecure_wipe", 2, "bool"),
            ("setup_bmc", 3, "bool"),
            ("reboot_timeout", 4, "double"),
        ],
    ),
    ("MarkServerAsWipedRequest", &[("uuid", 1, "string")]),
    ("MarkServerAsWipedResponse", &[]),
    (
        "ReconcileServerAddressesRequest",
        &[("uuid", 1, "string"), ("address", 2, "repeated Address")],
    ),
    ("ReconcileServerAddressesResponse", &[]),
    ("HeartbeatRequest", &[("uuid", 1, "string")]),
    ("HeartbeatResponse", &[]),
    (
        "UpdateBMCInfoRequest",
        &[("uuid", 1, "string"), ("bmc_info", 2, "BMCInfo")],
    ),
    ("UpdateBMCInfoResponse", &[]),
];

/// `(method, request, response)`, all unary.
const METHODS: &[(&str, &str, &str)] = &[
    (
        "CreateServer",
        "CreateServerRequest",
        "CreateServerResponse",
    ),
    (
        "MarkServerAsWiped",
        "MarkServerAsWipedRequest",
        "MarkServerAsWipedResponse",
    ),
    (
        "ReconcileServerAddresses",
        "ReconcileServerAddressesRequest",
        "ReconcileServerAddressesResponse",
    ),
    ("Heartbeat", "HeartbeatRequest", "HeartbeatResponse"),
    (
        "UpdateBMCInfo",
        "UpdateBMCInfoRequest",
        "UpdateBMCInfoResponse",
    ),
];

const STORAGE_TYPE: &[(&str, i32)] = &[
    ("Unknown", 0),
    ("SSD", 1),
    ("HDD", 2),
    ("NVMe", 3),
    ("SD", 4),
];

fn api_file() -> FileDescriptorProto {
    let set = FileDescriptorSet::decode(sidero_proto::FILE_DESCRIPTOR_SET).unwrap();
    let mut files: Vec<_> = set
        .file
        .into_iter()
        .filter(|f| f.package() == "api")
        .collect();
    assert_eq!(files.len(), 1, "exactly one file declares package api");
    files.remove(0)
}

/// `api.Foo` references are written `.api.Foo` in descriptors.
fn local(type_name: &str) -> &str {
    type_name
        .strip_prefix(".api.")
        .unwrap_or_else(|| panic!("{type_name} is outside package api"))
}

fn describe(f: &FieldDescriptorProto) -> String {
    let base = match f.r#type() {
        Type::Message | Type::Enum => local(f.type_name()).to_string(),
        Type::String => "string".into(),
        Type::Uint32 => "uint32".into(),
        Type::Uint64 => "uint64".into(),
        Type::Bool => "bool".into(),
        Type::Double => "double".into(),
        other => format!("{other:?}"),
    };
    match f.label() {
        Label::Repeated => format!("repeated {base}"),
        _ => base,
    }
}

#[test]
fn file_is_proto3_package_api() {
    let file = api_file();
    assert_eq!(file.syntax(), "proto3");
    assert_eq!(file.name(), "api.proto");
    assert_eq!(
        file.options.as_ref().unwrap().go_package(),
        "github.com/talos-systems/sidero/app/sidero-controller-manager/internal/api"
    );
}

#[test]
fn every_message_matches_the_spec_table() {
    let file = api_file();
    let got: BTreeMap<&str, Vec<(String, i32, String)>> = file
        .message_type
        .iter()
        .map(|m| {
            let fields = m
                .field
                .iter()
                .map(|f| {
                    // proto3 `optional` would make a synthetic oneof: none in this API.
                    assert!(
                        f.oneof_index.is_none(),
                        "{}.{} is in a oneof",
                        m.name(),
                        f.name()
                    );
                    (f.name().to_string(), f.number(), describe(f))
                })
                .collect();
            (m.name(), fields)
        })
        .collect();
    let want: BTreeMap<&str, Vec<(String, i32, String)>> = MESSAGES
        .iter()
        .map(|(name, fields)| {
            let fields = fields
                .iter()
                .map(|(n, num, t)| (n.to_string(), *num, t.to_string()))
                .collect();
            (*name, fields)
        })
        .collect();
    for (name, fields) in &want {
        assert_eq!(got.get(name), Some(fields), "message {name}");
    }
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "set of messages"
    );
    for m in &file.message_type {
        assert!(
            m.nested_type.is_empty() && m.enum_type.is_empty(),
            "{}",
            m.name()
        );
    }
}

#[test]
fn create_server_request_reserves_number_two_only() {
    let file = api_file();
    let m = file
        .message_type
        .iter()
        .find(|m| m.name() == "CreateServerRequest")
        .unwrap();
    let reserved: Vec<_> = m
        .reserved_range
        .iter()
        .map(|r| (r.start(), r.end()))
        .collect();
    // Descriptor ranges are end-exclusive.
    assert_eq!(reserved, [(2, 3)]);
    for other in file.message_type.iter().filter(|o| o.name() != m.name()) {
        assert!(other.reserved_range.is_empty(), "{}", other.name());
    }
}

#[test]
fn storage_type_enum_matches_the_spec() {
    let file = api_file();
    assert_eq!(file.enum_type.len(), 1);
    let e = &file.enum_type[0];
    assert_eq!(e.name(), "StorageType");
    let got: Vec<_> = e.value.iter().map(|v| (v.name(), v.number())).collect();
    assert_eq!(got, STORAGE_TYPE);
}

#[test]
fn agent_service_has_the_five_unary_methods() {
    let file = api_file();
    assert_eq!(file.service.len(), 1);
    let s = &file.service[0];
    assert_eq!(
        format!("{}.{}", file.package(), s.name()),
        sidero_proto::AGENT_SERVICE
    );
    let got: Vec<_> = s
        .method
        .iter()
        .map(|m| {
            assert!(
                !m.client_streaming() && !m.server_streaming(),
                "{}",
                m.name()
            );
            (m.name(), local(m.input_type()), local(m.output_type()))
        })
        .collect();
    assert_eq!(got, METHODS);
}

#[test]
fn generated_types_round_trip_on_the_wire() {
    use sidero_proto::api;
    // Hand-encoded bytes: field 3 (hostname) as a length-delimited string "h",
    // field 1 (hardware) holding field 1 (system) holding field 1 (uuid) "u".
    let bytes = [0x0a, 0x05, 0x0a, 0x03, 0x0a, 0x01, b'u', 0x1a, 0x01, b'h'];
    let req = api::CreateServerRequest::decode(&bytes[..]).unwrap();
    assert_eq!(req.hostname, "h");
    assert_eq!(req.hardware.unwrap().system.unwrap().uuid, "u");
    // reboot_timeout is field 4, a double (fixed64 wire type 1): tag 0x21.
    let resp = api::CreateServerResponse {
        wipe: true,
        insecure_wipe: false,
        setup_bmc: true,
        reboot_timeout: 1200.0,
    };
    let enc = resp.encode_to_vec();
    let mut want = vec![0x08, 0x01, 0x18, 0x01, 0x21];
    want.extend_from_slice(&1200f64.to_le_bytes());
    assert_eq!(enc, want);
}
