#![doc = include_str!("../README.md")]

mod block;
mod classify;
mod error;
mod event;
mod fees;
mod file_journal;
mod indexer;
mod indexer_store;
pub mod journal;
mod memory;
mod nonce;
pub mod preflight;
pub mod rpc;
mod submitter;

pub use alloy;
pub use block::{BlockRef, find_common_ancestor};
pub use classify::{SendErrorKind, classify_send_error};
pub use error::{BoxError, Causes, Error, Result};
pub use event::{EscrowEvent, EventMeta, IndexedEvent, SkipOutcome, decode_log, event_signatures};
pub use fees::{FeeMarket, FeePolicy, Fees};
pub use file_journal::FileJournal;
pub use indexer::{Indexer, IndexerConfig, IndexerStep};
pub use indexer_store::{BlockRange, IndexerStore};
pub use journal::{
    Inclusion, JournalOp, RequeueReason, SignedAttempt, TxId, TxIntent, TxJournal, TxRecord,
    TxState,
};
pub use memory::{MemoryIndexerStore, MemoryJournal};
pub use nonce::NonceManager;
pub use preflight::{Dropped, split_by_outcomes};
pub use submitter::{
    Checkpoint, CheckpointHook, SendKind, Submitter, SubmitterConfig, SubmitterEvent,
};
