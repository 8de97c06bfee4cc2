//! The README stays true: every setting documented in `src/config/` is in its table, and CI
//! never runs without the PostgreSQL + Redis half of the suite.

#[test]
fn the_readme_lists_every_setting_of_config_rs() {
    let config = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/config/mod.rs")).unwrap();
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

#[test]
fn under_ci_the_postgres_and_redis_backends_are_configured() {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        assert!(
            std::env::var("IDP_TEST_DATABASE_URL").is_ok() && std::env::var("IDP_TEST_REDIS_URL").is_ok(),
            "CI must run the suite on PostgreSQL + Redis too"
        );
    }
}
