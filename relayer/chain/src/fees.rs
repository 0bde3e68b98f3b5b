//! Transaction fees for both fee markets: EIP-1559 (a base fee per block; two fee fields) and legacy (no
//! base fee, as on chains that stop at Berlin; one `gasPrice`). The first attempt's fees come from the
//! market, replacements are bumped.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// How a chain prices gas, and so which transactions the submitter signs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeeMarket {
    /// London and later: blocks carry `baseFeePerGas`; type-2 transactions with `maxFeePerGas` and
    /// `maxPriorityFeePerGas`.
    #[default]
    Eip1559,
    /// Before London (BitTorrent Chain, other chains that stop at Berlin): no base fee; type-0 transactions
    /// (EIP-155, chain id in the signature) with one `gasPrice`.
    Legacy,
}

impl FeeMarket {
    /// The market of a chain whose latest block has (`Some`) or lacks (`None`) `baseFeePerGas`.
    pub const fn of_base_fee(base_fee: Option<u64>) -> Self {
        match base_fee {
            Some(_) => Self::Eip1559,
            None => Self::Legacy,
        }
    }

    /// A stable snake_case name (`eip1559`, `legacy`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Eip1559 => "eip1559",
            Self::Legacy => "legacy",
        }
    }
}

impl core::fmt::Display for FeeMarket {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The fee fields of one transaction, in wei per gas.
///
/// Stored in the journal as `{"type":"eip1559","max_fee_per_gas":"…","max_priority_fee_per_gas":"…"}` or
/// `{"type":"legacy","gas_price":"…"}`. Records written before legacy transactions existed have no
/// `type` and read as EIP-1559.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "FeesRecord", into = "FeesRecord")]
pub enum Fees {
    /// A type-2 transaction's fields.
    Eip1559 {
        /// `maxFeePerGas`: the most the transaction pays per gas, base fee included.
        max_fee_per_gas: u128,
        /// `maxPriorityFeePerGas`: the tip to the block producer, within `max_fee_per_gas`.
        max_priority_fee_per_gas: u128,
    },
    /// A legacy transaction's `gasPrice`.
    Legacy {
        /// `gasPrice`: what the transaction pays per gas, all of it to the block producer.
        gas_price: u128,
    },
}

impl Default for Fees {
    fn default() -> Self {
        Self::Eip1559 {
            max_fee_per_gas: 0,
            max_priority_fee_per_gas: 0,
        }
    }
}

impl Fees {
    /// The market these fees are for.
    pub const fn market(&self) -> FeeMarket {
        match self {
            Self::Eip1559 { .. } => FeeMarket::Eip1559,
            Self::Legacy { .. } => FeeMarket::Legacy,
        }
    }

    /// The most paid per gas: `maxFeePerGas`, or `gasPrice` (what nodes call the fee cap).
    pub const fn fee_cap(&self) -> u128 {
        match *self {
            Self::Eip1559 {
                max_fee_per_gas, ..
            } => max_fee_per_gas,
            Self::Legacy { gas_price } => gas_price,
        }
    }

    /// The most offered to the block producer: `maxPriorityFeePerGas`, or `gasPrice` (the tip cap).
    pub const fn tip_cap(&self) -> u128 {
        match *self {
            Self::Eip1559 {
                max_priority_fee_per_gas,
                ..
            } => max_priority_fee_per_gas,
            Self::Legacy { gas_price } => gas_price,
        }
    }
}

/// A wei amount as a decimal string, so it can sit in an `Option`.
#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(transparent)]
struct Wei(#[serde(with = "piecepay_protocol::amount::decimal")] u128);

/// [`Fees`] as stored: an optional `type` (absent: EIP-1559, as every record before legacy existed) and
/// the fields of that type, no others.
#[derive(Serialize, Deserialize)]
struct FeesRecord {
    #[serde(rename = "type", default)]
    market: FeeMarket,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_fee_per_gas: Option<Wei>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_priority_fee_per_gas: Option<Wei>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gas_price: Option<Wei>,
}

impl TryFrom<FeesRecord> for Fees {
    type Error = String;

    fn try_from(record: FeesRecord) -> Result<Self, String> {
        match record {
            FeesRecord {
                market: FeeMarket::Eip1559,
                max_fee_per_gas: Some(max_fee),
                max_priority_fee_per_gas: Some(tip),
                gas_price: None,
            } => Ok(Self::Eip1559 {
                max_fee_per_gas: max_fee.0,
                max_priority_fee_per_gas: tip.0,
            }),
            FeesRecord {
                market: FeeMarket::Legacy,
                max_fee_per_gas: None,
                max_priority_fee_per_gas: None,
                gas_price: Some(price),
            } => Ok(Self::Legacy { gas_price: price.0 }),
            FeesRecord { market, .. } => Err(format!(
                "fees of type {market} need exactly {}",
                match market {
                    FeeMarket::Eip1559 => "max_fee_per_gas and max_priority_fee_per_gas",
                    FeeMarket::Legacy => "gas_price",
                }
            )),
        }
    }
}

impl From<Fees> for FeesRecord {
    fn from(fees: Fees) -> Self {
        match fees {
            Fees::Eip1559 {
                max_fee_per_gas,
                max_priority_fee_per_gas,
            } => Self {
                market: FeeMarket::Eip1559,
                max_fee_per_gas: Some(Wei(max_fee_per_gas)),
                max_priority_fee_per_gas: Some(Wei(max_priority_fee_per_gas)),
                gas_price: None,
            },
            Fees::Legacy { gas_price } => Self {
                market: FeeMarket::Legacy,
                max_fee_per_gas: None,
                max_priority_fee_per_gas: None,
                gas_price: Some(Wei(gas_price)),
            },
        }
    }
}

/// How the submitter prices its transactions, in either [`FeeMarket`].
///
/// Nodes (geth, reth, anvil) accept a replacement for a pending nonce only if **both** its fee cap and its
/// tip cap rose by at least 10 % (a legacy `gasPrice` counts as both): anything less is "replacement
/// transaction underpriced". So every bump raises both by `bump_percent` (≥ 10) or to the market's
/// current price if that is higher, never lowers either, and stops at `max_fee_cap`.
///
/// On a legacy chain only `max_fee_cap` (as the highest `gasPrice`) and `bump_percent` apply;
/// `min_priority_fee` and `base_fee_multiplier` are EIP-1559's and are ignored there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeePolicy {
    /// The highest `maxFeePerGas` (legacy: `gasPrice`) the submitter ever offers (wei per gas).
    #[serde(with = "piecepay_protocol::amount::decimal")]
    pub max_fee_cap: u128,
    /// The lowest tip offered (wei per gas): some nodes' suggestion is 0 on quiet chains. EIP-1559 only.
    #[serde(with = "piecepay_protocol::amount::decimal")]
    pub min_priority_fee: u128,
    /// `maxFeePerGas = base_fee × base_fee_multiplier + tip`: headroom for the base fee to rise while the
    /// transaction waits (2 covers six full blocks in a row). EIP-1559 only.
    #[serde(with = "piecepay_protocol::amount::decimal")]
    pub base_fee_multiplier: u128,
    /// Percent the fees rise per replacement; at least 10.
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

    /// The EIP-1559 market price now: from the next block's base fee and the node's suggested tip
    /// (`eth_feeHistory` reward percentile or `eth_maxPriorityFeePerGas`), capped.
    pub fn market_eip1559(&self, base_fee: u128, suggested_tip: u128) -> Fees {
        let tip = suggested_tip.max(self.min_priority_fee);
        let max_fee = base_fee
            .saturating_mul(self.base_fee_multiplier)
            .saturating_add(tip);
        self.capped(Fees::Eip1559 {
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: tip,
        })
    }

    /// The legacy market price now: the node's `eth_gasPrice`, capped. No headroom is added: without a
    /// base fee the price does not climb block by block, and a stuck attempt is replaced anyway.
    pub fn market_legacy(&self, suggested_gas_price: u128) -> Fees {
        self.capped(Fees::Legacy {
            gas_price: suggested_gas_price,
        })
    }

    /// The fees of a replacement for an attempt that paid `previous`, with the market at `market`: of the
    /// market's type, its fee cap and tip cap each at least `bump_percent` above `previous`'s (rounded up)
    /// and at least the market's, capped.
    ///
    /// The market's type is the chain's, so an attempt of the other type (signed before the chain moved
    /// to London, say) is replaced by one the chain takes: a legacy `gasPrice` replacing an EIP-1559
    /// attempt clears its fee cap, EIP-1559 fees replacing a `gasPrice` clear it on both fields, as nodes
    /// compare them.
    ///
    /// `None` if the cap leaves no room for a valid replacement (either cap would rise by less than
    /// 10 %): the attempt can only wait, or the job be cancelled.
    pub fn bump(&self, previous: Fees, market: Fees) -> Option<Fees> {
        let raise = |value: u128| -> u128 {
            // Rounded up and at least +1, so a bump of a tiny value still moves.
            let bumped = value.saturating_mul(100 + self.bump_percent).div_ceil(100);
            bumped.max(value.saturating_add(1))
        };
        let wanted = match market {
            Fees::Eip1559 {
                max_fee_per_gas,
                max_priority_fee_per_gas,
            } => Fees::Eip1559 {
                max_fee_per_gas: raise(previous.fee_cap()).max(max_fee_per_gas),
                max_priority_fee_per_gas: raise(previous.tip_cap()).max(max_priority_fee_per_gas),
            },
            // One field stands for both caps, so it clears the higher of the two.
            Fees::Legacy { gas_price } => Fees::Legacy {
                gas_price: raise(previous.fee_cap())
                    .max(raise(previous.tip_cap()))
                    .max(gas_price),
            },
        };
        let next = self.capped(wanted);
        let enough = |new: u128, old: u128| new.saturating_mul(100) >= old.saturating_mul(110);
        (enough(next.fee_cap(), previous.fee_cap()) && enough(next.tip_cap(), previous.tip_cap()))
            .then_some(next)
    }

    /// `fees` within the cap, and a tip within the max fee.
    fn capped(&self, fees: Fees) -> Fees {
        match fees {
            Fees::Eip1559 {
                max_fee_per_gas,
                max_priority_fee_per_gas,
            } => {
                let max_fee = max_fee_per_gas.min(self.max_fee_cap);
                Fees::Eip1559 {
                    max_fee_per_gas: max_fee,
                    max_priority_fee_per_gas: max_priority_fee_per_gas.min(max_fee),
                }
            }
            Fees::Legacy { gas_price } => Fees::Legacy {
                gas_price: gas_price.min(self.max_fee_cap),
            },
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
        Fees::Eip1559 {
            max_fee_per_gas: max,
            max_priority_fee_per_gas: tip,
        }
    }

    fn legacy(gas_price: u128) -> Fees {
        Fees::Legacy { gas_price }
    }

    #[test]
    fn market_doubles_the_base_fee_and_floors_the_tip() {
        assert_eq!(policy().market_eip1559(10 * GWEI, 0), fees(21 * GWEI, GWEI));
        assert_eq!(
            policy().market_eip1559(10 * GWEI, 3 * GWEI),
            fees(23 * GWEI, 3 * GWEI)
        );
        // Capped, with the tip never above the max fee.
        assert_eq!(
            policy().market_eip1559(80 * GWEI, 200 * GWEI),
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
        assert!(next.fee_cap() > previous.fee_cap());
        assert!(next.tip_cap() > previous.tip_cap());
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

    #[test]
    fn legacy_market_is_the_gas_price_capped() {
        assert_eq!(policy().market_legacy(3 * GWEI), legacy(3 * GWEI));
        assert_eq!(policy().market_legacy(300 * GWEI), legacy(100 * GWEI));
    }

    #[test]
    fn legacy_bump_raises_the_gas_price_by_at_least_ten_percent_up_to_the_cap() {
        let p = policy();
        assert_eq!(
            p.bump(legacy(20 * GWEI), legacy(0)),
            Some(legacy(22 * GWEI))
        );
        assert_eq!(p.bump(legacy(15), legacy(0)), Some(legacy(17)));
        assert_eq!(p.bump(legacy(0), legacy(0)), Some(legacy(1)));
        // A market that rose more wins; one that fell never lowers it.
        assert_eq!(
            p.bump(legacy(20 * GWEI), legacy(50 * GWEI)),
            Some(legacy(50 * GWEI))
        );
        assert_eq!(
            p.bump(legacy(20 * GWEI), legacy(GWEI)),
            Some(legacy(22 * GWEI))
        );
        // The cap: 95 → 100 is +5 %, not a replacement; 90 → 99 is.
        assert_eq!(p.bump(legacy(95 * GWEI), legacy(0)), None);
        assert_eq!(p.bump(legacy(100 * GWEI), legacy(500 * GWEI)), None);
        assert_eq!(
            p.bump(legacy(90 * GWEI), legacy(0)),
            Some(legacy(99 * GWEI))
        );
    }

    #[test]
    fn a_bump_across_markets_clears_both_caps_of_the_previous_attempt() {
        let p = policy();
        // EIP-1559 attempt, legacy chain: the gas price clears the old max fee.
        assert_eq!(
            p.bump(fees(20 * GWEI, GWEI), legacy(GWEI)),
            Some(legacy(22 * GWEI))
        );
        // Legacy attempt, EIP-1559 chain: both fields clear the old gas price.
        assert_eq!(
            p.bump(legacy(20 * GWEI), fees(5 * GWEI, GWEI)),
            Some(fees(22 * GWEI, 22 * GWEI))
        );
        assert_eq!(p.bump(legacy(95 * GWEI), fees(0, 0)), None);
    }

    #[test]
    fn fees_are_stored_with_their_type_and_old_records_read_as_eip1559() {
        let stored = serde_json::to_value(fees(7, 2)).unwrap();
        assert_eq!(
            stored,
            serde_json::json!({"type": "eip1559", "max_fee_per_gas": "7", "max_priority_fee_per_gas": "2"})
        );
        let stored = serde_json::to_value(legacy(9)).unwrap();
        assert_eq!(
            stored,
            serde_json::json!({"type": "legacy", "gas_price": "9"})
        );
        for value in [fees(7, 2), legacy(9), fees(u128::MAX, 0)] {
            let text = serde_json::to_string(&value).unwrap();
            assert_eq!(serde_json::from_str::<Fees>(&text).unwrap(), value);
        }
        // What every version before legacy transactions wrote.
        let old = r#"{"max_fee_per_gas":"30000000000","max_priority_fee_per_gas":"1000000"}"#;
        assert_eq!(
            serde_json::from_str::<Fees>(old).unwrap(),
            fees(30 * GWEI, 1_000_000)
        );
        // Fields of the other type, or missing ones, are refused rather than guessed.
        for bad in [
            r#"{"type":"legacy","max_fee_per_gas":"1","max_priority_fee_per_gas":"1"}"#,
            r#"{"type":"eip1559","gas_price":"1"}"#,
            r#"{"gas_price":"1"}"#,
            r#"{"type":"legacy"}"#,
            r#"{"max_fee_per_gas":"1"}"#,
            r#"{"type":"eip4844","gas_price":"1"}"#,
        ] {
            assert!(serde_json::from_str::<Fees>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_market_follows_the_latest_block_base_fee() {
        assert_eq!(FeeMarket::of_base_fee(Some(0)), FeeMarket::Eip1559);
        assert_eq!(FeeMarket::of_base_fee(Some(7)), FeeMarket::Eip1559);
        assert_eq!(FeeMarket::of_base_fee(None), FeeMarket::Legacy);
        assert_eq!(FeeMarket::Legacy.to_string(), "legacy");
        assert_eq!(fees(1, 1).market(), FeeMarket::Eip1559);
        assert_eq!(legacy(1).market(), FeeMarket::Legacy);
    }
}
