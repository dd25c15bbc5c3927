//! Talos strategic-merge patches.
//!
//! Rules (Talos documentation, "Configuration Patches"): documents match on
//! `(apiVersion, kind, name)` and unmatched patch documents are appended; mappings merge
//! recursively and patch values win; lists are appended to, except `cluster.network.podSubnets`
//! and `serviceSubnets` (replaced), `machine.network.interfaces` (merged on `interface` or
//! `deviceSelector`), their `vlans` (merged on `vlanId`) and `ExtensionServiceConfig.configFiles`
//! (merged on `mountPath`); `cluster.apiServer.auditPolicy` is replaced whole; `$patch: delete`
//! removes a key, a keyed list item or a whole document. A `null` in a patch changes nothing
//! (as an unset field of Talos's typed patch).

use serde_json::{Map, Value};

use crate::document::parse_values;
use crate::{Config, DocId, Error};

const DIRECTIVE: &str = "$patch";

/// A patch as Talos loads it: a strategic merge (a document set) or a JSON patch (a list).
#[derive(Debug, Clone, PartialEq)]
pub enum Patch {
    /// RFC 6902 operations, as a JSON array.
    Json(Value),
    /// Documents to merge.
    Strategic(Config),
}

/// Loads a patch text: YAML mappings are a strategic merge patch, a YAML/JSON list is a JSON
/// patch (the order Talos tries them in).
pub fn load_patch(text: &str) -> Result<Patch, Error> {
    let values = parse_values(text)?;
    if let [Value::Array(_)] = values.as_slice() {
        return Ok(Patch::Json(values.into_iter().next().unwrap_or_default()));
    }
    let mut docs = Vec::with_capacity(values.len());
    for (index, v) in values.into_iter().enumerate() {
        match v {
            Value::Object(m) => docs.push(m),
            _ => return Err(Error::NotAMapping { index }),
        }
    }
    Ok(Patch::Strategic(Config { docs }))
}

/// Merges a strategic patch into the config.
pub fn strategic_merge(config: &mut Config, patch: &Config) -> Result<(), Error> {
    for pdoc in &patch.docs {
        let id = DocId::of(pdoc);
        let pos = config.docs.iter().position(|d| DocId::of(d) == id);
        match (pos, is_delete(pdoc)) {
            (Some(i), true) => {
                config.docs.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => {
                let kind = kind_of(&id);
                let mut path = Vec::new();
                merge_map(&mut config.docs[i], pdoc, &kind, &mut path)?;
            }
            (None, false) => config.docs.push(strip(pdoc)),
        }
    }
    Ok(())
}

fn kind_of(id: &DocId) -> String {
    match id {
        DocId::MachineConfig => String::new(),
        DocId::Typed { kind, .. } => kind.clone(),
    }
}

fn is_delete(m: &Map<String, Value>) -> bool {
    m.get(DIRECTIVE).and_then(Value::as_str) == Some("delete")
}

/// How a list at a path merges.
enum ListRule {
    Append,
    Replace,
    Keyed(&'static [&'static str]),
}

fn list_rule(kind: &str, path: &[String]) -> ListRule {
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    match (kind, p.as_slice()) {
        ("", ["cluster", "network", "podSubnets" | "serviceSubnets"]) => ListRule::Replace,
        ("", ["machine", "network", "interfaces"]) => {
            ListRule::Keyed(&["interface", "deviceSelector"])
        }
        ("", ["machine", "network", "interfaces", "*", "vlans"]) => ListRule::Keyed(&["vlanId"]),
        ("ExtensionServiceConfig", ["configFiles"]) => ListRule::Keyed(&["mountPath"]),
        _ => ListRule::Append,
    }
}

fn replaces_whole(kind: &str, path: &[String]) -> bool {
    kind.is_empty() && path == ["cluster", "apiServer", "auditPolicy"]
}

fn merge_map(
    left: &mut Map<String, Value>,
    right: &Map<String, Value>,
    kind: &str,
    path: &mut Vec<String>,
) -> Result<(), Error> {
    for (key, rv) in right {
        if key == DIRECTIVE {
            continue;
        }
        if rv.as_object().is_some_and(is_delete) {
            left.remove(key);
            continue;
        }
        if rv.is_null() {
            continue;
        }
        path.push(key.clone());
        match left.get_mut(key) {
            Some(lv) if !lv.is_null() => merge_value(lv, rv, kind, path)?,
            _ => {
                left.insert(key.clone(), strip_value(rv));
            }
        }
        path.pop();
    }
    Ok(())
}

fn merge_value(
    left: &mut Value,
    right: &Value,
    kind: &str,
    path: &mut Vec<String>,
) -> Result<(), Error> {
    match (left, right) {
        (Value::Object(l), Value::Object(r)) if !replaces_whole(kind, path) => {
            merge_map(l, r, kind, path)
        }
        (Value::Array(l), Value::Array(r)) => merge_list(l, r, kind, path),
        (left, right) => {
            *left = strip_value(right);
            Ok(())
        }
    }
}

fn merge_list(
    left: &mut Vec<Value>,
    right: &[Value],
    kind: &str,
    path: &mut Vec<String>,
) -> Result<(), Error> {
    match list_rule(kind, path) {
        ListRule::Append => left.extend(right.iter().filter(|v| !v.is_null()).map(strip_value)),
        ListRule::Replace => *left = right.iter().map(strip_value).collect(),
        ListRule::Keyed(keys) => {
            for item in right {
                let found = left.iter().position(|l| same_key(l, item, keys));
                let delete = item.as_object().is_some_and(is_delete);
                match (found, delete) {
                    (Some(i), true) => {
                        left.remove(i);
                    }
                    (None, true) => {}
                    (Some(i), false) => {
                        path.push("*".into());
                        let r = merge_value(&mut left[i], item, kind, path);
                        path.pop();
                        r?;
                    }
                    (None, false) => left.push(strip_value(item)),
                }
            }
        }
    }
    Ok(())
}

fn same_key(a: &Value, b: &Value, keys: &[&str]) -> bool {
    keys.iter().any(|k| match (a.get(k), b.get(k)) {
        (Some(x), Some(y)) => !x.is_null() && x == y,
        _ => false,
    })
}

/// A copy without `$patch` directives (they are instructions, not config).
fn strip(m: &Map<String, Value>) -> Map<String, Value> {
    m.iter()
        .filter(|(k, v)| *k != DIRECTIVE && !v.is_null())
        .map(|(k, v)| (k.clone(), strip_value(v)))
        .collect()
}

fn strip_value(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(strip(m)),
        Value::Array(a) => Value::Array(a.iter().map(strip_value).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests;
