//! Table tests of `affected_classes`.

use serde_json::json;
use sidero_api::metal::v1alpha2::{Server, ServerClassSpec};

use super::fixtures::{atom, class, cordoned, in_use, ryzen};
use crate::{ClassMatcher, Placement, affected_classes};

fn classes() -> Vec<(&'static str, ServerClassSpec)> {
    vec![
        (
            "any",
            class(json!({"qualifiers": {"labelSelectors": [{"never": "x"}]}})),
        ),
        (
            "central",
            class(json!({"selector": {"matchLabels": {"zone": "central"}}})),
        ),
        (
            "qemu",
            class(json!({"qualifiers": {"hardware": [{"system": {"manufacturer": "QEMU"}}]}})),
        ),
        (
            "legacy",
            class(json!({"qualifiers": {"labelSelectors": [{"zone": "east"}]}})),
        ),
    ]
}

fn affected(old: Option<&Server>, new: Option<&Server>) -> Vec<String> {
    let classes = classes();
    affected_classes(old, new, classes.iter().map(|(n, c)| (*n, c)))
}

fn relabel(mut server: Server, zone: &str) -> Server {
    server
        .metadata
        .labels
        .get_or_insert_default()
        .insert("zone".into(), zone.into());
    server
}

#[test]
fn creation_and_deletion_affect_member_classes() {
    assert_eq!(affected(None, Some(&atom())), ["any", "central"]);
    assert_eq!(affected(Some(&ryzen()), None), ["any", "qemu", "legacy"]);
    assert!(affected(None, None).is_empty());
}

#[test]
fn unrelated_changes_affect_nothing() {
    let mut renamed_host = atom();
    renamed_host.spec.hostname = Some("h".into());
    assert!(affected(Some(&atom()), Some(&renamed_host)).is_empty());
    assert!(affected(Some(&atom()), Some(&atom())).is_empty());
    // Uncordoning an already-uncordoned server.
    assert!(affected(Some(&atom()), Some(&cordoned(atom(), false))).is_empty());
}

#[test]
fn membership_changes() {
    // Moving atom from central to east: leaves `central`, joins `legacy`.
    assert_eq!(
        affected(Some(&atom()), Some(&relabel(atom(), "east"))),
        ["central", "legacy"]
    );
    // Cordoning leaves every class it was in.
    assert_eq!(
        affected(Some(&ryzen()), Some(&cordoned(ryzen(), true))),
        ["any", "qemu", "legacy"]
    );
    let mut unaccepted = atom();
    unaccepted.spec.accepted = false;
    assert_eq!(
        affected(Some(&unaccepted), Some(&atom())),
        ["any", "central"]
    );
}

#[test]
fn in_use_moves_between_lists_of_member_classes_only() {
    assert_eq!(
        affected(Some(&atom()), Some(&in_use(atom()))),
        ["any", "central"]
    );
    let spec = &classes()[1].1;
    let matcher = ClassMatcher::new("central", spec);
    assert_eq!(matcher.placement(&in_use(atom())), Ok(Placement::InUse));
    assert_eq!(matcher.placement(&atom()), Ok(Placement::Available));
    assert_eq!(matcher.placement(&ryzen()), Ok(Placement::Excluded));
}

#[test]
fn hardware_change_only_affects_hardware_classes() {
    let mut changed = ryzen();
    changed.spec.hardware = None;
    assert_eq!(affected(Some(&ryzen()), Some(&changed)), ["qemu"]);
}
