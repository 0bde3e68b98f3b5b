//! The store on both engines: every test runs against SQLite and a real PostgreSQL.

mod common;

use common::*;
use piecepay_protocol::{
    alloy_primitives::B256,
    relayer_api::{
        ChannelState, OperationKind, OperationState, OperationStatus, OperationSubmission,
        SettlementState, SettlementStatus, WithdrawRequest,
    },
};
use piecepay_relayer::{
    Store,
    store::{OperationRow, ReceiptWrite},
};
use piecepay_relayer_chain::{JournalOp, TxId, TxJournal};

/// The settlement status at `now` of a channel the store holds.
async fn known_settlement(store: &Store, channel_id: &B256, now: u64) -> SettlementStatus {
    let status = store.settlement_status(channel_id, now).await.unwrap();
    status.expect("the channel is in the store")
}

/// The status of an operation the store holds.
async fn known_operation(store: &Store, operation_id: &B256) -> OperationStatus {
    let status = store.operation_status(operation_id).await.unwrap();
    status.expect("the operation is in the store")
}

both_engines!(migrations_are_idempotent, |store: Store| async move {
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    store.ping().await.unwrap();
    assert_eq!(store.indexed_block().await.unwrap(), 0);
    store.set_indexed_block(42).await.unwrap();
    assert_eq!(store.indexed_block().await.unwrap(), 42);
});

both_engines!(receipts_only_rise, |store: Store| async move {
    let (payer, payee) = (payer().address(), payee().address());
    let channel = open_channel(payer, payee, 7, 1_000);
    store.upsert_channels(&[channel]).await.unwrap();
    let signature = sign_receipt(&common::payer(), payee, 7, 10).1;
    let write = |cumulative| ReceiptWrite {
        channel_id: channel.channel_id,
        cumulative,
        signature,
    };
    // Raises the held receipt to `cumulative` at `now`; returns the channels not raised.
    let raise = async |cumulative, now| {
        let writes = [write(cumulative)];
        store.raise_receipts(&writes, now).await.unwrap()
    };

    assert!(raise(10, 100).await.is_empty());
    // Equal or lower: not raised, reported back.
    assert_eq!(raise(10, 101).await, vec![channel.channel_id]);
    assert_eq!(raise(9, 101).await, vec![channel.channel_id]);
    assert!(raise(500, 102).await.is_empty());

    let snapshots = store
        .snapshots(&[channel.channel_id, B256::ZERO])
        .await
        .unwrap();
    assert_eq!(snapshots.len(), 1);
    let snapshot = snapshots[&channel.channel_id];
    assert_eq!(snapshot.held, Some(500));
    assert_eq!(snapshot.deposit, 1_000);
    assert_eq!(snapshot.state, ChannelState::Open);

    let status = store
        .channel_status(&channel.channel_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.latest_receipt.unwrap().cumulative, 500);
    assert_eq!(status.payer, payer);
    // The oldest unbatched receipt dates from the first raise.
    let candidates = store.settlement_candidates(10).await.unwrap();
    assert_eq!(candidates.len(), 1);
    assert_eq!(candidates[0].pending_since, 100);
    assert_eq!(candidates[0].cumulative, 500);
});

both_engines!(many_channels_in_one_commit, |store: Store| async move {
    let payee = payee().address();
    let channels: Vec<_> = (0..2_500u32)
        .map(|salt| open_channel(payer().address(), payee, salt, 1_000))
        .collect();
    store.upsert_channels(&channels).await.unwrap();
    let signature = sign_receipt(&payer(), payee, 0, 1).1;
    let writes: Vec<_> = channels
        .iter()
        .map(|c| ReceiptWrite {
            channel_id: c.channel_id,
            cumulative: u128::from(c.salt) + 1,
            signature,
        })
        .collect();
    assert!(store.raise_receipts(&writes, 5).await.unwrap().is_empty());
    let ids: Vec<_> = channels.iter().map(|c| c.channel_id).collect();
    let snapshots = store.snapshots(&ids).await.unwrap();
    assert_eq!(snapshots.len(), 2_500);
    assert!(
        channels
            .iter()
            .all(|c| snapshots[&c.channel_id].held == Some(u128::from(c.salt) + 1))
    );
});

both_engines!(operations_queue_once, |store: Store| async move {
    let submission = OperationSubmission::Withdraw(WithdrawRequest {
        owner: payer().address().to_checksum(None),
        to: payee().address().to_checksum(None),
        amount: "5".into(),
        fee: "1".into(),
        relayer: None,
        nonce: "0".into(),
        deadline: 2_000,
        signature: piecepay_protocol::relayer_api::SignatureJson {
            r: format!("0x{}", "11".repeat(32)),
            vs: format!("0x{}", "22".repeat(32)),
        },
    });
    let row = OperationRow {
        operation_id: B256::repeat_byte(9),
        submission: submission.clone(),
        channel_id: None,
        fee: 1,
        deadline: 2_000,
    };
    assert_eq!(
        store
            .queue_operations(&[row.clone(), row.clone()], 10)
            .await
            .unwrap(),
        [true, false]
    );
    let status = known_operation(&store, &row.operation_id).await;
    assert_eq!(status.kind, OperationKind::Withdraw);
    assert_eq!(status.status, OperationState::Pending);
    assert!(store.operation_status(&B256::ZERO).await.unwrap().is_none());

    let pending = store.pending_operations(1_000, 10).await.unwrap();
    assert_eq!(pending, vec![(row.operation_id, submission)]);
    let tx = B256::repeat_byte(0xab);
    store
        .mark_operation(
            &row.operation_id,
            OperationState::Failed,
            Some(tx),
            Some(7),
            Some(&[0xdb, 0x42]),
        )
        .await
        .unwrap();
    let status = known_operation(&store, &row.operation_id).await;
    assert_eq!(status.status, OperationState::Failed);
    assert_eq!(status.transaction_hash, Some(tx));
    assert_eq!(status.block_number, Some(7));
    assert_eq!(status.reason.unwrap().as_ref(), &[0xdb, 0x42]);

    // Past its deadline a pending operation expires instead of being handed out.
    let late = OperationRow {
        operation_id: B256::repeat_byte(8),
        ..row
    };
    store
        .queue_operations(std::slice::from_ref(&late), 10)
        .await
        .unwrap();
    assert!(
        store
            .pending_operations(3_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let status = known_operation(&store, &late.operation_id).await;
    assert_eq!(status.status, OperationState::Expired);
});

both_engines!(settlement_batches, |store: Store| async move {
    let mut channel = channel_with_receipt(&store, 7, 300, 50).await;
    store.set_fee_cap(&channel.payee, 30).await.unwrap();

    let status = known_settlement(&store, &channel.channel_id, 60).await;
    assert_eq!(status.status, SettlementState::Pending);
    assert_eq!(status.received, 300);
    assert!(status.transaction.is_none());

    let unsettled = store.unsettled().await.unwrap();
    assert_eq!(unsettled.channels, 1);
    assert_eq!(unsettled.value, 300.0);
    assert_eq!(unsettled.oldest_since, Some(50));
    let candidate = store.settlement_candidates(10).await.unwrap()[0];
    assert_eq!(candidate.fee_cap_bps, 30);
    let batch = settlement_job(&store, &channel, 300, 50, 60, &[0xab]).await;
    assert!(
        store.settlement_candidates(10).await.unwrap().is_empty(),
        "batched"
    );
    // Refused before anything was signed: back among the candidates (the journal's transitions and
    // what each does to the batch are in tests/chain_store.rs).
    TxJournal::apply(
        &store,
        TxId(batch as u64),
        JournalOp::MarkFailed("reverted".into()),
    )
    .await
    .unwrap();
    let candidates = store.settlement_candidates(10).await.unwrap();
    assert_eq!(candidates.len(), 1);
    assert!(candidates[0].pending_since >= 60);

    // Settled on chain (the indexer updates the channel): up to date, no longer a candidate.
    channel.settled = 300;
    channel.updated_block = 9;
    store.upsert_channels(&[channel]).await.unwrap();
    let status = known_settlement(&store, &channel.channel_id, 80).await;
    assert_eq!(status.status, SettlementState::UpToDate);
    assert!(store.settlement_candidates(10).await.unwrap().is_empty());
    let unsettled = store.unsettled().await.unwrap();
    assert_eq!((unsettled.channels, unsettled.value), (0, 0.0));
    assert_eq!(unsettled.oldest_since, None);

    // A higher receipt on a channel whose window ended: expired.
    store
        .raise_receipts(
            &[ReceiptWrite {
                channel_id: channel.channel_id,
                cumulative: 400,
                signature: sign_receipt(&payer(), channel.payee, 7, 400).1,
            }],
            90,
        )
        .await
        .unwrap();
    channel.state = ChannelState::Closing;
    channel.closes_at = Some(100);
    store.upsert_channels(&[channel]).await.unwrap();
    let status = known_settlement(&store, &channel.channel_id, 101).await;
    assert_eq!(status.status, SettlementState::Expired);
    let status = known_settlement(&store, &channel.channel_id, 99).await;
    assert_eq!(status.status, SettlementState::Pending);
});
