//! The agent's BMC steps against a real BMC simulator: `ipmi_sim` (OpenIPMI) on 127.0.0.1,
//! reached through `ipmitool -I lanplus … raw` as the transport (the same requests the agent
//! sends through `/dev/ipmi0`, which this machine does not have). Checks LAN discovery and that
//! the `sidero` user it creates can then log in with the reported password.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::{Ipv4Addr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sidero_agent::bmc::{self, Ipmi, IpmiError};

const ADMIN: &str = "admin";
const ADMIN_PASS: &str = "s3cr3t-Pw";

struct Sim {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_sim() -> Sim {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("sim")).unwrap();
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let lan = format!(
        r#"name "agentbmc"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 {port}
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789abcdef
  endlan
  user 1 true  ""        "test"        user  10 none md2 md5 straight
  user 2 true  "{ADMIN}" "{ADMIN_PASS}" admin 10 none md2 md5 straight
  user 3 true  "ops"     "ops-pass"    operator 10 none md2 md5 straight
"#
    );
    std::fs::write(d.join("lan.conf"), lan).unwrap();
    std::fs::write(
        d.join("bmc.emu"),
        "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02\nmc_enable 0x20\n",
    )
    .unwrap();
    let child = Command::new("ipmi_sim")
        .arg("-c")
        .arg(d.join("lan.conf"))
        .arg("-f")
        .arg(d.join("bmc.emu"))
        .arg("-s")
        .arg(d.join("sim"))
        .arg("-n")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn ipmi_sim (Debian package openipmi)");
    let sim = Sim {
        child,
        port,
        _dir: dir,
    };
    let start = std::time::Instant::now();
    while ipmitool(port, ADMIN, ADMIN_PASS, &["mc", "info"]).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "ipmi_sim did not answer"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    sim
}

fn ipmitool(port: u16, user: &str, pass: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new("ipmitool")
        .args([
            "-I",
            "lanplus",
            "-C",
            "3",
            "-N",
            "1",
            "-R",
            "2",
            "-H",
            "127.0.0.1",
            "-p",
        ])
        .arg(port.to_string())
        .args(["-U", user, "-E"])
        .args(args)
        .env("IPMITOOL_PASSWORD", pass)
        .output()
        .expect("ipmitool (Debian package ipmitool)");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// `ipmitool raw` over lanplus as the agent's IPMI transport.
struct Lanplus(u16);

impl Ipmi for Lanplus {
    fn call(&mut self, netfn: u8, cmd: u8, data: &[u8]) -> Result<Vec<u8>, IpmiError> {
        let mut args = vec![
            "raw".to_string(),
            format!("{netfn:#04x}"),
            format!("{cmd:#04x}"),
        ];
        args.extend(data.iter().map(|b| format!("{b:#04x}")));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = ipmitool(self.0, ADMIN, ADMIN_PASS, &args).map_err(|e| {
            // "Unable to send RAW command (… rsp=0x80): …" carries the completion code.
            match e.split("rsp=0x").nth(1).and_then(|r| r.get(..2)) {
                Some(code) => u8::from_str_radix(code, 16)
                    .map(IpmiError::Completion)
                    .unwrap_or(IpmiError::Transport(e.clone())),
                None => IpmiError::Transport(e),
            }
        })?;
        out.split_whitespace()
            .map(|h| {
                u8::from_str_radix(h, 16).map_err(|e| IpmiError::Transport(format!("{h:?}: {e}")))
            })
            .collect()
    }
}

#[test]
fn discovers_the_lan_address() {
    let sim = start_sim();
    // A fresh simulator has no address in parameter 3: nothing to report.
    let err = bmc::discover(&mut Lanplus(sim.port)).unwrap_err();
    assert!(err.to_string().contains("no IPv4 address"), "{err}");
    // Set one (a value stored in the simulator; nothing is sent to it).
    ipmitool(
        sim.port,
        ADMIN,
        ADMIN_PASS,
        &["lan", "set", "1", "ipaddr", "127.0.0.2"],
    )
    .unwrap();
    // ipmi_sim does not know parameter 8 (completion code 0x80): the standard port is assumed.
    let lan = bmc::discover(&mut Lanplus(sim.port)).unwrap();
    assert_eq!(lan.ip, Ipv4Addr::new(127, 0, 0, 2));
    assert_eq!(lan.port, 623);
}

#[test]
fn creates_then_reclaims_the_sidero_user() {
    let sim = start_sim();
    let mut t = Lanplus(sim.port);
    let pass1 = bmc::generate_password().unwrap();
    let id = bmc::setup_user(&mut t, &pass1).unwrap();
    assert_eq!(id, 4, "first free slot after admin (2) and ops (3)");
    let status = ipmitool(sim.port, "sidero", &pass1, &["chassis", "power", "status"]);
    assert!(status.is_ok(), "sidero cannot log in: {status:?}");
    let users = ipmitool(sim.port, ADMIN, ADMIN_PASS, &["user", "list", "1"]).unwrap();
    let line = users.lines().find(|l| l.contains("sidero")).unwrap();
    assert!(line.contains("ADMINISTRATOR"), "{users}");

    // A second run claims the same user with a new password; the old one stops working.
    let pass2 = bmc::generate_password().unwrap();
    assert_eq!(bmc::setup_user(&mut t, &pass2).unwrap(), 4);
    assert!(ipmitool(sim.port, "sidero", &pass2, &["chassis", "power", "status"]).is_ok());
    assert!(ipmitool(sim.port, "sidero", &pass1, &["chassis", "power", "status"]).is_err());
}

/// The whole BMC step through the lifecycle against the real manager's Agent API: the Server
/// ends with the BMC endpoint and a credentials Secret whose password logs in to the simulator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_reports_the_bmc_to_the_manager() {
    use k8s_openapi::api::core::v1::Secret;
    use kube::Api;
    use sidero_agent::lifecycle::{self, Inventory, Options};
    use sidero_agent::retry::Retry;
    use sidero_controller_manager::agent::{self as agent_api, AgentConfig};
    use sidero_controller_manager::http::{combined, serve};
    use sidero_proto::api;
    use std::sync::Arc;

    let sim = start_sim();
    ipmitool(
        sim.port,
        ADMIN,
        ADMIN_PASS,
        &["lan", "set", "1", "ipaddr", "127.0.0.2"],
    )
    .unwrap();

    let kube = sidero_testenv::shared().unwrap().client().await.unwrap();
    let config = AgentConfig {
        auto_accept_servers: true,
        insecure_wipe: true,
        auto_bmc_setup: true,
        server_reboot_timeout: Duration::from_secs(30),
    };
    let app = combined(axum::Router::new(), agent_api::routes(kube.clone(), config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, app, std::future::pending()));
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy();

    let uuid = "4c4c4544-0038-5210-804b-b4c04f4e31b1";
    let inv = Inventory {
        hardware: api::HardwareInformation {
            system: Some(api::SystemInformation {
                uuid: uuid.into(),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let port = sim.port;
    let dev = tempfile::tempdir().unwrap();
    let opts = Options {
        dev_root: dev.path().to_path_buf(),
        bmc: Arc::new(move || Ok(Box::new(Lanplus(port)) as Box<dyn Ipmi + Send>)),
        retry: Retry {
            total: Duration::from_secs(20),
            per_call: Duration::from_secs(10),
            first_wait: Duration::from_millis(200),
            max_wait: Duration::from_secs(2),
        },
    };
    let out = lifecycle::run(lifecycle::client(channel, None), &inv, &opts)
        .await
        .unwrap();
    assert!(out.plan.setup_bmc);
    assert_eq!(out.bmc, Some(Ok(())));

    let server = Api::<sidero_api::metal::v1alpha2::Server>::all(kube.clone())
        .get(uuid)
        .await
        .unwrap();
    let bmc = serde_json::to_value(server.spec.bmc.unwrap()).unwrap();
    assert_eq!(bmc["endpoint"], "127.0.0.2");
    assert_eq!(bmc["port"], 623);
    assert_eq!(
        bmc["userFrom"]["secretKeyRef"]["name"],
        format!("{uuid}-bmc")
    );
    let secret = Api::<Secret>::namespaced(kube, "default")
        .get(&format!("{uuid}-bmc"))
        .await
        .unwrap();
    let data = secret.data.unwrap();
    let user = String::from_utf8(data["user"].0.clone()).unwrap();
    let pass = String::from_utf8(data["pass"].0.clone()).unwrap();
    assert_eq!(user, "sidero");
    assert_eq!(pass.len(), 16);
    let login = ipmitool(sim.port, &user, &pass, &["chassis", "power", "status"]);
    assert!(
        login.is_ok(),
        "the reported credentials do not log in: {login:?}"
    );
}
