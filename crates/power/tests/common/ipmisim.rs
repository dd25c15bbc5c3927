//! Runs a real `ipmi_sim` (OpenIPMI's BMC simulator) on 127.0.0.1 with a `chassis_control`
//! hook that records power and boot device in files. Killed by PID on drop (also on panic).

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sidero_power::ipmi::codec::{LanMessage, NETFN_APP, encode_v15};

/// IPMI user and password configured in the simulator.
pub const USER: &str = "admin";
/// Password of [`USER`].
pub const PASSWORD: &str = "s3cr3t-Pw";

const HOOK: &str = r#"#!/bin/sh
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

/// A running simulator.
pub struct IpmiSim {
    child: Child,
    /// UDP port on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
}

fn free_udp_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.local_addr().expect("addr").port()
}

impl IpmiSim {
    /// Starts the simulator and waits (bounded) until it answers.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::create_dir(d.join("state")).expect("state dir");
        std::fs::create_dir(d.join("sim")).expect("sim dir");
        let hook = d.join("chassis.sh");
        std::fs::write(&hook, HOOK).expect("hook");
        let mut perm = std::fs::metadata(&hook).expect("meta").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
        std::fs::set_permissions(&hook, perm).expect("chmod");
        let port = free_udp_port();
        let lan = format!(
            r#"name "testbmc"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 {port}
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
            hook = hook.display()
        );
        std::fs::write(d.join("lan.conf"), lan).expect("lan.conf");
        std::fs::write(
            d.join("bmc.emu"),
            "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02\nsel_enable 0x20 1000 0x0a\nmc_enable 0x20\n",
        )
        .expect("bmc.emu");
        let child = Command::new("ipmi_sim")
            .arg("-c")
            .arg(d.join("lan.conf"))
            .arg("-f")
            .arg(d.join("bmc.emu"))
            .arg("-s")
            .arg(d.join("sim"))
            .arg("-n")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("ipmi_sim.err")).expect("stderr file"))
            .spawn()
            .expect("spawn ipmi_sim (Debian package openipmi)");
        let sim = Self { child, port, dir };
        sim.wait_ready();
        sim
    }

    fn wait_ready(&self) {
        let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
        s.connect(("127.0.0.1", self.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let req = LanMessage::request(NETFN_APP, 0x38, 0, &[0x8E, 0x04]).encode();
        let pkt = encode_v15(0, 0, &req).expect("encode");
        let mut buf = [0u8; 512];
        for _ in 0..100 {
            let _ = s.send(&pkt);
            match s.recv(&mut buf) {
                Ok(_) => return,
                // ICMP port unreachable arrives at once while the simulator starts.
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        panic!("ipmi_sim did not answer on port {} within 10 s", self.port);
    }

    /// The hook's state directory.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Content of a hook state file (`power`, `boot`, `log`), trimmed.
    pub fn state(&self, name: &str) -> String {
        read_trimmed(&self.state_dir().join(name))
    }

    /// Runs `ipmitool -I lanplus -C 3 … <args>` (password via the environment) and returns stdout.
    pub fn ipmitool(&self, args: &[&str]) -> String {
        let out = Command::new("ipmitool")
            .args(["-I", "lanplus", "-C", "3", "-H", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .args(["-U", USER, "-E"])
            .args(args)
            .env("IPMITOOL_PASSWORD", PASSWORD)
            .output()
            .expect("run ipmitool");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

fn read_trimmed(p: &Path) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .trim()
        .to_owned()
}

impl Drop for IpmiSim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
