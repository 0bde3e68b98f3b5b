//! In-memory [`TxJournal`] and [`IndexerStore`]: for tests and as the reference of the traits' rules.

use std::{
    collections::BTreeMap,
    sync::{Mutex, MutexGuard},
};

use alloy::primitives::{B256, Bytes};

use crate::{
    BlockRange, BlockRef, Error, IndexedEvent, IndexerStore, Result, TxId, TxJournal, TxRecord,
    TxState, journal::JournalOp,
};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave a half-applied change: every change is one assignment.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A [`TxJournal`] in memory (lost on exit).
#[derive(Debug, Default)]
pub struct MemoryJournal {
    records: Mutex<BTreeMap<TxId, TxRecord>>,
}

impl MemoryJournal {
    /// An empty journal.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every job, final ones included, in id order.
    pub fn all(&self) -> Vec<TxRecord> {
        lock(&self.records).values().cloned().collect()
    }

    /// One job.
    pub fn get(&self, id: TxId) -> Option<TxRecord> {
        lock(&self.records).get(&id).cloned()
    }
}

/// Shared by the provided journals: enqueue's rule.
pub(crate) fn enqueue_into(
    records: &mut BTreeMap<TxId, TxRecord>,
    id: TxId,
    calldata: Bytes,
) -> Result<bool> {
    match records.get(&id) {
        Some(existing) if existing.calldata == calldata => Ok(false),
        Some(_) => Err(Error::DuplicateTx(id.0)),
        None => {
            records.insert(
                id,
                TxRecord {
                    id,
                    calldata,
                    state: TxState::Queued,
                },
            );
            Ok(true)
        }
    }
}

impl TxJournal for MemoryJournal {
    async fn enqueue(&self, id: TxId, calldata: Bytes) -> Result<()> {
        enqueue_into(&mut lock(&self.records), id, calldata).map(drop)
    }

    async fn unfinished(&self) -> Result<Vec<TxRecord>> {
        Ok(lock(&self.records)
            .values()
            .filter(|r| !r.state.is_final())
            .cloned()
            .collect())
    }

    async fn apply(&self, id: TxId, op: JournalOp) -> Result<()> {
        let mut records = lock(&self.records);
        let record = records.get_mut(&id).ok_or(Error::UnknownTx(id.0))?;
        if let Some(next) = record.state.after(id, &op)? {
            record.state = next;
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
struct IndexerState {
    cursor: Option<BlockRef>,
    blocks: BTreeMap<u64, B256>,
    events: Vec<IndexedEvent>,
}

/// An [`IndexerStore`] in memory that keeps the applied events in a list ([`events`](Self::events)).
#[derive(Debug, Default)]
pub struct MemoryIndexerStore {
    state: Mutex<IndexerState>,
}

impl MemoryIndexerStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The applied events, in chain order.
    pub fn events(&self) -> Vec<IndexedEvent> {
        lock(&self.state).events.clone()
    }
}

fn show(cursor: Option<BlockRef>) -> String {
    cursor.map_or_else(|| "none".into(), |c| c.to_string())
}

impl IndexerStore for MemoryIndexerStore {
    async fn cursor(&self) -> Result<Option<BlockRef>> {
        Ok(lock(&self.state).cursor)
    }

    async fn recent_blocks(&self, limit: usize) -> Result<Vec<BlockRef>> {
        Ok(lock(&self.state)
            .blocks
            .iter()
            .rev()
            .take(limit)
            .map(|(&number, &hash)| BlockRef { number, hash })
            .collect())
    }

    async fn apply(&self, range: BlockRange) -> Result<()> {
        let mut state = lock(&self.state);
        if state.cursor == Some(range.to) {
            return Ok(());
        }
        if let Some(cursor) = state.cursor
            && cursor.number + 1 != range.from
        {
            return Err(Error::CursorMismatch {
                expected: format!("#{}", range.from.saturating_sub(1)),
                found: show(state.cursor),
            });
        }
        if range.to.number < range.from {
            return Err(Error::CursorMismatch {
                expected: format!("a range ending at or after #{}", range.from),
                found: range.to.to_string(),
            });
        }
        for block in &range.blocks {
            state.blocks.insert(block.number, block.hash);
        }
        state.blocks.insert(range.to.number, range.to.hash);
        state.events.extend(range.events);
        state.cursor = Some(range.to);
        Ok(())
    }

    async fn rewind(&self, to: BlockRef) -> Result<()> {
        let mut state = lock(&self.state);
        if state.cursor == Some(to) {
            return Ok(());
        }
        let remembered = state.blocks.get(&to.number) == Some(&to.hash);
        if !remembered || state.cursor.is_none_or(|c| c.number < to.number) {
            return Err(Error::CursorMismatch {
                expected: format!("a remembered block at or below the cursor: {to}"),
                found: show(state.cursor),
            });
        }
        state.events.retain(|e| e.meta.block_number <= to.number);
        state.blocks.retain(|&number, _| number <= to.number);
        state.cursor = Some(to);
        Ok(())
    }

    async fn prune_blocks(&self, below: u64) -> Result<()> {
        let mut state = lock(&self.state);
        let keep = state.cursor.map_or(below, |c| below.min(c.number));
        state.blocks.retain(|&number, _| number >= keep);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(number: u64, fork: u8) -> BlockRef {
        BlockRef::new(number, B256::repeat_byte(fork))
    }

    fn range(from: u64, to: BlockRef) -> BlockRange {
        BlockRange {
            from,
            to,
            blocks: vec![to],
            events: vec![],
        }
    }

    #[tokio::test]
    async fn indexer_store_rules() {
        let store = MemoryIndexerStore::new();
        assert_eq!(store.cursor().await.unwrap(), None);
        store.apply(range(10, block(12, 1))).await.unwrap();
        store.apply(range(10, block(12, 1))).await.unwrap(); // a retry: no-op
        store.apply(range(13, block(15, 1))).await.unwrap();
        assert_eq!(store.cursor().await.unwrap(), Some(block(15, 1)));
        // Not continuing the cursor.
        let gap = store.apply(range(17, block(18, 1))).await.unwrap_err();
        assert_eq!(gap.code(), "cursor_mismatch");
        assert_eq!(
            store.recent_blocks(5).await.unwrap(),
            [block(15, 1), block(12, 1)]
        );
        // Rewind only to a remembered block at or below the cursor.
        assert!(store.rewind(block(13, 1)).await.is_err());
        assert!(store.rewind(block(12, 2)).await.is_err());
        store.rewind(block(12, 1)).await.unwrap();
        store.rewind(block(12, 1)).await.unwrap();
        assert_eq!(store.recent_blocks(5).await.unwrap(), [block(12, 1)]);
        store.apply(range(13, block(14, 3))).await.unwrap();
        store.prune_blocks(14).await.unwrap();
        assert_eq!(store.recent_blocks(5).await.unwrap(), [block(14, 3)]);
        // Never the cursor's own hash.
        store.prune_blocks(100).await.unwrap();
        assert_eq!(store.recent_blocks(5).await.unwrap(), [block(14, 3)]);
    }
}
