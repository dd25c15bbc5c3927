//! Benchmark: 1000 concurrent HTTP clients on `/ipxe` of the real `sidero-controller-manager`
//! (against a real etcd + kube-apiserver) and on a static file server serving the same script
//! (Python's `http.server`, not ours), measured in the same run.
//!
//! Run: `cargo bench -p sidero-controller-manager --bench ipxe` (as root: it runs in its own
//! network namespace). Knobs: `IPXE_BENCH_CLIENTS` (default 1000), `IPXE_BENCH_ROUNDS`
//! (sequential requests per client per trial, default 3), `IPXE_BENCH_TRIALS` (default 2;
//! the targets are interleaved per trial).
//!
//! Targets: `/ipxe` for an unknown UUID (the agent branch: two API lookups, both NotFound),
//! `/ipxe` for a Server with a ServerBinding and a ready Environment (the Talos branch: three
//! lookups, the four kernel args and a config token), `/boot.ipxe` (our HTTP stack without
//! the API server), and the static server's copy of the agent script. Each client is a
//! tokio task using hyper's HTTP/1.1 client with a **new TCP connection per request**
//! (`Connection: close`), as iPXE fetches each URL; a request's latency runs from connect to
//! the last body byte. Bodies are checked.
//!
//! The process re-executes itself in a fresh network namespace (loopback only); the control
//! plane, the manager and the static server run there as separate processes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use kube::Api;
use kube::api::PostParams;
use serde_json::json;
use sidero_api::infra::v1alpha3::ServerBinding;
use sidero_api::metal::v1alpha2::{Environment, Server};

const OURS: &str = "127.0.0.1:8081";
const STATIC: &str = "127.0.0.1:8000";
const MAC: &str = "mac=52-54-00-12-34-56&arch=x86_64";

fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        Some("--inside") => inside(),
        // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without
        // it, where a minutes-long benchmark has no place.
        _ if std::env::args().any(|a| a == "--bench") => outside(),
        _ => {
            println!("benchmark only: run `cargo bench -p sidero-controller-manager --bench ipxe`");
            ExitCode::SUCCESS
        }
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Kills and reaps a child we started, by its handle.
struct Reap(Child);
impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Makes sure the Go peers are built (that needs the module proxy, so it happens out here),
/// then runs `--inside` in a fresh namespace (bounded) and deletes it.
fn outside() -> ExitCode {
    for (wrapper, bin) in [("etcd-3.5", "etcd"), ("kube-1.33", "kube-apiserver")] {
        if let Err(e) = sidero_testenv::peers::binary(wrapper, bin) {
            eprintln!("building {bin}: {e}");
            return ExitCode::FAILURE;
        }
    }
    let ns = format!("sidero-ipxe-bench-{}", std::process::id());
    let ip = |a: &[&str]| {
        Command::new("ip")
            .args(a)
            .status()
            .is_ok_and(|s| s.success())
    };
    if !ip(&["netns", "add", &ns]) {
        eprintln!("cannot create network namespace {ns} (needs root and iproute2)");
        return ExitCode::FAILURE;
    }
    let ok = ip(&["-n", &ns, "link", "set", "lo", "up"]) && {
        let mut child = Reap(
            Command::new("ip")
                .args(["netns", "exec", &ns])
                .arg(std::env::current_exe().unwrap())
                .arg("--inside")
                .spawn()
                .unwrap(),
        );
        let deadline = Instant::now() + Duration::from_secs(1800);
        loop {
            if let Some(st) = child.0.try_wait().unwrap() {
                break st.success();
            }
            if Instant::now() > deadline {
                eprintln!("benchmark exceeded 30 minutes, stopping it");
                break false;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    ip(&["netns", "del", &ns]);
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// One GET on a new connection: (status, body).
async fn get(addr: SocketAddr, path: &str) -> Result<(u16, Bytes), String> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    let conn = tokio::spawn(conn);
    let req = http::Request::get(path)
        .header(http::header::HOST, addr.to_string())
        .header(http::header::CONNECTION, "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("request: {e}"))?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?
        .to_bytes();
    drop(sender);
    let _ = conn.await;
    Ok((status, body))
}

/// What a response must look like.
#[derive(Clone)]
enum Expect {
    Exactly(Bytes),
    Prefix(&'static str),
}

impl Expect {
    fn check(&self, status: u16, body: &[u8]) -> Result<(), String> {
        let ok = status == 200
            && match self {
                Expect::Exactly(b) => body == &b[..],
                Expect::Prefix(p) => body.starts_with(p.as_bytes()),
            };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "status {status}, body {:?}",
                String::from_utf8_lossy(&body[..body.len().min(120)])
            ))
        }
    }
}

struct Target {
    name: &'static str,
    addr: SocketAddr,
    path: String,
    expect: Expect,
}

/// Totals of one target over all trials.
#[derive(Default)]
struct Totals {
    wall: Duration,
    bytes: u64,
    requests: u64,
    failures: u64,
    first_failure: Option<String>,
    latencies: Vec<Duration>,
}

impl Totals {
    fn per_s(&self) -> f64 {
        self.requests as f64 / self.wall.as_secs_f64()
    }
    fn mb_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.wall.as_secs_f64()
    }
    fn pct(&mut self, p: f64) -> Duration {
        self.latencies.sort_unstable();
        let i = ((self.latencies.len() as f64 * p).ceil() as usize).saturating_sub(1);
        self.latencies.get(i).copied().unwrap_or_default()
    }
}

async fn trial(t: &Target, clients: usize, rounds: usize, totals: &mut Totals) {
    let path: Arc<str> = t.path.as_str().into();
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (addr, path, expect) = (t.addr, Arc::clone(&path), t.expect.clone());
        set.spawn(async move {
            let mut out = Vec::with_capacity(rounds);
            for _ in 0..rounds {
                let t0 = Instant::now();
                let r = tokio::time::timeout(Duration::from_secs(30), get(addr, &path))
                    .await
                    .map_err(|_| "no answer within 30 s".to_string())
                    .and_then(|r| r)
                    .and_then(|(status, body)| expect.check(status, &body).map(|()| body.len()));
                out.push((r, t0.elapsed()));
            }
            out
        });
    }
    while let Some(done) = set.join_next().await {
        for (r, took) in done.unwrap() {
            match r {
                Ok(n) => {
                    totals.requests += 1;
                    totals.bytes += n as u64;
                    totals.latencies.push(took);
                }
                Err(e) => {
                    totals.failures += 1;
                    totals.first_failure.get_or_insert(e);
                }
            }
        }
    }
    totals.wall += start.elapsed();
}

async fn wait_for(addr: SocketAddr, path: &str, what: &str, log: &Path) {
    for _ in 0..600 {
        if let Ok((200, _)) = get(addr, path).await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "{what} did not answer {path} within 60 s:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

fn spawn_manager(dir: &Path, kubeconfig: &Path) -> Reap {
    let log = std::fs::File::create(dir.join("manager.log")).unwrap();
    Reap(
        Command::new(env!("CARGO_BIN_EXE_sidero-controller-manager"))
            .args(["--api-endpoint", "127.0.0.1", "--api-port", "8081"])
            .args(["--http-bind", "127.0.0.1", "--http-port", "8081"])
            .args(["--tftp-addr", "127.0.0.1:6969", "--disable-dhcp-proxy"])
            .args([
                "--enable-leader-election=false",
                "--ipxe-dir",
                "/usr/lib/ipxe",
            ])
            .arg(format!("--tftp-dir={}", dir.join("tftp").display()))
            .arg(format!("--env-dir={}", dir.join("env").display()))
            .arg(format!("--kubeconfig={}", kubeconfig.display()))
            // Network rule: the `default` Environment must not point at the internet.
            .arg("--talos-assets-base=http://127.0.0.1:9/talos")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap(),
    )
}

/// Python's threading HTTP server over `dir`; its listen backlog raised from socketserver's
/// default of 5 to 1024 (ours uses tokio's 1024), or 1000 simultaneous connects would mostly
/// measure SYN retransmissions.
fn spawn_static(dir: &Path) -> Reap {
    let script = "import functools, http.server, sys\n\
        class S(http.server.ThreadingHTTPServer):\n    request_queue_size = 1024\n\
        class H(http.server.SimpleHTTPRequestHandler):\n    def log_message(self, *a): pass\n\
        S(('127.0.0.1', 8000), functools.partial(H, directory=sys.argv[1])).serve_forever()\n";
    let log = std::fs::File::create(dir.join("static.log")).unwrap();
    Reap(
        Command::new("python3")
            .args(["-c", script])
            .arg(dir.join("static"))
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("python3 runs"),
    )
}

async fn create<K>(client: &kube::Client, v: serde_json::Value)
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::ClusterResourceScope>
        + Clone
        + serde::Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let obj: K = serde_json::from_value(v).unwrap();
    Api::<K>::all(client.clone())
        .create(&PostParams::default(), &obj)
        .await
        .unwrap();
}

fn inside() -> ExitCode {
    let clients = env_usize("IPXE_BENCH_CLIENTS", 1000);
    let rounds = env_usize("IPXE_BENCH_ROUNDS", 3);
    let trials = env_usize("IPXE_BENCH_TRIALS", 2);
    let cp = sidero_testenv::start_with_crds().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("static")).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let _manager = spawn_manager(dir.path(), cp.kubeconfig());
    let _static = spawn_static(dir.path());
    let (ours, stat): (SocketAddr, SocketAddr) = (OURS.parse().unwrap(), STATIC.parse().unwrap());
    let mut targets = rt.block_on(async {
        let client = cp.client().await.unwrap();
        create::<Environment>(&client, json!({"apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Environment",
            "metadata": {"name": "bench"},
            "spec": {"kernel": {"args": ["console=tty0", "initrd=initramfs.xz", "talos.platform=metal"]}}})).await;
        create::<Server>(&client, json!({"apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
            "metadata": {"name": "bench-talos"},
            "spec": {"accepted": true, "environmentRef": {"name": "bench"}}})).await;
        create::<ServerBinding>(&client, json!({"apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha3",
            "kind": "ServerBinding", "metadata": {"name": "bench-talos"},
            "spec": {"metalMachineRef": {"kind": "MetalMachine", "name": "m", "namespace": "default"},
                     "siderolink": {"address": "", "publicKey": ""}}})).await;
        wait_for(ours, "/boot.ipxe", "the manager", &dir.path().join("manager.log")).await;
        let agent_path = format!("/ipxe?uuid=4c4c4544-0000-0000-0000-00000000beef&{MAC}");
        let (_, agent) = get(ours, &agent_path).await.unwrap();
        assert!(agent.starts_with(b"#!ipxe\nkernel /env/agent-amd64/vmlinuz "), "{agent:?}");
        std::fs::write(dir.path().join("static/agent.ipxe"), &agent).unwrap();
        wait_for(stat, "/agent.ipxe", "python3 http.server", &dir.path().join("static.log")).await;
        let (_, boot) = get(ours, "/boot.ipxe").await.unwrap();
        vec![
            Target { name: "ours /ipxe agent", addr: ours, path: agent_path, expect: Expect::Exactly(agent.clone()) },
            Target { name: "ours /ipxe talos", addr: ours, path: format!("/ipxe?uuid=bench-talos&{MAC}"),
                     expect: Expect::Prefix("#!ipxe\nkernel /env/bench/vmlinuz console=tty0 initrd=initramfs.xz talos.platform=metal talos.config=") },
            Target { name: "ours /boot.ipxe", addr: ours, path: "/boot.ipxe".into(), expect: Expect::Exactly(boot) },
            Target { name: "python3 http.server", addr: stat, path: "/agent.ipxe".into(), expect: Expect::Exactly(agent) },
        ]
    });
    println!(
        "HTTP: {clients} concurrent clients x {rounds} requests x {trials} trials per target; \
         hyper HTTP/1.1 client, one TCP connection per request; python {}",
        Command::new("python3")
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    );
    let mut totals: Vec<Totals> = targets.iter().map(|_| Totals::default()).collect();
    rt.block_on(async {
        for t in &targets {
            trial(t, 50, 1, &mut Totals::default()).await; // warm-up
        }
        for _ in 0..trials {
            for (t, tot) in targets.iter().zip(totals.iter_mut()) {
                trial(t, clients, rounds, tot).await;
            }
        }
    });
    println!(
        "{:<22} {:>10} {:>8} {:>9} {:>9} {:>9}",
        "target", "requests/s", "MB/s", "p50 ms", "p99 ms", "failures"
    );
    let mut rows = Vec::new();
    for (t, tot) in targets.iter_mut().zip(totals.iter_mut()) {
        let (p50, p99) = (tot.pct(0.50), tot.pct(0.99));
        println!(
            "{:<22} {:>10.1} {:>8.2} {:>9.1} {:>9.1} {:>9}",
            t.name,
            tot.per_s(),
            tot.mb_s(),
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3,
            tot.failures
        );
        if let Some(f) = &tot.first_failure {
            println!("  first failure: {f}");
        }
        rows.push((tot.per_s(), p99));
    }
    let base = rows[3];
    for (t, r) in targets.iter().zip(&rows).take(3) {
        println!(
            "{} / python3 http.server: requests/s x{:.2}, p99 latency x{:.2} (lower is better)",
            t.name,
            r.0 / base.0,
            r.1.as_secs_f64() / base.1.as_secs_f64()
        );
    }
    drop(cp);
    if totals.iter().any(|t| t.failures > 0) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
