//! The configuration module's unit tests: how settings are read, defaulted and refused.

use super::*;

fn from_env(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let env = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Settings::from_sources(Sources { file: None, env })
}

#[test]
fn defaults_are_the_embedded_development_setup() {
    let s = from_env(&[]).unwrap();
    assert_eq!(s.issuer.as_str(), "http://127.0.0.1:8080");
    assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(s.database, DatabaseUrl::Sqlite(PathBuf::from("./data/idp.db")));
    assert!(s.redis_url.is_none());
    assert!(s.is_development());
}

#[test]
fn issuer_with_another_scheme_is_refused_naming_the_setting() {
    let err = from_env(&[("IDP_ISSUER", "ftp://x")]).unwrap_err();
    assert_eq!(err.setting, "issuer");
    assert!(err.to_string().starts_with("invalid setting `issuer` (IDP_ISSUER):"), "{err}");
}

#[test]
fn issuer_with_query_or_fragment_or_http_on_a_public_host_is_refused() {
    for bad in ["https://idp.example/?a=b", "https://idp.example/#x", "http://idp.example", "idp.example"] {
        let err = from_env(&[("IDP_ISSUER", bad)]).unwrap_err();
        assert_eq!(err.setting, "issuer", "{bad}");
    }
}

#[test]
fn issuer_keeps_its_path_and_drops_a_lone_trailing_slash() {
    let s = from_env(&[("IDP_ISSUER", "https://login.example.com/tenant")]).unwrap();
    assert_eq!(s.issuer.as_str(), "https://login.example.com/tenant");
    assert_eq!(s.issuer.path_prefix(), "/tenant");
    assert_eq!(s.issuer.endpoint("/jwks"), "https://login.example.com/tenant/jwks");
    let s = from_env(&[("IDP_ISSUER", "https://login.example.com/")]).unwrap();
    assert_eq!(s.issuer.as_str(), "https://login.example.com");
    assert_eq!(s.issuer.path_prefix(), "");
}

#[test]
fn negative_or_zero_lifetimes_are_refused() {
    for bad in ["-5", "0", "-5m"] {
        let err = from_env(&[("IDP_TOKENS__ACCESS_TOKEN_LIFETIME", bad)]).unwrap_err();
        assert_eq!(err.setting, "tokens.access_token_lifetime", "{bad}");
        assert!(err.to_string().contains("IDP_TOKENS__ACCESS_TOKEN_LIFETIME"));
    }
}

#[test]
fn durations_take_seconds_or_humantime() {
    let s = from_env(&[("IDP_KEYS__ROTATE_EVERY", "7d"), ("IDP_TOKENS__ID_TOKEN_LIFETIME", "900")]).unwrap();
    assert_eq!(s.keys.rotate_every, Duration::from_secs(7 * 86_400));
    assert_eq!(s.tokens.id_token_lifetime, Duration::from_secs(900));
}

#[test]
fn publish_window_shorter_than_the_jwks_cache_is_refused() {
    let err = from_env(&[("IDP_KEYS__PUBLISH_WINDOW", "60"), ("IDP_KEYS__JWKS_MAX_AGE", "300")]).unwrap_err();
    assert_eq!(err.setting, "keys.publish_window");
}

#[test]
fn database_and_redis_urls_are_checked() {
    assert_eq!(from_env(&[("IDP_DATABASE_URL", "mysql://x")]).unwrap_err().setting, "database_url");
    assert_eq!(from_env(&[("IDP_REDIS_URL", "http://x")]).unwrap_err().setting, "redis_url");
    let s = from_env(&[
        ("IDP_DATABASE_URL", "postgres://u:secret@db/idp"),
        ("IDP_REDIS_URL", "redis://:hunter2@127.0.0.1:6379"),
    ])
    .unwrap();
    assert!(!s.is_development());
    let debug = format!("{s:?}");
    assert!(!debug.contains("secret") && !debug.contains("hunter2"), "{debug}");
}

#[test]
fn file_values_are_overridden_by_the_environment_and_unknown_keys_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idp.toml");
    std::fs::write(&path, "issuer = \"https://a.example\"\n[tokens]\naccess_token_lifetime = \"5m\"\n").unwrap();
    let env = vec![("IDP_ISSUER".to_string(), "https://b.example".to_string())];
    let s = Settings::from_sources(Sources { file: Some(&path), env }).unwrap();
    assert_eq!(s.issuer.as_str(), "https://b.example");
    assert_eq!(s.tokens.access_token_lifetime, Duration::from_secs(300));

    std::fs::write(&path, "isuer = \"https://a.example\"\n").unwrap();
    let err = Settings::from_sources(Sources { file: Some(&path), env: vec![] }).unwrap_err();
    assert_eq!(err.setting, "config file");
    assert!(!err.to_string().contains('\n'));
}

#[test]
fn negative_lifetime_in_the_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idp.toml");
    std::fs::write(&path, "[tokens]\naccess_token_lifetime = -5\n").unwrap();
    let err = Settings::from_sources(Sources { file: Some(&path), env: vec![] }).unwrap_err();
    assert_eq!(err.setting, "tokens.access_token_lifetime");
}
