//! The defaults, in one place: what each setting is when neither the file nor the environment
//! sets it, written as an operator would write them (the README's table shows the same).

use super::raw::{
    RawClientAuth, RawDpop, RawKeys, RawRateLimits, RawRegistration, RawSessions, RawSettings, RawTokens,
};

impl Default for RawSettings {
    fn default() -> Self {
        Self {
            issuer: "http://127.0.0.1:8080".into(),
            listen: "127.0.0.1:8080".into(),
            admin_listen: None,
            admin_url: None,
            admin_group: "idp-admins".into(),
            metrics_listen: None,
            database_url: "sqlite://./data/idp.db".into(),
            database_pool_size: 10,
            redis_url: None,
            redis_prefix: "idp:".into(),
            redis_password_file: None,
            redis_ca_file: None,
            redis_client_cert_file: None,
            redis_client_key_file: None,
            redis_require_safe_config: false,
            keys_dir: "keys".into(),
            log: "info".into(),
            workers: None,
            keys: RawKeys {
                rotate_every: "30d".into(),
                publish_window: "1h".into(),
                jwks_max_age: "5m".into(),
                refresh_interval: "2s".into(),
            },
            tokens: RawTokens {
                access_token_lifetime: "10m".into(),
                id_token_lifetime: "1h".into(),
                refresh_token_idle_lifetime: "14d".into(),
                refresh_token_absolute_lifetime: "90d".into(),
                refresh_token_reuse_grace: "0s".into(),
                refresh_token_concurrency_window: "2s".into(),
            },
            dpop: RawDpop { require_nonce: true, proof_max_age: "5m".into() },
            sessions: RawSessions { idle_lifetime: "30m".into(), absolute_lifetime: "12h".into() },
            // Authlib, a widely used client library, signs assertions valid for 1 h by default.
            client_auth: RawClientAuth { assertion_max_lifetime: "1h".into() },
            registration: RawRegistration {
                enabled: false,
                allowed_grant_types: "authorization_code refresh_token".into(),
                allowed_scopes: "openid profile email offline_access".into(),
                allowed_resources: String::new(),
                allowed_redirect_schemes: "https http".into(),
            },
            trusted_proxies: String::new(),
            forwarded_header: "x-forwarded-for".into(),
            // Generous for real use (a service caches its tokens; a resource server that
            // introspects every call gets a thousand a second), tight for a loop.
            rate_limits: RawRateLimits {
                token: "6000/1m".into(),
                par: "600/1m".into(),
                introspection: "60000/1m".into(),
                revocation: "600/1m".into(),
                pages: "1200/1m".into(),
                client_auth_failures_per_client: "600/1m".into(),
                client_auth_failures_per_address: "100/1m".into(),
                sign_in_failures_per_address: "50/15m".into(),
            },
        }
    }
}

// A section written in part takes the rest from the table above.

impl Default for RawKeys {
    fn default() -> Self {
        RawSettings::default().keys
    }
}

impl Default for RawTokens {
    fn default() -> Self {
        RawSettings::default().tokens
    }
}

impl Default for RawDpop {
    fn default() -> Self {
        RawSettings::default().dpop
    }
}

impl Default for RawSessions {
    fn default() -> Self {
        RawSettings::default().sessions
    }
}

impl Default for RawRegistration {
    fn default() -> Self {
        RawSettings::default().registration
    }
}

impl Default for RawClientAuth {
    fn default() -> Self {
        RawSettings::default().client_auth
    }
}

impl Default for RawRateLimits {
    fn default() -> Self {
        RawSettings::default().rate_limits
    }
}
