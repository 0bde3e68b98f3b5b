//! The crate's one error type.

/// `Result` with this crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Everything that can go wrong in the relayer outside a request's own validation (which answers with
/// the API's [`ErrorCode`](piecepay_protocol::relayer_api::ErrorCode)s).
///
/// Each variant has a stable machine-readable [`code`](Error::code); the display text is for operators
/// and logs, never sent to clients.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration file or an environment override is invalid.
    #[error("configuration: {0}")]
    Config(String),

    /// The database failed (connection, query, constraint, migration).
    #[error("database: {0}")]
    Database(String),

    /// A stored row does not decode (a bug or a hand-edited database).
    #[error("corrupt record: {0}")]
    CorruptRecord(String),

    /// The store is not reachable any more (pool closed, committer stopped, shutting down).
    #[error("unavailable: {0}")]
    Unavailable(String),

    /// An I/O failure (reading a key or manifest file, binding a socket, serving HTTP).
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),

    /// The chain side (RPC, indexer, submitter) failed.
    #[error("chain: {0}")]
    Chain(String),
}

impl Error {
    /// The stable, machine-readable code of this error.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Config(_) => "config",
            Self::Database(_) => "database",
            Self::CorruptRecord(_) => "corrupt_record",
            Self::Unavailable(_) => "unavailable",
            Self::Io(_) => "io",
            Self::Chain(_) => "chain",
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::PoolClosed | sqlx::Error::PoolTimedOut => {
                Self::Unavailable(error.to_string())
            }
            other => Self::Database(other.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for Error {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        Self::Database(format!("migration failed: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_snake_case() {
        let all = [
            Error::Config(String::new()),
            Error::Database(String::new()),
            Error::CorruptRecord(String::new()),
            Error::Unavailable(String::new()),
            Error::Io(std::io::Error::other("x")),
            Error::Chain(String::new()),
        ];
        let mut codes: Vec<_> = all.iter().map(Error::code).collect();
        assert!(
            codes
                .iter()
                .all(|c| c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        );
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }
}
