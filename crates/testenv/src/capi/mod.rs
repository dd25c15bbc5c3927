//! The real Cluster API managers next to a test control plane: CAPI core, the Talos bootstrap
//! provider (CABPT) and the Talos control-plane provider (CACPPT), built from their Go modules
//! (`tools/peers/`), with their CRDs and webhooks installed kustomize-free and every webhook
//! served on a loopback port.
//!
//! ```no_run
//! # fn t() -> Result<(), sidero_testenv::Error> {
//! let cp = sidero_testenv::start_with_crds()?;            // our CRDs (MetalCluster, …)
//! let capi = sidero_testenv::capi::CapiStack::start(&cp)?; // CAPI + CABPT + CACPPT, ready
//! let talosctl = sidero_testenv::capi::talosctl()?;        // for `talosctl validate`
//! // or, one per test binary next to `sidero_testenv::shared()`:
//! let capi = sidero_testenv::capi::shared()?;
//! # Ok(()) }
//! ```

mod install;
pub mod manifests;
pub mod repository;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::certs::Ca;
use crate::controlplane::{free_port, write};
use crate::process::Proc;
use crate::{ControlPlane, Error, peers};
use manifests::{CrdLabels, Endpoint};

/// Cluster API core version the stack runs (wrapper `tools/peers/capi-1.10`).
pub const CAPI_VERSION: &str = "v1.10.10";
/// CABPT version (wrapper `tools/peers/cabpt-0.6`).
pub const CABPT_VERSION: &str = "v0.6.12";
/// CACPPT version (wrapper `tools/peers/cacppt-0.5`).
pub const CACPPT_VERSION: &str = "v0.5.13";
/// talosctl version (wrapper `tools/peers/talosctl-1.13`).
pub const TALOSCTL_VERSION: &str = "v1.13.0";

const START_TIMEOUT: Duration = Duration::from_secs(90);

/// One controller manager of the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Provider {
    /// Short name, used for folders, logs and the webhook configuration prefix.
    pub name: &'static str,
    /// clusterctl's provider name (label `cluster.x-k8s.io/provider`).
    pub clusterctl_name: &'static str,
    /// The wrapper under `tools/peers/`.
    pub wrapper: &'static str,
    /// The manager binary in that wrapper.
    pub bin: &'static str,
    /// The version implementing CAPI's v1beta1 contract, for label `cluster.x-k8s.io/v1beta1`.
    pub v1beta1_contract: Option<&'static str>,
    /// The flag that turns leader election off (its name differs between projects).
    pub no_leader_election: &'static str,
}

/// CAPI core, CABPT and CACPPT, in start order.
pub const PROVIDERS: [Provider; 3] = [
    Provider {
        name: "capi",
        clusterctl_name: "cluster-api",
        wrapper: "capi-1.10",
        bin: "capi-manager",
        v1beta1_contract: None,
        no_leader_election: "--leader-elect=false",
    },
    Provider {
        name: "cabpt",
        clusterctl_name: "bootstrap-talos",
        wrapper: "cabpt-0.6",
        bin: "cabpt-manager",
        v1beta1_contract: Some("v1alpha3"),
        no_leader_election: "--enable-leader-election=false",
    },
    Provider {
        name: "cacppt",
        clusterctl_name: "control-plane-talos",
        wrapper: "cacppt-0.5",
        bin: "cacppt-manager",
        v1beta1_contract: Some("v1alpha3"),
        no_leader_election: "--enable-leader-election=false",
    },
];

/// The `clusterctl` binary of the same CAPI version (built on first use).
pub fn clusterctl() -> Result<PathBuf, Error> {
    peers::binary("capi-1.10", "clusterctl")
}

/// clusterctl's inventory CRDs (`clusterctl.cluster.x-k8s.io_providers.yaml`; the other file
/// there is a schema for metadata files, not a cluster CRD), for tests that run
/// `clusterctl move`/`describe` against CRDs installed by hand.
pub fn clusterctl_crd_dir() -> Result<PathBuf, Error> {
    Ok(peers::config_dir("capi-1.10")?.join("cmd/clusterctl/config/crd/bases"))
}

/// The `talosctl` binary (built on first use). Give it temp `HOME`/`TALOSCONFIG` for
/// commands that touch `~/.talos`; `talosctl validate` does not.
pub fn talosctl() -> Result<PathBuf, Error> {
    peers::binary("talosctl-1.13", "talosctl")
}

/// A running manager.
pub struct Manager {
    provider: Provider,
    proc: Proc,
    webhook_port: u16,
    health_port: u16,
    metrics_port: u16,
}

impl Manager {
    /// Which provider this is.
    pub fn provider(&self) -> &Provider {
        &self.provider
    }
    /// Loopback port of its webhook server (HTTPS).
    pub fn webhook_port(&self) -> u16 {
        self.webhook_port
    }
    /// Loopback port of `/healthz` and `/readyz` (HTTP).
    pub fn health_port(&self) -> u16 {
        self.health_port
    }
    /// Loopback port of `/metrics` (HTTP, no authentication).
    pub fn metrics_port(&self) -> u16 {
        self.metrics_port
    }
    /// Process id.
    pub fn pid(&self) -> Option<u32> {
        self.proc.pid()
    }
    /// Path of its log.
    pub fn log_path(&self) -> &Path {
        self.proc.log_path()
    }
    /// The last `n` lines of its log.
    pub fn log_tail(&self, n: usize) -> String {
        self.proc.log_tail(n)
    }
    /// Whether it still runs.
    pub fn running(&mut self) -> bool {
        self.proc.running()
    }
    /// Whether `/readyz` answers 200 now.
    pub fn ready(&self) -> bool {
        http_ok(self.health_port, "/readyz")
    }
}

/// CAPI core, CABPT and CACPPT running against a [`ControlPlane`] with the admin kubeconfig.
/// Dropping it stops the managers (the CRDs and webhook configurations stay installed, but
/// the webhooks then refuse: drop the control plane with it).
pub struct CapiStack {
    managers: Vec<Manager>,
    webhook_ca: String,
    started_in: Duration,
    dir: tempfile::TempDir,
}

impl CapiStack {
    /// Builds the managers if needed, installs their CRDs (contract labels, conversion routed
    /// to the managers), starts them on free loopback ports, waits until each is ready, then
    /// installs their webhook configurations and waits until the API server calls them.
    /// Blocking; safe to call from inside or outside an async runtime.
    pub fn start(cp: &ControlPlane) -> Result<CapiStack, Error> {
        let mut bins = Vec::new();
        for p in PROVIDERS {
            bins.push((
                p,
                peers::binary(p.wrapper, p.bin)?,
                peers::config_dir(p.wrapper)?,
            ));
        }
        let mut last = None;
        // A port picked by `free_port` can be taken before the manager binds it: retry.
        for attempt in 1..=2 {
            match Self::start_once(cp, &bins) {
                Ok(s) => return Ok(s),
                Err(e) => {
                    tracing::warn!(attempt, error = %e, "CAPI stack did not start");
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| Error::Process("CAPI stack did not start".into())))
    }

    fn start_once(
        cp: &ControlPlane,
        bins: &[(Provider, PathBuf, PathBuf)],
    ) -> Result<CapiStack, Error> {
        let t0 = Instant::now();
        let dir = tempfile::Builder::new()
            .prefix("sidero-testenv-capi-")
            .tempdir()
            .map_err(|e| Error::io("creating the CAPI stack folder", e))?;
        write(
            &dir.path().join("owner.pid"),
            &std::process::id().to_string(),
        )?;
        let ca = Ca::new("sidero-testenv-webhook-ca")?;

        let mut plan = Vec::new();
        for (p, _, config) in bins {
            let certs = dir.path().join(p.name);
            std::fs::create_dir_all(&certs)
                .map_err(|e| Error::io(format!("creating {}", certs.display()), e))?;
            let leaf = ca.serving(&[])?;
            write(&certs.join("tls.crt"), &leaf.cert)?;
            write(&certs.join("tls.key"), &leaf.key)?;
            plan.push(install::Plan {
                name: p.name,
                labels: CrdLabels {
                    provider: p.clusterctl_name.into(),
                    v1beta1_contract: p.v1beta1_contract.map(str::to_string),
                },
                config: config.clone(),
                endpoint: Endpoint {
                    base_url: format!("https://127.0.0.1:{}", free_port()?),
                    ca_pem: ca.cert.clone(),
                },
            });
        }
        install::crds(cp.kubeconfig(), &plan)?;

        let mut managers = Vec::new();
        for ((p, bin, _), pl) in bins.iter().zip(&plan) {
            let webhook_port = port_of(&pl.endpoint)?;
            let (health_port, metrics_port) = (free_port()?, free_port()?);
            let args = vec![
                format!("--kubeconfig={}", cp.kubeconfig().display()),
                p.no_leader_election.to_string(),
                format!("--webhook-port={webhook_port}"),
                format!("--webhook-cert-dir={}", dir.path().join(p.name).display()),
                format!("--health-addr=127.0.0.1:{health_port}"),
                format!("--diagnostics-address=127.0.0.1:{metrics_port}"),
                "--insecure-diagnostics".into(),
            ];
            let log = dir.path().join(format!("{}.log", p.name));
            managers.push(Manager {
                provider: *p,
                proc: Proc::spawn(p.name, bin, &args, &log)?,
                webhook_port,
                health_port,
                metrics_port,
            });
        }
        let mut stack = CapiStack {
            managers,
            webhook_ca: ca.cert.clone(),
            started_in: Duration::ZERO,
            dir,
        };
        stack.wait_ready(t0 + START_TIMEOUT)?;
        install::webhooks(cp.kubeconfig(), &plan)?;
        install::wait_webhooks_called(cp.kubeconfig(), t0 + START_TIMEOUT)?;
        stack.started_in = t0.elapsed();
        tracing::info!(seconds = stack.started_in.as_secs_f32(), "CAPI stack ready");
        Ok(stack)
    }

    fn wait_ready(&mut self, deadline: Instant) -> Result<(), Error> {
        for m in &mut self.managers {
            while !m.ready() {
                let running = m.running();
                if !running || Instant::now() > deadline {
                    return Err(Error::Process(format!(
                        "{} did not become ready (running={running}):\n{}",
                        m.provider.name,
                        m.log_tail(30)
                    )));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(())
    }

    /// The managers, in [`PROVIDERS`] order.
    pub fn managers(&self) -> &[Manager] {
        &self.managers
    }

    /// The manager named `name` (`capi`, `cabpt` or `cacppt`).
    pub fn manager(&self, name: &str) -> Option<&Manager> {
        self.managers.iter().find(|m| m.provider.name == name)
    }

    /// PEM of the CA that signed every webhook serving certificate.
    pub fn webhook_ca(&self) -> &str {
        &self.webhook_ca
    }

    /// How long [`CapiStack::start`] took once the binaries were built.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// The folder with the managers' certificates and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for CapiStack {
    fn drop(&mut self) {
        // Signal all first: each manager takes a moment to shut its controllers down.
        for m in &self.managers {
            m.proc.terminate();
        }
        for m in &mut self.managers {
            m.proc.stop(Duration::from_secs(10));
        }
    }
}

fn port_of(ep: &Endpoint) -> Result<u16, Error> {
    ep.base_url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| Error::Process(format!("no port in {}", ep.base_url)))
}

/// Plain HTTP/1.0 GET on loopback; true on status 200.
fn http_ok(port: u16, path: &str) -> bool {
    let Ok(mut s) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.") && &head[9..12] == b"200"
}

/// One CAPI stack for the whole test binary, next to [`crate::shared`]'s control plane,
/// started on first use. Like that control plane it lives until the process exits.
pub fn shared() -> Result<&'static CapiStack, Error> {
    static SHARED: std::sync::OnceLock<Result<CapiStack, String>> = std::sync::OnceLock::new();
    SHARED
        .get_or_init(|| {
            crate::shared()
                .and_then(CapiStack::start)
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Error::Process(format!("shared CAPI stack failed to start: {e}")))
}
