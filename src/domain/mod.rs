//! Domain types that cannot hold an invalid value ("parse, don't validate").
//!
//! Each type has one constructor from untrusted text (`parse`, also reachable through
//! `FromStr`, `TryFrom<&str>` and serde's `Deserialize`), so a value that exists has passed
//! its rules. Handlers convert raw request fields into these types at the edge and the rest
//! of the code never re-checks them.
//!
//! Parse errors are [`DomainError`]s: a short, generic description that is safe to send as an
//! OAuth `error_description` and never contains the input (docs/security.md §5, §7).

mod auth_method;
mod authorization_request;
mod client_id;
mod client_type;
mod grant_type;
mod origin;
mod pkce;
mod redirect_uri;
mod resource;
mod scope;

pub use auth_method::TokenEndpointAuthMethod;
pub use authorization_request::{AuthorizationRequest, Prompt, ResponseMode};
pub use client_id::ClientId;
pub use client_type::ClientType;
pub use grant_type::GrantType;
pub use origin::Origin;
pub use pkce::{CodeChallenge, CodeVerifier};
pub use redirect_uri::{RedirectUri, RedirectUriKind};
pub use resource::ResourceIndicator;
pub use scope::{Scope, ScopeSet};

use url::{Host, Url};

/// Why a value was refused, in words fit for a client to read.
///
/// The description is fixed text chosen by us, never derived from the input, so echoing it
/// cannot reflect attacker-controlled bytes into a response or a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("{description}")]
pub struct DomainError {
    description: &'static str,
}

impl DomainError {
    /// Every error is declared as a `const`, so this check runs at compile time: a description
    /// outside the RFC 6749 §5.2 `error_description` alphabet does not build.
    const fn new(description: &'static str) -> Self {
        assert!(
            is_error_description_safe(description),
            "a DomainError description must be non-empty and use only %x20-21 / %x23-5B / %x5D-7E"
        );
        Self { description }
    }

    /// The public text, fit for `error_description` (RFC 6749 §5.2).
    pub fn description(&self) -> &'static str {
        self.description
    }
}

/// RFC 6749 §5.2: `error_description` = 1*( %x20-21 / %x23-5B / %x5D-7E ).
const fn is_error_description_safe(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E) {
            return false;
        }
        i += 1;
    }
    true
}

/// RFC 3986 §2.3 unreserved characters.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Characters RFC 3986 §2 allows anywhere in a URI: unreserved, reserved (gen-delims and
/// sub-delims) and `%`. Everything else (space, controls, `"`, `<`, `>`, `\`, `^`, `` ` ``,
/// `{`, `|`, `}`, non-ASCII) is refused rather than left for a URL parser to "fix": WHATWG
/// parsers silently drop tabs and newlines and turn `\` into `/`, so the string we compare
/// byte for byte would no longer be the URI a browser follows.
fn is_uri_char(b: u8) -> bool {
    is_unreserved(b)
        || matches!(
            b,
            b':' | b'/'
                | b'?'
                | b'#'
                | b'['
                | b']'
                | b'@'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b'%'
        )
}

/// True when every byte is a URI character and every `%` starts a pct-encoded octet
/// (RFC 3986 §2.1).
fn has_only_uri_chars(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.iter().enumerate().all(|(i, &b)| {
        is_uri_char(b)
            && (b != b'%'
                || (bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                    && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit)))
    })
}

/// RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
fn is_scheme_syntax(scheme: &str) -> bool {
    let mut bytes = scheme.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// Loopback as RFC 8252 §8.3 and RFC 9700 §2.6 mean it: the name `localhost`, 127.0.0.0/8 and
/// `::1`. Only exact `localhost` counts: `*.localhost` resolution is up to the resolver.
fn is_loopback_host(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(name) => *name == "localhost",
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// True when the `url` crate serialises `raw` back to the same bytes up to the end of the
/// path, the only allowed difference being the `/` it adds for an empty path.
///
/// The parser normalises (lowercases the host, drops a default port, resolves `.`/`..` and
/// `%2e` segments, rewrites `127.1` as `127.0.0.1`, decodes percent-encoded hosts). Stored
/// values are compared byte for byte (RFC 9700 §2.1, RFC 8707 §2), so we refuse anything the
/// parser would rewrite: what we store is then exactly what every consumer will see. The
/// query is left out because the parser percent-encodes `'` in it, which is valid as is.
fn serialises_unchanged_up_to_path(raw: &str, url: &Url) -> bool {
    let raw_head = raw.split_once('?').map_or(raw, |(head, _)| head);
    let url_head = &url[..url::Position::AfterPath];
    url_head == raw_head || (url.path() == "/" && url_head.strip_suffix('/') == Some(raw_head))
}

/// `Display`, `FromStr`, `TryFrom<&str>`, `AsRef<str>`, `Serialize` (as the string) and
/// `Deserialize` (through `parse`) for a type with `parse(&str)` and `as_str()`.
macro_rules! impl_string_traits {
    ($ty:ident, $expecting:literal) => {
        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::domain::DomainError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::parse(text)
            }
        }

        impl TryFrom<&str> for $ty {
            type Error = $crate::domain::DomainError;

            fn try_from(text: &str) -> Result<Self, Self::Error> {
                Self::parse(text)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct ParseVisitor;

                impl ::serde::de::Visitor<'_> for ParseVisitor {
                    type Value = $ty;

                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        f.write_str($expecting)
                    }

                    fn visit_str<E: ::serde::de::Error>(self, text: &str) -> Result<$ty, E> {
                        $ty::parse(text).map_err(E::custom)
                    }
                }

                deserializer.deserialize_str(ParseVisitor)
            }
        }
    };
}
use impl_string_traits;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_description_with_a_quote_or_backslash_is_not_safe() {
        assert!(!is_error_description_safe("bad \"value\""));
        assert!(!is_error_description_safe("bad \\ value"));
        assert!(!is_error_description_safe("tab\there"));
        assert!(!is_error_description_safe(""));
        assert!(is_error_description_safe("redirect_uri must not contain a fragment"));
    }

    #[test]
    fn a_percent_must_start_a_complete_pct_encoded_octet() {
        assert!(has_only_uri_chars("/a%2Fb"));
        assert!(!has_only_uri_chars("/a%2"));
        assert!(!has_only_uri_chars("/a%zz"));
        assert!(!has_only_uri_chars("/a%"));
    }

    #[test]
    fn characters_outside_rfc_3986_are_not_uri_characters() {
        for text in ["a b", "a\tb", "a\\b", "a\"b", "a<b", "a{b", "a|b", "a^b", "a`b", "é"] {
            assert!(!has_only_uri_chars(text), "{text:?} was accepted");
        }
    }

    #[test]
    fn only_exact_localhost_and_loopback_addresses_are_loopback_hosts() {
        let loopback = |s: &str| is_loopback_host(&Url::parse(s).unwrap().host().unwrap());
        assert!(loopback("http://localhost/"));
        assert!(loopback("http://127.0.0.1/"));
        assert!(loopback("http://127.8.9.10/"));
        assert!(loopback("http://[::1]/"));
        assert!(!loopback("http://localhost.example/"));
        assert!(!loopback("http://app.localhost/"));
        assert!(!loopback("http://128.0.0.1/"));
        assert!(!loopback("http://[::2]/"));
    }
}
