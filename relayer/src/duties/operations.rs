//! One operations round: the pending gasless operations, one `…BySig` batch per kind (each cooperative
//! close alone), pre-flighted, stored with their journal job.
//!
//! An entry the pre-flight says the escrow would skip is marked `failed` with the escrow's reason —
//! unless one of our transactions is still in flight (an open this round, say, that a top-up needs):
//! then it stays `pending` and is tried again next round, until it applies, fails with nothing in
//! flight, or its deadline passes (`expired`).

use piecepay_protocol::{
    alloy_primitives::{B256, Bytes},
    relayer_api::{Operation, OperationKind, OperationState},
};
use piecepay_relayer_chain::{
    Error as ChainError,
    preflight::{call, decode_by_sig_failures},
};

use super::{Context, operations_calldata};
use crate::{Result, ingest::unix_now};

/// Most operations one round reads (and one `…BySig` batch carries).
const MAX_PER_ROUND: usize = 100;

/// Runs one round; `Ok(true)` if a job was queued.
pub async fn round(context: &Context) -> Result<bool> {
    let now = unix_now();
    let pending = context.store.pending_operations(now, MAX_PER_ROUND).await?;
    if pending.is_empty() {
        return Ok(false);
    }
    let mut groups: Vec<(OperationKind, Vec<(B256, Operation)>)> = Vec::new();
    for (id, submission) in pending {
        match submission.parse() {
            Ok(operation) => {
                let kind = operation.kind();
                match groups.iter_mut().find(|(k, _)| *k == kind) {
                    Some((_, ops)) => ops.push((id, operation)),
                    None => groups.push((kind, vec![(id, operation)])),
                }
            }
            Err(error) => {
                // Verified when queued; a row that no longer parses is corrupt: never sent.
                tracing::error!(operation = %id, error = %error.message, "stored operation does not parse");
                context
                    .store
                    .mark_operation(&id, OperationState::Failed, None, None, None)
                    .await?;
            }
        }
    }
    let mut queued = false;
    for (kind, operations) in groups {
        if kind == OperationKind::CooperativeClose {
            for one in operations {
                queued |= submit(context, kind, vec![one], now).await?;
            }
        } else {
            queued |= submit(context, kind, operations, now).await?;
        }
    }
    Ok(queued)
}

/// Pre-flights `operations` (all of `kind`) as one call, settles the fate of those the escrow would
/// skip, and stores the rest as one job.
async fn submit(
    context: &Context,
    kind: OperationKind,
    operations: Vec<(B256, Operation)>,
    now: u64,
) -> Result<bool> {
    let Some(calldata) = operations_calldata(kind, operations.iter().map(|(_, o)| o)) else {
        return Ok(false);
    };
    let escrow = context.settings.escrow;
    let failures: Vec<Bytes> = if kind == OperationKind::CooperativeClose {
        match call(&context.provider, context.address, escrow, calldata.into()).await {
            Ok(_) => vec![Bytes::new()],
            Err(ChainError::Reverted { data }) => vec![data],
            Err(error) => return Err(error.into()),
        }
    } else {
        // `call` rather than `preflight_by_sig`: a revert of the whole batch fails every entry.
        match call(&context.provider, context.address, escrow, calldata.into()).await {
            Ok(data) => decode_by_sig_failures(&data)?,
            Err(ChainError::Reverted { data }) => vec![data; operations.len()],
            Err(error) => return Err(error.into()),
        }
    };
    if failures.len() != operations.len() {
        return Err(ChainError::rpc(
            format!("{} pre-flight", kind.as_str()),
            format!(
                "{} results returned for {} operations",
                failures.len(),
                operations.len()
            ),
        )
        .into());
    }
    let in_flight = context.store.unfinished_jobs().await? > 0;
    let mut kept = Vec::new();
    for ((id, operation), failure) in operations.into_iter().zip(failures) {
        if failure.is_empty() {
            kept.push((id, operation));
        } else if in_flight {
            tracing::debug!(operation = %id, "pre-flight refuses it while our transactions are in flight; retrying later");
        } else {
            tracing::info!(operation = %id, reason = %failure, "pre-flight: the escrow refuses it");
            context
                .store
                .mark_operation(&id, OperationState::Failed, None, None, Some(&failure))
                .await?;
        }
    }
    let Some(calldata) = operations_calldata(kind, kept.iter().map(|(_, o)| o)) else {
        return Ok(false);
    };
    let ids: Vec<B256> = kept.iter().map(|(id, _)| *id).collect();
    let job = context
        .store
        .create_operations_job(kind.as_str(), &ids, now, &calldata)
        .await?;
    tracing::info!(%job, kind = kind.as_str(), operations = ids.len(), "operations batch queued");
    Ok(true)
}
