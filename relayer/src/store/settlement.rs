//! Settlement batches: what the batcher reads (candidates) and records (batches and their entries), and
//! `GET /v1/channels/{id}/settlement`.

use piecepay_protocol::{
    CompactSignature,
    alloy_primitives::{Address, B256},
    relayer_api::{ChannelState, SettlementState, SettlementStatus, SettlementTransaction},
};

use super::{Store, codec, journal, with_pool};
use crate::Result;

/// A channel whose held receipt is above its settled total and not in a batch yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SettlementCandidate {
    /// The channel.
    pub channel_id: B256,
    /// Its payee.
    pub payee: Address,
    /// Its salt.
    pub salt: u32,
    /// The held receipt's cumulative.
    pub cumulative: u128,
    /// The held receipt's signature.
    pub signature: CompactSignature,
    /// The settled total on the escrow.
    pub settled: u128,
    /// The channel's state.
    pub state: ChannelState,
    /// End of the challenge window while closing.
    pub closes_at: Option<u64>,
    /// When its oldest unbatched receipt arrived.
    pub pending_since: u64,
    /// The payee's settlement fee cap on the escrow, in basis points.
    pub fee_cap_bps: u16,
}

/// One channel in a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BatchEntry {
    /// The channel.
    pub channel_id: B256,
    /// The cumulative the batch settles it to.
    pub cumulative: u128,
    /// Since when (unix time) the value it settles waited: the candidate's `pending_since`.
    pub pending_since: u64,
}

/// The value acknowledged and not settled on chain yet, over every channel that is not closed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Unsettled {
    /// Channels whose held receipt is above their settled total.
    pub channels: u64,
    /// The sum of what they hold above it, in token base units (a float: a gauge, not an account).
    pub value: f64,
    /// Since when (unix time) the oldest of that value waits, as the batcher counts age.
    pub oldest_since: Option<u64>,
}

/// Where a settlement batch is (its `status` column).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum BatchStatus {
    /// Built, not yet broadcast.
    Pending,
    /// Broadcast, not yet confirmed.
    Submitted,
    /// Included at the confirmation depth.
    Confirmed,
    /// Dropped, reverted or abandoned; its channels went back to pending.
    Failed,
}

impl BatchStatus {
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Submitted => "submitted",
            Self::Confirmed => "confirmed",
            Self::Failed => "failed",
        }
    }
}

type CandidateRow = (
    Vec<u8>,
    Vec<u8>,
    i64,
    String,
    Vec<u8>,
    Vec<u8>,
    String,
    String,
    Option<i64>,
    i64,
    Option<i64>,
);

type LatestRow = (String, String, Option<Vec<u8>>, Option<i64>);

impl Store {
    /// Channels waiting for settlement, at most `limit`, closing ones first (soonest deadline first),
    /// then oldest first: their held receipt is above their settled total, they are not closed, and no
    /// live batch carries that receipt (a batch `pending` or `submitted`, or `confirmed` in a block the
    /// indexer has not reached yet, whose settlement the channel's row does not show yet).
    pub async fn settlement_candidates(&self, limit: usize) -> Result<Vec<SettlementCandidate>> {
        let indexed = self.indexed_block().await?;
        let rows: Vec<CandidateRow> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT r.channel_id, c.payee, c.salt, r.cumulative, r.r, r.vs, c.settled, c.state, \
                 c.closes_at, COALESCE(r.pending_since, r.received_at), p.fee_cap_bps \
                 FROM receipts r JOIN channels c ON c.channel_id = r.channel_id \
                 LEFT JOIN payees p ON p.payee = c.payee \
                 WHERE c.state <> 'closed' AND r.cumulative > c.settled AND NOT EXISTS ( \
                   SELECT 1 FROM settlement_entries e JOIN settlement_batches b ON b.batch_id = e.batch_id \
                   WHERE e.channel_id = r.channel_id AND e.cumulative >= r.cumulative AND ( \
                     b.status IN ('pending', 'submitted') \
                     OR (b.status = 'confirmed' AND COALESCE(b.block_number, $1 + 1) > $1))) \
                 ORDER BY CASE WHEN c.state = 'closing' THEN 0 ELSE 1 END, c.closes_at, \
                 COALESCE(r.pending_since, r.received_at), r.channel_id LIMIT $2",
            )
            .bind(codec::int(indexed)?)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(
                |(id, payee, salt, cumulative, r, vs, settled, state, closes_at, since, cap)| {
                    Ok(SettlementCandidate {
                        channel_id: codec::b256(&id, "receipts.channel_id")?,
                        payee: codec::address(&payee, "channels.payee")?,
                        salt: u32::try_from(salt).map_err(|_| codec::corrupt("channels.salt"))?,
                        cumulative: codec::parse_amount(&cumulative, "receipts.cumulative")?,
                        signature: codec::signature(&r, &vs)?,
                        settled: codec::parse_amount(&settled, "channels.settled")?,
                        state: codec::parse_state(&state)?,
                        closes_at: closes_at
                            .map(|t| codec::parse_int(t, "channels.closes_at"))
                            .transpose()?,
                        pending_since: codec::parse_int(since, "receipts.pending_since")?,
                        fee_cap_bps: cap
                            .map(|c| {
                                u16::try_from(c).map_err(|_| codec::corrupt("payees.fee_cap_bps"))
                            })
                            .transpose()?
                            .unwrap_or(0),
                    })
                },
            )
            .collect()
    }

    /// Stores a settlement batch of `entries` and its `settleBatch` job (id = batch id, queued) in **one
    /// transaction**: a batch is never without its job, nor a job without its batch. Its channels stop
    /// being candidates while the batch is live. Returns the batch id.
    pub async fn create_settlement_job(
        &self,
        entries: &[BatchEntry],
        value: u128,
        now: u64,
        calldata: &[u8],
    ) -> Result<i64> {
        Ok(with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let batch_id: i64 = sqlx::query_scalar(
                "INSERT INTO settlement_batches (status, receipts, value, created_at) \
                 VALUES ('pending', $1, $2, $3) RETURNING batch_id",
            )
            .bind(i64::try_from(entries.len()).unwrap_or(i64::MAX))
            .bind(codec::amount(value))
            .bind(codec::int(now)?)
            .fetch_one(&mut *tx)
            .await?;
            for entry in entries {
                sqlx::query(
                    "INSERT INTO settlement_entries (batch_id, channel_id, cumulative, pending_since) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(batch_id)
                .bind(entry.channel_id.as_slice())
                .bind(codec::amount(entry.cumulative))
                .bind(codec::int(entry.pending_since)?)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE receipts SET pending_since = NULL WHERE channel_id = $1 AND cumulative = $2",
                )
                .bind(entry.channel_id.as_slice())
                .bind(codec::amount(entry.cumulative))
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query(journal::INSERT_JOB)
                .bind(batch_id)
                .bind(journal::JobKind::Settle.as_str())
                .bind(calldata)
                .bind(codec::int(now)?)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            batch_id
        }))
    }

    /// How long (seconds, at unix time `now`) the value each entry of batch `batch_id` settled had
    /// waited: what `piecepay_settle_latency_seconds` observes once the batch is confirmed.
    pub async fn settle_latencies(&self, batch_id: i64, now: u64) -> Result<Vec<u64>> {
        let since: Vec<i64> = with_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT pending_since FROM settlement_entries \
                 WHERE batch_id = $1 AND pending_since IS NOT NULL",
            )
            .bind(batch_id)
            .fetch_all(pool)
            .await?
        });
        since
            .into_iter()
            .map(|t| {
                Ok(now.saturating_sub(codec::parse_int(t, "settlement_entries.pending_since")?))
            })
            .collect()
    }

    /// The value acknowledged and not yet settled on chain (`piecepay_unsettled_*`).
    pub async fn unsettled(&self) -> Result<Unsettled> {
        // DOUBLE PRECISION is a float in both engines (SQLite's affinity rules read "DOUB" as REAL).
        let (channels, value, oldest): (i64, f64, Option<i64>) = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT COUNT(*), COALESCE(SUM(CAST(r.cumulative AS DOUBLE PRECISION) \
                 - CAST(c.settled AS DOUBLE PRECISION)), 0.0), \
                 MIN(COALESCE(r.pending_since, r.received_at)) \
                 FROM receipts r JOIN channels c ON c.channel_id = r.channel_id \
                 WHERE c.state <> 'closed' AND r.cumulative > c.settled",
            )
            .fetch_one(pool)
            .await?
        });
        Ok(Unsettled {
            channels: codec::parse_int(channels, "count")?,
            value,
            oldest_since: oldest
                .map(|t| codec::parse_int(t, "receipts.received_at"))
                .transpose()?,
        })
    }

    /// `GET /v1/channels/{id}/settlement` at unix time `now`, or `None` for a channel never indexed.
    pub async fn settlement_status(
        &self,
        channel_id: &B256,
        now: u64,
    ) -> Result<Option<SettlementStatus>> {
        let Some(record) = self.channel_record(channel_id).await? else {
            return Ok(None);
        };
        let held: Option<String> = with_pool!(self, |pool| {
            sqlx::query_scalar("SELECT cumulative FROM receipts WHERE channel_id = $1")
                .bind(channel_id.as_slice())
                .fetch_optional(pool)
                .await?
        });
        let received = held
            .map(|h| codec::parse_amount(&h, "receipts.cumulative"))
            .transpose()?
            .unwrap_or(0);
        let latest: Option<LatestRow> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT e.cumulative, b.status, b.tx_hash, b.block_number \
                 FROM settlement_entries e JOIN settlement_batches b ON b.batch_id = e.batch_id \
                 WHERE e.channel_id = $1 AND b.tx_hash IS NOT NULL \
                 ORDER BY e.batch_id DESC LIMIT 1",
            )
            .bind(channel_id.as_slice())
            .fetch_optional(pool)
            .await?
        });
        let mut in_flight = false;
        let transaction = match latest {
            Some((cumulative, status, Some(hash), block)) => {
                let block_number = block
                    .map(|b| codec::parse_int(b, "settlement_batches.block_number"))
                    .transpose()?;
                // A confirmed batch the indexer has not reached yet is still on its way to `settled`
                // (the same rule keeps its channels out of `settlement_candidates`).
                let awaiting_indexer = status == BatchStatus::Confirmed.as_str()
                    && match block_number {
                        Some(block) => block > self.indexed_block().await?,
                        None => true,
                    };
                in_flight = status == BatchStatus::Submitted.as_str()
                    || status == BatchStatus::Pending.as_str()
                    || awaiting_indexer;
                Some(SettlementTransaction {
                    hash: codec::b256(&hash, "settlement_batches.tx_hash")?,
                    cumulative: codec::parse_amount(&cumulative, "settlement_entries.cumulative")?,
                    block_number,
                })
            }
            _ => None,
        };
        let window_over = match record.state {
            ChannelState::Closed => true,
            ChannelState::Closing => record.closes_at.is_some_and(|t| now > t),
            ChannelState::Open => false,
        };
        let status = if received <= record.settled {
            SettlementState::UpToDate
        } else if in_flight && !window_over {
            SettlementState::Submitted
        } else if window_over {
            SettlementState::Expired
        } else {
            SettlementState::Pending
        };
        Ok(Some(SettlementStatus {
            channel_id: *channel_id,
            status,
            received,
            settled: record.settled,
            transaction,
        }))
    }
}
