//! Wire round trips: YAML in, JSON out, nothing lost; always-emitted fields are emitted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::infra::{v1alpha2, v1alpha3};

/// Parses `yaml` as `T`, serializes it back and compares with the YAML read as plain JSON.
fn round_trip<T: DeserializeOwned + Serialize>(yaml: &str) -> T {
    let typed: T = serde_saphyr::from_str(yaml).expect("typed parse");
    let plain: Value = serde_saphyr::from_str(yaml).expect("plain parse");
    assert_eq!(serde_json::to_value(&typed).unwrap(), plain);
    typed
}

fn to_json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap()
}

const METAL_CLUSTER: &str = r#"
apiVersion: infrastructure.cluster.x-k8s.io/v1alpha3
kind: MetalCluster
metadata:
  name: management-cluster
  namespace: default
  labels:
    cluster.x-k8s.io/cluster-name: management-cluster
  finalizers: [metalcluster.infrastructure.cluster.x-k8s.io]
spec:
  controlPlaneEndpoint:
    host: 10.5.0.2
    port: 6443
status:
  ready: true
"#;

const TEMPLATES: [&str; 2] = [
    r#"
apiVersion: infrastructure.cluster.x-k8s.io/v1alpha3
kind: MetalMachineTemplate
metadata:
  name: management-cluster-cp
spec:
  template:
    spec:
      serverClassRef:
        apiVersion: metal.sidero.dev/v1alpha2
        kind: ServerClass
        name: any
"#,
    r#"
apiVersion: infrastructure.cluster.x-k8s.io/v1alpha3
kind: MetalMachineTemplate
metadata:
  name: management-cluster-workers
spec:
  template:
    spec:
      serverClassRef:
        apiVersion: metal.sidero.dev/v1alpha2
        kind: ServerClass
        name: workers
"#,
];

const SERVER_BINDING: &str = r#"
apiVersion: infrastructure.cluster.x-k8s.io/v1alpha3
kind: ServerBinding
metadata:
  name: b4e677d9-b59b-4c1c-925a-f9d9ce049d79
  labels:
    cluster.x-k8s.io/cluster-name: management-cluster
spec:
  serverClassRef:
    apiVersion: metal.sidero.dev/v1alpha2
    kind: ServerClass
    name: any
    resourceVersion: "1234"
    uid: 0f1e2d3c-0000-4000-8000-000000000001
  metalMachineRef:
    kind: MetalMachine
    name: management-cluster-cp-47lll
    namespace: default
    uid: 0f1e2d3c-0000-4000-8000-000000000002
  siderolink:
    address: fdae:2859:5bb1:7a03:3ae3:be30:7ec4:4c09/64
    publicKey: XIBT49g9xCoBvyb/x36J+ASlQ4qaxXMG20ZgKbBbfE8=
  addresses: [172.25.0.5]
  hostname: pxe-2
status:
  ready: true
  conditions:
  - type: TalosConfigLoaded
    status: "True"
    lastTransitionTime: "2022-02-14T15:48:34Z"
  - type: TalosInstalled
    status: "False"
    severity: Info
    reason: TalosInstallationInProgress
    lastTransitionTime: "2022-02-14T15:48:30Z"
"#;

const METAL_MACHINE: &str = r#"
apiVersion: infrastructure.cluster.x-k8s.io/v1alpha3
kind: MetalMachine
metadata:
  name: management-cluster-cp-47lll
  namespace: default
spec:
  providerID: sidero://b4e677d9-b59b-4c1c-925a-f9d9ce049d79
  serverRef:
    kind: Server
    name: b4e677d9-b59b-4c1c-925a-f9d9ce049d79
  serverClassRef:
    apiVersion: metal.sidero.dev/v1alpha2
    kind: ServerClass
    name: any
status:
  ready: true
  addresses:
  - type: InternalIP
    address: 172.25.0.5
  - type: Hostname
    address: pxe-2
  failureReason: CreateError
  failureMessage: it broke
  conditions:
  - type: ProviderSet
    status: "False"
    severity: Warning
    reason: ProviderUpdateFailed
    message: no matching nodes found
    lastTransitionTime: "2022-02-14T15:48:34Z"
"#;

#[test]
fn metal_cluster_round_trip() {
    let mc: v1alpha3::MetalCluster = round_trip(METAL_CLUSTER);
    assert_eq!(mc.spec.control_plane_endpoint.port, 6443);
    assert_eq!(mc.spec.control_plane_endpoint.host, "10.5.0.2");
}

#[test]
fn metal_machine_template_round_trip() {
    for yaml in TEMPLATES {
        let t: v1alpha3::MetalMachineTemplate = round_trip(yaml);
        assert!(t.spec.template.spec.server_class_ref.is_some());
    }
}

#[test]
fn server_binding_round_trip() {
    let sb: v1alpha3::ServerBinding = round_trip(SERVER_BINDING);
    assert_eq!(
        sb.spec.siderolink.public_key,
        "XIBT49g9xCoBvyb/x36J+ASlQ4qaxXMG20ZgKbBbfE8="
    );
    let status = sb.status.unwrap();
    assert!(crate::condition::is_true(
        &status.conditions,
        v1alpha3::TALOS_CONFIG_LOADED_CONDITION
    ));
}

#[test]
fn metal_machine_round_trip() {
    let mm: v1alpha3::MetalMachine = round_trip(METAL_MACHINE);
    assert_eq!(
        mm.status.unwrap().addresses[1].type_,
        v1alpha3::ADDRESS_HOSTNAME
    );
}

#[test]
fn v1alpha2_round_trips() {
    round_trip::<v1alpha2::MetalCluster>(
        r#"
apiVersion: infrastructure.cluster.x-k8s.io/v1alpha2
kind: MetalCluster
metadata: {name: c, namespace: default}
spec:
  apiEndpoints: [{host: 10.5.0.2, port: 6443}]
status:
  ready: false
  apiEndpoints: [{host: 10.5.0.2, port: 6443}]
"#,
    );
    round_trip::<v1alpha2::MetalMachine>(
        r#"
apiVersion: infrastructure.cluster.x-k8s.io/v1alpha2
kind: MetalMachine
metadata: {name: m, namespace: default}
spec:
  providerID: sidero://abc
  serverRef: {kind: Server, name: abc}
status: {ready: true, errorReason: CreateError, errorMessage: boom}
"#,
    );
    round_trip::<v1alpha2::MetalMachineTemplate>(
        r#"
apiVersion: infrastructure.cluster.x-k8s.io/v1alpha2
kind: MetalMachineTemplate
metadata: {name: t, namespace: default}
spec:
  template:
    spec:
      serverRef: {name: abc}
"#,
    );
}

#[test]
fn always_emitted_fields() {
    // ServerBinding: siderolink with both keys, status.ready even when false.
    let sb = v1alpha3::ServerBinding {
        status: Some(Default::default()),
        ..v1alpha3::ServerBinding::new("x", Default::default())
    };
    let v = to_json(&sb);
    assert_eq!(
        v["spec"],
        json!({"metalMachineRef": {}, "siderolink": {"address": "", "publicKey": ""}})
    );
    assert_eq!(v["status"], json!({"ready": false}));

    // MetalCluster: controlPlaneEndpoint with both keys, status.ready even when false.
    let mc = v1alpha3::MetalCluster {
        status: Some(Default::default()),
        ..v1alpha3::MetalCluster::new("c", Default::default())
    };
    let v = to_json(&mc);
    assert_eq!(
        v["spec"],
        json!({"controlPlaneEndpoint": {"host": "", "port": 0}})
    );
    assert_eq!(v["status"], json!({"ready": false}));

    // MetalMachine v1alpha3: ready is omitempty; v1alpha2: always emitted.
    let mm = v1alpha3::MetalMachine {
        status: Some(Default::default()),
        ..Default::default()
    };
    assert_eq!(to_json(&mm)["status"], json!({}));
    let mm2 = v1alpha2::MetalMachine {
        status: Some(Default::default()),
        ..Default::default()
    };
    assert_eq!(to_json(&mm2)["status"], json!({"ready": false}));
    let mc2 = v1alpha2::MetalCluster {
        status: Some(Default::default()),
        ..Default::default()
    };
    assert_eq!(to_json(&mc2)["status"], json!({"ready": false}));
    assert_eq!(to_json(&mc2)["spec"], json!({}));

    // MetalMachineTemplate: template.spec always present.
    let t = v1alpha3::MetalMachineTemplate::new("t", Default::default());
    assert_eq!(to_json(&t)["spec"], json!({"template": {"spec": {}}}));
}

#[test]
fn missing_always_emitted_fields_parse_as_zero() {
    let sb: v1alpha3::ServerBinding = serde_json::from_value(json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha3", "kind": "ServerBinding",
        "metadata": {"name": "x"}, "spec": {"metalMachineRef": {"name": "m"}}, "status": {}
    }))
    .unwrap();
    assert_eq!(sb.spec.siderolink, v1alpha3::SideroLinkSpec::default());
    assert!(!sb.status.unwrap().ready);
    let mc: v1alpha3::MetalCluster = serde_json::from_value(json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha3", "kind": "MetalCluster",
        "metadata": {"name": "c"}, "spec": {"controlPlaneEndpoint": {"host": "h"}}, "status": {}
    }))
    .unwrap();
    assert_eq!(
        mc.spec.control_plane_endpoint,
        v1alpha3::ApiEndpoint {
            host: "h".into(),
            port: 0
        }
    );
}

#[test]
fn resource_identity() {
    use kube::Resource;
    assert_eq!(
        v1alpha3::MetalCluster::api_version(&()),
        crate::infra::V1ALPHA3
    );
    assert_eq!(
        v1alpha2::MetalCluster::api_version(&()),
        crate::infra::V1ALPHA2
    );
    assert_eq!(v1alpha3::ServerBinding::plural(&()), "serverbindings");
    assert_eq!(
        v1alpha3::MetalMachineTemplate::plural(&()),
        "metalmachinetemplates"
    );
}
