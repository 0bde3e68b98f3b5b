//! The crate's one error type.

use std::{io::Write, path::PathBuf};

use alloy::primitives::{Address, B256};

/// `Result` with this crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Everything a deployment, a verification or a devnet can fail with.
///
/// Each variant has a stable machine-readable [`code`](Error::code) (printed by the binaries as
/// `error[code]: message`); the display text is for humans and may change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A command-line or configuration value that cannot work.
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// No deployer key: neither the environment variable nor a keystore was given.
    #[error("no deployer key: set {env} to a hex private key, or pass --keystore FILE")]
    KeyMissing {
        /// The environment variable that was looked at.
        env: String,
    },

    /// A private key that is not 32 bytes of hex, or not a valid secp256k1 scalar.
    #[error("invalid deployer key in {source_name}: {reason}")]
    KeyInvalid {
        /// Where the key came from (an environment variable name); never the key itself.
        source_name: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The keystore file could not be read or decrypted (wrong password, not a keystore).
    #[error("cannot decrypt keystore {path}: {reason}")]
    Keystore {
        /// The keystore file.
        path: PathBuf,
        /// alloy's reason.
        reason: String,
    },

    /// The JSON-RPC endpoint failed or answered something unusable.
    #[error("RPC {action} failed: {reason}")]
    Rpc {
        /// What was being done.
        action: String,
        /// The transport's or node's reason.
        reason: String,
    },

    /// A deployment or funding transaction was mined but reverted, or produced no contract.
    #[error("transaction {action} failed: {reason}")]
    TransactionFailed {
        /// What the transaction was for.
        action: String,
        /// Why (reverted, no contract address, …).
        reason: String,
    },

    /// An embedded forge artifact is unusable: a build problem, not a user one.
    #[error("embedded artifact {contract} is unusable: {reason}")]
    Artifact {
        /// The contract whose artifact it is.
        contract: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// A manifest file could not be read or written.
    #[error("manifest {path}: {source}")]
    ManifestIo {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },

    /// A manifest file that is not a valid manifest (bad JSON, unknown format, wrong chain).
    #[error("manifest {path} is invalid: {reason}")]
    ManifestInvalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// `--verify-only` against a chain that has no manifest.
    #[error("no manifest for chain {chain_id} at {path}: deploy first (without --verify-only)")]
    ManifestMissing {
        /// The chain asked about.
        chain_id: u64,
        /// Where the manifest was looked for.
        path: PathBuf,
    },

    /// A contract the manifest names has no code on the chain (e.g. a restarted anvil).
    #[error(
        "{contract} at {address} has no code on chain {chain_id}: the manifest describes a deployment this \
         chain does not have (a restarted devnet?); pass --replace to deploy again"
    )]
    ContractMissing {
        /// `token` or `escrow`.
        contract: &'static str,
        /// Its address in the manifest.
        address: Address,
        /// The chain.
        chain_id: u64,
    },

    /// The runtime code at an address is not the artifact's (immutables masked) or not the recorded code.
    #[error("{contract} at {address}: {reason}")]
    CodeMismatch {
        /// `token` or `escrow`.
        contract: &'static str,
        /// The address checked.
        address: Address,
        /// Where and how it differs.
        reason: String,
    },

    /// A contract's immutables or constructor-set values differ from what the manifest says.
    #[error("{contract} at {address}: {reason}")]
    ImmutableMismatch {
        /// `token` or `escrow`.
        contract: &'static str,
        /// The address checked.
        address: Address,
        /// Which value differs, expected and found.
        reason: String,
    },

    /// The manifest's deployment block is not on this chain any more (reset or reorganised chain).
    #[error(
        "deployment block {number} of the manifest has hash {found} on chain, not {expected}: the chain was \
         reset or reorganised; pass --replace to deploy again"
    )]
    BlockMismatch {
        /// The block number.
        number: u64,
        /// The hash the manifest recorded.
        expected: B256,
        /// The hash the chain has (zero if the block does not exist).
        found: B256,
    },

    /// The chain's EVM lacks what the build to deploy needs (no embedded build runs on it, or not the one
    /// asked for).
    #[error("chain {chain_id} cannot run the contracts: {reason}; nothing was deployed")]
    UnsupportedChain {
        /// The chain.
        chain_id: u64,
        /// What the builds need and what the chain lacks.
        reason: String,
    },

    /// The parameters asked for differ from the deployment the manifest describes.
    #[error("{0}; pass --replace to deploy anew with the new parameters")]
    ConfigConflict(String),

    /// The devnet's anvil could not be started or died.
    #[error("anvil: {0}")]
    Anvil(String),

    /// The devnet's relayer could not be started or died.
    #[error("relayer: {0}")]
    Relayer(String),

    /// Other local IO (state directories, config files).
    #[error("{action}: {source}")]
    Io {
        /// What was being done.
        action: String,
        /// The IO error.
        source: std::io::Error,
    },
}

impl Error {
    /// The stable machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidInput(_) => "invalid_input",
            Self::KeyMissing { .. } => "key_missing",
            Self::KeyInvalid { .. } => "key_invalid",
            Self::Keystore { .. } => "keystore",
            Self::Rpc { .. } => "rpc",
            Self::TransactionFailed { .. } => "transaction_failed",
            Self::Artifact { .. } => "artifact",
            Self::ManifestIo { .. } => "manifest_io",
            Self::ManifestInvalid { .. } => "manifest_invalid",
            Self::ManifestMissing { .. } => "manifest_missing",
            Self::ContractMissing { .. } => "contract_missing",
            Self::CodeMismatch { .. } => "code_mismatch",
            Self::ImmutableMismatch { .. } => "immutable_mismatch",
            Self::BlockMismatch { .. } => "block_mismatch",
            Self::UnsupportedChain { .. } => "unsupported_chain",
            Self::ConfigConflict(_) => "config_conflict",
            Self::Anvil(_) => "anvil",
            Self::Relayer(_) => "relayer",
            Self::Io { .. } => "io",
        }
    }

    /// An [`Error::Rpc`] for `action` from any displayable transport error.
    pub(crate) fn rpc(action: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Self::Rpc {
            action: action.into(),
            reason: reason.to_string(),
        }
    }

    /// An [`Error::Rpc`] for `action` whose reason is `error` and the errors that caused it (transport
    /// errors hide the useful part, "connection refused", in their sources).
    pub(crate) fn rpc_chain(action: impl Into<String>, error: &dyn std::error::Error) -> Self {
        let mut reason = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            let text = cause.to_string();
            if !reason.contains(&text) {
                reason.push_str(": ");
                reason.push_str(&text);
            }
            source = cause.source();
        }
        Self::Rpc {
            action: action.into(),
            reason,
        }
    }

    /// An [`Error::Io`] for `action`.
    pub(crate) fn io(action: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            action: action.into(),
            source,
        }
    }
}

/// How the deploy tool's binaries end: success, or one line `error[code]: …` on stderr (`code` is that of
/// the first deploy [`Error`] in the chain, `internal` otherwise) and a failure status. The line is written
/// whatever becomes of it: a closed stderr must not turn the error into a panic.
pub fn exit_code(result: anyhow::Result<()>) -> std::process::ExitCode {
    let Err(e) = result else {
        return std::process::ExitCode::SUCCESS;
    };
    let code = e.downcast_ref::<Error>().map_or("internal", Error::code);
    let _ = writeln!(std::io::stderr(), "error[{code}]: {e:#}");
    std::process::ExitCode::FAILURE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_snake_case() {
        let errors = [
            Error::InvalidInput(String::new()),
            Error::KeyMissing { env: String::new() },
            Error::ConfigConflict(String::new()),
            Error::Anvil(String::new()),
            Error::Relayer(String::new()),
            Error::rpc("x", "y"),
            Error::io("x", std::io::Error::other("y")),
        ];
        piecepay_test_support::assert_error_codes(errors.iter().map(Error::code));
    }
}
