//! [`IndexerStore`] on the node's database: the escrow's events become the `channels` and `payees` rows the
//! API and the batcher read, and gasless operations learn whether they were applied.
//!
//! Every applied event is also kept in `chain_events` (a channel's events as [`ChannelEffect`]s, one row
//! per channel, the others as the decoded event), so a reorg is undone exactly: the events above the
//! common ancestor are deleted and each channel they touched is recomputed from its remaining effects.
//!
//! The cursor lives in `relayer_meta` (`indexer_cursor` = `number:hash`) and is moved with a
//! compare-and-set inside each transaction, so two indexers on one database (a leader that has not
//! noticed it lost its lock yet) can never both apply a range.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use piecepay_protocol::{
    alloy_primitives::{Address, B256},
    relayer_api::ChannelState,
    settle_batch::SettledGroup,
};
use piecepay_relayer_chain::{
    BlockRange, BlockRef, EscrowEvent, IndexedEvent, IndexerStore, Result as ChainResult,
};
use serde::{Deserialize, Serialize};
// Dynamic SQL here only varies in its count of `$n` placeholders; values are always bound.
use sqlx::AssertSqlSafe;

use super::{
    ChannelRecord, Store,
    channels::{bind_channel, upsert_sql},
    codec, with_pool,
};
use crate::{Error, Result};

/// `relayer_meta` name of the indexer's cursor.
const CURSOR: &str = "indexer_cursor";

/// What an event does to one channel: enough to rebuild the channel from its effects alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum ChannelEffect {
    /// `ChannelOpened`.
    Opened {
        /// The payer.
        payer: Address,
        /// The payee.
        payee: Address,
        /// The salt.
        salt: u32,
        /// The deposit.
        #[serde(with = "piecepay_protocol::amount::decimal")]
        deposit: u128,
    },
    /// `ChannelToppedUp`: the new total deposit.
    ToppedUp {
        /// The new total.
        #[serde(with = "piecepay_protocol::amount::decimal")]
        deposit: u128,
    },
    /// An entry of `ReceiptsSettled`: the new settled total.
    Settled {
        /// The new settled total.
        #[serde(with = "piecepay_protocol::amount::decimal")]
        settled: u128,
    },
    /// `CloseRequested`.
    CloseRequested {
        /// End of the challenge window.
        closes_at: u64,
    },
    /// `ChannelClosed`: the final settled total.
    Closed {
        /// The final settled total.
        #[serde(with = "piecepay_protocol::amount::decimal")]
        settled: u128,
    },
}

impl ChannelEffect {
    /// The effects of `event` on channels: `(channel id, effect)` in the event's order.
    pub fn of(event: &EscrowEvent) -> Vec<(B256, Self)> {
        match event {
            EscrowEvent::ChannelOpened {
                channel_id,
                payer,
                payee,
                salt,
                deposit,
                ..
            } => vec![(
                *channel_id,
                Self::Opened {
                    payer: *payer,
                    payee: *payee,
                    salt: *salt,
                    deposit: *deposit,
                },
            )],
            EscrowEvent::ChannelToppedUp {
                channel_id,
                deposit,
                ..
            } => vec![(*channel_id, Self::ToppedUp { deposit: *deposit })],
            EscrowEvent::ReceiptsSettled { groups } => groups
                .iter()
                .flat_map(SettledGroup::channels)
                .map(|c| (c.channel_id, Self::Settled { settled: c.settled }))
                .collect(),
            EscrowEvent::CloseRequested {
                channel_id,
                closes_at,
                ..
            } => vec![(
                *channel_id,
                Self::CloseRequested {
                    closes_at: *closes_at,
                },
            )],
            EscrowEvent::ChannelClosed {
                channel_id,
                settled,
                ..
            } => vec![(*channel_id, Self::Closed { settled: *settled })],
            _ => Vec::new(),
        }
    }

    /// The channel after this effect in `block`. A channel the indexer never saw opened stays unknown
    /// (it was opened before the start block: the node cannot know its parties, so it ignores it).
    pub fn apply(
        self,
        channel_id: B256,
        channel: Option<ChannelRecord>,
        block: u64,
    ) -> Option<ChannelRecord> {
        if let Self::Opened {
            payer,
            payee,
            salt,
            deposit,
        } = self
        {
            return Some(ChannelRecord::opened(
                channel_id, payer, payee, salt, deposit, block,
            ));
        }
        let mut channel = channel?;
        match self {
            Self::Opened { .. } => {}
            Self::ToppedUp { deposit } => channel.deposit = deposit,
            Self::Settled { settled } => channel.settled = channel.settled.max(settled),
            Self::CloseRequested { closes_at } => {
                channel.state = ChannelState::Closing;
                channel.closes_at = Some(closes_at);
            }
            Self::Closed { settled } => {
                channel.state = ChannelState::Closed;
                channel.settled = settled;
            }
        }
        channel.updated_block = block;
        Some(channel)
    }
}

/// A row of `chain_events`.
struct EventRow {
    block_number: u64,
    log_index: u64,
    sub_index: u64,
    block_hash: B256,
    tx_hash: B256,
    kind: &'static str,
    channel_id: Option<B256>,
    account: Option<Address>,
    body: String,
}

fn kind(event: &EscrowEvent) -> &'static str {
    match event {
        EscrowEvent::Deposited { .. } => "deposited",
        EscrowEvent::Withdrawn { .. } => "withdrawn",
        EscrowEvent::FeesCollected { .. } => "fees_collected",
        EscrowEvent::SettleFeeCapSet { .. } => "settle_fee_cap_set",
        EscrowEvent::ChannelOpened { .. } => "channel_opened",
        EscrowEvent::ChannelToppedUp { .. } => "channel_topped_up",
        EscrowEvent::ReceiptsSettled { .. } => "receipts_settled",
        EscrowEvent::ReceiptSkipped { .. } => "receipt_skipped",
        EscrowEvent::CloseRequested { .. } => "close_requested",
        EscrowEvent::ChannelClosed { .. } => "channel_closed",
        EscrowEvent::AuthorizationSkipped { .. } => "authorization_skipped",
    }
}

fn json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Internal(format!("encoding an event: {e}")))
}

/// The `chain_events` rows of one event: one per channel effect, or one with the event itself.
fn rows_of(event: &IndexedEvent) -> Result<Vec<EventRow>> {
    let meta = event.meta;
    let row = |sub_index: usize, channel_id, account, body| EventRow {
        block_number: meta.block_number,
        log_index: meta.log_index,
        sub_index: sub_index as u64,
        block_hash: meta.block_hash,
        tx_hash: meta.tx_hash,
        kind: kind(&event.event),
        channel_id,
        account,
        body,
    };
    let effects = ChannelEffect::of(&event.event);
    if !effects.is_empty() {
        return effects
            .iter()
            .enumerate()
            .map(|(i, (id, effect))| Ok(row(i, Some(*id), None, json(effect)?)))
            .collect();
    }
    let account = match &event.event {
        EscrowEvent::Deposited { account, .. } | EscrowEvent::Withdrawn { account, .. } => {
            Some(*account)
        }
        EscrowEvent::FeesCollected { relayer, .. } => Some(*relayer),
        EscrowEvent::SettleFeeCapSet { payee, .. } => Some(*payee),
        _ => None,
    };
    let channel_id = match &event.event {
        EscrowEvent::ReceiptSkipped { channel_id, .. } => Some(*channel_id),
        _ => None,
    };
    Ok(vec![row(0, channel_id, account, json(&event.event)?)])
}

fn parse_cursor(text: &str) -> Result<BlockRef> {
    let corrupt = || codec::corrupt("relayer_meta.indexer_cursor");
    let (number, hash) = text.split_once(':').ok_or_else(corrupt)?;
    Ok(BlockRef::new(
        number.parse().map_err(|_| corrupt())?,
        hash.parse().map_err(|_| corrupt())?,
    ))
}

fn show_cursor(cursor: Option<BlockRef>) -> String {
    cursor.map_or_else(|| "none".to_owned(), |c| c.to_string())
}

fn cursor_text(cursor: BlockRef) -> String {
    format!("{}:{}", cursor.number, cursor.hash)
}

fn store_error(error: impl Into<Error>) -> piecepay_relayer_chain::Error {
    piecepay_relayer_chain::Error::store(error.into())
}

/// `chain_events` columns a rewind reads: channel id, account, kind.
type TouchRow = (Option<Vec<u8>>, Option<Vec<u8>>, String);

/// What one apply or rewind writes, computed before its transaction.
#[derive(Default)]
struct Writes {
    /// Cursor before (compare-and-set) and after.
    from: Option<BlockRef>,
    to: Option<BlockRef>,
    /// Events above this block are deleted (rewind).
    delete_above: Option<u64>,
    events: Vec<EventRow>,
    /// Channels to write: `Some` upserts, `None` deletes.
    channels: BTreeMap<B256, Option<ChannelRecord>>,
    /// Fee caps to write: `Some` upserts, `None` deletes.
    fee_caps: BTreeMap<Address, Option<u16>>,
    blocks: Vec<BlockRef>,
    /// Operations carried by these transactions are final: applied except the skipped entries.
    applied_txs: Vec<(B256, u64)>,
    /// `(tx hash, entry index, reason)` of `AuthorizationSkipped`.
    skipped_entries: Vec<(B256, u64, Vec<u8>)>,
}

impl Store {
    /// The indexer's cursor.
    pub async fn indexer_cursor(&self) -> Result<Option<BlockRef>> {
        self.meta(CURSOR)
            .await?
            .map(|t| parse_cursor(&t))
            .transpose()
    }

    /// Channels by id (those indexed).
    async fn channel_records(&self, ids: &[B256]) -> Result<HashMap<B256, ChannelRecord>> {
        let mut out = HashMap::new();
        for id in ids {
            if let Some(record) = self.channel_record(id).await? {
                out.insert(*id, record);
            }
        }
        Ok(out)
    }

    async fn apply_range(&self, range: BlockRange) -> ChainResult<()> {
        let cursor = self.indexer_cursor().await.map_err(store_error)?;
        if cursor == Some(range.to) {
            return Ok(());
        }
        if cursor.is_some_and(|c| c.number + 1 != range.from) || range.to.number < range.from {
            return Err(piecepay_relayer_chain::Error::CursorMismatch {
                expected: format!(
                    "#{} continuing to {}",
                    range.from.saturating_sub(1),
                    range.to
                ),
                found: show_cursor(cursor),
            });
        }
        let mut writes = Writes {
            from: cursor,
            to: Some(range.to),
            blocks: range.blocks.clone(),
            ..Writes::default()
        };
        let touched: BTreeSet<B256> = range
            .events
            .iter()
            .flat_map(|e| ChannelEffect::of(&e.event))
            .map(|(id, _)| id)
            .collect();
        let touched: Vec<B256> = touched.into_iter().collect();
        let mut channels: HashMap<B256, Option<ChannelRecord>> = self
            .channel_records(&touched)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(|(id, c)| (id, Some(c)))
            .collect();
        let mut txs = BTreeMap::new();
        for event in &range.events {
            writes.events.extend(rows_of(event).map_err(store_error)?);
            txs.entry(event.meta.tx_hash)
                .or_insert(event.meta.block_number);
            for (id, effect) in ChannelEffect::of(&event.event) {
                let before = channels.remove(&id).flatten();
                let after = effect.apply(id, before, event.meta.block_number);
                if after.is_none() {
                    tracing::debug!(channel = %id, "event on a channel opened before the start block");
                }
                channels.insert(id, after);
            }
            match &event.event {
                EscrowEvent::SettleFeeCapSet { payee, bps } => {
                    writes.fee_caps.insert(*payee, Some(*bps));
                }
                EscrowEvent::AuthorizationSkipped { index, reason } => {
                    writes.skipped_entries.push((
                        event.meta.tx_hash,
                        index.saturating_to::<u64>(),
                        reason.to_vec(),
                    ));
                }
                _ => {}
            }
        }
        writes.channels = channels
            .into_iter()
            .filter_map(|(id, c)| c.map(|c| (id, Some(c))))
            .collect();
        writes.applied_txs = txs.into_iter().collect();
        self.write_indexer(writes).await
    }

    async fn rewind_to(&self, to: BlockRef) -> ChainResult<()> {
        let cursor = self.indexer_cursor().await.map_err(store_error)?;
        if cursor == Some(to) {
            return Ok(());
        }
        let remembered: Option<Vec<u8>> = with_pool!(self, |pool| {
            sqlx::query_scalar("SELECT hash FROM indexer_blocks WHERE number = $1")
                .bind(codec::int(to.number).map_err(store_error)?)
                .fetch_optional(pool)
                .await
                .map_err(store_error)?
        });
        if remembered.as_deref() != Some(to.hash.as_slice())
            || cursor.is_none_or(|c| c.number < to.number)
        {
            return Err(piecepay_relayer_chain::Error::CursorMismatch {
                expected: format!("a remembered block at or below the cursor: {to}"),
                found: show_cursor(cursor),
            });
        }
        let above: Vec<TouchRow> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT channel_id, account, kind FROM chain_events WHERE block_number > $1",
            )
            .bind(codec::int(to.number).map_err(store_error)?)
            .fetch_all(pool)
            .await
            .map_err(store_error)?
        });
        let mut touched = BTreeSet::new();
        let mut payees = BTreeSet::new();
        for (channel_id, account, kind) in above {
            match (kind.as_str(), channel_id, account) {
                ("settle_fee_cap_set", _, Some(account)) => {
                    payees.insert(
                        codec::address(&account, "chain_events.account").map_err(store_error)?,
                    );
                }
                ("receipt_skipped", _, _) => {}
                (_, Some(id), _) => {
                    touched
                        .insert(codec::b256(&id, "chain_events.channel_id").map_err(store_error)?);
                }
                _ => {}
            }
        }
        let mut writes = Writes {
            from: cursor,
            to: Some(to),
            delete_above: Some(to.number),
            ..Writes::default()
        };
        for id in touched {
            let effects: Vec<(i64, String)> = with_pool!(self, |pool| {
                sqlx::query_as(
                    "SELECT block_number, body FROM chain_events WHERE channel_id = $1 \
                     AND block_number <= $2 AND kind <> 'receipt_skipped' \
                     ORDER BY block_number, log_index, sub_index",
                )
                .bind(id.as_slice())
                .bind(codec::int(to.number).map_err(store_error)?)
                .fetch_all(pool)
                .await
                .map_err(store_error)?
            });
            let mut channel = None;
            for (block, body) in effects {
                let effect: ChannelEffect = serde_json::from_str(&body)
                    .map_err(|_| store_error(codec::corrupt("chain_events.body")))?;
                let block =
                    codec::parse_int(block, "chain_events.block_number").map_err(store_error)?;
                channel = effect.apply(id, channel, block);
            }
            writes.channels.insert(id, channel);
        }
        for payee in payees {
            let latest: Option<String> = with_pool!(self, |pool| {
                sqlx::query_scalar(
                    "SELECT body FROM chain_events WHERE account = $1 AND kind = 'settle_fee_cap_set' \
                     AND block_number <= $2 ORDER BY block_number DESC, log_index DESC LIMIT 1",
                )
                .bind(payee.as_slice())
                .bind(codec::int(to.number).map_err(store_error)?)
                .fetch_optional(pool)
                .await
                .map_err(store_error)?
            });
            let bps = match latest {
                Some(body) => match serde_json::from_str(&body) {
                    Ok(EscrowEvent::SettleFeeCapSet { bps, .. }) => Some(bps),
                    _ => return Err(store_error(codec::corrupt("chain_events.body"))),
                },
                None => None,
            };
            writes.fee_caps.insert(payee, bps);
        }
        self.write_indexer(writes).await
    }

    /// One transaction: the cursor's compare-and-set, then every write.
    async fn write_indexer(&self, writes: Writes) -> ChainResult<()> {
        let to = writes.to.ok_or_else(|| {
            store_error(Error::Internal("an indexer write without a cursor".into()))
        })?;
        let new_cursor = cursor_text(to);
        let mismatch = || piecepay_relayer_chain::Error::CursorMismatch {
            expected: show_cursor(writes.from),
            found: "another writer moved the cursor".to_owned(),
        };
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await.map_err(store_error)?;
            let moved = match writes.from {
                None => sqlx::query(
                    "INSERT INTO relayer_meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                )
                .bind(CURSOR)
                .bind(&new_cursor)
                .execute(&mut *tx)
                .await
                .map_err(store_error)?
                .rows_affected(),
                Some(from) => sqlx::query(
                    "UPDATE relayer_meta SET value = $1 WHERE name = $2 AND value = $3",
                )
                .bind(&new_cursor)
                .bind(CURSOR)
                .bind(cursor_text(from))
                .execute(&mut *tx)
                .await
                .map_err(store_error)?
                .rows_affected(),
            };
            if moved != 1 {
                return Err(mismatch());
            }
            sqlx::query(
                "INSERT INTO relayer_meta (name, value) VALUES ('indexed_block', $1) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            )
            .bind(to.number.to_string())
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
            if let Some(above) = writes.delete_above {
                // Operations the removed blocks made final are in flight again.
                sqlx::query(
                    "UPDATE operations SET status = 'submitted', block_number = NULL, reason = NULL \
                     WHERE status IN ('applied', 'failed') AND job_id IS NOT NULL AND tx_hash IN \
                     (SELECT tx_hash FROM chain_events WHERE block_number > $1)",
                )
                .bind(codec::int(above).map_err(store_error)?)
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
                sqlx::query("DELETE FROM chain_events WHERE block_number > $1")
                    .bind(codec::int(above).map_err(store_error)?)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                sqlx::query("DELETE FROM indexer_blocks WHERE number > $1")
                    .bind(codec::int(above).map_err(store_error)?)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
            }
            for e in &writes.events {
                sqlx::query(
                    "INSERT INTO chain_events (block_number, log_index, sub_index, block_hash, tx_hash, \
                     kind, channel_id, account, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (block_number, log_index, sub_index) DO NOTHING",
                )
                .bind(codec::int(e.block_number).map_err(store_error)?)
                .bind(codec::int(e.log_index).map_err(store_error)?)
                .bind(codec::int(e.sub_index).map_err(store_error)?)
                .bind(e.block_hash.as_slice())
                .bind(e.tx_hash.as_slice())
                .bind(e.kind)
                .bind(e.channel_id.as_ref().map(|id| id.as_slice()))
                .bind(e.account.as_ref().map(|a| a.as_slice()))
                .bind(&e.body)
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
            }
            for (id, channel) in &writes.channels {
                match channel {
                    Some(c) => {
                        bind_channel!(sqlx::query(AssertSqlSafe(upsert_sql(1))), c)
                            .map_err(store_error)?
                            .execute(&mut *tx)
                            .await
                            .map_err(store_error)?;
                    }
                    None => {
                        sqlx::query("DELETE FROM channels WHERE channel_id = $1")
                            .bind(id.as_slice())
                            .execute(&mut *tx)
                            .await
                            .map_err(store_error)?;
                    }
                }
            }
            for (payee, bps) in &writes.fee_caps {
                match bps {
                    Some(bps) => {
                        sqlx::query(
                            "INSERT INTO payees (payee, fee_cap_bps) VALUES ($1, $2) \
                             ON CONFLICT (payee) DO UPDATE SET fee_cap_bps = excluded.fee_cap_bps",
                        )
                        .bind(payee.as_slice())
                        .bind(i64::from(*bps))
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    }
                    None => {
                        sqlx::query("DELETE FROM payees WHERE payee = $1")
                            .bind(payee.as_slice())
                            .execute(&mut *tx)
                            .await
                            .map_err(store_error)?;
                    }
                }
            }
            for (tx_hash, block) in &writes.applied_txs {
                // Our own operations batch (any of its attempts): every entry not skipped is applied.
                sqlx::query(
                    "UPDATE operations SET status = 'applied', tx_hash = $1, block_number = $2 \
                     WHERE status IN ('pending', 'submitted') AND job_id = \
                     (SELECT tx_id FROM tx_attempts WHERE tx_hash = $1)",
                )
                .bind(tx_hash.as_slice())
                .bind(codec::int(*block).map_err(store_error)?)
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
            }
            for (tx_hash, index, reason) in &writes.skipped_entries {
                sqlx::query(
                    "UPDATE operations SET status = 'failed', reason = $1 \
                     WHERE job_id = (SELECT tx_id FROM tx_attempts WHERE tx_hash = $2) AND entry_index = $3",
                )
                .bind(reason.as_slice())
                .bind(tx_hash.as_slice())
                .bind(codec::int(*index).map_err(store_error)?)
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
            }
            for block in &writes.blocks {
                sqlx::query(
                    "INSERT INTO indexer_blocks (number, hash) VALUES ($1, $2) \
                     ON CONFLICT (number) DO UPDATE SET hash = excluded.hash",
                )
                .bind(codec::int(block.number).map_err(store_error)?)
                .bind(block.hash.as_slice())
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
            }
            sqlx::query(
                "INSERT INTO indexer_blocks (number, hash) VALUES ($1, $2) \
                 ON CONFLICT (number) DO UPDATE SET hash = excluded.hash",
            )
            .bind(codec::int(to.number).map_err(store_error)?)
            .bind(to.hash.as_slice())
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
            tx.commit().await.map_err(store_error)?;
        });
        Ok(())
    }
}

impl IndexerStore for Store {
    async fn cursor(&self) -> ChainResult<Option<BlockRef>> {
        self.indexer_cursor().await.map_err(store_error)
    }

    async fn recent_blocks(&self, limit: usize) -> ChainResult<Vec<BlockRef>> {
        let Some(cursor) = self.indexer_cursor().await.map_err(store_error)? else {
            return Ok(Vec::new());
        };
        let rows: Vec<(i64, Vec<u8>)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT number, hash FROM indexer_blocks WHERE number <= $1 ORDER BY number DESC LIMIT $2",
            )
            .bind(codec::int(cursor.number).map_err(store_error)?)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(pool)
            .await
            .map_err(store_error)?
        });
        rows.into_iter()
            .map(|(number, hash)| {
                Ok(BlockRef::new(
                    codec::parse_int(number, "indexer_blocks.number")?,
                    codec::b256(&hash, "indexer_blocks.hash")?,
                ))
            })
            .collect::<Result<_>>()
            .map_err(store_error)
    }

    async fn apply(&self, range: BlockRange) -> ChainResult<()> {
        self.apply_range(range).await
    }

    async fn rewind(&self, to: BlockRef) -> ChainResult<()> {
        self.rewind_to(to).await
    }

    async fn prune_blocks(&self, below: u64) -> ChainResult<()> {
        let cursor = self.indexer_cursor().await.map_err(store_error)?;
        let keep = cursor.map_or(below, |c| below.min(c.number));
        with_pool!(self, |pool| {
            sqlx::query("DELETE FROM indexer_blocks WHERE number < $1")
                .bind(codec::int(keep).map_err(store_error)?)
                .execute(pool)
                .await
                .map_err(store_error)?;
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effects_rebuild_a_channel() {
        let id = B256::repeat_byte(9);
        let payer = Address::repeat_byte(1);
        let payee = Address::repeat_byte(2);
        let effects = [
            ChannelEffect::Opened {
                payer,
                payee,
                salt: 3,
                deposit: 100,
            },
            ChannelEffect::ToppedUp { deposit: 150 },
            ChannelEffect::Settled { settled: 40 },
            ChannelEffect::Settled { settled: 30 }, // never lowers
            ChannelEffect::CloseRequested { closes_at: 77 },
            ChannelEffect::Closed { settled: 60 },
        ];
        let mut channel = None;
        for (block, effect) in effects.iter().enumerate() {
            channel = effect.apply(id, channel, block as u64 + 10);
            let json = serde_json::to_string(effect).unwrap();
            assert_eq!(
                serde_json::from_str::<ChannelEffect>(&json).unwrap(),
                *effect
            );
            if block == 4 {
                let c = channel.unwrap();
                assert_eq!(
                    (c.state, c.closes_at, c.settled, c.deposit),
                    (ChannelState::Closing, Some(77), 40, 150)
                );
            }
        }
        let c = channel.unwrap();
        assert_eq!(c.state, ChannelState::Closed);
        assert_eq!(c.settled, 60);
        assert_eq!(c.updated_block, 15);
        // Effects on a channel never seen opened leave it unknown.
        assert_eq!(
            ChannelEffect::Settled { settled: 1 }.apply(id, None, 1),
            None
        );
    }

    #[test]
    fn cursor_text_round_trips() {
        let cursor = BlockRef::new(42, B256::repeat_byte(7));
        assert_eq!(parse_cursor(&cursor_text(cursor)).unwrap(), cursor);
        assert!(parse_cursor("42").is_err());
    }
}
