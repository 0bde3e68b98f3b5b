//! The crate's one error type.

pub use piecepay_relayer_chain::Causes;

/// `Result` with this crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Everything that can go wrong in the relayer outside a request's own validation (which answers with
/// the API's [`ErrorCode`](piecepay_protocol::relayer_api::ErrorCode)s).
///
/// Each variant has a stable machine-readable [`code`](Error::code); the display text is for operators
/// and logs, never sent to clients. A variant that wraps another error keeps it as its
/// [`source`](std::error::Error::source) and shows its causes in its display text, so one line says what
/// failed and why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration file or an environment override is invalid, or the world does not match it
    /// (the RPC endpoint serves another chain, no escrow code at the configured address, …).
    #[error("configuration: {0}")]
    Config(String),

    /// The database cannot be reached at start: `target` names it (never the password).
    #[error("database {target} is unreachable: {}", Causes(.source))]
    DatabaseUnreachable {
        /// The database, as `postgres://user@host:port/name` or `sqlite://path`.
        target: String,
        /// Why (connection refused, authentication, TLS, a missing directory, …).
        #[source]
        source: sqlx::Error,
    },

    /// The database failed (query, constraint, connection lost).
    #[error("database: {}", Causes(.0))]
    Database(#[source] sqlx::Error),

    /// A migration failed.
    #[error("database migration: {}", Causes(.0))]
    Migration(#[source] sqlx::migrate::MigrateError),

    /// A write lost a race it checks for (a job or operation changed by someone else meanwhile): nothing
    /// was written.
    #[error("conflict: {0}")]
    Conflict(String),

    /// A stored row does not decode (a bug or a hand-edited database).
    #[error("corrupt record: {0}")]
    CorruptRecord(String),

    /// The store is not reachable any more (pool closed or exhausted, shutting down).
    #[error("unavailable: {}", Causes(.0))]
    Unavailable(#[source] sqlx::Error),

    /// An I/O failure (reading a key or manifest file, binding a socket, serving HTTP).
    #[error("i/o: {}", Causes(.0))]
    Io(#[from] std::io::Error),

    /// The chain side (RPC, indexer, submitter) failed.
    #[error("chain: {0}")]
    Chain(#[from] piecepay_relayer_chain::Error),

    /// A broken invariant of the relayer itself (a bug).
    #[error("internal: {0}")]
    Internal(String),
}

impl Error {
    /// The stable, machine-readable code of this error.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Config(_) => "config",
            Self::DatabaseUnreachable { .. } => "database_unreachable",
            Self::Database(_) | Self::Migration(_) => "database",
            Self::Conflict(_) => "conflict",
            Self::CorruptRecord(_) => "corrupt_record",
            Self::Unavailable(_) => "unavailable",
            Self::Io(_) => "io",
            Self::Chain(_) => "chain",
            Self::Internal(_) => "internal",
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::PoolClosed | sqlx::Error::PoolTimedOut => Self::Unavailable(error),
            other => Self::Database(other),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for Error {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        Self::Migration(error)
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn codes_are_distinct_snake_case() {
        let all = [
            Error::Config(String::new()),
            Error::DatabaseUnreachable {
                target: "postgres://x@y:5432/z".into(),
                source: sqlx::Error::PoolTimedOut,
            },
            Error::Database(sqlx::Error::RowNotFound),
            Error::Conflict(String::new()),
            Error::CorruptRecord(String::new()),
            Error::Unavailable(sqlx::Error::PoolClosed),
            Error::Io(std::io::Error::other("x")),
            Error::Chain(piecepay_relayer_chain::Error::UnknownTx(1)),
            Error::Internal(String::new()),
        ];
        piecepay_test_support::assert_error_codes(all.iter().map(Error::code));
    }

    #[test]
    fn sources_are_kept() {
        let error = Error::from(sqlx::Error::RowNotFound);
        assert_eq!(error.code(), "database");
        assert!(error.source().is_some());
        assert!(error.to_string().contains("no rows returned"), "{error}");
        let error = Error::from(piecepay_relayer_chain::Error::rpc(
            "eth_chainId",
            std::io::Error::other("connection refused"),
        ));
        assert_eq!(
            error.to_string(),
            "chain: rpc error: eth_chainId: connection refused"
        );
        assert_eq!(error.source().unwrap().to_string(), error.to_string()[7..]);
    }
}
