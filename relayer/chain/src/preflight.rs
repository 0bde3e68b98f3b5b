//! Pre-flight `eth_call`s: what the escrow would do with a batch now, before it is sent.
//!
//! `settleBatch` returns one [`SettleOutcome`] byte per receipt; a receipt that would be skipped costs
//! its calldata and a signature recovery for nothing, so the node drops it with [`split_by_outcomes`]
//! before enqueueing the batch. The `…BySig` batches return one `bytes` per entry (empty = applied).

use alloy::{
    primitives::{Address, Bytes},
    providers::{DynProvider, Provider},
    rpc::types::{TransactionInput, TransactionRequest},
    sol_types::SolCall,
};
use piecepay_protocol::{
    CompactSignature, Receipt,
    bindings::ChannelEscrow::{openChannelsBySigCall, settleBatchCall},
    settle_batch::{SettleBatch, SettleOutcome},
};

use crate::{Error, Result};

/// A receipt the pre-flight dropped, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dropped {
    /// The receipt.
    pub receipt: Receipt,
    /// Its payer's signature.
    pub signature: CompactSignature,
    /// The fee its group claimed.
    pub fee_bps: u16,
    /// What the escrow would have done with it.
    pub outcome: SettleOutcome,
}

/// Splits `batch` by the pre-flight's `outcomes` (one per receipt, in [`SettleBatch::receipts`] order):
/// the receipts that would settle, as a new batch in the same order, and those that would be skipped.
///
/// Fails with [`Error::Rpc`] if the outcome count does not match the batch (an escrow that is not
/// piecepay's, or a node bug): nothing is dropped on a guess.
pub fn split_by_outcomes(
    batch: &SettleBatch,
    outcomes: &[SettleOutcome],
) -> Result<(SettleBatch, Vec<Dropped>)> {
    if outcomes.len() != batch.len() {
        return Err(Error::rpc(
            "settleBatch pre-flight",
            format!(
                "{} outcomes returned for {} receipts",
                outcomes.len(),
                batch.len()
            ),
        ));
    }
    let mut kept = SettleBatch::new();
    let mut dropped = Vec::new();
    for ((receipt, signature, fee_bps), &outcome) in batch.receipts().zip(outcomes) {
        if outcome == SettleOutcome::Settled {
            kept.push(&receipt, &signature, fee_bps);
        } else {
            dropped.push(Dropped {
                receipt,
                signature,
                fee_bps,
                outcome,
            });
        }
    }
    Ok((kept, dropped))
}

/// `eth_call` of `calldata` to `to` from `from` at the latest block: the return data, or
/// [`Error::Reverted`] with the revert data.
pub async fn call(
    provider: &DynProvider,
    from: Address,
    to: Address,
    calldata: Bytes,
) -> Result<Bytes> {
    let request = TransactionRequest::default()
        .from(from)
        .to(to)
        .input(TransactionInput::new(calldata));
    match provider.call(request).await {
        Ok(data) => Ok(data),
        Err(error) => match error.as_error_resp().and_then(|e| e.as_revert_data()) {
            Some(data) => Err(Error::Reverted { data }),
            None => Err(Error::rpc("eth_call", error)),
        },
    }
}

/// What `settleBatch` would do with each receipt of `batch` if `from` sent it now.
pub async fn preflight_settle(
    provider: &DynProvider,
    escrow: Address,
    from: Address,
    batch: &SettleBatch,
) -> Result<Vec<SettleOutcome>> {
    let data = call(provider, from, escrow, batch.calldata().into()).await?;
    let bytes = settleBatchCall::abi_decode_returns(&data)
        .map_err(Error::rpc_of("settleBatch pre-flight"))?;
    bytes
        .iter()
        .map(|&byte| {
            SettleOutcome::from_byte(byte).ok_or_else(|| {
                Error::rpc("settleBatch pre-flight", format!("unknown outcome {byte}"))
            })
        })
        .collect()
}

/// What a `…BySig` batch (its full `calldata`) would do with each entry if `from` sent it now: the
/// ABI-encoded error each entry would be skipped with, empty for an entry that would apply.
pub async fn preflight_by_sig(
    provider: &DynProvider,
    escrow: Address,
    from: Address,
    calldata: Bytes,
) -> Result<Vec<Bytes>> {
    let data = call(provider, from, escrow, calldata).await?;
    decode_by_sig_failures(&data)
}

/// The per-entry failures a `…BySig` call returns: its return tuple `(bytes[] failures)`, one entry per
/// authorisation, empty = applied. Every such function returns the same type, so one decoder serves all.
pub fn decode_by_sig_failures(data: &[u8]) -> Result<Vec<Bytes>> {
    openChannelsBySigCall::abi_decode_returns(data)
        .map_err(Error::rpc_of("by-sig batch pre-flight"))
}

#[cfg(test)]
mod tests {
    use alloy::primitives::{B256, aliases::U96};

    use super::*;

    #[test]
    fn by_sig_failures_decode_as_the_escrow_returns_them() {
        use piecepay_protocol::bindings::ChannelEscrow::topUpsBySigCall;
        let failures = vec![Bytes::new(), Bytes::from(vec![0xde, 0xad])];
        let data = topUpsBySigCall::abi_encode_returns(&failures);
        assert_eq!(decode_by_sig_failures(&data).unwrap(), failures);
        assert_eq!(
            decode_by_sig_failures(&[1, 2, 3]).unwrap_err().code(),
            "rpc"
        );
    }

    #[test]
    fn split_keeps_settleable_receipts_in_order() {
        let mut batch = SettleBatch::new();
        for (payee, salt) in [(1u8, 1u32), (2, 2), (1, 3), (3, 4)] {
            let receipt = Receipt {
                payee: Address::repeat_byte(payee),
                salt,
                cumulative: U96::from(salt),
            };
            batch.push(
                &receipt,
                &CompactSignature::new(B256::repeat_byte(1), B256::repeat_byte(2)),
                5,
            );
        }
        use SettleOutcome::*;
        let (kept, dropped) =
            split_by_outcomes(&batch, &[Settled, Stale, Settled, ChannelClosed]).unwrap();
        let salts: Vec<u32> = kept.receipts().map(|(r, _, _)| r.salt).collect();
        // Encoded order is (payee 1: salts 1, 3), (payee 2: 2), (payee 3: 4).
        assert_eq!(salts, [1, 2]);
        let dropped: Vec<(u32, SettleOutcome)> = dropped
            .iter()
            .map(|d| (d.receipt.salt, d.outcome))
            .collect();
        assert_eq!(dropped, [(3, Stale), (4, ChannelClosed)]);
        assert_eq!(
            split_by_outcomes(&batch, &[Settled]).unwrap_err().code(),
            "rpc"
        );
    }
}
