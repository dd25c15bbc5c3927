//! Which ServerClasses a Server watch event can change.
//!
//! The event's own object is the new state (never the reflector store: during a re-list the
//! store is swapped only when the list is complete, so a look-up there would miss a server
//! that appeared while the watch was down). A re-list is compared as a whole when it ends,
//! which also catches servers deleted while the watch was down (a re-list has no Delete
//! event for them).

use std::collections::{BTreeSet, HashMap};

use kube::ResourceExt;
use kube::runtime::watcher::Event;
use sidero_api::metal::v1alpha2::{Server, ServerClassSpec};
use sidero_serverclass::affected_classes;

/// The last seen version of every Server, and the re-list in progress.
#[derive(Default)]
pub struct Membership {
    known: HashMap<String, Server>,
    relist: Option<HashMap<String, Server>>,
}

impl Membership {
    /// Applies one watch event and returns the names of the classes whose membership it can
    /// change, sorted. Events of a re-list return nothing until its `InitDone`.
    pub fn observe<'c>(
        &mut self,
        event: &Event<Server>,
        classes: impl IntoIterator<Item = (&'c str, &'c ServerClassSpec)> + Clone,
    ) -> Vec<String> {
        let mut out = BTreeSet::new();
        match event {
            Event::Apply(server) => {
                let old = self.known.insert(server.name_any(), server.clone());
                out.extend(affected_classes(old.as_ref(), Some(server), classes));
            }
            Event::Delete(server) => {
                let old = self.known.remove(&server.name_any());
                let old = old.as_ref().unwrap_or(server);
                out.extend(affected_classes(Some(old), None, classes));
            }
            Event::Init => self.relist = Some(HashMap::new()),
            Event::InitApply(server) => {
                self.relist
                    .get_or_insert_default()
                    .insert(server.name_any(), server.clone());
            }
            Event::InitDone => {
                let listed = self.relist.take().unwrap_or_default();
                let names: BTreeSet<&String> = self.known.keys().chain(listed.keys()).collect();
                for name in names {
                    let (old, new) = (self.known.get(name), listed.get(name));
                    out.extend(affected_classes(old, new, classes.clone()));
                }
                self.known = listed;
            }
        }
        out.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    fn server(name: &str, zone: &str, accepted: bool) -> Server {
        serde_json::from_value(json!({
            "apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
            "metadata": {"name": name, "labels": {"zone": zone}},
            "spec": {"accepted": accepted}
        }))
        .unwrap()
    }

    fn classes() -> Vec<(String, ServerClassSpec)> {
        let east = serde_json::from_value(json!({"selector": {"matchLabels": {"zone": "east"}}}));
        vec![
            ("any".into(), ServerClassSpec::default()),
            ("east".into(), east.unwrap()),
        ]
    }

    fn observe(m: &mut Membership, ev: Event<Server>) -> Vec<String> {
        let cs = classes();
        m.observe(&ev, cs.iter().map(|(n, s)| (n.as_str(), s)))
    }

    #[test]
    fn apply_compares_with_the_previous_version() {
        let mut m = Membership::default();
        assert_eq!(
            observe(&mut m, Event::Apply(server("s1", "east", true))),
            ["any", "east"]
        );
        // Same membership: nothing to do.
        assert!(observe(&mut m, Event::Apply(server("s1", "east", true))).is_empty());
        // Moves out of east only.
        assert_eq!(
            observe(&mut m, Event::Apply(server("s1", "west", true))),
            ["east"]
        );
        assert_eq!(
            observe(&mut m, Event::Delete(server("s1", "west", true))),
            ["any"]
        );
        // Not accepted: in no class.
        assert!(observe(&mut m, Event::Apply(server("s2", "east", false))).is_empty());
    }

    #[test]
    fn a_relist_is_compared_when_it_ends() {
        let mut m = Membership::default();
        observe(&mut m, Event::Apply(server("gone", "east", true)));
        observe(&mut m, Event::Apply(server("same", "west", true)));
        assert!(observe(&mut m, Event::Init).is_empty());
        // Listed objects are held back: the store is not swapped yet.
        assert!(observe(&mut m, Event::InitApply(server("new", "east", true))).is_empty());
        assert!(observe(&mut m, Event::InitApply(server("same", "west", true))).is_empty());
        // `gone` vanished while the watch was down, `new` appeared: both touch any and east.
        assert_eq!(observe(&mut m, Event::InitDone), ["any", "east"]);
        // The list replaced what was known.
        assert!(observe(&mut m, Event::Apply(server("new", "east", true))).is_empty());
        assert_eq!(
            observe(&mut m, Event::Delete(server("same", "west", true))),
            ["any"]
        );
    }

    #[test]
    fn an_unchanged_relist_triggers_nothing() {
        let mut m = Membership::default();
        observe(&mut m, Event::Apply(server("s1", "east", true)));
        observe(&mut m, Event::Init);
        observe(&mut m, Event::InitApply(server("s1", "east", true)));
        assert!(observe(&mut m, Event::InitDone).is_empty());
    }

    #[test]
    fn a_first_list_without_init_still_counts() {
        let mut m = Membership::default();
        observe(&mut m, Event::InitApply(server("s1", "west", true)));
        assert_eq!(observe(&mut m, Event::InitDone), ["any"]);
    }
}
