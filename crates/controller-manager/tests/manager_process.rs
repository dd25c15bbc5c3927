//! The `sidero-controller-manager` binary as operators run it: against a real API server it
//! creates its SideroLink identity and class `any`, prepares the iPXE binaries, and serves
//! `/boot.ipxe` over HTTP and the binaries over TFTP (fetched with atftp).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use sidero_api::metal::v1alpha2::ServerClass;

/// Kills the manager when the test ends, also on panic.
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

fn free_udp() -> u16 {
    sidero_testenv::ports::free_udp().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manager_serves_boot_script_and_ipxe_binaries() {
    let cp = sidero_testenv::shared().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (http, tftp) = (free_tcp(), free_udp());
    let log = std::fs::File::create(dir.path().join("manager.log")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_sidero-controller-manager"))
        .args([
            "--api-endpoint",
            "127.0.0.1",
            "--api-port",
            "8081",
            "--http-bind",
            "127.0.0.1",
        ])
        .arg(format!("--http-port={http}"))
        .arg(format!("--tftp-addr=127.0.0.1:{tftp}"))
        .args([
            "--disable-dhcp-proxy",
            "--enable-leader-election=false",
            "--health-addr=127.0.0.1:0",
            "--diagnostics-address=127.0.0.1:0",
            "--ipxe-dir",
            "/usr/lib/ipxe",
        ])
        .arg(format!("--tftp-dir={}", dir.path().join("tftp").display()))
        .arg(format!("--env-dir={}", dir.path().join("env").display()))
        .arg(format!("--kubeconfig={}", cp.kubeconfig().display()))
        // Network rule: the `default` Environment must not point at the internet.
        .arg("--talos-assets-base=http://127.0.0.1:9/talos")
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let mut guard = Guard(child);

    let url = format!("http://127.0.0.1:{http}/boot.ipxe");
    let start = Instant::now();
    let script = loop {
        let out = Command::new("curl")
            .args(["-sf", "--max-time", "2", &url])
            .output()
            .unwrap();
        if out.status.success() {
            break String::from_utf8(out.stdout).unwrap();
        }
        let exited = guard.0.try_wait().unwrap();
        let log = std::fs::read_to_string(dir.path().join("manager.log")).unwrap_or_default();
        assert!(exited.is_none(), "manager exited: {exited:?}\n{log}");
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "manager not serving:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        script,
        sidero_netboot::script::boot_script("127.0.0.1", 8081)
    );

    // Debian's binaries have no placeholder: served byte for byte.
    let fetched = dir.path().join("snp.efi");
    let out = Command::new("atftp")
        .args(["-g", "-r", "snp.efi", "-l"])
        .arg(&fetched)
        .args(["127.0.0.1", &tftp.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "atftp: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(&fetched).unwrap(),
        std::fs::read("/usr/lib/ipxe/snponly.efi").unwrap()
    );

    // Debian has no arm64 binaries: logged at start, and TFTP says "file not found".
    let out = Command::new("atftp")
        .args(["-g", "-r", "snp-arm64.efi", "-l"])
        .arg(dir.path().join("snp-arm64.efi"))
        .args(["127.0.0.1", &tftp.to_string()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_ascii_lowercase();
    assert!(!out.status.success(), "atftp fetched snp-arm64.efi");
    assert!(stderr.contains("not found"), "{stderr}");
    let log = std::fs::read_to_string(dir.path().join("manager.log")).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("iPXE binary missing") && l.contains("snp-arm64.efi")),
        "{log}"
    );

    // Start-up objects.
    let client = cp.client().await.unwrap();
    let secret = Api::<Secret>::namespaced(client.clone(), "default")
        .get("siderolink")
        .await
        .unwrap();
    let data = secret.data.unwrap();
    assert!(data.contains_key("installation-id") && data.contains_key("private-key"));
    let any = Api::<ServerClass>::all(client.clone())
        .get("any")
        .await
        .unwrap();
    assert!(any.spec.qualifiers.is_empty());
    let default = Api::<sidero_api::metal::v1alpha2::Environment>::all(client.clone())
        .get("default")
        .await
        .unwrap();
    let kernel = default.spec.kernel.and_then(|k| k.url).unwrap_or_default();
    assert!(kernel.starts_with("http://127.0.0.1:9/talos/"), "{kernel}");

    // The Agent API answers gRPC on the same port as HTTP.
    use sidero_proto::api::{CreateServerRequest, HardwareInformation, SystemInformation};
    let uuid = "5e7a3c1d-0000-4000-8000-00000000abcd";
    let mut agent =
        sidero_proto::api::agent_client::AgentClient::connect(format!("http://127.0.0.1:{http}"))
            .await
            .unwrap();
    let req = CreateServerRequest {
        hardware: Some(HardwareInformation {
            system: Some(SystemInformation {
                uuid: uuid.into(),
                manufacturer: "QEMU".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        hostname: "pxe-1".into(),
    };
    let resp = agent.create_server(req).await.unwrap().into_inner();
    assert!(
        !resp.wipe,
        "a new server is not accepted by default, so nothing is wiped"
    );
    let server = Api::<sidero_api::metal::v1alpha2::Server>::all(client)
        .get(uuid)
        .await
        .unwrap();
    assert_eq!(server.spec.hostname.as_deref(), Some("pxe-1"));
    assert!(!server.spec.accepted);
}
