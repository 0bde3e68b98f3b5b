//! The crate's one error type, with stable machine-readable codes.

use std::{error::Error as StdError, fmt};

use alloy::primitives::B256;

/// Boxed error of a storage backend (sqlx, IO, …) or of an RPC call, kept as an [`Error`]'s source.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Everything that can go wrong on the relayer's chain side.
///
/// Every variant that wraps another error keeps it as its [`source`](StdError::source) and shows its
/// causes in its display text, so one line (`%error` in a log, `{error}` in a message) says what failed
/// and why: `rpc error: eth_chainId: error sending request …: tcp connect error: Connection refused`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The JSON-RPC endpoint failed or answered something unusable (connection refused, timeout, HTTP
    /// error, an error response not covered by a more precise variant, return data that does not
    /// decode). Transient: retry later.
    #[error("rpc error: {what}: {}", crate::rpc::redact(&Causes(&**.source).to_string()))]
    Rpc {
        /// The call (`eth_getLogs`, `settleBatch pre-flight`, …).
        what: String,
        /// The transport's or decoder's error.
        #[source]
        source: BoxError,
    },
    /// A storage backend (the node's database, a journal file) failed. The operation did not happen.
    #[error("store error: {}", Causes(&**.0))]
    Store(#[source] BoxError),
    /// A transition the journal refuses: `id` is not in a state from which `operation` is allowed.
    #[error("transaction {id}: cannot {operation} from state {state}")]
    InvalidTransition {
        /// The job.
        id: u64,
        /// The journal operation attempted (`record_intent`, `mark_included`, …).
        operation: &'static str,
        /// The job's current state name ([`crate::TxState::name`]).
        state: &'static str,
    },
    /// No job with this id in the journal.
    #[error("unknown transaction {0}")]
    UnknownTx(u64),
    /// A job id that is already used, with different calldata.
    #[error("transaction {0} already exists with other calldata")]
    DuplicateTx(u64),
    /// The indexer store's cursor is not where an operation expected it (an apply that does not continue
    /// the cursor, a rewind above it): two indexers on one store, or a store bug.
    #[error("indexer cursor mismatch: expected {expected}, found {found}")]
    CursorMismatch {
        /// What the caller expected (`from - 1` of an apply, the rewind target).
        expected: String,
        /// What the store holds.
        found: String,
    },
    /// A reorg deeper than the block hashes the indexer store keeps: no stored block is still canonical.
    /// Needs an operator (re-index from the deployment block, or raise the history kept).
    #[error("reorg deeper than the stored block history (oldest checked: block {oldest_checked})")]
    ReorgTooDeep {
        /// The oldest stored block that was checked and found replaced.
        oldest_checked: u64,
    },
    /// An escrow log that does not decode as the event its topic names.
    #[error("undecodable escrow log in tx {tx_hash} (log {log_index}): {reason}")]
    BadLog {
        /// The transaction that emitted it.
        tx_hash: B256,
        /// Its index in the block.
        log_index: u64,
        /// What failed.
        reason: String,
    },
    /// A call the escrow refuses (pre-flight `eth_call` or gas estimation reverted), with its revert data.
    #[error("call reverted: 0x{}", alloy::primitives::hex::encode(.data))]
    Reverted {
        /// The revert data (an escrow custom error, decodable with the protocol crate's bindings).
        data: alloy::primitives::Bytes,
    },
    /// The node rejected a transaction for a reason no retry fixes as is (insufficient funds for gas,
    /// intrinsic gas too low, …); the submitter keeps the job and tries again later.
    #[error("transaction rejected: {0}")]
    TxRejected(String),
    /// A configuration value out of range (fee bump below 10 %, zero gas cap, …).
    #[error("invalid config: {0}")]
    Config(String),
    /// The signer's key is not usable.
    #[error("invalid signer key")]
    InvalidKey,
}

impl Error {
    /// A stable snake_case code for logs, metrics and APIs.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Rpc { .. } => "rpc",
            Self::Store(_) => "store",
            Self::InvalidTransition { .. } => "invalid_transition",
            Self::UnknownTx(_) => "unknown_tx",
            Self::DuplicateTx(_) => "duplicate_tx",
            Self::CursorMismatch { .. } => "cursor_mismatch",
            Self::ReorgTooDeep { .. } => "reorg_too_deep",
            Self::BadLog { .. } => "bad_log",
            Self::Reverted { .. } => "reverted",
            Self::TxRejected(_) => "tx_rejected",
            Self::Config(_) => "config",
            Self::InvalidKey => "invalid_key",
        }
    }

    /// Wraps a storage backend's error: what an [`IndexerStore`](crate::IndexerStore) or
    /// [`TxJournal`](crate::TxJournal) implementation returns when its database fails.
    pub fn store(error: impl Into<BoxError>) -> Self {
        Self::Store(error.into())
    }

    /// An [`Error::Rpc`] of the call `what`, caused by `source` (a transport error, a decoding error, or a
    /// message saying what was wrong with the answer).
    pub fn rpc(what: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Rpc {
            what: what.into(),
            source: source.into(),
        }
    }

    /// `map_err` adapter: an [`Error::Rpc`] of the call `what`.
    pub(crate) fn rpc_of<E: Into<BoxError>>(what: &'static str) -> impl FnOnce(E) -> Self {
        move |source| Self::rpc(what, source)
    }
}

/// Displays an error and its sources as one line, `error: cause: cause of cause`, leaving out a cause
/// whose text the line already holds (many errors repeat their source's message in their own).
#[derive(Clone, Copy)]
pub struct Causes<'a>(pub &'a (dyn StdError + 'static));

impl fmt::Display for Causes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut line = self.0.to_string();
        let mut cause = self.0.source();
        while let Some(error) = cause {
            let text = error.to_string();
            if !text.is_empty() && !line.contains(&text) {
                line.push_str(": ");
                line.push_str(&text);
            }
            cause = error.source();
        }
        f.write_str(&line)
    }
}

impl fmt::Debug for Causes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_snake_case() {
        let errors = [
            Error::rpc("eth_chainId", "x"),
            Error::store(std::io::Error::other("disk")),
            Error::InvalidTransition {
                id: 1,
                operation: "mark_included",
                state: "queued",
            },
            Error::UnknownTx(1),
            Error::DuplicateTx(1),
            Error::CursorMismatch {
                expected: "1".into(),
                found: "2".into(),
            },
            Error::ReorgTooDeep { oldest_checked: 3 },
            Error::BadLog {
                tx_hash: B256::ZERO,
                log_index: 0,
                reason: "x".into(),
            },
            Error::Reverted {
                data: vec![1].into(),
            },
            Error::TxRejected("x".into()),
            Error::Config("x".into()),
            Error::InvalidKey,
        ];
        piecepay_test_support::assert_error_codes(errors.iter().map(Error::code));
        assert!(errors.iter().all(|e| !e.to_string().is_empty()));
    }

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn sources_are_kept_and_shown_once() {
        let error = Error::rpc("eth_chainId", Outer(std::io::Error::other("refused")));
        assert_eq!(error.to_string(), "rpc error: eth_chainId: outer: refused");
        let source = StdError::source(&error).expect("the cause is kept");
        assert_eq!(source.to_string(), "outer");
        // A cause already in the text is not repeated.
        let error = Error::store(std::io::Error::other("disk full"));
        assert_eq!(error.to_string(), "store error: disk full");
    }
}
