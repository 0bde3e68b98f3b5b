//! One settlement round: candidates → policy → pre-flight → a stored batch and its journal job.

use std::{
    collections::HashMap,
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use piecepay_protocol::alloy_primitives::{Address, B256};
use piecepay_relayer_chain::{
    Error as ChainError,
    alloy::providers::Provider,
    preflight::{preflight_settle, split_by_outcomes},
    rpc,
};

use super::Context;
use crate::{
    Error, Result,
    batcher::{self, PolicyInputs},
    ingest::unix_now,
    store::{BatchEntry, SettlementCandidate},
};

/// How long a receipt the pre-flight dropped is left out of the plans (the indexer catches up meanwhile:
/// a `stale` receipt is usually one that was just settled).
const DROPPED_BACKOFF: Duration = Duration::from_secs(30);

/// The settlement side of the batcher, with what it remembers between rounds.
#[derive(Debug, Default)]
pub struct Settler {
    /// Receipts (channel, cumulative) the pre-flight dropped, left out until the instant.
    dropped: HashMap<B256, (u128, Instant)>,
}

/// Identifies a receipt in a batch (the payer is not in the batch: the signature tells them apart).
type ReceiptKey = (Address, u32, u128, B256);

fn key_of(c: &SettlementCandidate) -> ReceiptKey {
    (c.payee, c.salt, c.cumulative, c.signature.r)
}

/// `closes_at` (chain time) in wall-clock terms, `skew` = chain time − wall time.
fn to_wall_clock(closes_at: u64, skew: i128) -> u64 {
    u64::try_from((i128::from(closes_at) - skew).max(0)).unwrap_or(u64::MAX)
}

impl Settler {
    /// Plans, pre-flights and stores at most one batch; `Ok(true)` if one was queued.
    pub async fn round(&mut self, context: &Context) -> Result<bool> {
        let config = &context.settings.config.batch;
        let candidates = context
            .store
            .settlement_candidates(config.max_receipts.saturating_mul(4))
            .await?;
        let now = unix_now();
        let started = Instant::now();
        self.dropped.retain(|_, (_, until)| *until > started);
        let candidates: Vec<SettlementCandidate> = candidates
            .into_iter()
            .filter(|c| {
                self.dropped
                    .get(&c.channel_id)
                    .is_none_or(|(cumulative, _)| *cumulative != c.cumulative)
            })
            .collect();
        if candidates.is_empty() {
            return Ok(false);
        }
        // The escrow compares deadlines with block time; the policy runs on wall time.
        let head = rpc::latest_block(&context.provider).await?;
        let skew = i128::from(head.header.timestamp) - i128::from(now);
        let candidates: Vec<SettlementCandidate> = candidates
            .into_iter()
            .map(|mut c| {
                c.closes_at = c.closes_at.map(|t| to_wall_clock(t, skew));
                c
            })
            .collect();
        let gas_price_wei = context
            .provider
            .get_gas_price()
            .await
            .map_err(|e| ChainError::rpc("eth_gasPrice", e))?;
        let plan = batcher::plan(
            &candidates,
            &PolicyInputs {
                config,
                value_threshold: context.settings.value_threshold,
                settle_fee_bps: context.settings.config.fees.settle_fee_bps,
                now,
                gas_price_wei,
            },
        );
        context
            .metrics
            .batches_skipped_gas
            .fetch_add(plan.held_back as u64, Ordering::Relaxed);
        if plan.entries.is_empty() {
            return Ok(false);
        }
        let batch = plan.batch();
        let outcomes = preflight_settle(
            &context.provider,
            context.settings.escrow,
            context.address,
            &batch,
        )
        .await?;
        let (kept, dropped) = split_by_outcomes(&batch, &outcomes)?;
        let planned: HashMap<ReceiptKey, &SettlementCandidate> = plan
            .entries
            .iter()
            .map(|e| (key_of(&e.candidate), &e.candidate))
            .collect();
        let lookup = |payee, salt, cumulative: u128, r| planned.get(&(payee, salt, cumulative, r));
        for d in &dropped {
            let cumulative = d.receipt.cumulative.to::<u128>();
            if let Some(c) = lookup(d.receipt.payee, d.receipt.salt, cumulative, d.signature.r) {
                tracing::info!(channel = %c.channel_id, cumulative, outcome = ?d.outcome,
                    "pre-flight: the escrow would skip this receipt; left out");
                self.dropped
                    .insert(c.channel_id, (cumulative, started + DROPPED_BACKOFF));
            }
        }
        let mut entries = Vec::with_capacity(kept.len());
        let mut value = 0u128;
        for (receipt, signature, _) in kept.receipts() {
            let cumulative = receipt.cumulative.to::<u128>();
            let c = lookup(receipt.payee, receipt.salt, cumulative, signature.r)
                .ok_or_else(|| Error::Internal("a kept receipt is not in the plan".into()))?;
            value += c.cumulative.saturating_sub(c.settled);
            entries.push(BatchEntry {
                channel_id: c.channel_id,
                cumulative: c.cumulative,
                pending_since: c.pending_since,
            });
        }
        if entries.is_empty() {
            return Ok(false);
        }
        let batch_id = context
            .store
            .create_settlement_job(&entries, value, now, &kept.calldata())
            .await?;
        context
            .metrics
            .batches_submitted
            .fetch_add(1, Ordering::Relaxed);
        context
            .metrics
            .batch_receipts
            .fetch_add(entries.len() as u64, Ordering::Relaxed);
        tracing::info!(
            batch_id,
            receipts = entries.len(),
            value,
            dropped = dropped.len(),
            "settlement batch queued"
        );
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_move_to_wall_clock() {
        assert_eq!(to_wall_clock(1_000, 100), 900, "chain ahead: sooner");
        assert_eq!(to_wall_clock(1_000, -50), 1_050);
        assert_eq!(to_wall_clock(10, 100), 0);
    }
}
