#![allow(clippy::unwrap_used, clippy::panic)]

use super::*;

fn merged(base: &str, patch: &str) -> Config {
    let mut c = Config::parse(base).unwrap();
    let Patch::Strategic(p) = load_patch(patch).unwrap() else {
        panic!("not a strategic patch")
    };
    strategic_merge(&mut c, &p).unwrap();
    c
}

fn yaml(text: &str) -> Config {
    Config::parse(text).unwrap()
}

#[test]
fn maps_merge_and_patch_values_win() {
    let c = merged(
        "version: v1alpha1\nmachine:\n  network:\n    hostname: a\n  install: {disk: /dev/sda}\n",
        "machine:\n  network:\n    hostname: b\n  kubelet: {extraArgs: {x: y}}\n",
    );
    assert_eq!(
        c,
        yaml(
            "version: v1alpha1\nmachine:\n  network: {hostname: b}\n  install: {disk: /dev/sda}\n  kubelet: {extraArgs: {x: y}}\n"
        )
    );
}

#[test]
fn lists_append_except_where_talos_replaces_or_keys_them() {
    let base = "cluster:\n  network:\n    podSubnets: [10.0.0.0/16]\n  apiServer:\n    certSANs: [a]\n    auditPolicy: {rules: [{level: Metadata}], kind: Policy}\n";
    let c = merged(
        base,
        "cluster:\n  network:\n    podSubnets: [10.1.0.0/16]\n  apiServer:\n    certSANs: [b]\n    auditPolicy: {rules: [{level: None}]}\n",
    );
    assert_eq!(
        c.docs[0]["cluster"]["network"]["podSubnets"],
        serde_json::json!(["10.1.0.0/16"])
    );
    assert_eq!(
        c.docs[0]["cluster"]["apiServer"]["certSANs"],
        serde_json::json!(["a", "b"])
    );
    // Replaced whole: `kind` is gone.
    assert_eq!(
        c.docs[0]["cluster"]["apiServer"]["auditPolicy"],
        serde_json::json!({"rules": [{"level": "None"}]})
    );
}

#[test]
fn interfaces_and_vlans_merge_on_their_keys() {
    let base = "machine:\n  network:\n    interfaces:\n      - interface: eth0\n        dhcp: true\n        vlans: [{vlanId: 10, mtu: 1500}]\n      - deviceSelector: {hardwareAddr: 'aa:*'}\n        mtu: 9000\n";
    let patch = "machine:\n  network:\n    interfaces:\n      - interface: eth0\n        addresses: [10.0.0.2/24]\n        vlans: [{vlanId: 10, mtu: 1400}, {vlanId: 20}]\n      - deviceSelector: {hardwareAddr: 'aa:*'}\n        $patch: delete\n      - interface: eth1\n        dhcp: true\n";
    let c = merged(base, patch);
    let want = "machine:\n  network:\n    interfaces:\n      - interface: eth0\n        dhcp: true\n        addresses: [10.0.0.2/24]\n        vlans: [{vlanId: 10, mtu: 1400}, {vlanId: 20}]\n      - interface: eth1\n        dhcp: true\n";
    assert_eq!(c, yaml(want));
}

#[test]
fn documents_match_on_identity_and_can_be_deleted() {
    let base = "version: v1alpha1\nmachine: {}\n---\napiVersion: v1alpha1\nkind: ExtensionServiceConfig\nname: frr\nenvironment: [A=1]\nconfigFiles: [{mountPath: /etc/a, content: old}]\n";
    let patch = "apiVersion: v1alpha1\nkind: ExtensionServiceConfig\nname: frr\nenvironment: [B=2]\nconfigFiles: [{mountPath: /etc/a, content: new}]\n---\napiVersion: v1alpha1\nkind: ExtensionServiceConfig\nname: other\n";
    let c = merged(base, patch);
    assert_eq!(c.docs.len(), 3);
    assert_eq!(c.docs[1]["environment"], serde_json::json!(["A=1", "B=2"]));
    assert_eq!(
        c.docs[1]["configFiles"],
        serde_json::json!([{"mountPath": "/etc/a", "content": "new"}])
    );
    assert_eq!(c.docs[2]["name"], "other");
    let c = merged(
        &c.render().unwrap(),
        "apiVersion: v1alpha1\nkind: ExtensionServiceConfig\nname: frr\n$patch: delete\n",
    );
    assert_eq!(c.docs.len(), 2);
    assert_eq!(c.docs[1]["name"], "other");
}

#[test]
fn delete_directive_removes_keys_and_null_changes_nothing() {
    let c = merged(
        "machine:\n  install: {disk: /dev/sda, wipe: true}\n  network: {hostname: a}\n",
        "machine:\n  install:\n    $patch: delete\n  network:\n    hostname: null\n    nameservers: [1.1.1.1]\n",
    );
    assert_eq!(
        c,
        yaml("machine:\n  network: {hostname: a, nameservers: [1.1.1.1]}\n")
    );
}

#[test]
fn lists_are_json_patches_and_garbage_is_refused() {
    assert!(matches!(
        load_patch("- op: add\n  path: /a\n  value: 1\n").unwrap(),
        Patch::Json(_)
    ));
    assert!(matches!(
        load_patch("[{\"op\": \"remove\", \"path\": \"/a\"}]").unwrap(),
        Patch::Json(_)
    ));
    assert!(matches!(
        load_patch("machine: [unclosed\n"),
        Err(Error::Yaml(_))
    ));
    assert!(matches!(
        load_patch("a: 1\n---\n- 1\n"),
        Err(Error::NotAMapping { index: 1 })
    ));
}
