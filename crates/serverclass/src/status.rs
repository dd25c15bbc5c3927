//! A class's status lists (spec §3.2) and which classes a Server change can affect.

use sidero_api::metal::v1alpha2::{Server, ServerClassSpec, ServerClassStatus};

use crate::{ClassMatcher, SelectorError};

/// Where a Server stands with respect to one ServerClass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Placement {
    /// Not a member of the class.
    Excluded,
    /// A member not in use: listed in `serversAvailable`.
    Available,
    /// A member with `status.inUse`: listed in `serversInUse`.
    InUse,
}

impl ClassMatcher<'_> {
    /// The server's placement in the class.
    ///
    /// Membership only; `status.isClean` is not considered (CAPS checks it at allocation).
    pub fn placement(&self, server: &Server) -> Result<Placement, SelectorError> {
        Ok(if !self.matches(server)? {
            Placement::Excluded
        } else if server.status.as_ref().is_some_and(|s| s.in_use) {
            Placement::InUse
        } else {
            Placement::Available
        })
    }
}

/// The status the ServerClass controller writes for class `name`: matching servers sorted by
/// name, split on `status.inUse`.
///
/// Class `any` is evaluated with empty qualifiers (see [`ClassMatcher::new`]). Fails, like the
/// upstream reconcile, as soon as an accepted, uncordoned server meets an invalid selector.
pub fn status_for<'s>(
    name: &str,
    class: &ServerClassSpec,
    servers: impl IntoIterator<Item = &'s Server>,
) -> Result<ServerClassStatus, SelectorError> {
    let matcher = ClassMatcher::new(name, class);
    let mut members = Vec::new();
    for server in servers {
        let placement = matcher.placement(server)?;
        if placement != Placement::Excluded {
            members.push((server.metadata.name.clone().unwrap_or_default(), placement));
        }
    }
    // Upstream sorts by name (byte order) before splitting, so both lists are sorted.
    members.sort_by(|a, b| a.0.cmp(&b.0));
    let mut status = ServerClassStatus::default();
    for (server, placement) in members {
        match placement {
            Placement::InUse => status.servers_in_use.push(server),
            _ => status.servers_available.push(server),
        }
    }
    Ok(status)
}

/// The classes whose status may change when a Server goes from `old` to `new` (`None`: the
/// server did not exist / was deleted), in the order of `classes`.
///
/// A class is affected when the server's name or [`Placement`] in it differs between `old` and
/// `new`. A class whose selector is invalid is reported whenever the server reaches the
/// selector on either side, so its reconcile can surface the error.
pub fn affected_classes<'c>(
    old: Option<&Server>,
    new: Option<&Server>,
    classes: impl IntoIterator<Item = (&'c str, &'c ServerClassSpec)>,
) -> Vec<String> {
    classes
        .into_iter()
        .filter(|(name, class)| {
            let matcher = ClassMatcher::new(name, class);
            match (entry(&matcher, old), entry(&matcher, new)) {
                (Ok(before), Ok(after)) => before != after,
                _ => true,
            }
        })
        .map(|(name, _)| name.to_owned())
        .collect()
}

/// The server's name and placement when it is a member of the class.
type Entry<'s> = Option<(Option<&'s str>, Placement)>;

fn entry<'s>(
    matcher: &ClassMatcher<'_>,
    server: Option<&'s Server>,
) -> Result<Entry<'s>, SelectorError> {
    let Some(server) = server else {
        return Ok(None);
    };
    let placement = matcher.placement(server)?;
    Ok((placement != Placement::Excluded).then_some((server.metadata.name.as_deref(), placement)))
}
