//! Loading drivers for the hardware present (what udev's coldplug does, spec §7.2 step 2):
//! every device's `modalias` under `<sys>/bus/*/devices/*` is handed to `modprobe`, when the
//! initramfs has one. Kernels with the drivers built in need none of this.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

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
