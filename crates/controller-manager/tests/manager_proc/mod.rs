//! A `sidero-controller-manager` process on loopback ports for the operability tests: spawn it
//! with extra flags, wait until it serves, read its log, SIGKILL it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running manager; killed when dropped.
pub struct Manager {
    pub child: Child,
    pub http: u16,
    pub tftp: u16,
    pub health: u16,
    pub metrics: u16,
    pub dir: tempfile::TempDir,
}

impl Drop for Manager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_tcp() -> u16 {
    sidero_testenv::ports::free_tcp().unwrap()
}

pub fn free_udp() -> u16 {
    sidero_testenv::ports::free_udp().unwrap()
}

impl Manager {
    /// Starts a manager against `kubeconfig` with `extra` flags; waits until `/boot.ipxe`
    /// answers (at most 60 s).
    pub fn start(kubeconfig: &std::path::Path, extra: &[String]) -> Manager {
        Manager::start_with_env(kubeconfig, extra, &[])
    }

    /// [`Manager::start`] with extra environment variables (`POD_NAME` names the replica in
    /// the Events it records).
    pub fn start_with_env(
        kubeconfig: &std::path::Path,
        extra: &[String],
        env: &[(&str, &str)],
    ) -> Manager {
        let dir = tempfile::tempdir().unwrap();
        let (http, tftp, health, metrics) = (free_tcp(), free_udp(), free_tcp(), free_tcp());
        let log = std::fs::File::create(dir.path().join("manager.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_sidero-controller-manager"))
            .args(["--api-endpoint=127.0.0.1", "--http-bind=127.0.0.1"])
            .arg(format!("--http-port={http}"))
            .arg(format!("--api-port={http}"))
            .arg(format!("--tftp-addr=127.0.0.1:{tftp}"))
            .arg(format!("--health-addr=127.0.0.1:{health}"))
            .arg(format!("--diagnostics-address=127.0.0.1:{metrics}"))
            .args(["--disable-dhcp-proxy", "--ipxe-dir=/usr/lib/ipxe"])
            .arg(format!("--tftp-dir={}", dir.path().join("tftp").display()))
            .arg(format!("--env-dir={}", dir.path().join("env").display()))
            .arg(format!("--kubeconfig={}", kubeconfig.display()))
            // Network rule: the `default` Environment must not point at the internet.
            .arg("--talos-assets-base=http://127.0.0.1:9/talos")
            .args(extra)
            .env_remove("KUBECONFIG")
            .envs(env.iter().copied())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let mut m = Manager {
            child,
            http,
            tftp,
            health,
            metrics,
            dir,
        };
        let start = Instant::now();
        while get(&format!("http://127.0.0.1:{http}/boot.ipxe")).0 != 200 {
            let exited = m.child.try_wait().unwrap();
            assert!(exited.is_none(), "manager exited: {exited:?}\n{}", m.log());
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "manager not serving:\n{}",
                m.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        m
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("manager.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// SIGKILL: no chance to release the Lease.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http)
    }
}

/// `curl` a URL: (status, body); status 0 when nothing answered.
pub fn get(url: &str) -> (u16, String) {
    curl(url, &[])
}

/// `curl` with extra options: (status, body).
pub fn curl(url: &str, extra: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "10", "-w", "\n%{http_code}"])
        .args(extra)
        .arg(url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

/// Creates namespace `name` unless it exists.
pub async fn ensure_namespace(client: &kube::Client, name: &str) {
    use k8s_openapi::api::core::v1::Namespace;
    let ns: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).unwrap();
    match kube::Api::<Namespace>::all(client.clone())
        .create(&Default::default(), &ns)
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => panic!("creating namespace {name}: {e}"),
    }
}
