//! Pure decisions of the Environment controller: which assets an Environment wants, which of
//! them must be (re-)downloaded given the status and the files on disk, the conditions to
//! publish, the retry backoff and the `default` Environment's kernel arguments per Talos release.

use std::time::Duration;

use sidero_api::metal::v1alpha2::{AssetCondition, EnvironmentSpec, EnvironmentStatus};

/// Names of the agent environments, whose files ship in the image under the same directory
/// scheme: an Environment with one of these names must not overwrite them.
pub const RESERVED_NAMES: [&str; 2] = ["agent-amd64", "agent-arm64"];

/// One of the two boot assets of an Environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Asset {
    /// The kernel, stored as `vmlinuz`.
    Kernel,
    /// The initial ramdisk, stored as `initramfs.xz`.
    Initrd,
}

impl Asset {
    /// Both assets, in the order their conditions are published.
    pub const ALL: [Asset; 2] = [Asset::Kernel, Asset::Initrd];

    /// File name inside `<env_dir>/<environment>/`.
    pub fn file_name(self) -> &'static str {
        match self {
            Asset::Kernel => "vmlinuz",
            Asset::Initrd => "initramfs.xz",
        }
    }

    /// Lower-case name used in logs and Events.
    pub fn label(self) -> &'static str {
        match self {
            Asset::Kernel => "kernel",
            Asset::Initrd => "initrd",
        }
    }

    /// The asset's URL and SHA-512 in `spec`, as written there.
    fn source(self, spec: &EnvironmentSpec) -> (Option<&str>, Option<&str>) {
        match self {
            Asset::Kernel => (
                spec.kernel_url(),
                spec.kernel.as_ref().and_then(|k| k.sha512.as_deref()),
            ),
            Asset::Initrd => (
                spec.initrd_url(),
                spec.initrd.as_ref().and_then(|i| i.sha512.as_deref()),
            ),
        }
    }
}

/// An asset the spec asks for: a non-empty URL and the SHA-512 as written in the spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted {
    /// Which asset.
    pub asset: Asset,
    /// Where to download it from.
    pub url: String,
    /// The SHA-512 exactly as written in the spec (echoed in the condition).
    pub sha512: Option<String>,
}

impl Wanted {
    /// The expected digest in lower-case hex, `None` when the spec gives none.
    pub fn expected_sha512(&self) -> Result<Option<String>, InvalidSha512> {
        normalize_sha512(self.sha512.as_deref())
    }
}

/// The assets of `spec` that have a URL, kernel first.
pub fn wanted(spec: &EnvironmentSpec) -> Vec<Wanted> {
    Asset::ALL
        .into_iter()
        .filter_map(|asset| {
            let (url, sha512) = asset.source(spec);
            url.map(|url| Wanted {
                asset,
                url: url.to_owned(),
                sha512: sha512.map(str::to_owned),
            })
        })
        .collect()
}

/// The assets of `spec` without a URL (nothing to download, nothing can be served).
pub fn missing_urls(spec: &EnvironmentSpec) -> Vec<Asset> {
    Asset::ALL
        .into_iter()
        .filter(|a| a.source(spec).0.is_none())
        .collect()
}

/// A `sha512` in the spec that is not 128 hexadecimal digits.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("sha512 {0:?} is not 128 hexadecimal digits")]
pub struct InvalidSha512(pub String);

/// Lower-case hex of a spec `sha512` (surrounding white space ignored); `None` when empty.
pub fn normalize_sha512(sha512: Option<&str>) -> Result<Option<String>, InvalidSha512> {
    let Some(raw) = sha512.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if raw.len() == 128 && raw.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(Some(raw.to_ascii_lowercase()))
    } else {
        Err(InvalidSha512(raw.to_owned()))
    }
}

/// What to do about one wanted asset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The file is there and a `Ready=True` condition vouches for this URL and hash.
    UpToDate,
    /// Fetch it (again).
    Download(Why),
    /// The spec's `sha512` is unusable; the user must fix it.
    Invalid(InvalidSha512),
}

/// Why an asset is downloaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    /// The file is not on disk (first reconcile, or a fresh pod).
    FileMissing,
    /// No condition mentions this URL: the URL changed.
    UrlChanged,
    /// A condition mentions the URL, but it is not `Ready=True` or was for another hash.
    NotReady,
}

impl Why {
    /// Short explanation for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Why::FileMissing => "file missing",
            Why::UrlChanged => "url changed",
            Why::NotReady => "not ready for this url and sha512",
        }
    }
}

/// Decides whether `want` must be downloaded.
///
/// Upstream considers an asset ready when its file exists and *any* condition carries its
/// URL; here the condition must also be `Ready=True` for the same `sha512`, so a failed
/// download or a changed hash is retried even though an (older) file exists.
pub fn decide(want: &Wanted, status: Option<&EnvironmentStatus>, file_exists: bool) -> Decision {
    let expected = match want.expected_sha512() {
        Ok(e) => e,
        Err(e) => return Decision::Invalid(e),
    };
    if !file_exists {
        return Decision::Download(Why::FileMissing);
    }
    let conditions = status
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default();
    let mut mentioned = false;
    for c in conditions
        .iter()
        .filter(|c| c.url.as_deref() == Some(want.url.as_str()))
    {
        mentioned = true;
        let same_hash = normalize_sha512(c.sha512.as_deref()).ok() == Some(expected.clone());
        if c.is_ready_true() && same_hash {
            return Decision::UpToDate;
        }
    }
    Decision::Download(if mentioned {
        Why::NotReady
    } else {
        Why::UrlChanged
    })
}

/// The conditions to publish, one per wanted asset in order: `Ready=True` where `ready(i)`
/// holds for the `i`-th wanted asset.
pub fn conditions(wanted: &[Wanted], ready: impl Fn(usize) -> bool) -> Vec<AssetCondition> {
    wanted
        .iter()
        .enumerate()
        .map(|(i, w)| AssetCondition::ready(&w.url, w.sha512.as_deref(), ready(i)))
        .collect()
}

/// The current conditions of `status` (empty when none).
pub fn current_conditions(status: Option<&EnvironmentStatus>) -> &[AssetCondition] {
    status
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default()
}

/// Why an Environment's name cannot be used as a directory, if it cannot.
pub fn unusable_name(name: &str) -> Option<String> {
    if RESERVED_NAMES.contains(&name) {
        return Some(format!(
            "environment name {name:?} is reserved for the agent environment, whose files it \
             would overwrite; use another name"
        ));
    }
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Some(format!("environment name {name:?} is not a directory name"));
    }
    None
}

/// Delay before retry `attempt` (1-based): `min` doubled per attempt, at most `max`.
pub fn backoff(attempt: u32, min: Duration, max: Duration) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(31));
    min.saturating_mul(factor).min(max)
}

/// `(major, minor)` of a Talos release such as `v1.13.0` or `1.10.2-beta.0`.
fn talos_version(release: &str) -> Option<(u64, u64)> {
    let core = release.trim().trim_start_matches('v');
    let core = core.split(['-', '+']).next().unwrap_or_default();
    let mut parts = core.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().map_or(Some(0), |m| m.parse().ok())?;
    Some((major, minor))
}

/// Talos machinery's default kernel arguments for `talos_release` (Talos `DefaultArgs` with
/// its version quirks): IMA arguments up to v1.10, `selinux=1` from v1.10,
/// `module.sig_enforce=1` from v1.12 and `proc_mem.force_override=never` from v1.13. A release
/// that does not parse is taken as the latest, as Talos does.
pub fn talos_default_args(talos_release: &str) -> Vec<&'static str> {
    let version = talos_version(talos_release);
    let at_least = |minor: u64| version.is_none_or(|v| v >= (1, minor));
    let mut args = vec![
        "init_on_alloc=1",
        "slab_nomerge=",
        "pti=on",
        "consoleblank=0",
        "nvme_core.io_timeout=4294967295",
        "printk.devkmsg=on",
    ];
    if !at_least(11) {
        args.extend(["ima_template=ima-ng", "ima_appraise=fix", "ima_hash=sha512"]);
    }
    if at_least(10) {
        args.push("selinux=1");
    }
    if at_least(12) {
        args.push("module.sig_enforce=1");
    }
    if at_least(13) {
        args.push("proc_mem.force_override=never");
    }
    args
}

/// The `default` Environment's spec for `talos_release` (spec §2.3).
pub fn default_spec(talos_release: &str) -> EnvironmentSpec {
    EnvironmentSpec::talos_default(talos_release, talos_default_args(talos_release))
}

/// Where upstream's `default` Environment downloads Talos releases from.
pub const UPSTREAM_ASSETS_BASE: &str = "https://github.com/siderolabs/talos/releases/download";

/// [`default_spec`] with the release assets fetched from `assets_base` instead of GitHub
/// (an air-gapped mirror; tests and the local lab point it at loopback).
pub fn default_spec_from(assets_base: &str, talos_release: &str) -> EnvironmentSpec {
    let mut spec = default_spec(talos_release);
    let base = assets_base.trim_end_matches('/');
    let rebase = |url: &mut Option<String>| {
        if let Some(u) = url.as_mut()
            && let Some(rest) = u.strip_prefix(UPSTREAM_ASSETS_BASE)
        {
            *u = format!("{base}{rest}");
        }
    };
    if let Some(k) = spec.kernel.as_mut() {
        rebase(&mut k.url);
    }
    if let Some(i) = spec.initrd.as_mut() {
        rebase(&mut i.url);
    }
    spec
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
