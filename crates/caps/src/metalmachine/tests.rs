//! Table tests of the MetalMachine decision against spec §3.5 (and our deliberate changes).
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use sidero_api::infra::v1alpha3::{MetalMachine, ServerBinding};
use sidero_api::metal::v1alpha2::Server;

use super::*;

fn mm(server_ref: Option<&str>, finalizer: bool, deleting: bool) -> MetalMachine {
    let mut v = json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha3", "kind": "MetalMachine",
        "metadata": {"name": "m1", "namespace": "ns", "uid": "uid-1"},
        "spec": {"serverClassRef": {"name": "workers"}}
    });
    if let Some(r) = server_ref {
        v["spec"]["serverRef"] = json!({"kind": "Server", "name": r});
    }
    if finalizer {
        v["metadata"]["finalizers"] = json!([METAL_MACHINE_FINALIZER]);
    }
    if deleting {
        v["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    }
    serde_json::from_value(v).unwrap()
}

fn binding(name: &str, owner: &str, uid: Option<&str>) -> ServerBinding {
    let mut r = json!({"kind": "MetalMachine", "name": owner, "namespace": "ns"});
    if let Some(u) = uid {
        r["uid"] = json!(u);
    }
    serde_json::from_value(json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha3", "kind": "ServerBinding",
        "metadata": {"name": name},
        "spec": {"metalMachineRef": r, "siderolink": {"address": "", "publicKey": ""}}
    }))
    .unwrap()
}

fn server(status: Value, accepted: bool) -> Server {
    serde_json::from_value(json!({
        "apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server", "metadata": {"name": "s1"},
        "spec": {"accepted": accepted}, "status": status
    }))
    .unwrap()
}

fn machine(secret: bool) -> Option<MachineView> {
    Some(MachineView {
        name: "machine-1".into(),
        data_secret_name: secret.then(|| "bootstrap".into()),
    })
}

fn snap(mm: &MetalMachine) -> Snapshot<'_> {
    Snapshot {
        metal_machine: mm,
        machine: machine(true),
        cluster_infra_ready: Some(true),
        own_bindings: vec![],
        ref_binding: None,
        ref_server: None,
        class: ClassLookup::Found {
            name: "workers".into(),
            candidates: vec!["s1".into(), "s2".into()],
        },
    }
}

fn reason(a: &Action) -> &'static str {
    match a {
        Action::Wait { reason, .. } | Action::Refuse { reason, .. } => reason,
        _ => "",
    }
}

#[test]
fn gates_come_first_in_upstream_order() {
    let m = mm(None, true, false);
    let mut s = snap(&m);
    s.machine = None;
    assert_eq!(reason(&decide(&s)), "WaitingForMachine");
    s.machine = machine(true);
    s.cluster_infra_ready = None;
    assert_eq!(reason(&decide(&s)), "WaitingForCluster");
    s.cluster_infra_ready = Some(false);
    assert_eq!(reason(&decide(&s)), "WaitingForClusterInfrastructure");
    s.cluster_infra_ready = Some(true);
    s.machine = machine(false);
    assert_eq!(reason(&decide(&s)), "WaitingForBootstrapData");
    let m = mm(None, false, false);
    assert_eq!(decide(&snap(&m)), Action::AddFinalizer);
}

#[test]
fn allocation_from_a_class() {
    let m = mm(None, true, false);
    let mut s = snap(&m);
    assert_eq!(
        decide(&s),
        Action::Allocate {
            class: "workers".into(),
            candidates: vec!["s1".into(), "s2".into()]
        }
    );
    s.class = ClassLookup::Found {
        name: "workers".into(),
        candidates: vec![],
    };
    assert_eq!(reason(&decide(&s)), "NoServerAvailable");
    s.class = ClassLookup::NotFound("workers".into());
    assert_eq!(reason(&decide(&s)), "ServerClassNotFound");
    s.class = ClassLookup::NoRef;
    assert_eq!(
        decide(&s),
        Action::Refuse {
            reason: "NoServerOrClass",
            message: "either a server or serverclass ref must be supplied".into()
        }
    );
}

#[test]
fn a_binding_of_ours_without_server_ref_is_adopted_not_doubled() {
    let m = mm(None, true, false);
    let b = binding("s9", "m1", Some("uid-1"));
    let mut s = snap(&m);
    s.own_bindings = vec![&b];
    assert_eq!(decide(&s), Action::Adopt("s9".into()));
}

#[test]
fn an_extra_binding_of_ours_is_released_before_syncing() {
    let m = mm(Some("s1"), true, false);
    let kept = binding("s1", "m1", Some("uid-1"));
    let extra = binding("s2", "m1", Some("uid-1"));
    let mut s = snap(&m);
    s.ref_binding = Some(&kept);
    s.own_bindings = vec![&kept, &extra];
    assert_eq!(decide(&s), Action::DeleteBinding("s2".into()));
    s.own_bindings = vec![&kept];
    assert!(matches!(decide(&s), Action::Sync { .. }));
}

#[test]
fn bound_machine_syncs() {
    let m = mm(Some("s1"), true, false);
    let b = binding("s1", "m1", Some("uid-1"));
    let mut s = snap(&m);
    s.ref_binding = Some(&b);
    assert_eq!(
        decide(&s),
        Action::Sync {
            server: "s1".into(),
            provider_id: "sidero://s1".into()
        }
    );
    // A binding without uid (created by upstream) still counts as ours by namespace/name.
    let b = binding("s1", "m1", None);
    s.ref_binding = Some(&b);
    assert!(matches!(decide(&s), Action::Sync { .. }));
}

#[test]
fn explicit_server_ref_is_checked() {
    let m = mm(Some("s1"), true, false);
    let clean = server(
        json!({"ready": true, "inUse": false, "isClean": true}),
        true,
    );
    let dirty = server(
        json!({"ready": true, "inUse": false, "isClean": false}),
        true,
    );
    let unaccepted = server(
        json!({"ready": true, "inUse": false, "isClean": true}),
        false,
    );
    let other = binding("s1", "m2", Some("uid-2"));
    let reused_name = binding("s1", "m1", Some("uid-old"));
    let mut s = snap(&m);
    s.ref_server = Some(&clean);
    assert_eq!(decide(&s), Action::Bind("s1".into()));
    s.ref_server = Some(&dirty);
    assert_eq!(reason(&decide(&s)), "ServerNotClean");
    s.ref_server = Some(&unaccepted);
    assert_eq!(reason(&decide(&s)), "ServerNotAccepted");
    s.ref_server = None;
    assert_eq!(reason(&decide(&s)), "ServerNotFound");
    s.ref_server = Some(&clean);
    s.ref_binding = Some(&other);
    assert_eq!(
        decide(&s),
        Action::Refuse {
            reason: "ServerBoundElsewhere",
            message: "server s1 is bound to metal machine ns/m2".into()
        }
    );
    // Same name, another incarnation of the machine: not ours.
    s.ref_binding = Some(&reused_name);
    assert_eq!(reason(&decide(&s)), "ServerBoundElsewhere");
}

#[test]
fn release_deletes_only_our_bindings_then_finishes() {
    let m = mm(Some("s1"), true, true);
    let ours = binding("s1", "m1", Some("uid-1"));
    let theirs = binding("s1", "m2", Some("uid-2"));
    let stray = binding("s7", "m1", Some("uid-1"));
    let mut s = snap(&m);
    // Deletion does not wait for the gates.
    s.machine = None;
    s.cluster_infra_ready = None;
    s.ref_binding = Some(&ours);
    assert_eq!(decide(&s), Action::DeleteBinding("s1".into()));
    s.ref_binding = Some(&theirs);
    assert_eq!(decide(&s), Action::FinishRelease);
    s.own_bindings = vec![&stray];
    assert_eq!(decide(&s), Action::DeleteBinding("s7".into()));
    let gone = mm(Some("s1"), false, true);
    assert_eq!(decide(&snap(&gone)), Action::Nothing);
}
