//! Table tests of the condition helpers (CAPI v1beta1 semantics).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use super::*;

fn ts(secs: i64) -> Timestamp {
    Timestamp::from_second(secs).unwrap()
}

fn types(c: &[Condition]) -> Vec<&str> {
    c.iter().map(|c| c.type_.as_str()).collect()
}

fn ltt(c: &[Condition], t: &str) -> Timestamp {
    get(c, t).unwrap().last_transition_time.0
}

#[test]
fn new_condition_gets_now_truncated_to_seconds() {
    let mut c = Vec::new();
    let now = Timestamp::from_millisecond(1_700_000_000_750).unwrap();
    mark_true_at(&mut c, "A", now);
    assert_eq!(ltt(&c, "A"), ts(1_700_000_000));
}

#[test]
fn new_condition_with_a_time_keeps_it() {
    let mut c = Vec::new();
    let mut cond = Condition::true_condition("A");
    cond.last_transition_time = Time(ts(100));
    set_at(&mut c, cond, ts(200));
    assert_eq!(ltt(&c, "A"), ts(100));
}

#[test]
fn transition_time_rules() {
    // (name, second condition, whether the time must be kept)
    let base = || Condition::false_condition("A", "R", Severity::Warning, "m");
    let cases: Vec<(&str, Condition, bool)> = vec![
        ("identical", base(), true),
        (
            "identical, other time",
            {
                let mut c = base();
                c.last_transition_time = Time(ts(5));
                c
            },
            true,
        ),
        ("status", Condition::true_condition("A"), false),
        (
            "reason",
            Condition::false_condition("A", "R2", Severity::Warning, "m"),
            false,
        ),
        (
            "severity",
            Condition::false_condition("A", "R", Severity::Error, "m"),
            false,
        ),
        (
            "message",
            Condition::false_condition("A", "R", Severity::Warning, "m2"),
            false,
        ),
        (
            "unknown",
            Condition::unknown_condition("A", "R", "m"),
            false,
        ),
    ];
    for (name, second, keep) in cases {
        let mut c = Vec::new();
        set_at(&mut c, base(), ts(10));
        set_at(&mut c, second.clone(), ts(20));
        let want = if keep { ts(10) } else { ts(20) };
        assert_eq!(ltt(&c, "A"), want, "{name}");
        let got = get(&c, "A").unwrap();
        assert!(got.has_same_state(&second), "{name}: state replaced");
        assert_eq!(c.len(), 1, "{name}");
    }
}

#[test]
fn empty_string_equals_absent() {
    let mut c = Vec::new();
    mark_unknown_at(&mut c, "A", "", "", ts(10));
    let mut explicit = Condition::unknown_condition("A", "x", "y");
    explicit.reason = Some(String::new());
    explicit.message = None;
    set_at(&mut c, explicit, ts(20));
    assert_eq!(ltt(&c, "A"), ts(10));
    assert_eq!(get(&c, "A").unwrap().reason, None);
}

#[test]
fn mark_true_clears_reason_severity_message() {
    let mut c = Vec::new();
    mark_false_at(&mut c, "A", "Broken", Severity::Error, "boom", ts(1));
    mark_true_at(&mut c, "A", ts(2));
    let a = get(&c, "A").unwrap();
    assert_eq!(
        (a.status.as_str(), &a.reason, &a.severity, &a.message),
        ("True", &None, &None, &None)
    );
    assert_eq!(a.last_transition_time.0, ts(2));
}

#[test]
fn mark_false_and_unknown_fields() {
    let mut c = Vec::new();
    mark_false_at(&mut c, "A", "Why", Severity::Info, "", ts(1));
    mark_unknown_at(&mut c, "B", "Pending", "later", ts(1));
    let a = get(&c, "A").unwrap();
    assert_eq!(a.status, "False");
    assert_eq!(a.severity(), Some(Severity::Info));
    assert_eq!(
        (a.reason.as_deref(), a.message.as_deref()),
        (Some("Why"), None)
    );
    let b = get(&c, "B").unwrap();
    assert_eq!(
        (b.status.as_str(), b.severity.as_deref()),
        ("Unknown", None)
    );
    assert_eq!(
        (b.reason.as_deref(), b.message.as_deref()),
        (Some("Pending"), Some("later"))
    );
}

#[test]
fn sorted_ready_first_then_alphabetical() {
    let mut c = Vec::new();
    for t in [
        "TalosInstalled",
        "ProviderSet",
        "Ready",
        "TalosConfigLoaded",
        "Abc",
    ] {
        mark_true_at(&mut c, t, ts(1));
    }
    assert_eq!(
        types(&c),
        [
            "Ready",
            "Abc",
            "ProviderSet",
            "TalosConfigLoaded",
            "TalosInstalled"
        ]
    );
}

#[test]
fn predicates_get_and_delete() {
    let mut c = Vec::new();
    mark_true_at(&mut c, "T", ts(1));
    mark_false_at(&mut c, "F", "R", Severity::Error, "", ts(1));
    mark_unknown_at(&mut c, "U", "R", "", ts(1));
    let table = [
        ("T", true, false, false),
        ("F", false, true, false),
        ("U", false, false, true),
        ("Missing", false, false, true),
    ];
    for (t, want_true, want_false, want_unknown) in table {
        assert_eq!(is_true(&c, t), want_true, "{t}");
        assert_eq!(is_false(&c, t), want_false, "{t}");
        assert_eq!(is_unknown(&c, t), want_unknown, "{t}");
        assert_eq!(has(&c, t), t != "Missing", "{t}");
    }
    delete(&mut c, "F");
    assert_eq!(types(&c), ["T", "U"]);
    delete(&mut c, "Missing");
    assert_eq!(types(&c), ["T", "U"]);
}

#[test]
fn delete_then_set_forces_a_new_time() {
    let mut c = Vec::new();
    mark_true_at(&mut c, "PowerCycle", ts(1));
    delete(&mut c, "PowerCycle");
    mark_true_at(&mut c, "PowerCycle", ts(9));
    assert_eq!(ltt(&c, "PowerCycle"), ts(9));
}

#[test]
fn severity_strings() {
    for s in [Severity::Error, Severity::Warning, Severity::Info] {
        assert_eq!(Severity::parse(s.as_str()), Some(s));
        assert_eq!(s.to_string(), s.as_str());
    }
    assert_eq!(Severity::parse(""), None);
}

#[test]
fn json_shape() {
    let mut c = Vec::new();
    mark_false_at(
        &mut c,
        "A",
        "R",
        Severity::Warning,
        "",
        ts(0) + jiff::SignedDuration::from_secs(60),
    );
    let v = serde_json::to_value(&c[0]).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"type": "A", "status": "False", "severity": "Warning",
            "lastTransitionTime": "1970-01-01T00:01:00Z", "reason": "R"})
    );
    let back: Condition = serde_json::from_value(v).unwrap();
    assert_eq!(back, c[0]);
}
