//! Rows beyond the pinned table: cordoning, missing hardware, positional lists, zero values,
//! empty-but-present lists, `any`, and the status split.

use serde_json::json;

use super::fixtures::{
    AMD, INTEL, atom, class, cordoned, dual_xeon, extra_servers, hardware, in_use, pinned_servers,
    ryzen, server,
};
use crate::{hardware_matches, matches, partially_equal, status_for};

/// (case, class name, class spec, expected members) over the pinned + extra servers.
#[test]
fn extra_rows() {
    let mut servers = pinned_servers();
    servers.extend(extra_servers());
    let hw = |h: serde_json::Value| json!({"qualifiers": {"hardware": h}});
    let procs = |p: serde_json::Value| hw(json!([{"compute": {"processors": p}}]));
    let with_hw = vec!["atom", "dualXeon", "netbox", "ryzen", "sysonly"];
    let rows = vec![
        (
            "empty class: no cordoned, no unaccepted",
            "c",
            json!({}),
            vec!["atom", "bare", "dualXeon", "netbox", "ryzen", "sysonly"],
        ),
        (
            "template {} needs hardware info",
            "c",
            hw(json!([{}])),
            with_hw.clone(),
        ),
        (
            "empty-but-present hardware list does not constrain",
            "c",
            hw(json!([])),
            vec!["atom", "bare", "dualXeon", "netbox", "ryzen", "sysonly"],
        ),
        (
            "zero scalar is unspecified",
            "c",
            hw(json!([{"compute": {"totalCoreCount": 0}}])),
            with_hw.clone(),
        ),
        (
            "empty string is unspecified",
            "c",
            hw(json!([{"system": {"manufacturer": ""}}])),
            with_hw.clone(),
        ),
        (
            "all-zero struct matches an absent one",
            "c",
            hw(json!([{"system": {}}])),
            with_hw.clone(),
        ),
        (
            "set scalar vs absent struct",
            "c",
            hw(json!([{"system": {"manufacturer": "QEMU"}}])),
            vec!["ryzen", "sysonly"],
        ),
        (
            "empty processor list needs compute",
            "c",
            procs(json!([])),
            vec!["atom", "dualXeon", "ryzen"],
        ),
        (
            "empty processor template needs one processor",
            "c",
            procs(json!([{}])),
            vec!["atom", "dualXeon", "ryzen"],
        ),
        (
            "len(q) > len(s) fails",
            "c",
            procs(json!([{}, {}])),
            vec!["dualXeon"],
        ),
        (
            "positional: index 1 only",
            "c",
            procs(json!([{}, {"manufacturer": INTEL}])),
            vec!["dualXeon"],
        ),
        (
            "positional: lists are not searched",
            "c",
            procs(json!([{}, {"manufacturer": AMD}])),
            vec![],
        ),
        (
            "two set processors",
            "c",
            procs(json!([{"manufacturer": INTEL}, {"manufacturer": INTEL}])),
            vec!["dualXeon"],
        ),
        (
            "numbers compare",
            "c",
            procs(json!([{"coreCount": 8, "threadCount": 16}])),
            vec!["dualXeon", "ryzen"],
        ),
        (
            "absent server scalar is empty",
            "c",
            procs(json!([{"serialNumber": "X"}])),
            vec![],
        ),
        (
            "total counts",
            "c",
            hw(json!([{"compute": {"totalCoreCount": 16}}])),
            vec!["dualXeon"],
        ),
        (
            "one zero template among others matches all with hardware",
            "c",
            hw(json!([{"system": {"manufacturer": "Gateway"}}, {}])),
            with_hw.clone(),
        ),
        (
            "address list is positional",
            "c",
            hw(json!([{"network": {"interfaces": [{"addresses": ["", "fd00::2/64"]}]}}])),
            vec!["netbox"],
        ),
        (
            "address at the wrong index",
            "c",
            hw(json!([{"network": {"interfaces": [{"addresses": ["fd00::2/64"]}]}}])),
            vec![],
        ),
        (
            "64-bit storage size",
            "c",
            hw(
                json!([{"storage": {"devices": [{"size": 1_000_204_886_016_i64, "type": "NVMe"}]}}]),
            ),
            vec!["netbox"],
        ),
        (
            "memory module index 1",
            "c",
            hw(json!([{"memory": {"modules": [{}, {"size": 16384}]}}])),
            vec!["netbox"],
        ),
        (
            "hardware AND labelSelectors",
            "c",
            json!({"qualifiers": {"hardware": [{"system": {"manufacturer": "QEMU"}}],
                "labelSelectors": [{"zone": "central"}]}}),
            vec![],
        ),
        (
            "hardware AND labelSelectors (match)",
            "c",
            json!({"qualifiers": {"hardware": [{"compute": {"processors": [{"manufacturer": INTEL}]}}],
                "labelSelectors": [{"zone": "central"}]}}),
            vec!["atom"],
        ),
        (
            "labelSelectors without hardware info",
            "c",
            json!({"qualifiers": {"labelSelectors": [{"zone": "central"}]}}),
            vec!["atom", "bare"],
        ),
        (
            "labelSelectors: one empty map matches nothing",
            "c",
            json!({"qualifiers": {"labelSelectors": [{}]}}),
            vec![],
        ),
        (
            "labelSelectors: empty list does not constrain",
            "c",
            json!({"qualifiers": {"labelSelectors": []}}),
            vec!["atom", "bare", "dualXeon", "netbox", "ryzen", "sysonly"],
        ),
        (
            "selector NotIn matches unlabeled servers",
            "c",
            json!({"selector": {"matchExpressions": [
                {"key": "zone", "operator": "NotIn", "values": ["central"]}]}}),
            vec!["dualXeon", "netbox", "ryzen", "sysonly"],
        ),
        (
            "selector DoesNotExist",
            "c",
            json!({"selector": {"matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]}}),
            vec!["dualXeon", "netbox", "sysonly"],
        ),
        (
            "any ignores leftover qualifiers",
            "any",
            hw(json!([{"system": {"manufacturer": "Gateway"}}])),
            vec!["atom", "bare", "dualXeon", "netbox", "ryzen", "sysonly"],
        ),
        (
            "any keeps its selector",
            "any",
            json!({"selector": {"matchLabels": {"zone": "central"}},
                "qualifiers": {"labelSelectors": [{"nope": "x"}]}}),
            vec!["atom", "bare"],
        ),
    ];
    for (case, name, spec, expected) in rows {
        let status = status_for(name, &class(spec), &servers).unwrap();
        assert_eq!(status.servers_available, expected, "{case}");
    }
}

#[test]
fn matches_takes_the_spec_literally() {
    // Named `any` or not, `matches` has no name: qualifiers apply.
    let spec = class(json!({"qualifiers": {"hardware": [{"system": {"manufacturer": "QEMU"}}]}}));
    assert!(!matches(&spec, &atom()).unwrap());
    assert!(matches(&spec, &ryzen()).unwrap());
}

#[test]
fn cordoned_false_is_not_cordoned() {
    let spec = class(json!({}));
    assert!(matches(&spec, &cordoned(atom(), false)).unwrap());
    assert!(!matches(&spec, &cordoned(atom(), true)).unwrap());
}

#[test]
fn status_splits_on_in_use_and_sorts() {
    let servers = vec![
        in_use(server("c", &[], true, json!(null))),
        server("b", &[], true, json!(null)),
        in_use(server("a", &[], true, json!(null))),
        server("B", &[], true, json!(null)),
        cordoned(in_use(server("z", &[], true, json!(null))), true),
    ];
    let status = status_for("c", &class(json!({})), &servers).unwrap();
    assert_eq!(status.servers_available, ["B", "b"]);
    assert_eq!(status.servers_in_use, ["a", "c"]);
}

#[test]
fn partial_equality_directly() {
    // Upstream's Test_PartialEqual: empty qualifier, matching and non-matching manufacturer.
    let server = dual_xeon().spec.hardware.unwrap();
    assert!(partially_equal(&hardware(json!({})), &server));
    let intel = hardware(json!({"compute": {"processors": [{"manufacturer": INTEL}]}}));
    assert!(partially_equal(&intel, &server));
    let amd = hardware(json!({"compute": {"processors": [{"manufacturer": AMD}]}}));
    assert!(!partially_equal(&amd, &server));
    // An absent server list is empty: an empty qualifier list matches it, a longer one not.
    let counts_only = hardware(json!({"compute": {"totalCoreCount": 2}}));
    assert!(partially_equal(
        &hardware(json!({"compute": {"processors": []}})),
        &counts_only
    ));
    assert!(!partially_equal(
        &hardware(json!({"compute": {"processors": [{}]}})),
        &counts_only
    ));
    // No hardware info never matches, not even `{}`.
    assert!(!hardware_matches(&hardware(json!({})), None));
}
