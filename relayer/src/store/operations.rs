//! Signed gasless operations: queued by the API, carried by the submitter.

use piecepay_protocol::{
    alloy_primitives::{B256, Bytes},
    relayer_api::{OperationKind, OperationState, OperationStatus, OperationSubmission},
};

use super::{Store, codec, with_pool};
use crate::{Error, Result};

/// An operation to queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperationRow {
    /// Its id (EIP-712 signing hash).
    pub operation_id: B256,
    /// The submission as received (canonicalised from the parsed operation).
    pub submission: OperationSubmission,
    /// The channel it acts on, if any.
    pub channel_id: Option<B256>,
    /// The fee it pays.
    pub fee: u128,
    /// Its deadline.
    pub deadline: u64,
}

type StatusRow = (
    String,
    String,
    Option<Vec<u8>>,
    Option<i64>,
    Option<Vec<u8>>,
);

impl Store {
    /// Queues operations in **one transaction**, in order; per operation, `true` if it was queued now and
    /// `false` if one with the same id was already there (a duplicate, unchanged).
    pub async fn queue_operations(&self, rows: &[OperationRow], now: u64) -> Result<Vec<bool>> {
        let mut queued = Vec::with_capacity(rows.len());
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            for row in rows {
                let body = serde_json::to_string(&row.submission)
                    .map_err(|e| Error::Internal(format!("encoding an operation: {e}")))?;
                let inserted = sqlx::query_scalar::<_, Vec<u8>>(
                    "INSERT INTO operations (operation_id, kind, body, channel_id, fee, deadline, status, \
                     created_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7) \
                     ON CONFLICT (operation_id) DO NOTHING RETURNING operation_id",
                )
                .bind(row.operation_id.as_slice())
                .bind(row.submission.kind().as_str())
                .bind(body)
                .bind(row.channel_id.as_ref().map(|id| id.as_slice()))
                .bind(codec::amount(row.fee))
                .bind(codec::int(row.deadline)?)
                .bind(codec::int(now)?)
                .fetch_optional(&mut *tx)
                .await?;
                queued.push(inserted.is_some());
            }
            tx.commit().await?;
        });
        Ok(queued)
    }

    /// `GET /v1/operations/{id}`, or `None` if never queued here.
    pub async fn operation_status(&self, operation_id: &B256) -> Result<Option<OperationStatus>> {
        let row: Option<StatusRow> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT kind, status, tx_hash, block_number, reason FROM operations \
                 WHERE operation_id = $1",
            )
            .bind(operation_id.as_slice())
            .fetch_optional(pool)
            .await?
        });
        let Some((kind, status, tx_hash, block, reason)) = row else {
            return Ok(None);
        };
        Ok(Some(OperationStatus {
            operation_id: *operation_id,
            kind: parse_kind(&kind)?,
            status: parse_status(&status)?,
            transaction_hash: tx_hash
                .map(|h| codec::b256(&h, "operations.tx_hash"))
                .transpose()?,
            block_number: block
                .map(|b| codec::parse_int(b, "operations.block_number"))
                .transpose()?,
            reason: reason.map(Bytes::from),
        }))
    }

    /// Operations waiting for a batch, oldest first, at most `limit`; those whose deadline is before
    /// `now` are marked `expired` first and not returned. (Operations in a job read `pending` too until
    /// one of its transactions is broadcast; the job carries them.)
    pub async fn pending_operations(
        &self,
        now: u64,
        limit: usize,
    ) -> Result<Vec<(B256, OperationSubmission)>> {
        let rows: Vec<(Vec<u8>, String)> = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE operations SET status = 'expired' \
                 WHERE status = 'pending' AND job_id IS NULL AND deadline < $1",
            )
            .bind(codec::int(now)?)
            .execute(pool)
            .await?;
            sqlx::query_as(
                "SELECT operation_id, body FROM operations WHERE status = 'pending' AND job_id IS NULL \
                 ORDER BY created_at, operation_id LIMIT $1",
            )
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(id, body)| {
                let submission =
                    serde_json::from_str(&body).map_err(|_| codec::corrupt("operations.body"))?;
                Ok((codec::b256(&id, "operations.operation_id")?, submission))
            })
            .collect()
    }

    /// Moves operations to `status`, with the transaction, block and escrow reason where known.
    pub async fn mark_operation(
        &self,
        operation_id: &B256,
        status: OperationState,
        tx_hash: Option<B256>,
        block_number: Option<u64>,
        reason: Option<&[u8]>,
    ) -> Result<()> {
        with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE operations SET status = $1, tx_hash = $2, block_number = $3, reason = $4 \
                 WHERE operation_id = $5",
            )
            .bind(status_str(status))
            .bind(tx_hash.as_ref().map(|h| h.as_slice()))
            .bind(codec::opt_int(block_number)?)
            .bind(reason)
            .bind(operation_id.as_slice())
            .execute(pool)
            .await?;
        });
        Ok(())
    }
}

fn parse_kind(text: &str) -> Result<OperationKind> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| codec::corrupt("operations.kind"))
}

const fn status_str(status: OperationState) -> &'static str {
    match status {
        OperationState::Pending => "pending",
        OperationState::Submitted => "submitted",
        OperationState::Applied => "applied",
        OperationState::Failed => "failed",
        OperationState::Expired => "expired",
    }
}

fn parse_status(text: &str) -> Result<OperationState> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| codec::corrupt("operations.status"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_and_status_strings_match_the_api() {
        for kind in OperationKind::ALL {
            assert_eq!(parse_kind(kind.as_str()).unwrap(), kind);
        }
        for status in [
            OperationState::Pending,
            OperationState::Submitted,
            OperationState::Applied,
            OperationState::Failed,
            OperationState::Expired,
        ] {
            assert_eq!(parse_status(status_str(status)).unwrap(), status);
        }
    }
}
