//! `metav1.Status` errors as apimachinery builds them, so the API server's message for a
//! rejected request reads exactly as upstream's (`… is invalid: spec.x: Invalid value: "y": …`).

use serde_json::{Value, json};

/// One field error of type `FieldValueInvalid` (`field.Invalid` in apimachinery).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path, e.g. `spec.configPatches.0.op`.
    pub field: String,
    /// The offending value.
    pub value: String,
    /// Why it is invalid.
    pub detail: String,
}

impl FieldError {
    /// apimachinery's `ErrorBody()`: `Invalid value: "<value>": <detail>`.
    pub fn body(&self) -> String {
        let mut s = format!("Invalid value: {}", go_quote(&self.value));
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

/// A failed `metav1.Status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusError {
    /// HTTP code (422 Invalid, 400 BadRequest).
    pub code: u16,
    /// Machine-readable reason (`Invalid`, `BadRequest`).
    pub reason: &'static str,
    /// Human-readable message.
    pub message: String,
    /// `details` (name, group, kind, causes), if any.
    pub details: Option<Value>,
}

impl StatusError {
    /// `apierrors.NewInvalid(GroupKind{group, kind}, name, errs)`.
    pub fn invalid(group: &str, kind: &str, name: &str, errs: &[FieldError]) -> StatusError {
        let qualified = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let causes: Vec<Value> = errs
            .iter()
            .map(|e| json!({"type": "FieldValueInvalid", "message": e.body(), "field": e.field}))
            .collect();
        StatusError {
            code: 422,
            reason: "Invalid",
            message: format!(
                "{qualified} {} is invalid: {}",
                go_quote(name),
                aggregate(errs)
            ),
            details: Some(json!({"name": name, "group": group, "kind": kind, "causes": causes})),
        }
    }

    /// `apierrors.NewBadRequest(message)`.
    pub fn bad_request(message: impl Into<String>) -> StatusError {
        StatusError {
            code: 400,
            reason: "BadRequest",
            message: message.into(),
            details: None,
        }
    }

    /// The `metav1.Status` object.
    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s
    }
}

impl std::fmt::Display for StatusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// `utilerrors.NewAggregate(errs).Error()`: one message alone, several as `[a, b]`, with
/// duplicate messages dropped.
fn aggregate(errs: &[FieldError]) -> String {
    let mut seen: Vec<String> = Vec::new();
    for e in errs {
        let m = e.to_string();
        if !seen.contains(&m) {
            seen.push(m);
        }
    }
    match seen.as_slice() {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    }
}

/// Go's `%q` for the strings we print: JSON escaping matches it for printable text, and
/// control characters come out escaped either way.
pub fn go_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// Go's `%q` of a string slice: `["a" "b"]`.
pub fn go_quote_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| go_quote(s)).collect();
    format!("[{}]", quoted.join(" "))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn fe(field: &str, value: &str) -> FieldError {
        FieldError {
            field: field.into(),
            value: value.into(),
            detail: "valid values are: [\"a\"]".into(),
        }
    }

    #[test]
    fn messages_read_as_apimachinery() {
        let cases: &[(&[FieldError], &str)] = &[
            (
                &[fe("spec.x", "bad")],
                r#"Server.metal.sidero.dev "s1" is invalid: spec.x: Invalid value: "bad": valid values are: ["a"]"#,
            ),
            (
                &[fe("spec.x", "bad"), fe("spec.y", "")],
                r#"Server.metal.sidero.dev "s1" is invalid: [spec.x: Invalid value: "bad": valid values are: ["a"], spec.y: Invalid value: "": valid values are: ["a"]]"#,
            ),
            (
                &[fe("spec.x", "bad"), fe("spec.x", "bad")],
                r#"Server.metal.sidero.dev "s1" is invalid: spec.x: Invalid value: "bad": valid values are: ["a"]"#,
            ),
        ];
        for (errs, want) in cases {
            let e = StatusError::invalid("metal.sidero.dev", "Server", "s1", errs);
            assert_eq!(e.message, *want);
            assert_eq!(e.code, 422);
            let s = e.to_status();
            assert_eq!(s["reason"], "Invalid");
            assert_eq!(s["details"]["causes"].as_array().unwrap().len(), errs.len());
            assert_eq!(s["details"]["causes"][0]["field"], "spec.x");
        }
    }

    #[test]
    fn quoting_is_gos() {
        assert_eq!(go_quote("a\"b\n"), r#""a\"b\n""#);
        assert_eq!(go_quote_list(&["", "ipxe-exit"]), r#"["" "ipxe-exit"]"#);
    }

    #[test]
    fn bad_request_has_no_details() {
        let s = StatusError::bad_request("MetalMachineTemplate.Spec is immutable").to_status();
        assert_eq!(s["code"], 400);
        assert_eq!(s["reason"], "BadRequest");
        assert!(s.get("details").is_none());
    }
}
