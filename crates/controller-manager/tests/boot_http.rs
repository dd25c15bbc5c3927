//! The boot endpoints over real HTTP with `curl`, against a real API server holding Servers,
//! ServerBindings, ServerClasses and Environments in every state `/ipxe` distinguishes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::process::Command;
use std::sync::Arc;

use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};
use sidero_api::infra::v1alpha3::ServerBinding;
use sidero_api::metal::v1alpha2::{Environment, Server, ServerClass};
use sidero_controller_manager::http::{BootState, Dirs, router, serve};
use sidero_netboot::args::Endpoints;
use sidero_netboot::boot::BootConfig;
use sidero_netboot::cmdline::Cmdline;

/// `curl` the URL; (status, body). `extra` adds curl options.
fn curl(url: &str, extra: &[&str]) -> (u16, Vec<u8>) {
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
    let mut body = out.stdout;
    let pos = body.iter().rposition(|&b| b == b'\n').unwrap();
    let code = String::from_utf8_lossy(&body[pos + 1..]).parse().unwrap();
    body.truncate(pos);
    (code, body)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

async fn create<K>(client: &Client, v: Value) -> K
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
        .unwrap()
}

async fn server(client: &Client, name: &str, spec: Value, pxe_booted: bool) {
    create::<Server>(
        client,
        json!({"apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
        "metadata": {"name": name}, "spec": spec}),
    )
    .await;
    if pxe_booted {
        let status = json!({"status": {"ready": true, "inUse": true, "isClean": false, "conditions": [
            {"type": "PXEBooted", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}});
        Api::<Server>::all(client.clone())
            .patch_status(name, &PatchParams::default(), &Patch::Merge(status))
            .await
            .unwrap();
    }
}

async fn binding(client: &Client, name: &str, class: Option<&str>) {
    let mut spec = json!({"metalMachineRef": {"kind": "MetalMachine", "name": "m", "namespace": "default"},
                          "siderolink": {"address": "", "publicKey": ""}});
    if let Some(c) = class {
        spec["serverClassRef"] = json!({"name": c});
    }
    create::<ServerBinding>(
        client,
        json!({"apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha3",
        "kind": "ServerBinding", "metadata": {"name": name}, "spec": spec}),
    )
    .await;
}

struct Fixture {
    base: String,
    _dirs: tempfile::TempDir,
    kernel: Vec<u8>,
}

async fn start() -> Fixture {
    let cp = sidero_testenv::shared().unwrap();
    let client = cp.client().await.unwrap();
    let dirs = tempfile::tempdir().unwrap();
    let kernel: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::create_dir_all(dirs.path().join("env/agent-amd64")).unwrap();
    std::fs::write(dirs.path().join("env/agent-amd64/vmlinuz"), &kernel).unwrap();
    std::fs::create_dir_all(dirs.path().join("tftp")).unwrap();
    std::fs::write(
        dirs.path().join("tftp/snp.efi"),
        b"not really an EFI binary",
    )
    .unwrap();
    let state = Arc::new(BootState {
        client,
        config: BootConfig {
            endpoints: Endpoints {
                api_host: "127.0.0.1".into(),
                api_port: 8081,
                siderolink_address: "fdae:2859:5bb1:7a03::1".into(),
            },
            extra_agent_args: Cmdline::parse("console=ttyS1"),
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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(listener, router(state, &d), std::future::pending()));
    Fixture {
        base,
        _dirs: dirs,
        kernel,
    }
}

const MAC: &str = "mac=52-54-00-12-34-56";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ipxe_branch() {
    let f = start().await;
    let client = sidero_testenv::shared().unwrap().client().await.unwrap();
    let env_ok = json!({"kernel": {"args": ["console=tty0", "initrd=initramfs.xz", "talos.platform=metal"]}});
    create::<Environment>(
        &client,
        json!({"apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Environment",
        "metadata": {"name": "default"}, "spec": env_ok}),
    )
    .await;
    create::<Environment>(&client, json!({"apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Environment",
        "metadata": {"name": "unready"}, "spec": {"kernel": {"url": "http://assets.invalid/vmlinuz"}}})).await;
    create::<ServerClass>(&client, json!({"apiVersion": "metal.sidero.dev/v1alpha2", "kind": "ServerClass",
        "metadata": {"name": "disk-404"}, "spec": {"qualifiers": {}, "selector": {}, "bootFromDiskMethod": "http-404"}})).await;

    // (name, server spec or None for no Server, PXEBooted, binding class or None/no binding)
    server(&client, "b-unbound", json!({"accepted": false}), false).await;
    server(&client, "b-talos", json!({"accepted": true}), false).await;
    binding(&client, "b-talos", None).await;
    server(&client, "b-class404", json!({"accepted": true}), true).await;
    binding(&client, "b-class404", Some("disk-404")).await;
    server(
        &client,
        "b-sanboot",
        json!({"accepted": true, "bootFromDiskMethod": "ipxe-sanboot"}),
        true,
    )
    .await;
    binding(&client, "b-sanboot", Some("disk-404")).await;
    server(&client, "b-exit", json!({"accepted": true}), true).await;
    binding(&client, "b-exit", None).await;
    server(
        &client,
        "b-unready",
        json!({"accepted": true, "environmentRef": {"name": "unready"}}),
        false,
    )
    .await;
    binding(&client, "b-unready", None).await;
    server(
        &client,
        "b-noenv",
        json!({"accepted": true, "environmentRef": {"name": "nope"}}),
        false,
    )
    .await;
    binding(&client, "b-noenv", None).await;
    server(&client, "b-noclass", json!({"accepted": true}), false).await;
    binding(&client, "b-noclass", Some("missing-class")).await;

    let ipxe = |uuid: &str| {
        curl(
            &format!("{}/ipxe?uuid={uuid}&{MAC}&arch=x86_64", f.base),
            &[],
        )
    };

    let (code, body) = ipxe("b-nonexistent");
    let body = text(&body);
    assert_eq!(code, 200);
    assert!(
        body.starts_with("#!ipxe\nkernel /env/agent-amd64/vmlinuz "),
        "{body}"
    );
    assert!(
        body.contains(" console=ttyS1 "),
        "extra agent args override console: {body}"
    );
    assert!(
        body.contains(" sidero.mac=52:54:00:12:34:56 sidero.endpoint=127.0.0.1:8081"),
        "{body}"
    );
    assert_eq!(
        text(&ipxe("b-unbound").1),
        body,
        "unbound servers get the agent too"
    );

    let (code, body) = ipxe("b-talos");
    let body = text(&body);
    assert_eq!(code, 200);
    assert!(body.contains("kernel /env/default/vmlinuz console=tty0 initrd=initramfs.xz talos.platform=metal talos.config=http://127.0.0.1:8081/configdata?uuid= siderolink.api=127.0.0.1:8081 talos.logging.kernel=tcp://[fdae:2859:5bb1:7a03::1]:4001 talos.events.sink=[fdae:2859:5bb1:7a03::1]:4002\n"), "{body}");

    assert_eq!(ipxe("b-class404"), (404, Vec::new()));
    assert_eq!(
        ipxe("b-sanboot"),
        (
            200,
            b"#!ipxe\nsanboot --no-describe --drive 0x80\n".to_vec()
        )
    );
    assert_eq!(ipxe("b-exit"), (200, b"#!ipxe\nexit\n".to_vec()));
    assert_eq!(
        ipxe("b-unready"),
        (412, b"environment \"unready\" is not ready".to_vec())
    );
    assert_eq!(ipxe("b-noenv").0, 404);
    assert_eq!(ipxe("b-noclass").0, 404);

    // The embedded script, as the health probe and iPXE clients fetch it.
    let (code, body) = curl(&format!("{}/boot.ipxe", f.base), &[]);
    assert_eq!(code, 200);
    assert!(text(&body).contains("chain --replace http://127.0.0.1:8081/ipxe?uuid=${uuid}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_files_with_ranges_and_head() {
    let f = start().await;
    let url = format!("{}/env/agent-amd64/vmlinuz", f.base);
    let (code, body) = curl(&url, &[]);
    assert_eq!((code, body.len()), (200, f.kernel.len()));
    assert_eq!(body, f.kernel);
    let (code, body) = curl(&url, &["-r", "1000-1999"]);
    assert_eq!(code, 206);
    assert_eq!(body, &f.kernel[1000..2000]);
    let (code, body) = curl(&url, &["-I"]);
    assert_eq!(code, 200);
    assert!(
        text(&body)
            .to_ascii_lowercase()
            .contains(&format!("content-length: {}", f.kernel.len()))
    );
    assert_eq!(
        curl(&format!("{}/tftp/snp.efi", f.base), &[]),
        (200, b"not really an EFI binary".to_vec())
    );
    let tftp = format!("{}/tftp/snp.efi", f.base);
    assert_eq!(curl(&tftp, &["-r", "4-9"]), (206, b"really".to_vec()));
    let (code, head) = curl(&tftp, &["-I"]);
    assert_eq!(code, 200);
    let head = text(&head).to_ascii_lowercase();
    assert!(head.contains("content-length: 24"), "{head}");
    assert!(head.contains("accept-ranges: bytes"), "{head}");
    assert_eq!(curl(&format!("{}/tftp/missing.efi", f.base), &[]).0, 404);
    assert_eq!(
        curl(&format!("{}/tftp/snp-arm64.efi", f.base), &["-I"]).0,
        404
    );
    // No escaping the folders.
    assert_eq!(
        curl(
            &format!("{}/env/../tftp/snp.efi", f.base),
            &["--path-as-is"]
        )
        .0,
        404
    );
    assert_eq!(
        curl(
            &format!("{}/env/%2e%2e/tftp/snp.efi", f.base),
            &["--path-as-is"]
        )
        .0,
        404
    );
}
