//! Canonical JSON and the content hash that decides whether `apply` makes a new version.
//!
//! Keys are sorted explicitly (not left to `serde_json::Map`, whose order depends on the
//! `preserve_order` feature another crate may switch on), so the hash is stable.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// `value` as compact JSON with object keys sorted at every level.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, val)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_json_string(key, out);
                out.push(':');
                write_canonical(val, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => {
            // Scalars have one serialization; writing to a String cannot fail.
            let _ = write!(out, "{scalar}");
        }
    }
}

fn push_json_string(s: &str, out: &mut String) {
    let _ = write!(out, "{}", Value::String(s.to_owned()));
}

/// SHA-256 (lowercase hex) over the canonical spec and the labels: two applies with the
/// same content get the same hash however the JSON was formatted or ordered.
pub fn spec_hash(spec: &Value, labels: &BTreeMap<String, String>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"spec\0");
    hasher.update(canonical_json(spec).as_bytes());
    hasher.update(b"\0labels\0");
    for (k, v) in labels {
        // Length prefixes keep {"a": "bc"} and {"ab": "c"} apart.
        hasher.update((k.len() as u64).to_le_bytes());
        hasher.update(k.as_bytes());
        hasher.update((v.len() as u64).to_le_bytes());
        hasher.update(v.as_bytes());
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_form_sorts_keys_at_every_level() {
        let v: Value =
            serde_json::from_str(r#"{"b": 1, "a": {"z": [3, {"y": "x", "c": null}], "m": true}}"#)
                .unwrap();
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"m":true,"z":[3,{"c":null,"y":"x"}]},"b":1}"#
        );
    }

    #[test]
    fn canonical_form_escapes_strings() {
        let v = json!({"k\"ey": "line\nbreak"});
        assert_eq!(canonical_json(&v), r#"{"k\"ey":"line\nbreak"}"#);
    }

    #[test]
    fn hash_ignores_formatting_and_key_order_but_not_content() {
        let labels = BTreeMap::new();
        let a: Value = serde_json::from_str(r#"{"x": 1, "y": [1, 2]}"#).unwrap();
        let b: Value = serde_json::from_str("{\n  \"y\": [1,2],\n  \"x\": 1\n}").unwrap();
        let c: Value = serde_json::from_str(r#"{"x": 1, "y": [2, 1]}"#).unwrap();
        assert_eq!(spec_hash(&a, &labels), spec_hash(&b, &labels));
        assert_ne!(spec_hash(&a, &labels), spec_hash(&c, &labels));
    }

    #[test]
    fn hash_covers_labels_without_ambiguity() {
        let spec = json!({});
        let one = BTreeMap::from([("a".to_string(), "bc".to_string())]);
        let two = BTreeMap::from([("ab".to_string(), "c".to_string())]);
        assert_ne!(spec_hash(&spec, &one), spec_hash(&spec, &two));
        assert_ne!(spec_hash(&spec, &one), spec_hash(&spec, &BTreeMap::new()));
    }
}
