//! ServerClass membership, exactly as Sidero Metal v0.6.13 decides it (spec §4, §3.2).
//!
//! Pure functions only: no Kubernetes client, no IO, no async. The controller lists Servers and
//! ServerClasses and asks this crate:
//!
//! * [`matches()`] / [`ClassMatcher`]: does a Server belong to a class? Checks, in upstream's
//!   order and short-circuiting: accepted, not cordoned, the label `selector`, the qualifiers
//!   (hardware partial equality AND the legacy `labelSelectors` OR-quirk).
//! * [`status_for`]: the class's `serversAvailable` / `serversInUse`.
//! * [`affected_classes`]: which classes a single Server change can affect, so a Server event
//!   need not re-evaluate every class.
//!
//! [`partial`] holds upstream's "partial equality" of hardware templates; [`selector`] the
//! Kubernetes label selector semantics.

pub mod partial;
pub mod selector;
mod status;

use std::collections::BTreeMap;

use sidero_api::metal::v1alpha2::{Qualifiers, SERVER_CLASS_ANY, Server, ServerClassSpec};

pub use partial::{Qualifies, hardware_matches, partially_equal};
pub use selector::{Selector, SelectorError};
pub use status::{Placement, affected_classes, status_for};

/// The qualifiers class `any` is evaluated with: its controller resets them to empty.
static NO_QUALIFIERS: Qualifiers = Qualifiers {
    hardware: None,
    label_selectors: None,
};

/// A class's matching rules, with its selector parsed once.
///
/// An invalid selector is kept as an error and only reported for servers that reach the
/// selector step (accepted and not cordoned), as upstream's filter chain does.
#[derive(Clone, Debug)]
pub struct ClassMatcher<'a> {
    selector: Result<Selector, SelectorError>,
    qualifiers: &'a Qualifiers,
}

impl<'a> ClassMatcher<'a> {
    /// The matcher of the class `name`; class [`SERVER_CLASS_ANY`] ignores its qualifiers
    /// (but not its selector), as its reconcile resets them before filtering.
    pub fn new(name: &str, class: &'a ServerClassSpec) -> Self {
        let mut matcher = Self::from_spec(class);
        if name == SERVER_CLASS_ANY {
            matcher.qualifiers = &NO_QUALIFIERS;
        }
        matcher
    }

    /// The matcher of a class spec taken literally (no special case for `any`).
    pub fn from_spec(class: &'a ServerClassSpec) -> Self {
        Self {
            selector: Selector::parse(&class.selector),
            qualifiers: &class.qualifiers,
        }
    }

    /// Whether `server` belongs to the class; errors if it reaches an invalid selector.
    pub fn matches(&self, server: &Server) -> Result<bool, SelectorError> {
        if !server.spec.accepted || server.spec.is_cordoned() {
            return Ok(false);
        }
        let selector = self.selector.as_ref().map_err(Clone::clone)?;
        // No labels is the empty set: `NotIn` and `DoesNotExist` still match it.
        let empty = BTreeMap::new();
        if !selector.matches(server.metadata.labels.as_ref().unwrap_or(&empty)) {
            return Ok(false);
        }
        Ok(qualifiers_match(self.qualifiers, server))
    }
}

/// Whether `server` belongs to the class described by `class` (spec §4, steps 1–4).
///
/// Takes the spec literally; use [`ClassMatcher::new`] to apply the `any` rule by name.
pub fn matches(class: &ServerClassSpec, server: &Server) -> Result<bool, SelectorError> {
    ClassMatcher::from_spec(class).matches(server)
}

/// Step 4 alone: the hardware templates (any one) AND the legacy label maps (any single pair).
///
/// An absent or empty list does not constrain.
pub fn qualifiers_match(qualifiers: &Qualifiers, server: &Server) -> bool {
    let Qualifiers {
        hardware,
        label_selectors,
    } = qualifiers;
    let hardware_ok = match hardware.as_deref() {
        None | Some([]) => true,
        Some(templates) => {
            let info = server.spec.hardware.as_ref();
            templates
                .iter()
                .any(|template| hardware_matches(template, info))
        }
    };
    let labels_ok = match label_selectors.as_deref() {
        None | Some([]) => true,
        // The OR quirk: one matching key/value pair from any map is enough.
        Some(maps) => {
            let labels = server.metadata.labels.as_ref();
            maps.iter()
                .flatten()
                .any(|(key, value)| labels.and_then(|labels| labels.get(key)) == Some(value))
        }
    };
    hardware_ok && labels_ok
}

#[cfg(test)]
mod tests;
