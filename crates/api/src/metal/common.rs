//! Types whose schema is identical in `metal.sidero.dev/v1alpha1` and `v1alpha2`: BMC access,
//! the management API, JSON patches, and the string enums the validating webhook checks.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Port used for IPMI when `spec.bmc.port` is unset or zero.
pub const DEFAULT_BMC_PORT: u32 = 623;

/// `ipmitool` interface used when `spec.bmc.interface` is unset or empty.
pub const DEFAULT_BMC_INTERFACE: &str = "lanplus";

/// How to reach a server's BMC with `ipmitool`.
///
/// Inline `user`/`pass` take precedence; the matching `*From` reference is only resolved when
/// the inline value is empty (see [`Bmc::user`] and [`Bmc::pass`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Bmc {
    /// BMC endpoint.
    pub endpoint: String,
    /// BMC port. Defaults to 623.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::schema::int32")]
    pub port: Option<u32>,
    /// BMC user value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Source for the user value. Cannot be used if User is not empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_from: Option<CredentialSource>,
    /// BMC password value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass: Option<String>,
    /// Source for the password value. Cannot be used if Pass is not empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pass_from: Option<CredentialSource>,
    /// BMC Interface Type. Defaults to lanplus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
}

/// Where a BMC credential comes from, after applying the inline-first precedence rule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Credential<'a> {
    /// A non-empty inline value.
    Inline(&'a str),
    /// The inline value is empty; resolve this reference (it may lack `secretKeyRef`).
    From(&'a CredentialSource),
    /// Neither is set: the credential is the empty string.
    Empty,
}

impl Bmc {
    /// The port to use: `port`, or [`DEFAULT_BMC_PORT`] when unset or zero.
    pub fn port_or_default(&self) -> u32 {
        match self.port {
            Some(port) if port != 0 => port,
            _ => DEFAULT_BMC_PORT,
        }
    }

    /// The `ipmitool` interface to use: `interface`, or [`DEFAULT_BMC_INTERFACE`] when empty.
    pub fn interface_or_default(&self) -> &str {
        non_empty(self.interface.as_deref()).unwrap_or(DEFAULT_BMC_INTERFACE)
    }

    /// Where the user name comes from.
    pub fn user(&self) -> Credential<'_> {
        Credential::pick(self.user.as_deref(), self.user_from.as_ref())
    }

    /// Where the password comes from.
    pub fn pass(&self) -> Credential<'_> {
        Credential::pick(self.pass.as_deref(), self.pass_from.as_ref())
    }
}

impl<'a> Credential<'a> {
    fn pick(inline: Option<&'a str>, from: Option<&'a CredentialSource>) -> Self {
        match (non_empty(inline), from) {
            (Some(value), _) => Credential::Inline(value),
            (None, Some(source)) => Credential::From(source),
            (None, None) => Credential::Empty,
        }
    }
}

/// A reference to a credential value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialSource {
    /// SecretKeyRef defines a ref to a given key within a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<SecretKeyRef>,
}

/// A `*From` credential source without `secretKeyRef`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("missing secretKeyRef")]
pub struct MissingSecretKeyRef;

impl CredentialSource {
    /// The secret key to read, or the error upstream reports when it is absent.
    pub fn secret_key_ref(&self) -> Result<&SecretKeyRef, MissingSecretKeyRef> {
        self.secret_key_ref.as_ref().ok_or(MissingSecretKeyRef)
    }
}

/// A reference to one key of a Secret.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Namespace of the credential secret.
    pub namespace: String,
    /// Name of the credential secret.
    pub name: String,
    /// Key to select.
    pub key: String,
}

/// How to reach a (simulated) machine's power API over plain HTTP.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagementApi {
    /// `host:port` of the power API.
    pub endpoint: String,
}

/// One RFC 6902 JSON patch operation applied to the Talos machine configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigPatch {
    /// Operation: add, remove, replace, copy, move or test (checked by the validating webhook).
    pub op: String,
    /// JSON pointer to the target location.
    pub path: String,
    /// Value for `add`, `replace` and `test` (free-form JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::any_json_opt")]
    pub value: Option<serde_json::Value>,
}

impl ConfigPatch {
    /// The operations the validating webhook accepts, in the order its error detail lists them.
    pub const VALID_OPS: [&'static str; 6] = ["add", "copy", "move", "remove", "replace", "test"];

    /// Whether `op` is one of [`ConfigPatch::VALID_OPS`].
    pub fn has_valid_op(&self) -> bool {
        Self::VALID_OPS.contains(&self.op.as_str())
    }
}

/// A string that is not one of an enum's allowed values.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid value {value:?}, valid values are: {valid:?}")]
pub struct InvalidValue {
    /// The rejected value.
    pub value: String,
    /// The accepted values.
    pub valid: &'static [&'static str],
}

/// Declares a string enum stored as a plain `string` in the CRD (upstream declares no schema
/// enum; the validating webhook rejects other values with `Invalid value`).
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in upstream's documentation order.
            pub const ALL: &'static [&'static str] = &[$($text),+];

            /// The wire spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }

        impl FromStr for $name {
            type Err = InvalidValue;

            fn from_str(value: &str) -> Result<Self, InvalidValue> {
                match value {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(InvalidValue { value: value.to_owned(), valid: Self::ALL }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum! {
    /// How iPXE leaves the network boot to boot from the local disk.
    BootFromDiskMethod {
        /// `exit` from iPXE (the firmware tries the next boot device).
        IpxeExit => "ipxe-exit",
        /// Answer the iPXE script request with HTTP 404.
        Http404 => "http-404",
        /// `sanboot` the first local disk.
        IpxeSanboot => "ipxe-sanboot",
    }
}

string_enum! {
    /// Which boot-device flavor IPMI requests for PXE.
    PxeMode {
        /// UEFI PXE boot.
        Uefi => "uefi",
        /// Legacy BIOS PXE boot.
        Bios => "bios",
    }
}

/// Parses an optional enum field: `Ok(None)` when unset or empty (meaning "inherit").
pub fn parse_optional<T: FromStr<Err = InvalidValue>>(
    value: Option<&str>,
) -> Result<Option<T>, InvalidValue> {
    non_empty(value).map(str::parse).transpose()
}

/// `Some` only for a non-empty string.
pub(crate) fn non_empty(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.is_empty())
}
