//! The packed calldata of the escrow's `settleBatch(bytes)`, shared by the relayer (which settles many
//! channels at once) and the SDK (a payee settling its own receipt when no relayer is reachable).
//!
//! ```text
//! batch   := group*
//! group   := payee (20 bytes) ‖ feeBps (uint16) ‖ count (uint16) ‖ count × receipt
//! receipt := salt (uint32) ‖ cumulative (uint96) ‖ r (32 bytes) ‖ vs (32 bytes, EIP-2098)
//! ```
//!
//! Big-endian, no padding. The payer is not in the batch: the escrow recovers it from the signature and
//! derives the channel id from (payer, payee, salt). `feeBps` is the share of what the group credits that
//! the submitter claims; the escrow skips the whole group if it is above the payee's on-chain cap.
//!
//! A receipt that cannot be settled is skipped with a [`SettleOutcome`], never reverted, so a batch is
//! idempotent: submitting it again settles nothing twice.

use std::collections::HashMap;

use alloy_primitives::{Address, B256, aliases::U96};
use alloy_sol_types::SolCall;
use serde::{Deserialize, Serialize};

use crate::{
    Amount, CompactSignature, Receipt,
    amount::{from_u96, to_u96},
    bindings::ChannelEscrow::settleBatchCall,
};

/// Bytes of a group header: payee, fee, count.
pub const GROUP_HEADER_LEN: usize = 20 + 2 + 2;

/// Bytes of one receipt: salt, cumulative, r, vs.
pub const RECEIPT_LEN: usize = 4 + 12 + CompactSignature::LEN;

/// The most receipts one group can hold (`count` is a `uint16`); [`SettleBatch::push`] starts a new group
/// for the same payee past it.
pub const MAX_GROUP_RECEIPTS: usize = u16::MAX as usize;

/// One receipt as a batch carries it: the payee and fee are the group's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BatchReceipt {
    /// The channel's salt.
    pub salt: u32,
    /// The receipt's cumulative amount.
    pub cumulative: U96,
    /// The payer's signature over the [`Receipt`].
    pub signature: CompactSignature,
}

/// The receipts of one payee that claim the same fee.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SettleGroup {
    /// The payee all of the group's receipts pay.
    pub payee: Address,
    /// The submitter's fee, in basis points of what the group credits.
    pub fee_bps: u16,
    /// The receipts, at most [`MAX_GROUP_RECEIPTS`].
    pub receipts: Vec<BatchReceipt>,
}

/// A `settleBatch` payload under construction: payer-signed receipts grouped by (payee, fee).
///
/// Receipts keep the order they were pushed in within their group, and groups the order of their first
/// receipt; [`receipts`](Self::receipts) lists them in encoded order, which is the order of the outcome
/// bytes `settleBatch` returns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SettleBatch {
    groups: Vec<SettleGroup>,
    /// (payee, fee) → index of the group that takes its next receipt.
    open: HashMap<(Address, u16), usize>,
}

impl SettleBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `receipt`, signed by its payer, to the group of its payee claiming `fee_bps` (0: no fee, as
    /// when a payee settles its own receipts).
    pub fn push(&mut self, receipt: &Receipt, signature: &CompactSignature, fee_bps: u16) {
        let key = (receipt.payee, fee_bps);
        let index = match self.open.get(&key) {
            Some(&index) if self.groups[index].receipts.len() < MAX_GROUP_RECEIPTS => index,
            _ => {
                self.groups.push(SettleGroup {
                    payee: receipt.payee,
                    fee_bps,
                    receipts: Vec::new(),
                });
                self.open.insert(key, self.groups.len() - 1);
                self.groups.len() - 1
            }
        };
        self.groups[index].receipts.push(BatchReceipt {
            salt: receipt.salt,
            cumulative: receipt.cumulative,
            signature: *signature,
        });
    }

    /// The groups, in encoded order.
    pub fn groups(&self) -> &[SettleGroup] {
        &self.groups
    }

    /// How many receipts the batch holds.
    pub fn len(&self) -> usize {
        self.groups.iter().map(|g| g.receipts.len()).sum()
    }

    /// Whether the batch holds no receipt.
    pub fn is_empty(&self) -> bool {
        self.groups.iter().all(|g| g.receipts.is_empty())
    }

    /// Every receipt with its signature and fee, in encoded order (the order of `settleBatch`'s outcomes).
    pub fn receipts(&self) -> impl Iterator<Item = (Receipt, CompactSignature, u16)> + '_ {
        self.groups.iter().flat_map(|group| {
            group.receipts.iter().map(move |entry| {
                (
                    Receipt {
                        payee: group.payee,
                        salt: entry.salt,
                        cumulative: entry.cumulative,
                    },
                    entry.signature,
                    group.fee_bps,
                )
            })
        })
    }

    /// Length of the packed batch in bytes.
    pub fn encoded_len(&self) -> usize {
        self.groups
            .iter()
            .filter(|g| !g.receipts.is_empty())
            .map(|g| GROUP_HEADER_LEN + g.receipts.len() * RECEIPT_LEN)
            .sum()
    }

    /// The packed batch: `settleBatch`'s `bytes` argument. Empty groups are left out.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        for group in self.groups.iter().filter(|g| !g.receipts.is_empty()) {
            out.extend_from_slice(group.payee.as_slice());
            out.extend_from_slice(&group.fee_bps.to_be_bytes());
            let count = u16::try_from(group.receipts.len()).expect("push caps groups at u16::MAX");
            out.extend_from_slice(&count.to_be_bytes());
            for entry in &group.receipts {
                out.extend_from_slice(&entry.salt.to_be_bytes());
                out.extend_from_slice(&entry.cumulative.to_be_bytes::<12>());
                out.extend_from_slice(&entry.signature.to_bytes());
            }
        }
        out
    }

    /// The complete calldata of `settleBatch(bytes)` (selector and ABI-encoded batch), for a transaction
    /// or a pre-flight `eth_call`.
    pub fn calldata(&self) -> Vec<u8> {
        settleBatchCall {
            batch: self.encode().into(),
        }
        .abi_encode()
    }

    /// Parses a packed batch, with the escrow's structural checks: a truncated header or receipt is
    /// [`MalformedBatch`] at the offset where the escrow would revert. Groups stay as encoded (two groups of
    /// the same payee and fee are not merged).
    pub fn decode(mut bytes: &[u8]) -> Result<Self, MalformedBatch> {
        let mut batch = Self::new();
        let mut offset = 0;
        while !bytes.is_empty() {
            let Some((header, rest)) = bytes.split_first_chunk::<GROUP_HEADER_LEN>() else {
                return Err(MalformedBatch { offset });
            };
            let payee = Address::from_slice(&header[..20]);
            let fee_bps = u16::from_be_bytes([header[20], header[21]]);
            let count = usize::from(u16::from_be_bytes([header[22], header[23]]));
            offset += GROUP_HEADER_LEN;
            let Some(entries) = rest.get(..count * RECEIPT_LEN) else {
                return Err(MalformedBatch { offset });
            };
            let receipts = entries
                .chunks_exact(RECEIPT_LEN)
                .map(|entry| BatchReceipt {
                    salt: u32::from_be_bytes(entry[..4].try_into().expect("4 bytes")),
                    cumulative: U96::from_be_slice(&entry[4..16]),
                    signature: CompactSignature::from_slice(&entry[16..])
                        .expect("64 bytes by RECEIPT_LEN"),
                })
                .collect();
            batch.groups.push(SettleGroup {
                payee,
                fee_bps,
                receipts,
            });
            batch.open.insert((payee, fee_bps), batch.groups.len() - 1);
            offset += count * RECEIPT_LEN;
            bytes = &rest[count * RECEIPT_LEN..];
        }
        Ok(batch)
    }
}

/// Bytes of a group's header in `ReceiptsSettled`'s packed `settlements`: payee, credited, fee, count.
pub const SETTLED_GROUP_HEADER_LEN: usize = 20 + 16 + 16 + 2;

/// Bytes of one entry of `ReceiptsSettled`'s packed `settlements`: payer, salt, settled.
pub const SETTLED_ENTRY_LEN: usize = 20 + 4 + 12;

/// What one payee group of a `settleBatch` settled, a group of the escrow's `ReceiptsSettled(bytes
/// settlements)` event (one event per batch):
///
/// ```text
/// settlements := group*            (only the groups that settled at least one receipt, in batch order)
/// group       := payee (20) ‖ credited (uint128) ‖ fee (uint128) ‖ count (uint16) ‖ count × entry
/// entry       := payer (20) ‖ salt (uint32) ‖ settled (uint96)
/// ```
///
/// Its JSON form (the relayer keeps decoded events) writes amounts as decimal strings.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SettledGroup {
    /// The group's payee, credited `credited − fee`.
    pub payee: Address,
    /// What the group's receipts credited, fee included.
    #[serde(with = "crate::amount::decimal")]
    pub credited: u128,
    /// The submitter's fee out of `credited`.
    #[serde(with = "crate::amount::decimal")]
    pub fee: u128,
    /// One entry per settled receipt, in batch order.
    pub entries: Vec<SettledEntry>,
}

impl SettledGroup {
    /// The groups of a `ReceiptsSettled` event's `settlements`; `None` if they do not parse exactly (a
    /// truncated header or entry, trailing bytes, an empty group: not an escrow event).
    pub fn decode_all(mut settlements: &[u8]) -> Option<Vec<Self>> {
        let mut groups = Vec::new();
        while !settlements.is_empty() {
            let (header, rest) = settlements.split_at_checked(SETTLED_GROUP_HEADER_LEN)?;
            let count = usize::from(u16::from_be_bytes([header[52], header[53]]));
            let (entries, rest) = rest.split_at_checked(count.checked_mul(SETTLED_ENTRY_LEN)?)?;
            if count == 0 {
                return None;
            }
            groups.push(Self {
                payee: Address::from_slice(&header[..20]),
                credited: u128::from_be_bytes(header[20..36].try_into().expect("16 bytes")),
                fee: u128::from_be_bytes(header[36..52].try_into().expect("16 bytes")),
                entries: entries
                    .chunks_exact(SETTLED_ENTRY_LEN)
                    .map(SettledEntry::decode)
                    .collect(),
            });
            settlements = rest;
        }
        Some(groups)
    }

    /// Each settled channel's id and new settled total, in batch order.
    pub fn channels(&self) -> impl Iterator<Item = ChannelSettled> + '_ {
        self.entries.iter().map(|entry| ChannelSettled {
            channel_id: entry.channel_id(self.payee),
            settled: entry.settled,
        })
    }

    /// The packed group, as the escrow logs it (`settlements` is the concatenation of its groups).
    ///
    /// # Panics
    /// With more than `u16::MAX` entries, which no escrow group holds.
    pub fn encode(&self) -> Vec<u8> {
        let count = u16::try_from(self.entries.len()).expect("at most u16::MAX entries");
        let mut out =
            Vec::with_capacity(SETTLED_GROUP_HEADER_LEN + self.entries.len() * SETTLED_ENTRY_LEN);
        out.extend_from_slice(self.payee.as_slice());
        out.extend_from_slice(&self.credited.to_be_bytes());
        out.extend_from_slice(&self.fee.to_be_bytes());
        out.extend_from_slice(&count.to_be_bytes());
        for entry in &self.entries {
            out.extend_from_slice(&entry.encode());
        }
        out
    }
}

/// One channel's new settled total, an entry of a [`SettledGroup`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SettledEntry {
    /// The channel's payer (recovered from the receipt's signature).
    pub payer: Address,
    /// The channel's salt.
    pub salt: u32,
    /// The channel's settled total after the receipt (a `uint96`).
    #[serde(with = "crate::amount::decimal")]
    pub settled: Amount,
}

/// A channel's new settled total after a settlement, by channel id: what the SDK reports for a
/// `settleBatch` and what the relayer's indexer applies ([`SettledGroup::channels`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChannelSettled {
    /// The channel.
    pub channel_id: B256,
    /// Its settled total now.
    pub settled: Amount,
}

impl SettledEntry {
    /// The channel's id, given the group's payee.
    pub fn channel_id(&self, payee: Address) -> B256 {
        crate::channel_id(self.payer, payee, self.salt)
    }

    /// One packed entry of exactly [`SETTLED_ENTRY_LEN`] bytes.
    fn decode(entry: &[u8]) -> Self {
        Self {
            payer: Address::from_slice(&entry[..20]),
            salt: u32::from_be_bytes(entry[20..24].try_into().expect("4 bytes")),
            settled: from_u96(U96::from_be_slice(&entry[24..])),
        }
    }

    /// The packed entry, as the escrow logs it.
    ///
    /// # Panics
    /// With `settled` above `uint96` ([`MAX_AMOUNT`](crate::MAX_AMOUNT)), which no escrow entry holds.
    pub fn encode(&self) -> [u8; SETTLED_ENTRY_LEN] {
        let settled = to_u96(self.settled).expect("a settled total within uint96");
        let mut out = [0u8; SETTLED_ENTRY_LEN];
        out[..20].copy_from_slice(self.payer.as_slice());
        out[20..24].copy_from_slice(&self.salt.to_be_bytes());
        out[24..].copy_from_slice(&settled.to_be_bytes::<12>());
        out
    }
}

/// A batch that is not a whole number of well-formed groups; the escrow reverts with
/// `MalformedBatch(offset)` at the same offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[error("malformed settle batch at byte {offset}")]
pub struct MalformedBatch {
    /// Where the truncated header or receipts start.
    pub offset: usize,
}

/// What `settleBatch` did with one receipt: the `SettleOutcome` byte it returns per receipt (and the
/// `outcome` of `ReceiptSkipped`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum SettleOutcome {
    /// Settled: the channel's settled total rose to `min(cumulative, deposit)`.
    Settled = 0,
    /// No channel for the recovered signer, payee and salt (also what any bad signature gives).
    UnknownChannel = 1,
    /// The channel is closed.
    ChannelClosed = 2,
    /// The channel is closing and its challenge window is over.
    ChallengeExpired = 3,
    /// Nothing new: `min(cumulative, deposit)` is not above what is already settled.
    Stale = 4,
    /// `s` in the upper half of the curve order.
    MalleableSignature = 5,
    /// The group's fee is above the payee's cap (the whole group is skipped).
    FeeAboveCap = 6,
}

impl SettleOutcome {
    /// The outcome a byte encodes; `None` for a byte no escrow version defines.
    pub const fn from_byte(byte: u8) -> Option<Self> {
        Some(match byte {
            0 => Self::Settled,
            1 => Self::UnknownChannel,
            2 => Self::ChannelClosed,
            3 => Self::ChallengeExpired,
            4 => Self::Stale,
            5 => Self::MalleableSignature,
            6 => Self::FeeAboveCap,
            _ => return None,
        })
    }

    /// A stable snake_case name, for logs, metrics and APIs.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Settled => "settled",
            Self::UnknownChannel => "unknown_channel",
            Self::ChannelClosed => "channel_closed",
            Self::ChallengeExpired => "challenge_expired",
            Self::Stale => "stale",
            Self::MalleableSignature => "malleable_signature",
            Self::FeeAboveCap => "fee_above_cap",
        }
    }
}

#[cfg(test)]
mod tests {
    use alloy_primitives::hex;

    use super::*;

    fn sig(byte: u8) -> CompactSignature {
        CompactSignature::new(B256::repeat_byte(byte), B256::repeat_byte(byte ^ 0xff))
    }

    fn receipt(payee: u8, salt: u32, cumulative: u64) -> Receipt {
        Receipt {
            payee: Address::repeat_byte(payee),
            salt,
            cumulative: U96::from(cumulative),
        }
    }

    #[test]
    fn encodes_the_documented_layout() {
        let mut batch = SettleBatch::new();
        batch.push(&receipt(0xaa, 0x0102_0304, 0x0506), &sig(0x11), 25);
        let bytes = batch.encode();
        let expected = [
            &[0xaa; 20][..],
            &hex!("0019"),                     // fee 25 bps
            &hex!("0001"),                     // one receipt
            &hex!("01020304"),                 // salt
            &hex!("000000000000000000000506"), // cumulative, 12 bytes
            &[0x11; 32],                       // r
            &[0xee; 32],                       // vs
        ]
        .concat();
        assert_eq!(bytes, expected);
        assert_eq!(bytes.len(), GROUP_HEADER_LEN + RECEIPT_LEN);
        assert_eq!(batch.encoded_len(), bytes.len());
        assert_eq!((GROUP_HEADER_LEN, RECEIPT_LEN), (24, 80));
    }

    #[test]
    fn groups_by_payee_and_fee_in_first_seen_order() {
        let mut batch = SettleBatch::new();
        batch.push(&receipt(1, 1, 10), &sig(1), 0);
        batch.push(&receipt(2, 1, 20), &sig(2), 0);
        batch.push(&receipt(1, 2, 30), &sig(3), 0);
        batch.push(&receipt(1, 3, 40), &sig(4), 5);
        let shape: Vec<_> = batch
            .groups()
            .iter()
            .map(|g| (g.payee, g.fee_bps, g.receipts.len()))
            .collect();
        assert_eq!(
            shape,
            [
                (Address::repeat_byte(1), 0, 2),
                (Address::repeat_byte(2), 0, 1),
                (Address::repeat_byte(1), 5, 1),
            ]
        );
        assert_eq!(batch.len(), 4);
        let order: Vec<_> = batch.receipts().map(|(r, _, _)| r.salt).collect();
        assert_eq!(order, [1, 2, 1, 3]);
        assert_eq!(batch.encoded_len(), 3 * GROUP_HEADER_LEN + 4 * RECEIPT_LEN);
    }

    #[test]
    fn a_full_group_continues_in_a_new_one() {
        let mut batch = SettleBatch::new();
        for salt in 0..=MAX_GROUP_RECEIPTS as u32 {
            batch.push(&receipt(7, salt, 1), &sig(9), 0);
        }
        let sizes: Vec<_> = batch.groups().iter().map(|g| g.receipts.len()).collect();
        assert_eq!(sizes, [MAX_GROUP_RECEIPTS, 1]);
        let bytes = batch.encode();
        assert_eq!(&bytes[22..24], &hex!("ffff"));
        assert_eq!(
            SettleBatch::decode(&bytes).unwrap().len(),
            MAX_GROUP_RECEIPTS + 1
        );
    }

    #[test]
    fn decode_round_trips() {
        let mut batch = SettleBatch::new();
        for (payee, salt, fee) in [(1, 1, 0), (2, 5, 3), (1, 9, 0), (3, u32::MAX, u16::MAX)] {
            batch.push(&receipt(payee, salt, u64::MAX), &sig(salt as u8), fee);
        }
        let decoded = SettleBatch::decode(&batch.encode()).unwrap();
        assert_eq!(decoded, batch);
        assert_eq!(SettleBatch::decode(&[]).unwrap(), SettleBatch::new());
        assert!(SettleBatch::new().is_empty());
        assert!(SettleBatch::new().encode().is_empty());
    }

    #[test]
    fn decode_reports_the_escrows_offsets() {
        let mut batch = SettleBatch::new();
        batch.push(&receipt(1, 1, 1), &sig(1), 0);
        batch.push(&receipt(2, 1, 1), &sig(1), 0);
        let bytes = batch.encode();
        let second = GROUP_HEADER_LEN + RECEIPT_LEN;
        // A header cut short, in the first and in the second group.
        assert_eq!(
            SettleBatch::decode(&bytes[..10]),
            Err(MalformedBatch { offset: 0 })
        );
        assert_eq!(
            SettleBatch::decode(&bytes[..second + 23]),
            Err(MalformedBatch { offset: second })
        );
        // Receipts cut short: the offset of the group's first receipt.
        assert_eq!(
            SettleBatch::decode(&bytes[..bytes.len() - 1]),
            Err(MalformedBatch {
                offset: second + GROUP_HEADER_LEN
            })
        );
    }

    #[test]
    fn calldata_is_the_abi_encoded_call() {
        let mut batch = SettleBatch::new();
        batch.push(&receipt(1, 1, 1), &sig(1), 0);
        let calldata = batch.calldata();
        assert_eq!(calldata[..4], settleBatchCall::SELECTOR);
        let call = settleBatchCall::abi_decode(&calldata).unwrap();
        assert_eq!(call.batch.as_ref(), batch.encode().as_slice());
    }

    fn settled_group(payee: u8, salts: &[u32]) -> SettledGroup {
        SettledGroup {
            payee: Address::repeat_byte(payee),
            credited: 0x0102 + u128::from(payee),
            fee: 0x03,
            entries: salts
                .iter()
                .map(|&salt| SettledEntry {
                    payer: Address::repeat_byte(1),
                    salt,
                    settled: 0x0506,
                })
                .collect(),
        }
    }

    #[test]
    fn settled_groups_have_the_documented_layout_and_round_trip() {
        let groups = vec![settled_group(2, &[0x0102_0304, 7]), settled_group(3, &[9])];
        let packed = [groups[0].encode(), groups[1].encode()].concat();
        assert_eq!(
            packed.len(),
            2 * SETTLED_GROUP_HEADER_LEN + 3 * SETTLED_ENTRY_LEN
        );
        assert_eq!(&packed[..20], Address::repeat_byte(2).as_slice());
        assert_eq!(&packed[20..36], &0x0104u128.to_be_bytes());
        assert_eq!(&packed[36..52], &3u128.to_be_bytes());
        assert_eq!(&packed[52..54], &hex!("0002"));
        let entry = &packed[SETTLED_GROUP_HEADER_LEN..][..SETTLED_ENTRY_LEN];
        assert_eq!(&entry[..20], Address::repeat_byte(1).as_slice());
        assert_eq!(&entry[20..24], &hex!("01020304"));
        assert_eq!(&entry[24..36], &hex!("000000000000000000000506"));
        assert_eq!(SettledGroup::decode_all(&packed), Some(groups.clone()));
        assert_eq!(SettledGroup::decode_all(&[]), Some(vec![]));
        let payee = Address::repeat_byte(2);
        assert_eq!(
            groups[0].channels().collect::<Vec<_>>(),
            [0x0102_0304, 7].map(|salt| ChannelSettled {
                channel_id: crate::channel_id(Address::repeat_byte(1), payee, salt),
                settled: 0x0506,
            })
        );
        // JSON (the relayer's decoded events): amounts as decimal strings, round trip exact.
        let json = serde_json::to_value(&groups[0]).unwrap();
        assert_eq!(
            (
                &json["credited"],
                &json["fee"],
                &json["entries"][0]["settled"]
            ),
            (&"260".into(), &"3".into(), &"1286".into())
        );
        assert_eq!(
            serde_json::from_value::<SettledGroup>(json).unwrap(),
            groups[0]
        );
    }

    #[test]
    fn settled_groups_refuse_what_the_escrow_never_logs() {
        let first = settled_group(2, &[1, 2]).encode();
        let packed = [first.clone(), settled_group(3, &[3]).encode()].concat();
        // Every truncation but the one at the groups' boundary: a cut header or entry, or a group
        // missing entries.
        for len in (1..packed.len()).filter(|&len| len != first.len()) {
            assert_eq!(
                SettledGroup::decode_all(&packed[..len]),
                None,
                "{len} bytes"
            );
        }
        // Trailing bytes after the last group.
        assert_eq!(
            SettledGroup::decode_all(&[&packed[..], &[0]].concat()),
            None
        );
        // A group with no entries (the escrow leaves such groups out).
        assert_eq!(
            SettledGroup::decode_all(&settled_group(2, &[]).encode()),
            None
        );
        // A count larger than what follows, up to the largest.
        let mut garbage = settled_group(2, &[1]).encode();
        garbage[52..54].copy_from_slice(&u16::MAX.to_be_bytes());
        assert_eq!(SettledGroup::decode_all(&garbage), None);
        // Arbitrary bytes never panic.
        for seed in 0..=255u8 {
            let bytes: Vec<u8> = (0..(usize::from(seed) * 3))
                .map(|i| (i as u8).wrapping_mul(seed) ^ seed)
                .collect();
            let _ = SettledGroup::decode_all(&bytes);
        }
    }

    #[test]
    fn outcome_bytes() {
        for byte in 0..=6 {
            let outcome = SettleOutcome::from_byte(byte).unwrap();
            assert_eq!(outcome as u8, byte);
            assert!(
                outcome
                    .as_str()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_')
            );
        }
        assert_eq!(SettleOutcome::from_byte(7), None);
    }
}
