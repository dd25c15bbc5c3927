//! The reboot-loop tests' machine behind the management API (loopback HTTP) that records
//! what really reached it, and the observation of a wiping Server until the loop converged.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use kube::Api;
use serde_json::json;
use sidero_api::metal::v1alpha2::Server;

/// What really reached the machine.
#[derive(Default, Debug)]
pub struct Machine {
    /// Powered on.
    pub on: bool,
    /// A PXE-once setting waits for the next boot.
    pub pxe_armed: bool,
    /// Power-ons/reboots that consumed a PXE-once setting: real network boots.
    pub pxe_boots: u32,
    /// Every call, status queries included.
    pub calls: Vec<&'static str>,
}

/// The machine, shared with its HTTP handlers.
pub type Shared = Arc<Mutex<Machine>>;

fn record(m: &Shared, name: &'static str) -> bool {
    let mut m = m.lock().unwrap();
    m.calls.push(name);
    match name {
        "pxeboot" => m.pxe_armed = true,
        "poweron" | "reboot" => {
            if (name == "reboot" || !m.on) && m.pxe_armed {
                m.pxe_armed = false;
                m.pxe_boots += 1;
            }
            m.on = true;
        }
        "poweroff" => m.on = false,
        _ => {}
    }
    m.on
}

/// Starts the machine on a free loopback port; its `host:port` endpoint.
pub async fn machine() -> (String, Shared) {
    let m: Shared = Arc::default();
    let call = |name: &'static str| {
        move |State(m): State<Shared>| async move {
            record(&m, name);
        }
    };
    let app = Router::new()
        .route("/poweron", post(call("poweron")))
        .route("/poweroff", post(call("poweroff")))
        .route("/reboot", post(call("reboot")))
        .route("/pxeboot", post(call("pxeboot")))
        .route(
            "/status",
            get(|State(m): State<Shared>| async move {
                let on = record(&m, "status");
                axum::Json(json!({"PoweredOn": on}))
            }),
        )
        .with_state(m.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(l, app).await });
    (addr, m)
}

/// The wipe sequences the controller issued (each stamps `PowerCycle`'s message with its
/// time), as first seen, and how long the observation ran.
#[derive(Debug)]
pub struct Observation {
    /// (message, when seen).
    pub issued: Vec<(String, Instant)>,
    /// From the start to the end of the observation.
    pub elapsed: Duration,
}

/// Polls Server `name` until the machine really PXE-booted and `min_sequences` were issued,
/// or `max` passed.
pub async fn observe(
    servers: &Api<Server>,
    name: &str,
    m: &Shared,
    started: Instant,
    min_sequences: usize,
    max: Duration,
) -> Observation {
    let mut issued: Vec<(String, Instant)> = Vec::new();
    while started.elapsed() < max {
        let s = servers.get(name).await.unwrap();
        let msg = s
            .status
            .as_ref()
            .and_then(|st| st.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "PowerCycle"))
            .and_then(|c| c.message.clone());
        if let Some(msg) = msg
            && issued.last().map(|(m, _)| m) != Some(&msg)
        {
            issued.push((msg, Instant::now()));
        }
        if issued.len() >= min_sequences && m.lock().unwrap().pxe_boots >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Observation {
        issued,
        elapsed: started.elapsed(),
    }
}

/// The loop's promises: sequences re-issued only after `timeout` (the spacing, and at most
/// one per timeout), at least `min_sequences` of them, the machine really PXE-booted, and
/// power calls bounded by the elapsed time (`calls`: those counted; a tight loop makes
/// hundreds).
pub fn assert_converged_without_tight_loop(
    obs: &Observation,
    m: &Machine,
    calls: u64,
    timeout: Duration,
    min_sequences: usize,
) {
    let periods = obs.elapsed.as_secs_f64() / timeout.as_secs_f64();
    let n = obs.issued.len();
    assert!(
        n >= min_sequences && (n as f64) <= periods + 2.0,
        "sequences issued {n} in {periods:.1} timeouts: {:?}",
        obs.issued
    );
    // `lastTransitionTime` has whole seconds (metav1.Time), so a wait may end up to 1 s
    // early; the poll adds a few hundred ms. A re-issue per requeue (timeout/3) still fails.
    for w in obs.issued.windows(2) {
        let gap = w[1].1 - w[0].1;
        assert!(
            gap + Duration::from_millis(1500) >= timeout,
            "re-issued after {gap:?} (< reboot timeout {timeout:?}): {:?}",
            obs.issued
        );
    }
    // At most a status query per requeue (timeout/3) and per own status write, plus two
    // actions per sequence.
    let requeues = obs.elapsed.as_secs_f64() / (timeout.as_secs_f64() / 3.0);
    let bound = (2.0 * requeues) as u64 + 2 * n as u64 + 12;
    assert!(
        calls <= bound,
        "{calls} power calls > {bound}: {:?}",
        m.calls
    );
    assert!(m.pxe_boots >= 1, "never really PXE-booted: {:?}", m.calls);
    assert!(m.on, "{:?}", m.calls);
}
