//! `sideroctl accept|cordon|uncordon <server>`: one merge patch of the Server's spec.

use anyhow::Context;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use sidero_api::metal::v1alpha2::Server;

use crate::{Cli, cluster};

/// A spec change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// `spec.accepted: true` (the server will be wiped).
    Accept,
    /// `spec.cordoned: true` (no new allocations).
    Cordon,
    /// `spec.cordoned: false`.
    Uncordon,
}

impl Change {
    /// The merge patch.
    pub fn patch(self) -> serde_json::Value {
        match self {
            Change::Accept => json!({"spec": {"accepted": true}}),
            Change::Cordon => json!({"spec": {"cordoned": true}}),
            Change::Uncordon => json!({"spec": {"cordoned": false}}),
        }
    }

    /// What the operator reads afterwards.
    pub fn done(self, name: &str) -> String {
        match self {
            Change::Accept => {
                format!("server {name} accepted (it will be wiped, then it can be allocated)")
            }
            Change::Cordon => format!("server {name} cordoned (it will not be allocated)"),
            Change::Uncordon => format!("server {name} uncordoned"),
        }
    }
}

/// Applies `change` to each server.
pub async fn run(cli: &Cli, change: Change, servers: &[String]) -> anyhow::Result<()> {
    let client = cluster::client(cli.kubeconfig.as_deref(), cli.context.as_deref()).await?;
    let api: Api<Server> = Api::all(client.clone());
    for name in servers {
        // Read first: a patch of a missing Server would be a 404 without the name's context.
        cluster::server(&client, name).await?;
        api.patch(name, &PatchParams::default(), &Patch::Merge(change.patch()))
            .await
            .with_context(|| format!("updating server {name:?}"))?;
        println!("{}", change.done(name));
    }
    Ok(())
}
