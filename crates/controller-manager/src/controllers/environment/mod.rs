//! Environment controller (spec §3.3): keeps `<env_dir>/<name>/vmlinuz` and `initramfs.xz`
//! equal to the assets an Environment names, and reports one `Ready` condition per asset.
//!
//! Compatible with upstream — same files, same condition shape, `default` created once and
//! never updated — and better where upstream is known to be weak (spec §13):
//!
//! * downloads are atomic (temp file, fsync, rename): a failed or shorter download never
//!   leaves a half-written file or a stale tail, and the old file is served until the new one
//!   is complete;
//! * `sha512` is verified (hex, any case); a mismatch never replaces the served file;
//! * failures set the asset's condition to `False`, publish a Warning Event with a readable
//!   reason (`DownloadFailed`, `ChecksumMismatch`, `WriteFailed`, `InvalidChecksum`,
//!   `MissingURL`, `ReservedName`) and are retried with exponential backoff;
//! * an existing file counts only with a `Ready=True` condition for the same URL and hash,
//!   and a missing file first withdraws `Ready=True` (a restarted pod no longer advertises
//!   assets it is still downloading);
//! * an Environment named like an agent environment cannot overwrite the agent's files.
//!
//! Environments are reconciled when their spec changes (generation), on start, and on retry
//! after a failure — never on a timer. Both assets download concurrently; downloads across
//! all Environments are limited by [`Config::max_concurrent_downloads`].

mod default_env;
mod download;
pub mod plan;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use futures::future::join_all;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::{Controller, WatchStreamExt, predicates, reflector, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;
use sidero_api::metal::v1alpha2::{AssetCondition, Environment};

pub use default_env::ensure_default;
use default_env::{AbortOnDrop, keep_default};
use download::{DownloadError, Downloader, Fetched};
use plan::{Asset, Decision, Wanted, Why};

/// The Talos release whose assets and arguments the `default` Environment gets.
pub const DEFAULT_TALOS_RELEASE: &str = "v1.13.0";
/// Where environment assets live (and are served from at `/env/`).
pub const DEFAULT_ENV_DIR: &str = "/var/lib/sidero/env";
/// Longest Event note the API server accepts is 1 kB; longer notes are cut.
const MAX_NOTE: usize = 1000;

/// Settings of the controller.
#[derive(Clone, Debug)]
pub struct Config {
    /// Folder holding one sub-folder per Environment.
    pub env_dir: PathBuf,
    /// Talos release of the `default` Environment (kept present by [`run`]).
    pub talos_release: String,
    /// Base URL of Talos release assets for the `default` Environment (upstream: GitHub).
    pub talos_assets_base: String,
    /// Downloads running at once across all Environments (each asset is one download).
    pub max_concurrent_downloads: usize,
    /// Total time one download may take, from request to the last byte (upstream: 5 min).
    pub download_timeout: Duration,
    /// First retry delay after a failure; doubled per failed attempt.
    pub retry_min: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// Only reconcile Environments matching this label selector (`None`: all).
    pub label_selector: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            env_dir: PathBuf::from(DEFAULT_ENV_DIR),
            talos_release: DEFAULT_TALOS_RELEASE.to_owned(),
            talos_assets_base: plan::UPSTREAM_ASSETS_BASE.to_owned(),
            max_concurrent_downloads: 4,
            download_timeout: Duration::from_secs(300),
            retry_min: Duration::from_secs(5),
            retry_max: Duration::from_secs(300),
            label_selector: None,
        }
    }
}

/// Why the controller or one reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server refused or failed a request.
    #[error("kubernetes: {0}")]
    Kube(#[from] kube::Error),
    /// The HTTP client could not be built (TLS setup).
    #[error("building the HTTP client: {0}")]
    HttpClient(#[from] reqwest::Error),
    /// Some assets could not be fetched; details are in Events and logs. Retried.
    #[error("{0} asset(s) could not be fetched")]
    Assets(usize),
}

/// Shared state of the controller.
struct Context {
    client: Client,
    config: Config,
    downloader: Downloader,
    /// Events are published through a Recorder made per reconcile: the Recorder folds events
    /// with the same reason into a series that keeps the first note, which would hide a
    /// changed failure (a 404 turning into a 500) for as long as the process lives.
    reporter: Reporter,
    /// Failed attempts per Environment name, for the generation they were made at.
    attempts: Mutex<HashMap<String, (Option<i64>, u32)>>,
}

/// Runs the controller until the process is asked to stop; also recreates `default` when it
/// is deleted (as upstream, whose reconcile of `default` ensures it first).
pub async fn run(client: Client, config: Config) -> Result<(), Error> {
    let downloader = Downloader::new(config.download_timeout, config.max_concurrent_downloads)?;
    let api: Api<Environment> = Api::all(client.clone());
    let mut wc = watcher::Config::default();
    if let Some(selector) = &config.label_selector {
        wc = wc.labels(selector);
    }
    let (reader, writer) = reflector::store();
    // Status updates (ours) do not change the generation and do not trigger a reconcile.
    let trigger = watcher(api, wc)
        .backoff(sidero_diagnostics::retry::watch_backoff())
        .reflect(writer)
        .applied_objects()
        .predicate_filter(predicates::generation, Default::default());
    let _keeper = AbortOnDrop(tokio::spawn(keep_default(
        client.clone(),
        config.talos_release.clone(),
        config.talos_assets_base.clone(),
        config.retry_max,
    )));
    let reporter = Reporter {
        controller: "sidero-controller-manager".into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    tracing::info!(env_dir = %config.env_dir.display(), max_concurrent_downloads = config.max_concurrent_downloads, "environment controller started");
    let ctx = Arc::new(Context {
        client,
        config,
        downloader,
        reporter,
        attempts: Mutex::new(HashMap::new()),
    });
    Controller::for_stream(trigger, reader)
        .trigger_backoff(sidero_diagnostics::retry::watch_backoff())
        .shutdown_on_signal()
        .run(
            |e, ctx| crate::metrics::timed("environment", reconcile(e, ctx)),
            error_policy,
            ctx,
        )
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "environment reconcile");
            }
        })
        .await;
    Ok(())
}

fn error_policy(env: Arc<Environment>, err: &Error, ctx: Arc<Context>) -> Action {
    let name = env.name_any();
    let attempt = match ctx.attempts.lock() {
        Ok(mut attempts) => {
            let entry = attempts.entry(name.clone()).or_insert((None, 0));
            if entry.0 != env.metadata.generation {
                *entry = (env.metadata.generation, 0);
            }
            entry.1 = entry.1.saturating_add(1);
            entry.1
        }
        Err(_) => 1,
    };
    let delay = plan::backoff(attempt, ctx.config.retry_min, ctx.config.retry_max);
    tracing::warn!(environment = %name, error = %err, attempt, retry_in = ?delay, "environment reconcile failed");
    Action::requeue(delay)
}

async fn reconcile(env: Arc<Environment>, ctx: Arc<Context>) -> Result<Action, Error> {
    let name = env.name_any();
    let api: Api<Environment> = Api::all(ctx.client.clone());
    let wanted = plan::wanted(&env.spec);
    let mut current = plan::current_conditions(env.status.as_ref()).to_vec();
    let events = Events::new(&ctx, &env);
    tracing::debug!(environment = %name, assets = wanted.len(), "reconciling");

    if let Some(why) = plan::unusable_name(&name) {
        tracing::warn!(environment = %name, "{why}");
        events
            .publish(EventType::Warning, None, "ReservedName", &why)
            .await;
        let none_ready = plan::conditions(&wanted, |_| false);
        set_conditions(&api, &name, &mut current, none_ready).await?;
        return Ok(Action::await_change());
    }
    for asset in plan::missing_urls(&env.spec) {
        let note = format!(
            "{} has no URL: nothing is downloaded or served",
            asset.label()
        );
        events
            .publish(EventType::Warning, Some(asset), "MissingURL", &note)
            .await;
    }

    let dir = ctx.config.env_dir.join(&name);
    if let Err(e) = tokio::fs::create_dir_all(&dir).await {
        let note = format!("creating {}: {e}", dir.display());
        tracing::warn!(environment = %name, "{note}");
        events
            .publish(EventType::Warning, None, "WriteFailed", &note)
            .await;
        let none_ready = plan::conditions(&wanted, |_| false);
        set_conditions(&api, &name, &mut current, none_ready).await?;
        return Err(Error::Assets(wanted.len()));
    }

    let mut decisions = Vec::with_capacity(wanted.len());
    for w in &wanted {
        let exists = is_file(&dir.join(w.asset.file_name())).await;
        decisions.push(plan::decide(w, env.status.as_ref(), exists));
    }
    let mut ready: Vec<bool> = decisions.iter().map(|d| *d == Decision::UpToDate).collect();
    // Withdraw Ready=True from what is about to be replaced before serving stops matching.
    set_conditions(
        &api,
        &name,
        &mut current,
        plan::conditions(&wanted, |i| ready[i]),
    )
    .await?;

    let mut failed = 0;
    let mut jobs = Vec::new();
    for (i, (w, d)) in wanted.iter().zip(&decisions).enumerate() {
        match d {
            Decision::UpToDate => {}
            Decision::Invalid(e) => {
                // Not retried: only a spec change can fix it.
                let note = format!("{} {}: {e}", w.asset.label(), w.url);
                tracing::warn!(environment = %name, "{note}");
                events
                    .publish(EventType::Warning, Some(w.asset), "InvalidChecksum", &note)
                    .await;
            }
            Decision::Download(why) => jobs.push(fetch(&ctx, &name, &dir, w, *why, i)),
        }
    }
    for (i, result) in join_all(jobs).await {
        let Some(w) = wanted.get(i) else { continue };
        match result {
            Ok(fetched) => {
                if let Some(r) = ready.get_mut(i) {
                    *r = true;
                }
                let note = format!(
                    "{} downloaded from {} ({} bytes, sha512 {})",
                    w.asset.label(),
                    w.url,
                    fetched.bytes,
                    fetched.sha512
                );
                events
                    .publish(EventType::Normal, Some(w.asset), "Downloaded", &note)
                    .await;
            }
            Err(e) => {
                failed += 1;
                let note = format!("{} {}: {e}", w.asset.label(), w.url);
                events
                    .publish(EventType::Warning, Some(w.asset), e.reason(), &note)
                    .await;
            }
        }
    }
    set_conditions(
        &api,
        &name,
        &mut current,
        plan::conditions(&wanted, |i| ready[i]),
    )
    .await?;
    if failed > 0 {
        return Err(Error::Assets(failed));
    }
    if let Ok(mut attempts) = ctx.attempts.lock() {
        attempts.remove(&name);
    }
    Ok(Action::await_change())
}

/// Downloads one asset; returns its index in the wanted list with the result.
async fn fetch(
    ctx: &Context,
    name: &str,
    dir: &Path,
    w: &Wanted,
    why: Why,
    index: usize,
) -> (usize, Result<Fetched, DownloadError>) {
    let target = dir.join(w.asset.file_name());
    // Invalid digests were decided earlier and never reach here.
    let expected = w.expected_sha512().ok().flatten();
    tracing::info!(environment = %name, asset = w.asset.label(), url = %w.url, reason = why.as_str(), verify = expected.is_some(), "downloading");
    let started = std::time::Instant::now();
    let result = ctx
        .downloader
        .fetch(&w.url, &target, expected.as_deref())
        .await;
    match &result {
        Ok(f) => {
            tracing::info!(environment = %name, asset = w.asset.label(), url = %w.url, bytes = f.bytes, sha512 = %f.sha512, took = ?started.elapsed(), "downloaded");
        }
        Err(e) => {
            tracing::warn!(environment = %name, asset = w.asset.label(), url = %w.url, reason = e.reason(), error = %e, "download failed; the previous file, if any, is still served");
        }
    }
    (index, result)
}

async fn is_file(path: &Path) -> bool {
    tokio::fs::metadata(path).await.is_ok_and(|m| m.is_file())
}

/// Replaces `status.conditions` with `want` unless equal to `current` (updated on success).
/// A vanished Environment is not an error.
async fn set_conditions(
    api: &Api<Environment>,
    name: &str,
    current: &mut Vec<AssetCondition>,
    want: Vec<AssetCondition>,
) -> Result<(), Error> {
    if *current == want {
        return Ok(());
    }
    let patch = json!({"status": {"conditions": want}});
    match api
        .patch_status(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
    {
        Ok(_) => {
            tracing::debug!(environment = %name, conditions = ?want, "status updated");
            *current = want;
            Ok(())
        }
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Publishes Events about one Environment during one reconcile.
struct Events {
    recorder: Recorder,
    reference: ObjectReference,
}

impl Events {
    fn new(ctx: &Context, env: &Environment) -> Self {
        Self {
            recorder: Recorder::new(ctx.client.clone(), ctx.reporter.clone()),
            reference: env.object_ref(&()),
        }
    }

    /// Publishes an Event; `asset` distinguishes the two assets' Events (the Recorder folds
    /// Events with the same action and reason into one series).
    async fn publish(&self, type_: EventType, asset: Option<Asset>, reason: &str, note: &str) {
        let mut note = note.to_owned();
        if note.len() > MAX_NOTE {
            let mut cut = MAX_NOTE;
            while !note.is_char_boundary(cut) {
                cut -= 1;
            }
            note.truncate(cut);
        }
        let action = match asset {
            None => "Reconcile",
            Some(Asset::Kernel) => "DownloadKernel",
            Some(Asset::Initrd) => "DownloadInitrd",
        };
        let ev = Event {
            type_,
            reason: reason.into(),
            note: Some(note),
            action: action.into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&ev, &self.reference).await {
            tracing::warn!(error = %e, "publishing an event failed");
        }
    }
}
