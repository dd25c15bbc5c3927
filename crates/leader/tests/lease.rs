//! The elector against a real API server: one leader at a time, a follower takes over only
//! after the leader stopped renewing for the lease duration (measured by the follower's
//! clock), a released Lease is taken at once, and a leader whose Lease was taken steps down.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use sidero_leader::{Elector, Lost, Timing};

const FAST: Timing = Timing {
    lease_duration: Duration::from_secs(3),
    renew_deadline: Duration::from_secs(2),
    retry_period: Duration::from_millis(300),
};

async fn holder(client: &kube::Client, name: &str) -> String {
    Api::<Lease>::namespaced(client.clone(), "default")
        .get(name)
        .await
        .unwrap()
        .spec
        .unwrap()
        .holder_identity
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_then_takeover_after_expiry() {
    let client = sidero_testenv::shared().unwrap().client().await.unwrap();
    let mut a = Elector::new(client.clone(), "default", "takeover", "a", FAST).unwrap();
    let mut b = Elector::new(client.clone(), "default", "takeover", "b", FAST).unwrap();
    a.acquire().await;
    assert_eq!(holder(&client, "takeover").await, "a");
    // a renews in the background; b cannot get in while it does.
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let renewing = tokio::spawn(a.keep(async {
        let _ = stop_rx.await;
    }));
    let b_wait = tokio::time::timeout(Duration::from_secs(5), b.acquire()).await;
    assert!(b_wait.is_err(), "b acquired while a renewed");
    assert_eq!(holder(&client, "takeover").await, "a");
    // a dies without releasing: abort the renewal task.
    renewing.abort();
    drop(stop_tx);
    let died = Instant::now();
    b.acquire().await;
    let took = died.elapsed();
    assert_eq!(holder(&client, "takeover").await, "b");
    // Not before the lease duration (by b's clock), and soon after it.
    assert!(took >= Duration::from_secs(2), "took over after {took:?}");
    assert!(
        took < FAST.lease_duration + 3 * FAST.retry_period + Duration::from_secs(1),
        "took {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_hands_over_at_once_and_a_usurped_leader_steps_down() {
    let client = sidero_testenv::shared().unwrap().client().await.unwrap();
    let mut a = Elector::new(client.clone(), "default", "release", "a", FAST).unwrap();
    a.acquire().await;
    let lost = a.keep(async {}).await;
    assert_eq!(lost, Lost::Released);
    assert_eq!(holder(&client, "release").await, "");
    let mut b = Elector::new(client.clone(), "default", "release", "b", FAST).unwrap();
    tokio::time::timeout(Duration::from_secs(2), b.acquire())
        .await
        .expect("a released Lease is taken at once");

    // Someone overwrites the holder (an operator, or a split brain): b notices and stops.
    let api = Api::<Lease>::namespaced(client.clone(), "default");
    let mut lease = api.get("release").await.unwrap();
    lease.spec.as_mut().unwrap().holder_identity = Some("intruder".into());
    api.replace("release", &Default::default(), &lease)
        .await
        .unwrap();
    let lost = tokio::time::timeout(Duration::from_secs(5), b.keep(std::future::pending()))
        .await
        .unwrap();
    assert_eq!(
        lost,
        Lost::TakenOver {
            holder: "intruder".into()
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_candidates_one_wins() {
    let client = sidero_testenv::shared().unwrap().client().await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..4 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut e = Elector::new(client, "default", "race", &format!("c{i}"), FAST).unwrap();
            tokio::time::timeout(Duration::from_secs(2), e.acquire())
                .await
                .is_ok()
        }));
    }
    let mut winners = 0;
    for t in tasks {
        winners += usize::from(t.await.unwrap());
    }
    assert_eq!(winners, 1);
}

#[test]
fn a_renew_deadline_past_the_lease_is_refused() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = sidero_testenv::shared().unwrap().client().await.unwrap();
        let bad = Timing {
            renew_deadline: Duration::from_secs(5),
            ..FAST
        };
        assert!(Elector::new(client, "default", "x", "a", bad).is_err());
    });
}
