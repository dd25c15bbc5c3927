//! The Server controller against a `MarkServerAsWiped` that lands while it reconciles the
//! server's first version (accepted, no status yet): the wipe must survive. Before the fix,
//! the controller's finalizer patch was unconditioned, so it succeeded over the wipe, and the
//! status patch that followed, conditioned on the version the finalizer patch returned,
//! wrote the `isClean: false` decided from the version before the wipe.
//!
//! Deterministic: the controller's client carries a layer that, when the controller sends
//! its first metadata patch of the server (the finalizer), first writes the wipe exactly as
//! the Agent API does (`decide::mark_wiped`, guarded by the `resourceVersion` read), then
//! lets the patch through. So the wipe always lands between the controller's read and its
//! writes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use kube::api::{Patch, PatchParams, PostParams};
use kube::client::{Body, ClientBuilder};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config, ResourceExt};
use serde_json::json;
use sidero_api::metal::v1alpha2::{SERVER_FINALIZER, Server};
use sidero_controller_manager::agent::decide;
use sidero_controller_manager::controllers::server;

const NAME: &str = "race-wiped-during-first-reconcile";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Writes the wipe once, right before the first non-status PATCH of the server goes out.
struct Hook {
    path: String,
    fired: AtomicBool,
    /// Set once the wipe is written.
    wiped: AtomicBool,
    /// A client without the hook (the Agent API's).
    agent: Client,
}

impl Hook {
    /// `MarkServerAsWiped` as the Agent API performs it.
    async fn mark_wiped(&self) {
        let api: Api<Server> = Api::all(self.agent.clone());
        let s = api.get(NAME).await.unwrap();
        let status = decide::mark_wiped(
            &s.status.clone().unwrap_or_default(),
            jiff::Timestamp::now(),
        );
        api.patch_status(
            NAME,
            &PatchParams::default(),
            &Patch::Merge(json!({
                "metadata": {"resourceVersion": s.resource_version()},
                "status": status,
            })),
        )
        .await
        .unwrap();
        self.wiped.store(true, Ordering::SeqCst);
    }
}

/// The layer's service: the inner stack (not `Clone`) behind a mutex held only while a
/// request is handed over.
struct Intercept<S> {
    inner: Arc<tokio::sync::Mutex<S>>,
    hook: Arc<Hook>,
}

impl<S> tower::Service<http::Request<Body>> for Intercept<S>
where
    S: tower::Service<http::Request<Body>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let fire = req.method() == http::Method::PATCH
            && req.uri().path() == self.hook.path
            && !self.hook.fired.swap(true, Ordering::SeqCst);
        let (inner, hook) = (self.inner.clone(), self.hook.clone());
        Box::pin(async move {
            if fire {
                hook.mark_wiped().await;
            }
            let fut = {
                let mut svc = inner.lock().await;
                std::future::poll_fn(|cx| svc.poll_ready(cx))
                    .await
                    .map_err(Into::into)?;
                svc.call(req)
            };
            fut.await.map_err(Into::into)
        })
    }
}

struct InterceptLayer(Arc<Hook>);

impl<S> tower::Layer<S> for InterceptLayer {
    type Service = Intercept<S>;
    fn layer(&self, inner: S) -> Intercept<S> {
        Intercept {
            inner: Arc::new(tokio::sync::Mutex::new(inner)),
            hook: self.0.clone(),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wipe_during_the_first_reconcile_is_not_undone() {
    let cp = sidero_testenv::shared().unwrap();
    let agent = cp.client().await.unwrap();
    let hook = Arc::new(Hook {
        path: format!("/apis/metal.sidero.dev/v1alpha2/servers/{NAME}"),
        fired: AtomicBool::new(false),
        wiped: AtomicBool::new(false),
        agent: agent.clone(),
    });
    let kc = Kubeconfig::read_from(cp.kubeconfig()).unwrap();
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    let controller_client = ClientBuilder::try_from(config)
        .unwrap()
        .with_layer(&InterceptLayer(hook.clone()))
        .build();

    let servers: Api<Server> = Api::all(agent.clone());
    // Registered by CreateServer with auto-accept: accepted, no status, no BMC.
    let s: Server = serde_json::from_value(json!({
        "apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
        "metadata": {"name": NAME}, "spec": {"accepted": true}
    }))
    .unwrap();
    servers.create(&PostParams::default(), &s).await.unwrap();
    tokio::spawn(server::run(
        controller_client,
        sidero_server::Config {
            default_pxe_mode: sidero_power::BootMode::Uefi,
            reboot_timeout: Duration::from_secs(1200),
        },
        sidero_power::SelectOptions::default(),
    ));

    // Settled: the controller decided from the wiped version (ready, finalizer added), or it
    // undid the wipe.
    let start = Instant::now();
    let s = loop {
        let s = servers.get(NAME).await.unwrap();
        let st = s.status.clone().unwrap_or_default();
        let has_finalizer = s.finalizers().iter().any(|f| f == SERVER_FINALIZER);
        if (has_finalizer && st.ready) || (hook.wiped.load(Ordering::SeqCst) && !st.is_clean) {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "controller did not settle: {:?} {:?}",
            s.metadata.finalizers,
            s.status
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(hook.wiped.load(Ordering::SeqCst), "the wipe was injected");
    let st = s.status.clone().unwrap_or_default();
    assert!(st.is_clean, "the wipe was undone: {st:?}");
    assert!(st.ready, "{st:?}");
    assert!(s.finalizers().iter().any(|f| f == SERVER_FINALIZER));
}
