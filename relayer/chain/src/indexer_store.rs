//! [`IndexerStore`]: where the indexer keeps its cursor, the hashes it checks for reorgs, and the events it
//! applies.

use core::future::Future;

use serde::{Deserialize, Serialize};

use crate::{BlockRef, IndexedEvent, Result};

/// A contiguous range of blocks the indexer read, to apply in one transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRange {
    /// First block of the range: the cursor's number + 1 (or the start block on a fresh store).
    pub from: u64,
    /// Last block of the range: the new cursor.
    pub to: BlockRef,
    /// Hashes to remember for reorg detection: `to`, and every block of the range that has events (their
    /// hashes come with the logs). Ascending, no duplicates.
    pub blocks: Vec<BlockRef>,
    /// The escrow's events of the range, in chain order (block number, log index).
    pub events: Vec<IndexedEvent>,
}

/// The indexer's durable state. The node implements it over its database (events → channels, balances);
/// [`MemoryIndexerStore`](crate::MemoryIndexerStore) is provided for tests.
///
/// **Durability and atomicity**: [`apply`](Self::apply) and [`rewind`](Self::rewind) are each one
/// transaction: the events' effects, the remembered hashes and the cursor move together or not at all.
/// A crash between two calls loses nothing: the indexer resumes from the stored cursor.
///
/// **Ordering**: one indexer writes a store at a time. `apply` ranges are contiguous (`from` is the
/// cursor's number + 1), and the indexer only applies blocks at least its confirmation depth below the
/// head; a reorg deeper than that is handled by [`rewind`](Self::rewind).
///
/// **Idempotency**: `apply` of a range whose `to` equals the stored cursor (same number and hash) is a
/// no-op (a retry after a lost reply); any other range that does not continue the cursor is
/// [`Error::CursorMismatch`](crate::Error::CursorMismatch) with nothing changed. `rewind` to the
/// current cursor is a no-op.
pub trait IndexerStore: Send + Sync {
    /// The last applied block, `None` on a fresh store (the indexer then starts at its start block).
    fn cursor(&self) -> impl Future<Output = Result<Option<BlockRef>>> + Send;

    /// The remembered blocks at or below the cursor, newest first, at most `limit`. Includes the cursor.
    fn recent_blocks(&self, limit: usize) -> impl Future<Output = Result<Vec<BlockRef>>> + Send;

    /// Atomically applies `range.events` in order, remembers `range.blocks` and sets the cursor to
    /// `range.to`.
    fn apply(&self, range: BlockRange) -> impl Future<Output = Result<()>> + Send;

    /// Atomically undoes every event of the blocks above `to.number`, forgets their remembered hashes and
    /// sets the cursor to `to`, a remembered block (the common ancestor after a reorg). Undoing must give
    /// exactly the state as it was after `to` was applied (the node can keep its events per block and
    /// recompute the channels they touched). A `to` that is not remembered, or above the cursor, is
    /// [`Error::CursorMismatch`](crate::Error::CursorMismatch).
    fn rewind(&self, to: BlockRef) -> impl Future<Output = Result<()>> + Send;

    /// Forgets remembered hashes of blocks below `number` (never the cursor's, never events). The indexer
    /// calls it with `cursor − history`, so reorgs up to `history` blocks stay detectable.
    fn prune_blocks(&self, below: u64) -> impl Future<Output = Result<()>> + Send;
}

/// A shared store is a store.
impl<T: IndexerStore + ?Sized> IndexerStore for std::sync::Arc<T> {
    fn cursor(&self) -> impl Future<Output = Result<Option<BlockRef>>> + Send {
        (**self).cursor()
    }
    fn recent_blocks(&self, limit: usize) -> impl Future<Output = Result<Vec<BlockRef>>> + Send {
        (**self).recent_blocks(limit)
    }
    fn apply(&self, range: BlockRange) -> impl Future<Output = Result<()>> + Send {
        (**self).apply(range)
    }
    fn rewind(&self, to: BlockRef) -> impl Future<Output = Result<()>> + Send {
        (**self).rewind(to)
    }
    fn prune_blocks(&self, below: u64) -> impl Future<Output = Result<()>> + Send {
        (**self).prune_blocks(below)
    }
}
