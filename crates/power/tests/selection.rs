//! Client selection (§9.1), the no-management client and failure injection.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sidero_power::{
    BmcInfo, BootMode, FailureInjection, InjectionScope, InjectionStats, NotManaged,
    NotManagedReason, PowerError, PowerFuture, PowerManager, PowerOutcome, PowerState,
    SelectOptions, SimulatedFailures, select_power_manager,
};

fn bmc(user: &str, pass: &str, iface: Option<&str>) -> BmcInfo {
    BmcInfo {
        endpoint: "10.0.0.9".into(),
        port: None,
        user: user.into(),
        pass: pass.into(),
        interface: iface.map(str::to_owned),
    }
}

#[tokio::test]
async fn selection_follows_upstream() {
    let o = SelectOptions::default();
    let m = select_power_manager(Some(&bmc("sidero", "pw", None)), Some("1.2.3.4:80"), &o).unwrap();
    assert_eq!(
        (m.is_fake(), m.target()),
        (false, "BMC 10.0.0.9:623".to_owned())
    );
    let m = select_power_manager(Some(&bmc("sidero", "pw", Some("lanplus"))), None, &o).unwrap();
    assert_eq!(m.target(), "BMC 10.0.0.9:623");
    let with_port = BmcInfo {
        port: Some(6230),
        ..bmc("u", "p", None)
    };
    assert_eq!(
        select_power_manager(Some(&with_port), None, &o)
            .unwrap()
            .target(),
        "BMC 10.0.0.9:6230"
    );

    // BMC known but credentials not populated yet → no management, even with an API.
    let m = select_power_manager(Some(&bmc("", "pw", None)), Some("1.2.3.4:80"), &o).unwrap();
    assert!(m.is_fake());
    assert!(m.target().contains("no user/password yet"));
    assert_eq!(m.power_on().await.unwrap(), PowerOutcome::NotManaged);

    let m = select_power_manager(None, Some("1.2.3.4:80"), &o).unwrap();
    assert_eq!(
        (m.is_fake(), m.target()),
        (false, "management API 1.2.3.4:80".to_owned())
    );

    let m = select_power_manager(None, None, &o).unwrap();
    assert!(m.is_fake());
    // Upstream semantics: the fake reports "on"; actions are no-ops that say so.
    assert_eq!(m.power_status().await.unwrap(), PowerState::On);
    for out in [
        m.power_off().await,
        m.power_cycle().await,
        m.set_pxe_once(BootMode::Uefi).await,
        m.set_boot_disk_once(BootMode::Bios).await,
    ] {
        assert_eq!(out.unwrap(), PowerOutcome::NotManaged);
    }

    let err = select_power_manager(Some(&bmc("u", "p", Some("lan"))), None, &o).unwrap_err();
    assert_eq!(
        err.to_string(),
        "BMC 10.0.0.9:623: unsupported interface \"lan\" (supported: lanplus)"
    );
    assert!(matches!(
        select_power_manager(Some(&bmc("u", "p", Some("open"))), None, &o),
        Err(PowerError::UnsupportedInterface { .. })
    ));
    let long = bmc("u", "this-password-is-way-too-long", None);
    let err = select_power_manager(Some(&long), None, &o)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("password must be at most 20 bytes") && !err.contains("way-too-long"),
        "{err}"
    );
}

#[test]
fn modes_and_debug_never_leak_secrets() {
    assert_eq!("bios".parse::<BootMode>().unwrap(), BootMode::Bios);
    assert_eq!("uefi".parse::<BootMode>().unwrap(), BootMode::Uefi);
    assert_eq!(
        "efi".parse::<BootMode>().unwrap_err().to_string(),
        "unsupported mode \"efi\""
    );
    let b = bmc("sidero", "Very-Secret-1", None);
    assert!(!format!("{b:?}").contains("Very-Secret-1"));
    let m = select_power_manager(Some(&b), None, &SelectOptions::default()).unwrap();
    assert!(!format!("{m:?}").contains("Very-Secret-1"));
    assert_eq!(
        PowerState::from_query(&Err(PowerError::Simulated)).as_status_str(),
        "unknown"
    );
}

/// Counts the calls that reach it.
#[derive(Debug, Default)]
struct Counting(AtomicUsize);

impl PowerManager for Counting {
    fn power_status(&self) -> PowerFuture<'_, PowerState> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(PowerState::Off) })
    }
    fn power_on(&self) -> PowerFuture<'_, PowerOutcome> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(PowerOutcome::Done) })
    }
    fn power_off(&self) -> PowerFuture<'_, PowerOutcome> {
        self.power_on()
    }
    fn power_cycle(&self) -> PowerFuture<'_, PowerOutcome> {
        self.power_on()
    }
    fn set_pxe_once(&self, _: BootMode) -> PowerFuture<'_, PowerOutcome> {
        self.power_on()
    }
    fn set_boot_disk_once(&self, _: BootMode) -> PowerFuture<'_, PowerOutcome> {
        self.power_on()
    }
    fn is_fake(&self) -> bool {
        false
    }
    fn target(&self) -> String {
        "counting".into()
    }
}

struct Shared(Arc<Counting>);
impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}
impl PowerManager for Shared {
    fn power_status(&self) -> PowerFuture<'_, PowerState> {
        self.0.power_status()
    }
    fn power_on(&self) -> PowerFuture<'_, PowerOutcome> {
        self.0.power_on()
    }
    fn power_off(&self) -> PowerFuture<'_, PowerOutcome> {
        self.0.power_off()
    }
    fn power_cycle(&self) -> PowerFuture<'_, PowerOutcome> {
        self.0.power_cycle()
    }
    fn set_pxe_once(&self, m: BootMode) -> PowerFuture<'_, PowerOutcome> {
        self.0.set_pxe_once(m)
    }
    fn set_boot_disk_once(&self, m: BootMode) -> PowerFuture<'_, PowerOutcome> {
        self.0.set_boot_disk_once(m)
    }
    fn is_fake(&self) -> bool {
        false
    }
    fn target(&self) -> String {
        self.0.target()
    }
}

async fn run(seed: u64, pe: f64, ps: f64, calls: usize) -> (InjectionStats, usize, Vec<String>) {
    let inner = Arc::new(Counting::default());
    let inj = FailureInjection::with_seed(pe, ps, seed);
    let m = SimulatedFailures::new(Box::new(Shared(inner.clone())), inj.clone());
    let mut trace = Vec::new();
    for i in 0..calls {
        let r = if i % 2 == 0 {
            m.power_on().await.map(|o| format!("{o:?}"))
        } else {
            m.power_status().await.map(|s| format!("{s:?}"))
        };
        trace.push(r.map_err(|e| e.to_string()).unwrap_or_else(|e| e));
    }
    (inj.stats(), inner.0.load(Ordering::SeqCst), trace)
}

#[tokio::test]
async fn failure_injection_is_deterministic_and_honest_about_counts() {
    let (stats, reached, trace) = run(42, 0.2, 0.3, 2000).await;
    assert_eq!(stats.explicit + stats.silent + stats.passed, 2000);
    assert_eq!(
        stats.passed as usize, reached,
        "only passed calls reach the wrapped manager"
    );
    // Roughly the configured rates.
    assert!((300..500).contains(&stats.explicit), "{stats:?}");
    assert!((500..700).contains(&stats.silent), "{stats:?}");
    assert_eq!(
        trace
            .iter()
            .filter(|t| *t == "simulated failure from the power management")
            .count() as u64,
        stats.explicit
    );
    // Same seed, same story.
    assert_eq!(run(42, 0.2, 0.3, 2000).await.2, trace);
    assert_ne!(run(43, 0.2, 0.3, 2000).await.2, trace);
    // Disabled: everything passes.
    let (s, reached, _) = run(1, 0.0, 0.0, 100).await;
    assert_eq!((s.passed, reached), (100, 100));
}

#[tokio::test]
async fn selection_wraps_only_the_management_api_by_default() {
    let inj = FailureInjection::with_seed(1.0, 0.0, 7);
    let mut o = SelectOptions {
        injection: Some(inj.clone()),
        ..SelectOptions::default()
    };
    let api = select_power_manager(None, Some("127.0.0.1:9"), &o).unwrap();
    assert!(matches!(api.power_on().await, Err(PowerError::Simulated)));
    let fake = select_power_manager(None, None, &o).unwrap();
    assert_eq!(fake.power_on().await.unwrap(), PowerOutcome::NotManaged);
    o.injection_scope = InjectionScope::All;
    let fake = select_power_manager(None, None, &o).unwrap();
    assert!(fake.is_fake());
    assert!(matches!(fake.power_on().await, Err(PowerError::Simulated)));
    assert_eq!(inj.stats().explicit, 2);
    let _ = NotManaged::new(NotManagedReason::NoBmcOrApi);
}
