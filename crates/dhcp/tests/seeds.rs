//! The fuzz seed corpus (`fuzz/corpus/dhcp_packet/`) holds real-looking client packets; this
//! checks each one gets the answer its name promises, so the seeds stay meaningful.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;

use common::config;
use sidero_dhcp::{FirmwareClass, IgnoreKind, Ingress, respond};

fn seed(name: &str) -> Vec<u8> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/dhcp_packet");
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("seed {name}: {e}"))
}

#[test]
fn seeds_get_the_expected_answers() {
    use FirmwareClass::*;
    let answered = [
        ("bios_pxe_discover", Ingress::Dhcp, X86Bios, "undionly.kpxe"),
        ("uefi_x64_pxe_discover", Ingress::Dhcp, X86Uefi, "snp.efi"),
        ("uefi_ia32_pxe_discover", Ingress::Dhcp, X86Uefi, "snp.efi"),
        ("uefi_bc_pxe_discover", Ingress::Dhcp, X86Uefi, "snp.efi"),
        (
            "arm64_uefi_pxe_discover",
            Ingress::Dhcp,
            Arm64Uefi,
            "snp-arm64.efi",
        ),
        (
            "uefi_x64_http_discover",
            Ingress::Dhcp,
            X86UefiHttp,
            "http://10.42.0.5:8081/tftp/snp.efi",
        ),
        (
            "arm64_uefi_http_discover",
            Ingress::Dhcp,
            Arm64UefiHttp,
            "http://10.42.0.5:8081/tftp/snp-arm64.efi",
        ),
        (
            "ipxe_bios_discover",
            Ingress::Dhcp,
            X86BiosIpxe,
            "tftp://10.42.0.5/undionly.kpxe",
        ),
        ("ipxe_uefi_discover", Ingress::Dhcp, X86Uefi, "snp.efi"),
        (
            "multi_arch_discover",
            Ingress::Dhcp,
            X86UefiHttp,
            "http://10.42.0.5:8081/tftp/snp.efi",
        ),
        (
            "relayed_bios_discover",
            Ingress::Dhcp,
            X86Bios,
            "undionly.kpxe",
        ),
        (
            "pxe_4011_boot_server_request",
            Ingress::PxeBootServer,
            X86Uefi,
            "snp.efi",
        ),
        (
            "overloaded_discover",
            Ingress::Dhcp,
            Arm64Uefi,
            "snp-arm64.efi",
        ),
    ];
    for (name, ingress, class, file) in answered {
        let reply =
            respond(&seed(name), ingress, &config()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(reply.client.class, class, "{name}");
        assert_eq!(reply.boot_file, file, "{name}");
    }
    let err = respond(&seed("linux_dhclient_discover"), Ingress::Dhcp, &config()).unwrap_err();
    assert_eq!(err.kind(), IgnoreKind::NoArchitecture);
}
