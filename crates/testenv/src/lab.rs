//! A network-namespace lab: one namespace with a bridge, tap devices for QEMU machines, the
//! site's DHCP server (dnsmasq: addresses and router advertisements only, no boot options),
//! our manager on the bridge, and the host API server's loopback port forwarded into the
//! namespace. Every process is stopped by its PID and the namespace deleted on drop (also on
//! panic); processes started indirectly (a VM a BMC hook daemonized) are ended by the PIDs
//! they recorded, and only while they still live in this namespace.

use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::Error;
use crate::netns::{Netns, connect_in, listen_in};
use crate::process::Proc;

/// dnsmasq's address on the bridge (the site's DHCP server).
pub const SITE_IP: &str = "10.214.0.1";
/// The manager's address (`--api-endpoint`), a second address on the bridge.
pub const MANAGER_IP: &str = "10.214.0.2";
/// The bridge (names are per namespace).
pub const BRIDGE: &str = "br0";
/// The first tap device, the one [`Lab::new`] creates.
pub const TAP: &str = "tap0";

/// Prefix of the namespaces the QEMU tests create: `sqemu-<pid>-<seq>`.
pub const TEST_PREFIX: &str = "sqemu-";

/// Why a lab cannot run here, if it cannot (root, `ip`, `dnsmasq`, QEMU).
pub fn missing_prerequisite() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .is_some_and(|l| l.split_whitespace().nth(2) == Some("0"));
    if !root {
        return Some("not running as root".into());
    }
    for tool in ["ip", "dnsmasq", "qemu-system-x86_64"] {
        if !on_path(tool) {
            return Some(format!(
                "{tool} not installed (scripts/test.sh installs it)"
            ));
        }
    }
    None
}

/// Whether `tool` is on `PATH`.
pub fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// Deletes namespaces named `<prefix><pid>-…` whose process is gone (a run killed before its
/// cleanup), ending the processes still inside them by their PIDs first (dnsmasq changes
/// credentials, which clears its parent-death signal; daemonized VMs have none).
fn remove_stale_namespaces(prefix: &str) {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(pid) = name
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            for p in netns_pids(name) {
                kill9(p);
            }
            let _ = Command::new("ip").args(["netns", "del", name]).output();
        }
    }
}

/// The PIDs of the processes inside namespace `name`.
pub fn netns_pids(name: &str) -> Vec<i32> {
    Command::new("ip")
        .args(["netns", "pids", name])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

#[allow(unsafe_code)]
fn kill9(pid: i32) {
    // SAFETY: kill(2) with a PID read from the namespace's own process list.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
}

fn run(args: &[&str]) -> Result<Output, Error> {
    let (program, rest) = args
        .split_first()
        .ok_or_else(|| Error::Process("empty command".into()))?;
    let out = Command::new(program)
        .args(rest)
        .output()
        .map_err(|e| Error::io(format!("running {program}"), e))?;
    if !out.status.success() {
        return Err(Error::Process(format!(
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(out)
}

/// The namespace, its processes and its scratch folder.
pub struct Lab {
    /// The namespace's name.
    pub ns: String,
    /// Scratch folder: logs, leases, BMC and VM state, serial consoles.
    pub dir: tempfile::TempDir,
    procs: Vec<(String, Proc)>,
    /// PID files of processes started indirectly (daemonized), ended on drop.
    pid_files: Vec<PathBuf>,
    /// Namespaces joined to the bridge ([`Lab::attach`]), deleted after the lab's processes.
    attached: Vec<Netns>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Lab {
    /// The QEMU tests' lab: namespace `sqemu-<pid>-<seq>` with tap [`TAP`].
    pub fn new() -> Result<Lab, Error> {
        Lab::create(TEST_PREFIX, &[TAP])
    }

    /// Creates namespace `<prefix><pid>-<seq>` (deleting stale ones of earlier runs with the
    /// same prefix) with the bridge (both addresses, an IPv6 prefix for router
    /// advertisements) and `taps` on it.
    pub fn create(prefix: &str, taps: &[&str]) -> Result<Lab, Error> {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        remove_stale_namespaces(prefix);
        let (pid, seq) = (std::process::id(), SEQ.fetch_add(1, Ordering::SeqCst));
        let lab = Lab {
            ns: format!("{prefix}{pid}-{seq}"),
            dir: tempfile::tempdir().map_err(|e| Error::io("lab scratch folder", e))?,
            procs: Vec::new(),
            pid_files: Vec::new(),
            attached: Vec::new(),
            tasks: Vec::new(),
        };
        run(&["ip", "netns", "add", &lab.ns])?;
        // From here on, drop deletes the namespace even if a later step fails.
        let mut cmds = vec![
            "ip link set lo up".to_string(),
            format!("ip link add {BRIDGE} type bridge"),
            format!("ip addr add {SITE_IP}/24 dev {BRIDGE}"),
            format!("ip addr add {MANAGER_IP}/24 dev {BRIDGE}"),
            format!("ip -6 addr add fd14::1/64 dev {BRIDGE}"),
            format!("ip link set {BRIDGE} up"),
        ];
        for tap in taps {
            cmds.push(format!("ip tuntap add {tap} mode tap"));
            cmds.push(format!("ip link set {tap} master {BRIDGE}"));
            cmds.push(format!("ip link set {tap} up"));
        }
        for cmd in cmds {
            lab.exec(&cmd.split(' ').collect::<Vec<_>>())?;
        }
        Ok(lab)
    }

    /// Runs a command in the namespace and waits for it; an error if it fails.
    pub fn exec(&self, args: &[&str]) -> Result<Output, Error> {
        run(&[&["ip", "netns", "exec", &self.ns], args].concat())
    }

    /// A path in the scratch folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Starts `program args` in the namespace with stdout and stderr in `<name>.log`.
    /// `ip netns exec` execs the program, so the process's PID is the program's; it dies with
    /// this process (parent-death signal) and is stopped on drop.
    pub fn spawn(&mut self, name: &str, program: &str, args: &[String]) -> Result<(), Error> {
        let mut full = vec![
            "netns".to_string(),
            "exec".into(),
            self.ns.clone(),
            program.into(),
        ];
        full.extend(args.iter().cloned());
        let log = self.path(&format!("{name}.log"));
        let proc = Proc::spawn(name, Path::new("ip"), &full, &log)?;
        self.procs.push((name.to_string(), proc));
        Ok(())
    }

    /// Ends the process whose PID `pid_file` holds (if any, when dropped): for processes
    /// that daemonize, such as a VM a BMC hook starts.
    pub fn kill_on_drop(&mut self, pid_file: PathBuf) {
        self.pid_files.push(pid_file);
    }

    /// The log of process `name` so far.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(&format!("{name}.log"))).unwrap_or_default()
    }

    /// Whether process `name` is still running.
    pub fn running(&mut self, name: &str) -> bool {
        self.procs
            .iter_mut()
            .find(|(n, _)| n == name)
            .is_some_and(|(_, p)| p.running())
    }

    /// The PIDs of the processes this lab started directly.
    pub fn pids(&self) -> Vec<u32> {
        self.procs.iter().filter_map(|(_, p)| p.pid()).collect()
    }

    /// Waits up to `timeout` for process `name` to exit by itself; true if it did.
    pub fn wait_exit(&mut self, name: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.running(name) {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        true
    }

    /// Starts dnsmasq as the site's DHCP server: IPv4 addresses and IPv6 router
    /// advertisements (without them iPXE waits ~13 s for IPv6), no boot options, no DNS.
    pub fn start_dnsmasq(&mut self) -> Result<(), Error> {
        let args = [
            "--keep-in-foreground".to_string(),
            "--conf-file=/dev/null".into(),
            "--port=0".into(),
            "--user=root".into(),
            "--no-ping".into(),
            format!("--interface={BRIDGE}"),
            "--bind-interfaces".into(),
            "--dhcp-range=10.214.0.100,10.214.0.150,255.255.255.0,1h".into(),
            "--enable-ra".into(),
            format!("--dhcp-range=::,constructor:{BRIDGE},ra-only"),
            format!("--dhcp-leasefile={}", self.path("leases").display()),
            format!("--pid-file={}", self.path("dnsmasq.pid").display()),
            "--log-dhcp".into(),
            format!("--log-facility={}", self.path("dnsmasq-dhcp.log").display()),
        ];
        self.spawn("dnsmasq", "dnsmasq", &args)?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while !std::fs::read_to_string(self.path("dnsmasq-dhcp.log"))
            .unwrap_or_default()
            .contains("DHCP, IP range")
        {
            let running = self.running("dnsmasq");
            if !running || Instant::now() > deadline {
                return Err(Error::Process(format!(
                    "dnsmasq did not start (running: {running}):\n{}\n{}",
                    self.log("dnsmasq"),
                    std::fs::read_to_string(self.path("dnsmasq-dhcp.log")).unwrap_or_default()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Makes `127.0.0.1:<port>` inside the namespace reach `127.0.0.1:<port>` of the host (the
    /// API server), so a manager inside uses the host's kubeconfig unchanged (same URL, same
    /// certificate). Needs a tokio runtime.
    pub fn forward_host_port(&mut self, port: u16) -> Result<(), Error> {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let listener =
            listen_in(&self.ns, addr).map_err(|e| Error::io("listening in the lab", e))?;
        self.tasks.push(tokio::spawn(async move {
            while let Ok((mut inside, _)) = listener.accept().await {
                tokio::spawn(async move {
                    if let Ok(mut host) = tokio::net::TcpStream::connect(addr).await {
                        let _ = tokio::io::copy_bidirectional(&mut inside, &mut host).await;
                    }
                });
            }
        }));
        Ok(())
    }

    /// The reverse of [`Lab::forward_host_port`]: a listener on a free host loopback port
    /// whose connections go to `ip:port` inside the namespace (the manager's HTTP and gRPC
    /// port, for `sideroctl` or a test playing the agent). Returns the host port.
    pub async fn forward_into_ns(&mut self, ip: &str, port: u16) -> Result<u16, Error> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| Error::io("binding a forward", e))?;
        let host_port = listener
            .local_addr()
            .map_err(|e| Error::io("forward address", e))?
            .port();
        let target: SocketAddr = format!("{ip}:{port}")
            .parse()
            .map_err(|e| Error::Process(format!("{ip}:{port}: {e}")))?;
        let ns = self.ns.clone();
        self.tasks.push(tokio::spawn(async move {
            while let Ok((mut outside, _)) = listener.accept().await {
                let ns = ns.clone();
                tokio::spawn(async move {
                    if let Ok(mut inside) = connect_in(&ns, target, Duration::from_secs(5)).await {
                        let _ = tokio::io::copy_bidirectional(&mut outside, &mut inside).await;
                    }
                });
            }
        }));
        Ok(host_port)
    }

    /// Joins a new namespace `name` to the bridge through a veth pair (`<veth>` on the
    /// bridge, `eth0` with `cidr` inside), as another machine on the LAN. It is deleted
    /// with the lab.
    pub fn attach(&mut self, name: &str, veth: &str, cidr: &str) -> Result<&Netns, Error> {
        let other = Netns::create(name)?;
        let _ = self.exec(&["ip", "link", "del", veth]);
        self.exec(&[
            "ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", name,
        ])?;
        self.exec(&["ip", "link", "set", veth, "master", BRIDGE])?;
        self.exec(&["ip", "link", "set", veth, "up"])?;
        other.ip(&["addr", "add", cidr, "dev", "eth0"])?;
        other.ip(&["link", "set", "eth0", "up"])?;
        self.attached.push(other);
        self.attached
            .last()
            .ok_or_else(|| Error::Process("attach: namespace lost".into()))
    }

    /// Stops every process (SIGTERM to all, then each is waited for and killed after a
    /// grace period), ends daemonized ones by their recorded PIDs, and whatever still runs
    /// in the namespace by its PID; then deletes the namespaces.
    fn shutdown(&mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
        for (_, p) in &self.procs {
            p.terminate();
        }
        for (_, mut p) in self.procs.drain(..) {
            p.stop(Duration::from_secs(5));
        }
        let ours = netns_inode(&format!("/var/run/netns/{}", self.ns));
        for f in &self.pid_files {
            let pid = std::fs::read_to_string(f).unwrap_or_default();
            if let Ok(pid) = pid.trim().parse::<i32>() {
                // Only while it still is in our namespace (the PID may have been reused).
                if ours.is_some() && netns_inode(&format!("/proc/{pid}/ns/net")) == ours {
                    kill9(pid);
                }
            }
        }
        for other in &self.attached {
            for p in netns_pids(other.name()) {
                kill9(p);
            }
        }
        for p in netns_pids(&self.ns) {
            kill9(p);
        }
        self.attached.clear();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
    }
}

fn netns_inode(path: &str) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.ino())
}

/// A file's content, for [`Lab`] users that wait on state files.
pub fn read_trimmed(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .trim()
        .to_string()
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.shutdown();
    }
}
