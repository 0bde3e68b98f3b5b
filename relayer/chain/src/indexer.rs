//! [`Indexer`]: follows the escrow's events into an [`IndexerStore`], `confirmations` behind the head,
//! rewinding on reorgs.

use core::{future::Future, time::Duration};
use std::collections::BTreeMap;

use alloy::{
    eips::BlockNumberOrTag,
    primitives::{Address, B256},
    providers::{DynProvider, Provider},
    rpc::types::Filter,
};
use serde::{Deserialize, Serialize};

use crate::{
    BlockRange, BlockRef, Error, IndexerStore, Result, decode_log, event_signatures,
    find_common_ancestor,
};

/// How the indexer follows the chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexerConfig {
    /// The escrow whose events are followed.
    pub escrow: Address,
    /// Where a fresh store starts: the escrow's deployment block (nothing before it can concern it).
    pub start_block: u64,
    /// A block is applied once `head − number ≥ confirmations` (0: the head itself).
    pub confirmations: u64,
    /// The most blocks one `eth_getLogs` covers (providers cap ranges; 1,000–10,000 is usual).
    pub max_range: u64,
    /// How many blocks below the cursor keep their remembered hash: the deepest reorg that can be undone.
    /// At least 1; make it well above the deepest reorg the chain has seen past `confirmations`.
    pub history: u64,
    /// Pause between rounds once caught up (and after an RPC error).
    pub poll_interval: Duration,
}

impl IndexerConfig {
    /// A config for `escrow` deployed at `start_block`: 2 confirmations, 2,000-block ranges, 128 blocks
    /// of history, a 1 s poll.
    pub fn new(escrow: Address, start_block: u64) -> Self {
        Self {
            escrow,
            start_block,
            confirmations: 2,
            max_range: 2_000,
            history: 128,
            poll_interval: Duration::from_secs(1),
        }
    }

    fn validate(&self) -> Result<()> {
        if self.max_range == 0 || self.history == 0 {
            return Err(Error::Config(
                "indexer max_range and history must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// What one [`Indexer::step`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexerStep {
    /// Applied blocks `from..=to.number` with `events` events.
    Applied {
        /// First block of the range.
        from: u64,
        /// Last block, the new cursor.
        to: BlockRef,
        /// How many escrow events the range held.
        events: usize,
    },
    /// The cursor's block was replaced: rewound from `from` to the common ancestor `to`.
    Rewound {
        /// The cursor before.
        from: BlockRef,
        /// The cursor now.
        to: BlockRef,
    },
    /// Nothing to apply yet: the next block is not `confirmations` deep.
    UpToDate {
        /// The chain head seen.
        head: u64,
    },
}

/// Follows the escrow's events from `start_block` into `S`.
#[derive(Debug)]
pub struct Indexer<S> {
    provider: DynProvider,
    store: S,
    config: IndexerConfig,
}

impl<S: IndexerStore> Indexer<S> {
    /// An indexer reading `provider` into `store`.
    pub fn new(provider: DynProvider, store: S, config: IndexerConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            provider,
            store,
            config,
        })
    }

    /// The store.
    pub const fn store(&self) -> &S {
        &self.store
    }

    /// The config.
    pub const fn config(&self) -> &IndexerConfig {
        &self.config
    }

    /// One round: checks the cursor's block is still canonical (rewinding if not), else applies the next
    /// range of confirmed blocks (at most `max_range`).
    pub async fn step(&self) -> Result<IndexerStep> {
        let cursor = self.store.cursor().await?;
        if let Some(cursor) = cursor
            && self.canonical_hash(cursor.number).await? != Some(cursor.hash)
        {
            return self.rewind(cursor).await;
        }
        let head = self
            .provider
            .get_block_number()
            .await
            .map_err(Error::rpc_of("eth_blockNumber"))?;
        let Some(target) = head.checked_sub(self.config.confirmations) else {
            return Ok(IndexerStep::UpToDate { head });
        };
        let from = cursor.map_or(self.config.start_block, |c| c.number + 1);
        if from > target {
            return Ok(IndexerStep::UpToDate { head });
        }
        let to_number = target.min(from.saturating_add(self.config.max_range - 1));
        let Some(to_hash) = self.canonical_hash(to_number).await? else {
            return Ok(IndexerStep::UpToDate { head });
        };
        let filter = Filter::new()
            .address(self.config.escrow)
            .event_signature(event_signatures())
            .from_block(from)
            .to_block(to_number);
        let logs = self
            .provider
            .get_logs(&filter)
            .await
            .map_err(Error::rpc_of("eth_getLogs"))?;
        // The logs are of the chain that had `to_hash` and the cursor both before and after they were
        // read; anything else raced a reorg and is read again next round.
        let still_to = self.canonical_hash(to_number).await?;
        let still_cursor = match cursor {
            Some(c) => self.canonical_hash(c.number).await? == Some(c.hash),
            None => true,
        };
        if still_to != Some(to_hash) || !still_cursor {
            tracing::info!(to_number, "chain moved while reading logs; reading again");
            return Ok(IndexerStep::UpToDate { head });
        }
        let to = BlockRef::new(to_number, to_hash);
        let mut events = Vec::with_capacity(logs.len());
        let mut blocks = BTreeMap::<u64, B256>::new();
        for log in &logs {
            if log.removed {
                continue;
            }
            if let Some(event) = decode_log(log)? {
                blocks.insert(event.meta.block_number, event.meta.block_hash);
                events.push(event);
            }
        }
        if blocks.get(&to_number).is_some_and(|&h| h != to_hash)
            || blocks.keys().any(|&n| n < from || n > to_number)
        {
            tracing::info!(to_number, "logs from another fork; reading again");
            return Ok(IndexerStep::UpToDate { head });
        }
        blocks.insert(to_number, to_hash);
        events.sort_by_key(|e| (e.meta.block_number, e.meta.log_index));
        let count = events.len();
        self.store
            .apply(BlockRange {
                from,
                to,
                blocks: blocks
                    .into_iter()
                    .map(|(number, hash)| BlockRef { number, hash })
                    .collect(),
                events,
            })
            .await?;
        self.store
            .prune_blocks(to_number.saturating_sub(self.config.history))
            .await?;
        Ok(IndexerStep::Applied {
            from,
            to,
            events: count,
        })
    }

    /// Runs [`step`](Self::step) until `shutdown` resolves: at once while catching up, every
    /// `poll_interval` once up to date. RPC and store errors are logged and retried; a reorg deeper than
    /// the history ([`Error::ReorgTooDeep`]) or a cursor mismatch ends the loop with the error.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> Result<()> {
        tokio::pin!(shutdown);
        loop {
            let pause = match self.step().await {
                Ok(IndexerStep::UpToDate { .. }) => true,
                Ok(IndexerStep::Applied { from, to, events }) => {
                    tracing::debug!(from, to = to.number, events, "indexed");
                    false
                }
                Ok(IndexerStep::Rewound { from, to }) => {
                    tracing::warn!(%from, %to, "reorg: rewound");
                    false
                }
                Err(e @ (Error::ReorgTooDeep { .. } | Error::CursorMismatch { .. })) => {
                    return Err(e);
                }
                Err(e) => {
                    tracing::warn!(code = e.code(), error = %e, "indexer round failed; retrying");
                    true
                }
            };
            if pause {
                tokio::select! {
                    () = &mut shutdown => return Ok(()),
                    () = tokio::time::sleep(self.config.poll_interval) => {}
                }
            } else {
                tokio::select! {
                    biased;
                    () = &mut shutdown => return Ok(()),
                    () = tokio::task::yield_now() => {}
                }
            }
        }
    }

    async fn rewind(&self, cursor: BlockRef) -> Result<IndexerStep> {
        let limit = usize::try_from(self.config.history.saturating_add(1)).unwrap_or(usize::MAX);
        let stored = self.store.recent_blocks(limit).await?;
        // Newest first, stopping at the first still-canonical block: few header fetches for a shallow
        // reorg.
        let mut canonical = BTreeMap::new();
        for block in &stored {
            let hash = self.canonical_hash(block.number).await?;
            canonical.insert(block.number, hash);
            if hash == Some(block.hash) {
                break;
            }
        }
        match find_common_ancestor(&stored, |n| canonical.get(&n).copied().flatten()) {
            Ok(Some(to)) => {
                self.store.rewind(to).await?;
                Ok(IndexerStep::Rewound { from: cursor, to })
            }
            // The cursor came back (a reorg and its undo between two reads): nothing to do.
            Ok(None) => Ok(IndexerStep::UpToDate {
                head: cursor.number,
            }),
            Err(oldest_checked) => Err(Error::ReorgTooDeep { oldest_checked }),
        }
    }

    async fn canonical_hash(&self, number: u64) -> Result<Option<B256>> {
        let header = self
            .provider
            .get_header_by_number(BlockNumberOrTag::Number(number))
            .await
            .map_err(Error::rpc_of("eth_getHeaderByNumber"))?;
        Ok(header.map(|h| h.hash))
    }
}
