//! Driving the chain crate's [`Submitter`] on a real anvil and checking what it did: the steps and
//! assertions the submitter suites (one fee market with the escrow, both fee markets with a counter)
//! share, so a rule such as "a cancelled job is sent again under the next nonce" is written once.

use std::time::Duration;

use alloy::{
    primitives::{Address, B256},
    providers::Provider,
};
use piecepay_relayer_chain::{
    Fees, Inclusion, RequeueReason, SendKind, Submitter, SubmitterEvent, TxJournal,
};

/// How long [`tick_until`] waits for its event.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Ticks until an event matches `pick`, and returns what `pick` made of it; panics after a minute. For
/// what the submitter's own clock decides (a job stuck, a fee bumped): polled, never slept for.
pub async fn tick_until<T, J: TxJournal>(
    sub: &mut Submitter<J>,
    mut pick: impl FnMut(&SubmitterEvent) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let events = sub.tick().await.unwrap();
        if let Some(found) = events.iter().find_map(&mut pick) {
            return found;
        }
        assert!(tokio::time::Instant::now() < deadline, "{events:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Ticks until the job sent under nonce 0 is stuck and its cancel goes out; returns the cancel's hash and
/// fees.
pub async fn tick_until_cancelled<J: TxJournal>(sub: &mut Submitter<J>) -> (B256, Fees) {
    tick_until(sub, |e| match e {
        SubmitterEvent::Sent {
            kind: SendKind::Cancel,
            hash,
            fees,
            nonce: 0,
            ..
        } => Some((*hash, *fees)),
        _ => None,
    })
    .await
}

/// The job whose nonce-0 transaction was replaced by the cancel `cancel` (mined since): `events` (the
/// ticks' since) requeued it for the cancel and sent it again under nonce 1, it was confirmed by another
/// transaction (`inclusion`), and the cancel is a successful transfer of `relayer` to itself.
pub async fn assert_cancelled_then_sent_again(
    provider: &impl Provider,
    relayer: Address,
    cancel: B256,
    events: &[SubmitterEvent],
    inclusion: &Inclusion,
) {
    assert!(
        events.iter().any(|e| matches!(
            e,
            SubmitterEvent::Requeued {
                reason: RequeueReason::Cancelled,
                ..
            }
        )),
        "not requeued for the cancel: {events:?}"
    );
    assert_sent_again_under(events, 1);
    assert_ne!(
        inclusion.tx_hash, cancel,
        "the job's inclusion is the cancel"
    );
    let receipt = provider
        .get_transaction_receipt(cancel)
        .await
        .unwrap()
        .expect("the cancel is mined");
    assert!(receipt.status(), "the cancel reverted");
    assert_eq!(receipt.from, relayer);
    assert_eq!(receipt.to, Some(relayer), "the cancel is a self-transfer");
}

/// `events` include the first send of a requeued job under `nonce`.
pub fn assert_sent_again_under(events: &[SubmitterEvent], nonce: u64) {
    assert!(
        events.iter().any(|e| matches!(
            e,
            SubmitterEvent::Sent { nonce: n, kind: SendKind::First, .. } if *n == nonce
        )),
        "not sent again under nonce {nonce}: {events:?}"
    );
}
