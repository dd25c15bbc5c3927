//! What PID 1 sets up before anything else (spec §7.2 step 1): the usual folders, devtmpfs,
//! proc, sysfs and tmpfs mounts, and `PATH`. A mount that already exists (EBUSY) is fine, so a
//! restarted agent or a pre-mounted `/dev` does not stop the boot.

use rustix::io::Errno;
use rustix::mount::{MountFlags, mount};

/// Folders created at the root.
const FOLDERS: [&str; 6] = ["/etc", "/dev", "/proc", "/run", "/sys", "/tmp"];

/// `PATH` for anything the agent runs.
pub const PATH: &str = "/sbin:/bin:/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin";

/// One mount: (source, target, type, flags, data).
type Mount = (
    &'static str,
    &'static str,
    &'static str,
    MountFlags,
    &'static str,
);

fn mounts() -> [Mount; 5] {
    [
        (
            "devtmpfs",
            "/dev",
            "devtmpfs",
            MountFlags::NOSUID,
            "mode=0755",
        ),
        (
            "proc",
            "/proc",
            "proc",
            MountFlags::NOSUID
                .union(MountFlags::NOEXEC)
                .union(MountFlags::NODEV),
            "",
        ),
        ("sysfs", "/sys", "sysfs", MountFlags::empty(), ""),
        ("tmpfs", "/run", "tmpfs", MountFlags::NOSUID, "mode=0755"),
        ("tmpfs", "/tmp", "tmpfs", MountFlags::NOSUID, "mode=1777"),
    ]
}

/// Creates the folders, mounts the pseudo file systems and sets `PATH`. Returns one line per
/// problem (logged by the caller once logging can reach the console).
pub fn setup() -> Vec<String> {
    let mut problems = Vec::new();
    for d in FOLDERS {
        if let Err(e) = std::fs::create_dir_all(d) {
            problems.push(format!("creating {d}: {e}"));
        }
    }
    for (source, target, fstype, flags, data) in mounts() {
        let data = std::ffi::CString::new(data).unwrap_or_default();
        match mount(source, target, fstype, flags, data.as_c_str()) {
            Ok(()) | Err(Errno::BUSY) => {}
            Err(e) => problems.push(format!("mounting {fstype} on {target}: {e}")),
        }
    }
    problems
}
