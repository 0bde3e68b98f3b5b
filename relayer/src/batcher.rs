//! The batcher's policy: which channels to settle now, at what fee, and whether it is worth the gas.
//! Pure: it takes the candidates, the clock and the gas price, and returns a [`Plan`]; the leader's loop
//! (`duties`) stores the batch and hands its calldata to the chain crate's submitter.
//!
//! A channel is **due** when any of these holds:
//! - its unsettled value (`held − settled`) reached `batch.value_threshold`;
//! - its oldest unsettled receipt is `batch.max_age_s` old;
//! - **watchtower**: it is closing and its challenge window ends within `batch.close_margin_s` — value
//!   the payee would lose, settled whether or not the payee is online.
//!
//! **Gas rule.** A due channel that is not urgent is left for later when its share of the batch's gas
//! (`per-receipt gas × gas price × batch.token_per_wei`) exceeds `batch.max_gas_share_bps` of its value,
//! and the batch as a whole is held back when its total gas exceeds that share of its total value. Urgent
//! (watchtower) entries are never held back: the alternative is losing them.

use piecepay_protocol::{
    CompactSignature, Receipt, alloy_primitives::aliases::U96, relayer_api::ChannelState,
    settle_batch::SettleBatch,
};

use crate::{config::BatchConfig, store::SettlementCandidate};

/// Gas of a `settleBatch` transaction besides its receipts (21,000 intrinsic, call and group overhead).
pub const BASE_GAS: u64 = 30_000;

/// Gas per settled receipt in a large batch (the contracts' bench: ≤ 12,000 at 200 receipts).
pub const GAS_PER_RECEIPT: u64 = 12_000;

/// What the policy decided for one round.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// The channels to settle now, urgent first.
    pub entries: Vec<PlannedEntry>,
    /// Due channels held back by the gas rule this round.
    pub held_back: usize,
}

/// One channel of a plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlannedEntry {
    /// The candidate.
    pub candidate: SettlementCandidate,
    /// The fee the batch claims for its group (`min(settle_fee_bps, payee's cap)`).
    pub fee_bps: u16,
    /// Whether it is settled by the watchtower rule.
    pub urgent: bool,
}

/// The policy's inputs besides the candidates.
#[derive(Clone, Copy, Debug)]
pub struct PolicyInputs<'a> {
    /// `[batch]`.
    pub config: &'a BatchConfig,
    /// `batch.value_threshold`, parsed.
    pub value_threshold: u128,
    /// `fees.settle_fee_bps`.
    pub settle_fee_bps: u16,
    /// Unix time.
    pub now: u64,
    /// Current gas price, in wei.
    pub gas_price_wei: u128,
}

impl Plan {
    /// The total unsettled value the plan settles.
    pub fn value(&self) -> u128 {
        self.entries
            .iter()
            .map(|e| e.candidate.cumulative.saturating_sub(e.candidate.settled))
            .sum()
    }

    /// Estimated gas of the plan's transaction.
    pub fn estimated_gas(&self) -> u64 {
        BASE_GAS + GAS_PER_RECEIPT * self.entries.len() as u64
    }

    /// The `settleBatch` payload of the plan.
    pub fn batch(&self) -> SettleBatch {
        let mut batch = SettleBatch::new();
        for entry in &self.entries {
            let receipt = Receipt {
                payee: entry.candidate.payee,
                salt: entry.candidate.salt,
                cumulative: U96::saturating_from(entry.candidate.cumulative),
            };
            let signature: CompactSignature = entry.candidate.signature;
            batch.push(&receipt, &signature, entry.fee_bps);
        }
        batch
    }
}

/// Decides which of `candidates` to settle now.
pub fn plan(candidates: &[SettlementCandidate], inputs: &PolicyInputs<'_>) -> Plan {
    let config = inputs.config;
    let mut due: Vec<PlannedEntry> = candidates
        .iter()
        .filter_map(|c| {
            let value = c.cumulative.checked_sub(c.settled).filter(|v| *v > 0)?;
            let urgent = match c.state {
                ChannelState::Closed => return None,
                ChannelState::Closing => match c.closes_at {
                    // Past the window the escrow refuses it: nothing to gain.
                    Some(closes_at) if inputs.now > closes_at => return None,
                    Some(closes_at) => closes_at - inputs.now <= config.close_margin_s,
                    None => false,
                },
                ChannelState::Open => false,
            };
            let old = inputs.now.saturating_sub(c.pending_since) >= config.max_age_s;
            (urgent || old || value >= inputs.value_threshold).then(|| PlannedEntry {
                candidate: *c,
                fee_bps: inputs.settle_fee_bps.min(c.fee_cap_bps),
                urgent,
            })
        })
        .collect();
    // Urgent first, soonest deadline first; then the most valuable.
    due.sort_by(|a, b| {
        b.urgent
            .cmp(&a.urgent)
            .then_with(|| a.candidate.closes_at.cmp(&b.candidate.closes_at))
            .then_with(|| value(b).cmp(&value(a)))
    });
    let share = |v: u128| v as f64 * f64::from(config.max_gas_share_bps) / 10_000.0;
    let gas_cost = |gas: u64| gas as f64 * inputs.gas_price_wei as f64 * config.token_per_wei;
    let due_count = due.len();
    if config.token_per_wei > 0.0 {
        due.retain(|e| e.urgent || gas_cost(GAS_PER_RECEIPT) <= share(value(e)));
    }
    let mut held_back = due_count - due.len();
    // Entries beyond one batch wait for the next round; they are not held back by gas.
    due.truncate(config.max_receipts);
    let mut plan = Plan {
        entries: due,
        held_back: 0,
    };
    if config.token_per_wei > 0.0
        && !plan.entries.iter().any(|e| e.urgent)
        && gas_cost(plan.estimated_gas()) > share(plan.value())
    {
        held_back += plan.entries.len();
        plan.entries.clear();
    }
    plan.held_back = held_back;
    plan
}

fn value(entry: &PlannedEntry) -> u128 {
    entry
        .candidate
        .cumulative
        .saturating_sub(entry.candidate.settled)
}

#[cfg(test)]
mod tests {
    use piecepay_protocol::alloy_primitives::{Address, B256};

    use super::*;

    fn candidate(salt: u32, value: u128, pending_since: u64) -> SettlementCandidate {
        SettlementCandidate {
            channel_id: B256::with_last_byte(salt as u8),
            payee: Address::repeat_byte(2),
            salt,
            cumulative: 100 + value,
            signature: CompactSignature::new(B256::repeat_byte(1), B256::repeat_byte(2)),
            settled: 100,
            state: ChannelState::Open,
            closes_at: None,
            pending_since,
            fee_cap_bps: 10,
        }
    }

    fn config() -> BatchConfig {
        BatchConfig {
            value_threshold: "1000".into(),
            max_age_s: 3_600,
            close_margin_s: 600,
            max_gas_share_bps: 1_000,
            token_per_wei: 0.0,
            max_receipts: 200,
            interval_ms: 1_000,
        }
    }

    fn inputs(config: &BatchConfig, now: u64, gas_price_wei: u128) -> PolicyInputs<'_> {
        PolicyInputs {
            config,
            value_threshold: 1_000,
            settle_fee_bps: 25,
            now,
            gas_price_wei,
        }
    }

    fn salts(plan: &Plan) -> Vec<u32> {
        plan.entries.iter().map(|e| e.candidate.salt).collect()
    }

    #[test]
    fn value_age_and_close_deadline_make_a_channel_due() {
        let config = config();
        let mut closing = candidate(4, 5, 9_990);
        closing.state = ChannelState::Closing;
        closing.closes_at = Some(10_300);
        let mut far_closing = candidate(5, 5, 9_990);
        far_closing.state = ChannelState::Closing;
        far_closing.closes_at = Some(20_000);
        let mut expired = candidate(6, 5_000, 0);
        expired.state = ChannelState::Closing;
        expired.closes_at = Some(9_000);
        let candidates = [
            candidate(1, 1_000, 9_999), // value
            candidate(2, 10, 5_000),    // age
            candidate(3, 10, 9_999),    // neither
            closing,
            far_closing,
            expired,
        ];
        let plan = plan(&candidates, &inputs(&config, 10_000, 1));
        assert_eq!(salts(&plan), [4, 1, 2], "urgent first, then by value");
        assert!(plan.entries[0].urgent);
        assert_eq!(plan.entries[1].fee_bps, 10, "capped by the payee's cap");
        assert_eq!(plan.value(), 5 + 1_000 + 10);
    }

    #[test]
    fn gas_rule_holds_back_small_values_but_never_urgent_ones() {
        let mut config = config();
        config.token_per_wei = 1.0;
        // 12,000 gas × 1 wei × 1 token/wei = 12,000 tokens per receipt; 10% share needs ≥ 120,000.
        let mut closing = candidate(3, 5, 0);
        closing.state = ChannelState::Closing;
        closing.closes_at = Some(10_100);
        let candidates = [candidate(1, 200_000, 0), candidate(2, 50_000, 0), closing];
        let plan = plan(&candidates, &inputs(&config, 10_000, 1));
        assert_eq!(salts(&plan), [3, 1]);
        assert_eq!(plan.held_back, 1);

        // Alone and not urgent, a batch whose total gas is too dear waits.
        let lone = [candidate(1, 130_000, 0)];
        let plan = super::plan(&lone, &inputs(&config, 10_000, 1));
        assert!(plan.entries.is_empty());
        assert_eq!(plan.held_back, 1);
    }

    #[test]
    fn a_batch_holds_at_most_max_receipts_and_encodes() {
        let mut config = config();
        config.max_receipts = 2;
        let candidates: Vec<_> = (1..=5)
            .map(|s| candidate(s, 2_000 + u128::from(s), 0))
            .collect();
        let plan = plan(&candidates, &inputs(&config, 10_000, 1));
        assert_eq!(salts(&plan), [5, 4]);
        assert_eq!(plan.held_back, 0);
        let batch = plan.batch();
        assert_eq!(batch.len(), 2);
        assert_eq!(batch.groups()[0].fee_bps, 10);
        assert!(!batch.calldata().is_empty());
    }
}
