//! OAuth scopes (RFC 6749 §3.3).

use std::borrow::Borrow;
use std::collections::BTreeSet;
use std::fmt;

use super::{impl_string_traits, DomainError};

/// One scope token: RFC 6749 §3.3 `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`, at most
/// 128 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope(String);

const EMPTY_TOKEN: DomainError = DomainError::new("scope must not contain empty tokens");
const TOKEN_TOO_LONG: DomainError = DomainError::new("each scope token must be at most 128 characters");
const BAD_TOKEN_CHARS: DomainError =
    DomainError::new("scope tokens must be printable ASCII without quote or backslash, separated by single spaces");
const TOO_MANY: DomainError = DomainError::new("scope must contain at most 64 tokens");

impl Scope {
    pub const MAX_LEN: usize = 128;

    pub fn parse(text: &str) -> Result<Self, DomainError> {
        if text.is_empty() {
            return Err(EMPTY_TOKEN);
        }
        if text.len() > Self::MAX_LEN {
            return Err(TOKEN_TOO_LONG);
        }
        // Excluding `"` (%x22) and `\` (%x5C) also keeps a scope safe to quote inside a
        // `WWW-Authenticate: ... scope="..."` challenge (RFC 6750 §3).
        if !text.bytes().all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E)) {
            return Err(BAD_TOKEN_CHARS);
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl_string_traits!(Scope, "a scope token");

/// Lets a `BTreeSet<Scope>` be searched with a `&str`; sound because the derived `Ord`, `Eq`
/// and `Hash` of `Scope` are those of its one `String` field.
impl Borrow<str> for Scope {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// A set of scopes. Order and duplicates carry no meaning (RFC 6749 §3.3), so they are not
/// kept: `Display` and `Serialize` give the tokens sorted and space-separated, the same text
/// for the same set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScopeSet(BTreeSet<Scope>);

impl ScopeSet {
    /// Most tokens `parse` takes: bounds the work and the size of what we store per grant.
    pub const MAX_SCOPES: usize = 64;

    /// The `scope` parameter: tokens separated by single spaces (RFC 6749 §3.3
    /// `scope = scope-token *( SP scope-token )`). Leading, trailing or doubled spaces and
    /// other whitespace are refused rather than tidied, so what the client sent and what we
    /// understood cannot differ. An absent parameter is [`ScopeSet::empty`], not `parse("")`.
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let mut scopes = BTreeSet::new();
        for (count, token) in text.split(' ').enumerate() {
            if count >= Self::MAX_SCOPES {
                return Err(TOO_MANY);
            }
            scopes.insert(Scope::parse(token)?);
        }
        Ok(Self(scopes))
    }

    pub fn empty() -> Self {
        Self(BTreeSet::new())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    /// True when every scope of `self` is in `other`, e.g. requested ⊆ allowed.
    pub fn is_subset(&self, other: &ScopeSet) -> bool {
        self.0.is_subset(&other.0)
    }

    pub fn intersection(&self, other: &ScopeSet) -> ScopeSet {
        Self(self.0.intersection(&other.0).cloned().collect())
    }

    /// The scopes in ascending byte order.
    pub fn iter(&self) -> impl Iterator<Item = &Scope> + '_ {
        self.0.iter()
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl<'a> IntoIterator for &'a ScopeSet {
    type Item = &'a Scope;
    type IntoIter = std::collections::btree_set::Iter<'a, Scope>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, scope) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(scope.as_str())?;
        }
        Ok(())
    }
}

impl std::str::FromStr for ScopeSet {
    type Err = DomainError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl TryFrom<&str> for ScopeSet {
    type Error = DomainError;

    fn try_from(text: &str) -> Result<Self, Self::Error> {
        Self::parse(text)
    }
}

/// As the space-separated string, the form of the `scope` member of a token response
/// (RFC 6749 §5.1) and of the `scope` claim (RFC 9068 §2.2.3, RFC 8693 §4.2).
impl serde::Serialize for ScopeSet {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Through [`ScopeSet::parse`], except that `""` is the empty set: that is how an empty set
/// serialises, and stored values must read back.
impl<'de> serde::Deserialize<'de> for ScopeSet {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ParseVisitor;

        impl serde::de::Visitor<'_> for ParseVisitor {
            type Value = ScopeSet;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("space-separated scope tokens")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<ScopeSet, E> {
                if text.is_empty() {
                    return Ok(ScopeSet::empty());
                }
                ScopeSet::parse(text).map_err(E::custom)
            }
        }

        deserializer.deserialize_str(ParseVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(text: &str) -> ScopeSet {
        ScopeSet::parse(text).unwrap()
    }

    #[test]
    fn a_scope_token_of_printable_ascii_is_accepted() {
        let scope = Scope::parse("https://api.example/read!#$%&'()*+,-./:;<=>?@[]^_`{|}~").unwrap();
        assert!(scope.as_str().starts_with("https://"));
    }

    #[test]
    fn a_scope_token_with_a_quote_or_backslash_is_refused() {
        assert_eq!(Scope::parse("a\"b"), Err(BAD_TOKEN_CHARS));
        assert_eq!(Scope::parse("a\\b"), Err(BAD_TOKEN_CHARS));
    }

    #[test]
    fn a_scope_token_with_whitespace_control_or_non_ascii_is_refused() {
        for text in ["a b", "a\tb", "a\nb", "a\u{7f}", "é", "a\u{0}"] {
            assert_eq!(Scope::parse(text), Err(BAD_TOKEN_CHARS), "{text:?}");
        }
    }

    #[test]
    fn a_scope_token_of_128_characters_is_accepted_and_129_is_refused() {
        assert!(Scope::parse(&"s".repeat(128)).is_ok());
        assert_eq!(Scope::parse(&"s".repeat(129)), Err(TOKEN_TOO_LONG));
    }

    #[test]
    fn a_scope_list_is_split_on_single_spaces() {
        let scopes = set("openid profile email");
        assert_eq!(scopes.len(), 3);
        assert!(scopes.contains("openid") && scopes.contains("profile") && scopes.contains("email"));
        assert!(!scopes.contains("offline_access"));
    }

    #[test]
    fn a_scope_list_displays_sorted_and_space_separated() {
        assert_eq!(set("profile openid email").to_string(), "email openid profile");
    }

    #[test]
    fn duplicate_scopes_collapse_into_one() {
        assert_eq!(set("openid openid").len(), 1);
    }

    #[test]
    fn an_empty_scope_string_is_refused() {
        assert_eq!(ScopeSet::parse(""), Err(EMPTY_TOKEN));
    }

    #[test]
    fn doubled_leading_or_trailing_spaces_are_refused() {
        for text in ["openid  profile", " openid", "openid ", " "] {
            assert_eq!(ScopeSet::parse(text), Err(EMPTY_TOKEN), "{text:?}");
        }
    }

    #[test]
    fn tabs_and_newlines_between_scopes_are_refused() {
        assert_eq!(ScopeSet::parse("openid\tprofile"), Err(BAD_TOKEN_CHARS));
        assert_eq!(ScopeSet::parse("openid\nprofile"), Err(BAD_TOKEN_CHARS));
    }

    #[test]
    fn sixty_four_scopes_are_accepted_and_sixty_five_are_refused() {
        let tokens = |n: usize| (0..n).map(|i| format!("s{i}")).collect::<Vec<_>>().join(" ");
        assert_eq!(set(&tokens(64)).len(), 64);
        assert_eq!(ScopeSet::parse(&tokens(65)), Err(TOO_MANY));
    }

    #[test]
    fn sixty_five_duplicate_tokens_are_still_too_many() {
        assert_eq!(ScopeSet::parse(&vec!["a"; 65].join(" ")), Err(TOO_MANY));
    }

    #[test]
    fn a_requested_set_within_the_allowed_set_is_a_subset() {
        assert!(set("openid email").is_subset(&set("openid profile email")));
        assert!(!set("openid admin").is_subset(&set("openid profile email")));
        assert!(ScopeSet::empty().is_subset(&set("openid")));
    }

    #[test]
    fn the_intersection_keeps_only_common_scopes() {
        let granted = set("openid admin email").intersection(&set("openid profile email"));
        assert_eq!(granted.to_string(), "email openid");
    }

    #[test]
    fn an_empty_set_is_empty_and_displays_as_nothing() {
        let empty = ScopeSet::empty();
        assert!(empty.is_empty());
        assert_eq!(empty.len(), 0);
        assert_eq!(empty.to_string(), "");
    }

    #[test]
    fn a_set_collected_from_scopes_iterates_in_sorted_order() {
        let scopes: ScopeSet = ["b", "a", "c"].into_iter().map(|s| Scope::parse(s).unwrap()).collect();
        let names: Vec<&str> = scopes.iter().map(Scope::as_str).collect();
        assert_eq!(names, ["a", "b", "c"]);
    }

    #[test]
    fn a_set_serialises_as_one_string_and_reads_back() {
        let scopes = set("profile openid");
        let json = serde_json::to_string(&scopes).unwrap();
        assert_eq!(json, r#""openid profile""#);
        assert_eq!(serde_json::from_str::<ScopeSet>(&json).unwrap(), scopes);
    }

    #[test]
    fn an_empty_set_serialises_as_an_empty_string_and_reads_back() {
        let json = serde_json::to_string(&ScopeSet::empty()).unwrap();
        assert_eq!(serde_json::from_str::<ScopeSet>(&json).unwrap(), ScopeSet::empty());
    }

    #[test]
    fn deserialising_a_malformed_scope_string_fails() {
        assert!(serde_json::from_str::<ScopeSet>(r#""openid  profile""#).is_err());
        assert!(serde_json::from_str::<Scope>(r#""a\\b""#).is_err());
    }
}
