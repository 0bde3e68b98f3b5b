//! `GET /v1/channels/{id}` and `…/settlement`: what the relayer holds for a channel.

use alloy_primitives::{Address, B256};
use serde::{Deserialize, Serialize};

use crate::{
    CompactSignature,
    amount::{self},
};

use super::*;

/// `GET /v1/channels/{channel_id}`: the channel as the relayer has indexed it, and the highest receipt
/// it holds for it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ChannelStatus {
    /// The channel's id.
    #[serde(with = "wire::hash")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Hash"))]
    pub channel_id: B256,
    /// The payer.
    #[serde(with = "wire::address")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Address"))]
    pub payer: Address,
    /// The payee.
    #[serde(with = "wire::address")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Address"))]
    pub payee: Address,
    /// The salt.
    pub salt: u32,
    /// The state on the escrow.
    pub state: ChannelState,
    /// The deposit.
    #[serde(with = "amount::decimal")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Amount"))]
    pub deposit: u128,
    /// The settled total on the escrow.
    #[serde(with = "amount::decimal")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Amount"))]
    pub settled: u128,
    /// End of the challenge window while `closing`, else `null`.
    pub closes_at: Option<u64>,
    /// The highest receipt the relayer holds, or `null`. Anyone may settle it; it pays only the payee.
    pub latest_receipt: Option<HeldReceipt>,
    /// The block the escrow's state above is read at (confirmed).
    pub indexed_block: u64,
}

/// A receipt the relayer holds: enough, with the channel's payee and salt, to settle it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct HeldReceipt {
    /// The receipt's cumulative.
    #[serde(with = "amount::decimal")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Amount"))]
    pub cumulative: u128,
    /// The payer's signature.
    #[serde(with = "wire::signature")]
    #[cfg_attr(feature = "schemars", schemars(with = "SignatureJson"))]
    pub signature: CompactSignature,
}

/// How far a channel's settlement has got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum SettlementState {
    /// Nothing held beyond what is settled.
    UpToDate,
    /// A receipt above the settled total waits for a batch (threshold, age or close deadline).
    Pending,
    /// In a settlement transaction that was broadcast and is not yet confirmed.
    Submitted,
    /// Unsettled value is left but can no longer settle: the channel closed, or its challenge window
    /// ended.
    Expired,
}

/// `GET /v1/channels/{channel_id}/settlement`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct SettlementStatus {
    /// The channel's id.
    #[serde(with = "wire::hash")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Hash"))]
    pub channel_id: B256,
    /// Where its settlement is.
    pub status: SettlementState,
    /// The cumulative of the highest receipt the relayer holds (`"0"` if none).
    #[serde(with = "amount::decimal")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Amount"))]
    pub received: u128,
    /// The settled total on the escrow, at the relayer's confirmation depth.
    #[serde(with = "amount::decimal")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Amount"))]
    pub settled: u128,
    /// The latest settlement transaction that carried this channel, or `null`.
    pub transaction: Option<SettlementTransaction>,
}

/// A settlement transaction, as far as one channel is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct SettlementTransaction {
    /// Its hash (the latest broadcast one, if it was replaced with higher fees).
    #[serde(with = "wire::hash")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Hash"))]
    pub hash: B256,
    /// The cumulative it settles the channel to.
    #[serde(with = "amount::decimal")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Amount"))]
    pub cumulative: u128,
    /// The block that included it, or `null` while pending.
    pub block_number: Option<u64>,
}

#[cfg(test)]
mod tests {

    use alloy_primitives::B256;

    use serde_json::{Value, json};

    use super::*;
    use crate::relayer_api::testing::*;

    // --- status, info, health ----------------------------------------------------------------------

    fn golden_channel_status() -> (ChannelStatus, Value) {
        let signature = serde_json::from_value::<ReceiptSubmission>(golden_receipt())
            .unwrap()
            .parse()
            .unwrap()
            .signature;
        let status = ChannelStatus {
            channel_id: CHANNEL,
            payer: PAYER,
            payee: PAYEE,
            salt: 7,
            state: ChannelState::Closing,
            deposit: 5 * ONE_TOKEN,
            settled: ONE_TOKEN / 2,
            closes_at: Some(1_700_086_400),
            latest_receipt: Some(HeldReceipt {
                cumulative: ONE_TOKEN,
                signature,
            }),
            indexed_block: 1_234,
        };
        let json = json!({
            "channel_id": "0xf26689e6d6b24fa28e41abc2dc678ea392367fe09febe13473d8c464f767d793",
            "payer": "0x1a642f0E3c3aF545E7AcBD38b07251B3990914F1",
            "payee": "0x5050A4F4b3f9338C3472dcC01A87C76A144b3c9c",
            "salt": 7,
            "state": "closing",
            "deposit": "5000000000000000000",
            "settled": "500000000000000000",
            "closes_at": 1700086400,
            "latest_receipt": {
                "cumulative": "1000000000000000000",
                "signature": golden_receipt()["signature"].clone()
            },
            "indexed_block": 1234
        });
        (status, json)
    }

    #[test]
    fn channel_status_golden() {
        let (status, json) = golden_channel_status();
        assert_golden(&status, json);
        let fresh = ChannelStatus {
            state: ChannelState::Open,
            closes_at: None,
            latest_receipt: None,
            ..status
        };
        let json = serde_json::to_value(&fresh).unwrap();
        assert_eq!(
            (&json["closes_at"], &json["latest_receipt"]),
            (&Value::Null, &Value::Null)
        );
        assert_eq!(
            serde_json::from_value::<ChannelStatus>(json).unwrap(),
            fresh
        );
    }

    #[test]
    fn malformed_response_fields_do_not_decode() {
        let (_, json) = golden_channel_status();
        for (field, value) in [
            ("deposit", json!(5_000_000_000_000_000_000u128)),
            ("deposit", json!("5e18")),
            ("payer", json!("0x1a642f0e3c3af545e7acbd38b07251b3990914F1")),
            ("channel_id", json!("0xf266")),
            ("state", json!("opening")),
            (
                "latest_receipt",
                json!({"cumulative": "1", "signature": {"r": "0x", "vs": "0x"}}),
            ),
        ] {
            let mut bad = json.clone();
            bad[field] = value;
            assert!(
                serde_json::from_value::<ChannelStatus>(bad).is_err(),
                "{field}"
            );
        }
    }

    #[test]
    fn settlement_status_golden() {
        let status = SettlementStatus {
            channel_id: CHANNEL,
            status: SettlementState::Submitted,
            received: ONE_TOKEN,
            settled: ONE_TOKEN / 2,
            transaction: Some(SettlementTransaction {
                hash: B256::repeat_byte(0xcd),
                cumulative: ONE_TOKEN,
                block_number: None,
            }),
        };
        assert_golden(
            &status,
            json!({
                "channel_id": "0xf26689e6d6b24fa28e41abc2dc678ea392367fe09febe13473d8c464f767d793",
                "status": "submitted",
                "received": "1000000000000000000",
                "settled": "500000000000000000",
                "transaction": {
                    "hash": format!("0x{}", "cd".repeat(32)),
                    "cumulative": "1000000000000000000",
                    "block_number": null
                }
            }),
        );
        for (state, text) in [
            (SettlementState::UpToDate, "up_to_date"),
            (SettlementState::Pending, "pending"),
            (SettlementState::Expired, "expired"),
        ] {
            assert_eq!(serde_json::to_value(state).unwrap(), json!(text));
        }
    }
}
