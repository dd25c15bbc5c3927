//! The two manager processes of the API-server outage test, on free loopback ports, and the
//! `caps-controller-manager` binary they need.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A manager process; SIGKILLed when dropped (also on panic).
pub struct Proc {
    pub name: &'static str,
    pub child: Child,
    pub log: PathBuf,
    /// `/healthz` and `/readyz`.
    pub health: u16,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// Panics with the log's tail if the process exited.
    pub fn assert_running(&mut self, when: &str) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("{} exited {when}: {status}\n{}", self.name, self.tail(40));
        }
    }

    /// The last `n` lines of the log.
    pub fn tail(&self, n: usize) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// The status `/healthz` answers (0: nothing answered).
    pub fn healthz(&self) -> u16 {
        let out = Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "--max-time",
                "5",
                "-w",
                "%{http_code}",
            ])
            .arg(format!("http://127.0.0.1:{}/healthz", self.health))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0)
    }
}

pub fn free_tcp() -> u16 {
    sidero_testenv::ports::free_tcp().unwrap()
}

pub fn free_udp() -> u16 {
    sidero_testenv::ports::free_udp().unwrap()
}

fn spawn(name: &'static str, program: &Path, args: &[String], dir: &Path, health: u16) -> Proc {
    let log = dir.join(format!("{name}.log"));
    let file = std::fs::File::create(&log).unwrap();
    let child = Command::new(program)
        .args(args)
        .env("RUST_LOG", "info")
        .env_remove("KUBECONFIG")
        .stdout(Stdio::from(file.try_clone().unwrap()))
        .stderr(Stdio::from(file))
        .spawn()
        .unwrap();
    Proc {
        name,
        child,
        log,
        health,
    }
}

/// Flags both managers share: health, metrics and webhooks on free loopback ports (binding
/// upstream's :9440/:8443/:9443 is fatal or collides with other tests), and no webhook
/// certificate (an empty folder: no webhook server).
fn common(dir: &Path, kubeconfig: &Path, health: u16) -> Vec<String> {
    vec![
        format!("--health-addr=127.0.0.1:{health}"),
        "--diagnostics-address=127.0.0.1:0".into(),
        "--webhook-host=127.0.0.1".into(),
        format!("--webhook-port={}", free_tcp()),
        format!("--webhook-cert-dir={}", dir.join("no-certs").display()),
        format!("--kubeconfig={}", kubeconfig.display()),
    ]
}

/// `sidero-controller-manager` with its boot endpoints on `http`; the log is in `dir`.
pub fn sidero(kubeconfig: &Path, dir: &Path, http: u16) -> Proc {
    let health = free_tcp();
    let mut args = common(dir, kubeconfig, health);
    args.extend([
        "--api-endpoint=127.0.0.1".into(),
        "--api-port=8081".into(),
        "--http-bind=127.0.0.1".into(),
        format!("--http-port={http}"),
        format!("--tftp-addr=127.0.0.1:{}", free_udp()),
        "--disable-dhcp-proxy".into(),
        "--enable-leader-election=false".into(),
        "--ipxe-dir=/usr/lib/ipxe".into(),
        format!("--tftp-dir={}", dir.join("tftp").display()),
        format!("--env-dir={}", dir.join("env").display()),
        // Network rule: the `default` Environment must not point at the internet.
        "--talos-assets-base=http://127.0.0.1:9/talos".into(),
    ]);
    let program = PathBuf::from(env!("CARGO_BIN_EXE_sidero-controller-manager"));
    spawn("sidero-controller-manager", &program, &args, dir, health)
}

/// `caps-controller-manager`; the log is in `dir`.
pub fn caps(kubeconfig: &Path, dir: &Path) -> Proc {
    let health = free_tcp();
    let args = common(dir, kubeconfig, health);
    spawn(
        "caps-controller-manager",
        &caps_binary(),
        &args,
        dir,
        health,
    )
}

/// The `caps-controller-manager` binary next to this package's manager. Cargo builds only
/// this package's binaries for its tests, so it is built here (a no-op when up to date:
/// the test always runs the binary of the current sources).
fn caps_binary() -> PathBuf {
    let sidero = Path::new(env!("CARGO_BIN_EXE_sidero-controller-manager"));
    let caps = sidero.with_file_name("caps-controller-manager");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    let mut build = Command::new(env!("CARGO"));
    // Without the variables cargo set for this test: build scripts that watch them (ring's)
    // would see a change and rebuild, here and again in the next `cargo test`.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if (k.starts_with("CARGO_") && k != "CARGO_HOME" && k != "CARGO_TARGET_DIR")
            || k.starts_with("__CARGO")
            || k == "OUT_DIR"
        {
            build.env_remove(k);
        }
    }
    let status = build
        .args(["build", "--quiet", "-p", "caps-controller-manager"])
        .args(["--bin", "caps-controller-manager", "--manifest-path"])
        .arg(&manifest)
        .status()
        .unwrap();
    assert!(status.success(), "building caps-controller-manager");
    assert!(caps.exists(), "{} missing after the build", caps.display());
    caps
}
