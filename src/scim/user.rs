//! A provider user as a SCIM User (RFC 7643 §4.1) and back:
//!
//! | SCIM | user |
//! |---|---|
//! | `id` | `user_id` (the `sub` of their tokens) |
//! | `externalId` | `external_id` |
//! | `userName` | `username` (kept in lowercase) |
//! | `name.formatted`, `name.givenName`, `name.familyName` | `name`, `given_name`, `family_name` |
//! | `displayName` | `display_name` |
//! | `emails[0].value` (type `work`) | `email` |
//! | `active` | `enabled` |
//! | `password` | the argon2id hash; never returned |
//! | `meta.created`, `meta.lastModified`, `meta.version` | `created_at`, `updated_at`, the ETag |
//!
//! Reading is lenient where RFC 7644 §3.3 lets a server be (attributes it does not keep are
//! ignored; names in any case) and strict on types.

use std::time::{Duration, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use super::error::{ScimError, ScimResult};
use super::filter::{self, AttrPath};
use super::schema::{GROUP_SCHEMA, USER_SCHEMA};
use crate::services::users::{NewUser, Password, PasswordChange, User, UserProfile, UserUpdate};

/// RFC 3339 in UTC, whole seconds.
pub fn timestamp(seconds: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_secs(u64::try_from(seconds).unwrap_or(0));
    humantime::format_rfc3339_seconds(at).to_string()
}

/// The user's attributes as SCIM names them (no `id`, `meta` or `schemas`): what a PATCH
/// applies to.
pub fn attributes(user: &User) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(external_id) = &user.external_id {
        out.insert("externalId".into(), json!(external_id));
    }
    out.insert("userName".into(), json!(user.username));
    let mut name = Map::new();
    for (key, value) in [("formatted", &user.name), ("familyName", &user.family_name), ("givenName", &user.given_name)]
    {
        if let Some(value) = value {
            name.insert(key.into(), json!(value));
        }
    }
    if !name.is_empty() {
        out.insert("name".into(), Value::Object(name));
    }
    if let Some(display_name) = &user.display_name {
        out.insert("displayName".into(), json!(display_name));
    }
    if let Some(email) = &user.email {
        out.insert("emails".into(), json!([{ "value": email, "type": "work" }]));
    }
    out.insert("active".into(), json!(user.enabled));
    out
}

/// The user as a SCIM resource, at `location`.
pub fn resource(user: &User, location: &str) -> Value {
    let mut out = Map::new();
    out.insert("schemas".into(), json!([USER_SCHEMA]));
    out.insert("id".into(), json!(user.user_id));
    out.extend(attributes(user));
    out.insert(
        "meta".into(),
        json!({
            "resourceType": "User",
            "created": timestamp(user.created_at),
            "lastModified": timestamp(user.updated_at),
            "location": location,
            "version": user.etag(),
        }),
    );
    Value::Object(out)
}

/// A User body as read: what this provider keeps of it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScimUser {
    pub user_name: Option<String>,
    pub external_id: Option<String>,
    pub formatted: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub active: Option<bool>,
    pub password: Option<String>,
}

/// The attribute a body's member names: its name in any case, perhaps after the User schema's
/// URN (`urn:…:User:userName`); `None` for an extension's or another schema's member.
pub fn member_name(key: &str) -> Option<String> {
    let lower = key.to_ascii_lowercase();
    let prefix = format!("{}:", USER_SCHEMA.to_ascii_lowercase());
    match lower.strip_prefix(&prefix) {
        Some(rest) => Some(rest.to_owned()),
        None if lower.starts_with("urn:") => None,
        None => Some(lower),
    }
}

fn text(attribute: &str, value: &Value) -> ScimResult<Option<String>> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(ScimError::invalid_value(format!("{attribute} must be a string"))),
    }
}

/// A boolean; also `"true"` / `"false"` in any case, as some provisioning clients send them.
pub fn boolean(attribute: &str, value: &Value) -> ScimResult<Option<bool>> {
    match value {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        _ => Err(ScimError::invalid_value(format!("{attribute} must be a boolean"))),
    }
}

/// The one address kept of `emails`: the primary one, else the first.
fn email(value: &Value) -> ScimResult<Option<String>> {
    let values = match value {
        Value::Null => return Ok(None),
        Value::Array(values) => values,
        Value::Object(_) => std::slice::from_ref(value),
        _ => return Err(ScimError::invalid_value("emails must be a list of {\"value\": ...}")),
    };
    let mut first = None;
    for entry in values {
        let Value::Object(entry) = entry else {
            return Err(ScimError::invalid_value("emails must be a list of {\"value\": ...}"));
        };
        let mut address = None;
        let mut primary = false;
        for (key, value) in entry {
            match key.to_ascii_lowercase().as_str() {
                "value" => address = text("emails.value", value)?,
                "primary" => primary = boolean("emails.primary", value)?.unwrap_or(false),
                _ => {}
            }
        }
        let Some(address) = address else { return Err(ScimError::invalid_value("an email needs a value")) };
        if primary {
            return Ok(Some(address));
        }
        first.get_or_insert(address);
    }
    Ok(first)
}

impl ScimUser {
    /// Reads a User body (RFC 7643 §4.1). `schemas` must name the User schema.
    pub fn read(body: &Map<String, Value>) -> ScimResult<Self> {
        let schemas = body.iter().find(|(k, _)| k.eq_ignore_ascii_case("schemas")).map(|(_, v)| v);
        let names_user = schemas
            .and_then(Value::as_array)
            .is_some_and(|list| list.iter().any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(USER_SCHEMA))));
        if !names_user {
            return Err(ScimError::invalid_syntax(format!("schemas must list {USER_SCHEMA}")));
        }
        Self::read_attributes(body)
    }

    /// Reads the attributes of a body (or a PATCH result) without checking `schemas`.
    pub fn read_attributes(body: &Map<String, Value>) -> ScimResult<Self> {
        let mut user = Self::default();
        for (key, value) in body {
            let Some(name) = member_name(key) else { continue };
            match name.as_str() {
                "username" => user.user_name = text("userName", value)?,
                "externalid" => user.external_id = text("externalId", value)?,
                "displayname" => user.display_name = text("displayName", value)?,
                "emails" => user.email = email(value)?,
                "active" => user.active = boolean("active", value)?,
                "password" => user.password = text("password", value)?,
                "name" => match value {
                    Value::Null => {}
                    Value::Object(parts) => {
                        for (key, value) in parts {
                            match key.to_ascii_lowercase().as_str() {
                                "formatted" => user.formatted = text("name.formatted", value)?,
                                "givenname" => user.given_name = text("name.givenName", value)?,
                                "familyname" => user.family_name = text("name.familyName", value)?,
                                _ => {}
                            }
                        }
                    }
                    _ => return Err(ScimError::invalid_value("name must be an object")),
                },
                // Read-only (`id`, `meta`) and not kept: ignored, as RFC 7644 §3.3 and §3.5.1 allow.
                _ => {}
            }
        }
        Ok(user)
    }

    fn user_name(&self) -> ScimResult<String> {
        self.user_name.clone().ok_or_else(|| ScimError::invalid_value("userName is required"))
    }

    fn password(&self) -> ScimResult<Option<Password>> {
        self.password.clone().map(Password::parse).transpose().map_err(ScimError::from)
    }

    /// The new user a POST asks for: active unless it says otherwise.
    pub fn into_new_user(self) -> ScimResult<NewUser> {
        Ok(NewUser {
            username: self.user_name()?,
            password: self.password()?,
            email: self.email,
            email_verified: false,
            name: self.formatted,
            given_name: self.given_name,
            family_name: self.family_name,
            display_name: self.display_name,
            external_id: self.external_id,
            enabled: self.active.unwrap_or(true),
        })
    }

    /// The change a PUT (or a PATCH, once applied) makes to `current`: the profile is replaced;
    /// `active` and the password change only when the body has them. An email stays verified
    /// only while it stays the same.
    pub fn into_update(self, current: &User, password: PasswordChange) -> ScimResult<UserUpdate> {
        let password = match self.password()? {
            Some(new) => PasswordChange::Set(new),
            None => password,
        };
        let email_verified = current.email_verified
            && self.email.as_deref().map(str::trim).map(str::to_lowercase)
                == current.email.as_deref().map(str::to_lowercase);
        Ok(UserUpdate {
            profile: UserProfile {
                username: self.user_name()?,
                email: self.email,
                email_verified,
                name: self.formatted,
                given_name: self.given_name,
                family_name: self.family_name,
                display_name: self.display_name,
                external_id: self.external_id,
            },
            enabled: self.active,
            password,
        })
    }
}

/// `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5, §3.9): which attributes an answer
/// shows. `id` and `schemas` are always shown.
#[derive(Debug, Clone, Default)]
pub struct Projection {
    include: Option<Vec<AttrPath>>,
    exclude: Vec<AttrPath>,
}

fn path_list(text: Option<&str>) -> ScimResult<Option<Vec<AttrPath>>> {
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else { return Ok(None) };
    let paths = text
        .split(',')
        .map(|p| filter::parse_attr_path(p).map_err(|e| ScimError::invalid_value(e.0)))
        .collect::<ScimResult<Vec<_>>>()?;
    Ok(Some(paths))
}

/// A path without a URN, or with the core schema's of the resource shown (User or Group).
fn is_user_uri(path: &AttrPath) -> bool {
    path.uri.as_deref().is_none_or(|u| u.eq_ignore_ascii_case(USER_SCHEMA) || u.eq_ignore_ascii_case(GROUP_SCHEMA))
}

impl Projection {
    pub fn parse(attributes: Option<&str>, excluded: Option<&str>) -> ScimResult<Self> {
        let include = path_list(attributes)?;
        let exclude = path_list(excluded)?.unwrap_or_default();
        if include.is_some() && !exclude.is_empty() {
            return Err(ScimError::invalid_syntax("attributes and excludedAttributes cannot be used together"));
        }
        Ok(Self { include, exclude })
    }

    /// `resource` with only the attributes asked for.
    pub fn apply(&self, resource: Value) -> Value {
        let Value::Object(mut members) = resource else { return resource };
        let always = |key: &str| key == "id" || key == "schemas";
        let named = |paths: &[AttrPath], key: &str| -> Vec<Option<String>> {
            paths.iter().filter(|p| is_user_uri(p) && p.name.eq_ignore_ascii_case(key)).map(|p| p.sub.clone()).collect()
        };
        if let Some(include) = &self.include {
            members.retain(|key, value| {
                if always(key) {
                    return true;
                }
                let subs = named(include, key);
                if subs.is_empty() {
                    return false;
                }
                if subs.iter().any(Option::is_none) {
                    return true;
                }
                let keep: Vec<String> = subs.into_iter().flatten().collect();
                retain_sub_attributes(value, |sub| keep.iter().any(|k| k.eq_ignore_ascii_case(sub)));
                !is_empty(value)
            });
        }
        members.retain(|key, value| {
            if always(key) {
                return true;
            }
            let subs = named(&self.exclude, key);
            if subs.iter().any(Option::is_none) {
                return false;
            }
            let drop: Vec<String> = subs.into_iter().flatten().collect();
            if !drop.is_empty() {
                retain_sub_attributes(value, |sub| !drop.iter().any(|d| d.eq_ignore_ascii_case(sub)));
            }
            !is_empty(value)
        });
        Value::Object(members)
    }
}

/// Keeps the sub-attributes `keep` accepts of a complex value (or of each of a list's values).
fn retain_sub_attributes(value: &mut Value, keep: impl Fn(&str) -> bool + Copy) {
    match value {
        Value::Object(parts) => parts.retain(|k, _| keep(k)),
        Value::Array(values) => {
            for value in values.iter_mut() {
                retain_sub_attributes(value, keep);
            }
            values.retain(|v| !is_empty(v));
        }
        _ => {}
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Object(parts) => parts.is_empty(),
        Value::Array(values) => values.is_empty(),
        Value::Null => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        User {
            user_id: "8e2c…".into(),
            username: "bjensen".into(),
            email: Some("bjensen@example.com".into()),
            email_verified: true,
            name: Some("Ms. Barbara J Jensen III".into()),
            given_name: Some("Barbara".into()),
            family_name: Some("Jensen".into()),
            display_name: Some("Babs Jensen".into()),
            external_id: Some("E-701".into()),
            enabled: true,
            has_password: true,
            created_at: 1_700_000_000,
            updated_at: 1_700_000_060,
        }
    }

    #[test]
    fn a_user_is_shown_with_the_user_schema_and_meta() {
        let shown = resource(&user(), "https://login.example/scim/v2/Users/8e2c…");
        assert_eq!(shown["schemas"], json!([USER_SCHEMA]));
        assert_eq!(shown["userName"], "bjensen");
        assert_eq!(
            shown["name"],
            json!({"formatted": "Ms. Barbara J Jensen III", "familyName": "Jensen", "givenName": "Barbara"})
        );
        assert_eq!(shown["emails"], json!([{"value": "bjensen@example.com", "type": "work"}]));
        assert_eq!(shown["active"], true);
        assert_eq!(shown["externalId"], "E-701");
        assert_eq!(shown["meta"]["created"], "2023-11-14T22:13:20Z");
        assert_eq!(shown["meta"]["version"], json!(user().etag()));
        assert!(shown.get("password").is_none());
    }

    #[test]
    fn a_body_is_read_in_any_case_and_what_is_not_kept_is_ignored() {
        let body = json!({
            "schemas": [USER_SCHEMA, super::super::schema::ENTERPRISE_USER_SCHEMA],
            "USERNAME": "Bjensen",
            "name": {"GivenName": "Barbara", "middleName": "Jane"},
            "emails": [{"value": "home@example.com", "type": "home"}, {"value": "work@example.com", "primary": "True"}],
            "phoneNumbers": [{"value": "555-555-8377"}],
            "urn:ietf:params:scim:schemas:core:2.0:User:displayName": "Babs",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "701984"},
            "active": "False",
            "id": "ignored",
        });
        let read = ScimUser::read(body.as_object().unwrap()).unwrap();
        assert_eq!(read.user_name.as_deref(), Some("Bjensen"));
        assert_eq!(read.given_name.as_deref(), Some("Barbara"));
        assert_eq!(read.email.as_deref(), Some("work@example.com"), "the primary address");
        assert_eq!(read.display_name.as_deref(), Some("Babs"));
        assert_eq!(read.active, Some(false));
    }

    #[test]
    fn a_body_without_the_user_schema_or_with_a_wrong_type_is_refused() {
        let missing = ScimUser::read(json!({"userName": "a"}).as_object().unwrap()).unwrap_err();
        assert!(matches!(
            missing,
            ScimError::Status { scim_type: Some(super::super::error::ScimType::InvalidSyntax), .. }
        ));
        let wrong = ScimUser::read(json!({"schemas": [USER_SCHEMA], "userName": 5}).as_object().unwrap());
        assert!(matches!(
            wrong,
            Err(ScimError::Status { scim_type: Some(super::super::error::ScimType::InvalidValue), .. })
        ));
        let no_name = ScimUser::read(json!({"schemas": [USER_SCHEMA]}).as_object().unwrap()).unwrap();
        assert!(no_name.into_new_user().is_err(), "userName is required");
    }

    #[test]
    fn attributes_and_excluded_attributes_choose_what_is_shown() {
        let shown = resource(&user(), "https://x/Users/1");
        let only = Projection::parse(Some("userName,name.familyName,EMAILS.value"), None).unwrap().apply(shown.clone());
        let keys: Vec<&str> = only.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["schemas", "id", "userName", "name", "emails"]);
        assert_eq!(only["name"], json!({"familyName": "Jensen"}));
        assert_eq!(only["emails"], json!([{"value": "bjensen@example.com"}]));
        let without = Projection::parse(None, Some("name,meta,id,emails.type")).unwrap().apply(shown);
        assert!(without.get("name").is_none() && without.get("meta").is_none());
        assert_eq!(without["id"], "8e2c…", "id is always returned");
        assert_eq!(without["emails"], json!([{"value": "bjensen@example.com"}]));
        assert!(Projection::parse(Some("userName"), Some("name")).is_err());
    }
}
