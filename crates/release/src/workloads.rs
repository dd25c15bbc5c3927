//! The two Deployments and the Services in front of them (spec §1.2–1.4, §11.2).
//!
//! Our sidero-controller-manager runs the SideroLink endpoint, kernel-log receiver and events
//! sink in-process (`--siderolink`), so its Pod has one container where upstream has four;
//! every upstream flag and clusterctl variable is still there.

use serde_json::{Value, json};

use crate::Release;
use crate::rbac::service_account;
use crate::vars::{raw_var, var};

const CERT_DIR: &str = "/tmp/k8s-webhook-server/serving-certs";

fn selector(prefix: &str) -> Value {
    json!({"control-plane": format!("{prefix}-controller-manager")})
}

fn service(name: &str, prefix: &str, ports: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
        "spec": {"selector": selector(prefix), "ports": ports}})
}

fn port(name: &str, port: Value, protocol: &str, target: &str) -> Value {
    json!({"name": name, "port": port, "protocol": protocol, "targetPort": target})
}

/// Services: DHCP, TFTP, SideroLink and HTTP of sidero-controller-manager (plain ClusterIP),
/// the two webhook Services (443 → 9443) and the two metrics Services (8443 `https`).
pub fn services() -> Vec<Value> {
    let mut out = vec![
        service(
            "sidero-dhcp",
            "sidero",
            json!([port("dhcp", 67.into(), "UDP", "dhcp")]),
        ),
        service(
            "sidero-tftp",
            "sidero",
            json!([port("tftp", 69.into(), "UDP", "tftp")]),
        ),
        service(
            "sidero-siderolink",
            "sidero",
            json!([port(
                "siderolink",
                raw_var("SIDERO_CONTROLLER_MANAGER_SIDEROLINK_PORT").into(),
                "UDP",
                "siderolink"
            )]),
        ),
        service(
            "sidero-http",
            "sidero",
            json!([port(
                "http",
                raw_var("SIDERO_CONTROLLER_MANAGER_API_PORT").into(),
                "TCP",
                "http"
            )]),
        ),
    ];
    for prefix in ["sidero", "caps"] {
        out.push(service(
            &format!("{prefix}-webhook-service"),
            prefix,
            json!([port("webhook", 443.into(), "TCP", "webhook-server")]),
        ));
        out.push(service(
            &format!("{prefix}-controller-manager-metrics-service"),
            prefix,
            json!([port("https", 8443.into(), "TCP", "metrics")]),
        ));
    }
    out
}

fn container_port(name: &str, port: Value, protocol: &str) -> Value {
    json!({"name": name, "containerPort": port, "protocol": protocol})
}

fn probes(c: &mut Value) {
    c["readinessProbe"] = json!({"httpGet": {"path": "/readyz", "port": "healthz"}});
    c["livenessProbe"] = json!({"httpGet": {"path": "/healthz", "port": "healthz"}});
}

fn common_ports() -> Vec<Value> {
    vec![
        container_port("healthz", 9440.into(), "TCP"),
        container_port("metrics", 8443.into(), "TCP"),
        container_port("webhook-server", 9443.into(), "TCP"),
    ]
}

fn diagnostics_args() -> Vec<String> {
    vec![
        "--enable-leader-election".into(),
        format!("--diagnostics-address={}", var("CAPI_DIAGNOSTICS_ADDRESS")),
        format!(
            "--insecure-diagnostics={}",
            var("CAPI_INSECURE_DIAGNOSTICS")
        ),
    ]
}

fn grpc_alpn_env() -> Value {
    // Talos < 1.9 does not negotiate ALPN; upstream sets this on every container.
    json!({"name": "GRPC_ENFORCE_ALPN_ENABLED", "value": "false"})
}

/// `(flag, variable)` of sidero-controller-manager's configurable flags, in upstream's order.
pub const SIDERO_FLAGS: &[(&str, &str)] = &[
    ("api-endpoint", "SIDERO_CONTROLLER_MANAGER_API_ENDPOINT"),
    ("api-port", "SIDERO_CONTROLLER_MANAGER_API_PORT"),
    ("http-port", "SIDERO_CONTROLLER_MANAGER_CONTAINER_API_PORT"),
    (
        "extra-agent-kernel-args",
        "SIDERO_CONTROLLER_MANAGER_EXTRA_AGENT_KERNEL_ARGS",
    ),
    (
        "boot-from-disk-method",
        "SIDERO_CONTROLLER_MANAGER_BOOT_FROM_DISK_METHOD",
    ),
    (
        "auto-accept-servers",
        "SIDERO_CONTROLLER_MANAGER_AUTO_ACCEPT_SERVERS",
    ),
    ("insecure-wipe", "SIDERO_CONTROLLER_MANAGER_INSECURE_WIPE"),
    ("auto-bmc-setup", "SIDERO_CONTROLLER_MANAGER_AUTO_BMC_SETUP"),
    (
        "server-reboot-timeout",
        "SIDERO_CONTROLLER_MANAGER_SERVER_REBOOT_TIMEOUT",
    ),
    (
        "ipmi-pxe-method",
        "SIDERO_CONTROLLER_MANAGER_IPMI_PXE_METHOD",
    ),
    (
        "disable-dhcp-proxy",
        "SIDERO_CONTROLLER_MANAGER_DISABLE_DHCP_PROXY",
    ),
    (
        "test-power-simulated-explicit-failure-prob",
        "SIDERO_CONTROLLER_MANAGER_TEST_POWER_EXPLICIT_FAILURE",
    ),
    (
        "test-power-simulated-silent-failure-prob",
        "SIDERO_CONTROLLER_MANAGER_TEST_POWER_SILENT_FAILURE",
    ),
    (
        "wireguard-endpoint",
        "SIDERO_CONTROLLER_MANAGER_SIDEROLINK_ENDPOINT",
    ),
    (
        "wireguard-port",
        "SIDERO_CONTROLLER_MANAGER_SIDEROLINK_PORT",
    ),
    (
        "negative-address-filter",
        "SIDERO_CONTROLLER_MANAGER_EVENTS_NEGATIVE_ADDRESS_FILTER",
    ),
];

/// `(flag, variable)` of sidero-controller-manager's flags that upstream lacks. Flags left
/// out on purpose are listed, with the reason, in the release test `flag_coverage`.
pub const SIDERO_OWN_FLAGS: &[(&str, &str)] = &[
    (
        "dhcp-ipxe-clients",
        "SIDERO_CONTROLLER_MANAGER_DHCP_IPXE_CLIENTS",
    ),
    ("http-bind", "SIDERO_CONTROLLER_MANAGER_HTTP_BIND"),
    ("webhook-host", "SIDERO_CONTROLLER_MANAGER_WEBHOOK_HOST"),
    (
        "leader-elect-lease-duration",
        "SIDERO_CONTROLLER_MANAGER_LEADER_ELECT_LEASE_DURATION",
    ),
    (
        "leader-elect-renew-deadline",
        "SIDERO_CONTROLLER_MANAGER_LEADER_ELECT_RENEW_DEADLINE",
    ),
    (
        "leader-elect-retry-period",
        "SIDERO_CONTROLLER_MANAGER_LEADER_ELECT_RETRY_PERIOD",
    ),
    ("logging-format", "SIDERO_CONTROLLER_MANAGER_LOGGING_FORMAT"),
    (
        "insecure-configdata",
        "SIDERO_CONTROLLER_MANAGER_INSECURE_CONFIGDATA",
    ),
    (
        "config-token-ttl",
        "SIDERO_CONTROLLER_MANAGER_CONFIG_TOKEN_TTL",
    ),
    (
        "config-token-bind-address",
        "SIDERO_CONTROLLER_MANAGER_CONFIG_TOKEN_BIND_ADDRESS",
    ),
    (
        "insecure-agent-api",
        "SIDERO_CONTROLLER_MANAGER_INSECURE_AGENT_API",
    ),
    (
        "agent-token-ttl",
        "SIDERO_CONTROLLER_MANAGER_AGENT_TOKEN_TTL",
    ),
    (
        "test-power-simulated-failure-scope",
        "SIDERO_CONTROLLER_MANAGER_TEST_POWER_FAILURE_SCOPE",
    ),
    ("ipmi-timeout", "SIDERO_CONTROLLER_MANAGER_IPMI_TIMEOUT"),
    ("ipmi-retries", "SIDERO_CONTROLLER_MANAGER_IPMI_RETRIES"),
    (
        "ipmi-cipher-suites",
        "SIDERO_CONTROLLER_MANAGER_IPMI_CIPHER_SUITES",
    ),
    (
        "redfish-timeout",
        "SIDERO_CONTROLLER_MANAGER_REDFISH_TIMEOUT",
    ),
    ("redfish-auth", "SIDERO_CONTROLLER_MANAGER_REDFISH_AUTH"),
    (
        "redfish-insecure-skip-verify",
        "SIDERO_CONTROLLER_MANAGER_REDFISH_INSECURE_SKIP_VERIFY",
    ),
    (
        "management-api-timeout",
        "SIDERO_CONTROLLER_MANAGER_MANAGEMENT_API_TIMEOUT",
    ),
    ("ipxe-dir", "SIDERO_CONTROLLER_MANAGER_IPXE_DIR"),
    ("ipxe-arm64-dir", "SIDERO_CONTROLLER_MANAGER_IPXE_ARM64_DIR"),
    ("tftp-mode", "SIDERO_CONTROLLER_MANAGER_TFTP_MODE"),
    ("talos-release", "SIDERO_CONTROLLER_MANAGER_TALOS_RELEASE"),
    (
        "talos-assets-base",
        "SIDERO_CONTROLLER_MANAGER_TALOS_ASSETS_BASE",
    ),
    (
        "wireguard-interface",
        "SIDERO_CONTROLLER_MANAGER_SIDEROLINK_INTERFACE",
    ),
    (
        "wireguard-mode",
        "SIDERO_CONTROLLER_MANAGER_SIDEROLINK_MODE",
    ),
    (
        "server-log-lines",
        "SIDERO_CONTROLLER_MANAGER_SERVER_LOG_LINES",
    ),
];

/// `(flag, variable)` of caps-controller-manager's configurable flags (upstream passes only
/// the diagnostics ones).
pub const CAPS_FLAGS: &[(&str, &str)] = &[
    ("webhook-host", "CAPS_CONTROLLER_MANAGER_WEBHOOK_HOST"),
    (
        "leader-elect-lease-duration",
        "CAPS_CONTROLLER_MANAGER_LEADER_ELECT_LEASE_DURATION",
    ),
    (
        "leader-elect-renew-deadline",
        "CAPS_CONTROLLER_MANAGER_LEADER_ELECT_RENEW_DEADLINE",
    ),
    (
        "leader-elect-retry-period",
        "CAPS_CONTROLLER_MANAGER_LEADER_ELECT_RETRY_PERIOD",
    ),
    ("logging-format", "CAPS_CONTROLLER_MANAGER_LOGGING_FORMAT"),
];

fn flag_args(flags: &[(&str, &str)]) -> impl Iterator<Item = String> {
    flags.iter().map(|(f, v)| format!("--{f}={}", var(v)))
}

/// The arguments of sidero-controller-manager's container: upstream's, `--siderolink`
/// (SideroLink runs in-process), then ours.
pub fn sidero_args() -> Vec<String> {
    let mut args = diagnostics_args();
    args.extend(flag_args(SIDERO_FLAGS));
    args.push("--siderolink".into());
    args.extend(flag_args(SIDERO_OWN_FLAGS));
    args
}

/// The arguments of caps-controller-manager's container: upstream's, then ours.
pub fn caps_args() -> Vec<String> {
    let mut args = diagnostics_args();
    args.extend(flag_args(CAPS_FLAGS));
    args
}

fn deployment(prefix: &str, pod_spec: Value, strategy: Option<Value>) -> Value {
    let name = format!("{prefix}-controller-manager");
    let mut d = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name,
            "labels": selector(prefix)},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector(prefix)},
            "template": {"metadata": {"labels": selector(prefix)}, "spec": pod_spec},
        },
    });
    if let Some(s) = strategy {
        d["spec"]["strategy"] = s;
    }
    d
}

fn cert_volume(prefix: &str) -> Value {
    json!({"name": "cert", "secret": {"secretName": format!("{prefix}-webhook-service-cert")}})
}

fn cert_mount() -> Value {
    json!({"name": "cert", "mountPath": CERT_DIR, "readOnly": true})
}

fn resources() -> Value {
    json!({"limits": {"cpu": "1", "memory": "512Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}})
}

/// Both Deployments.
pub fn deployments(release: &Release) -> Vec<Value> {
    let mut ports = vec![
        container_port("dhcp", 67.into(), "UDP"),
        container_port("tftp", 69.into(), "UDP"),
        container_port(
            "http",
            raw_var("SIDERO_CONTROLLER_MANAGER_CONTAINER_API_PORT").into(),
            "TCP",
        ),
        container_port(
            "siderolink",
            raw_var("SIDERO_CONTROLLER_MANAGER_SIDEROLINK_PORT").into(),
            "UDP",
        ),
    ];
    ports.extend(common_ports());
    let mut manager = json!({
        "name": "manager",
        "image": release.image("sidero-controller-manager"),
        "imagePullPolicy": "Always",
        "command": ["/manager"],
        "args": sidero_args(),
        "env": [
            {"name": "API_ENDPOINT", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
            grpc_alpn_env(),
        ],
        "ports": ports,
        "resources": resources(),
        // Root with only the capabilities it uses: the WireGuard device (NET_ADMIN), ports 67
        // and 69 (NET_BIND_SERVICE), the DHCP proxy's interface-bound broadcast socket (NET_RAW).
        "securityContext": {
            "allowPrivilegeEscalation": false,
            "capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN", "NET_BIND_SERVICE", "NET_RAW"]},
        },
        "volumeMounts": [cert_mount(), {"name": "dev-tun", "mountPath": "/dev/net/tun"}],
    });
    probes(&mut manager);
    let sidero = deployment(
        "sidero",
        json!({
            "hostNetwork": raw_var("SIDERO_CONTROLLER_MANAGER_HOST_NETWORK"),
            "serviceAccountName": service_account("sidero"),
            "terminationGracePeriodSeconds": 10,
            "containers": [manager],
            "volumes": [
                cert_volume("sidero"),
                {"name": "dev-tun", "hostPath": {"path": "/dev/net/tun", "type": "CharDevice"}},
            ],
        }),
        Some(json!({"type": var("SIDERO_CONTROLLER_MANAGER_DEPLOYMENT_STRATEGY")})),
    );

    let mut caps = json!({
        "name": "manager",
        "image": release.image("caps-controller-manager"),
        "imagePullPolicy": "Always",
        "command": ["/manager"],
        "args": caps_args(),
        "env": [grpc_alpn_env()],
        "ports": common_ports(),
        "resources": resources(),
        "securityContext": {
            "runAsNonRoot": true,
            "runAsUser": 65532,
            "runAsGroup": 65532,
            "allowPrivilegeEscalation": false,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [cert_mount()],
    });
    probes(&mut caps);
    let caps = deployment(
        "caps",
        json!({
            "serviceAccountName": service_account("caps"),
            "terminationGracePeriodSeconds": 10,
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [caps],
            "volumes": [cert_volume("caps")],
        }),
        None,
    );
    vec![sidero, caps]
}
