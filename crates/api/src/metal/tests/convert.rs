//! The §2.8 mapping rules, the conversion-data annotation, and `convert_object`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::metal::convert::{
    CONVERSION_DATA_ANNOTATION, ConversionError, convert_object, environment_to_v1alpha1,
    environment_to_v1alpha2, server_to_v1alpha1, server_to_v1alpha2, serverclass_to_v1alpha1,
    serverclass_to_v1alpha2,
};
use crate::metal::{v1alpha1 as v1, v1alpha2 as v2};

fn hub_server() -> v2::Server {
    serde_json::from_value(json!({
        "apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
        "metadata": { "name": "uuid-1", "labels": { "zone": "east" } },
        "spec": {
            "accepted": true, "hostname": "pxe-1",
            "strategicPatches": ["machine: {}"],
            "hardware": {
                "system": { "uuid": "uuid-1", "manufacturer": "Dell Inc.", "productName": "R630",
                            "version": "1", "serialNumber": "SN", "skuNumber": "SKU", "family": "F" },
                "compute": {
                    "processorCount": 2,
                    "processors": [
                        { "manufacturer": "Intel", "productName": "Xeon", "speed": 2400, "coreCount": 8 },
                        { "manufacturer": "Intel", "productName": "Xeon", "speed": 2400 },
                    ],
                },
                "memory": { "totalSize": "32 GB" },
            },
        },
        "status": { "ready": true, "inUse": false, "isClean": true },
    }))
    .unwrap()
}

fn annotation(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Value {
    let data = &meta.annotations.as_ref().unwrap()[CONVERSION_DATA_ANNOTATION];
    serde_json::from_str(data).unwrap()
}

#[test]
fn server_down_conversion() {
    let hub = hub_server();
    let spoke = server_to_v1alpha1(&hub).unwrap();
    let expected = json!({
        "accepted": true, "hostname": "pxe-1",
        "system": { "manufacturer": "Dell Inc.", "productName": "R630", "version": "1",
                    "serialNumber": "SN", "skuNumber": "SKU", "family": "F" },
        "cpu": { "manufacturer": "Intel", "version": "Xeon" },
    });
    assert_eq!(serde_json::to_value(&spoke.spec).unwrap(), expected);
    assert_eq!(spoke.status, hub.status);
    assert_eq!(spoke.metadata.labels, hub.metadata.labels);
    let data = annotation(&spoke.metadata);
    assert!(
        data.get("metadata").is_none(),
        "CAPI MarshalData drops metadata"
    );
    assert_eq!(data["apiVersion"], "metal.sidero.dev/v1alpha2");
    assert_eq!(data["kind"], "Server");
    assert_eq!(data["spec"], serde_json::to_value(&hub.spec).unwrap());
    assert_eq!(data["status"], serde_json::to_value(&hub.status).unwrap());
}

#[test]
fn server_up_conversion_without_annotation() {
    let spoke: v1::Server = serde_json::from_value(json!({
        "metadata": { "name": "s" },
        "spec": { "accepted": false, "hostname": "h",
                  "system": { "manufacturer": "QEMU" },
                  "cpu": { "manufacturer": "AMD", "version": "Ryzen" } },
    }))
    .unwrap();
    let hub = server_to_v1alpha2(&spoke).unwrap();
    assert_eq!(
        serde_json::to_value(&hub.spec).unwrap(),
        json!({ "accepted": false, "hostname": "h", "hardware": {
            "system": { "manufacturer": "QEMU" },
            "compute": { "processors": [{ "manufacturer": "AMD", "productName": "Ryzen" }] },
        }})
    );
    let bare = v1::Server::new("s", v1::ServerSpec::default());
    assert_eq!(server_to_v1alpha2(&bare).unwrap().spec.hardware, None);
}

#[test]
fn server_round_trip_is_lossless() {
    let hub = hub_server();
    let spoke = server_to_v1alpha1(&hub).unwrap();
    let back = server_to_v1alpha2(&spoke).unwrap();
    assert_eq!(back, hub);
    assert_eq!(
        back.metadata.annotations, None,
        "annotation removed, empty map dropped"
    );

    let mut annotated = hub.clone();
    annotated.metadata.annotations = Some(BTreeMap::from([("a".into(), "b".into())]));
    let back = server_to_v1alpha2(&server_to_v1alpha1(&annotated).unwrap()).unwrap();
    assert_eq!(back, annotated);
}

#[test]
fn server_up_conversion_merges_v1alpha1_edits() {
    let hub = hub_server();
    let mut spoke = server_to_v1alpha1(&hub).unwrap();
    spoke.spec.hostname = Some("edited".into());
    spoke.spec.system.as_mut().unwrap().manufacturer = Some("QEMU".into());
    spoke.spec.cpu.as_mut().unwrap().version = Some("Atom".into());
    let back = server_to_v1alpha2(&spoke).unwrap();
    assert_eq!(back.spec.hostname.as_deref(), Some("edited"));
    assert_eq!(back.spec.strategic_patches, hub.spec.strategic_patches);
    let hardware = back.spec.hardware.unwrap();
    let system = hardware.system.unwrap();
    assert_eq!(system.uuid.as_deref(), Some("uuid-1"), "uuid kept");
    assert_eq!(system.manufacturer.as_deref(), Some("QEMU"));
    let compute = hardware.compute.unwrap();
    let processors = compute.processors.unwrap();
    assert_eq!(processors[0].product_name.as_deref(), Some("Atom"));
    assert_eq!(
        processors[0].core_count,
        Some(8),
        "other processor fields kept"
    );
    assert_eq!(processors.len(), 2);
    assert_eq!(compute.processor_count, Some(2));
    assert!(hardware.memory.is_some());

    // Removing system/cpu in v1alpha1 removes them from the hub; the rest stays.
    spoke.spec.system = None;
    spoke.spec.cpu = None;
    let hardware = server_to_v1alpha2(&spoke).unwrap().spec.hardware.unwrap();
    assert_eq!(hardware.system, None);
    assert_eq!(hardware.compute.unwrap().processors, None);
    assert!(hardware.memory.is_some());
}

#[test]
fn server_up_conversion_rejects_invalid_annotation() {
    let mut spoke = server_to_v1alpha1(&hub_server()).unwrap();
    spoke
        .metadata
        .annotations
        .as_mut()
        .unwrap()
        .insert(CONVERSION_DATA_ANNOTATION.into(), "{not json".into());
    let err = server_to_v1alpha2(&spoke).unwrap_err();
    assert!(
        matches!(err, ConversionError::InvalidConversionData(_)),
        "{err}"
    );
}

#[test]
fn server_restores_upstream_shaped_annotation() {
    // What upstream's Go webhook writes: apiVersion, kind, spec, status; no metadata.
    let data = json!({
        "apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
        "spec": { "accepted": true, "strategicPatches": ["a: b"],
                  "hardware": { "system": { "uuid": "u", "manufacturer": "M" } } },
        "status": { "ready": false, "inUse": false, "isClean": false },
    });
    let spoke: v1::Server = serde_json::from_value(json!({
        "metadata": { "name": "u", "annotations": { CONVERSION_DATA_ANNOTATION: data.to_string() } },
        "spec": { "accepted": true, "system": { "manufacturer": "M" } },
    }))
    .unwrap();
    let hub = server_to_v1alpha2(&spoke).unwrap();
    assert_eq!(hub.spec.strategic_patches, Some(vec!["a: b".to_owned()]));
    assert_eq!(
        hub.spec.hardware.unwrap().system.unwrap().uuid.as_deref(),
        Some("u")
    );
}

fn hub_class() -> v2::ServerClass {
    serde_json::from_value(json!({
        "metadata": { "name": "c" },
        "spec": {
            "strategicPatches": ["x: y"],
            "selector": { "matchLabels": { "a": "b" } },
            "qualifiers": {
                "hardware": [
                    { "system": { "manufacturer": "Dell", "uuid": "u" },
                      "compute": { "processors": [{ "manufacturer": "Intel", "productName": "Xeon" }] } },
                    { "memory": { "totalSize": "32 GB" } },
                    { "compute": { "processors": [{ "manufacturer": "AMD", "speed": 3000 }] } },
                ],
                "labelSelectors": [{ "zone": "east" }],
            },
        },
        "status": { "serversAvailable": ["s1"], "serversInUse": [] },
    }))
    .unwrap()
}

#[test]
fn serverclass_down_conversion() {
    let hub = hub_class();
    let spoke = serverclass_to_v1alpha1(&hub).unwrap();
    assert_eq!(
        serde_json::to_value(&spoke.spec).unwrap(),
        json!({
            "selector": { "matchLabels": { "a": "b" } },
            "qualifiers": {
                "systemInformation": [{ "manufacturer": "Dell" }],
                "cpu": [{ "manufacturer": "Intel", "version": "Xeon" }, { "manufacturer": "AMD" }],
                "labelSelectors": [{ "zone": "east" }],
            },
        })
    );
    assert_eq!(spoke.status, hub.status);
    assert_eq!(annotation(&spoke.metadata)["kind"], "ServerClass");
}

#[test]
fn serverclass_up_conversion_without_annotation() {
    let spoke: v1::ServerClass = serde_json::from_value(json!({
        "metadata": { "name": "c" },
        "spec": { "qualifiers": {
            "cpu": [{ "manufacturer": "Intel", "version": "Atom" }],
            "systemInformation": [{ "manufacturer": "QEMU" }, { "family": "F" }],
        }},
    }))
    .unwrap();
    let hub = serverclass_to_v1alpha2(&spoke).unwrap();
    assert_eq!(
        serde_json::to_value(&hub.spec.qualifiers).unwrap(),
        json!({ "hardware": [
            { "system": { "manufacturer": "QEMU" } },
            { "system": { "family": "F" } },
            { "compute": { "processors": [{ "manufacturer": "Intel", "productName": "Atom" }] } },
        ]})
    );
    assert_eq!(hub.spec.selector, Default::default());
    let empty = v1::ServerClass::new("c", v1::ServerClassSpec::default());
    assert_eq!(
        serverclass_to_v1alpha2(&empty).unwrap().spec,
        v2::ServerClassSpec::default()
    );
}

#[test]
fn serverclass_round_trip_and_edits() {
    let hub = hub_class();
    let mut spoke = serverclass_to_v1alpha1(&hub).unwrap();
    assert_eq!(serverclass_to_v1alpha2(&spoke).unwrap(), hub);

    // Editing a v1alpha1 qualifier list falls back to the plain mapping for `hardware`,
    // keeping everything v1alpha1 cannot touch.
    spoke.spec.qualifiers.cpu = None;
    spoke.spec.qualifiers.label_selectors = None;
    let back = serverclass_to_v1alpha2(&spoke).unwrap();
    assert_eq!(back.spec.strategic_patches, hub.spec.strategic_patches);
    assert_eq!(back.spec.qualifiers.label_selectors, None);
    assert_eq!(
        serde_json::to_value(&back.spec.qualifiers.hardware).unwrap(),
        json!([{ "system": { "manufacturer": "Dell" } }])
    );
}

#[test]
fn environment_conversion() {
    let hub: v2::Environment = serde_json::from_value(json!({
        "metadata": { "name": "default" },
        "spec": { "kernel": { "url": "k", "args": ["a=b"] }, "initrd": { "url": "i" } },
        "status": { "conditions": [{ "type": "Ready", "status": "True", "url": "k" }] },
    }))
    .unwrap();
    let spoke = environment_to_v1alpha1(&hub).unwrap();
    assert_eq!(spoke.spec.kernel, hub.spec.kernel);
    assert_eq!(spoke.spec.initrd, hub.spec.initrd);
    assert_eq!(annotation(&spoke.metadata)["kind"], "Environment");
    assert_eq!(environment_to_v1alpha2(&spoke).unwrap(), hub);
}

#[test]
fn convert_object_dispatch() {
    let hub = serde_json::to_value(hub_server()).unwrap();
    let down = convert_object(&hub, "metal.sidero.dev/v1alpha1").unwrap();
    assert_eq!(down["apiVersion"], "metal.sidero.dev/v1alpha1");
    assert_eq!(down["spec"]["cpu"]["version"], "Xeon");
    let up = convert_object(&down, "metal.sidero.dev/v1alpha2").unwrap();
    assert_eq!(up, hub);
    assert_eq!(
        convert_object(&hub, "metal.sidero.dev/v1alpha2").unwrap(),
        hub
    );

    for kind in ["ServerClass", "Environment"] {
        let object = json!({
            "apiVersion": "metal.sidero.dev/v1alpha1", "kind": kind,
            "metadata": { "name": "x" }, "spec": {},
        });
        let up = convert_object(&object, "metal.sidero.dev/v1alpha2").unwrap();
        assert_eq!(up["apiVersion"], "metal.sidero.dev/v1alpha2");
        assert_eq!(up["kind"], kind);
    }

    let unknown =
        json!({ "apiVersion": "metal.sidero.dev/v1alpha1", "kind": "Foo", "metadata": {} });
    let err = convert_object(&unknown, "metal.sidero.dev/v1alpha2").unwrap_err();
    assert!(matches!(err, ConversionError::Unsupported { .. }), "{err}");
    let err =
        convert_object(&json!({ "kind": "Server" }), "metal.sidero.dev/v1alpha2").unwrap_err();
    assert!(matches!(err, ConversionError::MissingTypeMeta), "{err}");
    let bad = json!({ "apiVersion": "metal.sidero.dev/v1alpha1", "kind": "Server",
                      "metadata": {}, "spec": { "accepted": "yes" } });
    let err = convert_object(&bad, "metal.sidero.dev/v1alpha2").unwrap_err();
    assert!(matches!(err, ConversionError::Decode { .. }), "{err}");
}
