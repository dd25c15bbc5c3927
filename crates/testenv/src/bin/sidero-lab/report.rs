//! The end of the run: the servers as `sideroctl get servers` shows them, the bindings, what
//! to run next, and (for tests) a JSON summary.

use serde_json::{Value, json};

use crate::cluster::Bound;

/// One Server's row.
pub fn server_row(v: &Value) -> Value {
    let st = &v["status"];
    let pxe_booted = st["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "PXEBooted" && c["status"] == "True")
    });
    json!({
        "name": v["metadata"]["name"],
        "product": v["spec"]["hardware"]["system"]["productName"],
        "accepted": v["spec"]["accepted"] == true,
        "clean": st["isClean"] == true,
        "inUse": st["inUse"] == true,
        "ready": st["ready"] == true,
        "power": st["power"],
        "bmc": v["spec"]["bmc"]["endpoint"],
        "pxeBooted": pxe_booted,
    })
}

/// Prints server rows as a table.
pub fn print_servers(rows: &[Value]) {
    println!(
        "    {:<38} {:<11} {:<8} {:<6} {:<6} {:<6} {:<6} {:<12} PXEBOOTED",
        "NAME", "PRODUCT", "ACCEPTED", "CLEAN", "INUSE", "READY", "POWER", "BMC"
    );
    for r in rows {
        let s = |k: &str| match &r[k] {
            Value::String(s) => s.clone(),
            Value::Null => "-".into(),
            v => v.to_string(),
        };
        println!(
            "    {:<38} {:<11} {:<8} {:<6} {:<6} {:<6} {:<6} {:<12} {}",
            s("name"),
            s("product"),
            s("accepted"),
            s("clean"),
            s("inUse"),
            s("ready"),
            s("power"),
            s("bmc"),
            s("pxeBooted")
        );
    }
}

/// Prints the MetalMachines and the Servers they hold.
pub fn print_bound(bound: &[Bound]) {
    println!(
        "    {:<32} {:<38} {:<6} {:<10} ADDRESSES",
        "METALMACHINE", "SERVER", "READY", "INSTALLED"
    );
    for b in bound {
        println!(
            "    {:<32} {:<38} {:<6} {:<10} {}",
            b.machine,
            b.server.as_deref().unwrap_or("-"),
            b.ready,
            b.installed,
            b.addresses.join(" ")
        );
    }
}

/// The machines as JSON, for the summary.
pub fn bound_json(bound: &[Bound]) -> Value {
    bound
        .iter()
        .map(|b| {
            json!({"machine": b.machine, "server": b.server, "ready": b.ready,
                   "installed": b.installed, "addresses": b.addresses})
        })
        .collect()
}
