//! Every row of the spec §5.1 classification and reply tables, through `respond` on bytes.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::Ipv4Addr;

use common::*;
use sidero_dhcp::dhcproto::v4::{Message, MessageType, Opcode};
use sidero_dhcp::{FirmwareClass, Ignored, Ingress, ProxyConfig, Reply, respond};

/// Lease and network options a proxy must never send.
const LEASE_OPTIONS: [u8; 10] = [1, 3, 6, 12, 15, 28, 50, 51, 58, 59];

fn offer(m: &Message, cfg: &ProxyConfig) -> (Reply, Message) {
    let reply = respond(&encode(m), Ingress::Dhcp, cfg).unwrap();
    let decoded = decode(&reply.bytes);
    (reply, decoded)
}

/// What every proxy reply must look like, whatever the class.
fn assert_common(r: &Message, req: &Message, mtype: MessageType) {
    assert_eq!(r.opcode(), Opcode::BootReply);
    assert_eq!(r.xid(), req.xid());
    assert_eq!(r.flags(), req.flags());
    assert_eq!(r.giaddr(), req.giaddr());
    assert_eq!(r.chaddr(), req.chaddr());
    assert_eq!(r.htype(), req.htype());
    assert_eq!(r.siaddr(), SERVER_IP);
    assert_eq!(
        r.yiaddr(),
        Ipv4Addr::UNSPECIFIED,
        "a proxy never offers an address"
    );
    assert_eq!(r.ciaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(r.opts().msg_type(), Some(mtype));
    assert_eq!(opt_bytes(r, 54).unwrap(), SERVER_IP.octets().to_vec());
    for code in LEASE_OPTIONS {
        assert!(
            opt_bytes(r, code).is_none(),
            "lease option {code} in a proxy reply"
        );
    }
}

/// (option 93 value, class, option 66, option 67) for the upstream configuration.
fn table() -> Vec<(u16, FirmwareClass, Option<&'static str>, &'static str)> {
    use FirmwareClass::*;
    vec![
        (0, X86Bios, Some("10.42.0.5"), "undionly.kpxe"),
        (6, X86Uefi, Some("10.42.0.5"), "snp.efi"),
        (7, X86Uefi, Some("10.42.0.5"), "snp.efi"),
        (9, X86Uefi, Some("10.42.0.5"), "snp.efi"),
        (11, Arm64Uefi, Some("10.42.0.5"), "snp-arm64.efi"),
        (15, X86UefiHttp, None, "http://10.42.0.5:8081/tftp/snp.efi"),
        (16, X86UefiHttp, None, "http://10.42.0.5:8081/tftp/snp.efi"),
        (
            19,
            Arm64UefiHttp,
            None,
            "http://10.42.0.5:8081/tftp/snp-arm64.efi",
        ),
    ]
}

#[test]
fn every_architecture_row() {
    for (arch, class, tftp, file) in table() {
        let req = pxe_discover(arch);
        let (reply, r) = offer(&req, &config());
        assert_common(&r, &req, MessageType::Offer);
        assert_eq!(reply.client.class, class, "arch {arch}");
        assert_eq!(reply.client.arch, arch);
        assert_eq!(opt_string(&r, 66).as_deref(), tftp, "arch {arch}");
        assert_eq!(opt_string(&r, 67).as_deref(), Some(file), "arch {arch}");
        assert_eq!(reply.boot_file, file);
        assert_eq!(
            opt_string(&r, 60).unwrap(),
            format!("PXEClient:Arch:{arch:05}:UNDI:003016"),
            "option 60 copied"
        );
        assert_eq!(opt_bytes(&r, 97).unwrap(), guid(), "option 97 copied");
        assert!(reply.bytes.len() >= 300);
    }
}

#[test]
fn bios_running_ipxe_gets_tftp_url_upstream() {
    for uc in [&b"iPXE"[..], b"\x04iPXE", b"\x04iPXE\x05other"] {
        let req = with_user_class(pxe_discover(0), uc);
        let (reply, r) = offer(&req, &config());
        assert_common(&r, &req, MessageType::Offer);
        assert_eq!(reply.client.class, FirmwareClass::X86BiosIpxe);
        assert_eq!(opt_string(&r, 66), None, "no option 66 for iPXE");
        assert_eq!(
            opt_string(&r, 67).unwrap(),
            "tftp://10.42.0.5/undionly.kpxe"
        );
    }
}

#[test]
fn user_class_must_be_first_and_exact() {
    for uc in [&b"ipxe"[..], b"\x05other\x04iPXE", b"iPXE2", b"\x00"] {
        let req = with_user_class(pxe_discover(0), uc);
        let (reply, r) = offer(&req, &config());
        assert_eq!(reply.client.class, FirmwareClass::X86Bios, "{uc:?}");
        assert_eq!(opt_string(&r, 67).unwrap(), "undionly.kpxe");
    }
}

#[test]
fn uefi_running_ipxe_is_not_special_upstream() {
    for (arch, file) in [(7, "snp.efi"), (11, "snp-arm64.efi")] {
        let req = with_user_class(pxe_discover(arch), b"iPXE");
        let (reply, r) = offer(&req, &config());
        assert!(reply.client.ipxe);
        assert_eq!(opt_string(&r, 67).unwrap(), file);
        assert_eq!(opt_string(&r, 66).unwrap(), "10.42.0.5");
    }
}

#[test]
fn http_script_mode_hands_ipxe_clients_the_script_url() {
    for arch in [0, 6, 7, 9, 11] {
        let req = with_user_class(pxe_discover(arch), b"iPXE");
        let (_, r) = offer(&req, &http_script_config());
        assert_common(&r, &req, MessageType::Offer);
        assert_eq!(
            opt_string(&r, 67).unwrap(),
            "http://10.42.0.5:8081/boot.ipxe",
            "arch {arch}"
        );
        assert_eq!(opt_string(&r, 66), None);
    }
    // Not running iPXE, or HTTP boot firmware: the normal table applies.
    for (arch, _, tftp, file) in table() {
        let (_, r) = offer(&pxe_discover(arch), &http_script_config());
        assert_eq!(opt_string(&r, 67).as_deref(), Some(file));
        assert_eq!(opt_string(&r, 66).as_deref(), tftp);
        let (_, r) = offer(
            &with_user_class(pxe_discover(arch), b"iPXE"),
            &http_script_config(),
        );
        if arch >= 15 {
            assert_eq!(opt_string(&r, 67).as_deref(), Some(file));
        }
    }
}

#[test]
fn last_recognized_architecture_wins() {
    use FirmwareClass::*;
    for (arches, class) in [
        (&[0u16, 7][..], X86Uefi),
        (&[7, 0], X86Bios),
        (&[7, 99], X86Uefi),
        (&[99, 11], Arm64Uefi),
        (&[16, 2, 3], X86UefiHttp),
        (&[0, 19, 0xffff], Arm64UefiHttp),
    ] {
        let req = request(MessageType::Discover, arches);
        let (reply, _) = offer(&req, &config());
        assert_eq!(reply.client.class, class, "{arches:?}");
    }
}

#[test]
fn unsupported_and_missing_architectures_are_ignored() {
    for arches in [&[1u16][..], &[2, 10], &[12, 17, 18, 20], &[0xffff]] {
        let err = respond(
            &encode(&request(MessageType::Discover, arches)),
            Ingress::Dhcp,
            &config(),
        )
        .unwrap_err();
        assert_eq!(
            err,
            Ignored::UnsupportedArchitecture {
                arches: arches.to_vec()
            }
        );
    }
    let err = respond(
        &encode(&request(MessageType::Discover, &[])),
        Ingress::Dhcp,
        &config(),
    );
    assert_eq!(err.unwrap_err(), Ignored::NoArchitecture);
    let mut m = request(MessageType::Discover, &[]);
    set_raw(&mut m, 93, vec![]);
    let err = respond(&encode(&m), Ingress::Dhcp, &config());
    assert_eq!(err.unwrap_err(), Ignored::NoArchitecture, "empty option 93");
    set_raw(&mut m, 93, vec![0, 7, 0]);
    let err = respond(&encode(&m), Ingress::Dhcp, &config()).unwrap_err();
    assert!(matches!(err, Ignored::Malformed(_)), "{err}");
}

#[test]
fn option_97_rules() {
    // Absent: accepted, not sent back.
    let mut req = request(MessageType::Discover, &[7]);
    let (reply, r) = offer(&req, &config());
    assert_eq!(reply.client.guid, None);
    assert_eq!(opt_bytes(&r, 97), None);
    // Valid: copied.
    set_raw(&mut req, 97, guid());
    let (_, r) = offer(&req, &config());
    assert_eq!(opt_bytes(&r, 97).unwrap(), guid());
    // Invalid: wrong leading byte or wrong size.
    let mut bad_lead = guid();
    bad_lead[0] = 1;
    for (g, len, leading) in [
        (bad_lead, 17, 1),
        (guid()[..16].to_vec(), 16, 0),
        ([guid(), vec![9]].concat(), 18, 0),
        (vec![0], 1, 0),
    ] {
        set_raw(&mut req, 97, g);
        let err = respond(&encode(&req), Ingress::Dhcp, &config()).unwrap_err();
        assert_eq!(err, Ignored::BadMachineIdentifier { len, leading });
    }
}

#[test]
fn option_60_copied_or_pxeclient() {
    let req = request(MessageType::Discover, &[16]);
    let (_, r) = offer(&req, &config());
    assert_eq!(opt_string(&r, 60).unwrap(), "PXEClient");
    let mut req = request(MessageType::Discover, &[16]);
    set_raw(&mut req, 60, b"HTTPClient:Arch:00016:UNDI:003001".to_vec());
    let (_, r) = offer(&req, &config());
    assert_eq!(
        opt_string(&r, 60).unwrap(),
        "HTTPClient:Arch:00016:UNDI:003001"
    );
}

#[test]
fn only_discover_is_answered_on_port_67() {
    for mtype in [
        MessageType::Request,
        MessageType::Inform,
        MessageType::Release,
        MessageType::Decline,
        MessageType::Offer,
        MessageType::Ack,
    ] {
        let err = respond(&encode(&pxe_discover_as(mtype)), Ingress::Dhcp, &config());
        assert!(
            matches!(err, Err(Ignored::WrongMessageType { found: Some(_), .. })),
            "{mtype:?}"
        );
    }
    let mut m = pxe_discover(7);
    m.opts_mut()
        .remove(sidero_dhcp::dhcproto::v4::OptionCode::MessageType);
    let err = respond(&encode(&m), Ingress::Dhcp, &config()).unwrap_err();
    assert_eq!(
        err,
        Ignored::WrongMessageType {
            ingress: Ingress::Dhcp,
            found: None
        },
        "BOOTP request"
    );
    let mut m = pxe_discover(7);
    m.set_opcode(Opcode::BootReply);
    let err = respond(&encode(&m), Ingress::Dhcp, &config()).unwrap_err();
    assert_eq!(err, Ignored::NotBootRequest { op: 2 });
}

fn pxe_discover_as(mtype: MessageType) -> Message {
    let mut m = pxe_discover(7);
    m.opts_mut()
        .insert(sidero_dhcp::dhcproto::v4::DhcpOption::MessageType(mtype));
    m
}

#[test]
fn port_4011_answers_request_with_ack() {
    for (arch, _, tftp, file) in table() {
        let mut req = pxe_discover_as(MessageType::Request);
        set_raw(&mut req, 93, arch.to_be_bytes().to_vec());
        req.set_ciaddr(Ipv4Addr::new(10, 42, 0, 120));
        let reply = respond(&encode(&req), Ingress::PxeBootServer, &config()).unwrap();
        let r = decode(&reply.bytes);
        assert_common(&r, &req, MessageType::Ack);
        assert_eq!(opt_string(&r, 66).as_deref(), tftp);
        assert_eq!(opt_string(&r, 67).as_deref(), Some(file));
        assert_eq!(opt_bytes(&r, 97).unwrap(), guid());
        assert_eq!(opt_bytes(&r, 43), None, "no boot item asked, none echoed");
    }
    let err = respond(&encode(&pxe_discover(7)), Ingress::PxeBootServer, &config());
    assert!(matches!(
        err,
        Err(Ignored::WrongMessageType {
            ingress: Ingress::PxeBootServer,
            found: Some(1)
        })
    ));
}

#[test]
fn port_4011_echoes_the_pxe_boot_item() {
    let mut req = pxe_discover_as(MessageType::Request);
    // PXE_BOOT_ITEM (71): type 0x8000, layer 0; preceded by a discovery-control sub-option.
    set_raw(&mut req, 43, vec![6, 1, 8, 71, 4, 0x80, 0, 0, 0, 255]);
    let reply = respond(&encode(&req), Ingress::PxeBootServer, &config()).unwrap();
    let r = decode(&reply.bytes);
    assert_eq!(opt_bytes(&r, 43).unwrap(), vec![71, 4, 0x80, 0, 0, 0, 255]);
    // Not on the DHCP port: option 43 is never in an OFFER.
    let (_, r) = offer(&pxe_discover(7), &config());
    assert_eq!(opt_bytes(&r, 43), None);
}

#[test]
fn relay_fields_and_client_id_are_echoed() {
    let mut req = pxe_discover(0);
    req.set_giaddr(Ipv4Addr::new(10, 1, 2, 1))
        .set_flags(Default::default());
    set_raw(&mut req, 61, vec![1, 0x52, 0x54, 0, 0x12, 0x34, 0x56]);
    let relay = vec![1, 4, b'e', b't', b'h', b'0', 2, 2, 0xab, 0xcd];
    let bytes = encode_with_raw(&req, 82, &relay);
    let reply = respond(&bytes, Ingress::Dhcp, &config()).unwrap();
    let r = decode(&reply.bytes);
    assert_common(&r, &req, MessageType::Offer);
    assert_eq!(r.giaddr(), Ipv4Addr::new(10, 1, 2, 1));
    assert!(!r.flags().broadcast());
    assert_eq!(
        opt_bytes(&r, 61).unwrap(),
        vec![1, 0x52, 0x54, 0, 0x12, 0x34, 0x56]
    );
    // Option 82 is the last option, byte for byte.
    let tail = [vec![82, relay.len() as u8], relay, vec![255]].concat();
    let end = reply.bytes.iter().rposition(|&b| b == 255).unwrap();
    assert_eq!(&reply.bytes[end + 1 - tail.len()..=end], &tail[..]);
}

#[test]
fn ignore_kinds_have_distinct_labels() {
    use sidero_dhcp::IgnoreKind::*;
    let labels: std::collections::BTreeSet<_> = [
        Malformed,
        NotBootRequest,
        WrongMessageType,
        NoArchitecture,
        UnsupportedArchitecture,
        BadMachineIdentifier,
        Encode,
    ]
    .iter()
    .map(|k| k.as_str())
    .collect();
    assert_eq!(labels.len(), 7);
    let classes: std::collections::BTreeSet<_> =
        FirmwareClass::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(classes.len(), 6);
}
