//! One network namespace per boot: a bridge with a tap for the VM, the site DHCP server
//! (dnsmasq: addresses and router advertisements only, no boot options) and our manager on
//! the bridge, and the test API server's loopback port forwarded into the namespace. Every
//! process is killed by its PID and the namespace deleted on drop, also on panic.
#![allow(dead_code)]

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// dnsmasq's address on the bridge (the site's DHCP server).
pub const SITE_IP: &str = "10.214.0.1";
/// The manager's address (`--api-endpoint`), a second address on the bridge.
pub const MANAGER_IP: &str = "10.214.0.2";
/// The bridge and the VM's tap device (names are per namespace).
pub const BRIDGE: &str = "br0";
/// The tap device QEMU attaches to.
pub const TAP: &str = "tap0";

/// Prefix of every namespace these tests create: `sqemu-<pid>-<seq>`.
const NS_PREFIX: &str = "sqemu-";

/// Why the lab cannot run here, if it cannot.
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
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return Some(format!(
                "{tool} not installed (scripts/test.sh installs it)"
            ));
        }
    }
    None
}

/// Deletes namespaces of earlier runs that were killed before their cleanup ran.
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
        if !Path::new(&format!("/proc/{pid}")).exists() {
            // Processes that outlived that run (dnsmasq changes credentials, which clears
            // its parent-death signal) are ended by their PIDs first.
            if let Ok(out) = Command::new("ip").args(["netns", "pids", name]).output() {
                for p in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-9", p]).output();
                }
            }
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

/// A named process started in the namespace.
struct Proc {
    name: String,
    child: Child,
}

/// The namespace, its processes and its scratch folder.
pub struct Lab {
    /// The namespace's name.
    pub ns: String,
    /// Scratch folder: logs, leases, OVMF variables, the serial console.
    pub dir: tempfile::TempDir,
    procs: Vec<Proc>,
    /// PID files of processes started indirectly (daemonized), killed on drop.
    pid_files: Vec<PathBuf>,
    forward: Option<tokio::task::JoinHandle<()>>,
    /// Listeners of [`Lab::forward_into_ns`].
    reverse: Vec<tokio::task::JoinHandle<()>>,
}

impl Lab {
    /// Creates the namespace with the bridge (both addresses, an IPv6 prefix for router
    /// advertisements) and the tap device in it.
    pub fn new() -> Lab {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        remove_stale_namespaces();
        let (pid, seq) = (std::process::id(), SEQ.fetch_add(1, Ordering::SeqCst));
        let lab = Lab {
            ns: format!("{NS_PREFIX}{pid}-{seq}"),
            dir: tempfile::tempdir().unwrap(),
            procs: Vec::new(),
            pid_files: Vec::new(),
            forward: None,
            reverse: Vec::new(),
        };
        run(&["ip", "netns", "add", &lab.ns]);
        // From here on, drop deletes the namespace even if a later step panics.
        for cmd in [
            "ip link set lo up".to_string(),
            format!("ip link add {BRIDGE} type bridge"),
            format!("ip tuntap add {TAP} mode tap"),
            format!("ip link set {TAP} master {BRIDGE}"),
            format!("ip addr add {SITE_IP}/24 dev {BRIDGE}"),
            format!("ip addr add {MANAGER_IP}/24 dev {BRIDGE}"),
            format!("ip -6 addr add fd14::1/64 dev {BRIDGE}"),
            format!("ip link set {BRIDGE} up"),
            format!("ip link set {TAP} up"),
        ] {
            lab.exec(&cmd.split(' ').collect::<Vec<_>>());
        }
        lab
    }

    /// Runs a command in the namespace and waits for it.
    pub fn exec(&self, args: &[&str]) -> Output {
        run(&[&["ip", "netns", "exec", &self.ns], args].concat())
    }

    /// A path in the scratch folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Starts `program args` in the namespace with stdout and stderr in `<name>.log`.
    /// `ip netns exec` execs the program, so the child's PID is the program's.
    pub fn spawn(&mut self, name: &str, program: &str, args: &[String]) {
        let log = File::create(self.path(&format!("{name}.log"))).unwrap();
        let mut cmd = Command::new("ip");
        die_with_parent(&mut cmd);
        let child = cmd
            .args(["netns", "exec", &self.ns, program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        self.procs.push(Proc {
            name: name.into(),
            child,
        });
    }

    /// Kills the process whose PID `pid_file` holds (if any, when dropped): for processes
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
            .find(|p| p.name == name)
            .is_some_and(|p| p.child.try_wait().ok().flatten().is_none())
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
    pub fn start_dnsmasq(&mut self) {
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
        self.spawn("dnsmasq", "dnsmasq", &args);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !std::fs::read_to_string(self.path("dnsmasq-dhcp.log"))
            .unwrap_or_default()
            .contains("DHCP, IP range")
        {
            let running = self.running("dnsmasq");
            assert!(
                running && Instant::now() < deadline,
                "dnsmasq did not start (running: {running}):\n{}\n{}",
                self.log("dnsmasq"),
                std::fs::read_to_string(self.path("dnsmasq-dhcp.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Makes `127.0.0.1:<port>` inside the namespace reach `127.0.0.1:<port>` of the host (the
    /// test API server), so the manager uses the test kubeconfig unchanged (same URL, same
    /// certificate). The listening socket is created by a thread that entered the namespace;
    /// connections to the host are made by the runtime's threads, which stay in the host's.
    pub fn forward_host_port(&mut self, port: u16) {
        let ns_file = File::open(format!("/var/run/netns/{}", self.ns)).unwrap();
        let listener = std::thread::spawn(move || {
            enter_netns(&ns_file);
            let l = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
            l.set_nonblocking(true).unwrap();
            l
        })
        .join()
        .unwrap();
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        self.forward = Some(tokio::spawn(async move {
            while let Ok((mut inside, _)) = listener.accept().await {
                tokio::spawn(async move {
                    if let Ok(mut host) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut inside, &mut host).await;
                    }
                });
            }
        }));
    }
}

impl Lab {
    /// The reverse of [`Lab::forward_host_port`]: a listener on a free host loopback port
    /// whose connections go to `ip:port` inside the namespace (e.g. the manager's gRPC API,
    /// for a test playing the agent). Returns the host port.
    pub async fn forward_into_ns(&mut self, ip: &str, port: u16) -> u16 {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let host_port = listener.local_addr().unwrap().port();
        let ns_path = format!("/var/run/netns/{}", self.ns);
        let target: std::net::SocketAddr = format!("{ip}:{port}").parse().unwrap();
        self.reverse.push(tokio::spawn(async move {
            while let Ok((mut outside, _)) = listener.accept().await {
                let ns_path = ns_path.clone();
                tokio::spawn(async move {
                    // A fresh thread (not a pooled one, which would stay in the namespace)
                    // enters the namespace to connect; the socket keeps its namespace.
                    let inside = tokio::task::spawn_blocking(move || {
                        std::thread::spawn(move || {
                            enter_netns(&File::open(ns_path).ok()?);
                            let s = std::net::TcpStream::connect(target).ok()?;
                            s.set_nonblocking(true).ok()?;
                            Some(s)
                        })
                        .join()
                        .ok()
                        .flatten()
                    })
                    .await;
                    if let Ok(Some(s)) = inside
                        && let Ok(mut inside) = tokio::net::TcpStream::from_std(s)
                    {
                        let _ = tokio::io::copy_bidirectional(&mut outside, &mut inside).await;
                    }
                });
            }
        }));
        host_port
    }
}

/// SIGKILL the child when the test process dies without running its cleanup (a killed test
/// run leaves no VM or server behind; its namespace is removed by the next run).
#[allow(unsafe_code)]
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl(2) is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Moves the calling thread (only) into the network namespace of `file`.
#[allow(unsafe_code)]
fn enter_netns(file: &File) {
    // SAFETY: setns(2) on an open namespace file descriptor; no memory is involved.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(f) = self.forward.take() {
            f.abort();
        }
        for r in self.reverse.drain(..) {
            r.abort();
        }
        // Child::kill signals the child's own PID.
        for p in &mut self.procs {
            if p.child.try_wait().ok().flatten().is_none() {
                let _ = p.child.kill();
            }
            let _ = p.child.wait();
        }
        for f in &self.pid_files {
            let pid = std::fs::read_to_string(f).unwrap_or_default();
            if let Ok(pid) = pid.trim().parse::<i32>() {
                // Only while it still is in our namespace (the PID may have been reused).
                let ino = |p: String| std::fs::metadata(p).ok().map(|m| m.ino());
                let ours = ino(format!("/proc/{pid}/ns/net")).is_some()
                    && ino(format!("/proc/{pid}/ns/net"))
                        == ino(format!("/var/run/netns/{}", self.ns));
                if ours {
                    let _ = Command::new("kill").args(["-9", &pid.to_string()]).output();
                }
            }
        }
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
    }
}
