//! The Redfish client against the real sushy-tools emulator (fake driver, basic auth).
//! Needs `tools/sushy/setup.sh`; fails (does not skip) without the emulator.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use common::sushy::{PASS, Sushy, USER};
use sidero_power::{
    BmcInfo, BootMode, PowerError, PowerManager, PowerOutcome, PowerState, RedfishAuth,
    RedfishClient, RedfishConfig, RedfishEndpoint, SelectOptions, redfish::Scheme,
    select_power_manager,
};

const SYS_POWER: &str = "6a1d9c3e-0000-4000-8000-000000000001";
const SYS_BOOT: &str = "6a1d9c3e-0000-4000-8000-000000000002";

fn client(port: u16, system: Option<&str>, pass: &str) -> RedfishClient {
    let ep = match system {
        Some(id) => format!("http://127.0.0.1:{port}/redfish/v1/Systems/{id}"),
        None => format!("127.0.0.1:{port}"),
    };
    let ep = RedfishEndpoint::parse(&ep, Scheme::Http, None).unwrap();
    let cfg = RedfishConfig {
        timeout: Duration::from_secs(10),
        ..RedfishConfig::default()
    };
    RedfishClient::new(ep, USER, pass, cfg).unwrap()
}

/// The fake driver applies power changes 1–11 s after the request.
async fn wait_for(c: &RedfishClient, want: PowerState) {
    let deadline = Instant::now() + Duration::from_secs(25);
    loop {
        let s = c.power_status().await.unwrap();
        if s == want {
            return;
        }
        assert!(Instant::now() < deadline, "still {s:?}, want {want:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn power_ops(emu: &Sushy) {
    let c = client(emu.port, Some(SYS_POWER), PASS);
    assert_eq!(c.power_status().await.unwrap(), PowerState::Off);
    assert_eq!(c.power_on().await.unwrap(), PowerOutcome::Done);
    wait_for(&c, PowerState::On).await;
    // sushy does not advertise PowerCycle → ForceRestart: off at once, on again later.
    assert_eq!(c.power_cycle().await.unwrap(), PowerOutcome::Done);
    let (_, sys) = emu
        .get(&format!("/redfish/v1/Systems/{SYS_POWER}"))
        .await
        .unwrap();
    assert_eq!(sys["PowerState"], "Off", "ForceRestart powers off first");
    wait_for(&c, PowerState::On).await;
    assert_eq!(c.power_off().await.unwrap(), PowerOutcome::Done);
    wait_for(&c, PowerState::Off).await;
    let (_, sys) = emu
        .get(&format!("/redfish/v1/Systems/{SYS_POWER}"))
        .await
        .unwrap();
    assert_eq!(sys["PowerState"], "Off");
}

/// Polls the emulator's Boot object until it shows `want`: its fake driver applies writes a
/// little late, like its power changes.
async fn wait_boot<F, Fut>(boot: &F, want: (Option<&str>, Option<&str>))
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = serde_json::Value>,
{
    let start = std::time::Instant::now();
    loop {
        let b = boot().await;
        let got = (
            b["BootSourceOverrideTarget"].as_str(),
            b["BootSourceOverrideMode"].as_str(),
        );
        if got == want || start.elapsed() > std::time::Duration::from_secs(25) {
            assert_eq!(got, want);
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

async fn boot_ops(emu: &Sushy) {
    let c = client(emu.port, Some(SYS_BOOT), PASS);
    let path = format!("/redfish/v1/Systems/{SYS_BOOT}");
    let boot = || async { emu.get(&path).await.unwrap().1["Boot"].clone() };
    assert_eq!(
        c.set_pxe_once(BootMode::Uefi).await.unwrap(),
        PowerOutcome::Done
    );
    wait_boot(&boot, (Some("Pxe"), Some("UEFI"))).await;
    assert_eq!(
        c.set_pxe_once(BootMode::Bios).await.unwrap(),
        PowerOutcome::Done
    );
    wait_boot(&boot, (Some("Pxe"), Some("Legacy"))).await;
    assert_eq!(
        c.set_boot_disk_once(BootMode::Uefi).await.unwrap(),
        PowerOutcome::Done
    );
    wait_boot(&boot, (Some("Hdd"), Some("UEFI"))).await;
}

async fn discovery_selection_and_auth(emu: &Sushy) {
    // First member of /redfish/v1/Systems, selected the way the controller does it.
    let bmc = BmcInfo {
        endpoint: format!("127.0.0.1:{}", emu.port),
        port: Some(623),
        user: USER.into(),
        pass: PASS.into(),
        interface: Some("redfish+http".into()),
    };
    let m = select_power_manager(Some(&bmc), None, &SelectOptions::default()).unwrap();
    assert_eq!(
        m.target(),
        format!("Redfish BMC http://127.0.0.1:{}", emu.port)
    );
    assert!(!m.is_fake());
    assert_eq!(m.power_status().await.unwrap(), PowerState::Off);

    // Wrong password: an authentication error naming the step, without the password.
    let bad = client(emu.port, Some(SYS_BOOT), "wrong-password-xyz");
    let e = bad.power_status().await.unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, PowerError::Auth { .. }), "{e:?}");
    assert!(
        text.contains("Redfish BMC http://127.0.0.1") && text.contains("GET"),
        "{text}"
    );
    assert!(
        !text.contains("wrong-password-xyz") && !format!("{e:?}").contains("wrong-password-xyz")
    );
    assert!(bad.set_pxe_once(BootMode::Uefi).await.is_err());

    // Forcing sessions against a service without SessionService is a clear API error.
    let ep =
        RedfishEndpoint::parse(&format!("127.0.0.1:{}", emu.port), Scheme::Http, None).unwrap();
    let cfg = RedfishConfig {
        auth: RedfishAuth::Session,
        ..RedfishConfig::default()
    };
    let s = RedfishClient::new(ep, USER, PASS, cfg).unwrap();
    let e = s.power_status().await.unwrap_err().to_string();
    assert!(e.contains("login") && !e.contains(PASS), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sushy_emulator_end_to_end() {
    let emu = Sushy::start(&[(SYS_BOOT, "boot"), (SYS_POWER, "power")])
        .await
        .unwrap();
    let run = async {
        tokio::join!(
            power_ops(&emu),
            boot_ops(&emu),
            discovery_selection_and_auth(&emu)
        );
    };
    if tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .is_err()
    {
        panic!(
            "scenarios did not finish in 120 s; emulator log:\n{}",
            emu.log()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sushy_emulator_over_https() {
    let ck =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let pem = (ck.cert.pem(), ck.signing_key.serialize_pem());
    let emu = Sushy::start_with(&[(SYS_BOOT, "tls")], Some(pem))
        .await
        .unwrap();
    let bmc = |interface: &str| BmcInfo {
        endpoint: format!("127.0.0.1:{}", emu.port),
        port: None,
        user: USER.into(),
        pass: PASS.into(),
        interface: Some(interface.into()),
    };
    // Default: the self-signed certificate is rejected.
    let verify =
        select_power_manager(Some(&bmc("redfish")), None, &SelectOptions::default()).unwrap();
    let e = verify.power_status().await.unwrap_err().to_string();
    assert!(
        e.contains("TLS handshake") && e.contains("certificate"),
        "{e}"
    );
    assert!(!e.contains(PASS));
    // Opt-in: skip verification.
    let mut o = SelectOptions::default();
    o.redfish.tls = sidero_power::TlsVerification::InsecureSkipVerify;
    let m = select_power_manager(Some(&bmc("redfish")), None, &o).unwrap();
    assert_eq!(
        m.target(),
        format!("Redfish BMC https://127.0.0.1:{}", emu.port)
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let state = loop {
        match m.power_status().await {
            Ok(s) => break s,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("{e}\n{}", emu.log()),
        }
    };
    assert_eq!(state, PowerState::Off);
    assert_eq!(
        m.set_pxe_once(BootMode::Uefi).await.unwrap(),
        PowerOutcome::Done
    );
    assert_eq!(m.power_on().await.unwrap(), PowerOutcome::Done);
}
