//! PATCH (RFC 7644 §3.5.2): `add`, `replace` and `remove` operations, with a `path` (an
//! attribute, a sub-attribute, or the values of a multi-valued attribute a value filter
//! selects) or without one, applied in order to a resource's attributes as SCIM shows them
//! (a User's or a Group's, by its `ResourceSchema`). The result is then read as a PUT body is,
//! so a PATCH cannot store what a PUT could not.
//!
//! `add` appends to a multi-valued attribute (a Group's `members`), except where one value is
//! kept (a User's `emails`): there the added address takes the place of the one there was.
//! `remove` of `members` with a value (`[{"value": "<id>"}]`, as Microsoft Entra ID sends it)
//! removes those members. Attributes of the schema that are not kept (a User's phone numbers,
//! ...) and ignored extensions are accepted and have no effect, as in a POST; a name that is no
//! attribute is `invalidPath`; `id`, `meta` and `schemas` are `mutability`.

use serde_json::{Map, Value};

use super::error::{ScimError, ScimResult, ScimType};
use super::filter::{self, AttrPath, CompValue, CompareOp, Filter, PatchPath};
use super::schema::{self, ResourceSchema, PATCH_OP};
use crate::services::users::{Password, PasswordChange};

/// At most this many operations in one request.
pub const MAX_OPERATIONS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Replace,
    Remove,
}

#[derive(Debug, Clone)]
pub struct Operation {
    pub op: Op,
    pub path: Option<PatchPath>,
    pub value: Option<Value>,
}

/// The operations of a PatchOp body.
pub fn read(body: &Value) -> ScimResult<Vec<Operation>> {
    let Value::Object(body) = body else { return Err(ScimError::invalid_syntax("the body must be a JSON object")) };
    let member = |name: &str| body.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v);
    let names_patch = member("schemas")
        .and_then(Value::as_array)
        .is_some_and(|list| list.iter().any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(PATCH_OP))));
    if !names_patch {
        return Err(ScimError::invalid_syntax(format!("schemas must list {PATCH_OP}")));
    }
    let Some(Value::Array(operations)) = member("Operations") else {
        return Err(ScimError::invalid_syntax("Operations must be a list of operations"));
    };
    if operations.is_empty() || operations.len() > MAX_OPERATIONS {
        return Err(ScimError::invalid_syntax(format!("Operations must have 1 to {MAX_OPERATIONS} operations")));
    }
    operations.iter().map(operation).collect()
}

fn operation(value: &Value) -> ScimResult<Operation> {
    let Value::Object(fields) = value else { return Err(ScimError::invalid_syntax("an operation must be an object")) };
    let mut op = None;
    let mut path = None;
    let mut operand = None;
    for (key, value) in fields {
        match key.to_ascii_lowercase().as_str() {
            "op" => {
                op = Some(match value.as_str().map(str::to_ascii_lowercase).as_deref() {
                    Some("add") => Op::Add,
                    Some("replace") => Op::Replace,
                    Some("remove") => Op::Remove,
                    _ => return Err(ScimError::invalid_syntax("op must be add, replace or remove")),
                })
            }
            "path" => match value {
                Value::String(text) => {
                    let parsed = filter::parse_path(text)
                        .map_err(|e| ScimError::bad_request(ScimType::InvalidPath, format!("path `{text}`: {e}")))?;
                    path = Some(parsed);
                }
                Value::Null => {}
                _ => return Err(ScimError::bad_request(ScimType::InvalidPath, "path must be a string")),
            },
            "value" => operand = Some(value.clone()),
            _ => {}
        }
    }
    let Some(op) = op else { return Err(ScimError::invalid_syntax("an operation needs op")) };
    match (op, &path, &operand) {
        (Op::Remove, None, _) => {
            Err(ScimError::bad_request(ScimType::NoTarget, "remove needs a path (RFC 7644 §3.5.2.2)"))
        }
        (Op::Add | Op::Replace, _, None) => Err(ScimError::invalid_value("add and replace need a value")),
        _ => Ok(Operation { op, path, value: operand }),
    }
}

/// The attributes after the operations, and what they do to the password (write-only, so not
/// among the attributes).
#[derive(Debug)]
pub struct Patched {
    pub attributes: Map<String, Value>,
    pub password: PasswordChange,
}

/// What a path's attribute is here.
enum Resolved {
    /// A kept attribute, by its key among the attributes, and its sub-attribute's key.
    Kept {
        key: &'static str,
        sub: Option<&'static str>,
        multi: bool,
        complex: bool,
        keeps_one: bool,
    },
    Password,
    /// Accepted, not kept.
    Ignored,
}

fn invalid_path<T>(detail: String) -> ScimResult<T> {
    Err(ScimError::bad_request(ScimType::InvalidPath, detail))
}

fn resolve(schema: &ResourceSchema, attr: &AttrPath, sub: Option<&str>) -> ScimResult<Resolved> {
    let ignored = |uri: &str| schema.ignored_extensions.iter().any(|e| e.eq_ignore_ascii_case(uri));
    match attr.uri.as_deref() {
        None => {}
        Some(uri) if uri.eq_ignore_ascii_case(schema.urn) => {}
        Some(uri) if ignored(uri) => return Ok(Resolved::Ignored),
        // `urn:…:enterprise:2.0:User` itself (a whole extension) reads as URI `…:2.0`, name `User`.
        Some(uri) if ignored(&format!("{uri}:{}", attr.name)) => return Ok(Resolved::Ignored),
        Some(_) => return invalid_path(format!("`{attr}`: not of {} or an extension accepted here", schema.urn)),
    }
    let sub = sub.or(attr.sub.as_deref());
    if ["id", "meta", "schemas"].iter().any(|n| attr.name.eq_ignore_ascii_case(n)) {
        return Err(ScimError::bad_request(ScimType::Mutability, format!("{} cannot be changed", attr.name)));
    }
    if attr.name.eq_ignore_ascii_case("externalId") {
        return match sub {
            None => Ok(Resolved::Kept { key: "externalId", sub: None, multi: false, complex: false, keeps_one: false }),
            Some(_) => invalid_path(format!("`{attr}`: externalId has no sub-attributes")),
        };
    }
    if schema.not_kept.iter().any(|n| attr.name.eq_ignore_ascii_case(n)) {
        return Ok(Resolved::Ignored);
    }
    let Some(attribute) = schema.attribute(&attr.name) else {
        return invalid_path(format!("`{attr}` is not an attribute of {}", schema.urn));
    };
    if attribute.mutability == schema::Mutability::WriteOnly {
        return match sub {
            None => Ok(Resolved::Password),
            Some(_) => invalid_path("password has no sub-attributes".into()),
        };
    }
    let complex = attribute.kind == schema::Kind::Complex;
    let sub = match sub {
        None => None,
        Some(name) => match attribute.sub_attribute(name) {
            Some(found) => Some(found.name),
            None if schema.sub_not_kept.iter().any(|(a, s)| *a == attribute.name && s.eq_ignore_ascii_case(name)) => {
                return Ok(Resolved::Ignored)
            }
            None => return invalid_path(format!("`{}.{name}` is not an attribute of {}", attribute.name, schema.urn)),
        },
    };
    let keeps_one = attribute.keeps_one;
    Ok(Resolved::Kept { key: attribute.name, sub, multi: attribute.multi_valued, complex, keeps_one })
}

/// A complex value's members under their canonical names (unknown ones dropped).
fn canonical(schema: &ResourceSchema, key: &str, value: Value) -> ScimResult<Value> {
    let Some(attribute) = schema.attribute(key).filter(|a| a.kind == schema::Kind::Complex) else {
        return Ok(value);
    };
    let one = |value: Value| -> ScimResult<Value> {
        match value {
            Value::Object(members) => Ok(Value::Object(
                members
                    .into_iter()
                    .filter_map(|(k, v)| attribute.sub_attribute(&k).map(|a| (a.name.to_owned(), v)))
                    .collect(),
            )),
            Value::Null => Ok(Value::Null),
            _ => Err(ScimError::invalid_value(format!("{key} takes an object"))),
        }
    };
    match (attribute.multi_valued, value) {
        (true, Value::Array(values)) => Ok(Value::Array(values.into_iter().map(one).collect::<ScimResult<_>>()?)),
        (true, Value::Object(members)) => Ok(Value::Array(vec![one(Value::Object(members))?])),
        (true, Value::Null) => Ok(Value::Null),
        (true, _) => Err(ScimError::invalid_value(format!("{key} takes a list of objects"))),
        (false, value) => one(value),
    }
}

/// Applies `operations` in order to `attributes` of a resource of `schema`.
pub fn apply(
    schema: &ResourceSchema,
    mut attributes: Map<String, Value>,
    operations: Vec<Operation>,
) -> ScimResult<Patched> {
    let mut password = PasswordChange::Keep;
    for operation in operations {
        match operation.path {
            Some(path) => {
                apply_one(schema, &mut attributes, &mut password, operation.op, &path, operation.value)?;
            }
            None => {
                // add / replace with an object of attributes (RFC 7644 §3.5.2.1, §3.5.2.3).
                let Some(Value::Object(members)) = operation.value else {
                    return Err(ScimError::invalid_value("without a path, value must be an object of attributes"));
                };
                for (key, value) in members {
                    let attr = filter::parse_attr_path(&key)
                        .map_err(|e| ScimError::bad_request(ScimType::InvalidPath, format!("`{key}`: {e}")))?;
                    let path = PatchPath { attr, filter: None, sub: None };
                    apply_one(schema, &mut attributes, &mut password, operation.op, &path, Some(value))?;
                }
            }
        }
    }
    Ok(Patched { attributes, password })
}

fn apply_one(
    schema: &ResourceSchema,
    attributes: &mut Map<String, Value>,
    password: &mut PasswordChange,
    op: Op,
    path: &PatchPath,
    value: Option<Value>,
) -> ScimResult<()> {
    let (key, sub, multi, complex, keeps_one) = match resolve(schema, &path.attr, path.sub.as_deref())? {
        Resolved::Ignored => return Ok(()),
        Resolved::Password => {
            *password = match (op, value) {
                (Op::Remove, _) => PasswordChange::Remove,
                (_, Some(Value::String(text))) => PasswordChange::Set(Password::parse(text)?),
                _ => return Err(ScimError::invalid_value("password must be a string")),
            };
            return Ok(());
        }
        Resolved::Kept { key, sub, multi, complex, keeps_one } => (key, sub, multi, complex, keeps_one),
    };
    if path.filter.is_some() && !multi {
        return invalid_path(format!("`{key}` is not multi-valued: a value filter does not apply"));
    }
    if sub.is_some() && !complex {
        return invalid_path(format!("`{key}` has no sub-attributes"));
    }
    if key == "active" && op == Op::Remove {
        return Err(ScimError::invalid_value("active cannot be removed: replace it with false to disable the user"));
    }
    if let Some(filter) = &path.filter {
        return apply_filtered(schema, attributes, op, key, filter, sub, value);
    }
    match (op, sub) {
        // `remove` with the values to remove (Microsoft Entra ID's way for group members).
        (Op::Remove, None) if multi && matches!(value, Some(Value::Array(_)) | Some(Value::Object(_))) => {
            let gone: Vec<Value> = match canonical(schema, key, value.unwrap_or(Value::Null))? {
                Value::Array(values) => values.into_iter().filter_map(|v| v.get("value").cloned()).collect(),
                _ => Vec::new(),
            };
            if let Some(Value::Array(values)) = attributes.get_mut(key) {
                values.retain(|v| !v.get("value").is_some_and(|id| gone.contains(id)));
            }
            prune(attributes, key);
        }
        (Op::Remove, None) => {
            attributes.remove(key);
        }
        (Op::Remove, Some(sub)) => {
            if let Some(current) = attributes.get_mut(key) {
                for_each_value(current, |entry| {
                    entry.remove(sub);
                });
                prune(attributes, key);
            }
        }
        (_, Some(sub)) => {
            let value = value.unwrap_or(Value::Null);
            match attributes.get_mut(key) {
                Some(current) if !is_empty(current) => for_each_value(current, |entry| {
                    entry.insert(sub.to_owned(), value.clone());
                }),
                _ => {
                    let mut entry = Map::new();
                    entry.insert(sub.to_owned(), value);
                    let entry = Value::Object(entry);
                    attributes.insert(key.to_owned(), if multi { Value::Array(vec![entry]) } else { entry });
                }
            }
            prune(attributes, key);
        }
        (Op::Add | Op::Replace, None) => {
            let value = canonical(schema, key, value.unwrap_or(Value::Null))?;
            match (complex && !multi, attributes.get_mut(key), value) {
                // A complex attribute: the sub-attributes given replace theirs, the others stay.
                (true, Some(Value::Object(current)), Value::Object(given)) => current.extend(given),
                // `add` to a multi-valued attribute appends what is not there yet.
                (false, Some(Value::Array(current)), Value::Array(given)) if op == Op::Add && !keeps_one => {
                    for value in given {
                        if !current.contains(&value) {
                            current.push(value);
                        }
                    }
                }
                // Anything else, including `emails` (one address kept: the new one replaces it).
                (_, _, value) => {
                    attributes.insert(key.to_owned(), value);
                }
            }
            prune(attributes, key);
        }
    }
    Ok(())
}

/// An operation on the values of `key` that `filter` selects.
fn apply_filtered(
    schema: &ResourceSchema,
    attributes: &mut Map<String, Value>,
    op: Op,
    key: &'static str,
    filter: &Filter,
    sub: Option<&'static str>,
    value: Option<Value>,
) -> ScimResult<()> {
    let mut values = match attributes.remove(key) {
        Some(Value::Array(values)) => values,
        _ => Vec::new(),
    };
    let selected: Vec<usize> = (0..values.len()).filter(|&i| matches(filter, &values[i])).collect();
    match op {
        Op::Remove => match sub {
            None => {
                let mut at = 0;
                values.retain(|_| {
                    at += 1;
                    !selected.contains(&(at - 1))
                });
            }
            Some(sub) => {
                for &i in &selected {
                    if let Value::Object(entry) = &mut values[i] {
                        entry.remove(sub);
                    }
                }
            }
        },
        Op::Replace if selected.is_empty() => {
            attributes.insert(key.to_owned(), Value::Array(values));
            return Err(ScimError::bad_request(ScimType::NoTarget, format!("no value of {key} matches the filter")));
        }
        Op::Add | Op::Replace if !selected.is_empty() => {
            let value = value.unwrap_or(Value::Null);
            for &i in &selected {
                match (sub, &mut values[i]) {
                    (Some(sub), Value::Object(entry)) => {
                        entry.insert(sub.to_owned(), value.clone());
                    }
                    (None, slot) => {
                        let replacement = canonical(schema, key, value.clone())?;
                        *slot = match replacement {
                            Value::Array(mut list) if list.len() == 1 => list.remove(0),
                            other => other,
                        };
                    }
                    _ => {}
                }
            }
        }
        // `add` where no value matches: a value made of the filter's `eq` terms and the one given,
        // which takes the place of the address there was (one is kept).
        _ => {
            let mut entry = Map::new();
            equalities(schema, key, filter, &mut entry);
            let value = value.unwrap_or(Value::Null);
            match sub {
                Some(sub) => {
                    entry.insert(sub.to_owned(), value);
                }
                None => {
                    if let Value::Array(list) = canonical(schema, key, value)? {
                        for value in list {
                            if let Value::Object(members) = value {
                                entry.extend(members);
                            }
                        }
                    }
                }
            }
            if keeps_one(schema, key) {
                values = vec![Value::Object(entry)];
            } else {
                values.push(Value::Object(entry));
            }
        }
    }
    values.retain(|v| !is_empty(v));
    if !values.is_empty() {
        attributes.insert(key.to_owned(), Value::Array(values));
    }
    prune(attributes, key);
    Ok(())
}

/// The `sub eq "value"` terms of a filter on `key`'s values (joined by `and`), as members of a
/// new value.
fn equalities(schema: &ResourceSchema, key: &str, filter: &Filter, into: &mut Map<String, Value>) {
    let Some(attribute) = schema.attribute(key) else { return };
    match filter {
        Filter::And(a, b) => {
            equalities(schema, key, a, into);
            equalities(schema, key, b, into);
        }
        Filter::Compare { path, op: CompareOp::Eq, value } if path.sub.is_none() => {
            let Some(sub) = attribute.sub_attribute(&path.name) else { return };
            let value = match value {
                CompValue::String(s) => Value::String(s.clone()),
                CompValue::Bool(b) => Value::Bool(*b),
                CompValue::Number(n) => Value::Number(n.clone()),
                CompValue::Null => return,
            };
            into.insert(sub.name.to_owned(), value);
        }
        _ => {}
    }
}

fn keeps_one(schema: &ResourceSchema, key: &str) -> bool {
    schema.attribute(key).is_some_and(|a| a.keeps_one)
}

/// Whether one value of a multi-valued attribute matches a value filter. Its strings compare
/// without case (the sub-attributes kept, `value` and `type` of emails, are caseExact false).
pub fn matches(filter: &Filter, value: &Value) -> bool {
    let Value::Object(entry) = value else { return false };
    let get = |path: &AttrPath| -> Option<&Value> {
        entry.iter().find(|(k, _)| k.eq_ignore_ascii_case(&path.name)).map(|(_, v)| v).filter(|v| !is_empty(v))
    };
    match filter {
        Filter::And(a, b) => matches(a, value) && matches(b, value),
        Filter::Or(a, b) => matches(a, value) || matches(b, value),
        Filter::Not(inner) => !matches(inner, value),
        Filter::Present(path) => get(path).is_some_and(|v| v.as_str() != Some("")),
        Filter::ValuePath { .. } => false,
        Filter::Compare { path, op, value: expected } => {
            let actual = get(path);
            match (actual, expected) {
                (None, CompValue::Null) => *op == CompareOp::Eq,
                (Some(_), CompValue::Null) => *op == CompareOp::Ne,
                (None, _) => *op == CompareOp::Ne,
                (Some(Value::String(have)), CompValue::String(want)) => {
                    let (have, want) = (have.to_lowercase(), want.to_lowercase());
                    match op {
                        CompareOp::Eq => have == want,
                        CompareOp::Ne => have != want,
                        CompareOp::Co => have.contains(&want),
                        CompareOp::Sw => have.starts_with(&want),
                        CompareOp::Ew => have.ends_with(&want),
                        CompareOp::Gt => have > want,
                        CompareOp::Ge => have >= want,
                        CompareOp::Lt => have < want,
                        CompareOp::Le => have <= want,
                    }
                }
                (Some(Value::Bool(have)), CompValue::Bool(want)) => match op {
                    CompareOp::Eq => have == want,
                    CompareOp::Ne => have != want,
                    _ => false,
                },
                (Some(_), _) => *op == CompareOp::Ne,
            }
        }
    }
}

fn for_each_value(value: &mut Value, mut change: impl FnMut(&mut Map<String, Value>)) {
    match value {
        Value::Object(entry) => change(entry),
        Value::Array(values) => {
            for value in values {
                if let Value::Object(entry) = value {
                    change(entry);
                }
            }
        }
        _ => {}
    }
}

/// Drops `key` when nothing is left of it: a complex value without members, a list without
/// values, an email without an address.
fn prune(attributes: &mut Map<String, Value>, key: &str) {
    if let Some(Value::Array(values)) = attributes.get_mut(key) {
        if key == "emails" {
            values.retain(|v| v.get("value").is_some_and(|a| !a.is_null()));
        }
        values.retain(|v| !is_empty(v));
    }
    if let Some(Value::Object(members)) = attributes.get_mut(key) {
        members.retain(|_, v| !v.is_null());
    }
    if attributes.get(key).is_some_and(is_empty) {
        attributes.remove(key);
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(members) => members.is_empty(),
        Value::Array(values) => values.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn bjensen() -> Map<String, Value> {
        json!({
            "userName": "bjensen",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "emails": [{"value": "bjensen@example.com", "type": "work"}],
            "active": true,
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn patch(operations: Value) -> ScimResult<Patched> {
        let body = json!({ "schemas": [PATCH_OP], "Operations": operations });
        apply(&schema::USER, bjensen(), read(&body)?)
    }

    fn patched(operations: Value) -> Value {
        Value::Object(patch(operations).unwrap().attributes)
    }

    fn scim_type(result: ScimResult<Patched>) -> &'static str {
        match result {
            Err(ScimError::Status { scim_type: Some(t), .. }) => t.as_str(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn replace_and_add_with_a_path() {
        let out = patched(json!([{"op": "Replace", "path": "displayName", "value": "Babs"}]));
        assert_eq!(out["displayName"], "Babs");
        let out = patched(json!([{"op": "add", "path": "name.formatted", "value": "Ms. Barbara Jensen"}]));
        assert_eq!(
            out["name"],
            json!({"givenName": "Barbara", "familyName": "Jensen", "formatted": "Ms. Barbara Jensen"})
        );
        let out = patched(json!([{"op": "replace", "path": "name", "value": {"FamilyName": "Smith"}}]));
        assert_eq!(out["name"], json!({"givenName": "Barbara", "familyName": "Smith"}), "sub-attributes merge");
        let out = patched(json!([{"op": "replace", "path": "ACTIVE", "value": "False"}]));
        assert_eq!(out["active"], "False", "read as a boolean later");
    }

    #[test]
    fn operations_without_a_path_take_an_object_of_attributes() {
        let out = patched(
            json!([{"op": "replace", "value": {"displayName": "Babs", "name.givenName": "Barb", "active": false}}]),
        );
        assert_eq!(out["displayName"], "Babs");
        assert_eq!(out["name"]["givenName"], "Barb");
        assert_eq!(out["active"], false);
        let out = patched(json!([{"op": "add", "value": {
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "1"},
            "title": "Tour Guide",
        }}]));
        assert_eq!(out, Value::Object(bjensen()), "what is not kept is ignored");
    }

    #[test]
    fn value_filters_select_emails() {
        let out =
            patched(json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "b@corp.example"}]));
        assert_eq!(out["emails"], json!([{"value": "b@corp.example", "type": "work"}]));
        let out = patched(json!([{"op": "remove", "path": "emails[type eq \"work\"]"}]));
        assert!(out.get("emails").is_none());
        let out = patched(json!([{"op": "remove", "path": "emails[value ew \"@other.example\"]"}]));
        assert_eq!(out["emails"], json!([{"value": "bjensen@example.com", "type": "work"}]), "no match, no change");
        let none =
            patch(json!([{"op": "replace", "path": "emails[type eq \"home\"].value", "value": "h@example.com"}]));
        assert_eq!(scim_type(none), "noTarget");
    }

    #[test]
    fn add_with_an_unmatched_value_filter_makes_the_value() {
        let mut user = bjensen();
        user.remove("emails");
        let body = json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "new@example.com"}
        ]});
        let out = apply(&schema::USER, user, read(&body).unwrap()).unwrap().attributes;
        assert_eq!(Value::Object(out)["emails"], json!([{"type": "work", "value": "new@example.com"}]));
    }

    #[test]
    fn remove_clears_and_needs_a_path() {
        let out =
            patched(json!([{"op": "remove", "path": "name.givenName"}, {"op": "remove", "path": "name.familyName"}]));
        assert!(out.get("name").is_none(), "nothing left of name");
        assert_eq!(scim_type(patch(json!([{"op": "remove"}]))), "noTarget");
        assert_eq!(scim_type(patch(json!([{"op": "remove", "path": "active"}]))), "invalidValue");
    }

    #[test]
    fn the_password_is_set_or_removed_aside() {
        let set = patch(json!([{"op": "replace", "path": "password", "value": "a long passphrase"}])).unwrap();
        assert!(matches!(set.password, PasswordChange::Set(_)));
        assert!(set.attributes.get("password").is_none());
        let removed = patch(json!([{"op": "remove", "path": "password"}])).unwrap();
        assert!(matches!(removed.password, PasswordChange::Remove));
        assert_eq!(scim_type(patch(json!([{"op": "replace", "path": "password", "value": "short"}]))), "invalidValue");
    }

    #[test]
    fn bad_operations_are_refused_with_their_scim_type() {
        assert_eq!(scim_type(patch(json!([{"op": "replace", "path": "id", "value": "x"}]))), "mutability");
        assert_eq!(scim_type(patch(json!([{"op": "replace", "path": "meta.created", "value": "x"}]))), "mutability");
        assert_eq!(scim_type(patch(json!([{"op": "replace", "path": "colour", "value": "x"}]))), "invalidPath");
        assert_eq!(scim_type(patch(json!([{"op": "replace", "path": "emails[type eq", "value": "x"}]))), "invalidPath");
        assert_eq!(
            scim_type(patch(json!([{"op": "replace", "path": "userName[type eq \"x\"]", "value": "x"}]))),
            "invalidPath"
        );
        assert_eq!(scim_type(patch(json!([{"op": "move", "path": "userName"}]))), "invalidSyntax");
        assert_eq!(scim_type(patch(json!([]))), "invalidSyntax");
        assert_eq!(scim_type(patch(json!([{"op": "add", "path": "userName"}]))), "invalidValue");
        let no_schema = read(&json!({"Operations": [{"op": "remove", "path": "title"}]}));
        assert!(no_schema.is_err());
    }

    #[test]
    fn value_filters_match_in_memory_as_the_store_would() {
        let email = json!({"value": "A@Example.com", "type": "work"});
        let check = |text: &str| matches(&filter::parse(text).unwrap(), &email);
        assert!(check(r#"type eq "WORK""#));
        assert!(check(r#"value ew "@example.com" and not (type eq "home")"#));
        assert!(check(r#"display eq null"#));
        assert!(check(r#"primary ne true"#));
        assert!(!check(r#"type eq "home" or value sw "b""#));
        assert!(check("value pr") && !check("display pr"));
    }
}
