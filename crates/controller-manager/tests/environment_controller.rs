//! The Environment controller against a real API server and a local HTTP file server on
//! 127.0.0.1: `default` is created once and never overwritten; kernel and initrd are
//! downloaded atomically (exact bytes, no stale tail, no partial file), verified against
//! `sha512`, re-downloaded on URL change, and every failure shows up as a `False` condition
//! plus an Event while the previous file keeps being served.
//!
//! Each test runs its own controller restricted by a label selector to its own Environments
//! and its own temporary asset folder, so tests can share the control plane and run in
//! parallel.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::events::v1::Event;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;
use sha2::{Digest, Sha512};
use sidero_api::metal::v1alpha2::{AssetCondition, Environment};
use sidero_controller_manager::controllers::environment::{self, Config, plan};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// A tiny HTTP/1.1 file server with programmable answers.

#[derive(Clone, Debug)]
struct Route {
    status: u16,
    body: Vec<u8>,
    /// Wait this long before answering.
    delay: Duration,
    /// Send only this many body bytes (with the full Content-Length), then close.
    truncate_at: Option<usize>,
    location: Option<String>,
}

impl Route {
    fn ok(body: &[u8]) -> Self {
        Route {
            status: 200,
            body: body.to_vec(),
            delay: Duration::ZERO,
            truncate_at: None,
            location: None,
        }
    }

    fn status(status: u16) -> Self {
        Route {
            status,
            body: format!("status {status}").into_bytes(),
            ..Route::ok(b"")
        }
    }

    fn redirect(to: &str) -> Self {
        Route {
            location: Some(to.to_owned()),
            ..Route::status(302)
        }
    }
}

#[derive(Clone)]
struct FileServer {
    base: String,
    routes: Arc<Mutex<HashMap<String, Route>>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

impl FileServer {
    async fn start() -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = FileServer {
            base: format!("http://{}", listener.local_addr().unwrap()),
            routes: Arc::default(),
            hits: Arc::default(),
        };
        let s = server.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(s.clone().handle(sock));
            }
        });
        server
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn set(&self, path: &str, route: Route) {
        self.routes.lock().unwrap().insert(path.to_owned(), route);
    }

    fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    async fn handle(self, mut sock: TcpStream) {
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match sock.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
            if head.len() > 16 * 1024 {
                return;
            }
        }
        let text = String::from_utf8_lossy(&head);
        let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
        *self.hits.lock().unwrap().entry(path.clone()).or_default() += 1;
        let route = self
            .routes
            .lock()
            .unwrap()
            .get(&path)
            .cloned()
            .unwrap_or_else(|| Route::status(404));
        tokio::time::sleep(route.delay).await;
        let location = route
            .location
            .as_ref()
            .map(|l| format!("Location: {l}\r\n"))
            .unwrap_or_default();
        let header = format!(
            "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n{location}\r\n",
            route.status,
            route.body.len()
        );
        let send = route.truncate_at.unwrap_or(route.body.len());
        let _ = sock.write_all(header.as_bytes()).await;
        let _ = sock.write_all(&route.body[..send]).await;
        let _ = sock.shutdown().await;
    }
}

// ---------------------------------------------------------------------------------------------
// Harness: a controller for one test's Environments.

struct Harness {
    client: Client,
    api: Api<Environment>,
    server: FileServer,
    dir: tempfile::TempDir,
    label: String,
    config: Config,
    controller: JoinHandle<()>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.controller.abort();
    }
}

fn spawn_controller(client: &Client, config: &Config) -> JoinHandle<()> {
    let (client, config) = (client.clone(), config.clone());
    tokio::spawn(async move {
        environment::run(client, config).await.unwrap();
    })
}

async fn harness(test: &str, tweak: impl FnOnce(&mut Config)) -> Harness {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("sidero_controller_manager=debug,kube_runtime=info")
        .try_init();
    let client = sidero_testenv::shared().unwrap().client().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        env_dir: dir.path().to_path_buf(),
        retry_min: Duration::from_millis(200),
        retry_max: Duration::from_secs(1),
        download_timeout: Duration::from_secs(20),
        label_selector: Some(format!("sidero.test/case={test}")),
        ..Config::default()
    };
    tweak(&mut config);
    let controller = spawn_controller(&client, &config);
    Harness {
        api: Api::all(client.clone()),
        client,
        server: FileServer::start().await,
        dir,
        label: test.to_owned(),
        config,
        controller,
    }
}

impl Harness {
    fn path(&self, env: &str, file: &str) -> PathBuf {
        self.config.env_dir.join(env).join(file)
    }

    fn dir_of(&self, env: &str) -> PathBuf {
        self.config.env_dir.join(env)
    }

    async fn create(&self, name: &str, kernel: serde_json::Value, initrd: serde_json::Value) {
        let env: Environment = serde_json::from_value(json!({
            "apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Environment",
            "metadata": {"name": name, "labels": {"sidero.test/case": self.label}},
            "spec": {"kernel": kernel, "initrd": initrd},
        }))
        .unwrap();
        let _ = self.api.delete(name, &DeleteParams::default()).await;
        wait_for(&format!("{name} deleted"), || async {
            self.api
                .get_opt(name)
                .await
                .unwrap()
                .is_none()
                .then_some(())
        })
        .await;
        self.api.create(&PostParams::default(), &env).await.unwrap();
    }

    async fn patch_spec(&self, name: &str, spec: serde_json::Value) {
        self.api
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "spec": spec })),
            )
            .await
            .unwrap();
    }

    async fn conditions(&self, name: &str) -> Vec<AssetCondition> {
        let env = self.api.get(name).await.unwrap();
        plan::current_conditions(env.status.as_ref()).to_vec()
    }

    /// Waits until the condition for `url` has `status`.
    async fn wait_condition(&self, name: &str, url: &str, status: &str) -> Vec<AssetCondition> {
        wait_for(&format!("{name}: {url} {status}"), || async {
            let c = self.conditions(name).await;
            c.iter()
                .any(|c| c.url.as_deref() == Some(url) && c.status == status)
                .then_some(c)
        })
        .await
    }

    async fn wait_ready(&self, name: &str) -> Environment {
        wait_for(&format!("{name} ready"), || async {
            let env = self.api.get(name).await.unwrap();
            env.is_ready().then_some(env)
        })
        .await
    }

    /// Waits for an Event with `reason` about Environment `name`; returns its note.
    async fn wait_event(&self, name: &str, reason: &str, note_contains: &str) -> String {
        let events: Api<Event> = Api::all(self.client.clone());
        wait_for(
            &format!("{reason} event for {name} with {note_contains:?}"),
            || async {
                let list = events.list(&ListParams::default()).await.unwrap();
                list.items.into_iter().find_map(|e| {
                    let about = e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name);
                    let note = e.note.clone().unwrap_or_default();
                    (about && e.reason.as_deref() == Some(reason) && note.contains(note_contains))
                        .then_some(note)
                })
            },
        )
        .await
    }
}

/// Polls `probe` every 50 ms until it yields a value; fails after [`WAIT`].
async fn wait_for<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn bytes(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn sha512(data: &[u8]) -> String {
    Sha512::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_is_created_once_and_never_overwritten() {
    let h = harness("default", |_| {}).await;
    let want = plan::default_spec("v1.13.0");
    environment::ensure_default(&h.client, "v1.13.0", plan::UPSTREAM_ASSETS_BASE)
        .await
        .unwrap();
    let env = h.api.get("default").await.unwrap();
    assert_eq!(env.spec, want);
    assert_eq!(env.spec.kernel_args().len(), 14);

    // An operator's change is never undone, not even by a newer release.
    h.patch_spec("default", json!({"kernel": {"args": ["console=ttyS1"]}}))
        .await;
    assert!(
        !environment::ensure_default(&h.client, "v1.13.0", plan::UPSTREAM_ASSETS_BASE)
            .await
            .unwrap()
    );
    assert!(
        !environment::ensure_default(&h.client, "v1.14.0", plan::UPSTREAM_ASSETS_BASE)
            .await
            .unwrap()
    );
    let env = h.api.get("default").await.unwrap();
    assert_eq!(env.spec.kernel_args(), ["console=ttyS1"]);

    // Deleted, it comes back (the running controller keeps it present) with the default spec.
    h.api
        .delete("default", &DeleteParams::default())
        .await
        .unwrap();
    let env = wait_for("default recreated", || async {
        h.api
            .get_opt("default")
            .await
            .unwrap()
            .filter(|e| e.spec == want)
    })
    .await;
    assert_eq!(env.spec.kernel_url(), want.kernel_url());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kernel_and_initrd_are_downloaded_and_the_environment_becomes_ready() {
    let h = harness("download", |_| {}).await;
    let kernel = bytes(1, 300_000);
    let initrd = bytes(2, 123_457);
    h.server.set("/files/vmlinuz", Route::ok(&kernel));
    h.server.set("/kernel", Route::redirect("/files/vmlinuz"));
    h.server.set("/initrd", Route::ok(&initrd));
    let (k_url, i_url) = (h.server.url("/kernel"), h.server.url("/initrd"));
    // sha512 in upper case: verification is case-insensitive.
    let i_sha = sha512(&initrd).to_uppercase();
    h.create(
        "dl-env",
        json!({"url": k_url, "args": ["console=ttyS0"]}),
        json!({"url": i_url, "sha512": i_sha}),
    )
    .await;

    let env = h.wait_ready("dl-env").await;
    assert_eq!(
        plan::current_conditions(env.status.as_ref()),
        [
            AssetCondition::ready(&k_url, None, true),
            AssetCondition::ready(&i_url, Some(&i_sha), true),
        ]
    );
    assert_eq!(read(&h.path("dl-env", "vmlinuz")), kernel);
    assert_eq!(read(&h.path("dl-env", "initramfs.xz")), initrd);
    assert_eq!(
        files(&h.dir.path().join("dl-env")),
        ["initramfs.xz", "vmlinuz"]
    );
    let note = h.wait_event("dl-env", "Downloaded", "initrd").await;
    assert!(note.contains(&sha512(&initrd)), "{note}");
    h.wait_event("dl-env", "Downloaded", "kernel").await;
    assert_eq!((h.server.hits("/kernel"), h.server.hits("/initrd")), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checksum_mismatch_keeps_the_served_file() {
    let h = harness("sha", |_| {}).await;
    let good = bytes(3, 50_000);
    let evil = bytes(4, 50_000);
    h.server.set("/v1/vmlinuz", Route::ok(&good));
    h.server.set("/v2/vmlinuz", Route::ok(&evil));
    let v1 = h.server.url("/v1/vmlinuz");
    h.create(
        "sha-env",
        json!({"url": v1, "sha512": sha512(&good)}),
        json!(null),
    )
    .await;
    h.wait_condition("sha-env", &v1, "True").await;
    h.wait_event("sha-env", "MissingURL", "initrd").await;
    assert_eq!(read(&h.path("sha-env", "vmlinuz")), good);

    // The new URL serves bytes that do not match the (unchanged) sha512.
    let v2 = h.server.url("/v2/vmlinuz");
    h.patch_spec("sha-env", json!({"kernel": {"url": v2}}))
        .await;
    h.wait_condition("sha-env", &v2, "False").await;
    let note = h.wait_event("sha-env", "ChecksumMismatch", &v2).await;
    assert!(note.contains(&sha512(&evil)), "{note}");
    assert!(!h.api.get("sha-env").await.unwrap().is_ready());
    assert_eq!(read(&h.path("sha-env", "vmlinuz")), good);
    assert_eq!(files(&h.dir.path().join("sha-env")), ["vmlinuz"]);

    // Once the hash in the spec matches, the new file is served.
    h.patch_spec("sha-env", json!({"kernel": {"sha512": sha512(&evil)}}))
        .await;
    h.wait_ready("sha-env").await;
    assert_eq!(read(&h.path("sha-env", "vmlinuz")), evil);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_change_downloads_new_bytes_without_a_stale_tail() {
    let h = harness("urlchange", |_| {}).await;
    let long = bytes(5, 400_000);
    let short = b"short kernel".to_vec();
    h.server.set("/long", Route::ok(&long));
    h.server.set("/short", Route::ok(&short));
    h.server.set("/initrd", Route::ok(b"initrd"));
    let (long_url, short_url) = (h.server.url("/long"), h.server.url("/short"));
    h.create(
        "url-env",
        json!({"url": long_url}),
        json!({"url": h.server.url("/initrd")}),
    )
    .await;
    h.wait_ready("url-env").await;
    assert_eq!(read(&h.path("url-env", "vmlinuz")), long);

    h.patch_spec("url-env", json!({"kernel": {"url": short_url}}))
        .await;
    h.wait_condition("url-env", &short_url, "True").await;
    assert!(h.api.get("url-env").await.unwrap().is_ready());
    // Exactly the new bytes: upstream left the old file's tail behind.
    assert_eq!(read(&h.path("url-env", "vmlinuz")), short);
    // The unchanged initrd was not fetched again.
    assert_eq!(h.server.hits("/initrd"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_reported_and_retried_until_fixed() {
    let h = harness("errors", |_| {}).await;
    h.server.set("/k", Route::status(404));
    h.server.set("/i", Route::status(500));
    let (k, i) = (h.server.url("/k"), h.server.url("/i"));
    h.create("err-env", json!({"url": k}), json!({"url": i}))
        .await;
    h.wait_condition("err-env", &k, "False").await;
    h.wait_condition("err-env", &i, "False").await;
    h.wait_event("err-env", "DownloadFailed", "404 Not Found")
        .await;
    h.wait_event("err-env", "DownloadFailed", "500 Internal Server Error")
        .await;
    assert!(!h.api.get("err-env").await.unwrap().is_ready());
    assert_eq!(files(&h.dir.path().join("err-env")), Vec::<String>::new());

    // Retried with backoff (not only on spec changes) until the server is fixed.
    wait_for("retries", || async {
        (h.server.hits("/k") >= 2 && h.server.hits("/i") >= 2).then_some(())
    })
    .await;
    h.server.set("/k", Route::ok(b"kernel"));
    h.server.set("/i", Route::ok(b"initrd"));
    h.wait_ready("err-env").await;
    assert_eq!(read(&h.path("err-env", "vmlinuz")), b"kernel");
    assert_eq!(read(&h.path("err-env", "initramfs.xz")), b"initrd");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_download_keeps_the_old_file() {
    let h = harness("truncated", |_| {}).await;
    let old = bytes(6, 20_000);
    h.server.set("/old", Route::ok(&old));
    h.server.set(
        "/cut",
        Route {
            truncate_at: Some(1_000),
            ..Route::ok(&bytes(7, 20_000))
        },
    );
    let (old_url, cut_url) = (h.server.url("/old"), h.server.url("/cut"));
    h.create("cut-env", json!({"url": old_url}), json!(null))
        .await;
    h.wait_condition("cut-env", &old_url, "True").await;

    h.patch_spec("cut-env", json!({"kernel": {"url": cut_url}}))
        .await;
    h.wait_condition("cut-env", &cut_url, "False").await;
    h.wait_event("cut-env", "DownloadFailed", &cut_url).await;
    assert_eq!(read(&h.path("cut-env", "vmlinuz")), old);
    assert_eq!(files(&h.dir.path().join("cut-env")), ["vmlinuz"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_server_does_not_block_other_environments() {
    let h = harness("slow", |_| {}).await;
    let slow = Duration::from_secs(4);
    for p in ["/slow/k", "/slow/i"] {
        h.server.set(
            p,
            Route {
                delay: slow,
                ..Route::ok(b"slow")
            },
        );
    }
    h.server.set("/fast/k", Route::ok(b"fast kernel"));
    h.server.set("/fast/i", Route::ok(b"fast initrd"));
    let start = Instant::now();
    h.create(
        "slow-env",
        json!({"url": h.server.url("/slow/k")}),
        json!({"url": h.server.url("/slow/i")}),
    )
    .await;
    wait_for("slow downloads started", || async {
        (h.server.hits("/slow/k") == 1 && h.server.hits("/slow/i") == 1).then_some(())
    })
    .await;
    h.create(
        "fast-env",
        json!({"url": h.server.url("/fast/k")}),
        json!({"url": h.server.url("/fast/i")}),
    )
    .await;
    h.wait_ready("fast-env").await;
    assert!(
        start.elapsed() < slow,
        "fast environment took {:?}",
        start.elapsed()
    );
    assert!(!h.api.get("slow-env").await.unwrap().is_ready());
    h.wait_ready("slow-env").await;
    assert_eq!(read(&h.path("slow-env", "vmlinuz")), b"slow");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_that_takes_too_long_times_out() {
    let h = harness("timeout", |c| c.download_timeout = Duration::from_secs(1)).await;
    h.server.set(
        "/hang",
        Route {
            delay: Duration::from_secs(60),
            ..Route::ok(b"never")
        },
    );
    let url = h.server.url("/hang");
    h.create("hang-env", json!({"url": url}), json!(null)).await;
    h.wait_condition("hang-env", &url, "False").await;
    let note = h.wait_event("hang-env", "DownloadFailed", &url).await;
    assert!(note.contains("timed out"), "{note}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_errors_are_reported_and_the_old_file_kept() {
    let h = harness("write", |_| {}).await;
    h.server.set("/a", Route::ok(b"first kernel"));
    h.server.set("/b", Route::ok(b"second kernel"));
    let (a, b) = (h.server.url("/a"), h.server.url("/b"));
    h.create("write-env", json!({"url": a}), json!(null)).await;
    h.wait_condition("write-env", &a, "True").await;

    // The temporary file cannot be created (a directory is in the way: this fails even for
    // root, unlike a read-only folder).
    let blocker = h.path("write-env", ".vmlinuz.part");
    std::fs::create_dir(&blocker).unwrap();
    h.patch_spec("write-env", json!({"kernel": {"url": b}}))
        .await;
    h.wait_condition("write-env", &b, "False").await;
    h.wait_event("write-env", "WriteFailed", ".vmlinuz.part")
        .await;
    assert_eq!(read(&h.path("write-env", "vmlinuz")), b"first kernel");

    // Once writable again, the retry succeeds.
    std::fs::remove_dir(&blocker).unwrap();
    h.wait_condition("write-env", &b, "True").await;
    assert_eq!(read(&h.path("write-env", "vmlinuz")), b"second kernel");

    // A folder that cannot be created is reported as well.
    let env_dir = h.dir.path().join("blocked-env");
    std::fs::write(&env_dir, b"a file, not a folder").unwrap();
    h.create("blocked-env", json!({"url": a}), json!(null))
        .await;
    h.wait_condition("blocked-env", &a, "False").await;
    h.wait_event("blocked-env", "WriteFailed", "blocked-env")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_controller_downloads_only_missing_files() {
    let mut h = harness("restart", |_| {}).await;
    h.server.set("/k", Route::ok(b"kernel"));
    h.server.set("/i", Route::ok(b"initrd"));
    h.create(
        "restart-env",
        json!({"url": h.server.url("/k")}),
        json!({"url": h.server.url("/i")}),
    )
    .await;
    h.wait_ready("restart-env").await;

    // A new pod: the kernel file is gone, the status still says Ready.
    h.controller.abort();
    std::fs::remove_file(h.path("restart-env", "vmlinuz")).unwrap();
    h.server.set(
        "/k",
        Route {
            delay: Duration::from_secs(2),
            ..Route::ok(b"kernel, again")
        },
    );
    h.controller = spawn_controller(&h.client, &h.config);
    // Readiness is withdrawn while the file is missing (upstream kept saying Ready, so /ipxe
    // handed out a kernel URL that 404ed until the download finished).
    let k = h.server.url("/k");
    h.wait_condition("restart-env", &k, "False").await;
    assert!(!h.path("restart-env", "vmlinuz").exists());
    wait_for("kernel downloaded again", || async {
        (read(&h.path("restart-env", "vmlinuz")) == b"kernel, again").then_some(())
    })
    .await;
    h.wait_ready("restart-env").await;
    assert_eq!((h.server.hits("/k"), h.server.hits("/i")), (2, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_specs_and_names_are_reported_without_downloading() {
    let h = harness("invalid", |_| {}).await;
    h.server.set("/k", Route::ok(b"kernel"));
    let url = h.server.url("/k");
    h.create(
        "invalid-sha-env",
        json!({"url": url, "sha512": "not-a-sha512"}),
        json!(null),
    )
    .await;
    h.wait_condition("invalid-sha-env", &url, "False").await;
    h.wait_event("invalid-sha-env", "InvalidChecksum", "not-a-sha512")
        .await;

    // An Environment must not overwrite the agent's files.
    h.create("agent-amd64", json!({"url": url}), json!(null))
        .await;
    h.wait_condition("agent-amd64", &url, "False").await;
    h.wait_event("agent-amd64", "ReservedName", "agent").await;
    assert_eq!(h.server.hits("/k"), 0);
    assert!(!h.dir.path().join("agent-amd64").exists());
    h.api
        .delete("agent-amd64", &DeleteParams::default())
        .await
        .unwrap();
}

/// A tiny tmpfs mounted for one test (we are root in the test environment), unmounted when
/// dropped, also on panic.
struct TinyFs(tempfile::TempDir);

impl TinyFs {
    fn mount(size: &str) -> TinyFs {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mount tmpfs (root needed): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        TinyFs(dir)
    }
}

impl Drop for TinyFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.0.path())
            .status();
    }
}

/// Fault: the environment folder's filesystem is full. The new kernel cannot be written:
/// its condition turns `False` with a `WriteFailed` Event that says "No space left on
/// device", the partial file is removed (the space comes back), and the old kernel is still
/// served at `/env/`. Once the asset fits, the retry succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_reported_and_the_old_assets_still_served() {
    let fs = TinyFs::mount("1m");
    let env_dir = fs.0.path().to_path_buf();
    let h = harness("diskfull", |c| c.env_dir = env_dir.clone()).await;
    let old = bytes(7, 300_000);
    let big = bytes(8, 2 * 1024 * 1024);
    let small = bytes(9, 200_000);
    h.server.set("/old", Route::ok(&old));
    h.server.set("/new", Route::ok(&big));
    let (old_url, new_url) = (h.server.url("/old"), h.server.url("/new"));
    h.create("full-env", json!({"url": old_url}), json!(null))
        .await;
    h.wait_condition("full-env", &old_url, "True").await;

    // The boot listener serving the same folder.
    let boot = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", boot.local_addr().unwrap());
    let state = std::sync::Arc::new(sidero_controller_manager::http::BootState {
        client: h.client.clone(),
        config: sidero_netboot::boot::BootConfig {
            endpoints: sidero_netboot::args::Endpoints {
                api_host: "127.0.0.1".into(),
                api_port: 8081,
                siderolink_address: "fdae:2859:5bb1:7a03::1".into(),
            },
            extra_agent_args: sidero_netboot::cmdline::Cmdline::parse(""),
            boot_from_disk_method: "ipxe-exit".into(),
        },
        boot_script: String::new(),
        release: None,
        agent_tokens: None,
        cache: None,
    });
    let dirs = sidero_controller_manager::http::Dirs {
        env: fs.0.path().to_path_buf(),
        tftp: fs.0.path().join("tftp"),
    };
    tokio::spawn(sidero_controller_manager::http::serve(
        boot,
        sidero_controller_manager::http::router(state, &dirs),
        std::future::pending(),
    ));
    let served = || {
        let out = std::process::Command::new("curl")
            .args(["-sf", "--max-time", "10"])
            .arg(format!("{base}/env/full-env/vmlinuz"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        out.stdout
    };
    assert_eq!(served(), old);

    h.patch_spec("full-env", json!({"kernel": {"url": new_url}}))
        .await;
    h.wait_condition("full-env", &new_url, "False").await;
    let note = h
        .wait_event("full-env", "WriteFailed", "No space left on device")
        .await;
    eprintln!("disk full: {note}");
    assert_eq!(read(&h.path("full-env", "vmlinuz")), old);
    assert_eq!(served(), old, "the old kernel is still served");
    wait_for("the partial download removed", || async {
        (files(&h.dir_of("full-env")) == ["vmlinuz"]).then_some(())
    })
    .await;

    // The asset shrinks to fit: the retry succeeds and the new kernel is served.
    h.server.set("/new", Route::ok(&small));
    h.wait_condition("full-env", &new_url, "True").await;
    assert_eq!(served(), small);
}
