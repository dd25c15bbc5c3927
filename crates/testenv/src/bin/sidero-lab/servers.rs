//! The lab's servers. This stage registers them the way the discovery agent does (the Agent
//! API: CreateServer with SMBIOS data, then MarkServerAsWiped once the manager has accepted
//! them); QEMU machines booting the real agent behind ipmi_sim BMCs replace these calls next.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::{Api, Client};
use sidero_proto::api;
use sidero_proto::api::agent_client::AgentClient;

/// One simulated machine: its SMBIOS UUID and product name (which selects its ServerClass).
pub struct Machine {
    /// SMBIOS system UUID, the Server's name.
    pub uuid: &'static str,
    /// SMBIOS product name.
    pub product: &'static str,
}

/// The three machines: one for the control plane, two workers.
pub const MACHINES: [Machine; 3] = [
    Machine {
        uuid: "4c4c4544-0000-4000-8000-000000000c01",
        product: "lab-cp",
    },
    Machine {
        uuid: "4c4c4544-0000-4000-8000-000000000a01",
        product: "lab-worker",
    },
    Machine {
        uuid: "4c4c4544-0000-4000-8000-000000000a02",
        product: "lab-worker",
    },
];

fn servers(client: &Client) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "metal.sidero.dev",
        "v1alpha2",
        "Server",
    ));
    Api::all_with(client.clone(), &ar)
}

/// The Server's `status` as JSON (null while it has none).
async fn status(client: &Client, uuid: &str) -> anyhow::Result<serde_json::Value> {
    Ok(servers(client)
        .get_opt(uuid)
        .await?
        .map(|s| s.data["status"].clone())
        .unwrap_or_default())
}

async fn wait_for(
    what: &str,
    limit: Duration,
    mut check: impl AsyncFnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let start = Instant::now();
    while !check().await? {
        if start.elapsed() > limit {
            bail!("{what}: not within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(())
}

/// Registers `m` through the Agent API at `endpoint` (auto-accepted by the manager), waits
/// until the Server controller has seen it, reports the wipe and waits until it is clean.
pub async fn discover(client: &Client, endpoint: &str, m: &Machine) -> anyhow::Result<()> {
    let mut agent = AgentClient::connect(endpoint.to_string())
        .await
        .with_context(|| format!("connecting to the Agent API at {endpoint}"))?;
    let hardware = api::HardwareInformation {
        system: Some(api::SystemInformation {
            uuid: m.uuid.into(),
            manufacturer: "QEMU".into(),
            product_name: m.product.into(),
            serial_number: m.uuid[m.uuid.len() - 4..].into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    agent
        .create_server(api::CreateServerRequest {
            hardware: Some(hardware),
            hostname: String::new(),
        })
        .await
        .with_context(|| format!("CreateServer for {}", m.uuid))?;
    // The controller marks an accepted, dirty server for wiping; a real agent wipes then.
    wait_for(
        "the Server controller to start the wipe",
        Duration::from_secs(60),
        async || {
            let st = status(client, m.uuid).await?;
            Ok(st["conditions"]
                .as_array()
                .is_some_and(|cs| cs.iter().any(|c| c["type"] == "PowerCycle")))
        },
    )
    .await?;
    agent
        .mark_server_as_wiped(api::MarkServerAsWipedRequest {
            uuid: m.uuid.into(),
        })
        .await
        .with_context(|| format!("MarkServerAsWiped for {}", m.uuid))?;
    wait_for(
        "the Server to be clean",
        Duration::from_secs(60),
        async || {
            let st = status(client, m.uuid).await?;
            Ok(st["isClean"] == true && st["ready"] == true)
        },
    )
    .await
}
