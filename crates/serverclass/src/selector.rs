//! Kubernetes label selectors (`metav1.LabelSelector`), as `LabelSelectorAsSelector` parses and
//! matches them.
//!
//! Parsing validates what apimachinery validates — the operator, the number of values for the
//! operator, label keys (qualified names) and values (label values) — so a selector upstream
//! rejects is rejected here too, with a readable [`SelectorError`].

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// Why a label selector cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// `matchExpressions[].operator` is not one of `In`, `NotIn`, `Exists`, `DoesNotExist`.
    #[error("{operator:?} is not a valid label selector operator (key {key:?})")]
    InvalidOperator {
        /// The requirement's key.
        key: String,
        /// The operator as written.
        operator: String,
    },
    /// `In` or `NotIn` without values.
    #[error("key {key:?}: for 'in', 'notin' operators, values set can't be empty")]
    MissingValues {
        /// The requirement's key.
        key: String,
    },
    /// `Exists` or `DoesNotExist` with values.
    #[error("key {key:?}: values set must be empty for exists and does not exist")]
    UnexpectedValues {
        /// The requirement's key.
        key: String,
    },
    /// The key is not a valid label key (qualified name).
    #[error("invalid label key {key:?}: {reason}")]
    InvalidKey {
        /// The key as written.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A value is not a valid label value.
    #[error("invalid label value {value:?} for key {key:?}: {reason}")]
    InvalidValue {
        /// The requirement's key.
        key: String,
        /// The value as written.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// How one requirement compares a label.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Op {
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
}

/// A parsed, valid label selector: the AND of its requirements (none = matches everything).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector {
    requirements: Vec<(String, Op)>,
}

impl Selector {
    /// Parses `matchLabels` (each an `=` requirement) and `matchExpressions`.
    pub fn parse(selector: &LabelSelector) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        for (key, value) in selector.match_labels.iter().flatten() {
            validate_key(key)?;
            validate_value(key, value)?;
            requirements.push((key.clone(), Op::In(vec![value.clone()])));
        }
        for expr in selector.match_expressions.iter().flatten() {
            let key = &expr.key;
            let values = expr.values.clone().unwrap_or_default();
            // Same order as apimachinery: operator, key, number of values, each value.
            let op = match expr.operator.as_str() {
                "In" => Op::In(values),
                "NotIn" => Op::NotIn(values),
                "Exists" => Op::Exists,
                "DoesNotExist" => Op::DoesNotExist,
                other => {
                    return Err(SelectorError::InvalidOperator {
                        key: key.clone(),
                        operator: other.to_owned(),
                    });
                }
            };
            validate_key(key)?;
            match &op {
                Op::In(values) | Op::NotIn(values) => {
                    if values.is_empty() {
                        return Err(SelectorError::MissingValues { key: key.clone() });
                    }
                    for value in values {
                        validate_value(key, value)?;
                    }
                }
                Op::Exists | Op::DoesNotExist => {
                    if expr.values.as_ref().is_some_and(|v| !v.is_empty()) {
                        return Err(SelectorError::UnexpectedValues { key: key.clone() });
                    }
                }
            }
            requirements.push((key.clone(), op));
        }
        Ok(Self { requirements })
    }

    /// Whether the labels satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|(key, op)| {
            let value = labels.get(key);
            match op {
                Op::In(values) => value.is_some_and(|v| values.contains(v)),
                // A missing label satisfies NotIn, as in Kubernetes.
                Op::NotIn(values) => value.is_none_or(|v| !values.contains(v)),
                Op::Exists => value.is_some(),
                Op::DoesNotExist => value.is_none(),
            }
        })
    }

    /// Whether the selector has no requirement (matches every label set).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
}

fn key_error(key: &str, reason: impl Into<String>) -> SelectorError {
    SelectorError::InvalidKey {
        key: key.to_owned(),
        reason: reason.into(),
    }
}

/// `IsQualifiedName`: an optional DNS-1123 subdomain prefix and `/`, then a name of at most 63
/// alphanumerics, `-`, `_`, `.`, starting and ending with an alphanumeric.
fn validate_key(key: &str) -> Result<(), SelectorError> {
    let name = match key.split('/').collect::<Vec<_>>()[..] {
        [name] => name,
        [prefix, name] => {
            if prefix.is_empty() {
                return Err(key_error(key, "prefix part must be non-empty"));
            }
            if !is_dns1123_subdomain(prefix) {
                return Err(key_error(
                    key,
                    "prefix part must be a lowercase RFC 1123 subdomain of at most 253 characters",
                ));
            }
            name
        }
        _ => {
            return Err(key_error(
                key,
                "a qualified name may contain at most one '/'",
            ));
        }
    };
    if name.is_empty() {
        return Err(key_error(key, "name part must be non-empty"));
    }
    if name.len() > 63 {
        return Err(key_error(
            key,
            "name part must be no more than 63 characters",
        ));
    }
    if !is_label_token(name) {
        return Err(key_error(
            key,
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
        ));
    }
    Ok(())
}

/// `IsValidLabelValue`: empty, or at most 63 characters shaped like a key's name part.
fn validate_value(key: &str, value: &str) -> Result<(), SelectorError> {
    let reason = if value.len() > 63 {
        "must be no more than 63 characters"
    } else if !value.is_empty() && !is_label_token(value) {
        "must be empty or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
    } else {
        return Ok(());
    };
    Err(SelectorError::InvalidValue {
        key: key.to_owned(),
        value: value.to_owned(),
        reason: reason.to_owned(),
    })
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]` (non-empty).
fn is_label_token(s: &str) -> bool {
    let bytes = s.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// DNS-1123 subdomain: at most 253 characters, dot-separated lowercase labels
/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`.
fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|label| {
            let bytes = label.as_bytes();
            let edge =
                |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
            edge(bytes.first())
                && edge(bytes.last())
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        })
}
