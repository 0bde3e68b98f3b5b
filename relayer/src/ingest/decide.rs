//! The pure part of ingest: which receipts of a group commit are accepted, duplicates or rejected, and
//! what to write. No IO, no clock.

use std::collections::HashMap;

use piecepay_protocol::{
    alloy_primitives::B256,
    relayer_api::{
        Admission, ApiError, ChannelSnapshot, ErrorCode, ReceiptResult, RecoveredReceipt,
    },
};

use crate::store::ReceiptWrite;

/// A verified receipt, or why it failed verification.
pub type Verified = Result<RecoveredReceipt, ApiError>;

/// The outcome of a group: one result list per request, and the writes that make it true.
#[derive(Debug, Default)]
pub struct Decision {
    /// `results[j][i]` for receipt `i` of request `j`.
    pub results: Vec<Vec<ReceiptResult>>,
    /// The highest newly accepted receipt per channel.
    pub writes: HashMap<B256, ReceiptWrite>,
}

/// Admits the receipts of `requests`, in order, against `snapshots` at unix time `now`, as if they had
/// been sent one after the other: a receipt sees those accepted before it (of its own request or an
/// earlier one in the group).
pub fn decide<'a>(
    requests: impl IntoIterator<Item = &'a [Verified]>,
    snapshots: &HashMap<B256, ChannelSnapshot>,
    now: u64,
) -> Decision {
    // Snapshots as they evolve within the group; cloned lazily, only for channels that get receipts.
    let mut current: HashMap<B256, ChannelSnapshot> = HashMap::new();
    let mut decision = Decision::default();
    for request in requests {
        let mut results = Vec::with_capacity(request.len());
        for verified in request {
            let result = match verified {
                Err(error) => ReceiptResult::Rejected(error.clone()),
                Ok(receipt) => admit(receipt, snapshots, &mut current, &mut decision.writes, now),
            };
            results.push(result);
        }
        decision.results.push(results);
    }
    decision
}

fn admit(
    receipt: &RecoveredReceipt,
    snapshots: &HashMap<B256, ChannelSnapshot>,
    current: &mut HashMap<B256, ChannelSnapshot>,
    writes: &mut HashMap<B256, ReceiptWrite>,
    now: u64,
) -> ReceiptResult {
    let snapshot = match current.get_mut(&receipt.channel_id) {
        Some(snapshot) => snapshot,
        None => match snapshots.get(&receipt.channel_id) {
            Some(snapshot) => current.entry(receipt.channel_id).or_insert(*snapshot),
            None => return ReceiptResult::Rejected(unknown_channel(receipt)),
        },
    };
    match snapshot.admit(receipt.cumulative, now) {
        Ok(Admission::New) => {
            snapshot.held = Some(receipt.cumulative);
            writes.insert(
                receipt.channel_id,
                ReceiptWrite {
                    channel_id: receipt.channel_id,
                    cumulative: receipt.cumulative,
                    signature: receipt.signature,
                },
            );
            ReceiptResult::admitted(receipt, Admission::New)
        }
        Ok(Admission::Duplicate) => ReceiptResult::admitted(receipt, Admission::Duplicate),
        Err(error) => ReceiptResult::Rejected(error),
    }
}

fn unknown_channel(receipt: &RecoveredReceipt) -> ApiError {
    ApiError::new(
        ErrorCode::UnknownChannel,
        format!(
            "no channel {} (payer {} recovered from the signature, payee {}, salt {})",
            receipt.channel_id, receipt.payer, receipt.receipt.payee, receipt.receipt.salt
        ),
    )
}

#[cfg(test)]
mod tests {
    use piecepay_protocol::{
        Receipt, SigningKey,
        alloy_primitives::aliases::U96,
        domain,
        relayer_api::{ChannelState, ReceiptSubmission},
    };

    use super::*;

    fn receipt(cumulative: u128) -> RecoveredReceipt {
        let key = SigningKey::from_bytes(&B256::repeat_byte(1)).unwrap();
        let domain = domain(
            31_337,
            piecepay_protocol::alloy_primitives::Address::repeat_byte(0xe5),
        );
        let message = Receipt {
            payee: piecepay_protocol::alloy_primitives::Address::repeat_byte(2),
            salt: 7,
            cumulative: U96::from(cumulative),
        };
        let signature = key
            .sign_digest(&piecepay_protocol::SolStruct::eip712_signing_hash(
                &message, &domain,
            ))
            .unwrap();
        ReceiptSubmission::new(&message, &signature)
            .verify(&domain)
            .unwrap()
    }

    fn open(deposit: u128) -> ChannelSnapshot {
        ChannelSnapshot {
            state: ChannelState::Open,
            deposit,
            settled: 0,
            closes_at: None,
            held: None,
        }
    }

    fn codes(results: &[ReceiptResult]) -> Vec<&'static str> {
        results
            .iter()
            .map(|r| match r {
                ReceiptResult::Accepted(_) => "accepted",
                ReceiptResult::Duplicate(_) => "duplicate",
                ReceiptResult::Rejected(e) => e.code.as_str(),
            })
            .collect()
    }

    #[test]
    fn receipts_in_a_group_see_each_other() {
        let (a, b, c) = (receipt(5), receipt(7), receipt(6));
        let snapshots = HashMap::from([(a.channel_id, open(100))]);
        let first = [Ok(a.clone()), Ok(b.clone())];
        let second = [Ok(b.clone()), Ok(c), Ok(receipt(101))];
        let decision = decide([&first[..], &second[..]], &snapshots, 0);
        assert_eq!(codes(&decision.results[0]), ["accepted", "accepted"]);
        assert_eq!(
            codes(&decision.results[1]),
            ["duplicate", "stale_receipt", "exceeds_deposit"]
        );
        assert_eq!(decision.writes.len(), 1);
        assert_eq!(decision.writes[&a.channel_id].cumulative, 7);
    }

    #[test]
    fn unknown_channels_and_verification_errors_are_rejected() {
        let error = ApiError::new(ErrorCode::InvalidSignature, "x");
        let request = [Ok(receipt(5)), Err(error)];
        let decision = decide([&request[..]], &HashMap::new(), 0);
        assert_eq!(
            codes(&decision.results[0]),
            ["unknown_channel", "invalid_signature"]
        );
        assert!(decision.writes.is_empty());
    }
}
