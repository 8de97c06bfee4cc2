//! The configuration module's unit tests: how settings are read, defaulted and refused.

use super::*;

/// Settings from the variables `pairs` and no file; the process environment is not read.
fn from_env(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let env = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Settings::from_sources(Sources { file: None, env })
}

fn refused(pairs: &[(&str, &str)]) -> ConfigError {
    from_env(pairs).expect_err("refused")
}

/// Settings from a file holding `toml` and the variables `pairs`, and the file's path.
fn from_file(toml: &str, pairs: &[(&str, &str)]) -> (Result<Settings, ConfigError>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idp.toml");
    std::fs::write(&path, toml).unwrap();
    let env = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    (Settings::from_sources(Sources { file: Some(&path), env }), path.display().to_string())
}

// Defaults, then the file, then the environment.

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
fn the_defaults_are_the_documented_ones() {
    let s = from_env(&[]).unwrap();
    let (minute, hour, day) = (60, 3_600, 86_400);
    assert_eq!(s.database_pool_size, 10);
    assert_eq!(s.redis_prefix, "idp:");
    assert_eq!(s.keys_dir, PathBuf::from("keys"));
    assert_eq!(s.log, "info");
    assert_eq!(s.workers, None);
    let seconds = |d: Duration| d.as_secs();
    assert_eq!(
        [s.keys.rotate_every, s.keys.publish_window, s.keys.jwks_max_age, s.keys.refresh_interval].map(seconds),
        [30 * day, hour, 5 * minute, 2]
    );
    assert_eq!(
        [
            s.tokens.access_token_lifetime,
            s.tokens.id_token_lifetime,
            s.tokens.refresh_token_idle_lifetime,
            s.tokens.refresh_token_absolute_lifetime,
            s.tokens.refresh_token_reuse_grace,
            s.tokens.refresh_token_concurrency_window,
        ]
        .map(seconds),
        [10 * minute, hour, 14 * day, 90 * day, 0, 2]
    );
    assert_eq!(s.client_auth.assertion_max_lifetime, Duration::from_secs(hour));
    assert!(s.dpop.require_nonce);
    assert_eq!(s.dpop.proof_max_age, Duration::from_secs(5 * minute));
    assert_eq!([s.sessions.idle_lifetime, s.sessions.absolute_lifetime].map(seconds), [30 * minute, 12 * hour]);
}

#[test]
fn a_section_written_in_part_keeps_the_other_defaults() {
    let (s, _) = from_file("[keys]\nrotate_every = \"7d\"\n", &[]);
    let s = s.unwrap();
    assert_eq!(s.keys.rotate_every, Duration::from_secs(7 * 86_400));
    assert_eq!(s.keys.publish_window, Duration::from_secs(3_600));
}

#[test]
fn precedence_is_defaults_then_file_then_environment() {
    let file = "issuer = \"https://a.example\"\nworkers = 2\n[tokens]\naccess_token_lifetime = \"5m\"\n";
    let (s, _) = from_file(file, &[("IDP_ISSUER", "https://b.example"), ("IDP_TOKENS__ID_TOKEN_LIFETIME", "2h")]);
    let s = s.unwrap();
    assert_eq!(s.issuer.as_str(), "https://b.example", "environment over file");
    assert_eq!(s.tokens.id_token_lifetime, Duration::from_secs(7_200), "environment over default");
    assert_eq!(s.tokens.access_token_lifetime, Duration::from_secs(300), "file over default");
    assert_eq!(s.workers, Some(2), "file over default");
    assert_eq!(s.tokens.refresh_token_idle_lifetime, Duration::from_secs(14 * 86_400), "default");
}

// The environment: one overlay, each value typed by the setting it names.

#[test]
fn a_variable_sets_a_top_level_key_and_a_double_underscore_a_key_of_a_section() {
    let s = from_env(&[("IDP_REDIS_PREFIX", "tenant-a:"), ("IDP_KEYS__JWKS_MAX_AGE", "10m")]).unwrap();
    assert_eq!(s.redis_prefix, "tenant-a:");
    assert_eq!(s.keys.jwks_max_age, Duration::from_secs(600));
}

#[test]
fn text_is_taken_as_written_and_an_empty_redis_url_means_none() {
    let s = from_env(&[("IDP_LOG", "idp=debug,actix_web=warn"), ("IDP_REDIS_URL", "")]).unwrap();
    assert_eq!(s.log, "idp=debug,actix_web=warn");
    assert!(s.redis_url.is_none());
}

#[test]
fn whole_numbers_may_have_spaces_around_them_and_nothing_else() {
    let s = from_env(&[("IDP_DATABASE_POOL_SIZE", " 20 "), ("IDP_WORKERS", "3")]).unwrap();
    assert_eq!((s.database_pool_size, s.workers), (20, Some(3)));
    let err = refused(&[("IDP_WORKERS", "three")]);
    assert_eq!(err.to_string(), "invalid setting `workers` (IDP_WORKERS): must be a whole number, got three");
    assert_eq!(refused(&[("IDP_WORKERS", "0")]).setting, "workers");
}

#[test]
fn booleans_are_true_false_1_or_0() {
    for (text, value) in [("true", true), ("1", true), ("false", false), (" 0 ", false)] {
        assert_eq!(from_env(&[("IDP_DPOP__REQUIRE_NONCE", text)]).unwrap().dpop.require_nonce, value, "{text}");
    }
    let err = refused(&[("IDP_DPOP__REQUIRE_NONCE", "yes")]);
    assert_eq!(
        err.to_string(),
        "invalid setting `dpop.require_nonce` (IDP_DPOP__REQUIRE_NONCE): must be true or false, got yes"
    );
}

#[test]
fn durations_take_seconds_or_humantime() {
    let s = from_env(&[("IDP_KEYS__ROTATE_EVERY", "7d"), ("IDP_TOKENS__ID_TOKEN_LIFETIME", "900")]).unwrap();
    assert_eq!(s.keys.rotate_every, Duration::from_secs(7 * 86_400));
    assert_eq!(s.tokens.id_token_lifetime, Duration::from_secs(900));
}

#[test]
fn a_later_duplicate_variable_wins() {
    let s = from_env(&[("IDP_ISSUER", "https://a.example"), ("IDP_ISSUER", "https://b.example")]).unwrap();
    assert_eq!(s.issuer.as_str(), "https://b.example");
}

#[test]
fn trusted_proxies_are_cidrs_and_a_wrong_one_is_named() {
    let s = from_env(&[("IDP_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7 2001:db8::/32")]).unwrap();
    assert_eq!(s.trusted_proxies.len(), 3);
    assert_eq!(s.forwarded_header, super::ForwardedHeader::XForwardedFor);
    let err = from_env(&[("IDP_TRUSTED_PROXIES", "10.0.0.0/8 10.1.2.3/8")]).unwrap_err();
    assert_eq!(err.setting, "trusted_proxies");
    assert!(err.problem.starts_with("10.1.2.3/8: the network has host bits set"), "{}", err.problem);
    let err = from_env(&[("IDP_FORWARDED_HEADER", "x-real-ip")]).unwrap_err();
    assert_eq!(err.setting, "forwarded_header");
}

#[test]
fn rate_limits_are_count_per_window_or_off() {
    let s = from_env(&[("IDP_RATE_LIMITS__TOKEN", "10/1s"), ("IDP_RATE_LIMITS__PAGES", "off")]).unwrap();
    assert_eq!(s.rate_limits.token.map(|q| (q.quota(), q.window())), Some((10, Duration::from_secs(1))));
    assert!(s.rate_limits.pages.is_none());
    assert_eq!(s.rate_limits.introspection.map(|q| q.quota()), Some(60_000), "the default");
    let err = from_env(&[("IDP_RATE_LIMITS__REVOCATION", "many")]).unwrap_err();
    assert_eq!(err.setting, "rate_limits.revocation");
    assert!(err.to_string().contains("IDP_RATE_LIMITS__REVOCATION"), "{err}");
}

#[test]
fn every_setting_has_a_variable_typed_by_its_field() {
    let settings = schema::settings();
    let kind = |key: &str| settings.iter().find(|s| s.key == key).map(|s| s.kind);
    assert_eq!(settings.len(), 48);
    assert_eq!(kind("rate_limits.token"), Some(schema::Kind::Text));
    assert_eq!(kind("trusted_proxies"), Some(schema::Kind::Text));
    assert_eq!(kind("issuer"), Some(schema::Kind::Text));
    assert_eq!(kind("redis_url"), Some(schema::Kind::Text));
    assert_eq!(kind("workers"), Some(schema::Kind::Integer));
    assert_eq!(kind("dpop.require_nonce"), Some(schema::Kind::Bool));
    assert_eq!(kind("tokens.access_token_lifetime"), Some(schema::Kind::NumberOrText));
    for setting in &settings {
        let value = match setting.kind {
            schema::Kind::Bool => "true",
            schema::Kind::Integer => "4",
            _ => "",
        };
        let err = from_env(&[(&env_name(&setting.key), value)]).err();
        // Refused or not, it is never refused as an unknown variable.
        assert!(err.as_ref().is_none_or(|e| e.setting == setting.key), "{}: {err:?}", setting.key);
    }
}

// A variable that names no setting stops start.

#[test]
fn an_unknown_variable_is_refused_naming_it() {
    let err = refused(&[("IDP_FROBNICATE", "1")]);
    assert_eq!(err.setting, "IDP_FROBNICATE");
    assert_eq!(
        err.to_string(),
        "unknown variable `IDP_FROBNICATE`: no setting has this name, and the other IDP_* variables are \
         IDP_CONFIG, IDP_JWKS_URI, IDP_ADMIN_CLIENT_ID, IDP_ADMIN_CLIENT_SECRET, IDP_TEST_*"
    );
}

#[test]
fn a_misspelt_variable_is_refused_with_the_setting_it_probably_meant() {
    let err = refused(&[("IDP_ISSUR", "https://idp.example")]);
    assert_eq!(
        err.to_string(),
        "unknown variable `IDP_ISSUR`: no setting has this name; did you mean `IDP_ISSUER` (setting `issuer`)?"
    );
    for (typo, meant) in [
        ("IDP_TOKENS__ACESS_LIFETIME", "IDP_TOKENS__ACCESS_TOKEN_LIFETIME"),
        ("IDP_TOKENS_ACCESS_TOKEN_LIFETIME", "IDP_TOKENS__ACCESS_TOKEN_LIFETIME"),
        ("IDP_ACCESS_TOKEN_LIFETIME", "IDP_TOKENS__ACCESS_TOKEN_LIFETIME"),
        ("IDP_KEYS__DIR", "IDP_KEYS_DIR"),
        ("IDP_issuer", "IDP_ISSUER"),
        ("IDP_REDIS_URI", "IDP_REDIS_URL"),
        ("IDP_DPOP__REQUIRE_NONCES", "IDP_DPOP__REQUIRE_NONCE"),
        ("IDP_SESSION__IDLE_LIFETIME", "IDP_SESSIONS__IDLE_LIFETIME"),
    ] {
        let err = refused(&[(typo, "1")]);
        assert_eq!(err.setting, typo);
        assert!(err.to_string().contains(&format!("did you mean `{meant}`")), "{typo}: {err}");
    }
}

#[test]
fn a_section_is_not_a_setting() {
    let err = refused(&[("IDP_TOKENS", "10m")]);
    assert_eq!(
        err.to_string(),
        "unknown variable `IDP_TOKENS`: names the section [tokens], not a setting; its settings are IDP_TOKENS__KEY"
    );
}

#[test]
fn variables_read_elsewhere_are_allowed_and_other_variables_ignored() {
    let s = from_env(&[
        ("IDP_CONFIG", "/nonexistent/idp.toml"),
        ("IDP_JWKS_URI", "https://idp.example/jwks"),
        ("IDP_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test"),
        ("IDP_TEST_INTEROP", "1"),
        ("PATH", "/usr/bin"),
    ])
    .unwrap();
    assert_eq!(s.issuer.as_str(), "http://127.0.0.1:8080");
}

// The file: unknown keys and wrong types are refused, naming the file and the key.

#[test]
fn an_unknown_key_in_the_file_is_refused_naming_the_file_and_the_key() {
    let (err, path) = from_file("isuer = \"https://a.example\"\n", &[]);
    let err = err.unwrap_err();
    assert_eq!(err.setting, "config file");
    assert_eq!(
        err.to_string(),
        format!("invalid setting `config file`: {path}: unknown key `isuer`; did you mean `issuer`?")
    );
    for (file, message) in [
        (
            "[tokens]\nacess_token_lifetime = 60\n",
            "unknown key `tokens.acess_token_lifetime`; did you mean `tokens.access_token_lifetime`?",
        ),
        (
            "[token]\naccess_token_lifetime = 60\n",
            "unknown key `token.access_token_lifetime`; did you mean `tokens.access_token_lifetime`?",
        ),
        ("[frobnicate]\n", "unknown key `frobnicate`"),
    ] {
        let (err, path) = from_file(file, &[]);
        assert_eq!(err.unwrap_err().problem, format!("{path}: {message}"), "{file}");
    }
}

#[test]
fn a_value_of_the_wrong_type_in_the_file_is_refused_naming_the_key() {
    let (err, path) = from_file("[dpop]\nrequire_nonce = \"yes\"\n", &[]);
    let err = err.unwrap_err();
    assert_eq!(err.setting, "config file");
    assert_eq!(
        err.problem,
        format!("{path}: invalid type: string \"yes\", expected a boolean in `dpop.require_nonce`")
    );
    let (err, path) = from_file("[tokens]\nid_token_lifetime = true\n", &[]);
    assert_eq!(
        err.unwrap_err().problem,
        format!("{path}: expected a duration: whole seconds or text such as \"10m\" in `tokens.id_token_lifetime`")
    );
    let (err, path) = from_file("tokens = 5\n", &[("IDP_TOKENS__ID_TOKEN_LIFETIME", "1h")]);
    assert_eq!(
        err.unwrap_err().problem,
        format!("{path}: invalid type: integer `5`, expected a table of settings in `tokens`")
    );
}

#[test]
fn a_file_that_is_not_toml_is_refused_in_one_line() {
    let (err, path) = from_file("issuer = \n", &[]);
    let err = err.unwrap_err();
    assert_eq!(err.setting, "config file");
    assert!(err.problem.starts_with(&format!("{path}: ")) && !err.to_string().contains('\n'), "{err}");
}

#[test]
fn negative_lifetime_in_the_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idp.toml");
    std::fs::write(&path, "[tokens]\naccess_token_lifetime = -5\n").unwrap();
    let err = Settings::from_sources(Sources { file: Some(&path), env: vec![] }).unwrap_err();
    assert_eq!(err.setting, "tokens.access_token_lifetime");
}

// Validation: each mistake names the setting and its variable.

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
fn the_reuse_grace_may_be_switched_off_with_0_or_0s_other_lifetimes_may_not() {
    for off in ["0", "0s"] {
        let s = from_env(&[("IDP_TOKENS__REFRESH_TOKEN_REUSE_GRACE", off)]).unwrap();
        assert_eq!(s.tokens.refresh_token_reuse_grace, Duration::ZERO, "{off}");
        assert_eq!(refused(&[("IDP_SESSIONS__IDLE_LIFETIME", off)]).setting, "sessions.idle_lifetime");
    }
    let s = from_env(&[("IDP_TOKENS__REFRESH_TOKEN_REUSE_GRACE", "30s")]).unwrap();
    assert_eq!(s.tokens.refresh_token_reuse_grace, Duration::from_secs(30));
}

#[test]
fn the_concurrency_window_may_be_switched_off_and_is_at_most_a_minute() {
    for off in ["0", "0s"] {
        let s = from_env(&[("IDP_TOKENS__REFRESH_TOKEN_CONCURRENCY_WINDOW", off)]).unwrap();
        assert_eq!(s.tokens.refresh_token_concurrency_window, Duration::ZERO, "{off}");
    }
    let err = refused(&[("IDP_TOKENS__REFRESH_TOKEN_CONCURRENCY_WINDOW", "2m")]);
    assert_eq!(err.setting, "tokens.refresh_token_concurrency_window");
}

#[test]
fn the_assertion_lifetime_cap_is_positive_and_at_most_a_day() {
    let s = from_env(&[("IDP_CLIENT_AUTH__ASSERTION_MAX_LIFETIME", "10m")]).unwrap();
    assert_eq!(s.client_auth.assertion_max_lifetime, Duration::from_secs(600));
    for wrong in ["0", "2d"] {
        let err = refused(&[("IDP_CLIENT_AUTH__ASSERTION_MAX_LIFETIME", wrong)]);
        assert_eq!(err.setting, "client_auth.assertion_max_lifetime", "{wrong}");
    }
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
fn an_admin_listener_on_every_interface_needs_the_url_callers_use() {
    let err = refused(&[("IDP_ADMIN_LISTEN", "0.0.0.0:9443")]);
    assert_eq!(err.setting, "admin_url");
    let s = from_env(&[("IDP_ADMIN_LISTEN", "0.0.0.0:9443"), ("IDP_ADMIN_URL", "https://admin.idp.internal:9443")])
        .unwrap();
    assert_eq!(s.admin_url.as_deref(), Some("https://admin.idp.internal:9443"));
    let s = from_env(&[("IDP_ADMIN_LISTEN", "10.0.0.5:9443")]).unwrap();
    assert_eq!(s.admin_url.as_deref(), Some("http://10.0.0.5:9443"));
    assert_eq!(refused(&[("IDP_ADMIN_URL", "https://admin.example")]).setting, "admin_url");
    let with_path = refused(&[("IDP_ADMIN_LISTEN", "10.0.0.5:9443"), ("IDP_ADMIN_URL", "https://a.example/x")]);
    assert_eq!(with_path.setting, "admin_url");
}

// Redis in production: TLS, the password from a secret, the safety switch; metrics apart.

/// A self-signed certificate and its key, in PEM.
fn certificate_pem() -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["redis.test".to_owned()]).unwrap().self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

#[test]
fn rediss_is_accepted_and_a_fragment_that_would_skip_verification_is_refused() {
    let s = from_env(&[("IDP_REDIS_URL", "rediss://idp@redis.example:6380/0")]).unwrap();
    assert!(s.redis_url.as_ref().unwrap().is_tls());
    let err = refused(&[("IDP_REDIS_URL", "rediss://redis.example:6380/#insecure")]);
    assert_eq!(err.setting, "redis_url");
    assert!(err.problem.contains("certificate verification"), "{err}");
    let err = refused(&[("IDP_REDIS_URL", "valkey://redis.example")]);
    assert_eq!(
        err.to_string(),
        "invalid setting `redis_url` (IDP_REDIS_URL): must start with redis:// or rediss:// (TLS)"
    );
}

#[test]
fn the_redis_password_comes_from_its_file_and_is_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("redis-password");
    std::fs::write(&file, "s3cr3t-pw\n").unwrap();
    let path = file.to_str().unwrap();
    let s =
        from_env(&[("IDP_REDIS_URL", "rediss://idp@redis.example:6380"), ("IDP_REDIS_PASSWORD_FILE", path)]).unwrap();
    assert_eq!(s.redis_password.as_ref().unwrap().expose(), "s3cr3t-pw", "the final line break is not part of it");
    let debug = format!("{s:?}");
    assert!(!debug.contains("s3cr3t-pw"), "{debug}");
    assert!(debug.contains("redis_password: Some(***)"), "{debug}");

    // In one place only.
    let err = refused(&[("IDP_REDIS_URL", "redis://:other@redis.example"), ("IDP_REDIS_PASSWORD_FILE", path)]);
    assert_eq!(err.setting, "redis_password_file");
    // A file that is no password: the message names the file and never shows what it holds.
    std::fs::write(&file, "s3cr3t-pw\nsecond line\n").unwrap();
    let err = refused(&[("IDP_REDIS_URL", "redis://redis.example"), ("IDP_REDIS_PASSWORD_FILE", path)]);
    assert_eq!(err.setting, "redis_password_file");
    assert!(err.to_string().contains(path) && !err.to_string().contains("s3cr3t"), "{err}");
    std::fs::write(&file, "\n").unwrap();
    let err = refused(&[("IDP_REDIS_URL", "redis://redis.example"), ("IDP_REDIS_PASSWORD_FILE", path)]);
    assert!(err.problem.ends_with("is empty"), "{err}");
    let missing = dir.path().join("absent");
    let err =
        refused(&[("IDP_REDIS_URL", "redis://redis.example"), ("IDP_REDIS_PASSWORD_FILE", missing.to_str().unwrap())]);
    assert!(err.problem.starts_with("cannot read"), "{err}");
    assert_eq!(refused(&[("IDP_REDIS_PASSWORD_FILE", path)]).problem, "is only used with redis_url");
}

#[test]
fn redis_tls_files_are_read_at_start_and_need_rediss() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate_pem();
    let (ca_file, cert_file, key_file) =
        (dir.path().join("ca.pem"), dir.path().join("client.pem"), dir.path().join("client.key"));
    std::fs::write(&ca_file, &cert).unwrap();
    std::fs::write(&cert_file, &cert).unwrap();
    std::fs::write(&key_file, &key).unwrap();
    let [ca, client_cert, client_key] = [&ca_file, &cert_file, &key_file].map(|p| p.to_str().unwrap().to_owned());
    let s = from_env(&[
        ("IDP_REDIS_URL", "rediss://redis.example:6380"),
        ("IDP_REDIS_CA_FILE", &ca),
        ("IDP_REDIS_CLIENT_CERT_FILE", &client_cert),
        ("IDP_REDIS_CLIENT_KEY_FILE", &client_key),
    ])
    .unwrap();
    assert_eq!(s.redis_ca.as_ref().unwrap().pem, cert.as_bytes());
    assert!(!format!("{s:?}").contains("PRIVATE KEY"), "the key's content is not printed");

    let err = refused(&[("IDP_REDIS_URL", "redis://redis.example"), ("IDP_REDIS_CA_FILE", &ca)]);
    assert_eq!(
        err.to_string(),
        "invalid setting `redis_ca_file` (IDP_REDIS_CA_FILE): needs a rediss:// redis_url (TLS)"
    );
    let err = refused(&[("IDP_REDIS_URL", "rediss://redis.example"), ("IDP_REDIS_CA_FILE", &client_key)]);
    assert_eq!(err.setting, "redis_ca_file");
    assert!(err.problem.contains("holds no PEM certificate"), "{err}");
    let err = refused(&[("IDP_REDIS_URL", "rediss://redis.example"), ("IDP_REDIS_CLIENT_CERT_FILE", &client_cert)]);
    assert_eq!(err.setting, "redis_client_key_file");
    let err = refused(&[
        ("IDP_REDIS_URL", "rediss://redis.example"),
        ("IDP_REDIS_CLIENT_CERT_FILE", &client_cert),
        ("IDP_REDIS_CLIENT_KEY_FILE", &ca),
    ]);
    assert_eq!(err.setting, "redis_client_key_file");
    assert!(!from_env(&[]).unwrap().redis_require_safe_config, "a warning by default");
    let s = from_env(&[("IDP_REDIS_URL", "redis://r"), ("IDP_REDIS_REQUIRE_SAFE_CONFIG", "true")]).unwrap();
    assert!(s.redis_require_safe_config);
}

#[test]
fn metrics_listen_is_an_address_of_its_own() {
    assert_eq!(from_env(&[]).unwrap().metrics_listen, None);
    let s = from_env(&[("IDP_METRICS_LISTEN", "10.0.0.5:9100")]).unwrap();
    assert_eq!(s.metrics_listen.unwrap().to_string(), "10.0.0.5:9100");
    assert_eq!(refused(&[("IDP_METRICS_LISTEN", "metrics:9100")]).setting, "metrics_listen");
    let err = refused(&[("IDP_LISTEN", "127.0.0.1:9100"), ("IDP_METRICS_LISTEN", "127.0.0.1:9100")]);
    assert_eq!(err.problem, "must differ from listen and admin_listen");
}
