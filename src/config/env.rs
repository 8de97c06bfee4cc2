//! The environment layer: `IDP_SECTION__KEY=value` sets `key` of `[section]`, and `IDP_KEY=value`
//! a top-level key, on the TOML tree read from the file, before that tree is deserialized. A
//! value is typed by the field it lands in (see [`Kind`]); a variable naming no setting is refused.

use super::schema::{self, Kind, Setting};
use super::{env_name, ConfigError};

/// Every variable starting with this is a setting, or one of [`NOT_SETTINGS`].
pub const PREFIX: &str = "IDP_";

/// `IDP_*` variables that are not settings but are read elsewhere on purpose; a trailing `*`
/// allows a prefix. Any other `IDP_*` variable that names no setting stops start.
pub const NOT_SETTINGS: &[&str] = &[
    // The configuration file itself (`Settings::load`).
    "IDP_CONFIG",
    // examples/resource_server.rs: where the provider's JWKS is, when not under the issuer.
    "IDP_JWKS_URI",
    // `idp admin call`: the admin client's credentials (src/cli/admin.rs).
    "IDP_ADMIN_CLIENT_ID",
    "IDP_ADMIN_CLIENT_SECRET",
    // The test suite's backends and switches (tests/suite/common, tests/suite/interop.rs, .ci/run), set in
    // the environment the tests start the binary in.
    "IDP_TEST_*",
];

fn is_not_a_setting(name: &str) -> bool {
    NOT_SETTINGS.iter().any(|allowed| match allowed.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == *allowed,
    })
}

/// Sets every `IDP_*` variable in `env` on `tree`, in order (a later duplicate wins).
pub(super) fn overlay(
    tree: &mut toml::Table,
    env: &[(String, String)],
    settings: &[Setting],
) -> Result<(), ConfigError> {
    for (name, value) in env {
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        if is_not_a_setting(name) {
            continue;
        }
        let key = rest.to_ascii_lowercase().replace("__", ".");
        let setting = match settings.iter().find(|s| s.key == key) {
            Some(setting) if env_name(&setting.key) == *name => setting,
            _ => return Err(unknown_variable(name, &key, settings)),
        };
        set(tree, &setting.key, typed(setting, value)?);
    }
    Ok(())
}

/// The environment's text as the value its field takes: the syntax each kind accepts.
fn typed(setting: &Setting, value: &str) -> Result<toml::Value, ConfigError> {
    Ok(match setting.kind {
        Kind::Text => toml::Value::String(value.to_owned()),
        Kind::Integer => toml::Value::Integer(
            value
                .trim()
                .parse()
                .map_err(|_| ConfigError::new(&setting.key, format!("must be a whole number, got {value}")))?,
        ),
        Kind::Bool => toml::Value::Boolean(match value.trim() {
            "true" | "1" => true,
            "false" | "0" => false,
            other => return Err(ConfigError::new(&setting.key, format!("must be true or false, got {other}"))),
        }),
        Kind::NumberOrText => match value.trim().parse() {
            Ok(n) => toml::Value::Integer(n),
            Err(_) => toml::Value::String(value.to_owned()),
        },
    })
}

/// `tokens.access_token_lifetime` = `value`, making the `[tokens]` table if the file has none. A
/// section the file holds as something other than a table is left for the file's own check.
fn set(tree: &mut toml::Table, key: &str, value: toml::Value) {
    let mut table = tree;
    let mut parts: Vec<&str> = key.split('.').collect();
    let Some(leaf) = parts.pop() else {
        return;
    };
    for section in parts {
        match table.entry(section).or_insert_with(|| toml::Value::Table(toml::Table::new())) {
            toml::Value::Table(inner) => table = inner,
            _ => return,
        }
    }
    table.insert(leaf.to_owned(), value);
}

fn unknown_variable(name: &str, key: &str, settings: &[Setting]) -> ConfigError {
    let problem = if settings.iter().any(|s| s.key.starts_with(&format!("{key}."))) {
        format!("names the section [{key}], not a setting; its settings are {name}__KEY")
    } else if let Some(meant) = schema::nearest(key, settings) {
        format!("no setting has this name; did you mean `{}` (setting `{}`)?", env_name(&meant.key), meant.key)
    } else {
        format!("no setting has this name, and the other IDP_* variables are {}", NOT_SETTINGS.join(", "))
    };
    ConfigError { setting: name.to_owned(), problem }
}
