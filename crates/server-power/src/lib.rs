//! A Server's power client (spec §9.1), as the Server controller and `sideroctl` both build
//! it: `spec.bmc` credentials are resolved (inline value, else the `userFrom`/`passFrom`
//! Secret key), then [`sidero_power::select_power_manager`] picks IPMI, Redfish, the
//! management API or "not managed". Errors name the Secret and key, never their values.

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};
use sidero_api::metal::common::{Bmc, Credential};
use sidero_api::metal::v1alpha2::Server;
use sidero_power::{BmcInfo, NotManagedReason, PowerManager, SelectOptions, select_power_manager};

/// Why a Server's power client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// A `*From` source without `secretKeyRef`.
    #[error("{field}: missing secretKeyRef")]
    MissingSecretKeyRef {
        /// `spec.bmc.userFrom` or `spec.bmc.passFrom`.
        field: &'static str,
    },
    /// The referenced Secret could not be read.
    #[error("error getting secret {namespace}/{name} (for {field}): {source}")]
    SecretRead {
        /// Which credential.
        field: &'static str,
        /// Secret namespace.
        namespace: String,
        /// Secret name.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// The Secret exists but lacks the key.
    #[error("secret key {key:?} is missing in secret {namespace}/{name} (for {field})")]
    MissingKey {
        /// Which credential.
        field: &'static str,
        /// Secret namespace.
        namespace: String,
        /// Secret name.
        name: String,
        /// The missing key.
        key: String,
    },
    /// The client could not be created from the resolved settings.
    #[error(transparent)]
    Power(#[from] sidero_power::PowerError),
}

/// A Server's power client and, when it is the no-management client, why.
#[derive(Debug)]
pub struct ServerPower {
    /// The client.
    pub manager: Box<dyn PowerManager>,
    /// Set when the server is not power managed.
    pub not_managed: Option<NotManagedReason>,
}

/// Resolves one credential: inline wins, else the referenced Secret key.
async fn credential(
    client: &Client,
    field: &'static str,
    c: Credential<'_>,
) -> Result<String, ResolveError> {
    let src = match c {
        Credential::Inline(v) => return Ok(v.to_string()),
        Credential::Empty => return Ok(String::new()),
        Credential::From(src) => src,
    };
    let r = src
        .secret_key_ref()
        .map_err(|_| ResolveError::MissingSecretKeyRef { field })?;
    let secret = Api::<Secret>::namespaced(client.clone(), &r.namespace)
        .get(&r.name)
        .await
        .map_err(|source| ResolveError::SecretRead {
            field,
            namespace: r.namespace.clone(),
            name: r.name.clone(),
            source,
        })?;
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(&r.key))
        .map(|v| String::from_utf8_lossy(&v.0).into_owned())
        .ok_or_else(|| ResolveError::MissingKey {
            field,
            namespace: r.namespace.clone(),
            name: r.name.clone(),
            key: r.key.clone(),
        })
}

/// `spec.bmc` with its credentials resolved.
pub async fn bmc_info(client: &Client, bmc: &Bmc) -> Result<BmcInfo, ResolveError> {
    Ok(BmcInfo {
        endpoint: bmc.endpoint.clone(),
        port: bmc.port.and_then(|p| u16::try_from(p).ok()),
        user: credential(client, "spec.bmc.userFrom", bmc.user()).await?,
        pass: credential(client, "spec.bmc.passFrom", bmc.pass()).await?,
        interface: bmc.interface.clone(),
    })
}

/// Why a server with these settings has no power management, if it has none (§9.1: no BMC
/// and no management API, or a BMC whose user or password is still empty).
pub fn not_managed(
    bmc: Option<&BmcInfo>,
    management_api: Option<&str>,
) -> Option<NotManagedReason> {
    match (bmc, management_api) {
        (Some(b), _) if b.user.is_empty() || b.pass.is_empty() => {
            Some(NotManagedReason::BmcCredentialsIncomplete)
        }
        (None, None | Some("")) => Some(NotManagedReason::NoBmcOrApi),
        _ => None,
    }
}

/// Builds the power client of `server` (§9.1).
pub async fn server_power(
    client: &Client,
    server: &Server,
    select: &SelectOptions,
) -> Result<ServerPower, ResolveError> {
    let bmc = match &server.spec.bmc {
        Some(b) => Some(bmc_info(client, b).await?),
        None => None,
    };
    let api = server
        .spec
        .management_api
        .as_ref()
        .map(|m| m.endpoint.as_str());
    let not_managed = not_managed(bmc.as_ref(), api);
    let manager = select_power_manager(bmc.as_ref(), api, select)?;
    Ok(ServerPower {
        manager,
        not_managed,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn bmc(user: &str, pass: &str) -> BmcInfo {
        BmcInfo {
            endpoint: "10.0.0.9".into(),
            user: user.into(),
            pass: pass.into(),
            ..BmcInfo::default()
        }
    }

    #[test]
    fn not_managed_table() {
        use NotManagedReason::*;
        let cases: [(Option<BmcInfo>, Option<&str>, Option<NotManagedReason>); 7] = [
            (None, None, Some(NoBmcOrApi)),
            (None, Some(""), Some(NoBmcOrApi)),
            (None, Some("10.0.0.5:8080"), None),
            (Some(bmc("admin", "pw")), None, None),
            (Some(bmc("", "pw")), None, Some(BmcCredentialsIncomplete)),
            (
                Some(bmc("admin", "")),
                Some("10.0.0.5:8080"),
                Some(BmcCredentialsIncomplete),
            ),
            (Some(bmc("admin", "pw")), Some("10.0.0.5:8080"), None),
        ];
        for (b, api, want) in cases {
            assert_eq!(not_managed(b.as_ref(), api), want, "{b:?} {api:?}");
        }
    }

    #[test]
    fn errors_name_the_secret_and_never_a_value() {
        let e = ResolveError::MissingKey {
            field: "spec.bmc.passFrom",
            namespace: "default".into(),
            name: "bmc-1".into(),
            key: "pass".into(),
        };
        assert_eq!(
            e.to_string(),
            "secret key \"pass\" is missing in secret default/bmc-1 (for spec.bmc.passFrom)"
        );
    }
}
