//! A real etcd + kube-apiserver on free loopback ports with generated certificates.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use k8s_openapi::api::core::v1::Namespace;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

use crate::certs::{self, Ca};
use crate::process::Proc;
use crate::{Error, peers};

/// The Kubernetes version the test control plane runs (see `tools/peers/kube-1.33`).
pub const KUBERNETES_VERSION: &str = "v1.33.13";

const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running etcd + kube-apiserver pair. Dropping it stops both and removes its files.
pub struct ControlPlane {
    apiserver: Proc,
    apiserver_bin: PathBuf,
    apiserver_args: Vec<String>,
    etcd: Proc,
    url: String,
    kubeconfig: PathBuf,
    client_ca: Ca,
    ca_cert: String,
    dir: tempfile::TempDir,
}

/// A free loopback port. Another process may take it before we use it;
/// [`ControlPlane::start`] retries the whole start when that happens.
pub(crate) fn free_port() -> Result<u16, Error> {
    crate::ports::free_tcp()
}

pub(crate) fn write(path: &Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

/// Plain HTTP GET against etcd's `/health`; true when it reports healthy.
fn etcd_healthy(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body.contains("\"health\":\"true\"")
}

impl ControlPlane {
    /// Starts etcd and kube-apiserver (building them first if their cache entry is missing),
    /// waits until the API server is ready and namespace `default` exists, and writes an admin
    /// kubeconfig. Blocking; safe to call from inside or outside an async runtime.
    pub fn start() -> Result<ControlPlane, Error> {
        sweep_stale();
        let etcd = peers::binary("etcd-3.5", "etcd")?;
        let apiserver = peers::binary("kube-1.33", "kube-apiserver")?;
        let mut last = None;
        // A port picked by `free_port` can be taken before the peer binds it: retry.
        for attempt in 1..=3 {
            match Self::start_once(&etcd, &apiserver) {
                Ok(cp) => return Ok(cp),
                Err(e) => {
                    tracing::warn!(attempt, error = %e, "control plane did not start");
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| Error::Process("control plane did not start".into())))
    }

    fn start_once(etcd_bin: &Path, apiserver_bin: &Path) -> Result<ControlPlane, Error> {
        let dir = tempfile::Builder::new()
            .prefix("sidero-testenv-")
            .tempdir()
            .map_err(|e| Error::io("creating the control plane folder", e))?;
        let d = dir.path();
        write(&d.join("owner.pid"), &std::process::id().to_string())?;
        let (etcd_port, peer_port, api_port) = (free_port()?, free_port()?, free_port()?);

        let etcd_url = format!("http://127.0.0.1:{etcd_port}");
        let etcd_args = vec![
            format!("--data-dir={}", d.join("etcd").display()),
            format!("--listen-client-urls={etcd_url}"),
            format!("--advertise-client-urls={etcd_url}"),
            format!("--listen-peer-urls=http://127.0.0.1:{peer_port}"),
            "--unsafe-no-fsync=true".into(),
            "--log-level=warn".into(),
        ];
        let mut etcd = Proc::spawn("etcd", etcd_bin, &etcd_args, &d.join("etcd.log"))?;

        let serving_ca = Ca::new("sidero-testenv-serving-ca")?;
        let serving = serving_ca.serving(&[])?;
        let client_ca = Ca::new("sidero-testenv-client-ca")?;
        let admin = client_ca.client("admin", Some("system:masters"))?;
        let (sa_pub, sa_key) = certs::service_account_key()?;
        write(&d.join("apiserver.crt"), &serving.cert)?;
        write(&d.join("apiserver.key"), &serving.key)?;
        write(&d.join("client-ca.crt"), &client_ca.cert)?;
        write(&d.join("sa.pub"), &sa_pub)?;
        write(&d.join("sa.key"), &sa_key)?;

        let deadline = Instant::now() + START_TIMEOUT;
        while !etcd_healthy(etcd_port) {
            if !etcd.running() || Instant::now() > deadline {
                return Err(Error::Process(format!(
                    "etcd did not become healthy:\n{}",
                    etcd.log_tail(20)
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }

        let url = format!("https://127.0.0.1:{api_port}");
        let api_args = vec![
            format!("--etcd-servers={etcd_url}"),
            format!("--secure-port={api_port}"),
            "--bind-address=127.0.0.1".into(),
            "--advertise-address=127.0.0.1".into(),
            "--endpoint-reconciler-type=none".into(),
            format!("--tls-cert-file={}", d.join("apiserver.crt").display()),
            format!(
                "--tls-private-key-file={}",
                d.join("apiserver.key").display()
            ),
            format!("--cert-dir={}", d.display()),
            format!("--client-ca-file={}", d.join("client-ca.crt").display()),
            "--authorization-mode=RBAC".into(),
            format!("--service-account-issuer={url}/"),
            format!("--service-account-key-file={}", d.join("sa.pub").display()),
            format!(
                "--service-account-signing-key-file={}",
                d.join("sa.key").display()
            ),
            "--service-cluster-ip-range=10.0.0.0/24".into(),
            "--allow-privileged=true".into(),
            "--disable-admission-plugins=ServiceAccount".into(),
            "--v=1".into(),
        ];
        let apiserver = Proc::spawn(
            "kube-apiserver",
            apiserver_bin,
            &api_args,
            &d.join("kube-apiserver.log"),
        )?;
        let apiserver_bin = apiserver_bin.to_path_buf();

        let kubeconfig = d.join("kubeconfig");
        write(
            &kubeconfig,
            &render_kubeconfig(&url, &serving_ca.cert, &admin),
        )?;
        let mut cp = ControlPlane {
            apiserver,
            apiserver_bin,
            apiserver_args: api_args,
            etcd,
            url,
            kubeconfig,
            client_ca,
            ca_cert: serving_ca.cert.clone(),
            dir,
        };
        cp.wait_ready(deadline)?;
        Ok(cp)
    }

    /// Polls `/readyz` and then namespace `default` (created asynchronously by the server).
    fn wait_ready(&mut self, deadline: Instant) -> Result<(), Error> {
        let path = self.kubeconfig.clone();
        let probe = std::thread::spawn(move || -> Result<(), String> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async move {
                loop {
                    if Instant::now() > deadline {
                        return Err("timed out waiting for /readyz and namespace default".into());
                    }
                    if let Ok(client) = client_from(&path).await {
                        let ready = client
                            .request_text(http_get("/readyz").map_err(|e| e.to_string())?)
                            .await
                            .map(|t| t.trim() == "ok")
                            .unwrap_or(false);
                        if ready && Api::<Namespace>::all(client).get("default").await.is_ok() {
                            return Ok(());
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            })
        });
        let res = probe
            .join()
            .map_err(|_| Error::Process("readiness probe thread panicked".into()))?;
        res.map_err(|e| {
            Error::Process(format!(
                "kube-apiserver not ready ({e}); running={}:\n{}",
                self.apiserver.running(),
                self.apiserver.log_tail(30)
            ))
        })
    }

    /// The API server URL (`https://127.0.0.1:<port>`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Path of the admin kubeconfig (user `admin`, group `system:masters`).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// PEM of the CA that signed the API server's serving certificate.
    pub fn ca_cert(&self) -> &str {
        &self.ca_cert
    }

    /// The folder holding certificates, logs and the etcd data of this control plane.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Process ids of (etcd, kube-apiserver), for tests that inject faults.
    pub fn pids(&self) -> (Option<u32>, Option<u32>) {
        (self.etcd.pid(), self.apiserver.pid())
    }

    /// Stops kube-apiserver (SIGTERM, SIGKILL after 10 s) and waits for its exit; etcd keeps
    /// running, so [`ControlPlane::start_apiserver`] brings the same cluster back. For fault
    /// tests: clients see connection refused on the API port meanwhile.
    pub fn stop_apiserver(&mut self) {
        self.apiserver.stop(Duration::from_secs(10));
    }

    /// Starts kube-apiserver again on the same port, certificates and etcd, and waits until
    /// it is ready (up to 60 s). A no-op when it is running.
    pub fn start_apiserver(&mut self) -> Result<(), Error> {
        if self.apiserver.running() {
            return Ok(());
        }
        let log = self.dir.path().join("kube-apiserver.restarted.log");
        self.apiserver = Proc::spawn(
            "kube-apiserver",
            &self.apiserver_bin,
            &self.apiserver_args,
            &log,
        )?;
        self.wait_ready(Instant::now() + START_TIMEOUT)
    }

    /// A kubeconfig for another user (client certificate signed by the client CA), written
    /// next to the admin one. `group` may be `None` for an unprivileged user.
    pub fn user_kubeconfig(&self, user: &str, group: Option<&str>) -> Result<PathBuf, Error> {
        let pem = self.client_ca.client(user, group)?;
        let path = self.dir.path().join(format!("kubeconfig-{user}"));
        write(&path, &render_kubeconfig(&self.url, &self.ca_cert, &pem))?;
        Ok(path)
    }

    /// A new admin client. Create one per async runtime: a client's connection pool is bound
    /// to the runtime it was created in.
    pub async fn client(&self) -> Result<Client, Error> {
        client_from(&self.kubeconfig).await
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        // API server first, so it does not log a storm of etcd errors while stopping.
        self.apiserver.stop(Duration::from_secs(10));
        self.etcd.stop(Duration::from_secs(10));
    }
}

/// Removes the folders of control planes whose test process is gone (a shared control plane
/// is never dropped, and a killed test never cleans up), so repeated runs do not fill the disk.
fn sweep_stale() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.filter_map(Result::ok) {
        let path = e.path();
        let is_ours = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("sidero-testenv-"));
        if !is_ours {
            continue;
        }
        let owner = std::fs::read_to_string(path.join("owner.pid")).unwrap_or_default();
        let alive = owner
            .trim()
            .parse::<u32>()
            .is_ok_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
        if !alive && !owner.is_empty() {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

fn http_get(path: &str) -> Result<http::Request<Vec<u8>>, Error> {
    http::Request::get(path)
        .body(Vec::new())
        .map_err(|e| Error::Process(format!("building request: {e}")))
}

/// A kube client for the kubeconfig at `path`.
pub async fn client_from(path: &Path) -> Result<Client, Error> {
    let kc = Kubeconfig::read_from(path).map_err(|e| Error::Kube(e.to_string()))?;
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .map_err(|e| Error::Kube(e.to_string()))?;
    Client::try_from(config).map_err(|e| Error::Kube(e.to_string()))
}

fn render_kubeconfig(url: &str, ca: &str, user: &certs::Pem) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: testenv\n  cluster:\n    server: {url}\n    certificate-authority-data: {ca}\nusers:\n- name: testenv\n  user:\n    client-certificate-data: {cert}\n    client-key-data: {key}\ncontexts:\n- name: testenv\n  context:\n    cluster: testenv\n    user: testenv\ncurrent-context: testenv\n",
        ca = B64.encode(ca),
        cert = B64.encode(&user.cert),
        key = B64.encode(&user.key),
    )
}
