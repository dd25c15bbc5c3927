//! Loads or creates the installation's SideroLink identity, the `default/siderolink` Secret
//! (spec §8.2), shared with the SideroLink endpoint.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::PostParams;
use kube::{Api, Client};
use sidero_siderolink::{INSTALLATION_ID_KEY, PRIVATE_KEY_KEY, SECRET_NAME, generate_key};

/// The installation identity.
#[derive(Clone, Debug)]
pub struct Identity {
    /// 32 random bytes as base64 text; names the SideroLink subnet.
    pub installation_id: String,
    /// Sidero's WireGuard private key, base64.
    pub private_key: String,
}

/// Why the identity could not be had.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The API server refused or failed.
    #[error("siderolink secret: {0}")]
    Kube(#[from] kube::Error),
    /// The Secret exists but lacks a key.
    #[error("siderolink secret is missing key {0:?}")]
    MissingKey(&'static str),
    /// No randomness for new keys.
    #[error("siderolink secret: {0}")]
    Keys(#[from] sidero_siderolink::Error),
}

fn key(s: &Secret, k: &'static str) -> Result<String, IdentityError> {
    s.data
        .as_ref()
        .and_then(|d| d.get(k))
        .map(|v| String::from_utf8_lossy(&v.0).into_owned())
        .filter(|v| !v.is_empty())
        .ok_or(IdentityError::MissingKey(k))
}

fn identity(s: &Secret) -> Result<Identity, IdentityError> {
    Ok(Identity {
        installation_id: key(s, INSTALLATION_ID_KEY)?,
        private_key: key(s, PRIVATE_KEY_KEY)?,
    })
}

/// Reads the Secret, creating it on first start. A concurrent creator (the other replica or
/// the SideroLink endpoint) wins by `AlreadyExists`, and we read what it wrote.
pub async fn load_or_create(client: &Client) -> Result<Identity, IdentityError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), "default");
    if let Some(s) = api.get_opt(SECRET_NAME).await? {
        return identity(&s);
    }
    let mut s = Secret::default();
    s.metadata.name = Some(SECRET_NAME.into());
    s.metadata.labels = Some(BTreeMap::from([(
        "clusterctl.cluster.x-k8s.io/move".to_string(),
        String::new(),
    )]));
    s.data = Some(BTreeMap::from([
        (
            INSTALLATION_ID_KEY.to_string(),
            ByteString(generate_key()?.into_bytes()),
        ),
        (
            PRIVATE_KEY_KEY.to_string(),
            ByteString(generate_key()?.into_bytes()),
        ),
    ]));
    match api.create(&PostParams::default(), &s).await {
        Ok(created) => identity(&created),
        Err(kube::Error::Api(e)) if e.code == 409 => identity(&api.get(SECRET_NAME).await?),
        Err(e) => Err(e.into()),
    }
}
