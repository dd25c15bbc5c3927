//! `sideroctl get servers`: one line per server, readable without jq (`-o wide` adds the BMC,
//! `-o json|yaml` prints the objects).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use kube::api::{Api, ListParams};
use sidero_api::metal::v1alpha2::{Server, ServerClass};

use crate::{Cli, cluster, explain};

/// `get` arguments.
#[derive(Args, Debug)]
pub struct GetArgs {
    /// What to list: `servers` (or `server`, `srv`).
    #[arg(value_parser = ["servers", "server", "srv"])]
    kind: String,
    /// Only these servers.
    names: Vec<String>,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    output: Output,
}

/// `-o` values.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Columns.
    Table,
    /// Columns plus BMC and state line.
    Wide,
    /// The Server objects as a JSON list.
    Json,
    /// The Server objects as YAML.
    Yaml,
}

/// One table row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// Columns in [`HEADERS`] order.
    pub cells: Vec<String>,
}

/// Column titles.
pub const HEADERS: [&str; 10] = [
    "NAME",
    "HOSTNAME",
    "ACCEPTED",
    "CORDONED",
    "ALLOCATED",
    "CLEAN",
    "POWER",
    "CLASSES",
    "ADDRESS",
    "AGE",
];

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

fn dash(s: Option<&str>) -> String {
    match s {
        Some(s) if !s.is_empty() => s.to_owned(),
        _ => "-".into(),
    }
}

/// The classes whose status lists each server (available or in use), by server name.
pub fn classes_by_server(classes: &[ServerClass]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in classes {
        let Some(status) = &c.status else { continue };
        let name = c.metadata.name.clone().unwrap_or_default();
        for s in status
            .servers_available
            .iter()
            .chain(&status.servers_in_use)
        {
            out.entry(s.clone()).or_default().push(name.clone());
        }
    }
    for v in out.values_mut() {
        v.sort();
        v.dedup();
    }
    out
}

/// The first InternalIP (else any address) of a server.
pub fn address(server: &Server) -> Option<String> {
    let addrs = server.status.as_ref()?.addresses.as_ref()?;
    addrs
        .iter()
        .find(|a| a.type_ == "InternalIP")
        .or(addrs.first())
        .map(|a| a.address.clone())
}

/// Age as kubectl prints it (`45s`, `5m3s`, `3h2m`, `4d0h`).
pub fn age(server: &Server, now: jiff::Timestamp) -> String {
    server
        .metadata
        .creation_timestamp
        .as_ref()
        .and_then(|t| Duration::try_from(now.duration_since(t.0)).ok())
        .map_or_else(|| "-".into(), explain::human)
}

/// The row of one server.
pub fn row(server: &Server, classes: &[String], now: jiff::Timestamp) -> Row {
    let status = server.status.clone().unwrap_or_default();
    Row {
        cells: vec![
            dash(server.metadata.name.as_deref()),
            dash(server.spec.hostname.as_deref()),
            yes_no(server.spec.accepted),
            yes_no(server.spec.is_cordoned()),
            yes_no(status.in_use),
            yes_no(status.is_clean),
            dash(status.power.as_deref()),
            if classes.is_empty() {
                "-".into()
            } else {
                classes.join(",")
            },
            dash(address(server).as_deref()),
            age(server, now),
        ],
    }
}

/// Left-aligned columns separated by three spaces, as kubectl.
pub fn render(headers: &[&str], rows: &[Row]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(&r.cells) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        let n = cells.len();
        for (i, (c, w)) in cells.into_iter().zip(&widths).enumerate() {
            s.push_str(c);
            if i + 1 < n {
                s.push_str(&" ".repeat(w - c.chars().count() + 3));
            }
        }
        s.push('\n');
        s
    };
    let mut out = line(headers.to_vec());
    for r in rows {
        out.push_str(&line(r.cells.iter().map(String::as_str).collect()));
    }
    out
}

/// Runs `get`.
pub async fn run(cli: &Cli, args: &GetArgs) -> anyhow::Result<()> {
    let client = cluster::client(cli.kubeconfig.as_deref(), cli.context.as_deref()).await?;
    let mut servers = Api::<Server>::all(client.clone())
        .list(&ListParams::default())
        .await
        .context("listing servers")?
        .items;
    if !args.names.is_empty() {
        servers.retain(|s| {
            args.names
                .iter()
                .any(|n| Some(n) == s.metadata.name.as_ref())
        });
        if let Some(missing) = args
            .names
            .iter()
            .find(|n| !servers.iter().any(|s| s.metadata.name.as_ref() == Some(*n)))
        {
            anyhow::bail!("server {missing:?} not found");
        }
    }
    servers.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    match args.output {
        Output::Json => {
            let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": servers});
            println!("{}", serde_json::to_string_pretty(&list)?);
            return Ok(());
        }
        Output::Yaml => {
            let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": servers});
            print!("{}", serde_saphyr::to_string(&list)?);
            return Ok(());
        }
        Output::Table | Output::Wide => {}
    }
    let classes = Api::<ServerClass>::all(client)
        .list(&ListParams::default())
        .await
        .context("listing server classes")?
        .items;
    let by_server = classes_by_server(&classes);
    let now = jiff::Timestamp::now();
    let none = Vec::new();
    let mut rows: Vec<Row> = servers
        .iter()
        .map(|s| {
            let name = s.metadata.name.clone().unwrap_or_default();
            row(s, by_server.get(&name).unwrap_or(&none), now)
        })
        .collect();
    let mut headers = HEADERS.to_vec();
    if args.output == Output::Wide {
        headers.push("BMC");
        for (r, s) in rows.iter_mut().zip(&servers) {
            let bmc = s
                .spec
                .bmc
                .as_ref()
                .map(|b| format!("{}:{}", b.endpoint, b.port.unwrap_or(623)))
                .or_else(|| s.spec.management_api.as_ref().map(|m| m.endpoint.clone()));
            r.cells.push(dash(bmc.as_deref()));
        }
    }
    if servers.is_empty() {
        eprintln!("No servers found.");
        return Ok(());
    }
    print!("{}", render(&headers, &rows));
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_and_rendering() {
        let s: Server = serde_json::from_value(json!({
            "apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
            "metadata": {"name": "4c4c-01", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"accepted": true, "hostname": "node-1"},
            "status": {"ready": true, "inUse": false, "isClean": true, "power": "off",
                       "addresses": [{"type": "Hostname", "address": "node-1"},
                                     {"type": "InternalIP", "address": "10.5.0.7"}]}
        }))
        .unwrap();
        let now: jiff::Timestamp = "2026-01-01T00:05:03Z".parse().unwrap();
        let r = row(&s, &["any".into(), "workers".into()], now);
        assert_eq!(
            r.cells,
            [
                "4c4c-01",
                "node-1",
                "yes",
                "no",
                "no",
                "yes",
                "off",
                "any,workers",
                "10.5.0.7",
                "5m3s"
            ]
        );
        let pending: Server = serde_json::from_value(json!({
            "apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
            "metadata": {"name": "4c4c-02"}, "spec": {"accepted": false}
        }))
        .unwrap();
        let r2 = row(&pending, &[], now);
        assert_eq!(
            r2.cells,
            ["4c4c-02", "-", "no", "no", "no", "no", "-", "-", "-", "-"]
        );
        let text = render(&HEADERS, &[r, r2]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        // Columns line up: every line has HOSTNAME's column at the same offset.
        let col = lines[0].find("HOSTNAME").unwrap();
        assert_eq!(&lines[1][col..col + 6], "node-1");
        assert_eq!(&lines[2][col..col + 1], "-");
    }

    #[test]
    fn classes_are_collected_per_server() {
        let c: ServerClass = serde_json::from_value(json!({
            "apiVersion": "metal.sidero.dev/v1alpha2", "kind": "ServerClass",
            "metadata": {"name": "any"}, "spec": {},
            "status": {"serversAvailable": ["a"], "serversInUse": ["b"]}
        }))
        .unwrap();
        let d: ServerClass = serde_json::from_value(json!({
            "apiVersion": "metal.sidero.dev/v1alpha2", "kind": "ServerClass",
            "metadata": {"name": "big"}, "spec": {},
            "status": {"serversAvailable": ["a"], "serversInUse": []}
        }))
        .unwrap();
        let m = classes_by_server(&[d, c]);
        assert_eq!(m["a"], ["any", "big"]);
        assert_eq!(m["b"], ["any"]);
    }
}
