//! The agent's lifecycle (everything but the PID 1 parts) against the real manager's Agent API:
//! the Agent routes served in-process over h2c on 127.0.0.1, a real API server behind them, a
//! fake sysfs tree with a byte-built DMI table, and image files as disks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::Path;
use std::time::Duration;

use kube::{Api, Client};
use serde_json::json;
use sidero_agent::inventory;
use sidero_agent::lifecycle::{self, Options};
use sidero_agent::retry::Retry;
use sidero_agent::wipe::{MIB, WipeMode};
use sidero_api::metal::v1alpha2::Server;
use sidero_controller_manager::agent::{self, AgentConfig};
use sidero_controller_manager::http::{combined, serve};
use sidero_smbios::build::{Table, entry_point_v3};
use sidero_smbios::{Version, fixtures};
use tonic::transport::Channel;

const DISK_BYTES: usize = 6 * MIB as usize;

/// Starts the Agent API on 127.0.0.1 with `config`; returns a client for it and for Kubernetes.
async fn start(config: AgentConfig) -> (lifecycle::AgentApi, Client) {
    let _ = tracing_subscriber::fmt().with_env_filter("info").try_init();
    let client = sidero_testenv::shared().unwrap().client().await.unwrap();
    let app = combined(axum::Router::new(), agent::routes(client.clone(), config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, app, std::future::pending()));
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy();
    (lifecycle::client(channel, None), client)
}

fn config(auto_accept: bool, insecure_wipe: bool) -> AgentConfig {
    AgentConfig {
        auto_accept_servers: auto_accept,
        insecure_wipe,
        auto_bmc_setup: true,
        server_reboot_timeout: Duration::from_secs(30),
    }
}

fn put(root: &Path, rel: &str, content: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

/// A machine: a sysfs tree (DMI tables modelled on a Dell R640 with system UUID `uuid`, disks
/// `sda` and a read-only `sdb`) and a device folder with their images, each filled with a
/// pattern.
fn machine(uuid: [u8; 16]) -> (tempfile::TempDir, tempfile::TempDir) {
    let sys = tempfile::tempdir().unwrap();
    let dev = tempfile::tempdir().unwrap();
    let dell = fixtures::dell_r640();
    // The Dell table with its system structure swapped for one carrying this test's UUID.
    let table = Table::new()
        .push(fixtures::system(
            [
                "Dell Inc.",
                "PowerEdge R640",
                "Not Specified",
                "4NRKZ23",
                "SKU=NotProvided;ModelName=PowerEdge R640",
                "PowerEdge",
            ],
            uuid,
        ))
        .raw(&dell.table)
        .bytes();
    let ep = entry_point_v3(Version::new(3, 2), table.len() as u32);
    put(sys.path(), "firmware/dmi/tables/smbios_entry_point", &ep);
    put(sys.path(), "firmware/dmi/tables/DMI", &table);
    let sectors = format!("{}\n", DISK_BYTES / 512);
    for (name, ro) in [("sda", "0"), ("sdb", "1")] {
        put(
            sys.path(),
            &format!("block/{name}/size"),
            sectors.as_bytes(),
        );
        put(sys.path(), &format!("block/{name}/ro"), ro.as_bytes());
        put(sys.path(), &format!("block/{name}/queue/rotational"), b"0");
        put(
            sys.path(),
            &format!("block/{name}/device/model"),
            b"SAMSUNG MZ7LH480",
        );
        put(
            sys.path(),
            &format!("block/{name}/device/serial"),
            name.as_bytes(),
        );
        std::fs::write(dev.path().join(name), vec![0x5Au8; DISK_BYTES]).unwrap();
    }
    put(sys.path(), "block/loop0/size", b"2048");
    (sys, dev)
}

fn options(dev: &Path) -> Options {
    Options {
        dev_root: dev.to_path_buf(),
        bmc: lifecycle::device_bmc(dev.join("ipmi0")),
        retry: Retry {
            total: Duration::from_secs(20),
            per_call: Duration::from_secs(10),
            first_wait: Duration::from_millis(200),
            max_wait: Duration::from_secs(2),
        },
    }
}

fn uuid_bytes(last: u8) -> ([u8; 16], String) {
    let mut b = [
        0x44, 0x45, 0x4c, 0x4c, 0x38, 0x00, 0x10, 0x52, 0x80, 0x4b, 0xb4, 0xc0, 0x4f, 0x4e, 0x31,
        0x00,
    ];
    b[15] = last;
    (b, format!("4c4c4544-0038-5210-804b-b4c04f4e31{last:02x}"))
}

async fn server(client: &Client, name: &str) -> serde_json::Value {
    let s = Api::<Server>::all(client.clone()).get(name).await.unwrap();
    serde_json::to_value(s).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_server_is_registered_fully_wiped_and_marked_clean() {
    let (agent, kube) = start(config(true, false)).await;
    let (bytes, uuid) = uuid_bytes(0xa1);
    let (sys, dev) = machine(bytes);
    let mut inv = inventory::gather(sys.path()).await;
    inv.hostname = "node-a1".into();
    let out = lifecycle::run(agent, &inv, &options(dev.path()))
        .await
        .unwrap();
    assert_eq!(out.uuid, uuid);
    assert_eq!(out.plan.wipe, Some(WipeMode::Full));
    assert_eq!(out.plan.heartbeat_every, Duration::from_secs(10));
    assert_eq!(out.wiped, ["/dev/sda"], "sdb is read-only");
    let bmc = out.bmc.unwrap().unwrap_err();
    assert!(bmc.starts_with("no BMC available"), "{bmc}");

    let sda = std::fs::read(dev.path().join("sda")).unwrap();
    assert_eq!(sda.len(), DISK_BYTES);
    assert!(sda.iter().all(|b| *b == 0), "full wipe zeroes everything");
    let sdb = std::fs::read(dev.path().join("sdb")).unwrap();
    assert!(sdb.iter().all(|b| *b == 0x5A), "read-only disk untouched");

    let s = server(&kube, &uuid).await;
    assert_eq!(s["spec"]["accepted"], json!(true));
    assert_eq!(s["spec"]["hostname"], json!("node-a1"));
    let hw = &s["spec"]["hardware"];
    assert_eq!(
        hw["system"],
        json!({"uuid": uuid, "manufacturer": "Dell Inc.", "productName": "PowerEdge R640",
               "serialNumber": "4NRKZ23", "skuNumber": "SKU=NotProvided;ModelName=PowerEdge R640",
               "family": "PowerEdge"})
    );
    assert_eq!(hw["compute"]["processorCount"], json!(2));
    assert_eq!(hw["compute"]["totalCoreCount"], json!(32));
    assert_eq!(hw["compute"]["totalThreadCount"], json!(64));
    assert_eq!(
        hw["compute"]["processors"][0]["productName"],
        json!("Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz")
    );
    assert_eq!(hw["compute"]["processors"][0]["speed"], json!(2100));
    assert_eq!(hw["memory"]["totalSize"], json!("64 GB"));
    assert_eq!(hw["memory"]["moduleCount"], json!(2));
    assert_eq!(hw["memory"]["modules"][0]["type"], json!("DDR4"));
    assert_eq!(hw["memory"]["modules"][0]["size"], json!(32768));
    assert_eq!(hw["storage"]["deviceCount"], json!(2));
    assert_eq!(hw["storage"]["devices"][0]["type"], json!("SSD"));
    assert_eq!(hw["storage"]["devices"][0]["deviceName"], json!("/dev/sda"));
    assert_eq!(
        hw["storage"]["devices"][0]["productName"],
        json!("SAMSUNG MZ7LH480")
    );
    // The test host's interfaces are real; every reported one has a MAC.
    let nics = hw["network"]["interfaces"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        nics.iter()
            .all(|n| n["mac"].as_str().is_some_and(|m| m.len() == 17)),
        "{nics:?}"
    );

    assert_eq!(s["status"]["isClean"], json!(true));
    let conditions = s["status"]["conditions"].as_array().unwrap();
    let power_cycle = conditions
        .iter()
        .find(|c| c["type"] == "PowerCycle")
        .unwrap();
    assert_eq!(power_cycle["status"], json!("True"));
    let want: Vec<String> = inv
        .addresses
        .clone()
        .unwrap()
        .into_iter()
        .map(|a| a.address)
        .collect();
    let got: Vec<String> = s["status"]["addresses"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|a| a["address"].as_str().unwrap().to_string())
        .collect();
    for a in &want {
        assert!(got.contains(a), "{a} not in {got:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_wipe_clears_both_ends_only() {
    let (agent, kube) = start(config(true, true)).await;
    let (bytes, uuid) = uuid_bytes(0xa2);
    let (sys, dev) = machine(bytes);
    let inv = inventory::gather(sys.path()).await;
    let out = lifecycle::run(agent, &inv, &options(dev.path()))
        .await
        .unwrap();
    assert_eq!(out.plan.wipe, Some(WipeMode::Fast));
    let sda = std::fs::read(dev.path().join("sda")).unwrap();
    let m = MIB as usize;
    assert!(sda[..m].iter().all(|b| *b == 0));
    assert!(sda[DISK_BYTES - m..].iter().all(|b| *b == 0));
    assert!(sda[m..DISK_BYTES - m].iter().all(|b| *b == 0x5A));
    assert_eq!(server(&kube, &uuid).await["status"]["isClean"], json!(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unaccepted_server_registers_and_nothing_is_wiped() {
    let (agent, kube) = start(config(false, false)).await;
    let (bytes, uuid) = uuid_bytes(0xa3);
    let (sys, dev) = machine(bytes);
    let inv = inventory::gather(sys.path()).await;
    let out = lifecycle::run(agent, &inv, &options(dev.path()))
        .await
        .unwrap();
    assert_eq!((out.plan.wipe, out.plan.setup_bmc), (None, false));
    assert!(out.wiped.is_empty() && out.bmc.is_none());
    let sda = std::fs::read(dev.path().join("sda")).unwrap();
    assert!(sda.iter().all(|b| *b == 0x5A));
    let s = server(&kube, &uuid).await;
    assert_eq!(s["spec"]["accepted"], json!(false));
    assert_ne!(s["status"]["isClean"], json!(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_api_fails_after_the_retry_budget() {
    // A port nobody listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let channel = Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect_lazy();
    let (bytes, _) = uuid_bytes(0xa4);
    let (sys, dev) = machine(bytes);
    let inv = inventory::gather(sys.path()).await;
    let mut opts = options(dev.path());
    opts.retry.total = Duration::from_secs(2);
    let started = std::time::Instant::now();
    let err = lifecycle::run(lifecycle::client(channel, None), &inv, &opts)
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    let text = err.to_string();
    assert!(text.starts_with("CreateServer failed"), "{text}");
}

#[tokio::test]
async fn no_uuid_no_registration() {
    let (agent, _) = start(config(true, false)).await;
    let dev = tempfile::tempdir().unwrap();
    let inv = lifecycle::Inventory::default();
    let err = lifecycle::run(agent, &inv, &options(dev.path()))
        .await
        .unwrap_err();
    assert!(matches!(err, lifecycle::LifecycleError::NoUuid), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_mark_the_wipe_in_progress() {
    let (agent, kube) = start(config(false, false)).await;
    let (bytes, uuid) = uuid_bytes(0xa5);
    let (sys, dev) = machine(bytes);
    let inv = inventory::gather(sys.path()).await;
    lifecycle::run(agent.clone(), &inv, &options(dev.path()))
        .await
        .unwrap();
    let beat = tokio::spawn(lifecycle::heartbeats(
        agent,
        uuid.clone(),
        Duration::from_secs(1),
    ));
    let start = std::time::Instant::now();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let s = server(&kube, &uuid).await;
        if let Some(c) = s["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == "PowerCycle"))
        {
            assert_eq!(c["status"], json!("False"));
            assert_eq!(c["reason"], json!("InProgress"));
            assert_eq!(c["message"], json!("Server wipe in progress."));
            let t = c["lastTransitionTime"].clone();
            if !seen.contains(&t) {
                seen.push(t);
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "heartbeats did not refresh the condition: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    beat.abort();
}

/// An accepted server whose agent comes back from another address than it registered from
/// (its lease changed): refused without the token `/ipxe` handed it, served with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_sends_its_token_to_an_authenticated_api() {
    let _ = tracing_subscriber::fmt().with_env_filter("info").try_init();
    let kube = sidero_testenv::shared().unwrap().client().await.unwrap();
    let key = sidero_netboot::token::derive_key(b"lifecycle token test");
    let auth = agent::AgentAuth {
        key,
        token_ttl: Duration::from_secs(600),
    };
    let app = combined(
        axum::Router::new(),
        agent::routes_with_auth(kube.clone(), config(false, true), Some(auth)),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, app, std::future::pending()));
    let channel = || {
        Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_lazy()
    };

    let (bytes, uuid) = uuid_bytes(0xa7);
    let servers: Api<Server> = Api::all(kube.clone());
    let s: Server = serde_json::from_value(json!({
        "apiVersion": "metal.sidero.dev/v1alpha2",
        "kind": "Server",
        "metadata": {
            "name": uuid,
            "annotations": {"metal.sidero.dev/agent-address": "10.9.9.9"},
        },
        "spec": {"accepted": true},
    }))
    .unwrap();
    servers.create(&Default::default(), &s).await.unwrap();
    let (sys, dev) = machine(bytes);
    let inv = inventory::gather(sys.path()).await;

    let mut opts = options(dev.path());
    opts.retry.total = Duration::from_secs(1);
    let err = lifecycle::run(lifecycle::client(channel(), None), &inv, &opts)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("without an agent token"), "{err}");

    let token = sidero_netboot::token::issue_agent(
        &key,
        &uuid,
        sidero_controller_manager::http::unix_now(),
        600,
    );
    let out = lifecycle::run(
        lifecycle::client(channel(), Some(&token)),
        &inv,
        &options(dev.path()),
    )
    .await
    .unwrap();
    assert_eq!(out.uuid, uuid);
    let s = server(&kube, &uuid).await;
    assert_eq!(s["status"]["isClean"], true, "{s:#}");
    assert_eq!(
        s["metadata"]["annotations"]["metal.sidero.dev/agent-address"],
        "127.0.0.1"
    );
}
