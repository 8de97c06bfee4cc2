//! The README stays true: every setting the configuration structs take is documented in
//! `src/config/` and has a row in the README's table, and CI never runs without the PostgreSQL +
//! Redis half of the suite. The suite runs what it lists. What `deploy/` sets is a setting, and
//! its secrets stay out of the ConfigMap.

use std::collections::BTreeSet;

/// The settings documented with a ``/// `setting` / `IDP_ENV` `` line in `src/config/*.rs`.
fn documented_settings() -> BTreeSet<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/config");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .collect();
    files.sort();
    let mut documented = BTreeSet::new();
    for file in files {
        let source = std::fs::read_to_string(&file).unwrap();
        for line in source.lines().map(str::trim) {
            let Some(rest) = line.strip_prefix("/// `") else {
                continue;
            };
            let Some((setting, rest)) = rest.split_once("` / `") else {
                continue;
            };
            let Some((env, _)) = rest.split_once('`') else {
                continue;
            };
            assert_eq!(env, idp::config::env_name(setting), "env name of {setting} in {}", file.display());
            assert!(documented.insert(setting.to_owned()), "{setting} is documented twice");
        }
    }
    documented
}

fn every_setting_is_documented_in_src_config_and_in_the_readme() {
    let settings: BTreeSet<String> = idp::config::setting_keys().into_iter().collect();
    assert!(settings.len() >= 15, "found only {} settings", settings.len());
    assert_eq!(
        documented_settings(),
        settings,
        "the settings documented in src/config/ (left) against those the structs take (right)"
    );

    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for setting in &settings {
        let row = format!("| `{setting}` | `{}` |", idp::config::env_name(setting));
        assert!(readme.contains(&row), "README lacks {row}");
    }
    for row in readme.lines().filter(|line| line.starts_with("| `") && line.contains("| `IDP_")) {
        let setting = row.trim_start_matches("| `").split('`').next().unwrap();
        assert!(settings.contains(setting), "the README lists {setting}, which is no setting: {row}");
    }
    for variable in idp::config::NOT_SETTINGS {
        assert!(readme.contains(&format!("`{variable}`")), "README does not say {variable} is allowed");
    }
}

fn under_ci_the_postgres_and_redis_backends_are_configured() {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        assert!(
            std::env::var("IDP_TEST_DATABASE_URL").is_ok() && std::env::var("IDP_TEST_REDIS_URL").is_ok(),
            "CI must run the suite on PostgreSQL + Redis too"
        );
    }
}

/// The suite's binary has `harness = false`: a `#[test]` or `#[tokio::test]` function in it
/// would compile to nothing and never run, so every test is listed in `suite_tests!` instead.
fn every_test_of_the_suite_is_listed_for_the_runner_not_marked_for_libtest() {
    fn marked(dir: &std::path::Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                marked(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for (n, line) in text.lines().enumerate() {
                    let line = line.trim_start();
                    if line.starts_with("#[test") || line.starts_with("#[tokio::test") {
                        found.push(format!("{}:{}", path.display(), n + 1));
                    }
                }
            }
        }
    }
    let mut found = Vec::new();
    marked(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/suite"), &mut found);
    assert!(found.is_empty(), "list these in suite_tests! instead: {found:?}");
}

/// Every `IDP_*` name in the files under `dir`, with the file it was first seen in.
fn idp_variables_in(dir: &std::path::Path, found: &mut std::collections::BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            idp_variables_in(&path, found);
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        let mut rest = text.as_str();
        while let Some(at) = rest.find("IDP_") {
            let name: String =
                rest[at..].chars().take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_').collect();
            found.entry(name.clone()).or_insert_with(|| path.display().to_string());
            rest = &rest[at + name.len()..];
        }
    }
}

fn every_idp_variable_in_deploy_is_a_setting_and_secrets_stay_out_of_the_configmap() {
    let settings: BTreeSet<String> = idp::config::setting_keys().iter().map(|key| idp::config::env_name(key)).collect();
    let allowed = |name: &str| {
        settings.contains(name)
            || idp::config::NOT_SETTINGS.iter().any(|not| match not.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => name == *not,
            })
    };
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let mut found = std::collections::BTreeMap::new();
    idp_variables_in(&deploy, &mut found);
    assert!(found.contains_key("IDP_DATABASE_URL") && found.contains_key("IDP_KEYS_DIR"), "{found:?}");
    let unknown: Vec<String> =
        found.iter().filter(|(name, _)| !allowed(name)).map(|(name, file)| format!("{name} ({file})")).collect();
    assert!(unknown.is_empty(), "deploy/ sets variables that are no setting: {unknown:?}");

    let configmap = std::fs::read_to_string(deploy.join("kubernetes/configmap.yaml")).unwrap();
    for secret in ["IDP_DATABASE_URL:", "IDP_REDIS_URL:"] {
        assert!(!configmap.lines().any(|line| line.trim_start().starts_with(secret)), "{secret} in the ConfigMap");
    }
    // Every manifest is applied by the kustomization, except the Secrets' example.
    let kustomization = std::fs::read_to_string(deploy.join("kubernetes/kustomization.yaml")).unwrap();
    for entry in std::fs::read_dir(deploy.join("kubernetes")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".yaml") && name != "kustomization.yaml" {
            let listed = kustomization.lines().any(|line| line.trim() == format!("- {name}"));
            assert_eq!(listed, name != "secret.example.yaml", "{name} in kustomization.yaml's resources");
        }
    }
}

crate::suite_tests! {
    sync_test:
        every_idp_variable_in_deploy_is_a_setting_and_secrets_stay_out_of_the_configmap,
        every_setting_is_documented_in_src_config_and_in_the_readme,
        under_ci_the_postgres_and_redis_backends_are_configured,
        every_test_of_the_suite_is_listed_for_the_runner_not_marked_for_libtest;
}
