//! `sideroctl power …` against the test API server and a real `ipmi_sim` on loopback: the
//! Server's `spec.bmc` names the simulator, its credentials come from a Secret (as the
//! controller reads them), and the binary's output and the simulator's hook state show what
//! happened. Error paths: wrong password, a missing Secret, an unreachable BMC, a server
//! without power management and an unknown server — each names what failed, none prints a
//! credential.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::PostParams;
use serde_json::json;
use sidero_api::metal::v1alpha2::Server;
use sidero_testenv::ipmi_sim::{IpmiSim, PASSWORD, USER};

struct Out {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn sideroctl(kubeconfig: &std::path::Path, args: &[&str]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_sideroctl"))
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .args(["--ipmi-timeout=300ms"])
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

async fn secret(client: &kube::Client, name: &str, user: &str, pass: &str) {
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

async fn server(client: &kube::Client, name: &str, spec: serde_json::Value) {
    let s: Server = serde_json::from_value(json!({
        "apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
        "metadata": {"name": name}, "spec": spec
    }))
    .unwrap();
    Api::<Server>::all(client.clone())
        .create(&PostParams::default(), &s)
        .await
        .unwrap();
}

fn bmc(port: u16, secret: &str) -> serde_json::Value {
    json!({"accepted": false, "bmc": {
        "endpoint": "127.0.0.1", "port": port,
        "userFrom": {"secretKeyRef": {"namespace": "default", "name": secret, "key": "user"}},
        "passFrom": {"secretKeyRef": {"namespace": "default", "name": secret, "key": "pass"}}
    }})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_commands_through_ipmi_sim() {
    let cp = sidero_testenv::shared().unwrap();
    let client = cp.client().await.unwrap();
    let kc = cp.kubeconfig();
    let sim = IpmiSim::start().unwrap();
    secret(&client, "bmc-good", USER, PASSWORD).await;
    server(&client, "srv-ctl", bmc(sim.port, "bmc-good")).await;

    let started = Instant::now();
    let o = sideroctl(kc, &["power", "status", "srv-ctl"]);
    assert!(o.ok, "{}", o.stderr);
    assert!(o.stdout.starts_with("srv-ctl\tpower off\t"), "{}", o.stdout);
    assert!(
        o.stdout.contains(&format!("127.0.0.1:{}", sim.port)),
        "{}",
        o.stdout
    );

    let o = sideroctl(kc, &["power", "pxe", "--mode", "bios", "srv-ctl"]);
    assert!(
        o.ok && o.stdout.contains("set PXE boot once: done"),
        "{}{}",
        o.stdout,
        o.stderr
    );
    assert_eq!(sim.state("boot"), "pxe");

    let o = sideroctl(kc, &["power", "on", "srv-ctl"]);
    assert!(
        o.ok && o.stdout.contains("power on: done"),
        "{}{}",
        o.stdout,
        o.stderr
    );
    assert_eq!(sim.state("power"), "1");
    let o = sideroctl(kc, &["power", "status", "srv-ctl"]);
    assert!(o.stdout.contains("power on"), "{}", o.stdout);

    let before = sim.state("log").lines().count();
    let o = sideroctl(kc, &["power", "cycle", "srv-ctl"]);
    assert!(
        o.ok && o.stdout.contains("power cycle: done"),
        "{}{}",
        o.stdout,
        o.stderr
    );
    // ipmi_sim runs a cycle as `power 0`, then `power 1` a second later.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = sim.state("log");
        let new: Vec<&str> = log.lines().skip(before).collect();
        if new == ["power 0", "power 1"] {
            break;
        }
        assert!(Instant::now() < deadline, "cycle: {new:?}");
        std::thread::sleep(Duration::from_millis(100));
    }

    let o = sideroctl(kc, &["power", "off", "srv-ctl"]);
    assert!(
        o.ok && o.stdout.contains("power off: done"),
        "{}{}",
        o.stdout,
        o.stderr
    );
    assert_eq!(sim.state("power"), "0");
    let happy = started.elapsed();

    // Wrong password: names the server, the BMC and the RAKP step; no credential printed.
    secret(&client, "bmc-bad", USER, "not-the-Pw-42").await;
    server(&client, "srv-badpw", bmc(sim.port, "bmc-bad")).await;
    let o = sideroctl(kc, &["power", "on", "srv-badpw"]);
    eprintln!("wrong password: {}", o.stderr.trim());
    assert!(!o.ok);
    assert!(
        o.stderr.contains(&format!(
            "server srv-badpw: power on: BMC 127.0.0.1:{}: RAKP",
            sim.port
        )),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr.contains(&format!("127.0.0.1:{}", sim.port)),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("RAKP"), "{}", o.stderr);
    for secret in ["not-the-Pw-42", PASSWORD] {
        assert!(
            !o.stderr.contains(secret) && !o.stdout.contains(secret),
            "{}",
            o.stderr
        );
    }
    assert_eq!(sim.state("power"), "0");

    // The Secret is missing: names it.
    server(&client, "srv-nosecret", bmc(sim.port, "bmc-missing")).await;
    let o = sideroctl(kc, &["power", "status", "srv-nosecret"]);
    assert!(
        !o.ok && o.stderr.contains("default/bmc-missing"),
        "{}",
        o.stderr
    );

    // Nobody answers: fails within the IPMI timeout and retries, naming the BMC.
    let dead = sidero_testenv::ipmi_sim::free_udp_port().unwrap();
    server(&client, "srv-dead", bmc(dead, "bmc-good")).await;
    let t = Instant::now();
    let o = sideroctl(kc, &["power", "status", "srv-dead"]);
    let dead_after = t.elapsed();
    assert!(
        !o.ok && o.stderr.contains(&format!("127.0.0.1:{dead}")),
        "{}",
        o.stderr
    );
    assert!(dead_after < Duration::from_secs(8), "{dead_after:?}");
    assert!(!o.stderr.contains(PASSWORD));

    // No power management at all, and no such server.
    server(&client, "srv-bare", json!({"accepted": false})).await;
    let o = sideroctl(kc, &["power", "off", "srv-bare"]);
    assert!(
        !o.ok && o.stderr.contains("no power management"),
        "{}",
        o.stderr
    );
    let o = sideroctl(kc, &["power", "status", "srv-none"]);
    assert!(
        !o.ok && o.stderr.contains("server \"srv-none\" not found"),
        "{}",
        o.stderr
    );
    eprintln!(
        "sideroctl: status/pxe/on/status/cycle/off in {:.2}s; unreachable BMC failed after {:.2}s",
        happy.as_secs_f64(),
        dead_after.as_secs_f64()
    );
}

/// The same commands through a Redfish BMC (the sushy-tools emulator, plain HTTP on
/// loopback): `interface: redfish+http`, credentials from a Secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_commands_through_redfish() {
    use sidero_testenv::sushy::{PASS, Sushy, USER};
    const SYS: &str = "5a5a5a5a-0000-4000-8000-00000000c7c7";
    let cp = sidero_testenv::shared().unwrap();
    let client = cp.client().await.unwrap();
    let kc = cp.kubeconfig();
    let emu = Sushy::start(&[(SYS, "ctl")]).await.unwrap();
    secret(&client, "redfish-good", USER, PASS).await;
    let mut spec = bmc(emu.port, "redfish-good");
    spec["bmc"]["endpoint"] = json!(format!(
        "http://127.0.0.1:{}/redfish/v1/Systems/{SYS}",
        emu.port
    ));
    spec["bmc"]["interface"] = json!("redfish+http");
    server(&client, "srv-redfish", spec).await;
    let system = format!("/redfish/v1/Systems/{SYS}");

    let o = sideroctl(kc, &["power", "status", "srv-redfish"]);
    assert!(o.ok, "{}", o.stderr);
    assert!(
        o.stdout
            .starts_with("srv-redfish\tpower off\t(Redfish BMC http://127.0.0.1:"),
        "{}",
        o.stdout
    );
    let o = sideroctl(kc, &["power", "pxe", "srv-redfish"]);
    assert!(
        o.ok && o.stdout.contains("set PXE boot once: done"),
        "{}{}",
        o.stdout,
        o.stderr
    );
    let o = sideroctl(kc, &["power", "on", "srv-redfish"]);
    assert!(
        o.ok && o.stdout.contains("power on: done"),
        "{}{}",
        o.stdout,
        o.stderr
    );
    // The emulator's fake driver applies writes a little later (and always reports
    // `BootSourceOverrideEnabled: Continuous`, so only target and mode are checked).
    // The emulator's fake driver applies power changes late, later still on a loaded machine.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, sys) = emu.get(&system).await.unwrap();
        let boot = &sys["Boot"];
        if sys["PowerState"] == "On"
            && boot["BootSourceOverrideTarget"] == "Pxe"
            && boot["BootSourceOverrideMode"] == "UEFI"
        {
            break;
        }
        assert!(Instant::now() < deadline, "{sys}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let o = sideroctl(kc, &["power", "off", "srv-redfish"]);
    assert!(
        o.ok && o.stdout.contains("power off: done"),
        "{}{}",
        o.stdout,
        o.stderr
    );
    // The emulator's fake driver applies power changes late, later still on a loaded machine.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let o = sideroctl(kc, &["power", "status", "srv-redfish"]);
        if o.stdout.contains("power off") {
            break;
        }
        assert!(Instant::now() < deadline, "{}{}", o.stdout, o.stderr);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Wrong password: names the server and the Redfish BMC; never prints a credential.
    secret(&client, "redfish-bad", USER, "wrong-Redfish-pw-9").await;
    let mut spec = bmc(emu.port, "redfish-bad");
    spec["bmc"]["interface"] = json!("redfish+http");
    spec["bmc"]["endpoint"] = json!(format!("127.0.0.1:{}", emu.port));
    server(&client, "srv-redfish-bad", spec).await;
    let o = sideroctl(kc, &["power", "status", "srv-redfish-bad"]);
    eprintln!("redfish wrong password: {}", o.stderr.trim());
    assert!(!o.ok);
    assert!(
        o.stderr
            .contains("server srv-redfish-bad: power status: Redfish BMC http://127.0.0.1:"),
        "{}",
        o.stderr
    );
    for secret in ["wrong-Redfish-pw-9", PASS] {
        assert!(
            !o.stderr.contains(secret) && !o.stdout.contains(secret),
            "{}",
            o.stderr
        );
    }
}
