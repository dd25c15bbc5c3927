//! iPXE scripts: the embedded boot script that finds a working NIC and chains `/ipxe`, the
//! script that boots an Environment, and the boot-from-disk scripts.

use std::fmt::Write as _;

/// `host:port`, with brackets around an IPv6 literal host.
pub fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The script embedded into the served iPXE binaries and served at `/boot.ipxe` (spec §5.4).
///
/// Up to 10 rounds over every NIC: open it, DHCP on it, and chain `/ipxe` with the SMBIOS
/// UUID, that NIC's MAC and the build architecture; a failure moves to the next NIC, and after
/// 10 failed rounds the machine reboots. Unlike upstream it does not use `iflinkwait`, which
/// older iPXE builds (Debian's) lack: `dhcp` waits for link itself.
pub fn boot_script(api_host: &str, api_port: u16) -> String {
    let ep = host_port(api_host, api_port);
    format!(
        "#!ipxe
prompt --key 0x02 --timeout 2000 Press Ctrl-B for the iPXE command line... && shell ||
ifstat
set attempt:int32 0
:round
inc attempt
iseq ${{attempt}} 11 && goto give_up ||
set idx:int32 0
:nic
isset ${{net${{idx}}/mac}} || goto exhausted
ifclose
ifopen net${{idx}} || goto next
dhcp net${{idx}} || goto next
route
chain --replace http://{ep}/ipxe?uuid=${{uuid}}&mac=${{net${{idx}}/mac:hexhyp}}&domain=${{domain}}&hostname=${{hostname}}&serial=${{serial}}&arch=${{buildarch}} || goto next
:next
inc idx
goto nic
:exhausted
echo Failed to iPXE boot successfully via all interfaces
echo Retrying...
goto round
:give_up
echo Failed to get a valid response after 10 attempts
sleep 5
reboot
"
    )
}

/// The script that boots environment `env` with `args`: kernel and initrd are fetched
/// relative to the `/ipxe` URL, from `/env/<env>/`.
pub fn environment_script(env: &str, args: &[String]) -> String {
    let mut s = String::from("#!ipxe\n");
    let _ = write!(s, "kernel /env/{env}/vmlinuz");
    for a in args {
        s.push(' ');
        s.push_str(a);
    }
    let _ = write!(s, "\ninitrd /env/{env}/initramfs.xz\nboot\n");
    s
}

/// `ipxe-exit`: hand control back to the firmware, which continues its boot order.
pub const EXIT_SCRIPT: &str = "#!ipxe\nexit\n";

/// `ipxe-sanboot`: boot the first BIOS disk.
pub const SANBOOT_SCRIPT: &str = "#!ipxe\nsanboot --no-describe --drive 0x80\n";

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn host_port_brackets_ipv6_only() {
        assert_eq!(host_port("10.0.0.1", 8081), "10.0.0.1:8081");
        assert_eq!(host_port("sidero.example", 80), "sidero.example:80");
        assert_eq!(host_port("fd00::1", 8081), "[fd00::1]:8081");
        assert_eq!(host_port("[fd00::1]", 8081), "[fd00::1]:8081");
    }

    #[test]
    fn boot_script_chains_ipxe_with_every_parameter() {
        let s = boot_script("10.5.0.1", 8081);
        assert!(s.starts_with("#!ipxe\n"));
        assert!(s.contains(
            "chain --replace http://10.5.0.1:8081/ipxe?uuid=${uuid}&mac=${net${idx}/mac:hexhyp}&domain=${domain}&hostname=${hostname}&serial=${serial}&arch=${buildarch} || goto next"
        ));
        assert!(!s.contains("iflinkwait"), "Debian's iPXE has no iflinkwait");
        assert!(s.contains("iseq ${attempt} 11 && goto give_up"));
    }

    #[test]
    fn boot_script_fits_the_placeholder_for_the_longest_endpoint() {
        let s = boot_script("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
        assert!(s.len() < 1000, "{} bytes", s.len());
    }

    #[test]
    fn environment_script_lines() {
        let s = environment_script(
            "default",
            &["console=tty0".into(), "talos.platform=metal".into()],
        );
        assert_eq!(
            s,
            "#!ipxe\nkernel /env/default/vmlinuz console=tty0 talos.platform=metal\ninitrd /env/default/initramfs.xz\nboot\n"
        );
    }
}
