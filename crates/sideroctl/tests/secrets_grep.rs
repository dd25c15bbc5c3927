//! Secrets never leak: a flow through the `sidero-controller-manager` process with BMC
//! credentials (a real `ipmi_sim` driven by the Server controller, a BMC refusing a wrong
//! password, credentials reported by the agent over the Agent API), config tokens presented
//! to `/configdata` and an agent token handed out by `/ipxe`, then `sideroctl power status`.
//! The manager's log, every Event and the CLI's output are searched for each secret value:
//! none may appear.
//!
//! The manager binary comes from the same target folder (`cargo test --workspace` builds it;
//! alone: `cargo build -p sidero-controller-manager`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;
use sidero_api::metal::v1alpha2::Server;
use sidero_proto::api;
use sidero_proto::api::agent_client::AgentClient;
use sidero_testenv::ipmi_sim::{IpmiSim, PASSWORD, USER};

struct Guard(Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_tcp() -> u16 {
    sidero_testenv::ports::free_tcp().unwrap()
}

fn manager_binary() -> PathBuf {
    let p = Path::new(env!("CARGO_BIN_EXE_sideroctl")).with_file_name("sidero-controller-manager");
    assert!(
        p.exists(),
        "{} missing: cargo build -p sidero-controller-manager",
        p.display()
    );
    p
}

fn curl(url: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "10", "-w", "\n%{http_code}", url])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.parse().unwrap_or(0), body.to_string())
}

async fn create_secret(client: &Client, name: &str, user: &str, pass: &str) {
    let s: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": "default"},
        "stringData": {"user": user, "pass": pass}
    }))
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &s)
        .await
        .unwrap();
}

async fn create_server(client: &Client, name: &str, port: u16, secret: &str) {
    let s: Server = serde_json::from_value(json!({
        "apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
        "metadata": {"name": name},
        "spec": {"accepted": true, "bmc": {
            "endpoint": "127.0.0.1", "port": port,
            "userFrom": {"secretKeyRef": {"namespace": "default", "name": secret, "key": "user"}},
            "passFrom": {"secretKeyRef": {"namespace": "default", "name": secret, "key": "pass"}}
        }}
    }))
    .unwrap();
    Api::<Server>::all(client.clone())
        .create(&PostParams::default(), &s)
        .await
        .unwrap();
}

fn sideroctl(kubeconfig: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_sideroctl"))
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .arg("--ipmi-timeout=300ms")
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_logs_events_or_cli_output() {
    let cp = sidero_testenv::shared().unwrap();
    let client = cp.client().await.unwrap();
    let kc = cp.kubeconfig();
    let sim = IpmiSim::start().unwrap();
    let wrong_pass = "wr0ng-Pass-5ecret-71b3";
    let agent_pass = "ag3nt-Pass-5ecret-c0de";
    create_secret(&client, "grep-bmc-good", USER, PASSWORD).await;
    create_secret(&client, "grep-bmc-bad", USER, wrong_pass).await;
    create_server(&client, "grep-good", sim.port, "grep-bmc-good").await;
    create_server(&client, "grep-bad", sim.port, "grep-bmc-bad").await;

    let dir = tempfile::tempdir().unwrap();
    let http = free_tcp();
    let tftp = sidero_testenv::ports::free_udp().unwrap();
    let log_path = dir.path().join("manager.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let child = Command::new(manager_binary())
        .args(["--api-endpoint=127.0.0.1", "--http-bind=127.0.0.1"])
        .arg(format!("--http-port={http}"))
        .arg(format!("--tftp-addr=127.0.0.1:{tftp}"))
        .args([
            "--disable-dhcp-proxy",
            "--enable-leader-election=false",
            "--health-addr=127.0.0.1:0",
            "--diagnostics-address=127.0.0.1:0",
            "--ipxe-dir=/usr/lib/ipxe",
            "--talos-assets-base=http://127.0.0.1:9/talos",
            "--ipmi-timeout=300ms",
        ])
        .arg(format!("--tftp-dir={}", dir.path().join("tftp").display()))
        .arg(format!("--env-dir={}", dir.path().join("env").display()))
        .arg(format!("--kubeconfig={}", kc.display()))
        // Everything, so that a secret in a debug line is found too.
        .env(
            "RUST_LOG",
            "debug,hyper=info,h2=info,tower=info,rustls=info",
        )
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let _guard = Guard(child);
    let base = format!("http://127.0.0.1:{http}");
    let start = Instant::now();
    while curl(&format!("{base}/boot.ipxe")).0 != 200 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "manager not serving"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The controller drives the good BMC (the dirty accepted server is PXE-booted and
    // powered on) and fails on the bad one.
    let servers: Api<Server> = Api::all(client.clone());
    loop {
        let good = servers.get("grep-good").await.unwrap();
        let bad = servers.get("grep-bad").await.unwrap();
        let power = |s: &Server| s.status.as_ref().and_then(|st| st.power.clone());
        let bad_warned = Api::<Event>::namespaced(client.clone(), "default")
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .any(|e| {
                e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("grep-bad")
                    && e.type_.as_deref() == Some("Warning")
            });
        if power(&good).as_deref() == Some("on") && bad_warned {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "good {:?} bad {:?}",
            power(&good),
            power(&bad)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The agent reports BMC credentials for a server it registers.
    let uuid = "5ec7e700-0000-4000-8000-000000000001";
    let mut agent = AgentClient::connect(base.clone()).await.unwrap();
    agent
        .create_server(api::CreateServerRequest {
            hardware: Some(api::HardwareInformation {
                system: Some(api::SystemInformation {
                    uuid: uuid.into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            hostname: "grep".into(),
        })
        .await
        .unwrap();
    agent
        .update_bmc_info(api::UpdateBmcInfoRequest {
            uuid: uuid.into(),
            bmc_info: Some(api::BmcInfo {
                ip: "127.0.0.1".into(),
                port: 9,
                user: "sidero".into(),
                pass: agent_pass.into(),
            }),
        })
        .await
        .unwrap();

    // An agent token: /ipxe for the accepted, unbound server.
    servers
        .patch(
            uuid,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"accepted": true}})),
        )
        .await
        .unwrap();
    let (code, script) = curl(&format!(
        "{base}/ipxe?uuid={uuid}&mac=52-54-00-00-00-01&arch=amd64"
    ));
    assert_eq!(code, 200, "{script}");
    let agent_token = script
        .split_whitespace()
        .find_map(|a| a.strip_prefix("sidero.token="))
        .unwrap_or_else(|| panic!("no sidero.token= in the agent script:\n{script}"))
        .to_string();

    // Config tokens: a valid one (as /ipxe would issue to this address) and a forged one.
    let identity = Api::<Secret>::namespaced(client.clone(), "default")
        .get("siderolink")
        .await
        .unwrap();
    let private_key = String::from_utf8(identity.data.unwrap()["private-key"].0.clone()).unwrap();
    let key = sidero_netboot::token::derive_key(private_key.as_bytes());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let config_token = sidero_netboot::token::issue(&key, uuid, "127.0.0.1".parse().ok(), now, 600);
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([7u8; 24]);
    let (code, _) = curl(&format!(
        "{base}/configdata?token={config_token}&uuid={uuid}"
    ));
    assert_eq!(code, 404, "valid token, no binding");
    let (code, _) = curl(&format!("{base}/configdata?token={forged}&uuid={uuid}"));
    assert_eq!(code, 403);

    // The CLI.
    let mut cli = String::new();
    for s in ["grep-good", "grep-bad", uuid] {
        cli.push_str(&sideroctl(kc, &["power", "status", s]));
    }
    assert!(cli.contains("grep-good\tpower on"), "{cli}");

    // Let the refusal Event and the last log lines land.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let logs = std::fs::read_to_string(&log_path).unwrap();
    let events = Api::<Event>::all(client.clone())
        .list(&ListParams::default())
        .await
        .unwrap();
    let events = serde_json::to_string(&events.items).unwrap();
    assert!(events.contains("ConfigRefused"), "the 403 left no Event");
    let secrets = [
        ("BMC password", PASSWORD),
        ("wrong BMC password", wrong_pass),
        ("agent-reported BMC password", agent_pass),
        ("config token", config_token.as_str()),
        ("forged config token", forged.as_str()),
        ("agent token", agent_token.as_str()),
        ("SideroLink private key", private_key.as_str()),
    ];
    let mut leaks = Vec::new();
    for (what, value) in secrets {
        for (place, text) in [
            ("manager log", &logs),
            ("Events", &events),
            ("sideroctl output", &cli),
        ] {
            if text.contains(value) {
                leaks.push(format!("{what} in the {place}"));
            }
        }
    }
    eprintln!(
        "searched {} log bytes, {} event bytes, {} CLI bytes for {} secrets",
        logs.len(),
        events.len(),
        cli.len(),
        secrets.len()
    );
    assert!(leaks.is_empty(), "leaks: {leaks:#?}");
}
