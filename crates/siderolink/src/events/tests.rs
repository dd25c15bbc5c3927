#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use machine::{phase_event, sequence_event};

const NODE: &str = "fdae:2859:5bb1:7a03:3ae3:be30:7ec4:4c09";

fn node() -> IpAddr {
    NODE.parse().unwrap()
}

fn pack<M: Message + Name>(m: &M) -> Any {
    Any {
        type_url: M::type_url(),
        value: m.encode_to_vec(),
    }
}

fn phase(p: &str, action: phase_event::Action) -> TalosEvent {
    TalosEvent::Phase(machine::PhaseEvent {
        phase: p.into(),
        action: action as i32,
    })
}

fn sequence(
    s: &str,
    action: sequence_event::Action,
    err: Option<(common::Code, &str)>,
) -> TalosEvent {
    TalosEvent::Sequence(machine::SequenceEvent {
        sequence: s.into(),
        action: action as i32,
        error: err.map(|(code, m)| common::Error {
            code: code as i32,
            message: m.into(),
            details: vec![],
        }),
    })
}

/// `(type, status, reason, severity, message)` as compact tuples.
fn conds(fx: &Effects) -> Vec<(&str, bool, &str, &str, String)> {
    fx.conditions
        .iter()
        .map(|c| (c.type_, c.status, c.reason, c.severity, c.message.clone()))
        .collect()
}

#[test]
fn event_to_condition_table() {
    use phase_event::Action as P;
    use sequence_event::Action as S;
    let t = |s: &'static str| (s, true, "", "", String::new());
    type Row = (
        TalosEvent,
        Vec<(&'static str, bool, &'static str, &'static str, String)>,
    );
    let rows: Vec<Row> = vec![
        (
            phase("install", P::Start),
            vec![(
                TALOS_INSTALLED,
                false,
                REASON_INSTALL_IN_PROGRESS,
                "Info",
                String::new(),
            )],
        ),
        (phase("install", P::Stop), vec![]),
        (
            phase("saveConfig", P::Start),
            vec![t(TALOS_CONFIG_VALIDATED), t(TALOS_CONFIG_LOADED)],
        ),
        (phase("saveConfig", P::Stop), vec![]),
        (phase("mountState", P::Start), vec![]),
        (
            sequence("boot", S::Start, None),
            vec![
                t(TALOS_INSTALLED),
                t(TALOS_CONFIG_VALIDATED),
                t(TALOS_CONFIG_LOADED),
            ],
        ),
        (sequence("boot", S::Stop, None), vec![]),
        (sequence("install", S::Start, None), vec![]),
        (sequence("install", S::Noop, None), vec![]),
        (
            sequence(
                "install",
                S::Noop,
                Some((
                    common::Code::Fatal,
                    "error rebooting: unix.Reboot: operation not permitted",
                )),
            ),
            vec![t(TALOS_INSTALLED)],
        ),
        (
            sequence(
                "install",
                S::Noop,
                Some((common::Code::Fatal, "disk not found")),
            ),
            vec![(
                TALOS_INSTALLED,
                false,
                REASON_INSTALL_FAILED,
                "Error",
                "disk not found".into(),
            )],
        ),
        // Only FATAL errors count.
        (
            sequence(
                "install",
                S::Noop,
                Some((common::Code::Canceled, "disk not found")),
            ),
            vec![],
        ),
        (
            TalosEvent::ConfigLoadError(machine::ConfigLoadErrorEvent {
                error: "yaml: line 3".into(),
            }),
            vec![(
                TALOS_CONFIG_LOADED,
                false,
                REASON_CONFIG_LOAD_FAILED,
                "Error",
                "yaml: line 3".into(),
            )],
        ),
        (
            TalosEvent::ConfigValidationError(machine::ConfigValidationErrorEvent {
                error: "1 error occurred".into(),
            }),
            vec![(
                TALOS_CONFIG_VALIDATED,
                false,
                REASON_CONFIG_VALIDATION_FAILED,
                "Error",
                "1 error occurred".into(),
            )],
        ),
        (
            TalosEvent::Task(machine::TaskEvent {
                task: "saveConfig".into(),
                action: 0,
            }),
            vec![],
        ),
        (
            TalosEvent::ServiceState(machine::ServiceStateEvent {
                service: "etcd".into(),
                action: 3,
                ..Default::default()
            }),
            vec![],
        ),
    ];
    for (event, want) in rows {
        let fx = effects(&event, node(), &[]);
        assert_eq!(conds(&fx), want, "{event:?}");
        assert!(fx.addresses.is_none());
    }
}

#[test]
fn address_events_are_filtered() {
    let filter = parse_filter(["-", "10.0.0.0/8,fd00:aaaa::/32", ""]).unwrap();
    let event = TalosEvent::Address(machine::AddressEvent {
        hostname: "pxe-2".into(),
        addresses: vec![
            "172.25.0.5".into(),
            "172.25.0.6/24".into(),
            NODE.into(),
            format!("{NODE}/64"),
            "10.1.2.3".into(),
            "fd00:aaaa::7".into(),
            "fd00:bbbb::7".into(),
            "not-an-ip".into(),
        ],
    });
    let fx = effects(&event, node(), &filter);
    assert!(fx.conditions.is_empty());
    assert_eq!(
        fx.addresses,
        Some((
            "pxe-2".into(),
            vec![
                "172.25.0.5".into(),
                "172.25.0.6".into(),
                "fd00:bbbb::7".into()
            ]
        ))
    );
}

#[test]
fn filters_parse_like_upstream() {
    assert_eq!(parse_filter(["-"]).unwrap(), vec![]);
    assert!(parse_filter(["10.0.0.0/33"]).is_err());
    assert!(parse_filter(["10.0.0.0"]).is_err());
    let c: Cidr = "192.168.0.0/16".parse().unwrap();
    assert!(c.contains("192.168.7.1".parse().unwrap()));
    assert!(c.contains("::ffff:192.168.7.1".parse().unwrap()));
    assert!(!c.contains("192.169.0.1".parse().unwrap()));
    assert!(!c.contains("fd00::1".parse().unwrap()));
    let all: Cidr = "0.0.0.0/0".parse().unwrap();
    assert!(all.contains("8.8.8.8".parse().unwrap()));
    let odd: Cidr = "10.128.0.0/9".parse().unwrap();
    assert!(odd.contains("10.200.0.1".parse().unwrap()));
    assert!(!odd.contains("10.100.0.1".parse().unwrap()));
}

#[test]
fn decoding_known_unknown_and_broken_payloads() {
    let ev = machine::PhaseEvent {
        phase: "install".into(),
        action: 0,
    };
    assert_eq!(
        decode(&pack(&ev)).unwrap(),
        Some(TalosEvent::Phase(ev.clone()))
    );
    let addr = machine::AddressEvent {
        hostname: "h".into(),
        addresses: vec!["1.2.3.4".into()],
    };
    assert_eq!(
        decode(&pack(&addr)).unwrap(),
        Some(TalosEvent::Address(addr))
    );
    // Types Sidero ignores are acknowledged, not errors.
    let other = Any {
        type_url: "type.googleapis.com/machine.MachineStatusEvent".into(),
        value: vec![0x08, 0x01],
    };
    assert_eq!(decode(&other).unwrap(), None);
    // A known type whose bytes do not decode is an error.
    let broken = Any {
        type_url: machine::PhaseEvent::type_url(),
        value: vec![0x0a, 0x05, b'a'],
    };
    let err = decode(&broken).unwrap_err();
    assert_eq!(err.type_url, "type.googleapis.com/machine.PhaseEvent");
}

#[test]
fn log_fields_name_the_event() {
    let f = log_fields(&TalosEvent::Address(machine::AddressEvent {
        hostname: "pxe-2".into(),
        addresses: vec!["172.25.0.5".into(), "10.0.0.1".into()],
    }));
    assert_eq!(f["hostname"], "pxe-2");
    assert_eq!(f["addresses"], "172.25.0.5,10.0.0.1");
    let f = log_fields(&sequence(
        "install",
        sequence_event::Action::Noop,
        Some((common::Code::Fatal, "x")),
    ));
    assert_eq!(f["action"], "NOOP");
    assert_eq!(f["error"]["code"], "FATAL");
}
