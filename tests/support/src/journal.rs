//! The rules every [`TxJournal`] keeps, as one suite each implementation runs against itself (the chain
//! crate's memory and file journals, the relayer's database on both engines), and the journal values
//! tests build: a journal is only right if all of them agree.

use alloy::primitives::{B256, Bytes};
use piecepay_relayer_chain::{
    BlockRef, Fees, Inclusion, JournalOp, SignedAttempt, TxId, TxIntent, TxJournal, TxState,
};

/// What `enqueue`, `apply` and `unfinished` accept, refuse and ignore, on an empty journal. Leaves two
/// finished jobs, `TxId(1)` (confirmed) and `TxId(2)` (failed), for the caller's own checks.
pub async fn rules(journal: &impl TxJournal) {
    // Enqueueing again with the same calldata is a retry; with other calldata, a second job under one id.
    journal.enqueue(TxId(1), vec![1].into()).await.unwrap();
    journal.enqueue(TxId(1), vec![1].into()).await.unwrap();
    let error = journal.enqueue(TxId(1), vec![2].into()).await.unwrap_err();
    assert_eq!(error.code(), "duplicate_tx");
    assert_eq!(
        refused(journal, TxId(1), JournalOp::MarkPending).await,
        "invalid_transition"
    );
    assert_eq!(
        refused(journal, TxId(9), JournalOp::MarkPending).await,
        "unknown_tx"
    );
    let unfinished = journal.unfinished().await.unwrap();
    assert_eq!(unfinished.len(), 1);
    assert_eq!(
        unfinished[0].state,
        TxState::Queued,
        "a refused op changed it"
    );
    // Recording the same intent or attempt again is a no-op (a retry after a crash).
    apply(
        journal,
        TxId(1),
        [
            JournalOp::RecordIntent(intent(4)),
            JournalOp::RecordIntent(intent(4)),
            JournalOp::RecordSigned(attempt(1)),
            JournalOp::RecordSigned(attempt(1)),
            JournalOp::RecordSigned(attempt(2)),
        ],
    )
    .await;
    let unfinished = journal.unfinished().await.unwrap();
    assert_eq!(unfinished.len(), 1);
    assert_eq!(unfinished[0].calldata, Bytes::from(vec![1]));
    assert_eq!(
        unfinished[0].state,
        TxState::Pending {
            intent: intent(4),
            attempts: vec![attempt(1), attempt(2)],
        }
    );
    // Included, reorged out (pending again), included again, confirmed (twice: a retry).
    apply(
        journal,
        TxId(1),
        [
            JournalOp::MarkIncluded(inclusion(1, 8, true)),
            JournalOp::MarkPending,
            JournalOp::MarkIncluded(inclusion(1, 9, true)),
            JournalOp::MarkConfirmed(inclusion(1, 9, true)),
            JournalOp::MarkConfirmed(inclusion(1, 9, true)),
        ],
    )
    .await;
    assert!(journal.unfinished().await.unwrap().is_empty());
    journal.enqueue(TxId(2), vec![2].into()).await.unwrap();
    apply(journal, TxId(2), [JournalOp::MarkFailed("x".into())]).await;
    assert!(journal.unfinished().await.unwrap().is_empty());
}

/// Applies `ops` to job `id` in order, each of which must succeed.
pub async fn apply(journal: &impl TxJournal, id: TxId, ops: impl IntoIterator<Item = JournalOp>) {
    for op in ops {
        journal
            .apply(id, op.clone())
            .await
            .unwrap_or_else(|e| panic!("{op:?} on {id:?}: {e}"));
    }
}

/// The code of the error `op` on job `id` fails with.
pub async fn refused(journal: &impl TxJournal, id: TxId, op: JournalOp) -> &'static str {
    journal.apply(id, op).await.unwrap_err().code()
}

/// An EIP-1559 intent at `nonce`.
pub fn intent(nonce: u64) -> TxIntent {
    TxIntent {
        nonce,
        gas_limit: 100_000,
        fees: Fees::Eip1559 {
            max_fee_per_gas: 10,
            max_priority_fee_per_gas: 1,
        },
    }
}

/// A signed (not cancelling) attempt whose hash and raw bytes are made of `byte`.
pub fn attempt(byte: u8) -> SignedAttempt {
    SignedAttempt {
        hash: B256::repeat_byte(byte),
        raw: vec![byte].into(),
        fees: Fees::default(),
        cancel: false,
    }
}

/// Attempt `byte` (see [`attempt`]) included in block `number` (hash `0x4040…`), `success` or reverted.
pub fn inclusion(byte: u8, number: u64, success: bool) -> Inclusion {
    Inclusion {
        tx_hash: B256::repeat_byte(byte),
        block: BlockRef::new(number, B256::repeat_byte(0x40)),
        success,
        gas_used: 50_000,
        cancel: false,
    }
}
