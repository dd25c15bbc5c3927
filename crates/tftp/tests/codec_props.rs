//! Property tests of the untrusted-input code: packet codec, path cleaning, netascii and
//! option negotiation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use sidero_tftp::blocks::netascii_encode;
use sidero_tftp::options::negotiate;
use sidero_tftp::packet::{ErrorCode, Packet, encode_error, encode_oack, encode_option_pairs};
use sidero_tftp::{CleanPath, ServerConfig};

/// Strings without NUL, as they appear in packets.
fn field() -> impl Strategy<Value = String> {
    "[^\u{0}]{0,40}"
}

fn pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(("[^\u{0}]{1,20}", field()), 0..8)
}

/// The netascii decoding clients apply (CR LF → LF, CR NUL → CR).
fn netascii_decode(wire: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < wire.len() {
        match (wire[i], wire.get(i + 1)) {
            (b'\r', Some(b'\n')) => {
                out.push(b'\n');
                i += 2;
            }
            (b'\r', Some(0)) => {
                out.push(b'\r');
                i += 2;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Any bytes: no panic, and whatever parses re-encodes to something that parses the same.
    #[test]
    fn parse_is_total_and_reencodes(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(packet) = Packet::parse(&bytes) {
            let mut wire = Vec::new();
            packet.encode(&mut wire).unwrap();
            prop_assert!(wire.len() <= bytes.len() + 1);
            prop_assert_eq!(Packet::parse(&wire).unwrap(), packet);
        }
    }

    /// Near-valid requests (the interesting part of the input space).
    #[test]
    fn mutated_requests_never_panic(
        op in 0u8..8,
        body in prop::collection::vec(prop_oneof![Just(0u8), any::<u8>(), Just(b'a')], 0..80),
    ) {
        let mut bytes = vec![0, op];
        bytes.extend_from_slice(&body);
        let _ = Packet::parse(&bytes);
    }

    #[test]
    fn requests_round_trip(
        write in any::<bool>(),
        filename in field(),
        mode in field(),
        options in pairs(),
    ) {
        let mut wire = vec![0, if write { 2 } else { 1 }];
        for s in [&filename, &mode] {
            wire.extend_from_slice(s.as_bytes());
            wire.push(0);
        }
        encode_option_pairs(&mut wire, &options).unwrap();
        let packet = Packet::parse(&wire).unwrap();
        let (Packet::Rrq(req) | Packet::Wrq(req)) = packet else {
            panic!("not a request: {packet:?}");
        };
        prop_assert_eq!(matches!(packet, Packet::Wrq(_)), write);
        prop_assert_eq!(req.filename, filename.as_str());
        prop_assert_eq!(req.mode, mode.as_str());
        let got: Vec<(String, String)> =
            req.options.iter().map(|(n, v)| (n.to_owned(), v.to_owned())).collect();
        prop_assert_eq!(got, options);
        let mut again = Vec::new();
        packet.encode(&mut again).unwrap();
        prop_assert_eq!(again, wire);
    }

    #[test]
    fn data_ack_error_oack_round_trip(
        block in any::<u16>(),
        payload in prop::collection::vec(any::<u8>(), 0..1500),
        code in any::<u16>(),
        message in field(),
        options in pairs(),
    ) {
        let packet = Packet::Data { block, data: &payload };
        let mut wire = Vec::new();
        packet.encode(&mut wire).unwrap();
        prop_assert_eq!(Packet::parse(&wire).unwrap(), packet);

        let wire = [0, 4, block.to_be_bytes()[0], block.to_be_bytes()[1]];
        prop_assert_eq!(Packet::parse(&wire).unwrap(), Packet::Ack { block });

        let wire = encode_error(ErrorCode::from_u16(code), &message);
        let parsed = Packet::parse(&wire).unwrap();
        prop_assert_eq!(parsed, Packet::Error {
            code: ErrorCode::from_u16(code),
            message: message.as_bytes(),
        });
        prop_assert_eq!(ErrorCode::from_u16(code).to_u16(), code);

        let wire = encode_oack(&options).unwrap();
        let Packet::Oack(list) = Packet::parse(&wire).unwrap() else {
            panic!("not an OACK");
        };
        let got: Vec<(String, String)> =
            list.iter().map(|(n, v)| (n.to_owned(), v.to_owned())).collect();
        prop_assert_eq!(got, options);
    }

    /// Cleaned paths never hold a component that could climb, and cleaning is idempotent.
    #[test]
    fn cleaned_paths_stay_under_the_root(
        parts in prop::collection::vec(
            prop_oneof![Just("..".to_owned()), Just(".".to_owned()), Just(String::new()),
                        "[a-z./\\\\]{1,6}"],
            0..12,
        ),
        sep in prop_oneof![Just("/"), Just("\\")],
        absolute in any::<bool>(),
    ) {
        let mut requested = parts.join(sep);
        if absolute {
            requested.insert(0, '/');
        }
        if let Ok(clean) = CleanPath::new(&requested) {
            for c in clean.components() {
                prop_assert!(!c.is_empty() && c != "." && c != "..", "{clean}");
                prop_assert!(!c.contains('/') && !c.contains('\\'));
            }
            let root = std::path::Path::new("/srv/tftp");
            let mut joined = root.to_path_buf();
            for c in clean.components() {
                joined.push(c);
            }
            prop_assert!(joined.starts_with(root));
            prop_assert_eq!(CleanPath::new(clean.as_str()).unwrap(), clean);
        }
    }

    #[test]
    fn netascii_round_trips(raw in prop::collection::vec(
        prop_oneof![Just(b'\r'), Just(b'\n'), Just(0u8), any::<u8>()], 0..300)
    ) {
        let mut wire = Vec::new();
        netascii_encode(&raw, &mut wire);
        prop_assert_eq!(netascii_decode(&wire), raw);
    }

    /// Whatever is asked, the granted values stay within the RFCs and the server limits.
    #[test]
    fn negotiation_stays_in_bounds(
        options in prop::collection::vec(
            (prop_oneof![Just("blksize"), Just("windowsize"), Just("timeout"), Just("tsize"),
                         Just("BLKSIZE"), Just("other")],
             prop_oneof!["[0-9]{1,7}", field()]),
            0..8),
        max_block in 8u16..=65464,
        max_window in 1u16..=u16::MAX,
        size in proptest::option::of(any::<u64>()),
    ) {
        let config = ServerConfig {
            max_block_size: max_block,
            max_window_size: max_window,
            ..ServerConfig::default()
        };
        let n = negotiate(options.iter().map(|(k, v)| (*k, v.as_str())), &config, size);
        let o = n.options;
        prop_assert!((8..=max_block).contains(&o.block_size) || o.block_size == 512);
        prop_assert!(o.window_size >= 1 && o.window_size <= max_window);
        prop_assert!(o.window_size <= sidero_tftp::config::HARD_MAX_WINDOW);
        let bytes = usize::from(o.window_size) * (usize::from(o.block_size) + 4);
        prop_assert!(o.window_size == 1 || bytes <= config.max_window_bytes);
        prop_assert!((1..=255).contains(&o.timeout.as_secs()) || o.timeout == config.default_timeout);
        prop_assert!(n.oack.len() <= 4);
        prop_assert!(encode_oack(&n.oack).is_ok());
    }
}
