//! `Environment` (`metal.sidero.dev/v1alpha2`, storage version): the kernel and initrd a Server
//! network-boots into.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::metal::common::non_empty;

/// Name of the automatically created Environment.
pub const ENVIRONMENT_DEFAULT: &str = "default";
/// `type` of the per-asset status conditions.
pub const CONDITION_READY: &str = "Ready";

/// Kernel arguments Sidero adds to Talos' default arguments in the `default` Environment.
pub const DEFAULT_ENVIRONMENT_EXTRA_ARGS: [&str; 5] = [
    "console=tty0",
    "console=ttyS0",
    "earlyprintk=ttyS0",
    "initrd=initramfs.xz",
    "talos.platform=metal",
];

/// EnvironmentSpec defines the desired state of Environment.
#[derive(
    CustomResource, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema,
)]
#[kube(
    group = "metal.sidero.dev",
    version = "v1alpha2",
    kind = "Environment",
    plural = "environments",
    singular = "environment",
    status = "EnvironmentStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "Environment is the Schema for the environments API.",
    printcolumn = r#"{"name":"Kernel","type":"string","jsonPath":".spec.kernel.url","description":"the kernel for the environment"}"#,
    printcolumn = r#"{"name":"Initrd","type":"string","jsonPath":".spec.initrd.url","description":"the initrd for the environment"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status","description":"indicates the readiness of the environment"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp","description":"The age of this resource"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentSpec {
    /// The kernel to boot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<Kernel>,
    /// The initial ramdisk to boot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initrd: Option<Initrd>,
}

/// Kernel asset and its command line.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Kernel {
    /// Download URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// SHA-512 of the asset (stored, never verified).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha512: Option<String>,
    /// Kernel command line arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
}

/// Initrd asset.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Initrd {
    /// Download URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// SHA-512 of the asset (stored, never verified).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha512: Option<String>,
}

/// EnvironmentStatus defines the observed state of Environment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentStatus {
    /// One condition per asset (kernel, initrd).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<AssetCondition>>,
}

/// Readiness of one downloaded asset, echoing the URL and hash it refers to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssetCondition {
    /// URL of the asset this condition is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// SHA-512 of the asset this condition is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha512: Option<String>,
    /// `True` or `False`.
    pub status: String,
    /// Always `Ready`.
    #[serde(rename = "type")]
    pub type_: String,
}

impl EnvironmentSpec {
    /// The `default` Environment's spec for a Talos release (e.g. `v1.13.0`): amd64 assets from
    /// the Talos GitHub release, and `talos_default_args` (Talos' own default kernel arguments
    /// for that release) plus [`DEFAULT_ENVIRONMENT_EXTRA_ARGS`], sorted.
    pub fn talos_default<I, S>(talos_release: &str, talos_default_args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut args: Vec<String> = talos_default_args.into_iter().map(Into::into).collect();
        args.extend(
            DEFAULT_ENVIRONMENT_EXTRA_ARGS
                .iter()
                .map(|a| (*a).to_owned()),
        );
        args.sort();
        let base = format!("https://github.com/siderolabs/talos/releases/download/{talos_release}");
        Self {
            kernel: Some(Kernel {
                url: Some(format!("{base}/vmlinuz-amd64")),
                sha512: None,
                args: Some(args),
            }),
            initrd: Some(Initrd {
                url: Some(format!("{base}/initramfs-amd64.xz")),
                sha512: None,
            }),
        }
    }

    /// The kernel URL, if set and non-empty.
    pub fn kernel_url(&self) -> Option<&str> {
        non_empty(self.kernel.as_ref()?.url.as_deref())
    }

    /// The initrd URL, if set and non-empty.
    pub fn initrd_url(&self) -> Option<&str> {
        non_empty(self.initrd.as_ref()?.url.as_deref())
    }

    /// The kernel arguments (empty when unset).
    pub fn kernel_args(&self) -> &[String] {
        self.kernel
            .as_ref()
            .and_then(|k| k.args.as_deref())
            .unwrap_or_default()
    }
}

impl AssetCondition {
    /// A `Ready` condition for the asset at `url`.
    pub fn ready(url: &str, sha512: Option<&str>, ready: bool) -> Self {
        Self {
            url: Some(url.to_owned()),
            sha512: sha512.map(str::to_owned),
            status: if ready { "True" } else { "False" }.to_owned(),
            type_: CONDITION_READY.to_owned(),
        }
    }

    /// Whether this is a `Ready=True` condition.
    pub fn is_ready_true(&self) -> bool {
        self.type_ == CONDITION_READY && self.status == "True"
    }
}

impl Environment {
    /// Name of the automatically created Environment.
    pub const DEFAULT: &'static str = ENVIRONMENT_DEFAULT;

    /// Aggregated readiness: every non-empty asset URL in the spec (kernel, initrd) has a
    /// `Ready=True` condition with the same URL. An Environment without URLs is ready.
    pub fn is_ready(&self) -> bool {
        let conditions = self
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_deref())
            .unwrap_or_default();
        [self.spec.kernel_url(), self.spec.initrd_url()]
            .into_iter()
            .flatten()
            .all(|url| {
                conditions
                    .iter()
                    .any(|c| c.is_ready_true() && c.url.as_deref().unwrap_or_default() == url)
            })
    }
}
