//! How the suite's tests are registered with the runner (`libtest-mimic`; the test target has
//! `harness = false`, so `#[test]` would never run here).
//!
//! Each module lists its tests with [`suite_tests!`](crate::suite_tests), by kind:
//! - `on_each_backend`: `async fn(Backend)`, run as `<module>::sqlite_memory::<name>` and
//!   `<module>::postgres_redis::<name>`; the second is *ignored* (counted as such in the
//!   `test result:` line) when `IDP_TEST_DATABASE_URL` / `IDP_TEST_REDIS_URL` are unset.
//! - `on_postgres_redis`: `async fn()` that needs both, run as `<module>::postgres_redis::<name>`.
//! - `on_redis`: `async fn()` that needs Redis only, run as `<module>::redis::<name>`.
//! - `on_redis_server`: `async fn()` that starts its own `redis-server`s, run as
//!   `<module>::redis_server::<name>`; ignored without the binary.
//! - `async_test`: `async fn()` that needs nothing, run as `<module>::<name>`.
//! - `sync_test`: `fn()`, run as `<module>::<name>`.
//!
//! Every async test gets a multi-thread tokio runtime of its own with 2 workers, as
//! `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]` gives.

use std::future::Future;

use libtest_mimic::{Failed, Trial};

use super::{redis_url, Backend};

/// The tests of one module of the suite, named after it.
pub struct Module {
    name: &'static str,
}

impl Module {
    /// `module_path!()` of a suite module, e.g. `suite::dpop`: its tests are named `dpop::…`.
    pub fn of(module_path: &'static str) -> Self {
        let name = module_path.split_once("::").map_or(module_path, |(_, rest)| rest);
        Self { name }
    }

    fn name(&self, test: &str) -> String {
        format!("{}::{test}", self.name)
    }

    pub fn on_each_backend<F, Fut>(&self, name: &str, test: F) -> Vec<Trial>
    where
        F: FnOnce(Backend) -> Fut + Send + Copy + 'static,
        Fut: Future<Output = ()>,
    {
        vec![
            async_trial(self.name(&format!("sqlite_memory::{name}")), move || test(Backend::SqliteMemory)),
            async_trial(self.name(&format!("postgres_redis::{name}")), move || test(Backend::PostgresRedis))
                .with_ignored_flag(!Backend::PostgresRedis.available()),
        ]
    }

    pub fn on_postgres_redis<F, Fut>(&self, name: &str, test: F) -> Vec<Trial>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        let trial = async_trial(self.name(&format!("postgres_redis::{name}")), test);
        vec![trial.with_ignored_flag(!Backend::PostgresRedis.available())]
    }

    pub fn on_redis<F, Fut>(&self, name: &str, test: F) -> Vec<Trial>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        vec![async_trial(self.name(&format!("redis::{name}")), test).with_ignored_flag(redis_url().is_none())]
    }

    /// A test that starts redis-servers of its own (`common::redis_server`): ignored where no
    /// `redis-server` binary is on the `PATH`.
    pub fn on_redis_server<F, Fut>(&self, name: &str, test: F) -> Vec<Trial>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        let trial = async_trial(self.name(&format!("redis_server::{name}")), test);
        vec![trial.with_ignored_flag(!super::redis_server::available())]
    }

    pub fn async_test<F, Fut>(&self, name: &str, test: F) -> Vec<Trial>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        vec![async_trial(self.name(name), test)]
    }

    pub fn sync_test(&self, name: &str, test: fn()) -> Vec<Trial> {
        let name = self.name(name);
        vec![Trial::test(name.clone(), move || on_a_thread_named(name, test))]
    }
}

/// A test that runs `test()` to completion on a runtime of its own; a panic fails it.
fn async_trial<F, Fut>(name: String, test: F) -> Trial
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    Trial::test(name.clone(), move || {
        on_a_thread_named(name, move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a tokio runtime");
            runtime.block_on(test());
        })
    })
}

/// Runs `test` on a thread named after the test, as libtest does, so that a panic message
/// (printed as it happens, among other tests' output) says which test it comes from.
fn on_a_thread_named(name: String, test: impl FnOnce() + Send + 'static) -> Result<(), Failed> {
    let thread =
        std::thread::Builder::new().name(name).spawn(test).map_err(|e| format!("cannot start a thread: {e}"))?;
    thread.join().map_err(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("(not a string)");
        Failed::from(format!("test panicked: {message}"))
    })
}

/// Declares `pub fn tests() -> Vec<Trial>` for the module it stands in, listing its tests by
/// kind (see [`Module`]): `suite_tests! { on_each_backend: a, b; sync_test: c; }`.
#[macro_export]
macro_rules! suite_tests {
    ($($kind:ident: $($name:ident),+ $(,)?;)+) => {
        pub fn tests() -> Vec<libtest_mimic::Trial> {
            let module = $crate::common::harness::Module::of(module_path!());
            let mut trials = Vec::new();
            $($(trials.extend(module.$kind(stringify!($name), $name));)+)+
            trials
        }
    };
}
