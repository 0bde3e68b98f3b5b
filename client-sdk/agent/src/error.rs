//! The crate's one error type.

use std::path::PathBuf;

/// `Result` with this crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Everything the agent can fail with. Each variant has a stable [`code`](Error::code); the C ABI
/// reports it through `piecepay_last_error_code`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is wrong: a file that does not parse, a missing or contradictory key, a value
    /// out of range. Nothing was started.
    #[error("config {}: {reason}", path.as_ref().map_or_else(|| "(struct)".to_owned(), |p| p.display().to_string()))]
    Config {
        /// The file, when the configuration came from one.
        path: Option<PathBuf>,
        /// What is wrong, naming the key.
        reason: String,
    },

    /// The wallet could not be loaded: no key, a missing keystore, a wrong password.
    #[error("wallet: {0}")]
    Wallet(String),

    /// The deployment does not check out: the manifest does not parse, the RPC node or a relayer serves
    /// another chain or escrow.
    #[error("deployment: {0}")]
    Deployment(String),

    /// What the call needs is not configured or not reachable (no RPC node for a withdrawal, no chain
    /// and no relayer to check channels against).
    #[error("unavailable: {0}")]
    Unavailable(String),

    /// The SDK refused or failed (its code: the store's `storage`, the chain's revert codes, …).
    #[error(transparent)]
    Sdk(#[from] piecepay_sdk::Error),

    /// The agent's own database tables failed.
    #[error("storage: {0}")]
    Storage(#[source] sqlx::Error),

    /// The agent's runtime could not be started.
    #[error("runtime: {0}")]
    Runtime(#[source] std::io::Error),

    /// The agent is shutting down.
    #[error("the agent is shut down")]
    ShutDown,
}

impl Error {
    /// The stable, machine-readable code.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Config { .. } => "config",
            Self::Wallet(_) => "wallet",
            Self::Deployment(_) => "deployment",
            Self::Unavailable(_) => "unavailable",
            Self::Sdk(inner) => inner.code(),
            Self::Storage(_) => "storage",
            Self::Runtime(_) => "runtime",
            Self::ShutDown => "shut_down",
        }
    }

    pub(crate) fn config(path: Option<&std::path::Path>, reason: impl Into<String>) -> Self {
        Self::Config {
            path: path.map(std::path::Path::to_path_buf),
            reason: reason.into(),
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        Self::Storage(error)
    }
}
