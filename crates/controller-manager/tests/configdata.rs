//! `/configdata` over real HTTP against a real API server: the chain binding → MetalMachine →
//! Machine → bootstrap Secret, the class and server patches, and every refusal with
//! upstream's status code and text.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};
use sidero_api::infra::v1alpha3::{MetalMachine, ServerBinding};
use sidero_api::metal::v1alpha2::Environment;
use sidero_api::metal::v1alpha2::{Server, ServerClass};
use sidero_controller_manager::http::ConfigRelease;
use sidero_controller_manager::http::Dirs;
use sidero_machineconfig::Config;
use support::{SIDEROLINK_ADDRESS, boot_state, curl, serve_boot};

/// A stand-in for CAPI's Machine CRD (the real one comes with the CAPI stack tests): the
/// handler only reads `spec.bootstrap.dataSecretName`.
async fn install_machine_crd(client: &Client) {
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "machines.cluster.x-k8s.io"},
        "spec": {"group": "cluster.x-k8s.io", "scope": "Namespaced",
            "names": {"plural": "machines", "singular": "machine", "kind": "Machine", "listKind": "MachineList"},
            "versions": [{"name": "v1beta1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    }))
    .unwrap();
    sidero_testenv::crds::install(client, &[crd]).await.unwrap();
}

async fn create<K>(api: &Api<K>, v: Value) -> K
where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.create(&PostParams::default(), &serde_json::from_value(v).unwrap())
        .await
        .unwrap()
}

fn machines(client: &Client) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "cluster.x-k8s.io",
        "v1beta1",
        "Machine",
    ));
    Api::namespaced_with(client.clone(), "default", &ar)
}

/// Creates the chain for server `uuid`: Server (with patches), Machine (with `secret` as its
/// data secret name, if any), MetalMachine owned by it, ServerBinding (with `class`, if any).
async fn allocate(client: &Client, uuid: &str, secret: Option<&str>, class: Option<&str>) {
    create(
        &Api::<Server>::all(client.clone()),
        json!({"apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server", "metadata": {"name": uuid},
            "spec": {"accepted": true,
                "configPatches": [{"op": "replace", "path": "/machine/network/hostname", "value": format!("host-{uuid}")}],
                "strategicPatches": ["apiVersion: v1alpha1\nkind: ExtensionServiceConfig\nname: frr\nenvironment:\n  - TESTKEY=TESTVALUE\n"]}}),
    )
    .await;
    let mut spec = json!({"clusterName": "c1", "bootstrap": {}});
    if let Some(s) = secret {
        spec["bootstrap"]["dataSecretName"] = json!(s);
    }
    let machine = machines(client)
        .create(
            &PostParams::default(),
            &serde_json::from_value(
                json!({"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Machine",
                "metadata": {"name": format!("m-{uuid}"), "namespace": "default"}, "spec": spec}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    let mm: MetalMachine = create(
        &Api::namespaced(client.clone(), "default"),
        json!({"apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha3", "kind": "MetalMachine",
            "metadata": {"name": format!("mm-{uuid}"), "namespace": "default",
                "ownerReferences": [{"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Machine",
                    "name": format!("m-{uuid}"), "uid": machine.metadata.uid.unwrap()}]},
            "spec": {"serverRef": {"name": uuid}}}),
    )
    .await;
    let mut bspec = json!({"metalMachineRef": {"kind": "MetalMachine", "namespace": "default",
            "name": mm.metadata.name.unwrap(), "uid": mm.metadata.uid.unwrap()},
        "siderolink": {"address": "fdae:2859:5bb1:7a03:1:2:3:4/64", "publicKey": "cGs="}});
    if let Some(c) = class {
        bspec["serverClassRef"] =
            json!({"apiVersion": "metal.sidero.dev/v1alpha2", "kind": "ServerClass", "name": c});
    }
    create(
        &Api::<ServerBinding>::all(client.clone()),
        json!({"apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha3", "kind": "ServerBinding",
            "metadata": {"name": uuid}, "spec": bspec}),
    )
    .await;
}

async fn secret(client: &Client, name: &str, data: Value) {
    create(
        &Api::<Secret>::namespaced(client.clone(), "default"),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "default"}, "stringData": data}),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configdata_assembles_and_refuses_like_upstream() {
    let client = sidero_testenv::shared().unwrap().client().await.unwrap();
    install_machine_crd(&client).await;
    let dirs = tempfile::tempdir().unwrap();
    let d = Dirs {
        env: dirs.path().join("env"),
        tftp: dirs.path().join("tftp"),
    };
    let base = serve_boot(boot_state(client.clone(), ""), &d).await;
    let get = |q: &str| {
        let (code, body) = curl(&format!("{base}/configdata{q}"), &[]);
        (code, String::from_utf8(body).unwrap())
    };

    create(
        &Api::<ServerClass>::all(client.clone()),
        json!({"apiVersion": "metal.sidero.dev/v1alpha2", "kind": "ServerClass", "metadata": {"name": "cd-class"},
            "spec": {"qualifiers": {},
                "configPatches": [{"op": "add", "path": "/machine/network", "value": {"hostname": "from-class"}}],
                "strategicPatches": ["machine:\n  install:\n    disk: /dev/vda\n"]}}),
    )
    .await;
    let bootstrap = "version: v1alpha1\nmachine:\n  type: worker\n  kubelet:\n    extraArgs:\n      node-labels: foo=bar\n";
    secret(&client, "boot-ok", json!({"value": bootstrap})).await;
    allocate(&client, "cd-ok", Some("boot-ok"), Some("cd-class")).await;

    let (code, body) = get("?uuid=cd-ok");
    assert_eq!(code, 200, "{body}");
    let config = Config::parse(&body).unwrap();
    let machine = &config.docs[0]["machine"];
    assert_eq!(
        machine["network"]["hostname"], "host-cd-ok",
        "server patch after class patch"
    );
    assert_eq!(machine["install"]["disk"], "/dev/vda");
    assert_eq!(
        machine["kubelet"]["extraArgs"]["node-labels"],
        "foo=bar,metal.sidero.dev/uuid=cd-ok"
    );
    let kinds: Vec<&str> = config
        .docs
        .iter()
        .filter_map(|d| d.get("kind")?.as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            "ExtensionServiceConfig",
            "SideroLinkConfig",
            "EventSinkConfig",
            "KmsgLogConfig"
        ]
    );
    assert_eq!(config.docs[2]["apiUrl"], "grpc://127.0.0.1:8081");
    assert_eq!(
        config.docs[3]["endpoint"],
        format!("[{SIDEROLINK_ADDRESS}]:4002")
    );

    // Refusals, in the order the handler meets them.
    assert_eq!(
        get(""),
        (500, "received metadata request with empty uuid\n".into())
    );
    assert_eq!(
        get("?uuid=xxx-yyy"),
        (404, "server is not allocated (missing serverbinding): serverbindings.infrastructure.cluster.x-k8s.io \"xxx-yyy\" not found\n".into())
    );
    allocate(&client, "cd-nosecretname", None, None).await;
    assert_eq!(
        get("?uuid=cd-nosecretname"),
        (
            404,
            "no dataSecretName present for machine default/m-cd-nosecretname\n".into()
        )
    );
    allocate(&client, "cd-nosecret", Some("absent"), None).await;
    assert_eq!(
        get("?uuid=cd-nosecret"),
        (404, "bootstrap secret default/absent not found\n".into())
    );
    secret(&client, "boot-novalue", json!({"other": "x"})).await;
    allocate(&client, "cd-novalue", Some("boot-novalue"), None).await;
    assert_eq!(
        get("?uuid=cd-novalue"),
        (
            404,
            "value key not found in bootstrap data: default/boot-novalue\n".into()
        )
    );
    allocate(&client, "cd-noclass", Some("boot-ok"), Some("absent-class")).await;
    let (code, body) = get("?uuid=cd-noclass");
    assert_eq!(code, 500);
    assert!(
        body.starts_with("failure fetching serverclass absent-class: "),
        "{body}"
    );
    // The server patch replaces a path the bootstrap lacks: a readable 500, nothing served.
    secret(
        &client,
        "boot-bare",
        json!({"value": "version: v1alpha1\nmachine: {}\n"}),
    )
    .await;
    allocate(&client, "cd-badpatch", Some("boot-bare"), None).await;
    let (code, body) = get("?uuid=cd-badpatch");
    assert_eq!(code, 500);
    assert!(
        body.starts_with(
            "failure applying patches [{\"op\":\"replace\",\"path\":\"/machine/network/hostname\""
        ),
        "{body}"
    );

    authenticated_release(&client, &d).await;
}

/// With authenticated release (our default): `/ipxe` embeds a token in the `talos.config` URL,
/// `/configdata` serves only with it, from the address that fetched the script, for that
/// server; every refusal is a 403 with a readable body and a Warning Event on the Server.
async fn authenticated_release(client: &Client, d: &Dirs) {
    create(
        &Api::<Environment>::all(client.clone()),
        json!({"apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Environment", "metadata": {"name": "default"},
            "spec": {"kernel": {"args": ["console=tty0", "talos.platform=metal"]}}}),
    )
    .await;
    let key = sidero_netboot::token::derive_key(b"test installation secret");
    let mut state = boot_state(client.clone(), "");
    std::sync::Arc::get_mut(&mut state).unwrap().release = Some(ConfigRelease {
        key,
        ttl: std::time::Duration::from_secs(3600),
        bind_address: true,
    });
    let base = serve_boot(state, d).await;
    let (code, script) = curl(
        &format!("{base}/ipxe?uuid=cd-ok&mac=52-54-00-12-34-56&arch=x86_64"),
        &[],
    );
    let script = String::from_utf8(script).unwrap();
    assert_eq!(code, 200, "{script}");
    let url = script
        .split_whitespace()
        .find_map(|a| a.strip_prefix("talos.config="))
        .unwrap_or_else(|| panic!("no talos.config in {script}"));
    let token = url
        .strip_prefix("http://127.0.0.1:8081/configdata?token=")
        .and_then(|rest| rest.strip_suffix("&uuid="))
        .unwrap_or_else(|| panic!("unexpected talos.config URL {url}"));

    // What Talos does: the URL with its UUID filled in, from the same address.
    let (code, body) = curl(&format!("{base}/configdata?token={token}&uuid=cd-ok"), &[]);
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    assert!(Config::parse(std::str::from_utf8(&body).unwrap()).is_ok());

    let refused = |q: &str, extra: &[&str]| {
        let (code, body) = curl(&format!("{base}/configdata?{q}"), extra);
        (code, String::from_utf8(body).unwrap())
    };
    assert_eq!(
        refused("uuid=cd-ok", &[]),
        (403, "refused the machine config of \"cd-ok\" to 127.0.0.1: no config token in the request\n".into())
    );
    // Someone who knows another server's UUID and holds a valid token of their own.
    assert_eq!(
        refused(&format!("token={token}&uuid=cd-noclass"), &[]),
        (403, "refused the machine config of \"cd-noclass\" to 127.0.0.1: config token is not valid for this server and address\n".into())
    );
    // The token replayed from another address.
    assert_eq!(
        refused(&format!("token={token}&uuid=cd-ok"), &["--interface", "127.0.0.2"]),
        (403, "refused the machine config of \"cd-ok\" to 127.0.0.2: config token is not valid for this server and address\n".into())
    );
    // A token past its lifetime.
    let now = sidero_controller_manager::http::unix_now();
    let old = sidero_netboot::token::issue(
        &key,
        "cd-ok",
        Some("127.0.0.1".parse().unwrap()),
        now - 7200,
        3600,
    );
    assert_eq!(
        refused(&format!("token={old}&uuid=cd-ok"), &[]),
        (
            403,
            "refused the machine config of \"cd-ok\" to 127.0.0.1: config token expired\n".into()
        )
    );
    // Each refusal is an Event on the Server.
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::all(client.clone());
    let start = std::time::Instant::now();
    loop {
        let list = events.list(&Default::default()).await.unwrap();
        let refusals = list
            .items
            .iter()
            .filter(|e| {
                e.reason.as_deref() == Some("ConfigRefused")
                    && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("cd-ok")
            })
            .count();
        if refusals >= 1 {
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "no ConfigRefused event"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
