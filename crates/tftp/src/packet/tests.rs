//! Unit tests of the codec.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

#[test]
fn parses_rrq_with_options_and_ignores_incomplete_tail() {
    let pkt = b"\x00\x01boot.efi\x00OcTeT\x00blksize\x001428\x00\x00\x00tsize\x000\x00junk";
    let Packet::Rrq(req) = Packet::parse(pkt).unwrap() else {
        panic!("not an RRQ");
    };
    assert_eq!(req.filename, "boot.efi");
    assert_eq!(req.mode, "OcTeT");
    let opts: Vec<_> = req.options.iter().collect();
    assert_eq!(opts, vec![("blksize", "1428"), ("tsize", "0")]);
}

#[test]
fn rejects_malformed() {
    assert_eq!(Packet::parse(b""), Err(PacketError::TooShort));
    assert_eq!(Packet::parse(b"\x00"), Err(PacketError::TooShort));
    assert_eq!(
        Packet::parse(b"\x00\x09"),
        Err(PacketError::UnknownOpcode(9))
    );
    assert_eq!(
        Packet::parse(b"\x00\x01file"),
        Err(PacketError::MissingTerminator)
    );
    assert_eq!(
        Packet::parse(b"\x00\x01f\x00octet"),
        Err(PacketError::MissingTerminator)
    );
    assert_eq!(
        Packet::parse(b"\x00\x01\xff\x00octet\x00"),
        Err(PacketError::NotUtf8)
    );
    assert_eq!(Packet::parse(b"\x00\x04\x00"), Err(PacketError::TooShort));
}

#[test]
fn lenient_ack_and_error() {
    assert_eq!(
        Packet::parse(b"\x00\x04\x12\x34pad").unwrap(),
        Packet::Ack { block: 0x1234 }
    );
    assert_eq!(
        Packet::parse(b"\x00\x05\x00\x08no nul").unwrap(),
        Packet::Error {
            code: ErrorCode::OptionRefused,
            message: b"no nul"
        }
    );
}

#[test]
fn encoders() {
    assert_eq!(
        encode_error(ErrorCode::FileNotFound, "a\0b"),
        b"\x00\x05\x00\x01a b\x00"
    );
    assert_eq!(
        encode_oack(&[("blksize", "1428")]).unwrap(),
        b"\x00\x06blksize\x001428\x00"
    );
    assert_eq!(encode_oack(&[("a\0", "b")]), Err(EncodeError::InteriorNul));
    assert_eq!(data_header(0xABCD), [0, 3, 0xAB, 0xCD]);
    let mut out = vec![9];
    let bad = Packet::Error {
        code: ErrorCode::NotDefined,
        message: b"x\0",
    };
    assert_eq!(bad.encode(&mut out), Err(EncodeError::InteriorNul));
    assert_eq!(out, vec![9]);
}
