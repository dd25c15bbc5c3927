//! The upstream `/configdata` fixtures (spec §6) plus the multi-document cases upstream fails.
#![allow(clippy::unwrap_used)]

use serde_json::json;

use super::*;

fn node() -> NodeDocs {
    NodeDocs {
        api_url: "grpc://10.5.0.1:8081".into(),
        event_sink: "[fdae:41e4:649b:9303::1]:4002".into(),
        kmsg_url: "tcp://[fdae:41e4:649b:9303::1]:4001".into(),
    }
}

fn server(json: Vec<Value>, strategic: &[&str]) -> Patches {
    Patches {
        source: "server",
        json,
        strategic: strategic.iter().map(|s| s.to_string()).collect(),
    }
}

fn run(bootstrap: &str, class: Option<&Patches>, srv: &Patches, uuid: &str) -> Config {
    Config::parse(&assemble(bootstrap, class, srv, uuid, &node()).unwrap()).unwrap()
}

fn assert_siderolink_docs(c: &Config) {
    let kinds: Vec<&str> = c
        .docs
        .iter()
        .filter_map(|d| d.get("kind")?.as_str())
        .collect();
    assert_eq!(
        kinds[kinds.len() - 3..],
        ["SideroLinkConfig", "EventSinkConfig", "KmsgLogConfig"]
    );
    let n = c.docs.len();
    assert_eq!(c.docs[n - 3]["apiUrl"], "grpc://10.5.0.1:8081");
    assert_eq!(c.docs[n - 2]["endpoint"], "[fdae:41e4:649b:9303::1]:4002");
    assert_eq!(c.docs[n - 1]["name"], "remote-log");
    assert_eq!(c.docs[n - 1]["url"], "tcp://[fdae:41e4:649b:9303::1]:4001");
}

#[test]
fn empty_kubelet_gets_the_node_label_and_siderolink_docs() {
    let c = run(
        "version: v1alpha1\nmachine:\n  kubelet: {}\n",
        None,
        &Patches::default(),
        "0000-1111-2222",
    );
    assert_eq!(
        c.docs[0]["machine"]["kubelet"]["extraArgs"],
        json!({"node-labels": "metal.sidero.dev/uuid=0000-1111-2222"})
    );
    assert_eq!(c.docs.len(), 4);
    assert_siderolink_docs(&c);
}

#[test]
fn server_json_patch_and_existing_extra_args() {
    let boot = "version: v1alpha1\nmachine:\n  kubelet:\n    extraArgs:\n      foo: bar\n";
    let srv = server(
        vec![json!({"op": "add", "path": "/machine/network", "value": {"hostname": "example2"}})],
        &[],
    );
    let c = run(boot, None, &srv, "1111-2222-3333");
    assert_eq!(
        c.docs[0]["machine"]["kubelet"]["extraArgs"],
        json!({"foo": "bar", "node-labels": "metal.sidero.dev/uuid=1111-2222-3333"})
    );
    assert_eq!(c.docs[0]["machine"]["network"]["hostname"], "example2");
}

#[test]
fn class_then_server_json_patches_and_existing_node_labels() {
    let boot =
        "version: v1alpha1\nmachine:\n  kubelet:\n    extraArgs:\n      node-labels: foo=bar\n";
    let class = Patches {
        source: "serverclass",
        json: vec![
            json!({"op": "add", "path": "/machine/network", "value": {"hostname": "fromclass"}}),
        ],
        strategic: vec![],
    };
    let srv = server(
        vec![json!({"op": "replace", "path": "/machine/network/hostname", "value": "example3"})],
        &[],
    );
    let c = run(boot, Some(&class), &srv, "2222-3333-4444");
    assert_eq!(
        c.docs[0]["machine"]["kubelet"]["extraArgs"]["node-labels"],
        "foo=bar,metal.sidero.dev/uuid=2222-3333-4444"
    );
    assert_eq!(c.docs[0]["machine"]["network"]["hostname"], "example3");
}

#[test]
fn missing_kubelet_or_machine_is_created() {
    for (boot, uuid) in [
        (
            "version: v1alpha1\nmachine:\n  type: worker\n",
            "4444-5555-6666",
        ),
        ("version: v1alpha1\n", "5555-6666-7777"),
    ] {
        let c = run(boot, None, &Patches::default(), uuid);
        assert_eq!(
            c.docs[0]["machine"]["kubelet"]["extraArgs"]["node-labels"],
            format!("metal.sidero.dev/uuid={uuid}")
        );
    }
}

#[test]
fn strategic_patches_server_wins_and_extension_document_survives() {
    let boot =
        "version: v1alpha1\nmachine:\n  kubelet:\n    extraArgs:\n      node-labels: foo=bar\n";
    let class = Patches {
        source: "serverclass",
        json: vec![],
        strategic: vec!["machine:\n  network:\n    hostname: invalid6\n".into()],
    };
    let srv = server(
        vec![],
        &[
            "machine:\n  network:\n    hostname: example6\n",
            "apiVersion: v1alpha1\nkind: ExtensionServiceConfig\nname: frr\nenvironment:\n  - TESTKEY=TESTVALUE\n",
        ],
    );
    let c = run(boot, Some(&class), &srv, "6666-7777-8888");
    assert_eq!(c.docs[0]["machine"]["network"]["hostname"], "example6");
    assert_eq!(
        c.docs[0]["machine"]["kubelet"]["extraArgs"]["node-labels"],
        "foo=bar,metal.sidero.dev/uuid=6666-7777-8888"
    );
    assert_eq!(c.docs[1]["kind"], "ExtensionServiceConfig");
    assert_eq!(c.docs[1]["environment"], json!(["TESTKEY=TESTVALUE"]));
    assert_eq!(c.docs.len(), 5);
    assert_siderolink_docs(&c);
}

#[test]
fn json_patches_work_on_multi_document_configs() {
    // Upstream: "JSON6902 patches are not supported for multi-document machine configuration".
    let boot = "version: v1alpha1\nmachine: {}\n---\napiVersion: v1alpha1\nkind: ExtensionServiceConfig\nname: frr\n";
    let srv = server(
        vec![json!({"op": "add", "path": "/machine/install", "value": {"disk": "/dev/vda"}})],
        &["- op: add\n  path: /machine/network\n  value: {hostname: n}\n"],
    );
    let c = run(boot, None, &srv, "u");
    assert_eq!(c.docs[0]["machine"]["install"]["disk"], "/dev/vda");
    assert_eq!(c.docs[0]["machine"]["network"]["hostname"], "n");
}

#[test]
fn serving_twice_does_not_repeat_the_label_and_siderolink_docs_are_merged_not_duplicated() {
    let once = assemble(
        "version: v1alpha1\nmachine: {}\n",
        None,
        &Patches::default(),
        "u1",
        &node(),
    )
    .unwrap();
    let twice = run(&once, None, &Patches::default(), "u1");
    assert_eq!(
        twice.docs[0]["machine"]["kubelet"]["extraArgs"]["node-labels"],
        "metal.sidero.dev/uuid=u1"
    );
    assert_eq!(twice.docs.len(), 4);
}

#[test]
fn errors_carry_upstreams_messages() {
    let e = assemble(
        "version: v1alpha2\n",
        None,
        &Patches::default(),
        "u",
        &node(),
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "unknown config type");
    let e = assemble("version: [\n", None, &Patches::default(), "u", &node()).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("failure creating config struct: invalid YAML"),
        "{e}"
    );
    let srv = server(
        vec![json!({"op": "replace", "path": "/machine/nope/x", "value": 1})],
        &[],
    );
    let e = assemble("version: v1alpha1\nmachine: {}\n", None, &srv, "u", &node()).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("failure applying patches [{\"op\":\"replace\""),
        "{e}"
    );
    let srv = server(vec![], &["machine: [\n"]);
    let e = assemble("version: v1alpha1\n", None, &srv, "u", &node()).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("failure loading patches from server: invalid YAML"),
        "{e}"
    );
}
