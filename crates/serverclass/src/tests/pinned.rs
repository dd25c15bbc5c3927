//! The 17 cases of upstream's `TestFilterAcceptedServers` (spec §4 table), row for row.

use serde_json::{Value, json};
use sidero_api::metal::v1alpha2::Server;

use super::fixtures::{AMD, INTEL, class, pinned_servers};
use crate::{ClassMatcher, status_for};

fn cpu(manufacturer: &str) -> Value {
    json!({"compute": {"processors": [{"manufacturer": manufacturer}]}})
}

fn system(manufacturer: &str) -> Value {
    json!({"system": {"manufacturer": manufacturer}})
}

/// (case, class name, class spec, expected members in name order).
fn cases() -> Vec<(&'static str, &'static str, Value, Vec<&'static str>)> {
    let all = vec!["atom", "dualXeon", "ryzen"];
    vec![
        (
            "empty selector - empty qualifier",
            "c",
            json!({}),
            all.clone(),
        ),
        (
            "Intel only",
            "c",
            json!({"qualifiers": {"hardware": [cpu(INTEL)]}}),
            vec!["atom", "dualXeon"],
        ),
        (
            "Intel and AMD",
            "c",
            json!({"qualifiers": {"hardware": [cpu(INTEL), cpu(AMD)]}}),
            all.clone(),
        ),
        (
            "QEMU only",
            "c",
            json!({"qualifiers": {"hardware": [system("QEMU")]}}),
            vec!["ryzen"],
        ),
        (
            "with label",
            "c",
            json!({"qualifiers": {"labelSelectors": [{"common-label": "true"}]}}),
            vec!["atom", "ryzen"],
        ),
        (
            // The OR quirk: "zone: central" does not restrict ryzen away.
            "with multiple labels - single selector",
            "c",
            json!({"qualifiers": {"labelSelectors": [{"common-label": "true", "zone": "central"}]}}),
            vec!["atom", "ryzen"],
        ),
        (
            "with multiple labels - multiple selectors",
            "c",
            json!({"qualifiers": {"labelSelectors": [{"common-label": "true"}, {"zone": "central"}]}}),
            vec!["atom", "ryzen"],
        ),
        (
            "with same label key different label value",
            "c",
            json!({"qualifiers": {"labelSelectors": [{"zone": "central"}]}}),
            vec!["atom"],
        ),
        (
            "selector - single MatchLabels single result",
            "c",
            json!({"selector": {"matchLabels": {"zone": "central"}}}),
            vec!["atom"],
        ),
        (
            "selector - single MatchLabels multiple results",
            "c",
            json!({"selector": {"matchLabels": {"common-label": "true"}}}),
            vec!["atom", "ryzen"],
        ),
        (
            "selector - multiple MatchLabels",
            "c",
            json!({"selector": {"matchLabels": {"zone": "central", "common-label": "true"}}}),
            vec!["atom"],
        ),
        (
            "selector - MatchExpressions common label key",
            "c",
            json!({"selector": {"matchExpressions": [{"key": "common-label", "operator": "Exists"}]}}),
            vec!["atom", "ryzen"],
        ),
        (
            "selector - MatchExpressions multiple values",
            "c",
            json!({"selector": {"matchExpressions": [
                {"key": "zone", "operator": "In", "values": ["east", "west"]},
            ]}}),
            vec!["ryzen"],
        ),
        (
            "selector and qualifiers both match",
            "c",
            json!({
                "selector": {"matchLabels": {"common-label": "true"}},
                "qualifiers": {"hardware": [system("QEMU")]},
            }),
            vec!["ryzen"],
        ),
        (
            "selector and qualifiers with disqualifying selector",
            "c",
            json!({
                "selector": {"matchLabels": {"common-label": "no-match"}},
                "qualifiers": {"hardware": [system("QEMU")]},
            }),
            vec![],
        ),
        (
            "selector and qualifiers with disqualifying qualifier",
            "c",
            json!({
                "selector": {"matchLabels": {"common-label": "true"}},
                "qualifiers": {"hardware": [system("Gateway")]},
            }),
            vec![],
        ),
        ("any", "any", json!({}), all),
    ]
}

#[test]
fn seventeen_pinned_cases() {
    let servers = pinned_servers();
    let cases = cases();
    assert_eq!(cases.len(), 17);
    for (case, name, spec, expected) in cases {
        let spec = class(spec);
        let status = status_for(name, &spec, &servers).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(status.servers_available, expected, "{case}");
        assert!(status.servers_in_use.is_empty(), "{case}");

        // The per-server entry point agrees with the list.
        let matcher = ClassMatcher::new(name, &spec);
        let members: Vec<&str> = servers
            .iter()
            .filter(|s| matcher.matches(s).unwrap())
            .filter_map(|s: &Server| s.metadata.name.as_deref())
            .collect();
        assert_eq!(members, expected, "{case} (matches)");
    }
}
