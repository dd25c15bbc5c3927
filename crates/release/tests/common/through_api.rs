//! What the webhooks must do for API clients, asserted through a real API server: objects
//! written in the older served versions read back losslessly as the storage versions and
//! back, and the validating webhooks reject what upstream rejects with readable messages.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use serde_json::{Value, json};

const METAL: &str = "metal.sidero.dev";
const INFRA: &str = "infrastructure.cluster.x-k8s.io";

fn api(
    client: &Client,
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
    ns: Option<&str>,
) -> Api<DynamicObject> {
    let ar =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
    match ns {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    }
}

fn servers(client: &Client, version: &str) -> Api<DynamicObject> {
    api(client, METAL, version, "Server", "servers", None)
}

fn machines(client: &Client, version: &str) -> Api<DynamicObject> {
    api(
        client,
        INFRA,
        version,
        "MetalMachine",
        "metalmachines",
        Some("default"),
    )
}

fn templates(client: &Client, version: &str) -> Api<DynamicObject> {
    api(
        client,
        INFRA,
        version,
        "MetalMachineTemplate",
        "metalmachinetemplates",
        Some("default"),
    )
}

fn obj(v: Value) -> DynamicObject {
    serde_json::from_value(v).unwrap()
}

fn data(o: &DynamicObject) -> Value {
    serde_json::to_value(o).unwrap()
}

async fn create(api: &Api<DynamicObject>, v: Value) -> Result<Value, String> {
    api.create(&PostParams::default(), &obj(v))
        .await
        .map(|o| data(&o))
        .map_err(|e| e.to_string())
}

/// Waits (up to 60 s) until the API server calls the webhooks as configured: it loads CRD and
/// webhook configuration changes asynchronously. Probes: a v1alpha2 Server read as v1alpha1
/// (metal conversion), a MetalCluster read as v1alpha2 (infra conversion), an invalid Server
/// (rejected) and a MetalMachineTemplate spec change (rejected).
pub async fn wait_until_webhooks_answer(client: &Client) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut last = String::new();
    let pause = || tokio::time::sleep(std::time::Duration::from_millis(200));
    let _ = create(
        &servers(client, "v1alpha2"),
        json!({
        "apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
        "metadata": {"name": "probe"}, "spec": {"accepted": false}}),
    )
    .await;
    let _ = create(
        &api(
            client,
            INFRA,
            "v1alpha3",
            "MetalCluster",
            "metalclusters",
            Some("default"),
        ),
        json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha3", "kind": "MetalCluster",
        "metadata": {"name": "probe", "namespace": "default"},
        "spec": {"controlPlaneEndpoint": {"host": "10.5.0.1", "port": 6443}}}),
    )
    .await;
    let _ = create(
        &templates(client, "v1alpha3"),
        json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha3", "kind": "MetalMachineTemplate",
        "metadata": {"name": "probe", "namespace": "default"},
        "spec": {"template": {"spec": {}}}}),
    )
    .await;
    for attempt in 0.. {
        assert!(
            std::time::Instant::now() < deadline,
            "webhooks never answered: {last}"
        );
        if let Err(e) = servers(client, "v1alpha1").get("probe").await {
            last = format!("metal conversion: {e}");
            pause().await;
            continue;
        }
        let mc = api(
            client,
            INFRA,
            "v1alpha2",
            "MetalCluster",
            "metalclusters",
            Some("default"),
        );
        match mc.get("probe").await {
            Ok(o) if data(&o)["spec"]["apiEndpoints"][0]["host"] == "10.5.0.1" => {}
            other => {
                last = format!("infra conversion: {:?}", other.map(|o| data(&o)));
                pause().await;
                continue;
            }
        }
        let bad = create(
            &servers(client, "v1alpha2"),
            json!({
            "apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
            "metadata": {"name": "probe-bad"}, "spec": {"accepted": false, "pxeMode": "probe"}}),
        )
        .await;
        if bad.is_ok() {
            let _ = servers(client, "v1alpha2")
                .delete("probe-bad", &Default::default())
                .await;
        }
        if !bad.as_ref().is_err_and(|e| e.contains("denied")) {
            last = format!("server validation: {bad:?}");
            pause().await;
            continue;
        }
        let change = templates(client, "v1alpha3")
            // A new value every time, so the patch always changes the spec.
            .patch(
                "probe",
                &PatchParams::default(),
                &Patch::Merge(
                    json!({"spec": {"template": {"spec": {"providerID": format!("p{attempt}")}}}}),
                ),
            )
            .await;
        if !change
            .as_ref()
            .is_err_and(|e| e.to_string().contains("denied"))
        {
            last = format!("template validation: {:?}", change.map(|o| data(&o)));
            pause().await;
            continue;
        }
        return;
    }
}

/// v1alpha1 Server ⇄ v1alpha2 and v1alpha2 MetalMachine ⇄ v1alpha3 through the API server.
pub async fn conversions_are_lossless(client: &Client, suffix: &str) {
    // A Server written as v1alpha1 …
    let name = format!("conv-{suffix}");
    let spec = json!({
        "accepted": true,
        "hostname": "node-1",
        "bootFromDiskMethod": "http-404",
        "pxeMode": "bios",
        "system": {"manufacturer": "Dell Inc.", "productName": "PowerEdge R630",
                   "serialNumber": "ABC123", "skuNumber": "SKU", "family": "PowerEdge", "version": "1"},
        "cpu": {"manufacturer": "Intel", "version": "Xeon E5-2630"},
        "configPatches": [{"op": "add", "path": "/machine/network", "value": {"hostname": "n1"}}],
    });
    create(
        &servers(client, "v1alpha1"),
        json!({
            "apiVersion": "metal.sidero.dev/v1alpha1", "kind": "Server",
            "metadata": {"name": name, "labels": {"rack": "r1"}}, "spec": spec,
        }),
    )
    .await
    .unwrap();
    // … reads back as the storage version with the fields mapped …
    let hub = data(&servers(client, "v1alpha2").get(&name).await.unwrap());
    assert_eq!(hub["apiVersion"], "metal.sidero.dev/v1alpha2");
    let hw = &hub["spec"]["hardware"];
    assert_eq!(hw["system"]["productName"], "PowerEdge R630");
    assert_eq!(hw["system"]["serialNumber"], "ABC123");
    assert_eq!(hw["compute"]["processors"][0]["manufacturer"], "Intel");
    assert_eq!(
        hw["compute"]["processors"][0]["productName"],
        "Xeon E5-2630"
    );
    assert!(hub["spec"].get("system").is_none() && hub["spec"].get("cpu").is_none());
    assert_eq!(hub["spec"]["configPatches"], spec["configPatches"]);
    assert_eq!(hub["spec"]["bootFromDiskMethod"], "http-404");
    assert_eq!(hub["metadata"]["labels"]["rack"], "r1");
    // … and as v1alpha1 exactly as written.
    let old = data(&servers(client, "v1alpha1").get(&name).await.unwrap());
    assert_eq!(old["apiVersion"], "metal.sidero.dev/v1alpha1");
    assert_eq!(
        old["spec"], spec,
        "v1alpha1 → v1alpha2 → v1alpha1 is lossless"
    );

    // A hub Server with what v1alpha1 cannot express survives an edit through v1alpha1.
    let rich = format!("rich-{suffix}");
    create(&servers(client, "v1alpha2"), json!({
        "apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
        "metadata": {"name": rich},
        "spec": {"accepted": false, "strategicPatches": ["machine:\n  install:\n    disk: /dev/sda\n"],
                 "hardware": {"system": {"manufacturer": "HPE", "uuid": "u-1"},
                              "compute": {"totalCoreCount": 16, "processors": [{"manufacturer": "AMD", "productName": "EPYC", "coreCount": 16}]},
                              "memory": {"totalSize": "64 GB"}}},
    }))
    .await
    .unwrap();
    let before = data(&servers(client, "v1alpha2").get(&rich).await.unwrap());
    servers(client, "v1alpha1")
        .patch(
            &rich,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"accepted": true}})),
        )
        .await
        .unwrap();
    let after = data(&servers(client, "v1alpha2").get(&rich).await.unwrap());
    assert_eq!(after["spec"]["accepted"], true);
    let mut expected = before["spec"].clone();
    expected["accepted"] = json!(true);
    assert_eq!(
        after["spec"], expected,
        "an edit through v1alpha1 loses nothing of the hub"
    );
    assert!(
        after["metadata"]["annotations"]
            .get("cluster.x-k8s.io/conversion-data")
            .is_none(),
        "the conversion-data annotation is not stored on the hub"
    );

    // A MetalMachine written as v1alpha2, its status through the v1alpha2 status subresource.
    let mm = format!("mm-{suffix}");
    let mm_spec = json!({"providerID": "sidero://s-1",
        "serverRef": {"apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server", "name": "s-1"}});
    create(
        &machines(client, "v1alpha2"),
        json!({
            "apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha2", "kind": "MetalMachine",
            "metadata": {"name": mm, "namespace": "default"}, "spec": mm_spec,
        }),
    )
    .await
    .unwrap();
    let status = json!({"ready": true, "errorReason": "CreateError", "errorMessage": "no servers"});
    machines(client, "v1alpha2")
        .patch_status(
            &mm,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": status})),
        )
        .await
        .unwrap();
    let hub = data(&machines(client, "v1alpha3").get(&mm).await.unwrap());
    assert_eq!(
        hub["apiVersion"],
        "infrastructure.cluster.x-k8s.io/v1alpha3"
    );
    assert_eq!(hub["spec"]["providerID"], "sidero://s-1");
    assert_eq!(hub["spec"]["serverRef"]["name"], "s-1");
    assert_eq!(hub["status"]["ready"], true);
    assert_eq!(hub["status"]["failureReason"], "CreateError");
    assert_eq!(hub["status"]["failureMessage"], "no servers");
    let old = data(&machines(client, "v1alpha2").get(&mm).await.unwrap());
    assert_eq!(
        old["spec"], mm_spec,
        "v1alpha2 → v1alpha3 → v1alpha2 is lossless"
    );
    assert_eq!(old["status"], status);

    // A hub MetalMachine's serverClassRef survives an edit through v1alpha2.
    let mm3 = format!("mm3-{suffix}");
    create(&machines(client, "v1alpha3"), json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha3", "kind": "MetalMachine",
        "metadata": {"name": mm3, "namespace": "default"},
        "spec": {"serverClassRef": {"apiVersion": "metal.sidero.dev/v1alpha2", "kind": "ServerClass", "name": "workers"}},
    }))
    .await
    .unwrap();
    machines(client, "v1alpha2")
        .patch(
            &mm3,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"providerID": "sidero://s-2"}})),
        )
        .await
        .unwrap();
    let hub = data(&machines(client, "v1alpha3").get(&mm3).await.unwrap());
    assert_eq!(hub["spec"]["serverClassRef"]["name"], "workers");
    assert_eq!(hub["spec"]["providerID"], "sidero://s-2");
    println!(
        "conversions: Server v1alpha1⇄v1alpha2 and MetalMachine v1alpha2⇄v1alpha3 lossless through the API server"
    );
}

/// The validating webhooks, as API clients see them.
pub async fn validation_rejects_as_upstream(client: &Client, suffix: &str) {
    let server = |name: String, version: &str, spec: Value| {
        json!({
            "apiVersion": format!("metal.sidero.dev/{version}"), "kind": "Server",
            "metadata": {"name": name}, "spec": spec,
        })
    };
    // With the default matchPolicy (Equivalent) a request of either version goes to both
    // Server webhooks (`vservers…` for v1alpha2, `v1alpha1.vservers…`); whichever denies
    // first is named.
    let denied = "vservers.metal.sidero.dev\" denied the request";
    let cases: Vec<(&str, Value, Vec<String>)> = vec![
        ("v1alpha2", json!({"accepted": false, "bootFromDiskMethod": "magic"}),
         vec![denied.into(), format!("Server.metal.sidero.dev \"bad-0-{suffix}\" is invalid"),
              r#"spec.bootFromDiskMethod: Invalid value: "magic": valid values are: ["" "ipxe-exit" "http-404" "ipxe-sanboot"]"#.into()]),
        ("v1alpha1", json!({"accepted": false, "pxeMode": "efi"}),
         vec![r#"spec.pxeMode: Invalid value: "efi": valid values are: ["" "bios" "uefi"]"#.into()]),
        ("v1alpha2", json!({"accepted": false, "configPatches": [{"op": "add", "path": "/a", "value": 1}, {"op": "delete", "path": "/b"}]}),
         vec![r#"spec.configPatches.1.op: Invalid value: "delete": valid values are: ["add" "copy" "move" "remove" "replace" "test"]"#.into()]),
    ];
    for (i, (version, spec, needles)) in cases.into_iter().enumerate() {
        let name = format!("bad-{i}-{suffix}");
        let err = create(&servers(client, version), server(name, version, spec))
            .await
            .unwrap_err();
        for n in needles {
            assert!(err.contains(&n), "{version}: {err}\nlacks: {n}");
        }
        println!("rejected: {err}");
    }
    // Valid values pass; an update to an invalid one is rejected; deleting is allowed.
    let ok = format!("ok-{suffix}");
    create(
        &servers(client, "v1alpha2"),
        server(
            ok.clone(),
            "v1alpha2",
            json!({"accepted": false, "bootFromDiskMethod": "ipxe-sanboot", "pxeMode": "uefi"}),
        ),
    )
    .await
    .unwrap();
    let err = servers(client, "v1alpha2")
        .patch(
            &ok,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"pxeMode": "pxe"}})),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains(r#"Invalid value: "pxe""#), "{err}");
    servers(client, "v1alpha2")
        .delete(&ok, &Default::default())
        .await
        .unwrap();

    // MetalMachineTemplate: the spec is immutable, in either served version; metadata is not.
    let t = format!("tmpl-{suffix}");
    create(&templates(client, "v1alpha3"), json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha3", "kind": "MetalMachineTemplate",
        "metadata": {"name": t, "namespace": "default"},
        "spec": {"template": {"spec": {"serverClassRef": {"kind": "ServerClass", "name": "a"}}}},
    }))
    .await
    .unwrap();
    for version in ["v1alpha3", "v1alpha2"] {
        let patch = if version == "v1alpha3" {
            json!({"spec": {"template": {"spec": {"serverClassRef": {"name": "b"}}}}})
        } else {
            json!({"spec": {"template": {"spec": {"providerID": "sidero://x"}}}})
        };
        let err = templates(client, version)
            .patch(&t, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("admission webhook \"vmetalmachinetemplates.infrastructure.cluster.x-k8s.io\" denied the request: MetalMachineTemplate.Spec is immutable"),
            "{version}: {err}"
        );
        println!("rejected: {err}");
    }
    templates(client, "v1alpha3")
        .patch(
            &t,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    templates(client, "v1alpha3")
        .delete(&t, &Default::default())
        .await
        .unwrap();
}
