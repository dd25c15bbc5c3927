//! A two-namespace lab: a server namespace (dnsmasq + our proxy on one veth end) and a client
//! namespace (the other end). Everything it creates is removed on drop, also on panic.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The lab's subnet (inside namespaces created here only).
pub const DNSMASQ_IP: &str = "10.213.0.1";
/// The proxy's address (the api endpoint), a second address on the same interface.
pub const PROXY_IP: &str = "10.213.0.2";

/// Why the lab cannot run on this machine, if it cannot.
pub fn missing_prerequisite() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .is_some_and(|l| l.split_whitespace().nth(2) == Some("0"));
    if !root {
        return Some("not running as root".into());
    }
    for tool in ["ip", "dnsmasq"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return Some(format!(
                "{tool} not installed (apt-get install dnsmasq-base iproute2)"
            ));
        }
    }
    None
}

/// The namespaces, processes and files of one lab.
pub struct Lab {
    /// The server namespace.
    pub srv: String,
    /// The client namespace.
    pub cli: String,
    /// The client's veth end.
    pub cli_if: String,
    /// The server's veth end.
    pub srv_if: String,
    /// Scratch directory (dnsmasq log and leases).
    pub dir: tempfile::TempDir,
    children: Vec<Child>,
}

/// Prefix of every namespace this test creates: `sdhcp-<pid>-<seq>-{srv,cli}`.
const NS_PREFIX: &str = "sdhcp-";

/// Deletes namespaces left by an earlier run of this test that was killed before its cleanup
/// ran (their creating process no longer exists).
fn remove_stale_namespaces() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(pid) = name
            .strip_prefix(NS_PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Command::new("ip").args(["netns", "del", name]).output();
        }
    }
}

fn run(args: &[&str]) -> Output {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl Lab {
    /// Creates the namespaces and the veth pair, with addresses on the server end.
    pub fn new() -> Lab {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        remove_stale_namespaces();
        let (pid, seq) = (std::process::id(), SEQ.fetch_add(1, Ordering::SeqCst));
        // Interface names are limited to 15 bytes; namespace names carry the full pid.
        let tag = format!("{}{seq}", pid % 100_000);
        let lab = Lab {
            srv: format!("{NS_PREFIX}{pid}-{seq}-srv"),
            cli: format!("{NS_PREFIX}{pid}-{seq}-cli"),
            srv_if: format!("vs{tag}"),
            cli_if: format!("vc{tag}"),
            dir: tempfile::tempdir().unwrap(),
            children: Vec::new(),
        };
        run(&["ip", "netns", "add", &lab.srv]);
        // From here on, drop cleans up even if a later step panics.
        run(&["ip", "netns", "add", &lab.cli]);
        run(&[
            "ip",
            "link",
            "add",
            &lab.srv_if,
            "netns",
            &lab.srv,
            "type",
            "veth",
            "peer",
            "name",
            &lab.cli_if,
            "netns",
            &lab.cli,
        ]);
        let s = |args: &[&str]| run(&[&["ip", "netns", "exec", &lab.srv], args].concat());
        s(&["ip", "link", "set", "lo", "up"]);
        s(&[
            "ip",
            "addr",
            "add",
            &format!("{DNSMASQ_IP}/24"),
            "dev",
            &lab.srv_if,
        ]);
        s(&[
            "ip",
            "addr",
            "add",
            &format!("{PROXY_IP}/24"),
            "dev",
            &lab.srv_if,
        ]);
        s(&["ip", "link", "set", &lab.srv_if, "up"]);
        lab.exec_cli(&["ip", "link", "set", "lo", "up"]);
        lab.exec_cli(&["ip", "link", "set", &lab.cli_if, "up"]);
        lab
    }

    /// Runs a command in the client namespace.
    pub fn exec_cli(&self, args: &[&str]) -> Output {
        run(&[&["ip", "netns", "exec", &self.cli], args].concat())
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Starts dnsmasq (addresses only, no PXE options) and waits until it serves DHCP.
    pub fn start_dnsmasq(&mut self) {
        let log = self.path("dnsmasq.log");
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.srv,
                "dnsmasq",
                "--keep-in-foreground",
            ])
            .args([
                "--conf-file=/dev/null",
                "--port=0",
                "--user=root",
                "--no-ping",
            ])
            .arg(format!("--interface={}", self.srv_if))
            .arg("--bind-interfaces")
            .arg("--dhcp-range=10.213.0.100,10.213.0.150,255.255.255.0,1h")
            .arg(format!(
                "--dhcp-leasefile={}",
                self.path("leases").display()
            ))
            .arg(format!("--pid-file={}", self.path("dnsmasq.pid").display()))
            .arg("--log-dhcp")
            .arg(format!("--log-facility={}", log.display()))
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        self.children.push(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.dnsmasq_log().contains("DHCP, IP range") {
            assert!(Instant::now() < deadline, "dnsmasq did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// dnsmasq's log so far.
    pub fn dnsmasq_log(&self) -> String {
        std::fs::read_to_string(self.path("dnsmasq.log")).unwrap_or_default()
    }

    /// dnsmasq's lease file.
    pub fn leases(&self) -> String {
        std::fs::read_to_string(self.path("leases")).unwrap_or_default()
    }

    /// Runs this test binary's helper test in namespace `ns` with `role`; returns the child's
    /// index (stdin piped: closing it asks the helper to stop) and its stdout.
    pub fn spawn_helper(&mut self, ns: &str, role: &str, iface: &str) -> (usize, Lines) {
        let exe = std::env::current_exe().unwrap();
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(exe)
            .args([
                "--exact",
                "netns_helper_entrypoint",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("SIDERO_DHCP_NETNS_ROLE", role)
            .env("SIDERO_DHCP_NETNS_IFACE", iface)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = Lines::new(child.stdout.take().unwrap());
        self.children.push(child);
        (self.children.len() - 1, stdout)
    }

    /// Closes a helper's stdin and waits (bounded) for it to exit; true if it exited cleanly.
    pub fn stop_helper(&mut self, index: usize, timeout: Duration) -> bool {
        let child = &mut self.children[index];
        drop(child.stdin.take());
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.success();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A helper's stdout, read on a thread so every wait is bounded.
pub struct Lines {
    rx: mpsc::Receiver<String>,
    /// Everything read so far (for failure messages).
    pub seen: String,
}

impl Lines {
    fn new(out: ChildStdout) -> Lines {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines {
            rx,
            seen: String::new(),
        }
    }

    /// Waits up to `timeout` for a line containing `marker`; returns the text from the marker
    /// on (the test harness may print its own text before it on the same line).
    pub fn wait_for(&mut self, marker: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.rx.recv_timeout(left).ok()?;
            self.seen.push_str(&line);
            self.seen.push('\n');
            if let Some(at) = line.find(marker) {
                return Some(line[at..].to_owned());
            }
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for child in &mut self.children {
            if child.try_wait().ok().flatten().is_none() {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
        for ns in [&self.srv, &self.cli] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}
