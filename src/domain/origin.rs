//! Web origins (RFC 6454 §6.2 serialisation), as registered by clients and as sent by
//! browsers in the `Origin` header (docs/security.md §1).

use url::Url;

use super::{has_only_uri_chars, impl_string_traits, is_loopback_host, DomainError};

/// A web origin in its one canonical form, `scheme://host[:port]`, so that two origins are
/// the same exactly when their strings are equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin(String);

const EMPTY: DomainError = DomainError::new("origin must not be empty");
const TOO_LONG: DomainError = DomainError::new("origin is too long");
const NULL: DomainError = DomainError::new("the opaque origin null is not allowed");
const BAD_CHARS: DomainError = DomainError::new("origin must not contain whitespace, control or non-ASCII characters");
const WILDCARD: DomainError = DomainError::new("origin must not contain a wildcard");
const SCHEME: DomainError = DomainError::new("origin must start with https:// or, for a loopback host, http://");
const PATH: DomainError = DomainError::new("origin must not have a path, not even /");
const QUERY: DomainError = DomainError::new("origin must not have a query");
const FRAGMENT: DomainError = DomainError::new("origin must not have a fragment");
const USERINFO: DomainError = DomainError::new("origin must not contain userinfo");
const UPPERCASE: DomainError = DomainError::new("origin host must be lowercase");
const INVALID: DomainError = DomainError::new("origin is not a valid scheme://host[:port]");
const DEFAULT_PORT: DomainError = DomainError::new("origin must omit the default port");
const NOT_CANONICAL: DomainError = DomainError::new("origin is not in canonical form");

impl Origin {
    /// `https://` + a 253-character host name + `:65535` is 267; a little room on top.
    pub const MAX_LEN: usize = 300;

    /// A registered origin. Values that a browser would serialise differently (uppercase
    /// host, explicit default port, trailing `/`) are refused rather than normalised, so the
    /// stored value is the exact string a browser sends and comparison stays a plain `==`.
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        if text.is_empty() {
            return Err(EMPTY);
        }
        if text.len() > Self::MAX_LEN {
            return Err(TOO_LONG);
        }
        // Sandboxed frames, `data:` documents and some redirects send `Origin: null`; it
        // names no one, so allowing it would allow every such page (WEB-9).
        if text == "null" {
            return Err(NULL);
        }
        if !text.is_ascii() || text.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
            return Err(BAD_CHARS);
        }
        if text.contains('*') {
            return Err(WILDCARD);
        }
        let authority = text.strip_prefix("https://").or_else(|| text.strip_prefix("http://")).ok_or(SCHEME)?;
        if authority.contains('/') {
            return Err(PATH);
        }
        if authority.contains('?') {
            return Err(QUERY);
        }
        if authority.contains('#') {
            return Err(FRAGMENT);
        }
        if authority.contains('@') {
            return Err(USERINFO);
        }
        if authority.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(UPPERCASE);
        }
        if !has_only_uri_chars(text) {
            return Err(INVALID);
        }
        let url = Url::parse(text).map_err(|_| INVALID)?;
        let host = url.host().ok_or(INVALID)?;
        // RFC 9700 §2.6: a page served over http can be altered in transit, so it may only
        // call us from the user's own machine.
        if url.scheme() == "http" && !is_loopback_host(&host) {
            return Err(SCHEME);
        }
        if url.port().is_none() && has_explicit_port(authority) {
            return Err(DEFAULT_PORT);
        }
        // The browser's own serialisation (RFC 6454 §6.2): catches whatever else the parser
        // would rewrite, such as `127.1`, `[0:0::1]` or a percent-encoded host.
        if url.origin().ascii_serialization() != text {
            return Err(NOT_CANONICAL);
        }
        Ok(Self(text.to_owned()))
    }

    /// The value of an incoming `Origin` header, under the same rules as [`Origin::parse`]:
    /// browsers send the canonical serialisation, so anything else (a list, `null`, a path)
    /// did not come from a browser we can trust to have set it.
    pub fn parse_header(value: &str) -> Result<Self, DomainError> {
        Self::parse(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl_string_traits!(Origin, "a web origin scheme://host[:port]");

/// A `:` after the host (after the closing `]` of an IPv6 literal) introduces a port.
fn has_explicit_port(authority: &str) -> bool {
    let after_host = authority.rfind(']').map_or(authority, |end| &authority[end..]);
    after_host.contains(':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_https_origin_is_accepted_as_given() {
        for text in
            ["https://app.example", "https://app.example:8443", "https://192.0.2.7", "https://xn--bcher-kva.example"]
        {
            assert_eq!(Origin::parse(text).unwrap().as_str(), text);
        }
    }

    #[test]
    fn an_http_origin_on_a_loopback_host_is_accepted() {
        for text in ["http://localhost:3000", "http://127.0.0.1:8080", "http://[::1]:5173", "http://localhost"] {
            assert!(Origin::parse(text).is_ok(), "{text:?}");
        }
    }

    #[test]
    fn an_http_origin_on_any_other_host_is_refused() {
        assert_eq!(Origin::parse("http://app.example"), Err(SCHEME));
        assert_eq!(Origin::parse("http://localhost.evil.example"), Err(SCHEME));
    }

    #[test]
    fn an_origin_with_a_path_is_refused() {
        assert_eq!(Origin::parse("https://app.example/"), Err(PATH));
        assert_eq!(Origin::parse("https://app.example/cb"), Err(PATH));
    }

    #[test]
    fn an_origin_with_a_query_or_fragment_is_refused() {
        assert_eq!(Origin::parse("https://app.example?x"), Err(QUERY));
        assert_eq!(Origin::parse("https://app.example#x"), Err(FRAGMENT));
        assert_eq!(Origin::parse("https://app.example#"), Err(FRAGMENT));
    }

    #[test]
    fn an_origin_with_userinfo_is_refused() {
        assert_eq!(Origin::parse("https://user@app.example"), Err(USERINFO));
        assert_eq!(Origin::parse("https://app.example@evil.example"), Err(USERINFO));
    }

    #[test]
    fn a_wildcard_origin_is_refused() {
        assert_eq!(Origin::parse("*"), Err(WILDCARD));
        assert_eq!(Origin::parse("https://*.app.example"), Err(WILDCARD));
    }

    #[test]
    fn the_null_origin_is_refused() {
        assert_eq!(Origin::parse("null"), Err(NULL));
        assert_eq!(Origin::parse_header("null"), Err(NULL));
    }

    #[test]
    fn an_origin_with_an_uppercase_host_is_refused() {
        assert_eq!(Origin::parse("https://App.example"), Err(UPPERCASE));
    }

    #[test]
    fn an_origin_with_an_uppercase_scheme_is_refused() {
        assert_eq!(Origin::parse("HTTPS://app.example"), Err(SCHEME));
    }

    #[test]
    fn an_origin_with_the_default_port_is_refused() {
        assert_eq!(Origin::parse("https://app.example:443"), Err(DEFAULT_PORT));
        assert_eq!(Origin::parse("http://localhost:80"), Err(DEFAULT_PORT));
        assert_eq!(Origin::parse("http://[::1]:80"), Err(DEFAULT_PORT));
    }

    #[test]
    fn an_origin_with_an_empty_port_is_refused() {
        assert!(Origin::parse("https://app.example:").is_err());
    }

    #[test]
    fn an_origin_the_browser_would_serialise_differently_is_refused() {
        for text in ["http://127.1", "http://[0:0::1]", "https://app%2eexample", "https://app.example:08443"] {
            assert!(Origin::parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn an_origin_of_another_scheme_is_refused() {
        for text in ["ftp://app.example", "file://", "app.example", "//app.example", "chrome-extension://abc"] {
            assert_eq!(Origin::parse(text), Err(SCHEME), "{text:?}");
        }
    }

    #[test]
    fn an_origin_header_with_whitespace_or_a_list_is_refused() {
        assert_eq!(Origin::parse_header(" https://app.example"), Err(BAD_CHARS));
        assert_eq!(Origin::parse_header("https://a.example https://b.example"), Err(BAD_CHARS));
        assert_eq!(Origin::parse_header("https://app.example\r\n"), Err(BAD_CHARS));
    }

    #[test]
    fn an_origin_with_a_host_of_no_characters_is_refused() {
        assert!(Origin::parse("https://").is_err());
        assert!(Origin::parse("https://:8443").is_err());
    }

    #[test]
    fn origins_are_equal_only_when_their_strings_are() {
        let a = Origin::parse("https://app.example").unwrap();
        assert_eq!(a, Origin::parse_header("https://app.example").unwrap());
        assert_ne!(a, Origin::parse("https://app.example:8443").unwrap());
        assert_ne!(a, Origin::parse("https://app.example.evil.example").unwrap());
    }

    #[test]
    fn an_origin_serialises_as_its_string() {
        let origin = Origin::parse("https://app.example").unwrap();
        assert_eq!(serde_json::to_string(&origin).unwrap(), r#""https://app.example""#);
        assert_eq!(serde_json::from_str::<Origin>(r#""https://app.example""#).unwrap(), origin);
        assert!(serde_json::from_str::<Origin>(r#""https://app.example/""#).is_err());
    }
}
