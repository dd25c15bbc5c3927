//! Serde round trips of sample objects (upstream's config samples and docs), and the fields
//! that must always be serialized.

use serde_json::json;

use super::assert_yaml_round_trip;
use crate::metal::{v1alpha1, v1alpha2};

const SERVER: &str = r#"
apiVersion: metal.sidero.dev/v1alpha2
kind: Server
metadata:
  name: 00000000-0000-0000-0000-d05099d333e0
  labels:
    common-label: "true"
    zone: east
    environment: test
spec:
  accepted: false
  cordoned: true
  pxeBootAlways: false
  hostname: pxe-1
  bootFromDiskMethod: ipxe-sanboot
  pxeMode: uefi
  environmentRef:
    name: custom
  bmc:
    endpoint: 10.0.0.25
    port: 6230
    interface: lan
    userFrom:
      secretKeyRef:
        namespace: default
        name: bmc-secret
        key: user
    passFrom:
      secretKeyRef:
        namespace: default
        name: bmc-secret
        key: pass
  managementApi:
    endpoint: 172.24.0.1:8081
  configPatches:
    - op: replace
      path: /cluster/network/cni
      value:
        name: custom
        urls:
          - http://192.168.1.199/assets/cilium.yaml
    - op: remove
      path: /machine/install/bootloader
    - op: add
      path: /machine/kubelet/extraArgs/node-ip
      value: 10.5.0.3
  strategicPatches:
    - |
      machine:
        network:
          hostname: worker-1
  hardware:
    system:
      uuid: 00000000-0000-0000-0000-d05099d333e0
      manufacturer: Dell Inc.
      productName: PowerEdge R630
      serialNumber: 790H8D2
    compute:
      totalCoreCount: 8
      totalThreadCount: 16
      processorCount: 1
      processors:
        - manufacturer: Intel
          productName: Intel(R) Xeon(R) CPU E5-2630 v3 @ 2.40GHz
          speed: 2400
          coreCount: 8
          threadCount: 16
    memory:
      totalSize: 32 GB
      moduleCount: 2
      modules:
        - manufacturer: 002C00B3002C
          productName: 18ASF2G72PDZ-2G3B1
          serialNumber: 12BDC045
          type: LPDDR3
          size: 16384
          speed: 2400
        - manufacturer: 002C00B3002C
          productName: 18ASF2G72PDZ-2G3B1
          serialNumber: 12BDBF5D
          type: LPDDR3
          size: 16384
          speed: 2400
    storage:
      totalSize: 1116 GB
      deviceCount: 1
      devices:
        - productName: PERC H730 Mini
          type: HDD
          name: sda
          deviceName: /dev/sda
          size: 1199101181952
          wwid: naa.61866da055de070028d8e83307cc6df2
    network:
      interfaceCount: 2
      interfaces:
        - index: 1
          name: lo
          flags: up|loopback
          mtu: 65536
          mac: ""
          addresses:
            - 127.0.0.1/8
            - ::1/128
        - index: 2
          name: enp3s0
          flags: up|broadcast|multicast
          mtu: 1500
          mac: "40:8d:5c:86:5a:14"
          addresses:
            - 192.168.2.8/24
            - fe80::dcb3:295c:755b:91bb/64
status:
  ready: true
  inUse: true
  isClean: false
  power: "on"
  addresses:
    - type: InternalIP
      address: 192.168.2.8
  conditions:
    - type: PowerCycle
      status: "False"
      severity: Info
      reason: InProgress
      message: Server wipe in progress.
      lastTransitionTime: "2022-02-11T14:20:42Z"
    - type: PXEBooted
      status: "True"
      lastTransitionTime: "2022-02-11T12:48:35Z"
"#;

const SERVER_CLASS: &str = r#"
apiVersion: metal.sidero.dev/v1alpha2
kind: ServerClass
metadata:
  name: serverclass-sample
spec:
  environmentRef:
    name: custom
  bootFromDiskMethod: http-404
  selector:
    matchLabels:
      common-label: "true"
    matchExpressions:
      - key: zone
        operator: In
        values:
          - central
          - east
      - key: environment
        operator: NotIn
        values:
          - prod
      - key: rack
        operator: Exists
  qualifiers:
    hardware:
      - system:
          manufacturer: Dell Inc.
        compute:
          processors:
            - manufacturer: Intel
              productName: Intel(R) Xeon(R) CPU E5-2630 v3 @ 2.40GHz
        memory:
          totalSize: 32 GB
      - system:
          manufacturer: QEMU
    labelSelectors:
      - my-server-label: "true"
  configPatches:
    - op: add
      path: /machine/install/disk
      value: /dev/sda
  strategicPatches:
    - "machine:\n  install:\n    wipe: true\n"
status:
  serversAvailable:
    - 00000000-0000-0000-0000-d05099d333e0
  serversInUse: []
"#;

const ENVIRONMENT: &str = r#"
apiVersion: metal.sidero.dev/v1alpha2
kind: Environment
metadata:
  name: default
spec:
  kernel:
    url: "https://github.com/talos-systems/talos/releases/download/v0.10.3/vmlinuz-amd64"
    sha512: ""
    args:
      - console=tty0
      - console=ttyS1,115200n8
      - consoleblank=0
      - earlyprintk=ttyS1,115200n8
      - init_on_alloc=1
      - initrd=initramfs.xz
      - slab_nomerge=
      - talos.platform=metal
  initrd:
    url: "https://github.com/talos-systems/talos/releases/download/v0.10.3/initramfs-amd64.xz"
    sha512: ""
status:
  conditions:
    - type: Ready
      status: "True"
      url: "https://github.com/talos-systems/talos/releases/download/v0.10.3/vmlinuz-amd64"
      sha512: ""
    - type: Ready
      status: "False"
      url: "https://github.com/talos-systems/talos/releases/download/v0.10.3/initramfs-amd64.xz"
"#;

const SERVER_V1ALPHA1: &str = r#"
apiVersion: metal.sidero.dev/v1alpha1
kind: Server
metadata:
  name: 00000000-0000-0000-0000-d05099d33360
spec:
  accepted: true
  hostname: pxe-2
  system:
    manufacturer: QEMU
    productName: Standard PC (Q35 + ICH9, 2009)
    version: pc-q35-5.2
  cpu:
    manufacturer: Advanced Micro Devices, Inc.
    version: AMD Ryzen 7 2700X Eight-Core Processor
  bmc:
    endpoint: 10.0.0.26
    user: admin
    pass: secret
  configPatches:
    - op: replace
      path: /machine/install
      value:
        disk: /dev/sdb
status:
  ready: false
  inUse: false
  isClean: true
"#;

const SERVER_CLASS_V1ALPHA1: &str = r#"
apiVersion: metal.sidero.dev/v1alpha1
kind: ServerClass
metadata:
  name: amd
spec:
  qualifiers:
    cpu:
      - manufacturer: Advanced Micro Devices, Inc.
        version: AMD Ryzen 7 2700X Eight-Core Processor
    systemInformation:
      - manufacturer: QEMU
    labelSelectors:
      - zone: central
  selector: {}
status:
  serversAvailable: []
  serversInUse: []
"#;

#[test]
fn server_sample_round_trips() {
    let server: v1alpha2::Server = assert_yaml_round_trip(SERVER);
    let bmc = server.spec.bmc.as_ref().unwrap();
    assert_eq!(bmc.port_or_default(), 6230);
    assert_eq!(server.spec.config_patches.as_ref().unwrap().len(), 3);
    let hardware = server.spec.hardware.as_ref().unwrap();
    let devices = hardware.storage.as_ref().unwrap().devices.as_ref().unwrap();
    assert_eq!(devices[0].size, Some(1_199_101_181_952));
    assert!(server.condition("PXEBooted").is_some());
}

#[test]
fn serverclass_sample_round_trips() {
    let class: v1alpha2::ServerClass = assert_yaml_round_trip(SERVER_CLASS);
    assert_eq!(class.spec.qualifiers.hardware.as_ref().unwrap().len(), 2);
    let expressions = class.spec.selector.match_expressions.as_ref().unwrap();
    assert_eq!(expressions[2].operator, "Exists");
}

#[test]
fn environment_sample_round_trips() {
    let env: v1alpha2::Environment = assert_yaml_round_trip(ENVIRONMENT);
    assert_eq!(env.spec.kernel_args().len(), 8);
    assert!(!env.is_ready(), "initrd condition is False");
    let v1: v1alpha1::Environment = assert_yaml_round_trip(
        &ENVIRONMENT.replace("metal.sidero.dev/v1alpha2", "metal.sidero.dev/v1alpha1"),
    );
    assert_eq!(v1.spec.kernel, env.spec.kernel);
}

#[test]
fn v1alpha1_samples_round_trip() {
    let server: v1alpha1::Server = assert_yaml_round_trip(SERVER_V1ALPHA1);
    assert_eq!(
        server.spec.cpu.as_ref().unwrap().version.as_deref(),
        Some("AMD Ryzen 7 2700X Eight-Core Processor")
    );
    let class: v1alpha1::ServerClass = assert_yaml_round_trip(SERVER_CLASS_V1ALPHA1);
    assert_eq!(class.spec.qualifiers.cpu.as_ref().unwrap().len(), 1);
}

#[test]
fn always_serialized_fields() {
    let server = v1alpha2::Server::new("s", v1alpha2::ServerSpec::default());
    let mut server = serde_json::to_value(server).unwrap();
    assert_eq!(server["spec"], json!({ "accepted": false }));
    let status = serde_json::to_value(v1alpha2::ServerStatus::default()).unwrap();
    assert_eq!(
        status,
        json!({ "ready": false, "inUse": false, "isClean": false })
    );

    let class = serde_json::to_value(v1alpha2::ServerClassSpec::default()).unwrap();
    assert_eq!(class, json!({ "qualifiers": {}, "selector": {} }));
    let class_status = serde_json::to_value(v1alpha2::ServerClassStatus::default()).unwrap();
    assert_eq!(
        class_status,
        json!({ "serversAvailable": [], "serversInUse": [] })
    );
    let class_v1 = serde_json::to_value(v1alpha1::ServerClassSpec::default()).unwrap();
    assert_eq!(class_v1, json!({ "qualifiers": {}, "selector": {} }));

    // Missing always-serialized fields still deserialize (as zero values).
    server["spec"] = json!({});
    server["status"] = json!({});
    let server: v1alpha2::Server = serde_json::from_value(server).unwrap();
    assert!(!server.spec.accepted);
    assert_eq!(server.status, Some(v1alpha2::ServerStatus::default()));
    let status: v1alpha2::ServerClassStatus = serde_json::from_value(json!({})).unwrap();
    assert!(status.servers_available.is_empty());
}

#[test]
fn invalid_enum_values_still_deserialize() {
    // The webhook must see invalid values to reject them with `Invalid value`.
    let spec: v1alpha2::ServerSpec = serde_json::from_value(json!({
        "accepted": true,
        "bootFromDiskMethod": "explode",
        "pxeMode": "pxe",
        "configPatches": [{ "op": "error", "path": "/x" }],
    }))
    .unwrap();
    let err = spec.boot_from_disk_method().unwrap_err();
    assert_eq!(err.value, "explode");
    assert!(spec.pxe_mode().is_err());
    assert!(!spec.config_patches.unwrap()[0].has_valid_op());
}
