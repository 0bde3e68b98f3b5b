//! The journal's transitions (`TxState::after`), and the provided journals keeping the rules of every
//! `TxJournal` (one suite, in the test support crate, that the relayer's database runs too).

use piecepay_relayer_chain::{
    FileJournal, JournalOp as Op, MemoryJournal, RequeueReason, SignedAttempt, TxId, TxState,
    alloy::primitives::B256,
};
use piecepay_test_support::{
    journal::{attempt, inclusion, intent, rules},
    temp_dir,
};

/// Attempt `byte` (see [`attempt`]) as a cancellation.
fn cancelling(byte: u8) -> SignedAttempt {
    SignedAttempt {
        cancel: true,
        ..attempt(byte)
    }
}

#[tokio::test]
async fn the_memory_journal_keeps_the_rules() {
    let journal = MemoryJournal::new();
    rules(&journal).await;
    assert_eq!(journal.all().len(), 2);
}

#[tokio::test]
async fn the_file_journal_keeps_the_rules_and_replays_them() {
    let dir = temp_dir();
    let path = dir.path().join("journal.jsonl");
    let journal = FileJournal::open(&path).unwrap();
    rules(&journal).await;
    // What it wrote replays to what it held.
    let reopened = FileJournal::open(&path).unwrap();
    assert_eq!(reopened.all(), journal.all());
    assert_eq!(reopened.all().len(), 2);
}

/// `state` after `ops`, each a transition or a no-op.
fn run(state: TxState, ops: &[Op]) -> piecepay_relayer_chain::Result<TxState> {
    ops.iter().try_fold(state, |state, op| {
        Ok(state.after(TxId(1), op)?.unwrap_or(state))
    })
}

#[test]
fn the_happy_path_and_its_repeats() {
    let ops = [
        Op::RecordIntent(intent(3)),
        Op::RecordIntent(intent(3)),
        Op::RecordSigned(attempt(1)),
        Op::RecordSigned(attempt(1)),
        Op::MarkBroadcast(B256::repeat_byte(1)),
        Op::RecordSigned(attempt(2)),
        Op::MarkBroadcast(B256::repeat_byte(2)),
        Op::MarkIncluded(inclusion(2, 9, true)),
        Op::MarkBroadcast(B256::repeat_byte(2)),
        Op::MarkIncluded(inclusion(2, 9, true)),
        Op::RecordSigned(attempt(2)),
        Op::MarkConfirmed(inclusion(2, 9, true)),
        Op::MarkConfirmed(inclusion(2, 9, true)),
    ];
    let state = run(TxState::Queued, &ops).unwrap();
    assert_eq!(
        state,
        TxState::Confirmed {
            inclusion: inclusion(2, 9, true)
        }
    );
    assert!(state.is_final());
}

#[test]
fn a_reorg_goes_back_to_pending_with_the_attempts() {
    let state = run(
        TxState::Queued,
        &[
            Op::RecordIntent(intent(0)),
            Op::RecordSigned(attempt(1)),
            Op::MarkIncluded(inclusion(1, 5, true)),
            Op::MarkPending,
            Op::MarkPending,
        ],
    )
    .unwrap();
    assert_eq!(
        state,
        TxState::Pending {
            intent: intent(0),
            attempts: vec![attempt(1)]
        }
    );
    // Re-mined elsewhere, replacing the inclusion.
    let state = run(
        state,
        &[
            Op::MarkIncluded(inclusion(1, 6, true)),
            Op::MarkIncluded(inclusion(1, 7, true)),
        ],
    )
    .unwrap();
    assert!(matches!(state, TxState::Included { inclusion, .. } if inclusion.block.number == 7));
    assert_eq!(state.nonce(), Some(0));
}

#[test]
fn requeue_drops_the_nonce() {
    for upto in 1..=3 {
        let ops = [
            Op::RecordIntent(intent(0)),
            Op::RecordSigned(cancelling(1)),
            Op::MarkIncluded(inclusion(1, 5, true)),
        ];
        let state = run(TxState::Queued, &ops[..upto]).unwrap();
        let state = run(state, &[Op::Requeue(RequeueReason::Cancelled)]).unwrap();
        assert_eq!(state, TxState::Queued);
        assert_eq!(state.nonce(), None);
    }
    assert_eq!(
        TxState::Queued
            .after(TxId(1), &Op::Requeue(RequeueReason::NonceTaken))
            .unwrap(),
        None
    );
}

#[test]
fn illegal_transitions_are_refused() {
    let pending = TxState::Pending {
        intent: intent(0),
        attempts: vec![attempt(1)],
    };
    let included = run(pending.clone(), &[Op::MarkIncluded(inclusion(1, 5, true))]).unwrap();
    let confirmed = TxState::Confirmed {
        inclusion: inclusion(1, 5, true),
    };
    let failed = TxState::Failed { reason: "x".into() };
    let prepared = TxState::Prepared { intent: intent(0) };
    let cases: Vec<(TxState, Op)> = vec![
        (TxState::Queued, Op::RecordSigned(attempt(1))),
        (TxState::Queued, Op::MarkIncluded(inclusion(1, 5, true))),
        (TxState::Queued, Op::MarkPending),
        (TxState::Queued, Op::MarkConfirmed(inclusion(1, 5, true))),
        (TxState::Queued, Op::MarkBroadcast(B256::repeat_byte(1))),
        (prepared.clone(), Op::MarkBroadcast(B256::repeat_byte(1))),
        (pending.clone(), Op::MarkBroadcast(B256::repeat_byte(9))), // not an attempt
        (confirmed.clone(), Op::MarkBroadcast(B256::repeat_byte(1))),
        (prepared.clone(), Op::MarkIncluded(inclusion(1, 5, true))),
        (prepared.clone(), Op::MarkConfirmed(inclusion(1, 5, true))),
        (prepared.clone(), Op::MarkFailed("x".into())),
        (pending.clone(), Op::RecordIntent(intent(1))),
        (pending.clone(), Op::MarkIncluded(inclusion(9, 5, true))), // not an attempt
        (pending.clone(), Op::MarkConfirmed(inclusion(1, 5, true))),
        (pending.clone(), Op::MarkFailed("x".into())),
        (included.clone(), Op::RecordSigned(attempt(7))),
        (included.clone(), Op::MarkConfirmed(inclusion(1, 6, true))), // not the stored inclusion
        (included.clone(), Op::RecordIntent(intent(0))),
        (confirmed.clone(), Op::Requeue(RequeueReason::Cancelled)),
        (confirmed.clone(), Op::MarkPending),
        (confirmed.clone(), Op::MarkConfirmed(inclusion(1, 6, true))),
        (failed.clone(), Op::RecordIntent(intent(0))),
        (failed.clone(), Op::Requeue(RequeueReason::Cancelled)),
    ];
    for (state, op) in cases {
        let error = state.after(TxId(1), &op).unwrap_err();
        assert_eq!(error.code(), "invalid_transition", "{state:?} {op:?}");
    }
}
