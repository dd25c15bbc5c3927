//! The compiled SideroLink and Talos events descriptors match spec §8.1 and §8.6: packages,
//! services, methods, every message field's number, label and type, optional fields, enum
//! values and the reserved number. A typo in `proto/{siderolink,events,machine,common}` fails
//! here, and so does a message name that would change an `Any` type URL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use prost::{Message, Name};
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorProto, FileDescriptorSet};

/// `(name, number, type)`; `repeated X` for lists, `optional X` for proto3 optional fields,
/// the full name for message and enum references.
type Field = (&'static str, i32, &'static str);

fn file(package: &str) -> FileDescriptorProto {
    let set = FileDescriptorSet::decode(sidero_proto::FILE_DESCRIPTOR_SET).unwrap();
    let mut files: Vec<_> = set
        .file
        .into_iter()
        .filter(|f| f.package() == package)
        .collect();
    assert_eq!(
        files.len(),
        1,
        "exactly one file declares package {package}"
    );
    files.remove(0)
}

fn describe(f: &FieldDescriptorProto) -> String {
    let base = match f.r#type() {
        Type::Message | Type::Enum => f.type_name().trim_start_matches('.').to_string(),
        Type::String => "string".into(),
        Type::Bool => "bool".into(),
        other => format!("{other:?}"),
    };
    match f.label() {
        Label::Repeated => format!("repeated {base}"),
        _ if f.proto3_optional() => format!("optional {base}"),
        _ => base,
    }
}

fn fields(m: &DescriptorProto) -> Vec<(String, i32, String)> {
    m.field
        .iter()
        .map(|f| (f.name().to_string(), f.number(), describe(f)))
        .collect()
}

fn want(fields: &[Field]) -> Vec<(String, i32, String)> {
    fields
        .iter()
        .map(|(n, num, t)| (n.to_string(), *num, t.to_string()))
        .collect()
}

fn message<'a>(file: &'a FileDescriptorProto, name: &str) -> &'a DescriptorProto {
    file.message_type
        .iter()
        .find(|m| m.name() == name)
        .unwrap_or_else(|| panic!("message {name} in {}", file.package()))
}

fn enum_values(values: &[prost_types::EnumValueDescriptorProto]) -> Vec<(&str, i32)> {
    values.iter().map(|v| (v.name(), v.number())).collect()
}

#[test]
fn provision_service_matches_spec_8_1() {
    let f = file("sidero.link");
    assert_eq!(f.syntax(), "proto3");
    assert_eq!(f.service.len(), 1);
    let s = &f.service[0];
    assert_eq!(
        format!("{}.{}", f.package(), s.name()),
        sidero_proto::PROVISION_SERVICE
    );
    let methods: Vec<_> = s
        .method
        .iter()
        .map(|m| {
            assert!(!m.client_streaming() && !m.server_streaming());
            (m.name(), m.input_type(), m.output_type())
        })
        .collect();
    assert_eq!(
        methods,
        [(
            "Provision",
            ".sidero.link.ProvisionRequest",
            ".sidero.link.ProvisionResponse"
        )]
    );
    assert_eq!(
        fields(message(&f, "ProvisionRequest")),
        want(&[
            ("node_uuid", 1, "string"),
            ("node_public_key", 2, "string"),
            ("join_token", 3, "optional string"),
            ("node_unique_token", 4, "optional string"),
            ("talos_version", 5, "optional string"),
            ("wireguard_over_grpc", 6, "optional bool"),
        ])
    );
    let resp = message(&f, "ProvisionResponse");
    assert_eq!(
        fields(resp),
        want(&[
            ("server_endpoint", 1, "repeated string"),
            ("server_public_key", 3, "string"),
            ("node_address_prefix", 4, "string"),
            ("server_address", 5, "string"),
            ("grpc_peer_addr_port", 6, "string"),
        ])
    );
    let reserved: Vec<_> = resp
        .reserved_range
        .iter()
        .map(|r| (r.start(), r.end()))
        .collect();
    assert_eq!(reserved, [(2, 3)], "number 2 is unused");
    assert_eq!(f.message_type.len(), 2);
}

#[test]
fn event_sink_service_matches_spec_8_6() {
    let f = file("events");
    let s = &f.service[0];
    assert_eq!(f.service.len(), 1);
    assert_eq!(
        format!("{}.{}", f.package(), s.name()),
        sidero_proto::EVENT_SINK_SERVICE
    );
    let methods: Vec<_> = s
        .method
        .iter()
        .map(|m| {
            assert!(!m.client_streaming() && !m.server_streaming());
            (m.name(), m.input_type(), m.output_type())
        })
        .collect();
    assert_eq!(
        methods,
        [("Publish", ".events.EventRequest", ".events.EventResponse")]
    );
    assert_eq!(
        fields(message(&f, "EventRequest")),
        want(&[
            ("data", 1, "google.protobuf.Any"),
            ("id", 2, "string"),
            ("actor_id", 3, "string"),
        ])
    );
    assert!(message(&f, "EventResponse").field.is_empty());
}

/// Spec §8.6: every decoded Talos message, its fields and nested `Action` enum.
#[test]
fn machine_events_match_spec_8_6() {
    let f = file("machine");
    type Msg = (
        &'static str,
        &'static [Field],
        &'static [(&'static str, i32)],
    );
    let table: &[Msg] = &[
        (
            "AddressEvent",
            &[
                ("hostname", 1, "string"),
                ("addresses", 2, "repeated string"),
            ],
            &[],
        ),
        ("ConfigValidationErrorEvent", &[("error", 1, "string")], &[]),
        ("ConfigLoadErrorEvent", &[("error", 1, "string")], &[]),
        (
            "PhaseEvent",
            &[
                ("phase", 1, "string"),
                ("action", 2, "machine.PhaseEvent.Action"),
            ],
            &[("START", 0), ("STOP", 1)],
        ),
        (
            "TaskEvent",
            &[
                ("task", 1, "string"),
                ("action", 2, "machine.TaskEvent.Action"),
            ],
            &[("START", 0), ("STOP", 1)],
        ),
        (
            "ServiceStateEvent",
            &[
                ("service", 1, "string"),
                ("action", 2, "machine.ServiceStateEvent.Action"),
                ("message", 3, "string"),
                ("health", 4, "machine.ServiceHealth"),
            ],
            &[
                ("INITIALIZED", 0),
                ("PREPARING", 1),
                ("WAITING", 2),
                ("RUNNING", 3),
                ("STOPPING", 4),
                ("FINISHED", 5),
                ("FAILED", 6),
                ("SKIPPED", 7),
                ("STARTING", 8),
            ],
        ),
        (
            "ServiceHealth",
            &[
                ("unknown", 1, "bool"),
                ("healthy", 2, "bool"),
                ("last_message", 3, "string"),
                ("last_change", 4, "google.protobuf.Timestamp"),
            ],
            &[],
        ),
        (
            "SequenceEvent",
            &[
                ("sequence", 1, "string"),
                ("action", 2, "machine.SequenceEvent.Action"),
                ("error", 3, "common.Error"),
            ],
            &[("NOOP", 0), ("START", 1), ("STOP", 2)],
        ),
    ];
    for (name, want_fields, want_enum) in table {
        let m = message(&f, name);
        assert_eq!(fields(m), want(want_fields), "{name}");
        let got_enum = m
            .enum_type
            .iter()
            .find(|e| e.name() == "Action")
            .map(|e| enum_values(&e.value))
            .unwrap_or_default();
        assert_eq!(got_enum, *want_enum, "{name}.Action");
    }
    assert_eq!(f.message_type.len(), table.len());

    let c = file("common");
    let err = message(&c, "Error");
    assert_eq!(
        fields(err),
        want(&[
            ("code", 1, "common.Code"),
            ("message", 2, "string"),
            ("details", 3, "repeated google.protobuf.Any"),
        ])
    );
    assert_eq!(
        enum_values(&c.enum_type[0].value),
        [("FATAL", 0), ("LOCKED", 1), ("CANCELED", 2)]
    );
}

/// The `Any` type URLs Talos sends are the generated types' full names.
#[test]
fn any_type_urls_are_talos_names() {
    use sidero_proto::machine;
    let urls = [
        machine::AddressEvent::type_url(),
        machine::ConfigValidationErrorEvent::type_url(),
        machine::ConfigLoadErrorEvent::type_url(),
        machine::PhaseEvent::type_url(),
        machine::TaskEvent::type_url(),
        machine::ServiceStateEvent::type_url(),
        machine::SequenceEvent::type_url(),
    ];
    assert_eq!(
        urls,
        [
            "type.googleapis.com/machine.AddressEvent",
            "type.googleapis.com/machine.ConfigValidationErrorEvent",
            "type.googleapis.com/machine.ConfigLoadErrorEvent",
            "type.googleapis.com/machine.PhaseEvent",
            "type.googleapis.com/machine.TaskEvent",
            "type.googleapis.com/machine.ServiceStateEvent",
            "type.googleapis.com/machine.SequenceEvent",
        ]
    );
}

#[test]
fn provision_messages_round_trip_hand_encoded_bytes() {
    use sidero_proto::sidero::link;
    // node_uuid "u" (field 1), node_public_key "k" (2), wireguard_over_grpc true (6).
    let bytes = [0x0a, 0x01, b'u', 0x12, 0x01, b'k', 0x30, 0x01];
    let req = link::ProvisionRequest::decode(&bytes[..]).unwrap();
    assert_eq!(
        (req.node_uuid.as_str(), req.node_public_key.as_str()),
        ("u", "k")
    );
    assert_eq!(req.wireguard_over_grpc, Some(true));
    assert_eq!(req.join_token, None);
    let resp = link::ProvisionResponse {
        server_endpoint: vec!["e".into()],
        server_public_key: "p".into(),
        node_address_prefix: "n".into(),
        server_address: "s".into(),
        grpc_peer_addr_port: String::new(),
    };
    assert_eq!(
        resp.encode_to_vec(),
        [
            0x0a, 0x01, b'e', 0x1a, 0x01, b'p', 0x22, 0x01, b'n', 0x2a, 0x01, b's'
        ]
    );
}
