//! A SCIM filter or `sortBy` as a search of the users table (`UserCondition`, which diesel turns
//! into SQL with bound values), or `invalidFilter` naming what cannot be searched. Every
//! attribute the User schema here publishes is a column, so every filter on them translates;
//! attributes no user has (the enterprise extension, phone numbers, ...) are refused rather
//! than silently matching nothing.
//!
//! Strings compare as their attribute's `caseExact` says (RFC 7643 §2.2): `userName`, names,
//! `displayName` and email addresses without case, `id` and `externalId` with it. `gt`/`ge`/
//! `lt`/`le` compare strings in the database's order and `meta.created` / `meta.lastModified`
//! as instants; on booleans they are `invalidFilter` (RFC 7644 §3.4.2.2).

use crate::services::users::{TextMatch, TimeMatch, UserCondition, UserSort, UserText, UserTime};

use super::error::{ScimError, ScimResult};
use super::filter::{AttrPath, CompValue, CompareOp, Filter};
use super::schema::USER_SCHEMA;

/// What an attribute path is, for searching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Text(UserText, bool),
    Time(UserTime),
    Active,
    /// `emails.type`: always `work` where there is an address.
    EmailType,
    /// `meta.resourceType`: always `User`.
    ResourceType,
    /// `name`, `emails`, `meta` without a sub-attribute: only `pr` applies.
    Complex(&'static [UserText]),
}

fn refuse<T>(message: impl Into<String>) -> ScimResult<T> {
    Err(ScimError::invalid_filter(message))
}

/// The target of `path`; `within` is the multi-valued attribute of a value filter
/// (`emails[type eq "work"]`), whose sub-attributes the path then names.
fn target(path: &AttrPath, within: Option<&str>) -> ScimResult<Target> {
    if path.uri.as_deref().is_some_and(|u| !u.eq_ignore_ascii_case(USER_SCHEMA)) {
        return refuse(format!("`{path}`: only attributes of {USER_SCHEMA} can be searched"));
    }
    let name = path.name.to_ascii_lowercase();
    let sub = path.sub.as_deref().map(str::to_ascii_lowercase);
    let (name, sub) = match within {
        Some(parent) if path.sub.is_none() => (parent.to_owned(), Some(name)),
        Some(_) => return refuse(format!("`{path}`: a value filter names sub-attributes only")),
        None => (name, sub),
    };
    use UserText::*;
    let found = match (name.as_str(), sub.as_deref()) {
        ("id", None) => Target::Text(UserId, true),
        ("externalid", None) => Target::Text(ExternalId, true),
        ("username", None) => Target::Text(Username, false),
        ("displayname", None) => Target::Text(DisplayName, false),
        ("name", None) => Target::Complex(&[Name, GivenName, FamilyName]),
        ("name", Some("formatted")) => Target::Text(Name, false),
        ("name", Some("givenname")) => Target::Text(GivenName, false),
        ("name", Some("familyname")) => Target::Text(FamilyName, false),
        // A multi-valued attribute compared directly compares its value (RFC 7644 §3.4.2.2).
        ("emails", None | Some("value")) => Target::Text(Email, false),
        ("emails", Some("type")) => Target::EmailType,
        ("active", None) => Target::Active,
        ("meta", None) => Target::Complex(&[]),
        ("meta", Some("created")) => Target::Time(UserTime::Created),
        ("meta", Some("lastmodified")) => Target::Time(UserTime::Updated),
        ("meta", Some("resourcetype")) => Target::ResourceType,
        ("password", _) => return refuse("password cannot be searched"),
        _ => return refuse(format!("`{path}` is not an attribute users can be searched by")),
    };
    Ok(found)
}

/// The users table condition of `filter`.
pub fn condition(filter: &Filter) -> ScimResult<UserCondition> {
    translate(filter, None)
}

fn translate(filter: &Filter, within: Option<&str>) -> ScimResult<UserCondition> {
    Ok(match filter {
        Filter::And(a, b) => UserCondition::And(Box::new(translate(a, within)?), Box::new(translate(b, within)?)),
        Filter::Or(a, b) => UserCondition::Or(Box::new(translate(a, within)?), Box::new(translate(b, within)?)),
        Filter::Not(inner) => UserCondition::Not(Box::new(translate(inner, within)?)),
        Filter::ValuePath { path, filter } => {
            if !path.name.eq_ignore_ascii_case("emails") || path.sub.is_some() {
                return refuse(format!("`{path}[…]`: emails is the only multi-valued attribute kept"));
            }
            let inner = translate(filter, Some("emails"))?;
            UserCondition::And(Box::new(UserCondition::Present(UserText::Email)), Box::new(inner))
        }
        Filter::Present(path) => match target(path, within)? {
            Target::Text(column, _) => present(column),
            Target::Complex([]) => UserCondition::Always,
            Target::Complex(columns) => columns
                .iter()
                .map(|c| present(*c))
                .reduce(|a, b| UserCondition::Or(Box::new(a), Box::new(b)))
                .unwrap_or(UserCondition::Never),
            Target::EmailType => UserCondition::Present(UserText::Email),
            Target::Active | Target::Time(_) | Target::ResourceType => UserCondition::Always,
        },
        Filter::Compare { path, op, value } => compare(path, target(path, within)?, *op, value, within)?,
    })
}

fn present(column: UserText) -> UserCondition {
    match column {
        // Never empty.
        UserText::UserId | UserText::Username => UserCondition::Always,
        other => UserCondition::Present(other),
    }
}

fn compare(
    path: &AttrPath,
    target: Target,
    op: CompareOp,
    value: &CompValue,
    within: Option<&str>,
) -> ScimResult<UserCondition> {
    // `eq null` is "has no value", `ne null` "has one".
    if let CompValue::Null = value {
        let has = translate(&Filter::Present(path.clone()), within)?;
        return match op {
            CompareOp::Eq => Ok(UserCondition::Not(Box::new(has))),
            CompareOp::Ne => Ok(has),
            _ => refuse(format!("`{} null`: null compares with eq and ne only", op.as_str())),
        };
    }
    let negate = |condition: UserCondition| match op {
        CompareOp::Ne => UserCondition::Not(Box::new(condition)),
        _ => condition,
    };
    match target {
        Target::Text(column, case_exact) => {
            let CompValue::String(text) = value else {
                return refuse(format!("`{path}` is a string: compare it with a \"string\""));
            };
            let op = match op {
                CompareOp::Eq | CompareOp::Ne => TextMatch::Equals,
                CompareOp::Co => TextMatch::Contains,
                CompareOp::Sw => TextMatch::StartsWith,
                CompareOp::Ew => TextMatch::EndsWith,
                CompareOp::Gt => TextMatch::Greater,
                CompareOp::Ge => TextMatch::GreaterOrEqual,
                CompareOp::Lt => TextMatch::Less,
                CompareOp::Le => TextMatch::LessOrEqual,
            };
            Ok(negate(UserCondition::Text { column, op, value: text.clone(), ignore_case: !case_exact }))
        }
        Target::Active => {
            let CompValue::Bool(on) = value else {
                return refuse(format!("`{path}` is a boolean: compare it with true or false"));
            };
            match op {
                CompareOp::Eq => Ok(UserCondition::Enabled(*on)),
                CompareOp::Ne => Ok(UserCondition::Enabled(!*on)),
                _ => refuse(format!("`{path}` is a boolean: `{}` does not apply (eq, ne, pr do)", op.as_str())),
            }
        }
        Target::Time(column) => {
            let CompValue::String(text) = value else {
                return refuse(format!("`{path}` is a dateTime: compare it with a \"2024-01-31T12:00:00Z\" string"));
            };
            let op = match op {
                CompareOp::Eq | CompareOp::Ne => TimeMatch::Equals,
                CompareOp::Gt => TimeMatch::Greater,
                CompareOp::Ge => TimeMatch::GreaterOrEqual,
                CompareOp::Lt => TimeMatch::Less,
                CompareOp::Le => TimeMatch::LessOrEqual,
                CompareOp::Co | CompareOp::Sw | CompareOp::Ew => {
                    return refuse(format!("`{path}` is a dateTime: `{}` does not apply", op.as_str()));
                }
            };
            let at = parse_instant(text)
                .ok_or_else(|| ScimError::invalid_filter(format!("`{text}` is not an RFC 3339 date and time")))?;
            Ok(negate(UserCondition::Time { column, op, at }))
        }
        Target::EmailType | Target::ResourceType => {
            let (constant, guard) = match target {
                Target::EmailType => ("work", UserCondition::Present(UserText::Email)),
                _ => ("User", UserCondition::Always),
            };
            let CompValue::String(text) = value else {
                return refuse(format!("`{path}` is a string: compare it with a \"string\""));
            };
            let (have, want) = (constant.to_lowercase(), text.to_lowercase());
            let holds = match op {
                CompareOp::Eq | CompareOp::Ne => have == want,
                CompareOp::Co => have.contains(&want),
                CompareOp::Sw => have.starts_with(&want),
                CompareOp::Ew => have.ends_with(&want),
                CompareOp::Gt => have > want,
                CompareOp::Ge => have >= want,
                CompareOp::Lt => have < want,
                CompareOp::Le => have <= want,
            };
            let holds = if op == CompareOp::Ne { !holds } else { holds };
            Ok(match holds {
                true => guard,
                false if op == CompareOp::Ne => UserCondition::Not(Box::new(guard)),
                false => UserCondition::Never,
            })
        }
        Target::Complex(_) => refuse(format!("`{path}` is complex: name a sub-attribute, or use pr")),
    }
}

/// Unix seconds of an RFC 3339 date and time (`Z` or a `±hh:mm` offset, fractions dropped).
pub fn parse_instant(text: &str) -> Option<i64> {
    let text = text.trim();
    let (local, offset) = match text.len().checked_sub(6).map(|at| text.split_at(at)) {
        Some((local, zone)) if (zone.starts_with('+') || zone.starts_with('-')) && zone.as_bytes()[3] == b':' => {
            let hours: i64 = zone[1..3].parse().ok()?;
            let minutes: i64 = zone[4..6].parse().ok()?;
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            (format!("{local}Z"), sign * (hours * 3600 + minutes * 60))
        }
        _ => (text.to_owned(), 0),
    };
    let at = humantime::parse_rfc3339(&local).ok()?;
    let seconds = at.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    i64::try_from(seconds).ok().map(|s| s - offset)
}

/// `sortBy` (RFC 7644 §3.4.2.3) as what the users table orders by; users without the value come
/// last either way.
pub fn sort(path: &AttrPath) -> ScimResult<UserSort> {
    let refused = || ScimError::invalid_value(format!("`{path}` is not an attribute users can be sorted by"));
    Ok(match target(path, None).map_err(|_| refused())? {
        Target::Text(column, case_exact) => UserSort::Text { column, ignore_case: !case_exact },
        Target::Time(column) => UserSort::Time(column),
        Target::Active => UserSort::Enabled,
        // Sorting by a multi-valued attribute sorts by its primary value (our only one).
        Target::Complex(_) if path.name.eq_ignore_ascii_case("emails") => {
            UserSort::Text { column: UserText::Email, ignore_case: true }
        }
        _ => return Err(refused()),
    })
}

#[cfg(test)]
mod tests {
    use super::super::filter::parse;
    use super::*;

    fn translated(text: &str) -> UserCondition {
        condition(&parse(text).unwrap()).unwrap()
    }

    fn refused(text: &str) -> String {
        match condition(&parse(text).unwrap()) {
            Err(ScimError::Status { scim_type: Some(t), detail, .. }) => {
                assert_eq!(t.as_str(), "invalidFilter");
                detail
            }
            other => panic!("{text}: {other:?}"),
        }
    }

    fn text(column: UserText, op: TextMatch, value: &str, ignore_case: bool) -> UserCondition {
        UserCondition::Text { column, op, value: value.into(), ignore_case }
    }

    #[test]
    fn case_follows_each_attributes_case_exactness() {
        assert_eq!(
            translated(r#"userName eq "BJensen""#),
            text(UserText::Username, TextMatch::Equals, "BJensen", true)
        );
        assert_eq!(translated(r#"USERNAME Eq "x""#), text(UserText::Username, TextMatch::Equals, "x", true));
        assert_eq!(translated(r#"externalId eq "E1""#), text(UserText::ExternalId, TextMatch::Equals, "E1", false));
        assert_eq!(translated(r#"id sw "8e""#), text(UserText::UserId, TextMatch::StartsWith, "8e", false));
        assert_eq!(
            translated(r#"name.familyName co "ens""#),
            text(UserText::FamilyName, TextMatch::Contains, "ens", true)
        );
        assert_eq!(
            translated(r#"urn:ietf:params:scim:schemas:core:2.0:User:emails.value ew "@example.com""#),
            text(UserText::Email, TextMatch::EndsWith, "@example.com", true)
        );
    }

    #[test]
    fn ne_not_and_or_keep_their_meaning() {
        let eq = text(UserText::DisplayName, TextMatch::Equals, "a", true);
        assert_eq!(translated(r#"displayName ne "a""#), UserCondition::Not(Box::new(eq.clone())));
        assert_eq!(
            translated(r#"not (displayName eq "a") or active eq false"#),
            UserCondition::Or(Box::new(UserCondition::Not(Box::new(eq))), Box::new(UserCondition::Enabled(false)))
        );
        assert_eq!(translated("active ne true"), UserCondition::Enabled(false));
    }

    #[test]
    fn value_paths_on_emails_and_the_constant_type() {
        let present = || UserCondition::Present(UserText::Email);
        assert_eq!(
            translated(r#"emails[type eq "work"]"#),
            UserCondition::And(Box::new(present()), Box::new(present()))
        );
        assert_eq!(
            translated(r#"emails[type eq "home"]"#),
            UserCondition::And(Box::new(present()), Box::new(UserCondition::Never))
        );
        assert_eq!(
            translated(r#"emails[type eq "work" and value co "@corp"]"#),
            UserCondition::And(
                Box::new(present()),
                Box::new(UserCondition::And(
                    Box::new(present()),
                    Box::new(text(UserText::Email, TextMatch::Contains, "@corp", true))
                ))
            )
        );
        assert_eq!(translated("emails pr"), present());
        assert_eq!(translated("emails eq null"), UserCondition::Not(Box::new(present())));
    }

    #[test]
    fn dates_compare_as_instants() {
        assert_eq!(
            translated(r#"meta.lastModified gt "2011-05-13T04:42:34Z""#),
            UserCondition::Time { column: UserTime::Updated, op: TimeMatch::Greater, at: 1_305_261_754 }
        );
        assert_eq!(
            translated(r#"meta.created le "2011-05-13T06:42:34+02:00""#),
            UserCondition::Time { column: UserTime::Created, op: TimeMatch::LessOrEqual, at: 1_305_261_754 }
        );
        assert!(refused(r#"meta.created co "2011""#).contains("dateTime"));
        assert!(refused(r#"meta.created gt "yesterday""#).contains("RFC 3339"));
    }

    #[test]
    fn what_cannot_be_searched_is_invalid_filter() {
        assert!(refused(r#"title eq "Tour Guide""#).contains("title"));
        assert!(refused(r#"phoneNumbers[type eq "work"]"#).contains("emails"));
        assert!(refused(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "1""#)
            .contains("only attributes"));
        assert!(refused("active gt true").contains("boolean"));
        assert!(refused(r#"active eq "true""#).contains("boolean"));
        assert!(refused("userName eq 5").contains("string"));
        assert!(refused(r#"password eq "x""#).contains("password"));
        assert!(refused(r#"name eq "x""#).contains("complex"));
    }

    #[test]
    fn sort_keys_are_columns() {
        let path = |p: &str| super::super::filter::parse_attr_path(p).unwrap();
        assert_eq!(sort(&path("userName")).unwrap(), UserSort::Text { column: UserText::Username, ignore_case: true });
        assert_eq!(sort(&path("meta.created")).unwrap(), UserSort::Time(UserTime::Created));
        assert_eq!(sort(&path("emails")).unwrap(), UserSort::Text { column: UserText::Email, ignore_case: true });
        assert!(sort(&path("title")).is_err());
        assert!(sort(&path("name")).is_err());
    }
}
