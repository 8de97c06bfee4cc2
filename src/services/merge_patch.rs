//! RFC 7396 JSON Merge Patch: how the admin API's `PATCH` and the CLI's `update --patch`
//! change part of a registration. The patch applies to the registration as it stands, and the
//! result is read back as a whole registration, so it passes every rule a new one does.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::error::FieldError;

/// `patch` applied to `target` (RFC 7396 §2).
pub fn apply(target: &mut Value, patch: Value) {
    match patch {
        Value::Object(members) => {
            if !target.is_object() {
                *target = Value::Object(serde_json::Map::new());
            }
            let Value::Object(target) = target else { return };
            for (name, value) in members {
                if value.is_null() {
                    target.remove(&name);
                } else {
                    apply(target.entry(name).or_insert(Value::Null), value);
                }
            }
        }
        other => *target = other,
    }
}

/// `current` with `patch` applied, read back as a `T`; a refusal names the member.
pub fn patched<T: Serialize + DeserializeOwned>(current: &T, patch: Value) -> Result<T, FieldError> {
    if !patch.is_object() {
        return Err(FieldError::new("", "a merge patch here is a JSON object"));
    }
    let mut merged = serde_json::to_value(current).map_err(|e| FieldError::new("", e.to_string()))?;
    apply(&mut merged, patch);
    serde_path_to_error::deserialize(merged)
        .map_err(|e| FieldError::from_json_error(e).unwrap_or_else(|| FieldError::new("", "not a valid document")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7396_appendix_a() {
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":{"b":"c"}}), json!({"a":{"b":"d","c":null}}), json!({"a":{"b":"d"}})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (json!({"a":"foo"}), json!(null), json!(null)),
            (json!({}), json!({"a":{"bb":{"ccc":null}}}), json!({"a":{"bb":{}}})),
        ];
        for (mut target, patch, expected) in cases {
            apply(&mut target, patch.clone());
            assert_eq!(target, expected, "patch {patch}");
        }
    }

    #[derive(Debug, Serialize, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Thing {
        name: String,
        #[serde(default)]
        tags: Vec<String>,
    }

    #[test]
    fn a_patch_naming_an_unknown_member_is_refused_by_name() {
        let current = Thing { name: "a".into(), tags: vec![] };
        let refused = patched(&current, json!({"colour": "red"})).unwrap_err();
        assert_eq!(refused.field, "colour");
        let refused = patched(&current, json!({"tags": [1]})).unwrap_err();
        assert_eq!(refused.field, "tags[0]");
        let changed = patched(&current, json!({"tags": ["x"]})).unwrap();
        assert_eq!(changed, Thing { name: "a".into(), tags: vec!["x".into()] });
    }
}
