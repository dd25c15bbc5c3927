//! The `default` Environment: created once for the configured Talos release and never
//! modified; recreated when deleted while the controller runs (upstream's reconcile of
//! `default` ensures it first, with the same effect).

use std::pin::pin;
use std::time::Duration;

use futures::StreamExt;
use kube::api::PostParams;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use sidero_api::metal::v1alpha2::Environment;

use super::plan;

/// Creates the `default` Environment for `talos_release` (spec §2.3) unless an Environment
/// of that name exists; an existing one is never modified. Returns whether it was created.
///
/// `assets_base` replaces upstream's GitHub release URL prefix ([`plan::UPSTREAM_ASSETS_BASE`]).
pub async fn ensure_default(
    client: &Client,
    talos_release: &str,
    assets_base: &str,
) -> Result<bool, kube::Error> {
    let api: Api<Environment> = Api::all(client.clone());
    let env = Environment::new(
        Environment::DEFAULT,
        plan::default_spec_from(assets_base, talos_release),
    );
    match api.create(&PostParams::default(), &env).await {
        Ok(_) => {
            tracing::info!(talos_release, "created the default environment");
            Ok(true)
        }
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

/// Stops a helper task when [`super::run`] ends or is cancelled.
pub(super) struct AbortOnDrop(pub(super) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Watches Environment `default` and creates it whenever it is missing.
pub(super) async fn keep_default(
    client: Client,
    talos_release: String,
    assets_base: String,
    retry_max: Duration,
) {
    let api: Api<Environment> = Api::all(client.clone());
    let wc = watcher::Config::default().fields(&format!("metadata.name={}", Environment::DEFAULT));
    let mut events = pin!(watcher(api, wc).backoff(sidero_diagnostics::retry::watch_backoff()));
    let mut present = false;
    while let Some(event) = events.next().await {
        let missing = match event {
            Ok(watcher::Event::Init) => {
                present = false;
                false
            }
            Ok(watcher::Event::InitApply(_) | watcher::Event::Apply(_)) => {
                present = true;
                false
            }
            Ok(watcher::Event::InitDone) => !present,
            Ok(watcher::Event::Delete(_)) => {
                present = false;
                true
            }
            Err(e) => {
                tracing::debug!(error = %e, "watching the default environment");
                false
            }
        };
        if missing {
            create_default_with_retry(&client, &talos_release, &assets_base, retry_max).await;
        }
    }
}

async fn create_default_with_retry(
    client: &Client,
    talos_release: &str,
    assets_base: &str,
    retry_max: Duration,
) {
    let mut delay = Duration::from_secs(1);
    loop {
        match ensure_default(client, talos_release, assets_base).await {
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?delay, "creating the default environment failed");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(retry_max);
            }
        }
    }
}
