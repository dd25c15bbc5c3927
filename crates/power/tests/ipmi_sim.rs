//! The native RMCP+ client against the real OpenIPMI `ipmi_sim` (cipher suite 3; the
//! simulator has no SHA-256, so suite 17 must be refused clearly).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use common::ipmisim::{IpmiSim, PASSWORD, USER};
use sidero_power::{
    BootMode, IpmiClient, IpmiConfig, PowerError, PowerManager, PowerOutcome, PowerState,
    SessionCache, Step,
};

fn config(suites: &[u8]) -> IpmiConfig {
    IpmiConfig {
        timeout: Duration::from_millis(700),
        retries: 1,
        cipher_suites: suites.to_vec(),
        ..IpmiConfig::default()
    }
}

fn client(sim: &IpmiSim, suites: &[u8], cache: &std::sync::Arc<SessionCache>) -> IpmiClient {
    IpmiClient::new(
        "127.0.0.1",
        sim.port,
        USER,
        PASSWORD,
        config(suites),
        cache.clone(),
    )
    .unwrap()
}

async fn wait_for(sim: &IpmiSim, file: &str, want: &str) {
    for _ in 0..50 {
        if sim.state(file) == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{file}: want {want:?}, have {:?}", sim.state(file));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suite3_power_status_on_off_cycle() {
    let sim = IpmiSim::start().unwrap();
    let cache = SessionCache::new();
    let c = client(&sim, &[3], &cache);
    assert!(!c.is_fake());
    assert_eq!(c.power_status().await.unwrap(), PowerState::Off);

    assert_eq!(c.power_on().await.unwrap(), PowerOutcome::Done);
    wait_for(&sim, "power", "1").await;
    assert_eq!(c.power_status().await.unwrap(), PowerState::On);
    assert!(
        sim.ipmitool(&["chassis", "power", "status"])
            .contains("Chassis Power is on")
    );

    c.power_off().await.unwrap();
    wait_for(&sim, "power", "0").await;
    assert_eq!(c.power_status().await.unwrap(), PowerState::Off);
    assert!(
        sim.ipmitool(&["chassis", "power", "status"])
            .contains("Chassis Power is off")
    );

    c.power_on().await.unwrap();
    wait_for(&sim, "power", "1").await;
    let before = sim.state("log").lines().count();
    c.power_cycle().await.unwrap();
    // ipmi_sim cycles as "power 0", then 1 s later "power 1".
    for _ in 0..50 {
        let log = sim.state("log");
        let tail: Vec<&str> = log.lines().skip(before).collect();
        if tail == ["power 0", "power 1"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = sim.state("log");
    let tail: Vec<&str> = log.lines().skip(before).collect();
    assert_eq!(tail, ["power 0", "power 1"]);
    assert_eq!(c.power_status().await.unwrap(), PowerState::On);
    // Everything above ran on one session.
    assert_eq!(cache.sessions_opened(), 1);
    cache.close_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suite3_pxe_once_bios_and_uefi_and_disk() {
    let sim = IpmiSim::start().unwrap();
    let cache = SessionCache::new();
    let c = client(&sim, &[3], &cache);
    for mode in [BootMode::Bios, BootMode::Uefi] {
        c.set_boot_disk_once(mode).await.unwrap();
        assert_eq!(sim.state("boot"), "default", "{mode}");
        assert_eq!(c.set_pxe_once(mode).await.unwrap(), PowerOutcome::Done);
        assert_eq!(sim.state("boot"), "pxe", "{mode}");
    }
    let log = sim.state("log");
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        ["boot default", "boot pxe", "boot default", "boot pxe"]
    );
    // Cross-check with ipmitool: next boot only, PXE. (ipmi_sim drops the EFI bit; the
    // in-process fake BMC checks the exact flags.)
    let boot = sim.ipmitool(&["chassis", "bootparam", "get", "5"]);
    assert!(
        boot.contains("Force PXE") && boot.contains("only next boot"),
        "{boot}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_suites_fall_back_from_17_to_3_and_17_alone_is_refused_clearly() {
    let sim = IpmiSim::start().unwrap();
    let cache = SessionCache::new();
    let c = IpmiClient::new(
        "127.0.0.1",
        sim.port,
        USER,
        PASSWORD,
        IpmiConfig::default(),
        cache.clone(),
    )
    .unwrap();
    assert_eq!(c.power_status().await.unwrap(), PowerState::Off);

    let only17 = client(&sim, &[17], &SessionCache::new());
    let started = Instant::now();
    let err = only17.power_status().await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refusal is immediate"
    );
    assert!(
        matches!(
            err,
            PowerError::RmcpStatus {
                step: Step::OpenSession,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("does not accept cipher suite 17"), "{msg}");
    assert!(
        msg.starts_with(&format!("BMC 127.0.0.1:{}: RMCP+ open session", sim.port)),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_a_clear_auth_error_within_the_timeout() {
    let sim = IpmiSim::start().unwrap();
    let wrong = "not-the-Pw-42";
    let c = IpmiClient::new(
        "127.0.0.1",
        sim.port,
        USER,
        wrong,
        config(&[3]),
        SessionCache::new(),
    )
    .unwrap();
    let started = Instant::now();
    let err = c.power_on().await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(1400),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(
            err,
            PowerError::Auth {
                step: Step::Rakp12,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("wrong password"), "{msg}");
    for text in [msg, format!("{err:?}"), format!("{c:?}")] {
        assert!(!text.contains(wrong) && !text.contains(PASSWORD), "{text}");
    }
    assert_eq!(sim.state("power"), "", "nothing happened");

    let nobody = IpmiClient::new(
        "127.0.0.1",
        sim.port,
        "nobody",
        PASSWORD,
        config(&[3]),
        SessionCache::new(),
    )
    .unwrap();
    let err = nobody.power_status().await.unwrap_err();
    assert!(matches!(err, PowerError::Auth { .. }), "{err:?}");
}

#[tokio::test]
async fn unreachable_bmc_times_out_within_the_configured_timeout() {
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = IpmiConfig {
        timeout: Duration::from_millis(300),
        retries: 2,
        ..IpmiConfig::default()
    };
    let c = IpmiClient::new("127.0.0.1", port, USER, PASSWORD, cfg, SessionCache::new()).unwrap();
    let started = Instant::now();
    let err = c.power_status().await.unwrap_err();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(850) && took < Duration::from_millis(2500),
        "{took:?}"
    );
    let PowerError::Timeout { step, attempts, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!((*step, *attempts), (Step::GetChannelAuthCapabilities, 3));
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("BMC 127.0.0.1:{port}"))
            && msg.contains("no answer after 3 attempt(s)"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_reused_per_bmc_and_user_and_renewed_when_needed() {
    let sim = IpmiSim::start().unwrap();
    let cache = SessionCache::new();
    let a = client(&sim, &[3], &cache);
    let b = client(&sim, &[3], &cache);
    for _ in 0..3 {
        a.power_status().await.unwrap();
        b.power_status().await.unwrap();
    }
    // Concurrent calls share the slot (serialised), still one session.
    let (x, y) = tokio::join!(a.power_status(), b.set_pxe_once(BootMode::Uefi));
    x.unwrap();
    y.unwrap();
    assert_eq!(cache.sessions_opened(), 1);
    assert_eq!(cache.len(), 1);

    // Idle past the limit: a new session.
    let cfg = IpmiConfig {
        idle_limit: Duration::from_millis(200),
        ..config(&[3])
    };
    let idle = IpmiClient::new("127.0.0.1", sim.port, USER, PASSWORD, cfg, cache.clone()).unwrap();
    idle.power_status().await.unwrap();
    assert_eq!(cache.sessions_opened(), 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    idle.power_status().await.unwrap();
    assert_eq!(cache.sessions_opened(), 2);

    // A wrong password for the same BMC/user does not ride on the cached session.
    let wrong = IpmiClient::new(
        "127.0.0.1",
        sim.port,
        USER,
        "wrong",
        config(&[3]),
        cache.clone(),
    )
    .unwrap();
    assert!(matches!(
        wrong.power_status().await,
        Err(PowerError::Auth { .. })
    ));
    a.power_status().await.unwrap();
    assert_eq!(cache.sessions_opened(), 3);

    cache.close_all().await;
    assert!(cache.is_empty());
    a.power_status().await.unwrap();
    assert_eq!(cache.sessions_opened(), 4);
}
