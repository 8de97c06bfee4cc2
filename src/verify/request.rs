//! What a request presents: the access token in `Authorization` (RFC 6750 §2.1, RFC 9449 §7.1)
//! and nowhere else, the `DPoP` proof, and the browser `Origin`.

use actix_web::http::header;
use actix_web::HttpRequest;

use super::error::{ProofError, Scheme, TokenError, VerifyError};
use crate::oauth::access_token::AccessTokenClaims;

/// The credentials of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Presented<'a> {
    pub scheme: Scheme,
    pub token: &'a str,
}

/// Reads the one `Authorization` header (CORE-20: the query string and the body are never
/// looked at; DPOP-27: nor `Proxy-Authorization`). Scheme names compare case-insensitively
/// (CORE-22); the credentials must be a token68 (RFC 9110 §11.4).
pub fn read_authorization(req: &HttpRequest) -> Result<Presented<'_>, VerifyError> {
    let mut values = req.headers().get_all(header::AUTHORIZATION);
    let Some(value) = values.next() else {
        return Err(VerifyError::MissingToken);
    };
    if values.next().is_some() {
        return Err(VerifyError::InvalidRequest("more than one Authorization header"));
    }
    let value = value.to_str().map_err(|_| VerifyError::InvalidRequest("Authorization is not visible ASCII"))?;
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
pub fn read_proof(req: &HttpRequest) -> Result<&str, ProofError> {
    let mut values = req.headers().get_all("dpop");
    let Some(value) = values.next() else {
        return Err(ProofError::Missing);
    };
    if values.next().is_some() {
        return Err(ProofError::Multiple);
    }
    value.to_str().map_err(|_| ProofError::NotText)
}

/// SECURITY.md §3: a token a browser obtained carries `origin`; a request that comes with an
/// `Origin` must come from exactly that one (byte for byte, as browsers serialise origins).
/// Without `Origin` the request is not a cross-origin browser request and passes.
pub fn check_origin(req: &HttpRequest, claims: &AccessTokenClaims) -> Result<(), TokenError> {
    let Some(bound) = &claims.origin else {
        return Ok(());
    };
    let mut values = req.headers().get_all(header::ORIGIN);
    match (values.next(), values.next()) {
        (None, _) => Ok(()),
        (Some(origin), None) if origin.as_bytes() == bound.as_bytes() => Ok(()),
        _ => Err(TokenError::OriginMismatch),
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn presented(value: &str) -> Result<(Scheme, String), String> {
        parse_credentials(value).map(|p| (p.scheme, p.token.to_owned())).map_err(|e| e.to_string())
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
        let req = TestRequest::default()
            .append_header((header::AUTHORIZATION, "Bearer a"))
            .append_header((header::AUTHORIZATION, "Bearer b"))
            .to_http_request();
        assert!(matches!(read_authorization(&req), Err(VerifyError::InvalidRequest(_))));
        let none = TestRequest::with_uri("/r?access_token=abc").to_http_request();
        assert!(matches!(read_authorization(&none), Err(VerifyError::MissingToken)), "CORE-20");
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
        };
        let with_origin = |origins: &[&str]| {
            let mut req = TestRequest::default();
            for origin in origins {
                req = req.append_header((header::ORIGIN, *origin));
            }
            req.to_http_request()
        };
        let bound = claims(Some("https://app.test"));
        assert!(check_origin(&with_origin(&[]), &bound).is_ok());
        assert!(check_origin(&with_origin(&["https://app.test"]), &bound).is_ok());
        for origins in [&["https://evil.test"][..], &["null"], &["https://app.test:443"], &["https://app.test"; 2]] {
            assert_eq!(check_origin(&with_origin(origins), &bound), Err(TokenError::OriginMismatch), "{origins:?}");
        }
        assert!(check_origin(&with_origin(&["https://evil.test"]), &claims(None)).is_ok(), "unbound token");
    }
}
