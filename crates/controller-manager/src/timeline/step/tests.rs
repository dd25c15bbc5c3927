use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use super::*;

const IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 5, 0, 7));

fn http(path: &str, branch: Option<&'static str>, status: u16) -> Step {
    Step::Http {
        ip: IP,
        path: path.into(),
        uuid: Some("u1".into()),
        branch,
        status,
    }
}

fn tftp(failure: Option<&str>) -> Step {
    Step::Tftp {
        ip: IP,
        file: "snp.efi".into(),
        bytes: 4096,
        duration: Duration::from_millis(1500),
        failure: failure.map(Into::into),
    }
}

#[test]
fn each_step_becomes_a_readable_event() {
    let dhcp = Step::Dhcp {
        port: "dhcp",
        mac: "52:54:00:aa:bb:cc".into(),
        ip: None,
        uuid: Some("u1".into()),
        firmware: "UEFI x86-64".into(),
        boot_file: "snp.efi".into(),
    };
    let mut pxe = dhcp.clone();
    if let Step::Dhcp { port, .. } = &mut pxe {
        *port = "pxe";
    }
    /// Warning, reason, note.
    type Want = Option<(bool, &'static str, &'static str)>;
    let table: Vec<(Step, Want)> = vec![
        (
            dhcp,
            Some((
                false,
                "DHCPOffer",
                "proxy DHCP (67) handed snp.efi to UEFI x86-64 firmware (52:54:00:aa:bb:cc)",
            )),
        ),
        (
            pxe,
            Some((
                false,
                "DHCPOffer",
                "PXE boot server (4011) handed snp.efi to UEFI x86-64 firmware (52:54:00:aa:bb:cc)",
            )),
        ),
        (
            tftp(None),
            Some((
                false,
                "TFTPTransfer",
                "sent snp.efi over TFTP to 10.5.0.7 (4096 bytes in 1.5 s)",
            )),
        ),
        (
            tftp(Some("timed out after 5 retransmissions")),
            Some((
                true,
                "TFTPTransferFailed",
                "TFTP transfer of snp.efi to 10.5.0.7 failed after 4096 bytes: timed out after 5 retransmissions",
            )),
        ),
        (
            tftp(Some("superseded by a new request from the same client")),
            None,
        ),
        (
            http("/ipxe", Some("agent"), 200),
            Some((
                false,
                "IPXEScript",
                "/ipxe sent the discovery agent environment to 10.5.0.7",
            )),
        ),
        (
            http("/ipxe", Some("environment"), 200),
            Some((
                false,
                "IPXEScript",
                "/ipxe sent its boot environment (the Talos installer) to 10.5.0.7",
            )),
        ),
        (
            http("/ipxe", Some("disk"), 200),
            Some((false, "IPXEScript", "/ipxe sent boot from disk to 10.5.0.7")),
        ),
        (
            http("/ipxe", Some("disk"), 404),
            Some((false, "IPXEScript", "/ipxe sent boot from disk to 10.5.0.7")),
        ),
        (
            http("/ipxe", Some("error"), 500),
            Some((true, "IPXEScriptFailed", "/ipxe answered 500 to 10.5.0.7")),
        ),
        (
            http("/configdata", None, 200),
            Some((false, "ConfigServed", "machine config sent to 10.5.0.7")),
        ),
        (http("/configdata", None, 403), None),
        (
            http("/env/agent/vmlinuz", None, 200),
            Some((
                false,
                "BootAssetFetched",
                "10.5.0.7 fetched /env/agent/vmlinuz over HTTP",
            )),
        ),
        (
            http("/tftp/ipxe.efi", None, 404),
            Some((
                true,
                "BootAssetFailed",
                "10.5.0.7 asked for /tftp/ipxe.efi over HTTP: 404",
            )),
        ),
        (http("/boot.ipxe", None, 200), None),
    ];
    for (step, want) in table {
        let got = note(&step).map(|n| (n.warning, n.reason, n.note));
        let want = want.map(|(w, r, t)| (w, r, t.to_string()));
        assert_eq!(got, want, "{step:?}");
    }
}

#[test]
fn neighbour_table_lookups_take_complete_entries_only() {
    let table = "IP address       HW type     Flags       HW address            Mask     Device\n\
                 10.5.0.7         0x1         0x2         52:54:00:AA:BB:CC     *        br0\n\
                 10.5.0.8         0x1         0x0         00:00:00:00:00:00     *        br0\n\
                 10.5.0.70        0x1         0x2         52:54:00:00:00:70     *        br0\n";
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert_eq!(
        arp_mac(table, ip("10.5.0.7")).as_deref(),
        Some("52:54:00:aa:bb:cc")
    );
    assert_eq!(arp_mac(table, ip("10.5.0.8")), None, "incomplete");
    assert_eq!(arp_mac(table, ip("10.5.0.9")), None, "absent");
    assert_eq!(
        arp_mac(table, ip("10.5.0.70")).as_deref(),
        Some("52:54:00:00:00:70")
    );
    assert_eq!(arp_mac("", ip("10.5.0.7")), None);
    assert_eq!(arp_mac("header\ngarbage line\n", ip("10.5.0.7")), None);
}
