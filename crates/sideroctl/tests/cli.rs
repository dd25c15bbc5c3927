//! `sideroctl get|describe|accept|cordon|uncordon` against the test API server, and
//! `sideroctl doctor` against a manager's boot listener and TFTP server on loopback (the
//! endpoint read from a `sidero-system/sidero-controller-manager` Deployment's flags).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::process::Command;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Namespace};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;
use sidero_api::infra::v1alpha3::ServerBinding;
use sidero_api::metal::v1alpha2::{Server, ServerClass};

struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn sideroctl(kubeconfig: &std::path::Path, args: &[&str]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_sideroctl"))
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .unwrap();
    Out {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn create<K>(api: &Api<K>, v: serde_json::Value) -> K
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let obj: K = serde_json::from_value(v).unwrap();
    api.create(&PostParams::default(), &obj).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_describe_accept_cordon() {
    let cp = sidero_testenv::shared().unwrap();
    let client = cp.client().await.unwrap();
    let kc = cp.kubeconfig();
    let servers: Api<Server> = Api::all(client.clone());
    create(
        &servers,
        json!({"apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
        "metadata": {"name": "cli-pending"}, "spec": {"accepted": false}}),
    )
    .await;
    create(&servers, json!({"apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
        "metadata": {"name": "cli-bound"},
        "spec": {"accepted": true, "hostname": "node-7", "managementApi": {"endpoint": "127.0.0.1:9"}}}))
    .await;
    servers
        .patch_status(
            "cli-bound",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"status": {"ready": true, "inUse": true, "isClean": false,
                "power": "on",
                "addresses": [{"type": "InternalIP", "address": "10.5.0.7"}],
                "conditions": [{"type": "PowerCycle", "status": "True", "reason": "Done",
                    "message": "wiped", "lastTransitionTime": "2026-01-01T00:00:10Z"}]}}),
            ),
        )
        .await
        .unwrap();
    let classes: Api<ServerClass> = Api::all(client.clone());
    create(
        &classes,
        json!({"apiVersion": "metal.sidero.dev/v1alpha2", "kind": "ServerClass",
        "metadata": {"name": "workers"}, "spec": {}}),
    )
    .await;
    classes
        .patch_status(
            "workers",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"status": {"serversAvailable": [], "serversInUse": ["cli-bound"]}}),
            ),
        )
        .await
        .unwrap();
    let bindings: Api<ServerBinding> = Api::all(client.clone());
    create(&bindings, json!({"apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha3", "kind": "ServerBinding",
        "metadata": {"name": "cli-bound"},
        "spec": {"metalMachineRef": {"kind": "MetalMachine", "namespace": "default", "name": "cp-0"},
                 "siderolink": {"address": "", "publicKey": ""}}}))
    .await;
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    create(&events, json!({"metadata": {"name": "cli-bound.1", "namespace": "default"},
        "involvedObject": {"kind": "Server", "name": "cli-bound", "apiVersion": "metal.sidero.dev/v1alpha2"},
        "type": "Normal", "reason": "PowerOn", "message": "Server powered on.",
        "firstTimestamp": "2026-01-01T00:00:05Z", "lastTimestamp": "2026-01-01T00:00:05Z", "count": 2,
        "source": {"component": "sidero-controller-manager"}}))
    .await;

    // get: a header and one aligned line per server.
    let o = sideroctl(kc, &["get", "servers"]);
    assert!(o.ok, "{}", o.stderr);
    println!("$ sideroctl get servers\n{}", o.stdout);
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", o.stdout);
    let cols: Vec<Vec<&str>> = lines
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        cols[0],
        [
            "NAME",
            "HOSTNAME",
            "ACCEPTED",
            "CORDONED",
            "ALLOCATED",
            "CLEAN",
            "POWER",
            "CLASSES",
            "ADDRESS",
            "AGE"
        ]
    );
    assert_eq!(
        cols[1][..9],
        [
            "cli-bound",
            "node-7",
            "yes",
            "no",
            "yes",
            "no",
            "on",
            "workers",
            "10.5.0.7"
        ]
    );
    assert_eq!(
        cols[2][..9],
        ["cli-pending", "-", "no", "no", "no", "no", "-", "-", "-"]
    );
    let o = sideroctl(kc, &["get", "servers", "cli-pending", "-o", "wide"]);
    assert!(
        o.ok && o.stdout.lines().count() == 2 && o.stdout.contains("BMC"),
        "{}",
        o.stdout
    );
    let o = sideroctl(kc, &["get", "servers", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["items"].as_array().unwrap().len(), 2);
    assert_eq!(v["items"][0]["metadata"]["name"], "cli-bound");
    let o = sideroctl(kc, &["get", "servers", "-o", "yaml"]);
    assert!(
        o.ok && o.stdout.contains("kind: List") && o.stdout.contains("name: cli-pending"),
        "{}",
        o.stdout
    );

    // describe: facts, state line and the timeline in time order.
    let o = sideroctl(kc, &["describe", "server", "cli-pending"]);
    assert!(o.ok, "{}", o.stderr);
    assert!(
        o.stdout
            .contains("State:       waiting for acceptance: run `sideroctl accept cli-pending`"),
        "{}",
        o.stdout
    );
    let o = sideroctl(kc, &["describe", "server", "cli-bound"]);
    assert!(o.ok, "{}", o.stderr);
    println!("$ sideroctl describe server cli-bound\n{}", o.stdout);
    assert!(
        o.stdout.contains("Binding:     MetalMachine default/cp-0"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("Classes:     workers"), "{}", o.stdout);
    assert!(
        o.stdout
            .contains("State:       waiting for Talos to boot and install"),
        "{}",
        o.stdout
    );
    let timeline: Vec<&str> = o
        .stdout
        .split("Timeline:\n")
        .nth(1)
        .unwrap()
        .lines()
        .collect();
    let power_on = timeline
        .iter()
        .position(|l| l.contains("event Normal PowerOn: Server powered on. (x2)"));
    let wiped = timeline
        .iter()
        .position(|l| l.contains("condition PowerCycle=True Done: wiped"));
    let bound = timeline
        .iter()
        .position(|l| l.contains("ServerBinding  allocated to MetalMachine default/cp-0"));
    assert!(
        power_on.is_some() && wiped.is_some() && bound.is_some(),
        "{}",
        o.stdout
    );
    assert!(
        power_on < wiped && wiped < bound,
        "not in time order:\n{}",
        o.stdout
    );

    // accept / cordon / uncordon.
    let o = sideroctl(kc, &["accept", "cli-pending"]);
    assert!(
        o.ok && o.stdout.contains("accepted"),
        "{}{}",
        o.stdout,
        o.stderr
    );
    assert!(servers.get("cli-pending").await.unwrap().spec.accepted);
    let o = sideroctl(kc, &["cordon", "cli-pending", "cli-bound"]);
    assert!(o.ok, "{}", o.stderr);
    assert!(servers.get("cli-bound").await.unwrap().spec.is_cordoned());
    let o = sideroctl(kc, &["uncordon", "cli-bound"]);
    assert!(o.ok, "{}", o.stderr);
    assert!(!servers.get("cli-bound").await.unwrap().spec.is_cordoned());
    assert!(servers.get("cli-pending").await.unwrap().spec.is_cordoned());
    let o = sideroctl(kc, &["accept", "no-such-server"]);
    assert!(
        !o.ok && o.stderr.contains("\"no-such-server\" not found"),
        "{}",
        o.stderr
    );
    let o = sideroctl(kc, &["describe", "server", "no-such-server"]);
    assert!(!o.ok && o.stderr.contains("not found"), "{}", o.stderr);
}

/// Serves the manager's boot router and TFTP on loopback; (http port, tftp port).
async fn boot_endpoints(client: kube::Client, dir: &std::path::Path) -> (u16, u16) {
    use sidero_controller_manager::http::{BootState, Dirs, router, serve};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = sidero_netboot::script::boot_script("127.0.0.1", port);
    let tftp_dir = dir.join("tftp");
    sidero_controller_manager::ipxe::prepare(
        &sidero_controller_manager::ipxe::Sources::new("/usr/lib/ipxe", ""),
        &tftp_dir,
        &script,
    )
    .unwrap();
    let state = Arc::new(BootState {
        client,
        config: sidero_netboot::boot::BootConfig {
            endpoints: sidero_netboot::args::Endpoints {
                api_host: "127.0.0.1".into(),
                api_port: port,
                siderolink_address: "fdae:2859:5bb1:7a03::1".into(),
            },
            extra_agent_args: sidero_netboot::cmdline::Cmdline::parse(""),
            boot_from_disk_method: "ipxe-exit".into(),
        },
        boot_script: script,
        release: None,
        agent_tokens: None,
        cache: None,
    });
    let dirs = Dirs {
        env: dir.join("env"),
        tftp: tftp_dir.clone(),
    };
    tokio::spawn(serve(
        listener,
        router(state, &dirs),
        std::future::pending(),
    ));
    let tftp = sidero_tftp::TftpServer::bind(
        sidero_tftp::ServerConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            ..Default::default()
        },
        sidero_tftp::DirSource::new(&tftp_dir).unwrap(),
    )
    .await
    .unwrap();
    let tftp_port = tftp.local_addr().unwrap().port();
    tokio::spawn(tftp.serve());
    (port, tftp_port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_checks_the_boot_path() {
    let cp = sidero_testenv::shared().unwrap();
    let client = cp.client().await.unwrap();
    let kc = cp.kubeconfig();
    let dir = tempfile::tempdir().unwrap();
    let (http, tftp) = boot_endpoints(client.clone(), dir.path()).await;
    let ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": "sidero-system"}})).unwrap();
    let _ = Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await;

    // No Deployment: the error says what to do.
    let o = sideroctl(kc, &["doctor"]);
    assert!(
        !o.ok && o.stderr.contains("pass --endpoint"),
        "{}",
        o.stderr
    );

    // The Deployment as rendered from the release, with the endpoint set.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "sidero-system");
    create(&deployments, json!({
        "metadata": {"name": "sidero-controller-manager"},
        "spec": {"selector": {"matchLabels": {"control-plane": "sidero-controller-manager"}},
            "template": {"metadata": {"labels": {"control-plane": "sidero-controller-manager"}},
            "spec": {"containers": [{"name": "manager", "image": "x", "command": ["/manager"],
                "args": ["--enable-leader-election", "--api-endpoint=127.0.0.1", format!("--api-port={http}")],
                "env": [{"name": "API_ENDPOINT", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}}]}]}}}
    }))
    .await;
    let tftp_flag = format!("--tftp-port={tftp}");
    let o = sideroctl(kc, &["doctor", &tftp_flag]);
    assert!(o.ok, "{}{}", o.stdout, o.stderr);
    println!("$ sideroctl doctor {tftp_flag}\n{}", o.stdout);
    let pass: Vec<&str> = o.stdout.lines().filter(|l| l.starts_with("PASS")).collect();
    assert_eq!(pass.len(), 6, "{}", o.stdout);
    for what in [
        "advertised address",
        "/boot.ipxe",
        "/ipxe",
        "TFTP undionly.kpxe",
        "TFTP ipxe.efi",
    ] {
        assert!(
            o.stdout.contains(&format!("PASS  {what}: ")),
            "{what}:\n{}",
            o.stdout
        );
    }
    assert!(
        o.stdout.contains("chains to http://127.0.0.1:"),
        "{}",
        o.stdout
    );

    // Nothing listening: every reachable check fails, exit status 1.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("--endpoint=127.0.0.1:{closed}");
    let o = sideroctl(kc, &["doctor", &endpoint, "--tftp-port=9", "--timeout=1s"]);
    assert!(!o.ok, "{}", o.stdout);
    println!(
        "$ sideroctl doctor {endpoint} --tftp-port=9\n{}{}",
        o.stdout, o.stderr
    );
    assert!(
        o.stdout.contains(&format!("FAIL  HTTP port {closed}")),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("FAIL  /boot.ipxe"), "{}", o.stdout);
    assert!(
        o.stdout.contains("FAIL  TFTP undionly.kpxe"),
        "{}",
        o.stdout
    );
    assert!(o.stderr.contains("check(s) failed"), "{}", o.stderr);
    let o = sideroctl(kc, &["doctor", "--endpoint=0.0.0.0:1"]);
    assert!(
        !o.ok
            && o.stdout
                .contains("FAIL  advertised address: 0.0.0.0 is not an address"),
        "{}",
        o.stdout
    );
}
