//! Least-privilege RBAC: one ServiceAccount per manager, each bound only to what that process
//! calls (spec §11.2 "effective permissions"). Upstream binds everything to `default`, which
//! gives both managers the union.

use serde_json::{Value, json};

use crate::NAMESPACE;

const ALL_VERBS: &[&str] = &[
    "get", "list", "watch", "create", "update", "patch", "delete",
];
const READ: &[&str] = &["get", "list", "watch"];
const STATUS: &[&str] = &["get", "update", "patch"];
const METAL: &str = "metal.sidero.dev";
const INFRA: &str = "infrastructure.cluster.x-k8s.io";
const CAPI: &str = "cluster.x-k8s.io";

fn rule(group: &str, resources: &[&str], verbs: &[&str]) -> Value {
    json!({"apiGroups": [group], "resources": resources, "verbs": verbs})
}

/// Events through both the core and the `events.k8s.io` API (kube's recorder uses the latter).
fn events() -> Vec<Value> {
    vec![
        rule("", &["events"], &["create", "patch"]),
        rule("events.k8s.io", &["events"], &["create", "patch"]),
    ]
}

/// The secure diagnostics server (`/metrics` without `--insecure-diagnostics`) asks the API
/// server who a caller is and whether it may `get` the path.
fn diagnostics() -> Vec<Value> {
    vec![
        rule("authentication.k8s.io", &["tokenreviews"], &["create"]),
        rule(
            "authorization.k8s.io",
            &["subjectaccessreviews"],
            &["create"],
        ),
    ]
}

/// sidero-controller-manager: the metal kinds (controllers, Agent API), BMC and SideroLink
/// Secrets, bootstrap data for `/configdata`, ServerBindings for SideroLink, Machines for
/// `/configdata`. `servers/finalizers` lets it set `blockOwnerDeletion` on BMC Secrets.
pub fn sidero_rules() -> Vec<Value> {
    let mut r = vec![
        rule(
            METAL,
            &["servers", "serverclasses", "environments"],
            ALL_VERBS,
        ),
        rule(
            METAL,
            &[
                "servers/status",
                "serverclasses/status",
                "environments/status",
            ],
            STATUS,
        ),
        rule(METAL, &["servers/finalizers"], &["update"]),
        rule(
            INFRA,
            &["serverbindings"],
            &["get", "list", "watch", "patch"],
        ),
        rule(INFRA, &["serverbindings/status"], STATUS),
        rule(INFRA, &["metalmachines"], READ),
        rule(CAPI, &["machines"], &["get"]),
        rule("", &["secrets"], &["get", "create", "update", "patch"]),
    ];
    r.extend(events());
    r.extend(diagnostics());
    r
}

/// caps-controller-manager: the infrastructure kinds, Servers and ServerClasses read-only,
/// CAPI Clusters and Machines read-only, and kubeconfig/bootstrap Secrets read-only (the
/// workload cluster is reached with the kubeconfig, not with this account).
pub fn caps_rules() -> Vec<Value> {
    let mut r = vec![
        rule(
            INFRA,
            &["metalclusters", "metalmachines", "serverbindings"],
            ALL_VERBS,
        ),
        rule(
            INFRA,
            &[
                "metalclusters/status",
                "metalmachines/status",
                "serverbindings/status",
            ],
            STATUS,
        ),
        rule(
            INFRA,
            &["metalclusters/finalizers", "metalmachines/finalizers"],
            &["update"],
        ),
        rule(METAL, &["servers", "serverclasses"], READ),
        rule(CAPI, &["clusters", "machines"], READ),
        rule("", &["secrets"], READ),
    ];
    r.extend(events());
    r.extend(diagnostics());
    r
}

/// Leader election: Leases in the managers' namespace, and the Events announcing a new leader.
pub fn leader_election_rules() -> Vec<Value> {
    let mut r = vec![rule("coordination.k8s.io", &["leases"], ALL_VERBS)];
    r.extend(events());
    r
}

/// `<prefix>-controller-manager`, the ServiceAccount of that Deployment.
pub fn service_account(prefix: &str) -> String {
    format!("{prefix}-controller-manager")
}

fn subject(prefix: &str) -> Value {
    json!([{"kind": "ServiceAccount", "name": service_account(prefix), "namespace": NAMESPACE}])
}

fn bundle(prefix: &str, rules: Vec<Value>) -> Vec<Value> {
    let rbac = "rbac.authorization.k8s.io/v1";
    let role_ref = |kind: &str, name: String| json!({"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name});
    vec![
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": service_account(prefix)}}),
        json!({"apiVersion": rbac, "kind": "ClusterRole",
            "metadata": {"name": format!("{prefix}-manager-role")}, "rules": rules}),
        json!({"apiVersion": rbac, "kind": "ClusterRoleBinding",
            "metadata": {"name": format!("{prefix}-manager-rolebinding")},
            "roleRef": role_ref("ClusterRole", format!("{prefix}-manager-role")),
            "subjects": subject(prefix)}),
        json!({"apiVersion": rbac, "kind": "Role",
            "metadata": {"name": format!("{prefix}-leader-election-role")},
            "rules": leader_election_rules()}),
        json!({"apiVersion": rbac, "kind": "RoleBinding",
            "metadata": {"name": format!("{prefix}-leader-election-rolebinding")},
            "roleRef": role_ref("Role", format!("{prefix}-leader-election-role")),
            "subjects": subject(prefix)}),
    ]
}

/// ServiceAccounts, roles and bindings of both managers.
pub fn objects() -> Vec<Value> {
    let mut out = bundle("sidero", sidero_rules());
    out.extend(bundle("caps", caps_rules()));
    out
}
