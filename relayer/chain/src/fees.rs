//! EIP-1559 fees: the first attempt's from the market, replacements bumped on both fields.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The two EIP-1559 fee fields of a transaction, in wei per gas.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fees {
    /// `maxFeePerGas`: the most the transaction pays per gas, base fee included.
    #[serde(with = "piecepay_protocol::amount::decimal")]
    pub max_fee_per_gas: u128,
    /// `maxPriorityFeePerGas`: the tip to the block producer, within `max_fee_per_gas`.
    #[serde(with = "piecepay_protocol::amount::decimal")]
    pub max_priority_fee_per_gas: u128,
}

/// How the submitter prices its transactions.
///
/// Nodes (geth, reth, anvil) accept a replacement for a pending nonce only if **both** fields rose by at
/// least 10 %: anything less is "replacement transaction underpriced". So every bump raises both by
/// `bump_percent` (≥ 10) or to the market's current price if that is higher, never lowers either, and
/// stops at `max_fee_cap`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeePolicy {
    /// The highest `maxFeePerGas` the submitter ever offers (wei per gas).
    #[serde(with = "piecepay_protocol::amount::decimal")]
    pub max_fee_cap: u128,
    /// The lowest tip offered (wei per gas): some nodes' suggestion is 0 on quiet chains.
    #[serde(with = "piecepay_protocol::amount::decimal")]
    pub min_priority_fee: u128,
    /// `maxFeePerGas = base_fee × base_fee_multiplier + tip`: headroom for the base fee to rise while the
    /// transaction waits (2 covers six full blocks in a row).
    #[serde(with = "piecepay_protocol::amount::decimal")]
    pub base_fee_multiplier: u128,
    /// Percent both fields rise per replacement; at least 10.
    #[serde(with = "piecepay_protocol::amount::decimal")]
    pub bump_percent: u128,
}

impl Default for FeePolicy {
    fn default() -> Self {
        Self {
            max_fee_cap: 500_000_000_000, // 500 gwei
            min_priority_fee: 1_000_000,  // 0.001 gwei
            base_fee_multiplier: 2,
            bump_percent: 12,
        }
    }
}

impl FeePolicy {
    /// Checks the policy's bounds: bump ≥ 10 %, a non-zero cap at or above the minimum tip, a multiplier
    /// ≥ 1.
    pub fn validate(&self) -> Result<()> {
        if self.bump_percent < 10 {
            return Err(Error::Config(format!(
                "fee bump {} % is below the 10 % nodes require for a replacement",
                self.bump_percent
            )));
        }
        if self.max_fee_cap == 0 || self.max_fee_cap < self.min_priority_fee {
            return Err(Error::Config(
                "max fee cap must be positive and at least the minimum tip".into(),
            ));
        }
        if self.base_fee_multiplier == 0 {
            return Err(Error::Config(
                "base fee multiplier must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// The market price now: from the next block's base fee and the node's suggested tip (`eth_feeHistory`
    /// reward percentile or `eth_maxPriorityFeePerGas`), capped.
    pub fn market(&self, base_fee: u128, suggested_tip: u128) -> Fees {
        let tip = suggested_tip.max(self.min_priority_fee);
        let max_fee = base_fee
            .saturating_mul(self.base_fee_multiplier)
            .saturating_add(tip);
        self.capped(Fees {
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: tip,
        })
    }

    /// The fees of a replacement for an attempt that paid `previous`, with the market at `market`: both
    /// fields at least `bump_percent` higher (rounded up) and at least the market's, capped.
    ///
    /// `None` if the cap leaves no room for a valid replacement (either field would rise by less than
    /// 10 %): the attempt can only wait, or the job be cancelled.
    pub fn bump(&self, previous: Fees, market: Fees) -> Option<Fees> {
        let raise = |value: u128| -> u128 {
            // Rounded up and at least +1, so a bump of a tiny value still moves.
            let bumped = value.saturating_mul(100 + self.bump_percent).div_ceil(100);
            bumped.max(value.saturating_add(1))
        };
        let wanted = Fees {
            max_fee_per_gas: raise(previous.max_fee_per_gas).max(market.max_fee_per_gas),
            max_priority_fee_per_gas: raise(previous.max_priority_fee_per_gas)
                .max(market.max_priority_fee_per_gas),
        };
        let next = self.capped(wanted);
        let enough = |new: u128, old: u128| new.saturating_mul(100) >= old.saturating_mul(110);
        (enough(next.max_fee_per_gas, previous.max_fee_per_gas)
            && enough(
                next.max_priority_fee_per_gas,
                previous.max_priority_fee_per_gas,
            ))
        .then_some(next)
    }

    /// `fees` within the cap, and the tip within the max fee.
    fn capped(&self, fees: Fees) -> Fees {
        let max_fee = fees.max_fee_per_gas.min(self.max_fee_cap);
        Fees {
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: fees.max_priority_fee_per_gas.min(max_fee),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GWEI: u128 = 1_000_000_000;

    fn policy() -> FeePolicy {
        FeePolicy {
            max_fee_cap: 100 * GWEI,
            min_priority_fee: GWEI,
            base_fee_multiplier: 2,
            bump_percent: 10,
        }
    }

    fn fees(max: u128, tip: u128) -> Fees {
        Fees {
            max_fee_per_gas: max,
            max_priority_fee_per_gas: tip,
        }
    }

    #[test]
    fn market_doubles_the_base_fee_and_floors_the_tip() {
        assert_eq!(policy().market(10 * GWEI, 0), fees(21 * GWEI, GWEI));
        assert_eq!(
            policy().market(10 * GWEI, 3 * GWEI),
            fees(23 * GWEI, 3 * GWEI)
        );
        // Capped, with the tip never above the max fee.
        assert_eq!(
            policy().market(80 * GWEI, 200 * GWEI),
            fees(100 * GWEI, 100 * GWEI)
        );
    }

    #[test]
    fn bump_raises_both_fields_by_at_least_ten_percent() {
        let next = policy().bump(fees(20 * GWEI, GWEI), fees(0, 0)).unwrap();
        assert_eq!(next, fees(22 * GWEI, GWEI + GWEI / 10));
        // Rounded up: 10 % of 15 wei is 1.5 wei.
        let next = policy().bump(fees(15, 15), fees(0, 0)).unwrap();
        assert_eq!(next, fees(17, 17));
        // Tiny values still move.
        let next = policy().bump(fees(1, 0), fees(0, 0)).unwrap();
        assert_eq!(next, fees(2, 1));
    }

    #[test]
    fn bump_follows_a_market_that_rose_more() {
        let next = policy()
            .bump(fees(20 * GWEI, GWEI), fees(60 * GWEI, 2 * GWEI))
            .unwrap();
        assert_eq!(next, fees(60 * GWEI, 2 * GWEI));
    }

    #[test]
    fn bump_never_lowers_when_the_market_fell() {
        let previous = fees(50 * GWEI, 5 * GWEI);
        let next = policy().bump(previous, fees(GWEI, GWEI)).unwrap();
        assert!(next.max_fee_per_gas > previous.max_fee_per_gas);
        assert!(next.max_priority_fee_per_gas > previous.max_priority_fee_per_gas);
    }

    #[test]
    fn bump_stops_at_the_cap() {
        // 95 → 104.5 is capped to 100: +5 %, not a valid replacement.
        assert_eq!(policy().bump(fees(95 * GWEI, GWEI), fees(0, 0)), None);
        assert_eq!(policy().bump(fees(100 * GWEI, GWEI), fees(0, 0)), None);
        // 90 → 99 is fine.
        assert_eq!(
            policy().bump(fees(90 * GWEI, GWEI), fees(0, 0)),
            Some(fees(99 * GWEI, GWEI + GWEI / 10))
        );
        // A tip already at the max fee cannot rise past the cap either.
        assert_eq!(policy().bump(fees(95 * GWEI, 95 * GWEI), fees(0, 0)), None);
    }

    #[test]
    fn validate_refuses_small_bumps_and_empty_caps() {
        assert!(policy().validate().is_ok());
        assert!(FeePolicy::default().validate().is_ok());
        let small = FeePolicy {
            bump_percent: 9,
            ..policy()
        };
        assert_eq!(small.validate().unwrap_err().code(), "config");
        let zero = FeePolicy {
            max_fee_cap: 0,
            ..policy()
        };
        assert!(zero.validate().is_err());
        let flat = FeePolicy {
            base_fee_multiplier: 0,
            ..policy()
        };
        assert!(flat.validate().is_err());
    }
}
