//! A real `ipmi_sim` (OpenIPMI's BMC simulator, Debian `openipmi`) as a test BMC: its
//! configuration (testinfra.md §1: lan.conf, the command file that creates the BMC, users),
//! a `chassis_control` hook of the test's choice, readiness and `ipmitool` helpers that also
//! work inside a network namespace, and [`IpmiSim`], one simulator on 127.0.0.1 whose hook
//! records power and boot device in files. Processes are killed by PID on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// IPMI user configured in the simulator (administrator).
pub const USER: &str = "admin";
/// Password of [`USER`].
pub const PASSWORD: &str = "s3cr3t-Pw";

/// A `chassis_control` hook that records power (`state/power`), boot device (`state/boot`)
/// and every `set` (`state/log`) beside itself.
pub const RECORDING_HOOK: &str = r#"#!/bin/sh
D="$(dirname "$0")/state"
op=$2; shift 2
case $op in
 get) for p; do case $p in
        power) echo "power:$(cat "$D/power" 2>/dev/null || echo 0)" ;;
        boot)  echo "boot:$(cat "$D/boot" 2>/dev/null || echo default)" ;;
        *) echo "Invalid parameter: $p"; exit 1 ;; esac; done ;;
 set) while [ $# -gt 0 ]; do p=$1; v=$2; shift 2; echo "$p $v" >> "$D/log"; case $p in
        power) echo "$v" > "$D/power" ;;
        reset) ;;
        boot) echo "$v" > "$D/boot" ;;
        shutdown) echo 0 > "$D/power" ;;
        identify) shift ;;
        *) echo "Invalid parameter: $p"; exit 1 ;; esac; done ;;
 *) exit 1 ;;
esac
"#;

fn io(what: &str, e: std::io::Error) -> crate::Error {
    crate::Error::Process(format!("ipmi_sim: {what}: {e}"))
}

/// Writes the simulator's files into `dir` (`lan.conf`, `bmc.emu`, `chassis.sh` = `hook`,
/// `state/`, `sim/`) for a BMC on `addr:port`; returns the `ipmi_sim` arguments.
pub fn prepare(dir: &Path, addr: &str, port: u16, hook: &str) -> Result<Vec<String>, crate::Error> {
    std::fs::create_dir_all(dir.join("state")).map_err(|e| io("state dir", e))?;
    std::fs::create_dir_all(dir.join("sim")).map_err(|e| io("sim dir", e))?;
    let hook_path = dir.join("chassis.sh");
    std::fs::write(&hook_path, hook).map_err(|e| io("hook", e))?;
    let mut perm = std::fs::metadata(&hook_path)
        .map_err(|e| io("hook", e))?
        .permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&hook_path, perm).map_err(|e| io("chmod hook", e))?;
    let lan = format!(
        r#"name "testbmc"
set_working_mc 0x20
  startlan 1
    addr {addr} {port}
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789abcdef
  endlan
  chassis_control "{hook} 0x20"
  user 1 true  ""      "test"     user  10 none md2 md5 straight
  user 2 true  "{USER}" "{PASSWORD}" admin 10 none md2 md5 straight
"#,
        hook = hook_path.display()
    );
    std::fs::write(dir.join("lan.conf"), lan).map_err(|e| io("lan.conf", e))?;
    std::fs::write(
        dir.join("bmc.emu"),
        "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02\nsel_enable 0x20 1000 0x0a\nmc_enable 0x20\n",
    )
    .map_err(|e| io("bmc.emu", e))?;
    Ok(vec![
        "-c".into(),
        dir.join("lan.conf").display().to_string(),
        "-f".into(),
        dir.join("bmc.emu").display().to_string(),
        "-s".into(),
        dir.join("sim").display().to_string(),
        "-n".into(),
    ])
}

/// Runs `ipmitool -I lanplus -C 3 … <args>` against `addr:port` (in network namespace
/// `netns` when given), the password passed through the environment.
pub fn ipmitool(
    netns: Option<&str>,
    addr: &str,
    port: u16,
    args: &[&str],
) -> std::io::Result<Output> {
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "ipmitool"]);
            c
        }
        None => Command::new("ipmitool"),
    };
    cmd.args([
        "-I", "lanplus", "-C", "3", "-N", "1", "-R", "1", "-H", addr, "-p",
    ])
    .arg(port.to_string())
    .args(["-U", USER, "-E"])
    .args(args)
    .env("IPMITOOL_PASSWORD", PASSWORD)
    .stdin(Stdio::null())
    .output()
}

/// Waits (at most `timeout`) until the BMC answers `chassis power status`.
pub fn wait_ready(
    netns: Option<&str>,
    addr: &str,
    port: u16,
    timeout: Duration,
) -> Result<(), crate::Error> {
    let deadline = Instant::now() + timeout;
    loop {
        let out = ipmitool(netns, addr, port, &["chassis", "power", "status"])
            .map_err(|e| io("running ipmitool", e))?;
        if out.status.success() && String::from_utf8_lossy(&out.stdout).contains("Chassis Power is")
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(crate::Error::Process(format!(
                "ipmi_sim on {addr}:{port} did not answer within {timeout:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A free UDP port on 127.0.0.1 (free when asked).
pub fn free_udp_port() -> Result<u16, crate::Error> {
    crate::ports::free_udp()
}

/// A running simulator on 127.0.0.1 with [`RECORDING_HOOK`].
pub struct IpmiSim {
    child: Child,
    /// UDP port on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
}

impl IpmiSim {
    /// Starts the simulator and waits (bounded) until it answers.
    pub fn start() -> Result<Self, crate::Error> {
        let dir = tempfile::tempdir().map_err(|e| io("tempdir", e))?;
        let port = free_udp_port()?;
        let args = prepare(dir.path(), "127.0.0.1", port, RECORDING_HOOK)?;
        let stderr = std::fs::File::create(dir.path().join("ipmi_sim.err"))
            .map_err(|e| io("stderr file", e))?;
        let child = Command::new("ipmi_sim")
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| io("spawn (Debian package openipmi)", e))?;
        let sim = Self { child, port, dir };
        wait_ready(None, "127.0.0.1", port, Duration::from_secs(15))?;
        // The readiness probe must not show up in what tests assert.
        let _ = std::fs::remove_file(sim.state_dir().join("log"));
        Ok(sim)
    }

    /// The hook's state directory.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Content of a hook state file (`power`, `boot`, `log`), trimmed.
    pub fn state(&self, name: &str) -> String {
        std::fs::read_to_string(self.state_dir().join(name))
            .unwrap_or_default()
            .trim()
            .to_owned()
    }

    /// `ipmitool … <args>` against this simulator; stdout.
    pub fn ipmitool(&self, args: &[&str]) -> String {
        ipmitool(None, "127.0.0.1", self.port, args)
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for IpmiSim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
