#![doc = include_str!("../README.md")]

pub mod anvil;
pub mod chain;
pub mod journal;
pub mod keys;
pub mod postgres;
pub mod relayer;
pub mod submitter;

use std::{
    io::{BufRead, BufReader, Read},
    path::Path,
    time::Duration,
};

pub use tempfile::TempDir;

/// How often [`wait_for`] checks its condition.
const POLL: Duration = Duration::from_millis(50);

/// Checks `check` every 50 ms until it returns `Some`, and returns that; panics naming `what` if it has
/// not within `timeout`. The way tests wait for another process or task: on a condition, never a sleep.
///
/// ```no_run
/// # async fn example(settled: impl AsyncFn() -> u128) {
/// use std::time::Duration;
///
/// let total = piecepay_test_support::wait_for("the settlement", Duration::from_secs(30), async || {
///     Some(settled().await).filter(|total| *total >= 100)
/// })
/// .await;
/// # }
/// ```
pub async fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// The address in `line` if it is what a started service prints first once it accepts connections:
/// `listening on ADDRESS` (the relayer's `run`, the agent's `serve`).
pub fn listening_address(line: &str) -> Option<&str> {
    line.trim().strip_prefix("listening on ")
}

/// Reads the first line a started service writes to `stdout` and returns the address it listens on;
/// panics with that line, then `context()` (e.g. the service's log), if it says anything else.
pub fn read_listening_address(stdout: impl Read, context: impl FnOnce() -> String) -> String {
    let mut line = String::new();
    // A read error leaves `line` empty: reported below with the context.
    let _ = BufReader::new(stdout).read_line(&mut line);
    match listening_address(&line) {
        Some(address) => address.to_owned(),
        None => panic!(
            "the service did not start: its first line was {line:?}\n{}",
            context()
        ),
    }
}

/// A fresh directory under the system's temp dir (`piecepay-…`), removed with its contents on drop.
pub fn temp_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("piecepay-")
        .tempdir()
        .expect("a temp dir")
}

/// The `sqlite://` URL of database file `name` in `dir`.
pub fn sqlite_url(dir: &Path, name: &str) -> String {
    format!("sqlite://{}", dir.join(name).display())
}

/// Asserts the rule of stable error codes on one error type's codes (one per variant): each is
/// snake_case, and no two are the same.
///
/// ```
/// piecepay_test_support::assert_error_codes(["timed_out", "not_found"]);
/// ```
pub fn assert_error_codes<'a>(codes: impl IntoIterator<Item = &'a str>) {
    let mut seen = std::collections::BTreeSet::new();
    for code in codes {
        assert!(
            !code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "error code {code:?} is not snake_case"
        );
        assert!(seen.insert(code), "error code {code:?} is used twice");
    }
}
