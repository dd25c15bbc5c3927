//! Independent references over the JSON (wire) form, for differential property tests.
//!
//! `go_partial_equal` transcribes upstream's reflective `PartialEqual` onto JSON: a missing key
//! is Go's nil / zero value, an object is a struct (behind a pointer when it is a field), an
//! array is a non-nil slice, strings and numbers are scalars.

use serde_json::{Map, Value};

/// Go `IsZero` of a value after dereferencing.
fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Bool(b) => !b,
        Value::Object(fields) => fields.values().all(is_zero_field),
        Value::Array(_) => false,
    }
}

/// Go `IsZero` of a struct field: pointers (objects) and slices (arrays) are zero only when nil.
fn is_zero_field(v: &Value) -> bool {
    match v {
        Value::Object(_) | Value::Array(_) => false,
        other => is_zero(other),
    }
}

/// Upstream `PartialEqual(q, s)`; `s == None` is a nil / absent server value.
pub fn go_partial_equal(q: &Value, s: Option<&Value>) -> bool {
    if is_zero(q) {
        return true;
    }
    match (q, s) {
        (Value::Object(q), Some(Value::Object(s))) => {
            q.iter().all(|(k, qv)| go_partial_equal(qv, s.get(k)))
        }
        // A non-zero struct against a nil pointer.
        (Value::Object(_), _) => false,
        (Value::Array(q), Some(Value::Array(s))) => {
            q.len() <= s.len()
                && q.iter()
                    .zip(s)
                    .all(|(qv, sv)| go_partial_equal(qv, Some(sv)))
        }
        // A nil server slice has length 0.
        (Value::Array(q), None) => q.is_empty(),
        (q, s) => s == Some(q),
    }
}

/// A tiny deterministic generator, so one proptest seed drives a whole JSON rewrite.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// A number in `0..n` (splitmix64).
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n
    }
}

fn zero_like(v: &Value) -> Value {
    match v {
        Value::String(_) => Value::String(String::new()),
        Value::Number(_) => Value::from(0),
        Value::Object(_) => Value::Object(Map::new()),
        _ => Value::Array(Vec::new()),
    }
}

/// A sub-template of `v`: fields dropped, zeroed or kept, lists cut to a prefix.
pub fn mask(v: &Value, rng: &mut Rng) -> Value {
    match v {
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .filter_map(|(k, fv)| match rng.below(4) {
                    0 => None,
                    1 => Some((k.clone(), zero_like(fv))),
                    _ => Some((k.clone(), mask(fv, rng))),
                })
                .collect(),
        ),
        Value::Array(items) => {
            let keep = rng.below(items.len() as u64 + 1) as usize;
            Value::Array(
                items
                    .iter()
                    .take(keep)
                    .map(|item| mask(item, rng))
                    .collect(),
            )
        }
        other => other.clone(),
    }
}

/// `q` made stricter with parts of `r`: zero or missing parts of `q` are taken from `r`,
/// lists are merged by position and extended with `r`'s extra items.
pub fn refine(q: &Value, r: &Value) -> Value {
    match (q, r) {
        (Value::Object(q), Value::Object(r)) => {
            let mut out = q.clone();
            for (k, rv) in r {
                let merged = match q.get(k) {
                    Some(qv) => refine(qv, rv),
                    None => rv.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(q), Value::Array(r)) => {
            let mut out: Vec<Value> = q.iter().zip(r).map(|(qv, rv)| refine(qv, rv)).collect();
            out.extend(q.iter().skip(r.len()).cloned());
            out.extend(r.iter().skip(q.len()).cloned());
            Value::Array(out)
        }
        (q, r) if is_zero(q) => r.clone(),
        (q, _) => q.clone(),
    }
}
