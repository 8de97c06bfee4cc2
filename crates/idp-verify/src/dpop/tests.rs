//! Every check of [`super::verify_proof`], on proofs signed as clients (and attackers) would.

use std::sync::OnceLock;

use josekit::jwk::alg::ed::EdCurve;
use josekit::jwk::Jwk;
use josekit::jws::{EdDSA, JwsSigner, ES256, ES384, ES512, HS256, PS256, RS256};
use serde_json::json;

use super::*;
use crate::jwk::thumbprint;

const NOW: i64 = 1_700_000_000;
const HTU: &str = "https://idp.example/token";

fn check() -> ProofCheck<'static> {
    ProofCheck { method: "POST", expected_htu: HTU, now: NOW, max_age: 300, max_future: 10, access_token: None }
}

/// A client key: the signer and the public JWK it puts in its proofs.
struct TestKey {
    alg: &'static str,
    signer: Box<dyn JwsSigner>,
    private_jwk: Map<String, Value>,
    public_jwk: Map<String, Value>,
}

impl TestKey {
    fn new(alg: &'static str) -> Self {
        let (pair_jwk, public): (Jwk, Jwk) = match alg {
            "ES256" => {
                let pair = ES256.generate_key_pair().unwrap();
                (pair.to_jwk_key_pair(), pair.to_jwk_public_key())
            }
            "ES384" => {
                let pair = ES384.generate_key_pair().unwrap();
                (pair.to_jwk_key_pair(), pair.to_jwk_public_key())
            }
            "RS256" | "PS256" => {
                // RSA key generation is slow in debug builds: one key serves both.
                static RSA: OnceLock<(Jwk, Jwk)> = OnceLock::new();
                let (pair, public) = RSA.get_or_init(|| {
                    let pair = RS256.generate_key_pair(2048).unwrap();
                    (pair.to_jwk_key_pair(), pair.to_jwk_public_key())
                });
                (pair.clone(), public.clone())
            }
            "EdDSA" => {
                let pair = EdDSA.generate_key_pair(EdCurve::Ed25519).unwrap();
                (pair.to_jwk_key_pair(), pair.to_jwk_public_key())
            }
            _ => unreachable!("no test key for {alg}"),
        };
        // Drop `alg` (the RSA pair says RS256) so the same key signs with PS256 too.
        let without_alg = |jwk: &Jwk| {
            let mut map = jwk.as_ref().clone();
            map.remove("alg");
            map
        };
        let private_jwk = without_alg(&pair_jwk);
        let pair_jwk = Jwk::from_map(private_jwk.clone()).unwrap();
        let signer: Box<dyn JwsSigner> = match alg {
            "ES256" => Box::new(ES256.signer_from_jwk(&pair_jwk).unwrap()),
            "ES384" => Box::new(ES384.signer_from_jwk(&pair_jwk).unwrap()),
            "RS256" => Box::new(RS256.signer_from_jwk(&pair_jwk).unwrap()),
            "PS256" => Box::new(PS256.signer_from_jwk(&pair_jwk).unwrap()),
            _ => Box::new(EdDSA.signer_from_jwk(&pair_jwk).unwrap()),
        };
        Self { alg, signer, private_jwk, public_jwk: without_alg(&public) }
    }

    fn es256() -> Self {
        Self::new("ES256")
    }

    fn header(&self) -> Value {
        json!({ "typ": "dpop+jwt", "alg": self.alg, "jwk": self.public_jwk })
    }

    /// Signs `header` and `claims` as given, as a client (or an attacker) would.
    fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
        let signature = self.signer.sign(input.as_bytes()).unwrap();
        format!("{input}.{}", b64url(&signature))
    }

    fn proof(&self, claims: &Value) -> String {
        self.sign(&self.header(), claims)
    }

    fn proof_with_header(&self, change: impl FnOnce(&mut Value)) -> String {
        let mut header = self.header();
        change(&mut header);
        self.sign(&header, &claims())
    }
}

fn claims() -> Value {
    json!({ "jti": "e1j3V_bKic8-LAEB", "htm": "POST", "htu": HTU, "iat": NOW })
}

fn claims_with(name: &str, value: Value) -> Value {
    let mut claims = claims();
    claims[name] = value;
    claims
}

fn claims_without(name: &str) -> Value {
    let mut claims = claims();
    claims.as_object_mut().unwrap().remove(name);
    claims
}

/// RFC 7638 §3 by hand for an EC key, independent of `signing::thumbprint`.
fn ec_thumbprint(jwk: &Map<String, Value>) -> String {
    let canonical = format!(
        r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
        jwk["crv"].as_str().unwrap(),
        jwk["x"].as_str().unwrap(),
        jwk["y"].as_str().unwrap()
    );
    b64url(&sha256(canonical.as_bytes()))
}

/// Which refusal a table-driven case expects.
type Expected = fn(&DpopError) -> bool;

fn refusal(proof: &str, check: &ProofCheck<'_>) -> DpopError {
    match verify_proof(proof, check) {
        Ok(verified) => panic!("accepted: {verified:?}"),
        Err(err) => err,
    }
}

// Figures 4 and 13 of RFC 9449 (§4.1 and §7.1): proofs signed by the RFC's authors.
const RFC_TOKEN_PROOF: &str = concat!(
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19",
    ".eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ",
    ".2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg",
);
const RFC_RESOURCE_PROOF: &str = concat!(
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19",
    ".eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9",
    ".2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA",
);
const RFC_ACCESS_TOKEN: &str = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
const RFC_JWK: &str = r#"{"kty":"EC","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs","y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA","crv":"P-256"}"#;

#[test]
fn dpop_7_proof_made_like_the_client_helper_verifies_and_yields_its_thumbprint() {
    // Arrange: what tests/suite/common/dpop.rs does, an ES256 key and a fresh proof.
    let key = TestKey::es256();
    let proof = key.proof(&claims());

    // Act
    let verified = verify_proof(&proof, &check()).unwrap();

    // Assert
    assert_eq!(
        verified,
        VerifiedProof {
            jkt: Jkt::parse(&ec_thumbprint(&key.public_jwk)).unwrap(),
            jti: "e1j3V_bKic8-LAEB".into(),
            iat: NOW,
            nonce: None,
            htu: HTU.into(),
        }
    );
}

#[test]
fn dpop_5_every_supported_alg_verifies() {
    for alg in SUPPORTED_ALGS {
        let key = TestKey::new(alg);
        let verified = verify_proof(&key.proof(&claims()), &check()).unwrap_or_else(|err| panic!("{alg}: {err}"));
        assert_eq!(verified.jkt.as_str(), thumbprint(&key.public_jwk).unwrap(), "{alg}");
    }
}

#[test]
fn dpop_7_rfc9449_token_request_example_verifies() {
    let check = ProofCheck { expected_htu: "https://server.example.com/token", now: 1_562_262_616, ..check() };
    let verified = verify_proof(RFC_TOKEN_PROOF, &check).unwrap();
    let jwk: Map<String, Value> = serde_json::from_str(RFC_JWK).unwrap();
    assert_eq!(verified.jkt.as_str(), ec_thumbprint(&jwk));
    assert_eq!(verified.jti, "-BwC3ESc6acc2lTc");
}

#[test]
fn dpop_16_rfc9449_resource_example_verifies_with_its_access_token() {
    let check = ProofCheck {
        method: "GET",
        expected_htu: "https://resource.example.org/protectedresource",
        now: 1_562_262_618,
        access_token: Some(RFC_ACCESS_TOKEN),
        ..check()
    };
    verify_proof(RFC_RESOURCE_PROOF, &check).unwrap();
}

#[test]
fn dpop_16_ath_is_the_rfc9449_example_hash() {
    // RFC 9449 §7.1.
    assert_eq!(ath(RFC_ACCESS_TOKEN), "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo");
}

#[test]
fn dpop_23_jkt_is_the_rfc7638_thumbprint_of_the_jwk() {
    let key = TestKey::es256();
    let verified = verify_proof(&key.proof(&claims()), &check()).unwrap();
    assert_eq!(verified.jkt.as_str(), ec_thumbprint(&key.public_jwk));
    assert_eq!(verified.jkt.as_str().len(), 43, "base64url of 32 bytes");
}

#[test]
fn dpop_2_proof_longer_than_8_kib_is_refused() {
    let key = TestKey::es256();
    let padded = claims_with("pad", json!("x".repeat(MAX_PROOF_LEN)));
    let err = refusal(&key.proof(&padded), &check());
    assert!(matches!(err, DpopError::TooLong), "{err:?}");
}

#[test]
fn dpop_2_value_that_is_not_three_base64url_parts_is_refused() {
    let proof = TestKey::es256().proof(&claims());
    let (input, signature) = proof.rsplit_once('.').unwrap();
    for bad in [
        String::new(),
        input.to_owned(),
        format!("{proof}.e30"),
        format!("{input}."),
        format!(".{}", proof.split_once('.').unwrap().1),
        proof.replacen('.', "..", 1),
        format!("{proof}="),
        format!("DPoP {proof}"),
        // Standard base64 alphabet instead of base64url.
        format!("{input}.+{signature}"),
        format!("{input}./{signature}"),
    ] {
        let err = refusal(&bad, &check());
        assert!(matches!(err, DpopError::NotCompactJws), "{bad}: {err:?}");
    }
}

#[test]
fn dpop_2_two_proofs_in_one_value_are_refused() {
    // A repeated header folded into one line (RFC 9110 §5.3) reaches us comma-separated.
    let key = TestKey::es256();
    let (first, second) = (key.proof(&claims()), key.proof(&claims()));
    for bad in [format!("{first},{second}"), format!("{first}, {second}"), format!("{first} {second}")] {
        let err = refusal(&bad, &check());
        assert!(matches!(err, DpopError::NotCompactJws), "{err:?}");
    }
}

#[test]
fn dpop_2_header_that_is_not_a_base64url_json_object_is_refused() {
    let proof = TestKey::es256().proof(&claims());
    let rest = proof.split_once('.').unwrap().1;
    for header in [
        b64url(b"not json"),
        b64url(b"[\"typ\"]"),
        b64url(br#"{"typ":"dpop+jwt""#),
        "A".to_owned(), // impossible base64 length
    ] {
        let err = refusal(&format!("{header}.{rest}"), &check());
        assert!(matches!(err, DpopError::MalformedHeader), "{err:?}");
    }
}

#[test]
fn dpop_2_critical_header_extensions_are_refused() {
    let key = TestKey::es256();
    let proof = key.proof_with_header(|h| {
        h["crit"] = json!(["b64"]);
        h["b64"] = json!(false);
    });
    let err = refusal(&proof, &check());
    assert!(matches!(err, DpopError::CriticalHeader), "{err:?}");
}

#[test]
fn dpop_2_payload_that_is_not_a_json_object_is_refused() {
    let key = TestKey::es256();
    let input = format!("{}.{}", b64url(key.header().to_string().as_bytes()), b64url(b"[1,2]"));
    let signature = key.signer.sign(input.as_bytes()).unwrap();
    let err = refusal(&format!("{input}.{}", b64url(&signature)), &check());
    assert!(matches!(err, DpopError::MalformedClaims), "{err:?}");
}

#[test]
fn dpop_3_missing_alg_is_refused() {
    let key = TestKey::es256();
    for change in [json!(null), json!(256)] {
        let proof = key.proof_with_header(|h| match change {
            Value::Null => {
                h.as_object_mut().unwrap().remove("alg");
            }
            other => h["alg"] = other,
        });
        let err = refusal(&proof, &check());
        assert!(matches!(err, DpopError::MissingAlg), "{err:?}");
    }
}

#[test]
fn dpop_3_missing_jwk_is_refused() {
    let key = TestKey::es256();
    let proof = key.proof_with_header(|h| {
        h.as_object_mut().unwrap().remove("jwk");
    });
    let err = refusal(&proof, &check());
    assert!(matches!(err, DpopError::MissingJwk), "{err:?}");
}

#[test]
fn dpop_3_each_missing_claim_is_refused() {
    let key = TestKey::es256();
    let cases: [(&str, Expected); 4] = [
        ("jti", |e| matches!(e, DpopError::MissingJti)),
        ("htm", |e| matches!(e, DpopError::MissingHtm)),
        ("htu", |e| matches!(e, DpopError::MissingHtu)),
        ("iat", |e| matches!(e, DpopError::MissingIat)),
    ];
    for (claim, expected) in cases {
        let err = refusal(&key.proof(&claims_without(claim)), &check());
        assert!(expected(&err), "without {claim}: {err:?}");
    }
}

#[test]
fn dpop_4_typ_other_than_dpop_jwt_is_refused() {
    let key = TestKey::es256();
    for typ in [
        json!(null),
        json!("JWT"),
        json!("at+jwt"),
        json!("DPOP+JWT"),
        json!("application/dpop+jwt"),
        json!(["dpop+jwt"]),
    ] {
        let proof = key.proof_with_header(|h| match &typ {
            Value::Null => {
                h.as_object_mut().unwrap().remove("typ");
            }
            other => h["typ"] = other.clone(),
        });
        let err = refusal(&proof, &check());
        assert!(matches!(err, DpopError::WrongTyp), "{typ}: {err:?}");
    }
}

#[test]
fn dpop_5_unsupported_asymmetric_alg_is_refused() {
    // ES512 really signed with a P-521 key: refused by policy, not for a bad signature.
    let pair = ES512.generate_key_pair().unwrap();
    let signer = ES512.signer_from_jwk(&pair.to_jwk_key_pair()).unwrap();
    let header = json!({
        "typ": "dpop+jwt", "alg": "ES512", "jwk": pair.to_jwk_public_key().as_ref()
    });
    let input = format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims().to_string().as_bytes()));
    let signature = signer.sign(input.as_bytes()).unwrap();
    let err = refusal(&format!("{input}.{}", b64url(&signature)), &check());
    assert!(matches!(err, DpopError::UnsupportedAlg), "{err:?}");

    let key = TestKey::es256();
    for alg in ["RS512", "PS384", "ES256K", "RSA-OAEP", "es256", "Ed25519"] {
        let proof = key.proof_with_header(|h| h["alg"] = json!(alg));
        let err = refusal(&proof, &check());
        assert!(matches!(err, DpopError::UnsupportedAlg), "{alg}: {err:?}");
    }
}

#[test]
fn dpop_6_none_and_mac_algs_are_refused() {
    let key = TestKey::es256();
    // `none` with an empty signature is not even a three-part JWS with content.
    let unsigned = format!(
        "{}.{}.",
        b64url(json!({"typ": "dpop+jwt", "alg": "none", "jwk": key.public_jwk}).to_string().as_bytes()),
        b64url(claims().to_string().as_bytes())
    );
    assert!(matches!(refusal(&unsigned, &check()), DpopError::NotCompactJws));
    for alg in ["none", "None", "HS256", "HS384", "HS512"] {
        let proof = key.proof_with_header(|h| h["alg"] = json!(alg));
        let err = refusal(&proof, &check());
        assert!(matches!(err, DpopError::SymmetricAlg), "{alg}: {err:?}");
    }
    // A proof really MAC'd with the key it carries.
    let secret = Jwk::generate_oct_key(32).unwrap();
    let signer = HS256.signer_from_jwk(&secret).unwrap();
    let header = json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": secret.as_ref()});
    let input = format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims().to_string().as_bytes()));
    let mac = signer.sign(input.as_bytes()).unwrap();
    let err = refusal(&format!("{input}.{}", b64url(&mac)), &check());
    assert!(matches!(err, DpopError::SymmetricAlg), "{err:?}");
}

#[test]
fn dpop_5_jwk_that_does_not_fit_the_alg_is_refused() {
    let es256 = TestKey::es256();
    let es384 = TestKey::new("ES384");
    let rsa = TestKey::new("RS256");
    let ed = TestKey::new("EdDSA");
    for (alg, jwk) in [
        ("ES256", &es384.public_jwk),
        ("ES384", &es256.public_jwk),
        ("ES256", &rsa.public_jwk),
        ("RS256", &es256.public_jwk),
        ("PS256", &ed.public_jwk),
        ("EdDSA", &es256.public_jwk),
        ("ES256", &ed.public_jwk),
    ] {
        let proof = es256.proof_with_header(|h| {
            h["alg"] = json!(alg);
            h["jwk"] = json!(jwk);
        });
        let err = refusal(&proof, &check());
        assert!(matches!(err, DpopError::JwkDoesNotFitAlg), "{alg}: {err:?}");
    }
    // Ed448 is an OKP key too, but EdDSA here means Ed25519.
    let mut ed448 = ed.public_jwk.clone();
    ed448.insert("crv".into(), json!("Ed448"));
    let proof = ed.proof_with_header(|h| h["jwk"] = json!(ed448));
    let err = refusal(&proof, &check());
    assert!(matches!(err, DpopError::JwkDoesNotFitAlg), "{err:?}");
}

#[test]
fn dpop_5_rsa_key_under_2048_bits_is_refused() {
    let rsa = TestKey::new("RS256");
    let mut weak = rsa.public_jwk.clone();
    // A 1024-bit modulus: top bit set, odd. Refused before any signature is checked.
    let mut n = vec![0xA5u8; 128];
    n[0] = 0xC1;
    weak.insert("n".into(), json!(b64url(&n)));
    let proof = rsa.proof_with_header(|h| h["jwk"] = json!(weak));
    let err = refusal(&proof, &check());
    assert!(matches!(err, DpopError::RsaKeySize { bits: 1024 }), "{err:?}");

    // 2047 bits: 256 bytes, but the top bit is clear.
    let mut n = vec![0xA5u8; 256];
    n[0] = 0x41;
    weak.insert("n".into(), json!(b64url(&n)));
    let proof = rsa.proof_with_header(|h| h["jwk"] = json!(weak));
    let err = refusal(&proof, &check());
    assert!(matches!(err, DpopError::RsaKeySize { bits: 2047 }), "{err:?}");
}

#[test]
fn dpop_8_private_key_in_jwk_is_refused() {
    for alg in ["ES256", "RS256", "EdDSA"] {
        let key = TestKey::new(alg);
        let proof = key.proof_with_header(|h| h["jwk"] = json!(key.private_jwk));
        let err = refusal(&proof, &check());
        assert!(matches!(err, DpopError::PrivateKeyInJwk), "{alg}: {err:?}");
    }
    // Any one private member is enough, whatever its value.
    let key = TestKey::es256();
    for member in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
        let mut jwk = key.public_jwk.clone();
        jwk.insert(member.into(), json!("AQAB"));
        let proof = key.proof_with_header(|h| h["jwk"] = json!(jwk));
        let err = refusal(&proof, &check());
        assert!(matches!(err, DpopError::PrivateKeyInJwk), "{member}: {err:?}");
    }
}

#[test]
fn dpop_8_symmetric_jwk_is_refused() {
    let key = TestKey::es256();
    let secret = Jwk::generate_oct_key(32).unwrap();
    for jwk in [json!(secret.as_ref()), json!({"kty": "oct"})] {
        let proof = key.proof_with_header(|h| h["jwk"] = jwk.clone());
        let err = refusal(&proof, &check());
        assert!(matches!(err, DpopError::SymmetricJwk), "{err:?}");
    }
}

#[test]
fn dpop_8_jwk_that_is_not_an_object_is_refused() {
    let key = TestKey::es256();
    for jwk in [json!(ec_thumbprint(&key.public_jwk)), json!([key.public_jwk]), json!(null)] {
        let proof = key.proof_with_header(|h| h["jwk"] = jwk.clone());
        let err = refusal(&proof, &check());
        assert!(matches!(err, DpopError::JwkNotObject), "{jwk}: {err:?}");
    }
}

#[test]
fn dpop_8_malformed_public_key_is_refused() {
    let key = TestKey::es256();
    let x = key.public_jwk["x"].as_str().unwrap().to_owned();
    let cases: [(&str, Value, Expected); 5] = [
        // A coordinate one byte short.
        ("x", json!(b64url(&[7u8; 31])), |e| matches!(e, DpopError::MalformedJwk(_))),
        ("y", json!(null), |e| matches!(e, DpopError::MalformedJwk(_))),
        ("x", json!(format!("{x}=")), |e| matches!(e, DpopError::MalformedJwk(_))),
        // Right length, but not a point on P-256: refused (ring reports it with the signature).
        ("y", json!(b64url(&[7u8; 32])), |e| matches!(e, DpopError::KeyRejected(_) | DpopError::InvalidSignature(_))),
        // josekit honours `use`: a key for encryption does not verify signatures.
        ("use", json!("enc"), |e| matches!(e, DpopError::KeyRejected(_))),
    ];
    for (member, value, expected) in cases {
        let mut jwk = key.public_jwk.clone();
        if value.is_null() {
            jwk.remove(member);
        } else {
            jwk.insert(member.into(), value.clone());
        }
        let proof = key.proof_with_header(|h| h["jwk"] = json!(jwk));
        let err = refusal(&proof, &check());
        assert!(expected(&err), "{member}={value}: {err:?}");
    }
}

#[test]
fn dpop_7_proof_signed_by_another_key_is_refused() {
    // Signed by `signer` but naming `victim`'s public key: whoever holds only the public
    // key must not be able to produce proofs bound to it.
    let signer = TestKey::es256();
    let victim = TestKey::es256();
    let proof = signer.proof_with_header(|h| h["jwk"] = json!(victim.public_jwk));
    let err = refusal(&proof, &check());
    assert!(matches!(err, DpopError::InvalidSignature(_)), "{err:?}");
}

#[test]
fn dpop_7_claims_changed_after_signing_are_refused() {
    let key = TestKey::es256();
    let proof = key.proof(&claims_with("htm", json!("GET")));
    let (header, rest) = proof.split_once('.').unwrap();
    let signature = rest.split_once('.').unwrap().1;
    let forged = format!("{header}.{}.{signature}", b64url(claims().to_string().as_bytes()));
    let err = refusal(&forged, &check());
    assert!(matches!(err, DpopError::InvalidSignature(_)), "{err:?}");

    // A signature that is not base64url at all.
    let (input, _) = proof.rsplit_once('.').unwrap();
    let err = refusal(&format!("{input}.A"), &check());
    assert!(matches!(err, DpopError::NotCompactJws), "{err:?}");
}

#[test]
fn dpop_9_htm_other_than_the_request_method_is_refused() {
    let key = TestKey::es256();
    for htm in ["GET", "post", "POST "] {
        let err = refusal(&key.proof(&claims_with("htm", json!(htm))), &check());
        assert!(matches!(err, DpopError::HtmMismatch), "{htm}: {err:?}");
    }
    let err = refusal(&key.proof(&claims_with("htm", json!(["POST"]))), &check());
    assert!(matches!(err, DpopError::MissingHtm), "{err:?}");
}

#[test]
fn dpop_10_htu_matches_ignoring_query_and_fragment() {
    let key = TestKey::es256();
    for htu in [
        "https://idp.example/token?x=1",
        "https://idp.example/token#f",
        "https://idp.example/token?",
        "https://idp.example/token?a=|b{c}#f^",
    ] {
        let proof = key.proof(&claims_with("htu", json!(htu)));
        assert_eq!(verify_proof(&proof, &check()).unwrap().htu, htu, "the claim as sent");
    }
}

#[test]
fn dpop_11_htu_is_compared_after_rfc3986_normalisation() {
    let key = TestKey::es256();
    for htu in [
        "HTTPS://IDP.EXAMPLE:443/token?x=1#f",
        "https://idp.example:443/token",
        "https://IDP.example/token",
        "https://idp.example/%74oken",
        "https://idp.example/a/../token",
        "https://idp.example/./token",
    ] {
        let proof = key.proof(&claims_with("htu", json!(htu)));
        verify_proof(&proof, &check()).unwrap_or_else(|err| panic!("{htu}: {err}"));
    }
    // The expected side is normalised the same way.
    let check = ProofCheck { expected_htu: "HTTP://Localhost:80/a%2fb/%7Euser", ..check() };
    let proof = key.proof(&claims_with("htu", json!("http://localhost/a%2Fb/~user")));
    verify_proof(&proof, &check).unwrap();
}

#[test]
fn dpop_10_htu_with_another_scheme_host_port_or_path_is_refused() {
    let key = TestKey::es256();
    for htu in [
        "http://idp.example/token",
        "https://idp.example:8443/token",
        "https://idp.example:80/token",
        "https://other.example/token",
        "https://idp.example.evil/token",
        "https://idp.example/token/",
        "https://idp.example/Token",
        "https://idp.example/token2",
        "https://idp.example/",
        "https://idp.example/a%2Ftoken",
        "https://user@idp.example/token",
    ] {
        let err = refusal(&key.proof(&claims_with("htu", json!(htu))), &check());
        assert!(matches!(err, DpopError::HtuMismatch), "{htu}: {err:?}");
    }
}

#[test]
fn dpop_12_htu_that_is_not_a_string_is_refused() {
    let key = TestKey::es256();
    for htu in [json!(1), json!(["https://idp.example/token"]), json!({"href": HTU}), json!(null)] {
        let err = refusal(&key.proof(&claims_with("htu", htu.clone())), &check());
        assert!(matches!(err, DpopError::HtuNotString), "{htu}: {err:?}");
    }
}

#[test]
fn dpop_12_htu_that_is_not_an_absolute_http_url_is_refused() {
    let key = TestKey::es256();
    for htu in [
        "",
        "/token",
        "idp.example/token",
        "//idp.example/token",
        "ftp://idp.example/token",
        "wss://idp.example/token",
        "https:idp.example/token",
        "https:/idp.example/token",
        "https:\\\\idp.example\\token",
        "https://idp.exa\nmple/token",
        "https://idp.example/to\tken",
        " https://idp.example/token",
        "https://idp.example/tok%zzen",
        "https://idp.\u{e9}xample/token",
        "https://",
        // Whitespace and non-ASCII are never part of a URI, not even in the query.
        "https://idp.example/token?a=b c",
        "https://idp.example/token#\u{e9}",
    ] {
        let err = refusal(&key.proof(&claims_with("htu", json!(htu))), &check());
        assert!(matches!(err, DpopError::HtuNotAbsoluteUrl), "{htu:?}: {err:?}");
    }
}

#[test]
fn dpop_14_iat_inside_the_window_is_accepted_up_to_its_edges() {
    let key = TestKey::es256();
    for iat in [NOW - 300, NOW - 1, NOW, NOW + 10] {
        let proof = key.proof(&claims_with("iat", json!(iat)));
        assert_eq!(verify_proof(&proof, &check()).unwrap().iat, iat);
    }
}

#[test]
fn dpop_14_iat_outside_the_window_is_refused() {
    let key = TestKey::es256();
    let err = refusal(&key.proof(&claims_with("iat", json!(NOW - 301))), &check());
    assert!(matches!(err, DpopError::IatTooOld { .. }), "{err:?}");
    for iat in [NOW + 11, NOW + 61, i64::MAX] {
        let err = refusal(&key.proof(&claims_with("iat", json!(iat))), &check());
        assert!(matches!(err, DpopError::IatInFuture { .. }), "{iat}: {err:?}");
    }
    let err = refusal(&key.proof(&claims_with("iat", json!(i64::MIN))), &check());
    assert!(matches!(err, DpopError::IatTooOld { .. }), "{err:?}");
}

#[test]
fn dpop_14_iat_that_is_not_an_integer_is_refused() {
    let key = TestKey::es256();
    for iat in [json!(NOW.to_string()), json!(NOW as f64 + 0.5), json!(NOW as f64), json!(u64::MAX), json!(true)] {
        let err = refusal(&key.proof(&claims_with("iat", iat.clone())), &check());
        assert!(matches!(err, DpopError::IatNotInteger), "{iat}: {err:?}");
    }
}

#[test]
fn dpop_13_nonce_is_returned_for_the_caller_to_check() {
    let key = TestKey::es256();
    let proof = key.proof(&claims_with("nonce", json!("eyJ7S_zG.eyJH0-Z.HX4w-7v")));
    let verified = verify_proof(&proof, &check()).unwrap();
    assert_eq!(verified.nonce.as_deref(), Some("eyJ7S_zG.eyJH0-Z.HX4w-7v"));
}

#[test]
fn dpop_13_nonce_that_is_not_a_string_is_refused() {
    let key = TestKey::es256();
    for nonce in [json!(1), json!(["n"]), json!(null)] {
        let err = refusal(&key.proof(&claims_with("nonce", nonce.clone())), &check());
        assert!(matches!(err, DpopError::NonceNotString), "{nonce}: {err:?}");
    }
}

#[test]
fn dpop_15_jti_must_be_a_non_empty_string_of_at_most_256_characters() {
    let key = TestKey::es256();
    for jti in [json!(""), json!("j".repeat(257)), json!("\u{e9}".repeat(257)), json!(42)] {
        let err = refusal(&key.proof(&claims_with("jti", jti.clone())), &check());
        assert!(matches!(err, DpopError::InvalidJti), "{jti}: {err:?}");
    }
    for jti in ["j".repeat(256), "\u{e9}".repeat(256)] {
        let proof = key.proof(&claims_with("jti", json!(jti)));
        assert_eq!(verify_proof(&proof, &check()).unwrap().jti, jti);
    }
}

#[test]
fn dpop_16_ath_is_required_with_an_access_token() {
    let key = TestKey::es256();
    let check = ProofCheck { access_token: Some("at-1"), ..check() };
    let err = refusal(&key.proof(&claims()), &check);
    assert!(matches!(err, DpopError::MissingAth), "{err:?}");

    let proof = key.proof(&claims_with("ath", json!(ath("at-1"))));
    verify_proof(&proof, &check).unwrap();
}

#[test]
fn dpop_16_ath_of_another_token_is_refused() {
    let key = TestKey::es256();
    let check = ProofCheck { access_token: Some("at-1"), ..check() };
    for sent in [json!(ath("at-2")), json!("at-1"), json!(ath("at-1").to_uppercase()), json!(1)] {
        let err = refusal(&key.proof(&claims_with("ath", sent.clone())), &check);
        assert!(matches!(err, DpopError::AthMismatch), "{sent}: {err:?}");
    }
}

#[test]
fn dpop_16_ath_is_ignored_without_an_access_token() {
    // At the token endpoint there is no access token to hash.
    let key = TestKey::es256();
    let proof = key.proof(&claims_with("ath", json!(ath("whatever"))));
    verify_proof(&proof, &check()).unwrap();
}

#[test]
fn dpop_17_unknown_header_parameters_and_claims_are_accepted() {
    let key = TestKey::es256();
    let mut header = key.header();
    header["kid"] = json!("client-key-1");
    header["x-extra"] = json!({"nested": [1, 2]});
    let claims = claims_with("client_hint", json!("anything"));
    let claims = {
        let mut c = claims;
        c["exp"] = json!(NOW + 60);
        c
    };
    verify_proof(&key.sign(&header, &claims), &check()).unwrap();

    // The conformance suite's shape: extra claims and an extra jwk member.
    let mut jwk = key.public_jwk.clone();
    jwk.insert("kid".into(), json!("k1"));
    header["jwk"] = json!(jwk);
    let verified = verify_proof(&key.sign(&header, &claims), &check()).unwrap();
    assert_eq!(verified.jkt.as_str(), ec_thumbprint(&key.public_jwk), "kid is not in the thumbprint");
}
