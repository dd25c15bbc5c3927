//! Replies built byte by byte (as dnsmasq and ISC dhcpd send them, and broken ones).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::Ipv4Addr;

use proptest::prelude::*;
use sidero_dhcpc::reply::parse;
use sidero_dhcpc::{MessageType, ReplyError, Route, request};

const MAC: [u8; 6] = [0x52, 0x54, 0, 0x12, 0x34, 0x56];

/// A BOOTREPLY header for `xid` offering `yiaddr`, followed by `options` and End.
fn reply(xid: u32, yiaddr: [u8; 4], options: &[&[u8]]) -> Vec<u8> {
    let mut p = vec![0u8; 236];
    p[0] = 2;
    p[1] = 1;
    p[2] = 6;
    p[4..8].copy_from_slice(&xid.to_be_bytes());
    p[10] = 0x80;
    p[16..20].copy_from_slice(&yiaddr);
    p[28..34].copy_from_slice(&MAC);
    p.extend_from_slice(&[99, 130, 83, 99]);
    for o in options {
        p.extend_from_slice(o);
    }
    p.push(255);
    p
}

#[test]
fn dnsmasq_style_offer() {
    let p = reply(
        0xdeadbeef,
        [10, 5, 0, 20],
        &[
            &[53, 1, 2],
            &[54, 4, 10, 5, 0, 1],
            &[51, 4, 0, 0, 0x0e, 0x10],
            &[1, 4, 255, 255, 255, 0],
            &[28, 4, 10, 5, 0, 255],
            &[3, 4, 10, 5, 0, 1],
            &[6, 8, 10, 5, 0, 1, 10, 5, 0, 2],
            &[12, 6, b'n', b'o', b'd', b'e', b'-', b'1'],
            &[26, 2, 0x05, 0xdc],
            &[0, 0, 0],
        ],
    );
    let r = parse(&p).unwrap();
    assert_eq!(
        (r.xid, r.chaddr, r.kind),
        (0xdeadbeef, MAC, MessageType::Offer)
    );
    let l = r.lease;
    assert_eq!((l.address, l.prefix), (Ipv4Addr::new(10, 5, 0, 20), 24));
    assert_eq!(l.server_id, Some(Ipv4Addr::new(10, 5, 0, 1)));
    assert_eq!(
        l.dns,
        [Ipv4Addr::new(10, 5, 0, 1), Ipv4Addr::new(10, 5, 0, 2)]
    );
    assert_eq!((l.mtu, l.lease_secs), (Some(1500), Some(3600)));
    assert_eq!(l.hostname.as_deref(), Some("node-1"));
    assert_eq!(
        l.routes(),
        [Route {
            destination: Ipv4Addr::UNSPECIFIED,
            prefix: 0,
            gateway: Ipv4Addr::new(10, 5, 0, 1)
        }]
    );
}

#[test]
fn classless_routes_win_over_routers() {
    let p = reply(
        1,
        [10, 0, 0, 9],
        &[
            &[53, 1, 5],
            &[3, 4, 10, 0, 0, 254],
            &[121, 5, 0, 10, 0, 0, 1],
        ],
    );
    let r = parse(&p).unwrap();
    assert_eq!(r.kind, MessageType::Ack);
    assert_eq!(r.lease.routes()[0].gateway, Ipv4Addr::new(10, 0, 0, 1));
}

#[test]
fn broken_replies() {
    let ok_type: &[u8] = &[53, 1, 2];
    let cases: Vec<(&str, Vec<u8>, ReplyError)> = vec![
        ("empty", vec![], ReplyError::Short(0)),
        ("header only", vec![2; 239], ReplyError::Short(239)),
        (
            "a request",
            {
                let mut p = reply(1, [0; 4], &[ok_type]);
                p[0] = 1;
                p
            },
            ReplyError::NotReply(1),
        ),
        (
            "no cookie",
            {
                let mut p = reply(1, [0; 4], &[ok_type]);
                p[236] = 0;
                p
            },
            ReplyError::NoCookie,
        ),
        ("no type", reply(1, [0; 4], &[]), ReplyError::NoMessageType),
        (
            "option past the end",
            {
                let mut p = reply(1, [0; 4], &[ok_type, &[6, 8, 1, 2, 3, 4]]);
                p.pop();
                p
            },
            ReplyError::Truncated { code: 6 },
        ),
        (
            "length byte missing",
            {
                let mut p = reply(1, [0; 4], &[ok_type, &[6]]);
                p.pop();
                p
            },
            ReplyError::Truncated { code: 6 },
        ),
        (
            "dns not a multiple of 4",
            reply(1, [0; 4], &[ok_type, &[6, 3, 1, 2, 3]]),
            ReplyError::Malformed { code: 6 },
        ),
        (
            "non-contiguous mask",
            reply(1, [0; 4], &[ok_type, &[1, 4, 255, 0, 255, 0]]),
            ReplyError::Malformed { code: 1 },
        ),
        (
            "empty type",
            reply(1, [0; 4], &[&[53, 0]]),
            ReplyError::Malformed { code: 53 },
        ),
        (
            "bad classless",
            reply(1, [0; 4], &[ok_type, &[121, 2, 40, 1]]),
            ReplyError::Malformed { code: 121 },
        ),
        (
            "bad mtu",
            reply(1, [0; 4], &[ok_type, &[26, 1, 5]]),
            ReplyError::Malformed { code: 26 },
        ),
    ];
    for (name, p, want) in cases {
        assert_eq!(parse(&p), Err(want), "{name}");
    }
}

#[test]
fn unknown_options_and_a_missing_end_are_fine() {
    let mut p = reply(
        7,
        [10, 0, 0, 2],
        &[&[53, 1, 2], &[224, 3, 1, 2, 3], &[26, 2, 0, 10]],
    );
    p.pop();
    let r = parse(&p).unwrap();
    assert_eq!(r.lease.mtu, None, "MTU below 68 is ignored");
}

#[test]
fn our_requests_parse_back_as_requests() {
    let d = request::discover(42, MAC);
    assert_eq!(d[0], 1);
    assert_eq!(&d[4..8], &42u32.to_be_bytes());
    assert_eq!(d[10] & 0x80, 0x80, "broadcast flag");
    assert_eq!(&d[28..34], &MAC);
    assert_eq!(parse(&d), Err(ReplyError::NotReply(1)));
    let r = request::request(
        42,
        MAC,
        Ipv4Addr::new(10, 0, 0, 2),
        Ipv4Addr::new(10, 0, 0, 1),
    );
    // Requested address (50) and server id (54) are present.
    assert!(r.windows(6).any(|w| w == [50, 4, 10, 0, 0, 2]));
    assert!(r.windows(6).any(|w| w == [54, 4, 10, 0, 0, 1]));
}

/// An independent decoder (dhcproto) reads our messages as what we meant.
#[test]
fn dhcproto_decodes_our_messages() {
    use dhcproto::v4::{DhcpOption, Message, MessageType as Mt, Opcode, OptionCode};
    use dhcproto::{Decodable, Decoder};
    let decode = |b: &[u8]| Message::decode(&mut Decoder::new(b)).unwrap();
    let server = Ipv4Addr::new(10, 0, 0, 1);
    let address = Ipv4Addr::new(10, 0, 0, 2);
    for (bytes, kind) in [
        (request::discover(0xdead_beef, MAC), Mt::Discover),
        (
            request::request(0xdead_beef, MAC, address, server),
            Mt::Request,
        ),
    ] {
        let m = decode(&bytes);
        assert_eq!(m.opcode(), Opcode::BootRequest);
        assert_eq!(m.xid(), 0xdead_beef);
        assert!(m.flags().broadcast());
        assert_eq!(&m.chaddr()[..6], &MAC);
        assert_eq!(m.ciaddr(), Ipv4Addr::UNSPECIFIED);
        let o = m.opts();
        assert_eq!(
            o.get(OptionCode::MessageType),
            Some(&DhcpOption::MessageType(kind))
        );
        let mut id = vec![1u8];
        id.extend_from_slice(&MAC);
        assert_eq!(
            o.get(OptionCode::ClientIdentifier),
            Some(&DhcpOption::ClientIdentifier(id))
        );
        assert_eq!(
            o.get(OptionCode::MaxMessageSize),
            Some(&DhcpOption::MaxMessageSize(1500))
        );
        let Some(DhcpOption::ParameterRequestList(list)) = o.get(OptionCode::ParameterRequestList)
        else {
            panic!("no parameter request list: {o:?}");
        };
        let codes: Vec<u8> = list.iter().map(|c| u8::from(*c)).collect();
        assert_eq!(codes, request::PARAMETERS);
        let requested = (
            o.get(OptionCode::RequestedIpAddress),
            o.get(OptionCode::ServerIdentifier),
        );
        if kind == Mt::Request {
            assert_eq!(
                requested,
                (
                    Some(&DhcpOption::RequestedIpAddress(address)),
                    Some(&DhcpOption::ServerIdentifier(server))
                )
            );
        } else {
            assert_eq!(requested, (None, None));
        }
    }
}

proptest! {
    #[test]
    fn never_panics(p in proptest::collection::vec(any::<u8>(), 0..700)) {
        let _ = parse(&p);
    }

    #[test]
    fn never_panics_on_options(opts in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut p = reply(1, [10, 0, 0, 2], &[]);
        p.pop();
        p.extend_from_slice(&opts);
        let _ = parse(&p);
    }
}
