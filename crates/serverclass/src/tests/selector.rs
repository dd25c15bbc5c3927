//! Label selector parsing errors and where they surface.

use serde_json::json;

use super::fixtures::{atom, class, cordoned, not_accepted};
use crate::{ClassMatcher, SelectorError, affected_classes, matches, status_for};

fn expr(key: &str, operator: &str, values: Option<&[&str]>) -> serde_json::Value {
    match values {
        Some(values) => json!({"key": key, "operator": operator, "values": values}),
        None => json!({"key": key, "operator": operator}),
    }
}

fn error_for(selector: serde_json::Value) -> SelectorError {
    let spec = class(json!({"selector": selector}));
    matches(&spec, &atom()).expect_err("selector should be rejected")
}

fn expr_error(key: &str, operator: &str, values: Option<&[&str]>) -> SelectorError {
    error_for(json!({"matchExpressions": [expr(key, operator, values)]}))
}

#[test]
fn invalid_selectors_are_errors_with_readable_messages() {
    let cases: Vec<(SelectorError, &str)> = vec![
        (
            expr_error("zone", "Equals", Some(&["a"])),
            "\"Equals\" is not a valid label selector operator",
        ),
        (
            expr_error("zone", "in", Some(&["a"])),
            "\"in\" is not a valid label selector operator",
        ),
        (
            expr_error("zone", "", None),
            "\"\" is not a valid label selector operator",
        ),
        (
            expr_error("zone", "In", Some(&[])),
            "values set can't be empty",
        ),
        (
            expr_error("zone", "NotIn", None),
            "values set can't be empty",
        ),
        (
            expr_error("zone", "Exists", Some(&["a"])),
            "values set must be empty",
        ),
        (
            expr_error("zone", "DoesNotExist", Some(&[""])),
            "values set must be empty",
        ),
        (
            expr_error("bad key", "Exists", None),
            "invalid label key \"bad key\"",
        ),
        (
            expr_error("", "Exists", None),
            "name part must be non-empty",
        ),
        (expr_error("a/b/c", "Exists", None), "at most one '/'"),
        (
            expr_error("/name", "Exists", None),
            "prefix part must be non-empty",
        ),
        (
            expr_error("Example.com/name", "Exists", None),
            "prefix part",
        ),
        (
            expr_error("-name", "Exists", None),
            "name part must consist",
        ),
        (
            expr_error(&"k".repeat(64), "Exists", None),
            "no more than 63",
        ),
        (
            expr_error("zone", "In", Some(&["ok", "not ok"])),
            "invalid label value \"not ok\"",
        ),
        (
            error_for(json!({"matchLabels": {"zone": "a/b"}})),
            "invalid label value \"a/b\"",
        ),
        (
            error_for(json!({"matchLabels": {"zone": "v".repeat(64)}})),
            "no more than 63",
        ),
        (
            error_for(json!({"matchLabels": {"a_b/c": "x"}})),
            "prefix part",
        ),
    ];
    for (error, needle) in cases {
        let message = error.to_string();
        assert!(
            message.contains(needle),
            "{message:?} should contain {needle:?}"
        );
    }
}

#[test]
fn valid_keys_and_values() {
    for key in [
        "a",
        "A-b_c.d",
        "example.com/Name",
        "sub.example-1.com/x",
        &"k".repeat(63),
    ] {
        let spec =
            class(json!({"selector": {"matchExpressions": [expr(key, "DoesNotExist", None)]}}));
        assert!(matches(&spec, &atom()).is_ok(), "{key}");
    }
    for value in ["", "a", "A.b-c_d", &"v".repeat(63)] {
        let spec = class(json!({"selector": {"matchLabels": {"zone": value}}}));
        assert!(matches(&spec, &atom()).is_ok(), "{value:?}");
    }
}

#[test]
fn error_only_surfaces_for_servers_reaching_the_selector() {
    let spec = class(json!({"selector": {"matchExpressions": [expr("zone", "Bogus", None)]}}));
    // Unaccepted and cordoned servers stop before the selector, as upstream's filter chain.
    assert_eq!(matches(&spec, &not_accepted()), Ok(false));
    assert_eq!(matches(&spec, &cordoned(atom(), true)), Ok(false));
    let status = status_for("c", &spec, &[not_accepted(), cordoned(atom(), true)]).unwrap();
    assert!(status.servers_available.is_empty() && status.servers_in_use.is_empty());
    // One eligible server fails the whole class.
    assert!(status_for("c", &spec, &[not_accepted(), atom()]).is_err());
    assert!(ClassMatcher::new("any", &spec).matches(&atom()).is_err());
}

#[test]
fn invalid_class_is_reported_as_affected() {
    let spec = class(json!({"selector": {"matchExpressions": [expr("zone", "In", Some(&[]))]}}));
    let classes = [("broken", &spec)];
    let got = affected_classes(
        Some(&atom()),
        Some(&atom()),
        classes.iter().map(|(n, c)| (*n, *c)),
    );
    assert_eq!(got, ["broken"]);
    // Not eligible on either side: nothing to report.
    let got = affected_classes(
        Some(&not_accepted()),
        None,
        classes.iter().map(|(n, c)| (*n, *c)),
    );
    assert!(got.is_empty());
}
