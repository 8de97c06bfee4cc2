//! What a request presents: the access token in `Authorization` (RFC 6750 §2.1, RFC 9449 §7.1)
//! and nowhere else, the `DPoP` proof, and the browser `Origin`. Read from plain header values,
//! so any HTTP server can hand them over ([`Request`]); the `actix` feature reads an
//! `HttpRequest` into one.

use crate::error::{ProofError, Scheme, TokenError, VerifyError};
use crate::token::AccessTokenClaims;

/// The values of one request header, as far as the checks care: each of these headers may
/// appear at most once, so a second value is never looked at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Header<'a> {
    #[default]
    Absent,
    /// The raw bytes of the one value (HTTP allows bytes that are not text; the checks refuse
    /// them where they matter).
    One(&'a [u8]),
    Several,
}

impl<'a> Header<'a> {
    /// From every value of the header, in the order received.
    pub fn from_values(values: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut values = values.into_iter();
        match (values.next(), values.next()) {
            (None, _) => Self::Absent,
            (Some(one), None) => Self::One(one),
            (Some(_), Some(_)) => Self::Several,
        }
    }

    /// The one value as text, if it is visible ASCII (RFC 9110 §5.5 field-vchar, and tab) as
    /// the credentials and proofs here must be.
    fn text(self) -> Option<Result<&'a str, NotText>> {
        match self {
            Self::Absent | Self::Several => None,
            Self::One(value) if value.iter().all(|&b| b == b'\t' || (0x20..0x7f).contains(&b)) => {
                Some(std::str::from_utf8(value).map_err(|_| NotText))
            }
            Self::One(_) => Some(Err(NotText)),
        }
    }
}

impl<'a> From<Option<&'a str>> for Header<'a> {
    /// For a server that keeps one value per header name (a repeated header is then its
    /// server's business).
    fn from(value: Option<&'a str>) -> Self {
        value.map_or(Self::Absent, |value| Self::One(value.as_bytes()))
    }
}

struct NotText;

/// One request to a protected resource, as the checks read it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The HTTP method, e.g. `GET` (compared exactly with the proof's `htm`).
    pub method: &'a str,
    /// The path as received (percent-encoded, without the query): the proof's `htu` must be
    /// the verifier's public URL followed by this path.
    pub path: &'a str,
    pub authorization: Header<'a>,
    pub dpop: Header<'a>,
    pub origin: Header<'a>,
}

/// The credentials of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Presented<'a> {
    pub scheme: Scheme,
    pub token: &'a str,
}

/// Reads the one `Authorization` header (CORE-20: the query string and the body are never
/// looked at; DPOP-27: nor `Proxy-Authorization`). Scheme names compare case-insensitively
/// (CORE-22); the credentials must be a token68 (RFC 9110 §11.4).
pub fn read_authorization(authorization: Header<'_>) -> Result<Presented<'_>, VerifyError> {
    if authorization == Header::Several {
        return Err(VerifyError::InvalidRequest("more than one Authorization header"));
    }
    let Some(value) = authorization.text() else {
        return Err(VerifyError::MissingToken);
    };
    let value = value.map_err(|NotText| VerifyError::InvalidRequest("Authorization is not visible ASCII"))?;
    parse_credentials(value)
}

fn parse_credentials(value: &str) -> Result<Presented<'_>, VerifyError> {
    let (scheme, credentials) = value.split_once(' ').unwrap_or((value, ""));
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Scheme::Dpop
    } else {
        // Another scheme (Basic, ...): no credentials of ours (RFC 6750 §3.1).
        return Err(VerifyError::MissingToken);
    };
    let token = credentials.trim_start_matches(' ');
    if !is_token68(token) {
        return Err(VerifyError::InvalidRequest("the credentials are not a token68"));
    }
    Ok(Presented { scheme, token })
}

/// RFC 9110 §11.2: `token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_token68(value: &str) -> bool {
    let body = value.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/'))
}

/// The one `DPoP` header (RFC 9449 §4.3 check 1).
pub fn read_proof(dpop: Header<'_>) -> Result<&str, ProofError> {
    if dpop == Header::Several {
        return Err(ProofError::Multiple);
    }
    let Some(value) = dpop.text() else {
        return Err(ProofError::Missing);
    };
    value.map_err(|NotText| ProofError::NotText)
}

/// docs/security.md §3: a token a browser obtained carries `origin`; a request that comes with an
/// `Origin` must come from exactly that one (byte for byte, as browsers serialise origins).
/// Without `Origin` the request is not a cross-origin browser request and passes.
pub fn check_origin(origin: Header<'_>, claims: &AccessTokenClaims) -> Result<(), TokenError> {
    let Some(bound) = &claims.origin else {
        return Ok(());
    };
    match origin {
        Header::Absent => Ok(()),
        Header::One(origin) if origin == bound.as_bytes() => Ok(()),
        _ => Err(TokenError::OriginMismatch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presented(value: &str) -> Result<(Scheme, String), String> {
        parse_credentials(value).map(|p| (p.scheme, p.token.to_owned())).map_err(|e| e.to_string())
    }

    fn values<'a>(values: &[&'a str]) -> Header<'a> {
        Header::from_values(values.iter().map(|v| v.as_bytes()))
    }

    #[test]
    fn core_22_scheme_names_are_case_insensitive() {
        for (value, scheme) in [
            ("Bearer abc.def.ghi", Scheme::Bearer),
            ("bearer abc.def.ghi", Scheme::Bearer),
            ("BEARER abc.def.ghi", Scheme::Bearer),
            ("DPoP abc.def.ghi", Scheme::Dpop),
            ("dpop abc.def.ghi", Scheme::Dpop),
            ("DPOP  abc.def.ghi", Scheme::Dpop),
        ] {
            assert_eq!(presented(value), Ok((scheme, "abc.def.ghi".into())), "{value}");
        }
    }

    #[test]
    fn other_schemes_are_no_credentials_and_malformed_ones_are_invalid_request() {
        for value in ["Basic YTpi", "Token abc", "Bearerabc", "DPoPabc.def"] {
            assert!(matches!(parse_credentials(value), Err(VerifyError::MissingToken)), "{value}");
        }
        for value in ["Bearer", "Bearer ", "DPoP a b", "Bearer a,b", "Bearer =abc", "Bearer a\"b"] {
            assert!(matches!(parse_credentials(value), Err(VerifyError::InvalidRequest(_))), "{value}");
        }
    }

    #[test]
    fn core_21_two_authorization_headers_are_invalid_request() {
        let two = values(&["Bearer a", "Bearer b"]);
        assert!(matches!(read_authorization(two), Err(VerifyError::InvalidRequest(_))));
        assert!(matches!(read_authorization(Header::Absent), Err(VerifyError::MissingToken)), "CORE-20");
    }

    #[test]
    fn header_values_that_are_not_visible_ascii_are_refused() {
        for raw in [&b"Bearer a\xffb"[..], b"Bearer \xc3\xa9", b"Bearer a\x01"] {
            let header = Header::from_values([raw]);
            assert!(matches!(read_authorization(header), Err(VerifyError::InvalidRequest(_))), "{raw:?}");
            assert!(matches!(read_proof(header), Err(ProofError::NotText)), "{raw:?}");
        }
        assert_eq!(read_proof(Header::from(Some("a.b.c"))).unwrap(), "a.b.c");
        assert!(matches!(read_proof(values(&["a.b.c", "a.b.c"])), Err(ProofError::Multiple)));
        assert!(matches!(read_proof(Header::Absent), Err(ProofError::Missing)));
    }

    #[test]
    fn an_origin_bound_token_takes_only_its_own_origin() {
        let claims = |origin: Option<&str>| AccessTokenClaims {
            iss: "i".into(),
            sub: "s".into(),
            aud: "a".into(),
            client_id: "c".into(),
            scope: None,
            iat: 0,
            exp: 0,
            jti: "j".into(),
            cnf: None,
            origin: origin.map(str::to_owned),
            groups: None,
        };
        let bound = claims(Some("https://app.test"));
        assert!(check_origin(values(&[]), &bound).is_ok());
        assert!(check_origin(values(&["https://app.test"]), &bound).is_ok());
        for origins in [&["https://evil.test"][..], &["null"], &["https://app.test:443"], &["https://app.test"; 2]] {
            assert_eq!(check_origin(values(origins), &bound), Err(TokenError::OriginMismatch), "{origins:?}");
        }
        let not_text = Header::from_values([&b"https://app.test\xff"[..]]);
        assert_eq!(check_origin(not_text, &bound), Err(TokenError::OriginMismatch));
        assert!(check_origin(values(&["https://evil.test"]), &claims(None)).is_ok(), "unbound token");
    }
}
