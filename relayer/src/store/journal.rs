//! [`TxJournal`] on the node's database, and the jobs the batcher creates.
//!
//! A job's row in `tx_journal` holds its calldata and its [`TxState`] (as JSON). Every transition is one
//! transaction that also moves what the job carries, so the API never disagrees with the journal — and
//! never claims more than happened: a batch reads `submitted` only once a node took one of its
//! transactions (`mark_broadcast`), not when it was signed (a signed transaction the node refused, for
//! want of funds say, was never sent).
//!
//! | journal | settlement batch (`kind = settle`, job id = batch id) | operations (`kind = operations`) |
//! |---|---|---|
//! | enqueued with the batch | `pending` | `pending`, `job_id` set (no longer a candidate for a batch) |
//! | signed | — | — |
//! | broadcast (not a cancel), before inclusion | `submitted`, `tx_hash` = that attempt | same |
//! | included (not a cancel) | `submitted`, `tx_hash`, `block_number` of the mined attempt | same |
//! | back to pending (reorg) | `block_number` cleared | same |
//! | confirmed, success | `confirmed` | — (the indexer marks each `applied` or `failed`) |
//! | confirmed, reverted / failed | `failed`, its channels candidates again | `failed` |
//! | requeued | `pending`, no transaction | `pending`, no transaction |
//!
//! Every attempt's hash goes into `tx_attempts` with the signed attempt, before it is broadcast: it is how
//! the indexer knows a mined transaction is one of ours.

use piecepay_protocol::alloy_primitives::{B256, Bytes, hex};
use piecepay_relayer_chain::{
    JournalOp, Result as ChainResult, TxId, TxJournal, TxRecord, TxState,
};

use super::{Store, codec, settlement::BatchStatus, with_pool};
use crate::{Error, Result, ingest::unix_now};

/// Job ids of operations batches start here; settlement batches use their own (smaller) ids.
pub const OPERATION_JOB_BASE: u64 = 1 << 40;

/// What a job carries (`tx_journal.kind`): which rows its transitions move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum JobKind {
    /// A settlement batch (`settlement_batches`, job id = batch id).
    Settle,
    /// A batch of gasless operations (`operations.job_id`).
    Operations,
    /// Anything else enqueued through [`TxJournal::enqueue`]: no rows besides its own.
    Other,
}

impl JobKind {
    pub(super) const fn as_str(self) -> &'static str {
        match self {
            Self::Settle => "settle",
            Self::Operations => "operations",
            Self::Other => "other",
        }
    }

    fn parse(text: &str) -> Result<Self> {
        [Self::Settle, Self::Operations, Self::Other]
            .into_iter()
            .find(|k| k.as_str() == text)
            .ok_or_else(|| codec::corrupt("tx_journal.kind"))
    }
}

/// Inserts a job, queued (`$1` id, `$2` kind, `$3` calldata, `$4` time): every job starts here, inside
/// the transaction that stores what it carries. The body is [`TxState::Queued`] as JSON (a test holds
/// them equal).
pub(super) const INSERT_JOB: &str = "INSERT INTO tx_journal (tx_id, kind, calldata, state, body, \
     created_at, updated_at) VALUES ($1, $2, $3, 'queued', '{\"state\":\"queued\"}', $4, $4)";

fn store_error(error: impl Into<Error>) -> piecepay_relayer_chain::Error {
    piecepay_relayer_chain::Error::store(error.into())
}

fn id_int(id: TxId) -> ChainResult<i64> {
    i64::try_from(id.0).map_err(|_| piecepay_relayer_chain::Error::UnknownTx(id.0))
}

fn state_json(state: &TxState) -> Result<String> {
    serde_json::to_string(state).map_err(|e| Error::Internal(format!("encoding a job state: {e}")))
}

/// The escrow's revert data in a `mark_failed` reason (`call reverted: 0x…`), for the API's `reason`.
fn revert_data(reason: &str) -> Option<Vec<u8>> {
    let digits = reason.strip_prefix("call reverted: 0x")?;
    hex::decode(digits).ok()
}

impl Store {
    /// Stores an operations batch (the pending operations `operation_ids`, in batch order, of one kind)
    /// and its job (queued) in **one transaction**; the operations stay `pending` (their job follows
    /// them) until a transaction of the job is broadcast. Returns the job id. An operation that is no
    /// longer waiting for a batch makes the whole call fail with nothing stored.
    pub async fn create_operations_job(
        &self,
        kind: &str,
        operation_ids: &[B256],
        now: u64,
        calldata: &[u8],
    ) -> Result<TxId> {
        Ok(with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let batch_id: i64 = sqlx::query_scalar(
                "INSERT INTO operation_batches (kind, created_at) VALUES ($1, $2) RETURNING batch_id",
            )
            .bind(kind)
            .bind(codec::int(now).map_err(store_error)?)
            .fetch_one(&mut *tx)
            .await?;
            let job =
                OPERATION_JOB_BASE + codec::parse_int(batch_id, "operation_batches.batch_id")?;
            for (index, id) in operation_ids.iter().enumerate() {
                let updated = sqlx::query(
                    "UPDATE operations SET job_id = $1, entry_index = $2 \
                     WHERE operation_id = $3 AND status = 'pending' AND job_id IS NULL",
                )
                .bind(codec::int(job).map_err(store_error)?)
                .bind(codec::int(index as u64).map_err(store_error)?)
                .bind(id.as_slice())
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if updated != 1 {
                    return Err(Error::Conflict(format!(
                        "operation {id} is no longer pending"
                    )));
                }
            }
            sqlx::query(INSERT_JOB)
                .bind(codec::int(job).map_err(store_error)?)
                .bind(JobKind::Operations.as_str())
                .bind(calldata)
                .bind(codec::int(now).map_err(store_error)?)
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
        let kind = JobKind::parse(&kind).map_err(store_error)?;
        let state: TxState = serde_json::from_str(&body)
            .map_err(|_| store_error(codec::corrupt("tx_journal.body")))?;
        let next = state.after(id, &op)?;
        let effect = Effect::of(kind, &state, &op, next.as_ref());
        if next.is_none() && effect.is_none() {
            return Ok(());
        }
        let next_body = next
            .as_ref()
            .map(state_json)
            .transpose()
            .map_err(store_error)?;
        let now = codec::int(unix_now()).map_err(store_error)?;
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await.map_err(store_error)?;
            if let (Some(next), Some(next_body)) = (&next, &next_body) {
                // Compare-and-set: one submitter writes a job; anything else changed it under us.
                let changed = sqlx::query(
                    "UPDATE tx_journal SET state = $1, body = $2, updated_at = $3 \
                     WHERE tx_id = $4 AND body = $5",
                )
                .bind(next.name())
                .bind(next_body)
                .bind(now)
                .bind(key)
                .bind(&body)
                .execute(&mut *tx)
                .await
                .map_err(store_error)?
                .rows_affected();
                if changed != 1 {
                    return Err(store_error(Error::Conflict(format!(
                        "journal job {id} changed concurrently"
                    ))));
                }
            }
            if let JournalOp::RecordSigned(attempt) = &op {
                sqlx::query(
                    "INSERT INTO tx_attempts (tx_hash, tx_id) VALUES ($1, $2) \
                     ON CONFLICT (tx_hash) DO NOTHING",
                )
                .bind(attempt.hash.as_slice())
                .bind(key)
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
            }
            let settle = kind == JobKind::Settle;
            match &effect {
                Some(Effect::Broadcast(hash)) => {
                    sqlx::query(if settle {
                        BROADCAST_BATCH
                    } else {
                        BROADCAST_OPERATIONS
                    })
                    .bind(hash.as_slice())
                    .bind(key)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                }
                Some(Effect::Unmined) => {
                    sqlx::query(if settle {
                        UNMINE_BATCH
                    } else {
                        UNMINE_OPERATIONS
                    })
                    .bind(key)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                }
                Some(Effect::Set(set)) if settle => {
                    sqlx::query(SET_BATCH)
                        .bind(set.status.as_str())
                        .bind(set.tx_hash.as_ref().map(|h| h.as_slice()))
                        .bind(codec::opt_int(set.block).map_err(store_error)?)
                        .bind(key)
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                }
                Some(Effect::Set(set)) => {
                    sqlx::query(SET_OPERATIONS)
                        .bind(set.status.as_str())
                        .bind(set.tx_hash.as_ref().map(|h| h.as_slice()))
                        .bind(codec::opt_int(set.block).map_err(store_error)?)
                        .bind(set.reason.as_deref())
                        .bind(key)
                        .execute(&mut *tx)
                        .await
                        .map_err(store_error)?;
                }
                None => {}
            }
            if settle
                && matches!(&effect, Some(Effect::Set(set)) if set.status == BatchStatus::Failed)
            {
                // Nothing of the batch was settled: its channels are candidates again.
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
            tx.commit().await.map_err(store_error)?;
        });
        Ok(())
    }
}

/// What one journal op does to the rows its job carries (its batch, or its operations).
#[derive(Debug, PartialEq, Eq)]
enum Effect {
    /// One of its transactions was broadcast: `submitted`, with that hash, unless already mined.
    Broadcast(B256),
    /// A reorg took its block away.
    Unmined,
    /// A new status with the transaction (if any) that decided it.
    Set(Outcome),
}

#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    status: BatchStatus,
    tx_hash: Option<B256>,
    block: Option<u64>,
    /// The escrow's revert data, for operations.
    reason: Option<Vec<u8>>,
}

/// A batch not mined yet takes the hash of its latest broadcast transaction.
const BROADCAST_BATCH: &str = "UPDATE settlement_batches SET status = 'submitted', tx_hash = $1 \
     WHERE batch_id = $2 AND status IN ('pending', 'submitted') AND block_number IS NULL";
const UNMINE_BATCH: &str = "UPDATE settlement_batches SET block_number = NULL WHERE batch_id = $1";
const SET_BATCH: &str = "UPDATE settlement_batches SET status = $1, tx_hash = $2, block_number = $3 \
     WHERE batch_id = $4";
/// Operations still in flight: `pending` in their job, or `submitted`.
const BROADCAST_OPERATIONS: &str = "UPDATE operations SET status = 'submitted', tx_hash = $1 \
     WHERE job_id = $2 AND status IN ('pending', 'submitted') AND block_number IS NULL";
const UNMINE_OPERATIONS: &str = "UPDATE operations SET block_number = NULL \
     WHERE job_id = $1 AND status IN ('pending', 'submitted')";
const SET_OPERATIONS: &str = "UPDATE operations SET status = $1, tx_hash = $2, block_number = $3, \
     reason = $4 WHERE job_id = $5 AND status IN ('pending', 'submitted')";

impl Effect {
    /// The effect of `op` on a job of `kind` in `state`, going to `next` (`None`: the journal stores
    /// nothing); `None` if its rows do not change.
    fn of(kind: JobKind, state: &TxState, op: &JournalOp, next: Option<&TxState>) -> Option<Self> {
        if kind == JobKind::Other {
            return None;
        }
        let set = |status, tx_hash, block, reason| {
            Some(Self::Set(Outcome {
                status,
                tx_hash,
                block,
                reason,
            }))
        };
        let moves = next.is_some();
        match op {
            JournalOp::MarkBroadcast(hash) if !is_cancel(state, hash) => {
                Some(Self::Broadcast(*hash))
            }
            JournalOp::MarkIncluded(i) if moves && !i.cancel => set(
                BatchStatus::Submitted,
                Some(i.tx_hash),
                Some(i.block.number),
                None,
            ),
            JournalOp::MarkPending if moves => Some(Self::Unmined),
            // The indexer tells each operation's fate from the transaction's events.
            JournalOp::MarkConfirmed(i)
                if i.success && !i.cancel && kind == JobKind::Operations =>
            {
                None
            }
            JournalOp::MarkConfirmed(i) if moves && i.success && !i.cancel => set(
                BatchStatus::Confirmed,
                Some(i.tx_hash),
                Some(i.block.number),
                None,
            ),
            JournalOp::MarkConfirmed(i) if moves => set(
                BatchStatus::Failed,
                Some(i.tx_hash),
                Some(i.block.number),
                None,
            ),
            JournalOp::MarkFailed(reason) if moves => set(
                BatchStatus::Failed,
                None,
                None,
                revert_data(reason).filter(|_| kind == JobKind::Operations),
            ),
            JournalOp::Requeue(_) if moves => set(BatchStatus::Pending, None, None, None),
            _ => None,
        }
    }
}

/// Whether `hash` is a cancel among the job's attempts.
fn is_cancel(state: &TxState, hash: &B256) -> bool {
    match state {
        TxState::Pending { attempts, .. } | TxState::Included { attempts, .. } => {
            attempts.iter().any(|a| a.hash == *hash && a.cancel)
        }
        _ => false,
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
        let now = codec::int(unix_now()).map_err(store_error)?;
        let existing: Option<Vec<u8>> = with_pool!(self, |pool| {
            // Two constants joined: nothing of the input is in the SQL.
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "{INSERT_JOB} ON CONFLICT (tx_id) DO NOTHING"
            )))
            .bind(key)
            .bind(JobKind::Other.as_str())
            .bind(calldata.as_ref())
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

    async fn apply(&self, id: TxId, op: JournalOp) -> ChainResult<()> {
        self.journal_op(id, op).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_job_is_stored_queued() {
        assert!(INSERT_JOB.contains(&format!("'{}'", state_json(&TxState::Queued).unwrap())));
    }

    #[test]
    fn revert_reasons_keep_their_data() {
        assert_eq!(revert_data("call reverted: 0x0102"), Some(vec![1, 2]));
        assert_eq!(revert_data("rpc error"), None);
    }
}
