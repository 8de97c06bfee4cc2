//! The README stays true: every setting the configuration structs take is documented in
//! `src/config/` and has a row in the README's table, and CI never runs without the PostgreSQL +
//! Redis half of the suite. The suite runs what it lists.

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

crate::suite_tests! {
    sync_test:
        every_setting_is_documented_in_src_config_and_in_the_readme,
        under_ci_the_postgres_and_redis_backends_are_configured,
        every_test_of_the_suite_is_listed_for_the_runner_not_marked_for_libtest;
}
