//! The README stays true: every setting documented in `src/config.rs` is in its table, and CI
//! never runs without the PostgreSQL + Redis half of the suite. The suite runs what it lists.

fn the_readme_lists_every_setting_of_config_rs() {
    let config = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/config.rs")).unwrap();
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut documented = 0;
    for line in config.lines().map(str::trim) {
        let Some(rest) = line.strip_prefix("/// `") else {
            continue;
        };
        let Some((setting, rest)) = rest.split_once("` / `") else {
            continue;
        };
        let Some((env, _)) = rest.split_once('`') else {
            continue;
        };
        assert_eq!(env, idp::config::env_name(setting), "env name of {setting}");
        let row = format!("| `{setting}` | `{env}` |");
        assert!(readme.contains(&row), "README lacks {row}");
        documented += 1;
    }
    assert!(documented >= 15, "found only {documented} documented settings");
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
        the_readme_lists_every_setting_of_config_rs,
        under_ci_the_postgres_and_redis_backends_are_configured,
        every_test_of_the_suite_is_listed_for_the_runner_not_marked_for_libtest;
}
