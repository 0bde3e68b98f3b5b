//! The chain crate's store traits on the node's database, both engines: `IndexerStore` (events → channels,
//! reorg rewinds) and `TxJournal` (transitions, and what they do to batches and operations).

mod common;

use common::*;
use piecepay_protocol::{
    alloy_primitives::{Address, B256, U256},
    relayer_api::{
        ChannelState, OperationState, OperationSubmission, SettlementState, SignatureJson,
        WithdrawRequest,
    },
    settle_batch::{SettledEntry, SettledGroup},
};
use piecepay_relayer::{
    Store,
    store::{OperationRow, ReceiptWrite},
};
use piecepay_relayer_chain::{
    BlockRange, BlockRef, EscrowEvent, EventMeta, IndexedEvent, IndexerStore, JournalOp,
    RequeueReason, TxId, TxJournal,
};
use piecepay_test_support::journal::{self, apply, attempt, inclusion, intent};

fn block(number: u64, fork: u8) -> BlockRef {
    BlockRef::new(number, B256::repeat_byte(fork))
}

fn range(from: u64, to: BlockRef, events: Vec<IndexedEvent>) -> BlockRange {
    BlockRange {
        from,
        to,
        blocks: vec![to],
        events,
    }
}

fn event(block: BlockRef, log_index: u64, tx: u8, event: EscrowEvent) -> IndexedEvent {
    IndexedEvent {
        meta: EventMeta {
            block_number: block.number,
            block_hash: block.hash,
            tx_hash: B256::repeat_byte(tx),
            log_index,
        },
        event,
    }
}

both_engines!(indexer_store_rules, |store: Store| async move {
    assert_eq!(store.cursor().await.unwrap(), None);
    IndexerStore::apply(&store, range(10, block(12, 1), vec![]))
        .await
        .unwrap();
    IndexerStore::apply(&store, range(10, block(12, 1), vec![]))
        .await
        .unwrap(); // a retry: no-op
    IndexerStore::apply(&store, range(13, block(15, 1), vec![]))
        .await
        .unwrap();
    assert_eq!(store.cursor().await.unwrap(), Some(block(15, 1)));
    assert_eq!(store.indexed_block().await.unwrap(), 15);
    let gap = IndexerStore::apply(&store, range(17, block(18, 1), vec![]))
        .await
        .unwrap_err();
    assert_eq!(gap.code(), "cursor_mismatch");
    assert_eq!(
        store.recent_blocks(5).await.unwrap(),
        [block(15, 1), block(12, 1)]
    );
    assert!(store.rewind(block(13, 1)).await.is_err(), "not remembered");
    assert!(store.rewind(block(12, 2)).await.is_err(), "another fork");
    store.rewind(block(12, 1)).await.unwrap();
    store.rewind(block(12, 1)).await.unwrap();
    assert_eq!(store.recent_blocks(5).await.unwrap(), [block(12, 1)]);
    IndexerStore::apply(&store, range(13, block(14, 3), vec![]))
        .await
        .unwrap();
    store.prune_blocks(14).await.unwrap();
    assert_eq!(store.recent_blocks(5).await.unwrap(), [block(14, 3)]);
    store.prune_blocks(100).await.unwrap();
    assert_eq!(
        store.recent_blocks(5).await.unwrap(),
        [block(14, 3)],
        "never the cursor's"
    );
});

both_engines!(
    events_become_channels_and_reorgs_undo_them,
    |store: Store| async move {
        let payer = payer().address();
        let payee = payee().address();
        let id = piecepay_protocol::channel_id(payer, payee, 5);
        let opened = EscrowEvent::ChannelOpened {
            channel_id: id,
            payer,
            payee,
            salt: 5,
            deposit: 1_000,
            fee: 0,
        };
        let b1 = block(1, 1);
        IndexerStore::apply(&store, range(1, b1, vec![event(b1, 0, 1, opened)]))
            .await
            .unwrap();
        let b2 = block(2, 1);
        let settled = EscrowEvent::ReceiptsSettled {
            groups: vec![SettledGroup {
                payee,
                credited: 300,
                fee: 0,
                entries: vec![
                    SettledEntry {
                        payer,
                        salt: 5,
                        settled: 300,
                    },
                    // A channel opened before the start block: unknown, ignored.
                    SettledEntry {
                        payer,
                        salt: 6,
                        settled: 1,
                    },
                ],
            }],
        };
        let events = vec![
            event(
                b2,
                0,
                2,
                EscrowEvent::ChannelToppedUp {
                    channel_id: id,
                    deposit: 1_500,
                    fee: 0,
                },
            ),
            event(b2, 1, 2, settled),
            event(b2, 2, 2, EscrowEvent::SettleFeeCapSet { payee, bps: 40 }),
            event(
                b2,
                3,
                3,
                EscrowEvent::CloseRequested {
                    channel_id: id,
                    closes_at: 9_999,
                    fee: 0,
                },
            ),
        ];
        IndexerStore::apply(&store, range(2, b2, events))
            .await
            .unwrap();
        let channel = store.channel_record(&id).await.unwrap().unwrap();
        assert_eq!(channel.deposit, 1_500);
        assert_eq!(channel.settled, 300);
        assert_eq!(channel.state, ChannelState::Closing);
        assert_eq!(channel.closes_at, Some(9_999));
        assert_eq!(channel.updated_block, 2);
        assert!(
            store
                .channel_record(&piecepay_protocol::channel_id(payer, payee, 6))
                .await
                .unwrap()
                .is_none()
        );
        // The fee cap reaches the candidates.
        store
            .raise_receipts(
                &[ReceiptWrite {
                    channel_id: id,
                    cumulative: 400,
                    signature: sign_receipt(&common::payer(), payee, 5, 400).1,
                }],
                7,
            )
            .await
            .unwrap();
        assert_eq!(
            store.settlement_candidates(10).await.unwrap()[0].fee_cap_bps,
            40
        );

        // Block 2 is reorged out: the channel is as block 1 left it, the fee cap gone.
        store.rewind(b1).await.unwrap();
        let channel = store.channel_record(&id).await.unwrap().unwrap();
        assert_eq!(
            (
                channel.deposit,
                channel.settled,
                channel.state,
                channel.updated_block
            ),
            (1_000, 0, ChannelState::Open, 1)
        );
        assert_eq!(
            store.settlement_candidates(10).await.unwrap()[0].fee_cap_bps,
            0
        );
        // The replacement block 2 closes it instead.
        let b2b = block(2, 2);
        IndexerStore::apply(
            &store,
            range(
                2,
                b2b,
                vec![event(
                    b2b,
                    0,
                    4,
                    EscrowEvent::ChannelClosed {
                        channel_id: id,
                        settled: 0,
                        fee: 0,
                    },
                )],
            ),
        )
        .await
        .unwrap();
        assert_eq!(
            store.channel_record(&id).await.unwrap().unwrap().state,
            ChannelState::Closed
        );
        assert!(store.settlement_candidates(10).await.unwrap().is_empty());
        // Rewinding past the open forgets the channel.
        IndexerStore::apply(&store, range(3, block(3, 2), vec![]))
            .await
            .unwrap();
        store.rewind(b1).await.unwrap();
        store.rewind(b1).await.unwrap();
        let gone_cursor = store.cursor().await.unwrap();
        assert_eq!(gone_cursor, Some(b1));
        assert_eq!(store.indexed_block().await.unwrap(), 1);
    }
);

both_engines!(journal_rules, |store: Store| async move {
    journal::rules(&store).await;
    assert_eq!(store.journal_jobs().await.unwrap().len(), 2);
});

both_engines!(settlement_follows_its_job, |store: Store| async move {
    let channel = channel_with_receipt(&store, 7, 300, 50).await;
    let batch = settlement_job(&store, &channel, 300, 50, 60, &[0xab]).await;
    let job = TxId(batch as u64);
    assert!(store.settlement_candidates(10).await.unwrap().is_empty());
    assert_eq!(store.unfinished().await.unwrap()[0].id, job);
    let status = |now| {
        let store = store.clone();
        async move {
            store
                .settlement_status(&channel.channel_id, now)
                .await
                .unwrap()
                .unwrap()
        }
    };
    // Signed is not sent: nothing is claimed until the node took the transaction.
    apply(
        &store,
        job,
        [
            JournalOp::RecordIntent(intent(0)),
            JournalOp::RecordSigned(attempt(1)),
        ],
    )
    .await;
    let s = status(61).await;
    assert_eq!(s.status, SettlementState::Pending);
    assert!(s.transaction.is_none());
    assert!(store.settlement_candidates(10).await.unwrap().is_empty());
    apply(
        &store,
        job,
        [JournalOp::MarkBroadcast(B256::repeat_byte(1))],
    )
    .await;
    let s = status(61).await;
    assert_eq!(s.status, SettlementState::Submitted);
    assert_eq!(s.transaction.unwrap().hash, B256::repeat_byte(1));
    // Requeued (a cancel was mined): no transaction to report, still batched.
    apply(&store, job, [JournalOp::Requeue(RequeueReason::Cancelled)]).await;
    assert!(status(62).await.transaction.is_none());
    assert!(store.settlement_candidates(10).await.unwrap().is_empty());
    // Signed again, mined, confirmed.
    apply(
        &store,
        job,
        [
            JournalOp::RecordIntent(intent(1)),
            JournalOp::RecordSigned(attempt(2)),
            JournalOp::MarkBroadcast(B256::repeat_byte(2)),
        ],
    )
    .await;
    let s = status(63).await;
    assert_eq!(s.status, SettlementState::Submitted);
    assert_eq!(s.transaction.unwrap().hash, B256::repeat_byte(2));
    assert_eq!(s.transaction.unwrap().block_number, None);
    apply(
        &store,
        job,
        [JournalOp::MarkIncluded(inclusion(2, 20, true))],
    )
    .await;
    let s = status(64).await;
    assert_eq!(s.transaction.unwrap().block_number, Some(20));
    assert_eq!(s.transaction.unwrap().cumulative, 300);
    apply(
        &store,
        job,
        [JournalOp::MarkConfirmed(inclusion(2, 20, true))],
    )
    .await;
    // The value waited from its arrival (50) to the confirmation.
    assert_eq!(store.settle_latencies(batch, 80).await.unwrap(), [30]);
    // Confirmed, but the indexer is below its block: not a candidate again yet, and still reported as
    // submitted (its settlement is on chain, the channel's row does not show it yet).
    assert!(store.settlement_candidates(10).await.unwrap().is_empty());
    store.set_indexed_block(19).await.unwrap();
    assert_eq!(status(65).await.status, SettlementState::Submitted);
    // The indexer passes the block without the channel settled (the escrow skipped it): a candidate,
    // and pending again.
    store.set_indexed_block(20).await.unwrap();
    assert_eq!(store.settlement_candidates(10).await.unwrap().len(), 1);
    let s = status(66).await;
    assert_eq!(s.status, SettlementState::Pending);
    assert_eq!(s.transaction.unwrap().block_number, Some(20));

    // A batch whose transaction reverted gives its channels back at once.
    let batch = settlement_job(&store, &channel, 300, 50, 70, &[0xac]).await;
    let job = TxId(batch as u64);
    assert!(store.settlement_candidates(10).await.unwrap().is_empty());
    apply(
        &store,
        job,
        [
            JournalOp::RecordIntent(intent(2)),
            JournalOp::RecordSigned(attempt(3)),
            JournalOp::MarkIncluded(inclusion(3, 21, false)),
            JournalOp::MarkConfirmed(inclusion(3, 21, false)),
        ],
    )
    .await;
    assert_eq!(store.settlement_candidates(10).await.unwrap().len(), 1);
});

fn withdrawal(deadline: u64) -> OperationSubmission {
    OperationSubmission::Withdraw(WithdrawRequest {
        owner: common::payer().address().to_checksum(None),
        to: payee().address().to_checksum(None),
        amount: "5".into(),
        fee: "1".into(),
        relayer: None,
        nonce: "0".into(),
        deadline,
        signature: SignatureJson {
            r: format!("0x{}", "11".repeat(32)),
            vs: format!("0x{}", "22".repeat(32)),
        },
    })
}

both_engines!(
    operations_follow_their_job_and_the_indexer,
    |store: Store| async move {
        let rows: Vec<OperationRow> = (0..2u8)
            .map(|i| OperationRow {
                operation_id: B256::repeat_byte(0x90 + i),
                submission: withdrawal(2_000 + u64::from(i)),
                channel_id: None,
                fee: 1,
                deadline: 2_000,
            })
            .collect();
        store.queue_operations(&rows, 10).await.unwrap();
        let ids: Vec<B256> = rows.iter().map(|r| r.operation_id).collect();
        let job = store
            .create_operations_job("withdraw", &ids, 11, &[0xcd])
            .await
            .unwrap();
        assert!(job.0 >= piecepay_relayer::store::OPERATION_JOB_BASE);
        assert!(store.pending_operations(12, 10).await.unwrap().is_empty());
        let error = store
            .create_operations_job("withdraw", &ids, 11, &[0xcd])
            .await;
        assert!(error.is_err(), "no longer pending");
        apply(
            &store,
            job,
            [
                JournalOp::RecordIntent(intent(0)),
                JournalOp::RecordSigned(attempt(5)),
            ],
        )
        .await;
        // Signed, not yet taken by the node: still pending, no transaction claimed.
        let status = store.operation_status(&ids[0]).await.unwrap().unwrap();
        assert_eq!(status.status, OperationState::Pending);
        assert_eq!(status.transaction_hash, None);
        assert!(store.pending_operations(12, 10).await.unwrap().is_empty());
        apply(
            &store,
            job,
            [JournalOp::MarkBroadcast(B256::repeat_byte(5))],
        )
        .await;
        let status = store.operation_status(&ids[0]).await.unwrap().unwrap();
        assert_eq!(status.status, OperationState::Submitted);
        assert_eq!(status.transaction_hash, Some(B256::repeat_byte(5)));
        // A replacement, broadcast: the latest hash is reported.
        apply(
            &store,
            job,
            [
                JournalOp::RecordSigned(attempt(6)),
                JournalOp::MarkBroadcast(B256::repeat_byte(6)),
            ],
        )
        .await;
        let status = store.operation_status(&ids[0]).await.unwrap().unwrap();
        assert_eq!(status.status, OperationState::Submitted);
        assert_eq!(status.transaction_hash, Some(B256::repeat_byte(6)));

        // The indexer sees the transaction (attempt 5, mined after all): entry 0 applied, entry 1 skipped.
        let b29 = block(29, 7);
        IndexerStore::apply(&store, range(29, b29, vec![]))
            .await
            .unwrap();
        let b = block(30, 5);
        let account = common::payer().address();
        let events = vec![
            event(
                b,
                0,
                5,
                EscrowEvent::Withdrawn {
                    account,
                    to: Address::repeat_byte(3),
                    amount: U256::from(5),
                    fee: U256::from(1),
                },
            ),
            event(
                b,
                1,
                5,
                EscrowEvent::AuthorizationSkipped {
                    index: U256::from(1),
                    reason: vec![0xde, 0xad].into(),
                },
            ),
        ];
        IndexerStore::apply(&store, range(30, b, events))
            .await
            .unwrap();
        let applied = store.operation_status(&ids[0]).await.unwrap().unwrap();
        assert_eq!(applied.status, OperationState::Applied);
        assert_eq!(applied.transaction_hash, Some(B256::repeat_byte(5)));
        assert_eq!(applied.block_number, Some(30));
        let failed = store.operation_status(&ids[1]).await.unwrap().unwrap();
        assert_eq!(failed.status, OperationState::Failed);
        assert_eq!(failed.reason.unwrap().as_ref(), &[0xde, 0xad]);
        // The journal's own confirmation leaves them be.
        apply(
            &store,
            job,
            [
                JournalOp::MarkIncluded(inclusion(5, 30, true)),
                JournalOp::MarkConfirmed(inclusion(5, 30, true)),
            ],
        )
        .await;
        assert_eq!(
            store
                .operation_status(&ids[0])
                .await
                .unwrap()
                .unwrap()
                .status,
            OperationState::Applied
        );
        // The block is reorged out: both are in flight again, with the mined attempt's hash kept.
        store.rewind(b29).await.unwrap();
        for id in &ids {
            let status = store.operation_status(id).await.unwrap().unwrap();
            assert_eq!(status.status, OperationState::Submitted);
            assert_eq!(status.block_number, None);
            assert_eq!(status.reason, None);
        }
    }
);
