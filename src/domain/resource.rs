//! RFC 8707 resource indicators, also the `aud` of the access tokens we issue (RFC 9068 §3).

use url::Url;

use super::{has_only_uri_chars, impl_string_traits, is_loopback_host, serialises_unchanged_up_to_path, DomainError};

/// A resource server's identifier: an `https` URI, an `http` URI on a loopback host, or a
/// `urn:`, with no query, fragment or userinfo.
///
/// The text is kept exactly as given: audiences are compared byte for byte, by us when a
/// client names a resource and by resource servers when they check `aud`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceIndicator(String);

const EMPTY: DomainError = DomainError::new("resource must not be empty");
const TOO_LONG: DomainError = DomainError::new("resource must be at most 512 characters");
const BAD_CHARS: DomainError = DomainError::new("resource must be a URI without whitespace or control characters");
const FRAGMENT: DomainError = DomainError::new("resource must not contain a fragment");
const QUERY: DomainError = DomainError::new("resource must not contain a query");
const SCHEME: DomainError =
    DomainError::new("resource must be an absolute https URI, an http URI on a loopback host, or a urn");
const INVALID_URI: DomainError = DomainError::new("resource is not a valid absolute URI");
const USERINFO: DomainError = DomainError::new("resource must not contain userinfo");
const NOT_CANONICAL: DomainError =
    DomainError::new("resource must be in normal form: lowercase host, no default port, no dot segments");
const INVALID_URN: DomainError = DomainError::new("resource urn must have the form urn:NID:NSS");

impl ResourceIndicator {
    pub const MAX_LEN: usize = 512;

    pub fn parse(text: &str) -> Result<Self, DomainError> {
        if text.is_empty() {
            return Err(EMPTY);
        }
        if text.len() > Self::MAX_LEN {
            return Err(TOO_LONG);
        }
        if !has_only_uri_chars(text) {
            return Err(BAD_CHARS);
        }
        // RFC 8707 §2: MUST NOT include a fragment. Checked on the raw text because URL
        // parsers drop an empty trailing `#`, which would then slip through.
        if text.contains('#') {
            return Err(FRAGMENT);
        }
        // RFC 8707 §2 says SHOULD NOT; we refuse, so an audience is never compared
        // against a value whose query a resource server may read differently.
        if text.contains('?') {
            return Err(QUERY);
        }
        // The scheme must be lowercase for the same reason the host must be: we compare bytes.
        if text.starts_with("urn:") {
            check_urn(text)?;
        } else if text.starts_with("https://") || text.starts_with("http://") {
            check_http(text)?;
        } else {
            return Err(SCHEME);
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl_string_traits!(ResourceIndicator, "a resource indicator URI");

fn check_http(text: &str) -> Result<(), DomainError> {
    let url = Url::parse(text).map_err(|_| INVALID_URI)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(USERINFO);
    }
    let host = url.host().ok_or(INVALID_URI)?;
    // RFC 9700 §2.6 / RFC 8252 §8.3: clear text only where it cannot leave the machine.
    if url.scheme() == "http" && !is_loopback_host(&host) {
        return Err(SCHEME);
    }
    if !serialises_unchanged_up_to_path(text, &url) {
        return Err(NOT_CANONICAL);
    }
    Ok(())
}

/// RFC 8141 §2: `urn:` NID `:` NSS, where NID is 2 to 32 letters, digits and inner hyphens.
/// The NSS is only required to be non-empty; its characters were checked as URI characters.
fn check_urn(text: &str) -> Result<(), DomainError> {
    let rest = &text["urn:".len()..];
    let (nid, nss) = rest.split_once(':').ok_or(INVALID_URN)?;
    let nid_ok = (2..=32).contains(&nid.len())
        && nid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !nid.starts_with('-')
        && !nid.ends_with('-');
    if !nid_ok || nss.is_empty() {
        return Err(INVALID_URN);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_https_uri_is_kept_exactly_as_given() {
        for text in ["https://api.example", "https://api.example/", "https://api.example:8443/v1/"] {
            assert_eq!(ResourceIndicator::parse(text).unwrap().as_str(), text);
        }
    }

    #[test]
    fn a_urn_is_accepted() {
        let resource = ResourceIndicator::parse("urn:example:resource:payments").unwrap();
        assert_eq!(resource.as_str(), "urn:example:resource:payments");
    }

    #[test]
    fn a_urn_without_namespace_specific_string_is_refused() {
        for text in ["urn:example", "urn:example:", "urn:x:thing", "urn:-ex:thing", "urn::thing"] {
            assert_eq!(ResourceIndicator::parse(text), Err(INVALID_URN), "{text:?}");
        }
    }

    #[test]
    fn http_on_a_loopback_host_is_accepted() {
        for text in ["http://localhost:8080/api", "http://127.0.0.1:9000", "http://[::1]/"] {
            assert!(ResourceIndicator::parse(text).is_ok(), "{text:?}");
        }
    }

    #[test]
    fn http_on_any_other_host_is_refused() {
        assert_eq!(ResourceIndicator::parse("http://api.example/"), Err(SCHEME));
    }

    #[test]
    fn a_resource_with_a_fragment_is_refused() {
        assert_eq!(ResourceIndicator::parse("https://api.example/#x"), Err(FRAGMENT));
    }

    #[test]
    fn a_resource_with_a_bare_trailing_hash_is_refused() {
        assert_eq!(ResourceIndicator::parse("https://api.example/#"), Err(FRAGMENT));
    }

    #[test]
    fn a_resource_with_a_query_is_refused() {
        assert_eq!(ResourceIndicator::parse("https://api.example/?a=b"), Err(QUERY));
        assert_eq!(ResourceIndicator::parse("https://api.example/?"), Err(QUERY));
    }

    #[test]
    fn a_resource_with_userinfo_is_refused() {
        assert_eq!(ResourceIndicator::parse("https://user@api.example/"), Err(USERINFO));
        assert_eq!(ResourceIndicator::parse("https://u:p@api.example/"), Err(USERINFO));
    }

    #[test]
    fn a_resource_with_an_empty_userinfo_is_refused() {
        assert!(ResourceIndicator::parse("https://@api.example/").is_err());
    }

    #[test]
    fn a_relative_or_other_scheme_resource_is_refused() {
        for text in ["/api", "api.example", "ftp://api.example/", "javascript:alert(1)", "HTTPS://api.example/"] {
            assert_eq!(ResourceIndicator::parse(text), Err(SCHEME), "{text:?}");
        }
    }

    #[test]
    fn a_resource_with_whitespace_or_control_characters_is_refused() {
        for text in
            [" https://api.example/", "https://api.example/\n", "https://api\t.example/", "https://api.example/a b"]
        {
            assert_eq!(ResourceIndicator::parse(text), Err(BAD_CHARS), "{text:?}");
        }
    }

    #[test]
    fn a_resource_the_parser_would_rewrite_is_refused() {
        for text in [
            "https://API.example/",
            "https://api.example:443/",
            "https://api.example/a/../b",
            "https://api.example/a/%2e%2e/b",
            "http://127.1/",
            "https:api.example",
            "https:///api.example",
        ] {
            assert!(ResourceIndicator::parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn a_resource_without_a_host_is_refused() {
        assert_eq!(ResourceIndicator::parse("https://"), Err(INVALID_URI));
    }

    #[test]
    fn a_resource_of_512_characters_is_accepted_and_513_is_refused() {
        let base = "https://api.example/";
        let at = |n: usize| format!("{base}{}", "a".repeat(n - base.len()));
        assert!(ResourceIndicator::parse(&at(512)).is_ok());
        assert_eq!(ResourceIndicator::parse(&at(513)), Err(TOO_LONG));
    }

    #[test]
    fn resources_differing_only_by_a_trailing_slash_are_different_audiences() {
        assert_ne!(
            ResourceIndicator::parse("https://api.example").unwrap(),
            ResourceIndicator::parse("https://api.example/").unwrap()
        );
    }

    #[test]
    fn a_resource_serialises_as_its_original_string() {
        let resource = ResourceIndicator::parse("https://api.example").unwrap();
        assert_eq!(serde_json::to_string(&resource).unwrap(), r#""https://api.example""#);
        assert_eq!(serde_json::from_str::<ResourceIndicator>(r#""https://api.example""#).unwrap(), resource);
        assert!(serde_json::from_str::<ResourceIndicator>(r#""https://api.example/#""#).is_err());
    }
}
