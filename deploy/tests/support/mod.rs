//! Shared by the integration tests: the deploy binary, typed reads.
#![allow(dead_code)] // each test file uses its own subset

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use alloy::{primitives::Address, providers::DynProvider};
use piecepay_deploy::{chain, devnet::anvil::DEFAULT_BIN};
use piecepay_protocol::alloy_sol_types::SolCall;

/// A read-only provider.
pub(crate) async fn provider(url: &str) -> DynProvider {
    chain::connect(url).await.unwrap()
}

/// `eth_call` of `call` on `to`.
pub(crate) async fn read<C: SolCall>(provider: &DynProvider, to: Address, call: C) -> C::Return {
    chain::call(provider, to, call).await.unwrap()
}

/// The result of running `piecepay-deploy`.
pub(crate) struct Run {
    /// Whether it exited 0.
    pub success: bool,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
}

impl Run {
    /// The stable code in its `error[code]: …` line, if it failed.
    pub(crate) fn code(&self) -> Option<&str> {
        let start = self.stderr.find("error[")? + "error[".len();
        let end = start + self.stderr[start..].find(']')?;
        Some(&self.stderr[start..end])
    }

    /// Asserts it failed with `code`.
    #[track_caller]
    pub(crate) fn assert_code(&self, code: &str) {
        assert!(
            !self.success && self.code() == Some(code),
            "expected error[{code}], got success={} stderr:\n{}",
            self.success,
            self.stderr
        );
    }

    /// Asserts it succeeded.
    #[track_caller]
    pub(crate) fn assert_ok(&self) {
        assert!(self.success, "failed; stderr:\n{}", self.stderr);
    }

    /// Asserts its stderr (progress and errors) says `text`.
    #[track_caller]
    pub(crate) fn assert_said(&self, text: &str) {
        assert!(
            self.stderr.contains(text),
            "{text:?} not in stderr:\n{}",
            self.stderr
        );
    }
}

/// Runs `piecepay-deploy` with `args` and `env` (the environment is otherwise cleared of
/// `PIECEPAY_*` variables so a developer's settings cannot leak in).
pub(crate) fn deploy_cli(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_piecepay-deploy"));
    for (key, _) in std::env::vars() {
        if key.starts_with("PIECEPAY_") {
            command.env_remove(key);
        }
    }
    command.args(args).envs(env.iter().copied());
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().expect("piecepay-deploy runs");
    Run {
        success: status.success(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// [`deploy_cli`] against the node at `url`, with the manifest in `dir`, then `more` arguments.
pub(crate) fn deploy_to(url: &str, dir: &Path, more: &[&str], env: &[(&str, &str)]) -> Run {
    let dir = dir.display().to_string();
    let args = [&["--rpc-url", url, "--deployments-dir", &dir][..], more].concat();
    deploy_cli(&args, env)
}

/// The cast binary of the pinned toolchain (it writes keystores the way Foundry users have them).
pub(crate) fn cast_bin() -> PathBuf {
    PathBuf::from(DEFAULT_BIN)
        .parent()
        .unwrap()
        .join("../../cast-linux-amd64/bin/cast")
}
