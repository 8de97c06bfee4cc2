//! What a resource server answers when it refuses a request: RFC 6750 §3 (`invalid_request`
//! 400, `invalid_token` 401, `insufficient_scope` 403) and RFC 9449 §7.1 (`invalid_dpop_proof`
//! 401, a `DPoP` challenge with `algs`), with a JSON body. The public description is generic;
//! the detail (`Display`) is for the log only. [`VerifyError::refusal`] is the answer as plain
//! HTTP parts, for any server; the `actix` feature renders it as an `HttpResponse`.

use crate::dpop::{DpopError, SUPPORTED_ALGS};

/// The authorization scheme a token came with (RFC 6750 §2.1, RFC 9449 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Bearer,
    Dpop,
}

impl Scheme {
    /// The scheme name as registered (RFC 9110 §11.1 compares it case-insensitively).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bearer => "Bearer",
            Self::Dpop => "DPoP",
        }
    }
}

/// Why an access token was refused; every one is `invalid_token` to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a compact JWS of at most 8 KiB")]
    Malformed,
    #[error("the token typ is not at+jwt (RFC 9068 §4)")]
    WrongType,
    #[error("the token alg is not ES256")]
    UnsupportedAlg,
    #[error("the token header has crit or names its own key (jwk, jku, x5u, x5c)")]
    ForbiddenHeader,
    #[error("no published ES256 key has the token's kid")]
    UnknownKey,
    #[error("the token signature does not verify")]
    BadSignature,
    #[error("the token claims are malformed or a required one is missing")]
    MalformedClaims,
    #[error("the token comes from another issuer")]
    WrongIssuer,
    #[error("the token is for another audience")]
    WrongAudience,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    #[error("the token was issued in the future (iat)")]
    IssuedInFuture,
    #[error("the token jti is empty or too long")]
    InvalidJti,
    #[error("the token cnf holds a confirmation method other than jkt")]
    UnsupportedConfirmation,
    #[error("the token has been revoked")]
    Revoked,
    #[error("a DPoP-bound token was presented as Bearer (RFC 9449 §7.2)")]
    BoundTokenAsBearer,
    #[error("Bearer tokens are not accepted here")]
    BearerNotAccepted,
    #[error("a token presented with the DPoP scheme is not DPoP-bound")]
    NotBound,
    #[error("the DPoP proof key is not the key the token is bound to (cnf.jkt)")]
    KeyMismatch,
    #[error("the request Origin is not the origin the token was issued to")]
    OriginMismatch,
}

/// Why the `DPoP` proof that came with a DPoP-bound token was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    #[error("no DPoP header came with a DPoP-bound token")]
    Missing,
    #[error("more than one DPoP header")]
    Multiple,
    #[error("the DPoP header is not visible ASCII")]
    NotText,
    #[error(transparent)]
    Invalid(#[from] DpopError),
    #[error("the DPoP proof was already used")]
    Replayed,
}

/// Why a request to a protected resource is refused.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// No credentials in a scheme we take (RFC 6750 §3.1: a challenge without an error code).
    #[error("no access token in the Authorization header")]
    MissingToken,
    /// 400 `invalid_request`, e.g. two `Authorization` headers.
    #[error("malformed request: {0}")]
    InvalidRequest(&'static str),
    /// 401 `invalid_token`.
    #[error("access token refused: {0}")]
    InvalidToken(#[from] TokenError),
    /// 401 `invalid_dpop_proof`.
    #[error("DPoP proof refused: {0}")]
    InvalidDpopProof(#[from] ProofError),
    /// 403 `insufficient_scope`, from [`VerifiedAccess::require_scope`](crate::VerifiedAccess::require_scope).
    #[error("the token lacks the scope {scope}")]
    InsufficientScope { scheme: Scheme, scope: String },
    /// 503: the keys or the revocation list could not be read. Fails closed: never "valid".
    #[error("the token cannot be verified now: {0}")]
    Unavailable(String),
}

impl VerifyError {
    pub fn insufficient_scope(scheme: Scheme, scope: impl Into<String>) -> Self {
        Self::InsufficientScope { scheme, scope: scope.into() }
    }

    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        match self {
            Self::MissingToken | Self::InvalidToken(_) | Self::InvalidDpopProof(_) => 401,
            Self::InvalidRequest(_) => 400,
            Self::InsufficientScope { .. } => 403,
            Self::Unavailable(_) => 503,
        }
    }

    /// The RFC 6750 / RFC 9449 error code; none when no credentials were presented.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            Self::MissingToken => None,
            Self::InvalidRequest(_) => Some("invalid_request"),
            Self::InvalidToken(_) => Some("invalid_token"),
            Self::InvalidDpopProof(_) => Some("invalid_dpop_proof"),
            Self::InsufficientScope { .. } => Some("insufficient_scope"),
            Self::Unavailable(_) => Some("temporarily_unavailable"),
        }
    }

    /// Generic public text: it never tells which check failed, nor echoes the request.
    pub fn description(&self) -> &'static str {
        match self {
            Self::MissingToken => "an access token is required",
            Self::InvalidRequest(_) => "the request is malformed",
            Self::InvalidToken(_) => "the access token is not valid here",
            Self::InvalidDpopProof(_) => "the DPoP proof is not valid",
            Self::InsufficientScope { .. } => "the access token does not grant the required scope",
            Self::Unavailable(_) => "the access token cannot be verified now",
        }
    }

    /// The answer, with the challenges of [`Challenge`] on 400 and 401. `insufficient_scope`
    /// challenges with the scheme the token came with; a 503 carries `Retry-After`.
    pub fn refusal(&self, challenge: Challenge) -> Refusal {
        let mut headers =
            vec![("cache-control", "no-store".to_owned()), ("content-type", "application/json".to_owned())];
        headers.extend(self.www_authenticate(challenge).into_iter().map(|value| ("www-authenticate", value)));
        if matches!(self, Self::Unavailable(_)) {
            headers.push(("retry-after", "1".to_owned()));
        }
        let body = match self.code() {
            Some(code) => serde_json::json!({ "error": code, "error_description": self.description() }),
            None => serde_json::json!({ "error_description": self.description() }),
        };
        Refusal { status: self.status(), headers, body: body.to_string() }
    }

    /// `WWW-Authenticate` values, one challenge each (RFC 9110 §11.6.1), `DPoP` first. Visible
    /// ASCII only: descriptions are fixed text and a scope with other characters is left out.
    pub fn www_authenticate(&self, challenge: Challenge) -> Vec<String> {
        let description = self.description();
        let algs = format!("algs=\"{}\"", SUPPORTED_ALGS.join(" "));
        let with_error = |code: &str| format!("error=\"{code}\", error_description=\"{description}\"");
        match self {
            Self::Unavailable(_) => Vec::new(),
            Self::InsufficientScope { scheme, scope } => {
                let mut params = with_error("insufficient_scope");
                // RFC 6750 §3: scope-token characters only; a handler's odd value is left out.
                if !scope.is_empty() && scope.bytes().all(is_scope_byte) {
                    params.push_str(&format!(", scope=\"{scope}\""));
                }
                if *scheme == Scheme::Dpop {
                    params.push_str(&format!(", {algs}"));
                }
                vec![format!("{} {params}", scheme.as_str())]
            }
            Self::MissingToken => {
                let mut values = vec![format!("DPoP {algs}")];
                if challenge.bearer {
                    values.push("Bearer".to_owned());
                }
                values
            }
            Self::InvalidDpopProof(_) => {
                let mut values = vec![format!("DPoP {}, {algs}", with_error("invalid_dpop_proof"))];
                if challenge.bearer {
                    values.push("Bearer".to_owned());
                }
                values
            }
            Self::InvalidRequest(_) | Self::InvalidToken(_) => {
                let code = self.code().unwrap_or("invalid_token");
                let mut values = vec![format!("DPoP {}, {algs}", with_error(code))];
                if challenge.bearer {
                    values.push(format!("Bearer {}", with_error(code)));
                }
                values
            }
        }
    }
}

/// RFC 6750 §3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`, and spaces between tokens.
fn is_scope_byte(b: u8) -> bool {
    matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E)
}

/// Which schemes a resource server names in its challenges: always `DPoP` (RFC 9449 §7.1),
/// `Bearer` too when it accepts unbound tokens (§7.2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Challenge {
    pub bearer: bool,
}

/// A refusal as HTTP: status, headers (names in lower case; `www-authenticate` may repeat,
/// one challenge each) and a JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Refusal {
    /// Every value of header `name`, in order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_values(refusal: &Refusal) -> Vec<String> {
        refusal.header_values("www-authenticate").map(str::to_owned).collect()
    }

    #[test]
    fn invalid_token_challenges_with_dpop_and_algs_and_with_bearer_when_accepted() {
        let error = VerifyError::InvalidToken(TokenError::Expired);
        let response = error.refusal(Challenge { bearer: true });
        assert_eq!(response.status, 401);
        assert_eq!(
            header_values(&response),
            [
                "DPoP error=\"invalid_token\", error_description=\"the access token is not valid here\", \
                 algs=\"ES256 ES384 PS256 RS256 EdDSA\"",
                "Bearer error=\"invalid_token\", error_description=\"the access token is not valid here\"",
            ]
        );
        let dpop_only = error.refusal(Challenge { bearer: false });
        assert_eq!(header_values(&dpop_only).len(), 1);
    }

    #[test]
    fn missing_token_challenge_has_no_error_code() {
        let response = VerifyError::MissingToken.refusal(Challenge { bearer: true });
        assert_eq!(header_values(&response), ["DPoP algs=\"ES256 ES384 PS256 RS256 EdDSA\"", "Bearer"]);
    }

    #[test]
    fn insufficient_scope_names_the_scope_and_the_scheme_used() {
        let response = VerifyError::insufficient_scope(Scheme::Bearer, "write").refusal(Challenge::default());
        assert_eq!(response.status, 403);
        let values = header_values(&response);
        assert_eq!(values.len(), 1);
        assert!(values[0].starts_with("Bearer error=\"insufficient_scope\""), "{values:?}");
        assert!(values[0].ends_with("scope=\"write\""), "{values:?}");
        let odd = VerifyError::insufficient_scope(Scheme::Dpop, "a\"b").refusal(Challenge::default());
        assert!(!header_values(&odd)[0].contains("scope=\"a"), "an unsafe scope is left out");
    }

    #[test]
    fn unavailable_is_503_without_a_challenge() {
        let response = VerifyError::Unavailable("redis down".into()).refusal(Challenge { bearer: true });
        assert_eq!(response.status, 503);
        assert!(header_values(&response).is_empty());
        assert_eq!(response.header_values("Retry-After").collect::<Vec<_>>(), ["1"]);
        assert!(response.body.contains("temporarily_unavailable") && !response.body.contains("redis"));
    }
}
