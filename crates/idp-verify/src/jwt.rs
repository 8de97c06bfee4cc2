//! RFC 9068 access-token checks (JWT-5) as pure steps: the compact JWS and its JOSE header
//! (read as `unverified_*`), the signature with a key the caller looked up by `kid`, then the
//! claims. Keys come from the provider's JWKS only, never from the token.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::TokenError;
use crate::jwk::Jkt;
use crate::jws::{CompactJws, Es256PublicKey};
use crate::token::{AccessTokenClaims, Confirmation};

/// Tokens of this provider are well under 1 KiB; a longer value is refused unread.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The longest `jti` taken to the revocation list.
pub const MAX_JTI_LEN: usize = 256;

/// The only signature algorithm of this provider's access tokens.
pub const TOKEN_ALG: &str = "ES256";

/// A token whose shape and header passed; nothing in it is trusted yet.
#[derive(Debug)]
pub struct UnverifiedToken<'a> {
    /// The `kid` to look the key up by.
    pub kid: String,
    jws: CompactJws<'a>,
    signature: Vec<u8>,
}

/// What the claims must say.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
    /// Seconds of clock skew tolerated on `exp`, `nbf` and `iat`.
    pub leeway: i64,
}

/// Shape and header: one compact JWS (three base64url parts), `typ` `at+jwt`, `alg` ES256,
/// a `kid`, no `crit` and no key or key reference of its own.
pub fn parse(token: &str) -> Result<UnverifiedToken<'_>, TokenError> {
    let jws = CompactJws::split(token, MAX_TOKEN_LEN).ok_or(TokenError::Malformed)?;
    let unverified_header: Map<String, Value> = jws.header_json().ok_or(TokenError::Malformed)?;
    check_typ(&unverified_header)?;
    reject_embedded_keys(&unverified_header)?;
    check_alg(&unverified_header)?;
    let kid = match unverified_header.get("kid") {
        Some(Value::String(kid)) if !kid.is_empty() => kid.clone(),
        _ => return Err(TokenError::UnknownKey),
    };
    let signature = jws.signature_bytes().ok_or(TokenError::Malformed)?;
    Ok(UnverifiedToken { kid, jws, signature })
}

/// RFC 9068 §4 (JWT-5): `typ` is `at+jwt` or `application/at+jwt`, so an ID token or any other
/// JWT signed by the same keys is never taken for an access token. Media types compare
/// case-insensitively (RFC 7515 §4.1.9).
fn check_typ(unverified_header: &Map<String, Value>) -> Result<(), TokenError> {
    match unverified_header.get("typ") {
        Some(Value::String(typ))
            if typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt") =>
        {
            Ok(())
        }
        _ => Err(TokenError::WrongType),
    }
}

/// The key comes from the provider's JWKS only: a token naming its own key (`jwk`, `jku`,
/// `x5u`, `x5c`) is refused rather than ignored, and so is `crit` (RFC 7515 §4.1.11: we
/// understand no extension, and `b64` would change what the signature covers).
fn reject_embedded_keys(unverified_header: &Map<String, Value>) -> Result<(), TokenError> {
    if ["crit", "jwk", "jku", "x5u", "x5c"].iter().any(|name| unverified_header.contains_key(*name)) {
        return Err(TokenError::ForbiddenHeader);
    }
    Ok(())
}

/// Exactly ES256: never `none`, never a MAC (whose "key" would be public), never an
/// algorithm the provider does not sign access tokens with.
fn check_alg(unverified_header: &Map<String, Value>) -> Result<(), TokenError> {
    match unverified_header.get("alg") {
        Some(Value::String(alg)) if alg == TOKEN_ALG => Ok(()),
        _ => Err(TokenError::UnsupportedAlg),
    }
}

impl UnverifiedToken<'_> {
    /// Checks the signature with each candidate key (several when the JWKS repeats a `kid`,
    /// FAPI-28) and returns the verified claims object.
    pub fn verify_signature<'k>(
        &self,
        candidates: impl IntoIterator<Item = &'k Es256PublicKey>,
    ) -> Result<Map<String, Value>, TokenError> {
        let mut candidates = candidates.into_iter().peekable();
        if candidates.peek().is_none() {
            return Err(TokenError::UnknownKey);
        }
        if !candidates.any(|key| key.verify(self.jws.signing_input.as_bytes(), &self.signature)) {
            return Err(TokenError::BadSignature);
        }
        self.jws.payload_json().ok_or(TokenError::MalformedClaims)
    }
}

/// The claims RFC 9068 §2.2 requires, and those this provider adds. A duplicate member, a
/// wrong type or a missing required claim fails deserialisation.
#[derive(Deserialize)]
struct VerifiedClaims {
    iss: String,
    sub: String,
    aud: Audience,
    client_id: String,
    #[serde(default)]
    scope: Option<String>,
    iat: i64,
    exp: i64,
    #[serde(default)]
    nbf: Option<i64>,
    jti: String,
    #[serde(default)]
    cnf: Option<Map<String, Value>>,
    #[serde(default)]
    origin: Option<String>,
    #[serde(default)]
    groups: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, audience: &str) -> bool {
        match self {
            Self::One(one) => one == audience,
            Self::Many(many) => many.iter().any(|a| a == audience),
        }
    }
}

/// RFC 9068 §4 (JWT-5): `iss` exactly, `aud` names this resource server, `exp` and `nbf`
/// with leeway, `iat` not ahead of us, a `jti`; `cnf` may only hold `jkt` (a binding we cannot
/// check is refused, never ignored). The returned claims name this audience as `aud`.
pub fn check_claims(
    claims: Map<String, Value>,
    expected: &Expected<'_>,
    now: i64,
) -> Result<AccessTokenClaims, TokenError> {
    let claims: VerifiedClaims =
        serde_json::from_value(Value::Object(claims)).map_err(|_| TokenError::MalformedClaims)?;
    if claims.iss != expected.issuer {
        return Err(TokenError::WrongIssuer);
    }
    if !claims.aud.contains(expected.audience) {
        return Err(TokenError::WrongAudience);
    }
    if now >= claims.exp.saturating_add(expected.leeway) {
        return Err(TokenError::Expired);
    }
    if claims.nbf.is_some_and(|nbf| nbf > now.saturating_add(expected.leeway)) {
        return Err(TokenError::NotYetValid);
    }
    if claims.iat > now.saturating_add(expected.leeway) {
        return Err(TokenError::IssuedInFuture);
    }
    if claims.jti.is_empty() || claims.jti.len() > MAX_JTI_LEN {
        return Err(TokenError::InvalidJti);
    }
    let cnf = claims.cnf.map(confirmation).transpose()?;
    Ok(AccessTokenClaims {
        iss: claims.iss,
        sub: claims.sub,
        aud: expected.audience.to_owned(),
        client_id: claims.client_id,
        scope: claims.scope,
        iat: claims.iat,
        exp: claims.exp,
        jti: claims.jti,
        cnf,
        origin: claims.origin,
        groups: claims.groups,
    })
}

/// RFC 7800 §3.1 / RFC 9449 §6.1: `{"jkt": "<thumbprint>"}` and nothing else we would have to
/// enforce (an mTLS `x5t#S256` binding cannot be checked here, so it is not a pass).
fn confirmation(cnf: Map<String, Value>) -> Result<Confirmation, TokenError> {
    if cnf.len() != 1 {
        return Err(TokenError::UnsupportedConfirmation);
    }
    match cnf.get("jkt") {
        Some(Value::String(jkt)) => {
            Jkt::parse(jkt).map(|jkt| Confirmation { jkt }).map_err(|_| TokenError::UnsupportedConfirmation)
        }
        _ => Err(TokenError::UnsupportedConfirmation),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::encoding::b64url;
    use crate::jws::TestEs256Key;

    const NOW: i64 = 1_700_000_000;
    const ISSUER: &str = "https://idp.example";
    const AUDIENCE: &str = "https://api.example";

    fn expected() -> Expected<'static> {
        Expected { issuer: ISSUER, audience: AUDIENCE, leeway: 5 }
    }

    fn jws(header: Value, claims: Value) -> String {
        format!("{}.{}.c2ln", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()))
    }

    fn header() -> Value {
        json!({ "alg": "ES256", "typ": "at+jwt", "kid": "k1" })
    }

    fn claims() -> Map<String, Value> {
        json!({
            "iss": ISSUER, "sub": "client-1", "aud": AUDIENCE, "client_id": "client-1",
            "scope": "read", "iat": NOW - 10, "exp": NOW + 600, "jti": "j1",
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn with(name: &str, value: Value) -> Map<String, Value> {
        let mut claims = claims();
        if value.is_null() {
            claims.remove(name);
        } else {
            claims.insert(name.into(), value);
        }
        claims
    }

    #[test]
    fn jwt_5_typ_must_be_at_jwt() {
        for typ in ["at+jwt", "application/at+jwt", "AT+JWT", "Application/At+Jwt"] {
            let mut h = header();
            h["typ"] = json!(typ);
            assert!(parse(&jws(h, json!({}))).is_ok(), "{typ}");
        }
        for typ in [json!("JWT"), json!("jwt"), json!("dpop+jwt"), json!("at+jwt "), json!(["at+jwt"]), json!(null)] {
            let mut h = header();
            h["typ"] = typ.clone();
            assert_eq!(parse(&jws(h, json!({}))).unwrap_err(), TokenError::WrongType, "{typ}");
        }
    }

    #[test]
    fn jwt_5_alg_must_be_es256() {
        for alg in ["none", "None", "HS256", "RS256", "ES384", "es256", ""] {
            let mut h = header();
            h["alg"] = json!(alg);
            assert_eq!(parse(&jws(h, json!({}))).unwrap_err(), TokenError::UnsupportedAlg, "{alg}");
        }
        let unsigned = format!("{}.{}.", b64url(json!({"alg": "none", "typ": "at+jwt"}).to_string().as_bytes()), "e30");
        assert_eq!(parse(&unsigned).unwrap_err(), TokenError::Malformed, "alg none without a signature");
    }

    #[test]
    fn a_key_named_by_the_token_header_is_refused() {
        for name in ["jwk", "jku", "x5u", "x5c", "crit"] {
            let mut h = header();
            h[name] = json!("x");
            assert_eq!(parse(&jws(h, json!({}))).unwrap_err(), TokenError::ForbiddenHeader, "{name}");
        }
    }

    #[test]
    fn shape_is_one_compact_jws() {
        let good = jws(header(), json!({}));
        for bad in [
            String::new(),
            "a.b".into(),
            "a.b.c.d".into(),
            format!("{good}="),
            format!(" {good}"),
            format!("{}.", &good[..good.rfind('.').unwrap()]),
            "x".repeat(MAX_TOKEN_LEN + 1),
        ] {
            assert_eq!(parse(&bad).unwrap_err(), TokenError::Malformed, "{bad:.40}");
        }
        let mut h = header();
        h.as_object_mut().unwrap().remove("kid");
        assert_eq!(parse(&jws(h, json!({}))).unwrap_err(), TokenError::UnknownKey);
    }

    #[test]
    fn the_signature_is_checked_with_each_candidate_key() {
        let right = TestEs256Key::generate();
        let wrong = TestEs256Key::generate();
        let input =
            format!("{}.{}", b64url(header().to_string().as_bytes()), b64url(json!(claims()).to_string().as_bytes()));
        let token = format!("{input}.{}", b64url(&right.sign(input.as_bytes())));
        let right = Es256PublicKey::from_jwk(&right.public_jwk()).unwrap();
        let wrong = Es256PublicKey::from_jwk(&wrong.public_jwk()).unwrap();
        let unverified = parse(&token).unwrap();
        assert_eq!(unverified.kid, "k1");
        assert_eq!(unverified.verify_signature([]).unwrap_err(), TokenError::UnknownKey);
        assert_eq!(unverified.verify_signature([&wrong]).unwrap_err(), TokenError::BadSignature);
        let verified = unverified.verify_signature([&wrong, &right]).unwrap();
        assert_eq!(verified, claims(), "a decoy with the same kid does not hide the real key (FAPI-28)");
    }

    #[test]
    fn jwt_5_claims_that_pass() {
        let verified = check_claims(claims(), &expected(), NOW).unwrap();
        assert_eq!(verified.aud, AUDIENCE);
        assert_eq!(verified.scope.as_deref(), Some("read"));
        let many = with("aud", json!(["https://other.example", AUDIENCE]));
        assert_eq!(check_claims(many, &expected(), NOW).unwrap().aud, AUDIENCE, "an array containing it");
        let bound = with("cnf", json!({ "jkt": "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" }));
        assert_eq!(
            check_claims(bound, &expected(), NOW).unwrap().cnf.unwrap().jkt.as_str(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn jwt_5_issuer_and_audience_match_exactly() {
        for iss in ["https://idp.example/", "https://IDP.example", "http://idp.example"] {
            let err = check_claims(with("iss", json!(iss)), &expected(), NOW).unwrap_err();
            assert_eq!(err, TokenError::WrongIssuer, "{iss}");
        }
        for aud in [json!("https://api.example/"), json!(["https://other.example"]), json!([])] {
            let err = check_claims(with("aud", aud.clone()), &expected(), NOW).unwrap_err();
            assert_eq!(err, TokenError::WrongAudience, "{aud}");
        }
    }

    #[test]
    fn jwt_5_time_claims_with_leeway() {
        let at = |name: &str, value: i64| check_claims(with(name, json!(value)), &expected(), NOW);
        assert!(at("exp", NOW - 4).is_ok(), "inside the leeway");
        assert_eq!(at("exp", NOW - 5).unwrap_err(), TokenError::Expired);
        assert!(at("nbf", NOW + 5).is_ok());
        assert_eq!(at("nbf", NOW + 6).unwrap_err(), TokenError::NotYetValid);
        assert!(at("iat", NOW + 5).is_ok());
        assert_eq!(at("iat", NOW + 6).unwrap_err(), TokenError::IssuedInFuture);
    }

    #[test]
    fn jwt_5_required_claims_and_their_types() {
        for name in ["iss", "sub", "aud", "client_id", "iat", "exp", "jti"] {
            let err = check_claims(with(name, Value::Null), &expected(), NOW).unwrap_err();
            assert_eq!(err, TokenError::MalformedClaims, "without {name}");
        }
        for (name, value) in [("exp", json!("1")), ("exp", json!(1.5)), ("aud", json!([1])), ("scope", json!(["read"]))]
        {
            let err = check_claims(with(name, value.clone()), &expected(), NOW).unwrap_err();
            assert_eq!(err, TokenError::MalformedClaims, "{name}={value}");
        }
        assert_eq!(check_claims(with("jti", json!("")), &expected(), NOW).unwrap_err(), TokenError::InvalidJti);
        let long = "j".repeat(MAX_JTI_LEN + 1);
        assert_eq!(check_claims(with("jti", json!(long)), &expected(), NOW).unwrap_err(), TokenError::InvalidJti);
    }

    #[test]
    fn a_binding_other_than_jkt_is_refused() {
        for cnf in [
            json!({}),
            json!({ "x5t#S256": "abc" }),
            json!({ "jkt": "abc", "x5t#S256": "abc" }),
            json!({ "jkt": 1 }),
            json!({ "jkt": "abc" }),
        ] {
            let err = check_claims(with("cnf", cnf.clone()), &expected(), NOW).unwrap_err();
            assert_eq!(err, TokenError::UnsupportedConfirmation, "{cnf}");
        }
    }
}
