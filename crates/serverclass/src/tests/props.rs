//! Property tests.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use proptest::prelude::*;
use serde_json::Value;
use sidero_api::metal::v1alpha2::{
    HardwareInformation, Qualifiers, SERVER_CLASS_ANY, Server, ServerClassSpec,
};

use super::reference::{Rng, go_partial_equal, mask, refine};
use super::strategies::{
    class, classes, hardware, labels, qualifiers, requirement, server, servers, template,
};
use crate::{
    ClassMatcher, Selector, affected_classes, hardware_matches, matches, partially_equal,
    qualifiers_match, status_for,
};

fn json(h: &HardwareInformation) -> Value {
    serde_json::to_value(h).unwrap()
}

fn typed(v: Value) -> HardwareInformation {
    serde_json::from_value(v).unwrap()
}

fn eligible(server: &Server) -> bool {
    server.spec.accepted && !server.spec.is_cordoned()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn empty_class_matches_exactly_the_eligible_servers(
        s in server("s".into()),
        q in qualifiers(),
    ) {
        prop_assert_eq!(matches(&ServerClassSpec::default(), &s), Ok(eligible(&s)));
        // `any` ignores whatever qualifiers it carries.
        let any = ServerClassSpec { qualifiers: q, ..ServerClassSpec::default() };
        prop_assert_eq!(ClassMatcher::new(SERVER_CLASS_ANY, &any).matches(&s), Ok(eligible(&s)));
    }

    #[test]
    fn a_sub_template_of_the_servers_hardware_matches_it(h in hardware(), seed in any::<u64>()) {
        let q = typed(mask(&json(&h), &mut Rng::new(seed)));
        prop_assert!(partially_equal(&q, &h), "template {:?}", q);
        prop_assert!(hardware_matches(&q, Some(&h)));
        prop_assert!(!hardware_matches(&q, None));
    }

    #[test]
    fn partial_equality_agrees_with_the_go_transcription(
        s in hardware(),
        other in hardware(),
        seed in any::<u64>(),
        pick in 0u8..3,
    ) {
        // Unrelated, sparse, and near-miss (sub-template made stricter) qualifiers.
        let q = match pick {
            0 => other,
            1 => typed(mask(&json(&other), &mut Rng::new(seed))),
            _ => {
                let sub = mask(&json(&s), &mut Rng::new(seed));
                typed(refine(&sub, &mask(&json(&other), &mut Rng::new(!seed))))
            }
        };
        prop_assert_eq!(partially_equal(&q, &s), go_partial_equal(&json(&q), Some(&json(&s))));
    }

    #[test]
    fn adding_a_constraint_never_adds_members(
        s in server("s".into()),
        c in class(),
        extra in template(),
        req in requirement(),
        maps in proptest::collection::vec(labels(), 1..3),
    ) {
        let before = matches(&c, &s).unwrap();

        // Every hardware template made stricter (or a first template added).
        let mut stricter = c.clone();
        let templates = stricter.qualifiers.hardware.get_or_insert_default();
        if templates.is_empty() {
            templates.push(extra.clone());
        } else {
            for t in templates.iter_mut() {
                *t = typed(refine(&json(t), &json(&extra)));
            }
        }
        prop_assert!(!matches(&stricter, &s).unwrap() || before);

        // One more selector requirement.
        let mut stricter = c.clone();
        stricter.selector.match_expressions.get_or_insert_default().push(req);
        prop_assert!(!matches(&stricter, &s).unwrap() || before);

        // Legacy label maps where there were none (adding maps to existing ones widens: OR).
        let mut stricter = c.clone();
        if stricter.qualifiers.label_selectors.as_ref().is_none_or(Vec::is_empty) {
            stricter.qualifiers.label_selectors = Some(maps);
            prop_assert!(!matches(&stricter, &s).unwrap() || before);
        }
    }

    #[test]
    fn qualifier_lists_are_or_and_the_two_kinds_are_and(
        s in server("s".into()),
        q in qualifiers(),
    ) {
        let one = |hardware, label_selectors| {
            qualifiers_match(&Qualifiers { hardware, label_selectors }, &s)
        };
        let hw_ok = match q.hardware.as_deref() {
            None | Some([]) => true,
            Some(ts) => ts.iter().any(|t| one(Some(vec![t.clone()]), None)),
        };
        let labels_ok = match q.label_selectors.as_deref() {
            None | Some([]) => true,
            Some(maps) => maps.iter().flatten().any(|(k, v)| {
                one(None, Some(vec![BTreeMap::from([(k.clone(), v.clone())])]))
            }),
        };
        prop_assert_eq!(qualifiers_match(&q, &s), hw_ok && labels_ok);
    }

    #[test]
    fn status_is_the_sorted_split_of_the_members(
        ss in servers(),
        c in class(),
        any in any::<bool>(),
    ) {
        let name = if any { SERVER_CLASS_ANY } else { "c" };
        let status = status_for(name, &c, &ss).unwrap();
        let matcher = ClassMatcher::new(name, &c);
        let mut members: Vec<&Server> =
            ss.iter().filter(|s| matcher.matches(s).unwrap()).collect();
        members.sort_by_key(|s| s.metadata.name.clone());
        let names = |in_use: bool| -> Vec<String> {
            members
                .iter()
                .filter(|s| s.status.as_ref().is_some_and(|st| st.in_use) == in_use)
                .map(|s| s.metadata.name.clone().unwrap())
                .collect()
        };
        prop_assert_eq!(status.servers_available, names(false));
        prop_assert_eq!(status.servers_in_use, names(true));
    }

    #[test]
    fn affected_classes_are_exactly_those_whose_status_changes(
        ss in servers(),
        cs in classes(),
        index in any::<prop::sample::Index>(),
        replacement in proptest::option::of(server(String::new())),
    ) {
        // Replace or delete an existing server, or (index past the end) create one.
        let i = index.index(ss.len() + 1);
        let old = ss.get(i).cloned();
        let new = replacement.map(|mut s| {
            let name = old.as_ref().and_then(|o| o.metadata.name.clone());
            s.metadata.name = Some(name.unwrap_or_else(|| "new".into()));
            s
        });
        let mut after = ss.clone();
        if i < after.len() {
            after.remove(i);
        }
        after.extend(new.clone());

        let expected: Vec<String> = cs
            .iter()
            .filter(|(n, c)| status_for(n, c, &ss).unwrap() != status_for(n, c, &after).unwrap())
            .map(|(n, _)| n.clone())
            .collect();
        let classes = cs.iter().map(|(n, c)| (n.as_str(), c));
        let got = affected_classes(old.as_ref(), new.as_ref(), classes);
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn selector_operators_relate_as_in_kubernetes(
        ls in labels(),
        key in prop::sample::select(vec!["zone", "rack"]),
        value in prop::sample::select(vec!["", "a", "b"]),
    ) {
        let expr = |op: &str, values: Option<Vec<String>>| {
            let selector = LabelSelector {
                match_expressions: Some(vec![LabelSelectorRequirement {
                    key: key.to_owned(), operator: op.to_owned(), values,
                }]),
                ..LabelSelector::default()
            };
            Selector::parse(&selector).unwrap().matches(&ls)
        };
        let v = Some(vec![value.to_owned()]);
        let equals = LabelSelector {
            match_labels: Some(BTreeMap::from([(key.to_owned(), value.to_owned())])),
            ..LabelSelector::default()
        };
        prop_assert_eq!(expr("In", v.clone()), Selector::parse(&equals).unwrap().matches(&ls));
        prop_assert_eq!(expr("NotIn", v.clone()), !expr("In", v));
        prop_assert_eq!(expr("DoesNotExist", None), !expr("Exists", None));
        prop_assert_eq!(expr("Exists", None), ls.contains_key(key));
        prop_assert!(Selector::parse(&LabelSelector::default()).unwrap().matches(&ls));
    }
}
