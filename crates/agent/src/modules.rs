//! Loading drivers (what udev does in upstream's initramfs, spec §7.2 step 2), two ways:
//!
//! * the modules listed in `/etc/modules.order` (one path per line, dependencies first, as
//!   `tools/initramfs/build.sh --module` writes it) are loaded with `finit_module(2)`;
//! * every device's `modalias` under `<sys>/bus/*/devices/*` is handed to `modprobe`, when the
//!   initramfs has one.
//!
//! Kernels with the drivers built in need neither.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// The module paths listed in a `modules.order` text, in order (blank lines and `#` comments
/// skipped).
pub fn parse_order(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// Loads every module listed in `order_file` (paths relative to `root` when not absolute);
/// returns how many loaded or were already there. A missing list loads nothing.
pub fn load_listed(root: &Path, order_file: &Path) -> usize {
    let Ok(text) = std::fs::read_to_string(order_file) else {
        return 0;
    };
    let mut ok = 0;
    for m in parse_order(&text) {
        let path = root.join(m.trim_start_matches('/'));
        match insmod(&path) {
            Ok(()) => ok += 1,
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => ok += 1,
            Err(e) => tracing::warn!("loading module {}: {e}", path.display()),
        }
    }
    tracing::info!(
        "loaded {ok} kernel modules listed in {}",
        order_file.display()
    );
    ok
}

/// `finit_module(2)` of the module file at `path`, without parameters.
#[allow(unsafe_code)]
fn insmod(path: &Path) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(path)?;
    let empty = c"";
    // SAFETY: finit_module takes a file descriptor (alive for the call), a NUL-terminated
    // parameter string (a static empty C string) and flags.
    let rc = unsafe { libc::syscall(libc::SYS_finit_module, f.as_raw_fd(), empty.as_ptr(), 0) };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The distinct module aliases of the devices under `<sys>/bus`, sorted.
pub fn aliases(sys: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Ok(buses) = std::fs::read_dir(sys.join("bus")) else {
        return out;
    };
    for bus in buses.flatten() {
        let Ok(devices) = std::fs::read_dir(bus.path().join("devices")) else {
            continue;
        };
        for dev in devices.flatten() {
            if let Ok(a) = std::fs::read_to_string(dev.path().join("modalias")) {
                let a = a.trim();
                if !a.is_empty() {
                    out.insert(a.to_string());
                }
            }
        }
    }
    out
}

/// Runs `modprobe -q -b <alias>` for every alias under `sys`; returns (aliases, loaded).
/// Without `modprobe` nothing is done and that is logged once.
pub fn coldplug(sys: &Path) -> (usize, usize) {
    let all = aliases(sys);
    let mut loaded = 0;
    for a in &all {
        match Command::new("modprobe").args(["-q", "-b", a]).status() {
            Ok(s) if s.success() => loaded += 1,
            Ok(_) => {}
            Err(e) => {
                tracing::info!("no modprobe ({e}); relying on built-in drivers");
                return (all.len(), 0);
            }
        }
    }
    tracing::info!(
        "drivers: {} device aliases, {loaded} matched a module",
        all.len()
    );
    (all.len(), loaded)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn module_order_lines() {
        let text = "# load order\n/lib/modules/6.1.0-56-amd64/kernel/drivers/virtio/virtio_ring.ko\n\n  lib/modules/x/virtio_net.ko  \n";
        assert_eq!(
            parse_order(text),
            [
                "/lib/modules/6.1.0-56-amd64/kernel/drivers/virtio/virtio_ring.ko",
                "lib/modules/x/virtio_net.ko"
            ]
        );
    }

    #[test]
    fn a_module_that_is_not_a_module_is_reported_not_fatal() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("bogus.ko"), b"not an ELF").unwrap();
        std::fs::write(t.path().join("order"), "bogus.ko\nmissing.ko\n").unwrap();
        assert_eq!(load_listed(t.path(), &t.path().join("order")), 0);
        assert_eq!(load_listed(t.path(), &t.path().join("no-order")), 0);
    }

    #[test]
    fn aliases_from_a_fake_sysfs() {
        let t = tempfile::tempdir().unwrap();
        let put = |rel: &str, s: &str| {
            let p = t.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, s).unwrap();
        };
        put(
            "bus/pci/devices/0000:00:03.0/modalias",
            "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00\n",
        );
        put(
            "bus/pci/devices/0000:00:04.0/modalias",
            "pci:v00008086d000010D3sv*\n",
        );
        put(
            "bus/pci/devices/0000:00:05.0/modalias",
            "pci:v00008086d000010D3sv*\n",
        );
        put("bus/pci/devices/0000:00:06.0/vendor", "0x8086\n");
        put(
            "bus/virtio/devices/virtio0/modalias",
            "virtio:d00000001v00001AF4\n",
        );
        put("bus/platform/devices/empty/modalias", "\n");
        put("bus/cpu/uevent", "");
        let a: Vec<String> = aliases(t.path()).into_iter().collect();
        assert_eq!(
            a,
            [
                "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00",
                "pci:v00008086d000010D3sv*",
                "virtio:d00000001v00001AF4"
            ]
        );
        assert!(aliases(&t.path().join("missing")).is_empty());
    }
}
