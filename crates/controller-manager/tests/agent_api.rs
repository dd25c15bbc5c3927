//! The Agent gRPC API end to end: a real tonic client over h2c to the combined listener on
//! 127.0.0.1 (which also answers HTTP/1.1 boot requests on the same port), against a real
//! API server. Each test uses its own server UUIDs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::Write;
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::api::{ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use sidero_api::metal::v1alpha2::Server;
use sidero_controller_manager::agent::{self, AgentConfig};
use sidero_controller_manager::http::{BootState, Dirs, combined, router, serve};
use sidero_netboot::args::Endpoints;
use sidero_netboot::boot::BootConfig;
use sidero_netboot::cmdline::Cmdline;
use sidero_proto::api;
use sidero_proto::api::agent_client::AgentClient;
use tonic::Code;
use tonic::transport::Channel;

/// Everything logged by this test binary, to check that no secret is ever logged.
fn logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter("debug")
            .with_writer(move || Sink(sink.clone()))
            .try_init();
        buf
    })
    .clone()
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Fixture {
    addr: std::net::SocketAddr,
    agent: AgentClient<Channel>,
    client: Client,
    _dirs: tempfile::TempDir,
}

/// Starts the combined listener (boot HTTP + Agent API with `config`) on 127.0.0.1.
async fn start(config: AgentConfig) -> Fixture {
    logs();
    let client = sidero_testenv::shared().unwrap().client().await.unwrap();
    let dirs = tempfile::tempdir().unwrap();
    let state = Arc::new(BootState {
        client: client.clone(),
        config: BootConfig {
            endpoints: Endpoints {
                api_host: "127.0.0.1".into(),
                api_port: 8081,
                siderolink_address: "fdae:2859:5bb1:7a03::1".into(),
            },
            extra_agent_args: Cmdline::parse(""),
            boot_from_disk_method: "ipxe-exit".into(),
        },
        boot_script: sidero_netboot::script::boot_script("127.0.0.1", 8081),
        release: None,
        agent_tokens: None,
        cache: None,
    });
    let d = Dirs {
        env: dirs.path().join("env"),
        tftp: dirs.path().join("tftp"),
    };
    let app = combined(router(state, &d), agent::routes(client.clone(), config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, app, std::future::pending()));
    let agent = AgentClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    Fixture {
        addr,
        agent,
        client,
        _dirs: dirs,
    }
}

fn config(auto_accept: bool, insecure_wipe: bool, auto_bmc: bool, timeout_s: u64) -> AgentConfig {
    AgentConfig {
        auto_accept_servers: auto_accept,
        insecure_wipe,
        auto_bmc_setup: auto_bmc,
        server_reboot_timeout: Duration::from_secs(timeout_s),
    }
}

fn report(uuid: &str) -> api::HardwareInformation {
    api::HardwareInformation {
        system: Some(api::SystemInformation {
            uuid: uuid.into(),
            manufacturer: "QEMU".into(),
            product_name: "Standard PC (Q35 + ICH9, 2009)".into(),
            version: "pc-q35-7.2".into(),
            serial_number: "SN-42".into(),
            sku_number: "".into(),
            family: "Virtual".into(),
        }),
        compute: Some(api::ComputeInformation {
            total_core_count: 4,
            total_thread_count: 8,
            processor_count: 1,
            processors: vec![api::Processor {
                manufacturer: "QEMU".into(),
                product_name: "pc-q35-7.2".into(),
                serial_number: "".into(),
                speed: 2000,
                core_count: 4,
                thread_count: 8,
            }],
        }),
        memory: Some(api::MemoryInformation {
            total_size: 16384,
            module_count: 1,
            modules: vec![api::MemoryModule {
                manufacturer: "QEMU".into(),
                product_name: "".into(),
                serial_number: "".into(),
                r#type: "RAM".into(),
                size: 16384,
                speed: 0,
            }],
        }),
        storage: Some(api::StorageInformation {
            total_size: 10 * 1024 * 1024 * 1024 + 1,
            device_count: 1,
            devices: vec![api::StorageDevice {
                r#type: api::StorageType::Hdd as i32,
                size: 10 * 1024 * 1024 * 1024 + 1,
                model: "QEMU HARDDISK".into(),
                serial: "QM00001".into(),
                name: "sda".into(),
                device_name: "/dev/sda".into(),
                uuid: "".into(),
                wwid: "t10.ATA QEMU HARDDISK QM00001".into(),
            }],
        }),
        network: Some(api::NetworkInformation {
            interface_count: 1,
            interfaces: vec![api::NetworkInterface {
                index: 2,
                name: "eth0".into(),
                flags: "up|broadcast|multicast|running".into(),
                mtu: 1500,
                mac: "52:54:00:12:34:56".into(),
                addresses: vec!["172.20.0.2/24".into()],
            }],
        }),
    }
}

fn create_req(uuid: &str, hostname: &str) -> api::CreateServerRequest {
    api::CreateServerRequest {
        hardware: Some(report(uuid)),
        hostname: hostname.into(),
    }
}

/// `(wipe, insecure_wipe, setup_bmc, reboot_timeout)` of a CreateServer call.
async fn create(f: &mut Fixture, uuid: &str) -> (bool, bool, bool, f64) {
    let r = f
        .agent
        .create_server(create_req(uuid, "node"))
        .await
        .unwrap()
        .into_inner();
    (r.wipe, r.insecure_wipe, r.setup_bmc, r.reboot_timeout)
}

async fn get(client: &Client, name: &str) -> Server {
    Api::<Server>::all(client.clone()).get(name).await.unwrap()
}

async fn patch_status(client: &Client, name: &str, status: serde_json::Value) {
    Api::<Server>::all(client.clone())
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await
        .unwrap();
}

/// Waits for an Event on `server` with `reason`; checks its message and reporter.
async fn expect_event(client: &Client, server: &str, reason: &str, note: &str) -> usize {
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let start = Instant::now();
    loop {
        let list = events.list(&ListParams::default()).await.unwrap();
        let found: Vec<_> = list
            .items
            .iter()
            .filter(|e| {
                e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(server)
                    && e.reason.as_deref() == Some(reason)
            })
            .collect();
        if let Some(e) = found.first() {
            assert_eq!(e.note.as_deref(), Some(note));
            assert_eq!(e.type_.as_deref(), Some("Normal"));
            assert_eq!(e.reporting_controller.as_deref(), Some("sidero-server"));
            let regarding = e.regarding.as_ref().unwrap();
            assert_eq!(regarding.kind.as_deref(), Some("Server"));
            assert_eq!(
                regarding.api_version.as_deref(),
                Some("metal.sidero.dev/v1alpha2")
            );
            return found.len();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no {reason:?} event for {server}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_server_registers_with_mapped_hardware() {
    let mut f = start(config(false, true, true, 1200)).await;
    let uuid = "a1000000-0000-4000-8000-000000000001";
    // Not accepted: nothing is asked of the agent.
    assert_eq!(create(&mut f, uuid).await, (false, false, false, 0.0));
    let s = get(&f.client, uuid).await;
    assert!(!s.spec.accepted);
    assert_eq!(s.spec.hostname.as_deref(), Some("node"));
    assert_eq!(s.spec.bmc, None);
    let hw = serde_json::to_value(s.spec.hardware.as_ref().unwrap()).unwrap();
    assert_eq!(
        hw["system"],
        json!({"uuid": uuid, "manufacturer": "QEMU", "productName": "Standard PC (Q35 + ICH9, 2009)",
               "version": "pc-q35-7.2", "serialNumber": "SN-42", "family": "Virtual"})
    );
    assert_eq!(
        hw["compute"],
        json!({"totalCoreCount": 4, "totalThreadCount": 8, "processorCount": 1,
               "processors": [{"manufacturer": "QEMU", "productName": "pc-q35-7.2", "speed": 2000,
                               "coreCount": 4, "threadCount": 8}]})
    );
    assert_eq!(
        hw["memory"],
        json!({"totalSize": "16 GB", "moduleCount": 1,
               "modules": [{"manufacturer": "QEMU", "type": "RAM", "size": 16384}]})
    );
    assert_eq!(
        hw["storage"],
        json!({"totalSize": "10 GB", "deviceCount": 1,
               "devices": [{"type": "HDD", "size": 10_737_418_241_i64, "productName": "QEMU HARDDISK",
                            "serialNumber": "QM00001", "name": "sda", "deviceName": "/dev/sda",
                            "wwid": "t10.ATA QEMU HARDDISK QM00001"}]})
    );
    assert_eq!(
        hw["network"],
        json!({"interfaceCount": 1,
               "interfaces": [{"index": 2, "name": "eth0", "flags": "up|broadcast|multicast|running",
                               "mtu": 1500, "mac": "52:54:00:12:34:56", "addresses": ["172.20.0.2/24"]}]})
    );
    assert_eq!(
        expect_event(
            &f.client,
            uuid,
            "Server Registration",
            "Server auto-registered via API."
        )
        .await,
        1
    );

    // Registering again never updates the existing Server.
    let mut other = create_req(uuid, "renamed");
    other
        .hardware
        .as_mut()
        .unwrap()
        .system
        .as_mut()
        .unwrap()
        .manufacturer = "Other".into();
    f.agent.create_server(other).await.unwrap();
    let again = get(&f.client, uuid).await;
    assert_eq!(again.resource_version(), s.resource_version());
    assert_eq!(again.spec, s.spec);

    // Announced counts that disagree with the lists: stored as sent, no error.
    let odd = "a1000000-0000-4000-8000-000000000002";
    let mut req = create_req(odd, "odd");
    let hwr = req.hardware.as_mut().unwrap();
    hwr.compute.as_mut().unwrap().processor_count = 0; // 1 sent
    hwr.memory.as_mut().unwrap().module_count = 3; // 1 sent
    hwr.storage.as_mut().unwrap().device_count = 0;
    hwr.network
        .as_mut()
        .unwrap()
        .interfaces
        .push(api::NetworkInterface {
            name: "eth1".into(),
            ..Default::default()
        }); // 2 sent, 1 announced
    f.agent.create_server(req).await.unwrap();
    let hw = get(&f.client, odd).await.spec.hardware.unwrap();
    assert_eq!(hw.compute.unwrap().processors.unwrap().len(), 1);
    let memory = hw.memory.unwrap();
    assert_eq!(
        (memory.module_count, memory.modules.unwrap().len()),
        (Some(3), 1)
    );
    let storage = hw.storage.unwrap();
    assert_eq!(
        (storage.device_count, storage.devices.unwrap().len()),
        (None, 1)
    );
    assert_eq!(hw.network.unwrap().interfaces.unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_accept_and_the_wipe_and_bmc_answers() {
    let mut on = start(config(true, false, true, 90)).await;
    let uuid = "a2000000-0000-4000-8000-000000000001";
    // Accepted, dirty, no BMC: wipe (full, as --insecure-wipe=false) and set up the BMC.
    assert_eq!(create(&mut on, uuid).await, (true, false, true, 90.0));
    assert!(get(&on.client, uuid).await.spec.accepted);
    // Clean: no wipe, still the BMC.
    patch_status(
        &on.client,
        uuid,
        json!({"ready": false, "inUse": false, "isClean": true}),
    )
    .await;
    assert_eq!(create(&mut on, uuid).await, (false, false, true, 0.0));
    // With a BMC: nothing.
    Api::<Server>::all(on.client.clone())
        .patch(
            uuid,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"bmc": {"endpoint": "10.0.0.9"}}})),
        )
        .await
        .unwrap();
    assert_eq!(create(&mut on, uuid).await, (false, false, false, 0.0));
    // Dirty again with a BMC: wipe only.
    patch_status(&on.client, uuid, json!({"isClean": false})).await;
    assert_eq!(create(&mut on, uuid).await, (true, false, false, 90.0));

    // --auto-bmc-setup=false, --insecure-wipe=true.
    let mut no_bmc = start(config(true, true, false, 1200)).await;
    let uuid2 = "a2000000-0000-4000-8000-000000000002";
    assert_eq!(
        create(&mut no_bmc, uuid2).await,
        (true, true, false, 1200.0)
    );

    // Auto-accept off: a new server is not accepted and gets no orders…
    let mut off = start(config(false, true, true, 1200)).await;
    let uuid3 = "a2000000-0000-4000-8000-000000000003";
    assert_eq!(create(&mut off, uuid3).await, (false, false, false, 0.0));
    assert!(!get(&off.client, uuid3).await.spec.accepted);
    // …and stays so even when it registers with a manager that auto-accepts.
    assert_eq!(create(&mut on, uuid3).await, (false, false, false, 0.0));
    assert!(!get(&on.client, uuid3).await.spec.accepted);
    // Once a person accepts it, it is wiped.
    Api::<Server>::all(off.client.clone())
        .patch(
            uuid3,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"accepted": true}})),
        )
        .await
        .unwrap();
    assert_eq!(create(&mut off, uuid3).await, (true, true, true, 1200.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_and_mark_server_as_wiped() {
    let mut f = start(config(true, true, true, 1200)).await;
    let uuid = "a3000000-0000-4000-8000-000000000001";
    create(&mut f, uuid).await;
    // As the Server controller leaves it while waiting for the wipe.
    patch_status(
        &f.client,
        uuid,
        json!({"ready": false, "inUse": false, "isClean": false, "power": "on", "conditions": [
            {"type": "PXEBooted", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"},
            {"type": "PowerCycle", "status": "False", "reason": "InProgress", "severity": "Info",
             "message": "Server power cycled for wiping at 2020-01-01T00:00:00Z.",
             "lastTransitionTime": "2020-01-01T00:00:00Z"}]}),
    )
    .await;
    let before = Instant::now();
    f.agent
        .heartbeat(api::HeartbeatRequest { uuid: uuid.into() })
        .await
        .unwrap();
    let s = get(&f.client, uuid).await;
    let pc = s.condition("PowerCycle").unwrap();
    assert_eq!(
        (
            pc.status.as_str(),
            pc.reason.as_deref(),
            pc.severity.as_deref(),
            pc.message.as_deref()
        ),
        (
            "False",
            Some("InProgress"),
            Some("Info"),
            Some("Server wipe in progress.")
        )
    );
    let first = pc.last_transition_time.0;
    let age = jiff::Timestamp::now().duration_since(first);
    assert!(
        age.as_secs() >= 0 && age.as_secs() <= 5 + before.elapsed().as_secs() as i64,
        "{first}"
    );
    // Other status fields and conditions survive.
    let st = s.status.as_ref().unwrap();
    assert_eq!(st.power.as_deref(), Some("on"));
    assert!(s.condition("PXEBooted").is_some());
    // A later heartbeat (same state) still moves lastTransitionTime (whole seconds).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    f.agent
        .heartbeat(api::HeartbeatRequest { uuid: uuid.into() })
        .await
        .unwrap();
    let later = get(&f.client, uuid)
        .await
        .condition("PowerCycle")
        .unwrap()
        .last_transition_time
        .0;
    assert!(later > first, "{later} > {first}");

    f.agent
        .mark_server_as_wiped(api::MarkServerAsWipedRequest { uuid: uuid.into() })
        .await
        .unwrap();
    let s = get(&f.client, uuid).await;
    let st = s.status.as_ref().unwrap();
    assert!(st.is_clean);
    let pc = s.condition("PowerCycle").unwrap();
    assert_eq!(
        (
            pc.status.as_str(),
            pc.reason.as_deref(),
            pc.severity.as_deref(),
            pc.message.as_deref()
        ),
        ("True", None, None, None)
    );
    assert!(s.condition("PXEBooted").is_some());
    expect_event(&f.client, uuid, "Server Wipe", "Server wiped via agent.").await;
    // Clean now: the next registration asks for no wipe.
    assert_eq!(create(&mut f, uuid).await, (false, false, true, 0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_server_addresses_replaces_reported_types() {
    let mut f = start(config(false, true, true, 1200)).await;
    let uuid = "a4000000-0000-4000-8000-000000000001";
    create(&mut f, uuid).await;
    patch_status(
        &f.client,
        uuid,
        json!({"ready": false, "inUse": false, "isClean": false,
               "addresses": [{"type": "Hostname", "address": "node-1"},
                             {"type": "InternalIP", "address": "10.0.0.1"}]}),
    )
    .await;
    let addr = |t: &str, a: &str| api::Address {
        r#type: t.into(),
        address: a.into(),
    };
    let req = |addrs: Vec<api::Address>| api::ReconcileServerAddressesRequest {
        uuid: uuid.into(),
        address: addrs,
    };
    let addresses = |s: &Server| -> Vec<(String, String)> {
        s.status
            .as_ref()
            .and_then(|st| st.addresses.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|a| (a.type_, a.address))
            .collect()
    };
    let pair = |t: &str, a: &str| (t.to_string(), a.to_string());

    f.agent
        .reconcile_server_addresses(req(vec![
            addr("InternalIP", "10.0.0.7"),
            addr("InternalIP", "fd00::7"),
            addr("InternalIP", "10.0.0.7"),
        ]))
        .await
        .unwrap();
    let s = get(&f.client, uuid).await;
    assert_eq!(
        addresses(&s),
        [
            pair("InternalIP", "10.0.0.7"),
            pair("InternalIP", "fd00::7"),
            pair("Hostname", "node-1")
        ]
    );
    // The same set again, in another order: no write at all.
    f.agent
        .reconcile_server_addresses(req(vec![
            addr("InternalIP", "fd00::7"),
            addr("InternalIP", "10.0.0.7"),
        ]))
        .await
        .unwrap();
    assert_eq!(
        get(&f.client, uuid).await.resource_version(),
        s.resource_version()
    );
    // Nothing reported: nothing changes.
    f.agent
        .reconcile_server_addresses(req(vec![]))
        .await
        .unwrap();
    assert_eq!(
        get(&f.client, uuid).await.resource_version(),
        s.resource_version()
    );
    // A shrunk set replaces the type's addresses.
    f.agent
        .reconcile_server_addresses(req(vec![addr("InternalIP", "fd00::7")]))
        .await
        .unwrap();
    assert_eq!(
        addresses(&get(&f.client, uuid).await),
        [pair("InternalIP", "fd00::7"), pair("Hostname", "node-1")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_bmc_info_keeps_credentials_in_a_secret() {
    const PASSWORD: &str = "Zq7-not-in-logs-or-spec";
    const PASSWORD2: &str = "Wx9-second-secret-value";
    let mut f = start(config(true, true, true, 1200)).await;
    let uuid = "a5000000-0000-4000-8000-000000000001";
    assert_eq!(create(&mut f, uuid).await, (true, true, true, 1200.0));
    let info = |ip: &str, port: u32, user: &str, pass: &str| api::UpdateBmcInfoRequest {
        uuid: uuid.into(),
        bmc_info: Some(api::BmcInfo {
            ip: ip.into(),
            port,
            user: user.into(),
            pass: pass.into(),
        }),
    };
    let secrets: Api<Secret> = Api::namespaced(f.client.clone(), "default");
    let secret_name = format!("{uuid}-bmc");

    // First call (as the agent sends it): address and port.
    f.agent
        .update_bmc_info(info("10.9.8.7", 6230, "", ""))
        .await
        .unwrap();
    let bmc = get(&f.client, uuid).await.spec.bmc.unwrap();
    assert_eq!((bmc.endpoint.as_str(), bmc.port), ("10.9.8.7", Some(6230)));
    assert!(bmc.user_from.is_none() && bmc.pass_from.is_none());
    assert!(secrets.get_opt(&secret_name).await.unwrap().is_none());
    expect_event(&f.client, uuid, "BMC Update", "BMC info updated via API.").await;
    // Now that a BMC is known, the agent is no longer asked to set it up.
    assert_eq!(create(&mut f, uuid).await, (true, true, false, 1200.0));

    // Second call: credentials, no port (reset to 623, as upstream).
    f.agent
        .update_bmc_info(info("", 0, "sidero", PASSWORD))
        .await
        .unwrap();
    let server = get(&f.client, uuid).await;
    let bmc = server.spec.bmc.clone().unwrap();
    assert_eq!((bmc.endpoint.as_str(), bmc.port), ("10.9.8.7", Some(623)));
    assert_eq!((bmc.user.as_deref(), bmc.pass.as_deref()), (None, None));
    let user_ref = bmc.user_from.unwrap().secret_key_ref.unwrap();
    let pass_ref = bmc.pass_from.unwrap().secret_key_ref.unwrap();
    assert_eq!(
        (
            user_ref.namespace.as_str(),
            user_ref.name.as_str(),
            user_ref.key.as_str()
        ),
        ("default", secret_name.as_str(), "user")
    );
    assert_eq!(
        (
            pass_ref.namespace.as_str(),
            pass_ref.name.as_str(),
            pass_ref.key.as_str()
        ),
        ("default", secret_name.as_str(), "pass")
    );
    let secret = secrets.get(&secret_name).await.unwrap();
    let data = secret.data.clone().unwrap();
    assert_eq!(data["user"].0, b"sidero");
    assert_eq!(data["pass"].0, PASSWORD.as_bytes());
    assert_eq!(
        secret
            .labels()
            .get("clusterctl.cluster.x-k8s.io/move")
            .map(String::as_str),
        Some("")
    );
    let owners = secret.owner_references();
    assert_eq!(owners.len(), 1);
    let o = &owners[0];
    assert_eq!(
        (o.api_version.as_str(), o.kind.as_str(), o.name.as_str()),
        ("metal.sidero.dev/v1alpha2", "Server", uuid)
    );
    assert_eq!(Some(o.uid.clone()), server.uid());
    assert_eq!(
        (o.controller, o.block_owner_deletion),
        (Some(true), Some(true))
    );

    // New credentials update the same Secret.
    f.agent
        .update_bmc_info(info("", 0, "sidero", PASSWORD2))
        .await
        .unwrap();
    let data = secrets.get(&secret_name).await.unwrap().data.unwrap();
    assert_eq!(data["pass"].0, PASSWORD2.as_bytes());

    // The password is nowhere in the Server as stored (raw JSON, every field) or in the logs.
    let ar = ApiResource::erase::<Server>(&());
    let raw: DynamicObject = Api::all_with(f.client.clone(), &ar)
        .get(uuid)
        .await
        .unwrap();
    let raw = serde_json::to_string(&raw).unwrap();
    assert!(raw.contains("10.9.8.7"));
    let logged = String::from_utf8_lossy(&logs().lock().unwrap()).into_owned();
    assert!(
        logged.contains("BMC info updated") && logged.contains(uuid),
        "the logs are captured"
    );
    for p in [PASSWORD, PASSWORD2] {
        assert!(!raw.contains(p), "password in the Server: {raw}");
        assert!(!logged.contains(p), "password in the logs");
    }

    // Malformed requests.
    let missing = f
        .agent
        .update_bmc_info(api::UpdateBmcInfoRequest {
            uuid: uuid.into(),
            bmc_info: None,
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::InvalidArgument, "{missing:?}");
    let port = f
        .agent
        .update_bmc_info(info("10.0.0.1", 70000, "", ""))
        .await
        .unwrap_err();
    assert_eq!(port.code(), Code::InvalidArgument, "{port:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_readable_grpc_codes() {
    let f = start(config(true, true, true, 1200)).await;
    let mut a = f.agent.clone();

    // Empty UUIDs.
    let e = a
        .create_server(api::CreateServerRequest {
            hardware: None,
            hostname: "x".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("uuid"), "{e:?}");
    let e = a.create_server(create_req("", "x")).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    let codes = [
        a.mark_server_as_wiped(api::MarkServerAsWipedRequest::default())
            .await
            .unwrap_err()
            .code(),
        a.heartbeat(api::HeartbeatRequest::default())
            .await
            .unwrap_err()
            .code(),
        a.reconcile_server_addresses(api::ReconcileServerAddressesRequest::default())
            .await
            .unwrap_err()
            .code(),
        a.update_bmc_info(api::UpdateBmcInfoRequest::default())
            .await
            .unwrap_err()
            .code(),
    ];
    assert_eq!(codes, [Code::InvalidArgument; 4]);

    // Malformed UUIDs (they would name the Server and a Secret).
    for bad in ["Not/A/UUID", "UPPER-CASE", "../x", "a b"] {
        let e = a.create_server(create_req(bad, "x")).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{bad}: {e:?}");
        let e = a
            .heartbeat(api::HeartbeatRequest { uuid: bad.into() })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{bad}: {e:?}");
    }

    // Unknown servers.
    let unknown = "a6000000-0000-4000-8000-00000000dead";
    let errs = [
        a.mark_server_as_wiped(api::MarkServerAsWipedRequest {
            uuid: unknown.into(),
        })
        .await
        .unwrap_err(),
        a.heartbeat(api::HeartbeatRequest {
            uuid: unknown.into(),
        })
        .await
        .unwrap_err(),
        a.reconcile_server_addresses(api::ReconcileServerAddressesRequest {
            uuid: unknown.into(),
            address: vec![api::Address {
                r#type: "InternalIP".into(),
                address: "10.0.0.1".into(),
            }],
        })
        .await
        .unwrap_err(),
        a.update_bmc_info(api::UpdateBmcInfoRequest {
            uuid: unknown.into(),
            bmc_info: Some(api::BmcInfo {
                ip: "10.0.0.1".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap_err(),
    ];
    for e in errs {
        assert_eq!(e.code(), Code::NotFound, "{e:?}");
        assert!(
            e.message().contains(unknown) && e.message().contains("not found"),
            "{e:?}"
        );
    }
    let servers: Api<Server> = Api::all(f.client.clone());
    assert!(servers.get_opt(unknown).await.unwrap().is_none());

    // Oversized requests are refused before any work.
    let big = "a6000000-0000-4000-8000-0000000000b1";
    let e = a
        .create_server(create_req(big, &"h".repeat(5 * 1024 * 1024)))
        .await
        .unwrap_err();
    assert!(
        matches!(e.code(), Code::OutOfRange | Code::ResourceExhausted),
        "{e:?}"
    );
    assert!(servers.get_opt(big).await.unwrap().is_none());
    // The connection is still usable.
    let ok = "a6000000-0000-4000-8000-0000000000b2";
    a.create_server(create_req(ok, "x")).await.unwrap();
}

/// `curl` the URL; (status, body).
fn curl(url: &str, extra: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-S", "--max-time", "10", "-w", "\n%{http_code}"])
        .args(extra)
        .arg(url)
        .output()
        .expect("curl runs");
    assert!(
        out.status.success(),
        "curl {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.parse().unwrap(), body.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_port_serves_http_boot_and_grpc() {
    let mut f = start(config(false, true, true, 1200)).await;
    let base = format!("http://{}", f.addr);
    let script = sidero_netboot::script::boot_script("127.0.0.1", 8081);
    let url = format!("{base}/boot.ipxe");
    // HTTP/1.1, as iPXE, on the port the gRPC client uses.
    let (code, body) = tokio::task::spawn_blocking(move || curl(&url, &["--http1.1"]))
        .await
        .unwrap();
    assert_eq!((code, body.as_str()), (200, script.as_str()));
    // HTTP/2 without a gRPC content type is still HTTP.
    let url = format!("{base}/boot.ipxe");
    let (code, body) =
        tokio::task::spawn_blocking(move || curl(&url, &["--http2-prior-knowledge"]))
            .await
            .unwrap();
    assert_eq!((code, body.as_str()), (200, script.as_str()));
    // A gRPC content type over HTTP/1.1 is not gRPC: the HTTP router answers 404.
    let url = format!("{base}/api.Agent/Heartbeat");
    let (code, _) = tokio::task::spawn_blocking(move || {
        curl(
            &url,
            &[
                "--http1.1",
                "-X",
                "POST",
                "-H",
                "content-type: application/grpc",
                "--data-binary",
                "",
            ],
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 404);

    // And gRPC works on that same port.
    let uuid = "a7000000-0000-4000-8000-000000000001";
    assert_eq!(create(&mut f, uuid).await, (false, false, false, 0.0));

    // Unknown methods, in unknown services and in api.Agent: Unimplemented.
    let channel = Channel::from_shared(base.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    for path in [
        "/foo.Bar/Baz",
        "/sidero.link.ProvisionService/Provision",
        "/api.Agent/NoSuchMethod",
    ] {
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        grpc.ready().await.unwrap();
        let codec: tonic_prost::ProstCodec<api::HeartbeatRequest, api::HeartbeatResponse> =
            tonic_prost::ProstCodec::default();
        let e = grpc
            .unary(
                tonic::Request::new(api::HeartbeatRequest { uuid: uuid.into() }),
                http::uri::PathAndQuery::from_static(path),
                codec,
            )
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::Unimplemented, "{path}: {e:?}");
        if !path.starts_with("/api.Agent/") {
            assert_eq!(e.message(), format!("Unknown method {path}"));
        }
    }
}

/// Agent writes race with other writers of the same status (the Server controller): every
/// write is guarded by the resourceVersion read and retried, so nobody's change is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_are_not_clobbered() {
    let mut f = start(config(true, true, true, 1200)).await;
    let uuid = "a8000000-0000-4000-8000-000000000001";
    create(&mut f, uuid).await;
    patch_status(
        &f.client,
        uuid,
        json!({"ready": false, "inUse": false, "isClean": false, "power": "on"}),
    )
    .await;
    for i in 0..12 {
        let mut agent = f.agent.clone();
        let calls = tokio::spawn(async move {
            agent
                .heartbeat(api::HeartbeatRequest { uuid: uuid.into() })
                .await?;
            agent
                .reconcile_server_addresses(api::ReconcileServerAddressesRequest {
                    uuid: uuid.into(),
                    address: vec![api::Address {
                        r#type: "InternalIP".into(),
                        address: format!("10.0.0.{i}"),
                    }],
                })
                .await
        });
        // The "controller" writes power without any precondition, meanwhile.
        let power = if i % 2 == 0 { "off" } else { "on" };
        patch_status(&f.client, uuid, json!({ "power": power })).await;
        calls.await.unwrap().unwrap();
        let s = get(&f.client, uuid).await;
        let st = s.status.as_ref().unwrap();
        assert_eq!(st.power.as_deref(), Some(power), "round {i}");
        let addrs = st.addresses.clone().unwrap();
        assert_eq!(addrs.len(), 1);
        assert_eq!(addrs[0].address, format!("10.0.0.{i}"));
        assert!(s.condition("PowerCycle").is_some());
    }
}
