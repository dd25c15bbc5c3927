//! `sideroctl describe server <uuid>`: the server's facts, a "waiting for / stuck at" line,
//! and a timeline of everything the cluster knows about it, oldest first: creation, the
//! Server's, ServerBinding's and MetalMachine's conditions (at their lastTransitionTime) and
//! the Kubernetes Events on all three (agent check-ins, wipe, power actions and results,
//! allocation, config and SideroLink events as the controllers report them).

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams};
use sidero_api::condition::Condition;
use sidero_api::infra::v1alpha3::{MetalMachine, ServerBinding};
use sidero_api::metal::v1alpha2::{Server, ServerClass};

use crate::explain::{Facts, explain};
use crate::{Cli, cluster, get};

/// `describe` arguments.
#[derive(Args, Debug)]
pub struct DescribeArgs {
    /// What to describe: `server`.
    #[arg(value_parser = ["server", "servers", "srv"])]
    kind: String,
    /// Server name (its UUID).
    name: String,
    /// The manager's `--server-reboot-timeout`: a wipe unreported for longer is "stuck".
    #[arg(long, default_value = "20m", value_parser = crate::duration)]
    server_reboot_timeout: Duration,
}

/// One timeline line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// When.
    pub at: jiff::Timestamp,
    /// `Server`, `ServerBinding`, `MetalMachine`.
    pub source: String,
    /// What happened.
    pub text: String,
}

fn condition_entries(source: &str, conditions: &[Condition]) -> Vec<Entry> {
    conditions
        .iter()
        .map(|c| {
            let mut text = format!("condition {}={}", c.type_, c.status);
            if let Some(r) = c.reason.as_deref().filter(|r| !r.is_empty()) {
                text.push_str(&format!(" {r}"));
            }
            if let Some(m) = c.message.as_deref().filter(|m| !m.is_empty()) {
                text.push_str(&format!(": {m}"));
            }
            Entry {
                at: c.last_transition_time.0,
                source: source.into(),
                text,
            }
        })
        .collect()
}

/// When an Event happened last (events.k8s.io series, core timestamps, or creation).
pub fn event_time(e: &Event) -> Option<jiff::Timestamp> {
    e.series
        .as_ref()
        .and_then(|s| s.last_observed_time.as_ref().map(|t| t.0))
        .or(e.last_timestamp.as_ref().map(|t| t.0))
        .or(e.event_time.as_ref().map(|t| t.0))
        .or(e.first_timestamp.as_ref().map(|t| t.0))
        .or(e.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

fn event_entry(e: &Event) -> Option<Entry> {
    let count = e
        .series
        .as_ref()
        .and_then(|s| s.count)
        .or(e.count)
        .unwrap_or(1);
    let mut text = format!(
        "event {} {}: {}",
        e.type_.as_deref().unwrap_or("Normal"),
        e.reason.as_deref().unwrap_or_default(),
        e.message.as_deref().unwrap_or_default()
    );
    if count > 1 {
        text.push_str(&format!(" (x{count})"));
    }
    Some(Entry {
        at: event_time(e)?,
        source: e.involved_object.kind.clone().unwrap_or_default(),
        text,
    })
}

/// The timeline, oldest first (ties keep source order: creation before conditions).
pub fn timeline(
    server: &Server,
    binding: Option<&ServerBinding>,
    machine: Option<&MetalMachine>,
    events: &[Event],
) -> Vec<Entry> {
    let mut out = Vec::new();
    if let Some(t) = &server.metadata.creation_timestamp {
        out.push(Entry {
            at: t.0,
            source: "Server".into(),
            text: "created (registered by the agent, or by hand)".into(),
        });
    }
    if let Some(c) = server.status.as_ref().and_then(|s| s.conditions.as_ref()) {
        out.extend(condition_entries("Server", c));
    }
    if let Some(b) = binding {
        if let Some(t) = &b.metadata.creation_timestamp {
            let mm = &b.spec.metal_machine_ref;
            out.push(Entry {
                at: t.0,
                source: "ServerBinding".into(),
                text: format!(
                    "allocated to MetalMachine {}/{}",
                    mm.namespace.as_deref().unwrap_or_default(),
                    mm.name.as_deref().unwrap_or_default()
                ),
            });
        }
        if let Some(s) = &b.status {
            out.extend(condition_entries("ServerBinding", &s.conditions));
        }
    }
    if let Some(s) = machine.and_then(|m| m.status.as_ref()) {
        out.extend(condition_entries("MetalMachine", &s.conditions));
    }
    out.extend(events.iter().filter_map(event_entry));
    out.sort_by_key(|e| e.at);
    out
}

/// Renders the description.
pub fn render(
    server: &Server,
    classes: &[String],
    binding: Option<&ServerBinding>,
    state: &str,
    entries: &[Entry],
) -> String {
    let status = server.status.clone().unwrap_or_default();
    let yn = |b: bool| if b { "yes" } else { "no" };
    let power_via = match (&server.spec.bmc, &server.spec.management_api) {
        (Some(b), _) => format!("BMC {}:{}", b.endpoint, b.port.unwrap_or(623)),
        (None, Some(m)) => format!("management API {}", m.endpoint),
        (None, None) => "no BMC".into(),
    };
    let addresses: Vec<String> = status
        .addresses
        .iter()
        .flatten()
        .map(|a| format!("{} ({})", a.address, a.type_))
        .collect();
    let mut out = String::new();
    let mut field = |k: &str, v: String| out.push_str(&format!("{k:<13}{v}\n"));
    field("Name:", server.metadata.name.clone().unwrap_or_default());
    field(
        "Hostname:",
        server.spec.hostname.clone().unwrap_or_else(|| "-".into()),
    );
    field("Accepted:", yn(server.spec.accepted).into());
    field("Cordoned:", yn(server.spec.is_cordoned()).into());
    field("Allocated:", yn(status.in_use).into());
    field("Clean:", yn(status.is_clean).into());
    field(
        "Power:",
        format!(
            "{} ({power_via})",
            status.power.as_deref().unwrap_or("unknown")
        ),
    );
    field(
        "Classes:",
        if classes.is_empty() {
            "-".into()
        } else {
            classes.join(", ")
        },
    );
    field(
        "Addresses:",
        if addresses.is_empty() {
            "-".into()
        } else {
            addresses.join(", ")
        },
    );
    field(
        "Environment:",
        server
            .spec
            .environment_name()
            .unwrap_or("(from its class, else default)")
            .into(),
    );
    field(
        "Binding:",
        binding.map_or_else(
            || "-".into(),
            |b| {
                let mm = &b.spec.metal_machine_ref;
                format!(
                    "MetalMachine {}/{}",
                    mm.namespace.as_deref().unwrap_or_default(),
                    mm.name.as_deref().unwrap_or_default()
                )
            },
        ),
    );
    field("State:", state.into());
    out.push_str("\nTimeline:\n");
    if entries.is_empty() {
        out.push_str("  (nothing recorded)\n");
    }
    for e in entries {
        out.push_str(&format!(
            "  {}  {:<14} {}\n",
            e.at.strftime("%Y-%m-%d %H:%M:%S"),
            e.source,
            e.text
        ));
    }
    out
}

async fn events_about(
    client: &kube::Client,
    name: &str,
    kinds: &[&str],
) -> anyhow::Result<Vec<Event>> {
    let list = Api::<Event>::all(client.clone())
        .list(&ListParams::default().fields(&format!("involvedObject.name={name}")))
        .await
        .context("listing events")?;
    Ok(list
        .items
        .into_iter()
        .filter(|e| {
            e.involved_object
                .kind
                .as_deref()
                .is_some_and(|k| kinds.contains(&k))
        })
        .collect())
}

/// Runs `describe server`.
pub async fn run(cli: &Cli, args: &DescribeArgs) -> anyhow::Result<()> {
    let client = cluster::client(cli.kubeconfig.as_deref(), cli.context.as_deref()).await?;
    let server = cluster::server(&client, &args.name).await?;
    let binding = Api::<ServerBinding>::all(client.clone())
        .get_opt(&args.name)
        .await
        .context("reading the server binding")?;
    let machine = match binding.as_ref().map(|b| &b.spec.metal_machine_ref) {
        Some(r) => match (r.namespace.as_deref(), r.name.as_deref()) {
            (Some(ns), Some(n)) => Api::<MetalMachine>::namespaced(client.clone(), ns)
                .get_opt(n)
                .await
                .context("reading the metal machine")?,
            _ => None,
        },
        None => None,
    };
    let mut events = events_about(&client, &args.name, &["Server", "ServerBinding"]).await?;
    if let Some(m) = &machine {
        let name = m.metadata.name.clone().unwrap_or_default();
        events.extend(events_about(&client, &name, &["MetalMachine"]).await?);
    }
    let classes = Api::<ServerClass>::all(client)
        .list(&ListParams::default())
        .await
        .context("listing server classes")?
        .items;
    let classes = get::classes_by_server(&classes)
        .remove(&args.name)
        .unwrap_or_default();
    let facts = Facts::of(&server, binding.as_ref(), jiff::Timestamp::now());
    let state = explain(&facts, args.server_reboot_timeout).to_string();
    let entries = timeline(&server, binding.as_ref(), machine.as_ref(), &events);
    print!(
        "{}",
        render(&server, &classes, binding.as_ref(), &state, &entries)
    );
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_timeline_is_sorted_and_complete() {
        let server: Server = serde_json::from_value(json!({
            "apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
            "metadata": {"name": "u1", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"accepted": true},
            "status": {"ready": false, "inUse": false, "isClean": true, "conditions": [
                {"type": "PowerCycle", "status": "True", "reason": "Done",
                 "lastTransitionTime": "2026-01-01T00:03:00Z"}]}
        }))
        .unwrap();
        let events: Vec<Event> = vec![
            serde_json::from_value(json!({
                "metadata": {"name": "e1", "namespace": "default"},
                "involvedObject": {"kind": "Server", "name": "u1"},
                "type": "Normal", "reason": "PowerOn", "message": "Server powered on.",
                "eventTime": "2026-01-01T00:01:00.000000Z",
                "series": {"count": 3, "lastObservedTime": "2026-01-01T00:02:00.000000Z"}
            }))
            .unwrap(),
            serde_json::from_value(json!({
                "metadata": {"name": "e2", "namespace": "default"},
                "involvedObject": {"kind": "Server", "name": "u1"},
                "reason": "ServerWiped", "message": "wiped",
                "lastTimestamp": "2026-01-01T00:04:00Z"
            }))
            .unwrap(),
        ];
        let t = timeline(&server, None, None, &events);
        let texts: Vec<&str> = t.iter().map(|e| e.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "created (registered by the agent, or by hand)",
                "event Normal PowerOn: Server powered on. (x3)",
                "condition PowerCycle=True Done",
                "event Normal ServerWiped: wiped",
            ]
        );
        let out = render(&server, &["any".into()], None, "waiting for x", &t);
        assert!(out.contains("State:       waiting for x\n"), "{out}");
        assert!(
            out.contains("  2026-01-01 00:02:00  Server         event Normal PowerOn"),
            "{out}"
        );
    }
}
