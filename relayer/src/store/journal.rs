//! [`TxJournal`] on the node's database, and the jobs the batcher creates.
//!
//! A job's row in `tx_journal` holds its calldata and its [`TxState`] (as JSON). Every transition is one
//! transaction that also moves what the job carries, so the API never disagrees with the journal:
//!
//! | journal | settlement batch (`kind = settle`, job id = batch id) | operations (`kind = operations`) |
//! |---|---|---|
//! | signed (not a cancel) | `submitted`, `tx_hash` = the attempt | `tx_hash` = the attempt |
//! | included | `tx_hash`, `block_number` of the mined attempt | same |
//! | back to pending (reorg) | `block_number` cleared | same |
//! | confirmed, success | `confirmed` | — (the indexer marks each `applied` or `failed`) |
//! | confirmed, reverted / failed | `failed`, its channels candidates again | `failed` |
//! | requeued | `pending`, no transaction | no transaction |
//!
//! Every attempt's hash goes into `tx_attempts` with the signed attempt, before it is broadcast: it is how
//! the indexer knows a mined transaction is one of ours.

use piecepay_protocol::alloy_primitives::{B256, Bytes, hex};
use piecepay_relayer_chain::{
    Inclusion, JournalOp, RequeueReason, Result as ChainResult, SignedAttempt, TxId, TxIntent,
    TxJournal, TxRecord, TxState,
};

use super::{BatchEntry, Store, codec, with_pool};
use crate::{Error, Result, ingest::unix_now};

/// Job ids of operations batches start here; settlement batches use their own (smaller) ids.
pub const OPERATION_JOB_BASE: u64 = 1 << 40;

fn store_error(error: impl Into<Error>) -> piecepay_relayer_chain::Error {
    piecepay_relayer_chain::Error::store(error.into())
}

fn id_int(id: TxId) -> ChainResult<i64> {
    i64::try_from(id.0).map_err(|_| piecepay_relayer_chain::Error::UnknownTx(id.0))
}

fn state_json(state: &TxState) -> Result<String> {
    serde_json::to_string(state).map_err(|e| Error::Database(format!("encoding a job state: {e}")))
}

/// The escrow's revert data in a `mark_failed` reason (`call reverted: 0x…`), for the API's `reason`.
fn revert_data(reason: &str) -> Option<Vec<u8>> {
    let digits = reason.strip_prefix("call reverted: 0x")?;
    hex::decode(digits).ok()
}

impl Store {
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
        let queued = state_json(&TxState::Queued)?;
        Ok(with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let batch_id: i64 = sqlx::query_scalar(
                "INSERT INTO settlement_batches (status, receipts, value, created_at) \
                 VALUES ('pending', $1, $2, $3) RETURNING batch_id",
            )
            .bind(i64::try_from(entries.len()).unwrap_or(i64::MAX))
            .bind(codec::amount(value))
            .bind(codec::int(now))
            .fetch_one(&mut *tx)
            .await?;
            for entry in entries {
                sqlx::query(
                    "INSERT INTO settlement_entries (batch_id, channel_id, cumulative) VALUES ($1, $2, $3)",
                )
                .bind(batch_id)
                .bind(entry.channel_id.as_slice())
                .bind(codec::amount(entry.cumulative))
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
            sqlx::query(
                "INSERT INTO tx_journal (tx_id, kind, calldata, state, body, created_at, updated_at) \
                 VALUES ($1, 'settle', $2, 'queued', $3, $4, $4)",
            )
            .bind(batch_id)
            .bind(calldata)
            .bind(&queued)
            .bind(codec::int(now))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            batch_id
        }))
    }

    /// Stores an operations batch (the pending operations `operation_ids`, in batch order, of one kind)
    /// and its job (queued) in **one transaction**; the operations become `submitted`. Returns the job id.
    /// An operation that is no longer pending makes the whole call fail with nothing stored.
    pub async fn create_operations_job(
        &self,
        kind: &str,
        operation_ids: &[B256],
        now: u64,
        calldata: &[u8],
    ) -> Result<TxId> {
        let queued = state_json(&TxState::Queued)?;
        Ok(with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let batch_id: i64 = sqlx::query_scalar(
                "INSERT INTO operation_batches (kind, created_at) VALUES ($1, $2) RETURNING batch_id",
            )
            .bind(kind)
            .bind(codec::int(now))
            .fetch_one(&mut *tx)
            .await?;
            let job =
                OPERATION_JOB_BASE + codec::parse_int(batch_id, "operation_batches.batch_id")?;
            for (index, id) in operation_ids.iter().enumerate() {
                let updated = sqlx::query(
                    "UPDATE operations SET status = 'submitted', job_id = $1, entry_index = $2 \
                     WHERE operation_id = $3 AND status = 'pending'",
                )
                .bind(codec::int(job))
                .bind(codec::int(index as u64))
                .bind(id.as_slice())
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if updated != 1 {
                    return Err(Error::Database(format!(
                        "operation {id} is no longer pending"
                    )));
                }
            }
            sqlx::query(
                "INSERT INTO tx_journal (tx_id, kind, calldata, state, body, created_at, updated_at) \
                 VALUES ($1, 'operations', $2, 'queued', $3, $4, $4)",
            )
            .bind(codec::int(job))
            .bind(calldata)
            .bind(&queued)
            .bind(codec::int(now))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            TxId(job)
        }))
    }

    /// Every journal job, final ones included, in id order (for tests and operators).
    pub async fn journal_jobs(&self) -> Result<Vec<TxRecord>> {
        let rows: Vec<(i64, Vec<u8>, String)> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT tx_id, calldata, body FROM tx_journal ORDER BY tx_id")
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(decode_record).collect()
    }

    /// How many journal jobs are not final.
    pub async fn unfinished_jobs(&self) -> Result<u64> {
        let count: i64 = with_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM tx_journal WHERE state NOT IN ('confirmed', 'failed')",
            )
            .fetch_one(pool)
            .await?
        });
        codec::parse_int(count, "count")
    }

    /// One journal transition with its effects on the job's batch, in one transaction.
    async fn journal_op(&self, id: TxId, op: JournalOp) -> ChainResult<()> {
        let key = id_int(id)?;
        let row: Option<(String, String)> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT kind, body FROM tx_journal WHERE tx_id = $1")
                .bind(key)
                .fetch_optional(pool)
                .await
                .map_err(store_error)?
        });
        let Some((kind, body)) = row else {
            return Err(piecepay_relayer_chain::Error::UnknownTx(id.0));
        };
        let state: TxState = serde_json::from_str(&body)
            .map_err(|_| store_error(codec::corrupt("tx_journal.body")))?;
        let Some(next) = state.apply(id, &op)? else {
            return Ok(());
        };
        let next_body = state_json(&next).map_err(store_error)?;
        let now = codec::int(unix_now());
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await.map_err(store_error)?;
            // Compare-and-set: one submitter writes a job; anything else changed it under us.
            let changed = sqlx::query(
                "UPDATE tx_journal SET state = $1, body = $2, updated_at = $3 WHERE tx_id = $4 AND body = $5",
            )
            .bind(next.name())
            .bind(&next_body)
            .bind(now)
            .bind(key)
            .bind(&body)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?
            .rows_affected();
            if changed != 1 {
                return Err(store_error(Error::Database(format!(
                    "journal job {id} changed concurrently"
                ))));
            }
            if let JournalOp::RecordSigned(attempt) = &op {
                sqlx::query(
                    "INSERT INTO tx_attempts (tx_hash, tx_id) VALUES ($1, $2) ON CONFLICT (tx_hash) DO NOTHING",
                )
                .bind(attempt.hash.as_slice())
                .bind(key)
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
            }
            match kind.as_str() {
                "settle" => {
                    let (sql, hash, block): (&str, Option<B256>, Option<u64>) = match &op {
                        JournalOp::RecordSigned(a) if !a.cancel => (
                            "UPDATE settlement_batches SET status = 'submitted', tx_hash = $1, \
                             block_number = $2 WHERE batch_id = $3",
                            Some(a.hash),
                            None,
                        ),
                        JournalOp::MarkIncluded(i) if !i.cancel => (
                            "UPDATE settlement_batches SET status = 'submitted', tx_hash = $1, \
                             block_number = $2 WHERE batch_id = $3",
                            Some(i.tx_hash),
                            Some(i.block.number),
                        ),
                        JournalOp::MarkPending => (
                            "UPDATE settlement_batches SET tx_hash = COALESCE($1, tx_hash), \
                             block_number = $2 WHERE batch_id = $3",
                            None,
                            None,
                        ),
                        JournalOp::MarkConfirmed(i) if i.success && !i.cancel => (
                            "UPDATE settlement_batches SET status = 'confirmed', tx_hash = $1, \
                             block_number = $2 WHERE batch_id = $3",
                            Some(i.tx_hash),
                            Some(i.block.number),
                        ),
                        JournalOp::MarkConfirmed(_) | JournalOp::MarkFailed(_) => (
                            "UPDATE settlement_batches SET status = 'failed', tx_hash = $1, \
                             block_number = $2 WHERE batch_id = $3",
                            None,
                            None,
                        ),
                        JournalOp::Requeue(_) => (
                            "UPDATE settlement_batches SET status = 'pending', tx_hash = $1, \
                             block_number = $2 WHERE batch_id = $3",
                            None,
                            None,
                        ),
                        _ => ("", None, None),
                    };
                    if !sql.is_empty() {
                        sqlx::query(sql)
                            .bind(hash.as_ref().map(|h| h.as_slice()))
                            .bind(block.map(codec::int))
                            .bind(key)
                            .execute(&mut *tx)
                            .await
                            .map_err(store_error)?;
                    }
                    if matches!(next, TxState::Failed { .. })
                        || matches!(&op, JournalOp::MarkConfirmed(i) if !i.success || i.cancel)
                    {
                        // Nothing of it was settled: its channels are candidates again.
                        sqlx::query(
                            "UPDATE receipts SET pending_since = $1 WHERE pending_since IS NULL AND \
                             channel_id IN (SELECT channel_id FROM settlement_entries WHERE batch_id = $2)",
                        )
                        .bind(now)
                        .bind(key)
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    }
                }
                "operations" => {
                    let (sql, hash, block, reason): (
                        &str,
                        Option<B256>,
                        Option<u64>,
                        Option<Vec<u8>>,
                    ) = match &op {
                        JournalOp::RecordSigned(a) if !a.cancel => (
                            "UPDATE operations SET tx_hash = $1, block_number = $2, reason = $3 \
                                 WHERE job_id = $4 AND status = 'submitted'",
                            Some(a.hash),
                            None,
                            None,
                        ),
                        JournalOp::MarkIncluded(i) if !i.cancel => (
                            "UPDATE operations SET tx_hash = $1, block_number = $2, reason = $3 \
                                 WHERE job_id = $4 AND status = 'submitted'",
                            Some(i.tx_hash),
                            Some(i.block.number),
                            None,
                        ),
                        JournalOp::MarkPending => (
                            "UPDATE operations SET tx_hash = COALESCE($1, tx_hash), block_number = $2, \
                                 reason = $3 WHERE job_id = $4 AND status = 'submitted'",
                            None,
                            None,
                            None,
                        ),
                        JournalOp::Requeue(_) => (
                            "UPDATE operations SET tx_hash = $1, block_number = $2, reason = $3 \
                                 WHERE job_id = $4 AND status = 'submitted'",
                            None,
                            None,
                            None,
                        ),
                        JournalOp::MarkConfirmed(i) if !i.success => (
                            "UPDATE operations SET status = 'failed', tx_hash = $1, block_number = $2, \
                                 reason = $3 WHERE job_id = $4 AND status = 'submitted'",
                            Some(i.tx_hash),
                            Some(i.block.number),
                            None,
                        ),
                        JournalOp::MarkFailed(reason) => (
                            "UPDATE operations SET status = 'failed', tx_hash = $1, block_number = $2, \
                                 reason = $3 WHERE job_id = $4 AND status = 'submitted'",
                            None,
                            None,
                            revert_data(reason),
                        ),
                        _ => ("", None, None, None),
                    };
                    if !sql.is_empty() {
                        sqlx::query(sql)
                            .bind(hash.as_ref().map(|h| h.as_slice()))
                            .bind(block.map(codec::int))
                            .bind(reason.as_deref())
                            .bind(key)
                            .execute(&mut *tx)
                            .await
                            .map_err(store_error)?;
                    }
                }
                _ => {}
            }
            tx.commit().await.map_err(store_error)?;
        });
        Ok(())
    }
}

fn decode_record((id, calldata, body): (i64, Vec<u8>, String)) -> Result<TxRecord> {
    Ok(TxRecord {
        id: TxId(codec::parse_int(id, "tx_journal.tx_id")?),
        calldata: Bytes::from(calldata),
        state: serde_json::from_str(&body).map_err(|_| codec::corrupt("tx_journal.body"))?,
    })
}

impl TxJournal for Store {
    async fn enqueue(&self, id: TxId, calldata: Bytes) -> ChainResult<()> {
        let key = id_int(id)?;
        let queued = state_json(&TxState::Queued).map_err(store_error)?;
        let now = codec::int(unix_now());
        let existing: Option<Vec<u8>> = with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO tx_journal (tx_id, kind, calldata, state, body, created_at, updated_at) \
                 VALUES ($1, 'other', $2, 'queued', $3, $4, $4) ON CONFLICT (tx_id) DO NOTHING",
            )
            .bind(key)
            .bind(calldata.as_ref())
            .bind(&queued)
            .bind(now)
            .execute(pool)
            .await
            .map_err(store_error)?;
            sqlx::query_scalar("SELECT calldata FROM tx_journal WHERE tx_id = $1")
                .bind(key)
                .fetch_optional(pool)
                .await
                .map_err(store_error)?
        });
        match existing {
            Some(stored) if stored == calldata.as_ref() => Ok(()),
            _ => Err(piecepay_relayer_chain::Error::DuplicateTx(id.0)),
        }
    }

    async fn unfinished(&self) -> ChainResult<Vec<TxRecord>> {
        let rows: Vec<(i64, Vec<u8>, String)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT tx_id, calldata, body FROM tx_journal \
                 WHERE state NOT IN ('confirmed', 'failed') ORDER BY tx_id",
            )
            .fetch_all(pool)
            .await
            .map_err(store_error)?
        });
        rows.into_iter()
            .map(decode_record)
            .collect::<Result<_>>()
            .map_err(store_error)
    }

    async fn record_intent(&self, id: TxId, intent: TxIntent) -> ChainResult<()> {
        self.journal_op(id, JournalOp::RecordIntent(intent)).await
    }

    async fn record_signed(&self, id: TxId, attempt: SignedAttempt) -> ChainResult<()> {
        self.journal_op(id, JournalOp::RecordSigned(attempt)).await
    }

    async fn mark_included(&self, id: TxId, inclusion: Inclusion) -> ChainResult<()> {
        self.journal_op(id, JournalOp::MarkIncluded(inclusion))
            .await
    }

    async fn mark_pending(&self, id: TxId) -> ChainResult<()> {
        self.journal_op(id, JournalOp::MarkPending).await
    }

    async fn mark_confirmed(&self, id: TxId, inclusion: Inclusion) -> ChainResult<()> {
        self.journal_op(id, JournalOp::MarkConfirmed(inclusion))
            .await
    }

    async fn requeue(&self, id: TxId, reason: RequeueReason) -> ChainResult<()> {
        self.journal_op(id, JournalOp::Requeue(reason)).await
    }

    async fn mark_failed(&self, id: TxId, reason: String) -> ChainResult<()> {
        self.journal_op(id, JournalOp::MarkFailed(reason)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revert_reasons_keep_their_data() {
        assert_eq!(revert_data("call reverted: 0x0102"), Some(vec![1, 2]));
        assert_eq!(revert_data("rpc error"), None);
    }
}
