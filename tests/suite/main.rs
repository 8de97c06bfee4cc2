//! The integration suite, one test binary (linked once): every module below is a former
//! `tests/<module>.rs`, and `common` is the harness they share.
//!
//! `harness = false` (Cargo.toml) with `libtest-mimic` as the runner, so that a test that cannot
//! run here (the PostgreSQL + Redis half without `IDP_TEST_DATABASE_URL` / `IDP_TEST_REDIS_URL`)
//! is reported as *ignored* rather than passing. The usual arguments work: a name filter
//! (`cargo test -- dpop::`), `--exact`, `--skip`, `--ignored`, `--include-ignored`, `--list`,
//! `--test-threads` (or `RUST_TEST_THREADS`).

mod common;

mod admin;
mod admin_ops;
mod admin_users;
mod architecture;
mod authorization_code;
mod deploy;
mod docs;
mod dpop;
mod durable;
mod foundation;
mod groups;
mod hot_store;
mod interop;
mod introspection;
mod kek;
mod logout;
mod par;
mod rate_limits;
mod redis_production;
mod refresh;
mod registration;
mod scim;
mod startup;
mod tokens;
mod users;
mod verify;

fn main() {
    let mut args = libtest_mimic::Arguments::from_args();
    if args.test_threads.is_none() {
        args.test_threads = std::env::var("RUST_TEST_THREADS").ok().and_then(|n| n.parse().ok());
    }
    let mut trials: Vec<libtest_mimic::Trial> = [
        admin::tests(),
        admin_users::tests(),
        admin_ops::tests(),
        architecture::tests(),
        authorization_code::tests(),
        deploy::tests(),
        docs::tests(),
        dpop::tests(),
        durable::tests(),
        foundation::tests(),
        groups::tests(),
        hot_store::tests(),
        interop::tests(),
        kek::tests(),
        introspection::tests(),
        logout::tests(),
        par::tests(),
        rate_limits::tests(),
        redis_production::tests(),
        refresh::tests(),
        registration::tests(),
        scim::tests(),
        startup::tests(),
        tokens::tests(),
        users::tests(),
        verify::tests(),
    ]
    .into_iter()
    .flatten()
    .collect();
    trials.sort_by(|a, b| a.name().cmp(b.name()));
    if !common::Backend::PostgresRedis.available() && !args.list {
        eprintln!(
            "note: the PostgreSQL + Redis tests are ignored: set IDP_TEST_DATABASE_URL and IDP_TEST_REDIS_URL to run them"
        );
    }
    libtest_mimic::run(&args, trials).exit();
}
