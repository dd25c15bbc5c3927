//! Malformed and odd packets, and property tests: `respond` never panics, and whatever it
//! answers never carries an address or a lease option.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::Ipv4Addr;

use common::*;
use proptest::prelude::*;
use sidero_dhcp::dhcproto::v4::MessageType;
use sidero_dhcp::{Ignored, Ingress, MalformedPacket, Reply, respond};

fn both_ports(bytes: &[u8]) -> [Result<Reply, Ignored>; 2] {
    [
        respond(bytes, Ingress::Dhcp, &config()),
        respond(bytes, Ingress::PxeBootServer, &http_script_config()),
    ]
}

fn malformed(bytes: &[u8]) -> MalformedPacket {
    match respond(bytes, Ingress::Dhcp, &config()) {
        Err(Ignored::Malformed(m)) => m,
        other => panic!("expected malformed, got {other:?}"),
    }
}

#[test]
fn short_and_garbage_packets() {
    assert_eq!(malformed(&[]), MalformedPacket::TooShort { len: 0 });
    assert_eq!(malformed(&[1; 239]), MalformedPacket::TooShort { len: 239 });
    assert!(matches!(
        malformed(&[0xff; 600]),
        MalformedPacket::BadMagicCookie { .. }
    ));
    let valid = encode(&pxe_discover(7));
    assert!(matches!(
        malformed(&valid[..236]),
        MalformedPacket::TooShort { .. }
    ));
}

#[test]
fn truncated_options() {
    let valid = encode(&pxe_discover(7));
    // Cut inside the options: some cut lands in an option's value or length byte.
    let mut truncated = 0;
    for cut in 241..valid.len() - 1 {
        match respond(&valid[..cut], Ingress::Dhcp, &config()) {
            Err(Ignored::Malformed(MalformedPacket::TruncatedOption { .. })) => truncated += 1,
            Err(_) => {}
            Ok(r) => assert_eq!(r.message.yiaddr(), Ipv4Addr::UNSPECIFIED),
        }
    }
    assert!(truncated > 10);
}

#[test]
fn missing_end_and_trailing_bytes_are_tolerated() {
    let mut bytes = encode(&pxe_discover(0));
    assert_eq!(bytes.pop(), Some(255));
    assert!(respond(&bytes, Ingress::Dhcp, &config()).is_ok(), "no End");
    bytes.extend_from_slice(&[255, 0xde, 0xad, 0xbe, 0xef]);
    assert!(
        respond(&bytes, Ingress::Dhcp, &config()).is_ok(),
        "junk after End"
    );
}

#[test]
fn overload_with_garbage_fields() {
    let mut bytes = encode(&pxe_discover(0));
    // Option 52 = 3 (file and sname hold options), but the fields hold a truncated option.
    bytes.pop();
    bytes.extend_from_slice(&[52, 1, 3, 255]);
    bytes[108] = 60;
    bytes[109] = 200;
    assert!(matches!(
        malformed(&bytes),
        MalformedPacket::TruncatedOption { code: 60 }
    ));
}

#[test]
fn odd_header_values() {
    let mut m = pxe_discover(7);
    m.set_hops(255)
        .set_secs(u16::MAX)
        .set_ciaddr(Ipv4Addr::BROADCAST);
    let mut bytes = encode(&m);
    bytes[1] = 0xff; // unknown htype
    bytes[2] = 0xff; // hlen > 16
    let reply = respond(&bytes, Ingress::Dhcp, &config()).unwrap();
    assert_eq!(reply.message.chaddr().len(), 16);
    assert_eq!(reply.message.yiaddr(), Ipv4Addr::UNSPECIFIED);
    bytes[2] = 0;
    let reply = respond(&bytes, Ingress::Dhcp, &config()).unwrap();
    assert!(reply.message.chaddr().is_empty());
}

#[test]
fn huge_concatenated_options() {
    let mut bytes = encode(&request(MessageType::Discover, &[]));
    bytes.pop();
    // 200 copies of option 93 (400 architecture values) and a 1 KiB vendor class.
    for _ in 0..200 {
        bytes.extend_from_slice(&[93, 2, 0, 99]);
    }
    bytes.extend_from_slice(&[93, 2, 0, 7]);
    for _ in 0..4 {
        bytes.push(60);
        bytes.push(255);
        bytes.extend(std::iter::repeat_n(b'x', 255));
    }
    bytes.push(255);
    let reply = respond(&bytes, Ingress::Dhcp, &config()).unwrap();
    assert_eq!(reply.client.arch, 7);
    let r = decode(&reply.bytes);
    // Option 60 is echoed, split into RFC 3396 chunks.
    assert!(reply.bytes.len() > 1020 + 240);
    assert_eq!(r.xid(), XID);
}

/// Checks the invariants of any reply.
fn check_reply(reply: &Reply) {
    assert_eq!(reply.message.yiaddr(), Ipv4Addr::UNSPECIFIED);
    for code in [1u8, 3, 6, 51, 58, 59] {
        assert!(opt_bytes(&reply.message, code).is_none());
    }
    assert!(reply.bytes.len() >= 300);
    assert_eq!(&reply.bytes[236..240], &sidero_dhcp::MAGIC_COOKIE);
    assert_eq!(&reply.bytes[16..20], &[0, 0, 0, 0], "yiaddr on the wire");
}

/// A syntactically valid request with arbitrary header values and options.
fn structured_request() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<[u8; 236]>(),
        prop::collection::vec((1u8..255, prop::collection::vec(any::<u8>(), 0..40)), 0..12),
        prop::option::of(prop_oneof![Just(1u8), Just(3), 0u8..10]),
        prop::collection::vec(prop_oneof![0u16..25, any::<u16>()], 0..4),
        prop::option::of(prop_oneof![
            Just(common::guid()),
            prop::collection::vec(any::<u8>(), 0..20)
        ]),
    )
        .prop_map(|(header, opts, mtype, arches, guid)| {
            let mut p = header.to_vec();
            p[0] = 1;
            p.extend_from_slice(&sidero_dhcp::MAGIC_COOKIE);
            if let Some(t) = mtype {
                p.extend_from_slice(&[53, 1, t]);
            }
            if !arches.is_empty() {
                p.push(93);
                p.push((arches.len() * 2) as u8);
                p.extend(arches.iter().flat_map(|a| a.to_be_bytes()));
            }
            if let Some(g) = guid {
                p.push(97);
                p.push(g.len() as u8);
                p.extend(g);
            }
            for (code, value) in opts {
                p.push(code);
                p.push(value.len() as u8);
                p.extend(value);
            }
            p.push(255);
            p
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..700)) {
        for r in both_ports(&bytes).iter().flatten() {
            check_reply(r);
        }
    }

    #[test]
    fn cookie_prefixed_bytes_never_panic(tail in prop::collection::vec(any::<u8>(), 0..400)) {
        let mut bytes = encode(&pxe_discover(0))[..240].to_vec();
        bytes.extend(tail);
        for r in both_ports(&bytes).iter().flatten() {
            check_reply(r);
        }
    }

    #[test]
    fn structured_requests_never_set_yiaddr(bytes in structured_request()) {
        let answered = both_ports(&bytes);
        for r in answered.iter().flatten() {
            check_reply(r);
            prop_assert!(!r.boot_file.is_empty());
            let decoded = decode(&r.bytes);
            prop_assert_eq!(&decoded.xid().to_be_bytes()[..], &bytes[4..8]);
            prop_assert_eq!(decoded.siaddr(), SERVER_IP);
        }
    }

    #[test]
    fn mutated_discovers_never_panic(
        arch in prop_oneof![Just(0u16), Just(7), Just(11), Just(16), Just(19)],
        flips in prop::collection::vec((0usize..400, any::<u8>()), 1..8),
    ) {
        let mut bytes = encode(&with_user_class(pxe_discover(arch), b"iPXE"));
        for (at, value) in flips {
            let len = bytes.len();
            bytes[at % len] = value;
        }
        for r in both_ports(&bytes).iter().flatten() {
            check_reply(r);
        }
    }
}

/// The structured strategy must actually reach the reply path, or the property above proves
/// little.
#[test]
fn structured_strategy_reaches_replies() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = structured_request();
    let mut answered = 0;
    for _ in 0..1000 {
        let bytes = strategy.new_tree(&mut runner).unwrap().current();
        answered += both_ports(&bytes).iter().flatten().count();
    }
    assert!(answered >= 20, "only {answered} of 2000 answered");
}
