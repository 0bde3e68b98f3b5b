//! The escrow's events as the indexer hands them to its store: decoded, with where they happened.

use alloy::{
    primitives::{Address, B256, Bytes, U256},
    rpc::types::Log,
    sol_types::SolEvent,
};
use piecepay_protocol::{
    bindings::ChannelEscrow as E,
    settle_batch::{SettleOutcome, SettledGroup},
};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Where a log was emitted. `(block_number, log_index)` orders events on one chain; `block_hash` tells
/// forks apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EventMeta {
    /// The block's number.
    pub block_number: u64,
    /// The block's hash.
    pub block_hash: B256,
    /// The emitting transaction.
    pub tx_hash: B256,
    /// The log's index in its block.
    pub log_index: u64,
}

/// An escrow event, decoded. Amounts of channel fields (uint96) are `u128`; account amounts (uint256)
/// are [`U256`]. Every variant is a state change (or a skip) listed in `docs/contracts.md`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EscrowEvent {
    /// `Deposited(account, from, amount)`: `account`'s free balance += amount.
    Deposited {
        /// Credited account.
        account: Address,
        /// Who paid the tokens.
        from: Address,
        /// Amount that arrived.
        amount: U256,
    },
    /// `Withdrawn(account, to, amount, fee)`: `account`'s balance −= amount + fee.
    Withdrawn {
        /// Debited account.
        account: Address,
        /// Recipient of the tokens.
        to: Address,
        /// Amount sent.
        amount: U256,
        /// Fee paid to the submitter.
        fee: U256,
    },
    /// `FeesCollected(relayer, amount)`: the submitter's balance += amount.
    FeesCollected {
        /// The submitter (`msg.sender`).
        relayer: Address,
        /// Total fees of the call.
        amount: U256,
    },
    /// `SettleFeeCapSet(payee, bps)`.
    SettleFeeCapSet {
        /// The payee.
        payee: Address,
        /// Its new cap in basis points.
        bps: u16,
    },
    /// `ChannelOpened(channelId, payer, payee, salt, deposit, fee)`.
    ChannelOpened {
        /// The new channel.
        channel_id: B256,
        /// Its payer.
        payer: Address,
        /// Its payee.
        payee: Address,
        /// Its salt.
        salt: u32,
        /// Its deposit.
        #[serde(with = "piecepay_protocol::amount::decimal")]
        deposit: u128,
        /// Fee the payer paid the submitter (0 for a direct open).
        #[serde(with = "piecepay_protocol::amount::decimal")]
        fee: u128,
    },
    /// `ChannelToppedUp(channelId, deposit, fee)`: deposit is the new total.
    ChannelToppedUp {
        /// The channel.
        channel_id: B256,
        /// The new total deposit.
        #[serde(with = "piecepay_protocol::amount::decimal")]
        deposit: u128,
        /// Fee paid to the submitter.
        #[serde(with = "piecepay_protocol::amount::decimal")]
        fee: u128,
    },
    /// `ReceiptsSettled(settlements)`: one per `settleBatch` that settled anything, with its payee groups
    /// that settled at least one receipt, in batch order.
    ReceiptsSettled {
        /// The groups ([`SettledGroup::channels`]: each channel's new settled total).
        groups: Vec<SettledGroup>,
    },
    /// `ReceiptSkipped(channelId, outcome)`: a receipt `settleBatch` did not settle.
    ReceiptSkipped {
        /// The channel derived from the recovered signer.
        channel_id: B256,
        /// Why.
        outcome: SkipOutcome,
    },
    /// `CloseRequested(channelId, closesAt, fee)`: the channel is closing.
    CloseRequested {
        /// The channel.
        channel_id: B256,
        /// End of the challenge window (unix seconds).
        closes_at: u64,
        /// Fee paid to the submitter.
        #[serde(with = "piecepay_protocol::amount::decimal")]
        fee: u128,
    },
    /// `ChannelClosed(channelId, settled, fee)`: the channel is closed with this final settled total.
    ChannelClosed {
        /// The channel.
        channel_id: B256,
        /// Final settled total.
        #[serde(with = "piecepay_protocol::amount::decimal")]
        settled: u128,
        /// Fee paid to the submitter (cooperative close by signature).
        #[serde(with = "piecepay_protocol::amount::decimal")]
        fee: u128,
    },
    /// `AuthorizationSkipped(index, reason)`: an entry of a `…BySig` batch that was not applied.
    AuthorizationSkipped {
        /// The entry's index in its batch.
        index: U256,
        /// The ABI-encoded custom error the single operation would have reverted with.
        reason: Bytes,
    },
}

/// The outcome byte of `ReceiptSkipped`, kept even if this build does not know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SkipOutcome(pub u8);

impl SkipOutcome {
    /// The outcome, if this build knows the byte.
    pub const fn outcome(self) -> Option<SettleOutcome> {
        SettleOutcome::from_byte(self.0)
    }
}

/// An escrow event with where it happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexedEvent {
    /// Block, transaction and log index.
    pub meta: EventMeta,
    /// The event.
    pub event: EscrowEvent,
}

/// The topic0 of every event [`decode_log`] decodes: the `eth_getLogs` filter.
pub fn event_signatures() -> Vec<B256> {
    vec![
        E::Deposited::SIGNATURE_HASH,
        E::Withdrawn::SIGNATURE_HASH,
        E::FeesCollected::SIGNATURE_HASH,
        E::SettleFeeCapSet::SIGNATURE_HASH,
        E::ChannelOpened::SIGNATURE_HASH,
        E::ChannelToppedUp::SIGNATURE_HASH,
        E::ReceiptsSettled::SIGNATURE_HASH,
        E::ReceiptSkipped::SIGNATURE_HASH,
        E::CloseRequested::SIGNATURE_HASH,
        E::ChannelClosed::SIGNATURE_HASH,
        E::AuthorizationSkipped::SIGNATURE_HASH,
    ]
}

fn data<T: SolEvent>(log: &Log) -> core::result::Result<T, String> {
    T::decode_log(&log.inner)
        .map(|decoded| decoded.data)
        .map_err(|e| e.to_string())
}

/// Decodes an escrow log. `Ok(None)` for a log whose topic is no event listed in
/// [`event_signatures`] (a log of another contract, `EIP712DomainChanged`); [`Error::BadLog`] for a listed
/// topic whose data does not decode, or a log without block or transaction data (a pending log).
pub fn decode_log(log: &Log) -> Result<Option<IndexedEvent>> {
    let tx_hash = log.transaction_hash.unwrap_or_default();
    let log_index = log.log_index.unwrap_or_default();
    let bad = |reason: String| Error::BadLog {
        tx_hash,
        log_index,
        reason,
    };
    let meta = EventMeta {
        block_number: log
            .block_number
            .ok_or_else(|| bad("no block number".into()))?,
        block_hash: log.block_hash.ok_or_else(|| bad("no block hash".into()))?,
        tx_hash: log
            .transaction_hash
            .ok_or_else(|| bad("no transaction hash".into()))?,
        log_index: log.log_index.ok_or_else(|| bad("no log index".into()))?,
    };
    let Some(&topic) = log.topics().first() else {
        return Ok(None);
    };
    let event = match topic {
        E::Deposited::SIGNATURE_HASH => {
            let e: E::Deposited = data(log).map_err(bad)?;
            EscrowEvent::Deposited {
                account: e.account,
                from: e.from,
                amount: e.amount,
            }
        }
        E::Withdrawn::SIGNATURE_HASH => {
            let e: E::Withdrawn = data(log).map_err(bad)?;
            EscrowEvent::Withdrawn {
                account: e.account,
                to: e.to,
                amount: e.amount,
                fee: e.fee,
            }
        }
        E::FeesCollected::SIGNATURE_HASH => {
            let e: E::FeesCollected = data(log).map_err(bad)?;
            EscrowEvent::FeesCollected {
                relayer: e.relayer,
                amount: e.amount,
            }
        }
        E::SettleFeeCapSet::SIGNATURE_HASH => {
            let e: E::SettleFeeCapSet = data(log).map_err(bad)?;
            EscrowEvent::SettleFeeCapSet {
                payee: e.payee,
                bps: e.bps,
            }
        }
        E::ChannelOpened::SIGNATURE_HASH => {
            let e: E::ChannelOpened = data(log).map_err(bad)?;
            EscrowEvent::ChannelOpened {
                channel_id: e.channelId,
                payer: e.payer,
                payee: e.payee,
                salt: e.salt,
                deposit: e.deposit.to(),
                fee: e.fee.to(),
            }
        }
        E::ChannelToppedUp::SIGNATURE_HASH => {
            let e: E::ChannelToppedUp = data(log).map_err(bad)?;
            EscrowEvent::ChannelToppedUp {
                channel_id: e.channelId,
                deposit: e.deposit.to(),
                fee: e.fee.to(),
            }
        }
        E::ReceiptsSettled::SIGNATURE_HASH => {
            let e: E::ReceiptsSettled = data(log).map_err(bad)?;
            EscrowEvent::ReceiptsSettled {
                groups: SettledGroup::decode_all(&e.settlements)
                    .ok_or_else(|| bad("ReceiptsSettled settlements not whole groups".into()))?,
            }
        }
        E::ReceiptSkipped::SIGNATURE_HASH => {
            let e: E::ReceiptSkipped = data(log).map_err(bad)?;
            EscrowEvent::ReceiptSkipped {
                channel_id: e.channelId,
                outcome: SkipOutcome(e.outcome),
            }
        }
        E::CloseRequested::SIGNATURE_HASH => {
            let e: E::CloseRequested = data(log).map_err(bad)?;
            EscrowEvent::CloseRequested {
                channel_id: e.channelId,
                closes_at: e.closesAt.to(),
                fee: e.fee.to(),
            }
        }
        E::ChannelClosed::SIGNATURE_HASH => {
            let e: E::ChannelClosed = data(log).map_err(bad)?;
            EscrowEvent::ChannelClosed {
                channel_id: e.channelId,
                settled: e.settled.to(),
                fee: e.fee.to(),
            }
        }
        E::AuthorizationSkipped::SIGNATURE_HASH => {
            let e: E::AuthorizationSkipped = data(log).map_err(bad)?;
            EscrowEvent::AuthorizationSkipped {
                index: e.index,
                reason: e.reason,
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(IndexedEvent { meta, event }))
}

#[cfg(test)]
mod tests {
    use alloy::primitives::{Log as PrimitiveLog, LogData, aliases::U96};
    use piecepay_protocol::settle_batch::SettledEntry;

    use super::*;

    fn rpc_log(data: LogData) -> Log {
        Log {
            inner: PrimitiveLog {
                address: Address::repeat_byte(0xe5),
                data,
            },
            block_hash: Some(B256::repeat_byte(1)),
            block_number: Some(7),
            transaction_hash: Some(B256::repeat_byte(2)),
            log_index: Some(3),
            ..Default::default()
        }
    }

    #[test]
    fn decodes_events_with_their_position() {
        let opened = E::ChannelOpened {
            channelId: B256::repeat_byte(9),
            payer: Address::repeat_byte(1),
            payee: Address::repeat_byte(2),
            salt: 5,
            deposit: U96::from(1_000u64),
            fee: U96::from(3u64),
        };
        let decoded = decode_log(&rpc_log(opened.encode_log_data()))
            .unwrap()
            .unwrap();
        assert_eq!(
            decoded.meta,
            EventMeta {
                block_number: 7,
                block_hash: B256::repeat_byte(1),
                tx_hash: B256::repeat_byte(2),
                log_index: 3,
            }
        );
        assert_eq!(
            decoded.event,
            EscrowEvent::ChannelOpened {
                channel_id: B256::repeat_byte(9),
                payer: Address::repeat_byte(1),
                payee: Address::repeat_byte(2),
                salt: 5,
                deposit: 1_000,
                fee: 3,
            }
        );
        let group = SettledGroup {
            payee: Address::repeat_byte(2),
            credited: 30,
            fee: 1,
            entries: vec![SettledEntry {
                payer: Address::repeat_byte(1),
                salt: 5,
                settled: 30,
            }],
        };
        let settled = E::ReceiptsSettled {
            settlements: group.encode().into(),
        };
        let decoded = decode_log(&rpc_log(settled.encode_log_data()))
            .unwrap()
            .unwrap();
        assert_eq!(
            decoded.event,
            EscrowEvent::ReceiptsSettled {
                groups: vec![group]
            }
        );
        let skipped = E::ReceiptSkipped {
            channelId: B256::ZERO,
            outcome: 4,
        };
        let decoded = decode_log(&rpc_log(skipped.encode_log_data()))
            .unwrap()
            .unwrap();
        let EscrowEvent::ReceiptSkipped { outcome, .. } = decoded.event else {
            panic!("{decoded:?}");
        };
        assert_eq!(outcome.outcome(), Some(SettleOutcome::Stale));
        assert_eq!(SkipOutcome(99).outcome(), None);
        // JSON round trip, amounts as strings.
        let json = serde_json::to_string(&decoded).unwrap();
        assert_eq!(
            serde_json::from_str::<IndexedEvent>(&json).unwrap(),
            decoded
        );
    }

    #[test]
    fn unknown_topics_are_skipped_and_bad_data_refused() {
        let other = LogData::new_unchecked(vec![B256::repeat_byte(0xab)], Bytes::new());
        assert_eq!(decode_log(&rpc_log(other)).unwrap(), None);
        assert_eq!(decode_log(&rpc_log(LogData::default())).unwrap(), None);
        let truncated = LogData::new_unchecked(
            vec![E::ChannelToppedUp::SIGNATURE_HASH, B256::ZERO],
            vec![0; 10].into(),
        );
        assert_eq!(
            decode_log(&rpc_log(truncated)).unwrap_err().code(),
            "bad_log"
        );
        let mut pending = rpc_log(LogData::default());
        pending.block_hash = None;
        assert_eq!(decode_log(&pending).unwrap_err().code(), "bad_log");
        assert_eq!(event_signatures().len(), 11);
    }
}
