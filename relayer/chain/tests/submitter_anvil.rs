//! The submitter against a real anvil: a settlement confirmed once, a reverting job failed, a dropped
//! transaction rebroadcast, a base-fee spike answered with bumped replacements, a reorged inclusion back to
//! pending and settled once, and anvil restarted while a transaction was pending.

mod common;

use std::{sync::Arc, time::Duration};

use common::{Devnet, Payer};
use piecepay_protocol::{
    alloy_sol_types::SolCall, bindings::ChannelEscrow::settleBatchCall, settle_batch::SettleOutcome,
};
use piecepay_relayer_chain::{
    EscrowEvent, Inclusion, Indexer, IndexerConfig, IndexerStep, MemoryIndexerStore, MemoryJournal,
    RequeueReason, SendKind, Submitter, SubmitterConfig, SubmitterEvent, TxId, TxJournal, TxState,
    alloy::{primitives::Address, providers::Provider, signers::local::PrivateKeySigner},
    preflight::preflight_settle,
    split_by_outcomes,
};
use piecepay_test_support::{
    anvil::Anvil,
    chain::{provider, wallet_provider},
    keys::RELAYER_KEY,
    submitter::{assert_cancelled_then_sent_again, assert_sent_again_under, tick_until_cancelled},
    wait_for,
};
use serde_json::json;

const GWEI: u128 = 1_000_000_000;
const TIMEOUT: Duration = Duration::from_secs(60);

/// The payee of every channel the tests open.
const PAYEE: Address = Address::repeat_byte(0xee);

/// A devnet with `channels` channels open to [`PAYEE`], a fresh journal, and a submitter over it with
/// its config changed by `configure`.
async fn start(
    channels: u8,
    configure: impl FnOnce(&mut SubmitterConfig),
) -> (
    Devnet,
    Vec<Payer>,
    Arc<MemoryJournal>,
    Submitter<Arc<MemoryJournal>>,
) {
    let net = Devnet::start().await;
    let payers = net.open_channels(channels, PAYEE).await;
    let journal = Arc::new(MemoryJournal::new());
    let sub = submitter(&net, journal.clone(), configure).await;
    (net, payers, journal, sub)
}

/// A funded relayer's submitter over `journal`, with the default config changed by `configure`.
async fn submitter(
    net: &Devnet,
    journal: Arc<MemoryJournal>,
    configure: impl FnOnce(&mut SubmitterConfig),
) -> Submitter<Arc<MemoryJournal>> {
    let signer = PrivateKeySigner::from_bytes(&RELAYER_KEY).unwrap();
    net.set_balance(signer.address()).await;
    let mut config = SubmitterConfig::new(net.escrow);
    configure(&mut config);
    Submitter::new(provider(net.anvil.url()).await, signer, journal, config)
        .await
        .unwrap()
}

fn state(journal: &MemoryJournal, id: u64) -> TxState {
    journal.get(TxId(id)).unwrap().state
}

fn confirmed(journal: &MemoryJournal, id: u64) -> Option<Inclusion> {
    match state(journal, id) {
        TxState::Confirmed { inclusion } => Some(inclusion),
        _ => None,
    }
}

/// Ticks (mining a block after each when `mine`) until job `id` is confirmed; returns every event.
async fn drive_to_confirmed(
    net: &Devnet,
    sub: &mut Submitter<Arc<MemoryJournal>>,
    id: u64,
    mine: bool,
) -> Vec<SubmitterEvent> {
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while confirmed(sub.journal(), id).is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "job {id} not confirmed: {events:?}"
        );
        events.extend(sub.tick().await.unwrap());
        if mine {
            net.mine(1).await;
        }
    }
    events
}

#[tokio::test]
async fn settles_a_preflighted_batch_once_and_fails_a_reverting_job() {
    let (net, payers, journal, mut sub) = start(4, |_| {}).await;

    // The first two channels were settled up to 500 already: the pre-flight drops their receipts of 400.
    let early = net.batch(&payers[..2], 500).await;
    sub.enqueue(TxId(1), early.calldata().into()).await.unwrap();
    drive_to_confirmed(&net, &mut sub, 1, true).await;

    let mut batch = net.batch(&payers[..2], 400).await;
    for (receipt, signature, fee) in net.batch(&payers[2..], 700).await.receipts() {
        batch.push(&receipt, &signature, fee);
    }
    let outcomes = preflight_settle(
        &provider(net.anvil.url()).await,
        net.escrow,
        sub.address(),
        &batch,
    )
    .await
    .unwrap();
    assert_eq!(
        outcomes,
        [
            SettleOutcome::Stale,
            SettleOutcome::Stale,
            SettleOutcome::Settled,
            SettleOutcome::Settled
        ]
    );
    let (kept, dropped) = split_by_outcomes(&batch, &outcomes).unwrap();
    assert_eq!((kept.len(), dropped.len()), (2, 2));
    sub.enqueue(TxId(2), kept.calldata().into()).await.unwrap();
    // Enqueueing again is a no-op; other calldata under the same id is refused.
    sub.enqueue(TxId(2), kept.calldata().into()).await.unwrap();
    assert_eq!(
        sub.enqueue(TxId(2), early.calldata().into())
            .await
            .unwrap_err()
            .code(),
        "duplicate_tx"
    );
    // A structurally malformed batch reverts at estimation: failed, nothing signed.
    let malformed = settleBatchCall {
        batch: vec![1, 2, 3].into(),
    }
    .abi_encode();
    sub.enqueue(TxId(3), malformed.into()).await.unwrap();
    let events = drive_to_confirmed(&net, &mut sub, 2, true).await;
    assert!(
        events.iter().any(|e| matches!(e, SubmitterEvent::Failed { id: TxId(3), reason } if reason.contains("reverted"))),
        "{events:?}"
    );
    assert!(matches!(state(&journal, 3), TxState::Failed { .. }));

    for (payer, want) in payers.iter().zip([500, 500, 700, 700]) {
        assert_eq!(net.settled(payer.channel_id).await, want);
    }
    assert_eq!(net.balance(PAYEE).await, 2 * 500 + 2 * 700);
    // One group per job, and nothing ever skipped: no receipt was sent twice.
    assert_eq!(net.settle_logs().await, (2, 0));
    assert!(journal.unfinished().await.unwrap().is_empty());
    let inclusion = confirmed(&journal, 2).unwrap();
    assert!(inclusion.success && !inclusion.cancel);
}

#[tokio::test]
async fn a_dropped_transaction_is_rebroadcast_and_a_base_fee_spike_is_outbid() {
    let (net, payers, journal, mut sub) = start(2, |c| {
        c.confirmations = 1;
        c.stuck_after = Duration::from_millis(200);
    })
    .await;
    net.rpc("evm_setAutomine", json!([false])).await;

    let batch = net.batch(&payers, 1_000).await;
    sub.enqueue(TxId(1), batch.calldata().into()).await.unwrap();
    let events = sub.tick().await.unwrap();
    let [
        SubmitterEvent::Sent {
            hash: first,
            kind: SendKind::First,
            fees: first_fees,
            ..
        },
    ] = events[..]
    else {
        panic!("{events:?}");
    };

    // The node forgets it: the next round finds it unknown and sends the stored bytes again.
    net.rpc("anvil_dropTransaction", json!([first])).await;
    let events = sub.tick().await.unwrap();
    assert!(
        matches!(events[..], [SubmitterEvent::Sent { hash, kind: SendKind::Rebroadcast, .. }] if hash == first),
        "{events:?}"
    );

    // The base fee jumps far above what the attempt offers: blocks come and go without it.
    let spike = 100 * GWEI;
    net.rpc(
        "anvil_setNextBlockBaseFeePerGas",
        json!([spike.to_string()]),
    )
    .await;
    net.mine(1).await;
    assert!(matches!(state(&journal, 1), TxState::Pending { .. }));
    assert!(first_fees.fee_cap() < spike);

    // After `stuck_after` it is replaced with both fields bumped and at least the market.
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    let replaced = loop {
        let events = sub.tick().await.unwrap();
        if let Some(found) = events.into_iter().find_map(|e| match e {
            SubmitterEvent::Sent {
                kind: SendKind::Replacement,
                fees,
                hash,
                ..
            } => Some((hash, fees)),
            _ => None,
        }) {
            break found;
        }
        assert!(tokio::time::Instant::now() < deadline, "no replacement");
        // Polling the condition (the submitter's clock), not sleeping for it.
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let (_, fees) = replaced;
    assert!(fees.fee_cap() * 100 >= first_fees.fee_cap() * 110);
    assert!(fees.tip_cap() * 100 >= first_fees.tip_cap() * 110);
    assert!(fees.fee_cap() > spike / 2, "follows the market: {fees:?}");
    let events = drive_to_confirmed(&net, &mut sub, 1, true).await;
    let inclusion = confirmed(&journal, 1).unwrap();
    assert_ne!(inclusion.tx_hash, first);
    let block = net
        .deployer
        .get_block_by_number(inclusion.block.number.into())
        .await
        .unwrap()
        .unwrap();
    let base_fee = u128::from(block.header.base_fee_per_gas.unwrap());
    let TxState::Confirmed { .. } = state(&journal, 1) else {
        unreachable!()
    };
    assert!(
        base_fee > first_fees.fee_cap(),
        "mined at base fee {base_fee}: {events:?}"
    );
    net.assert_settled(&payers, 1_000, 1).await;
}

#[tokio::test]
async fn a_reorged_inclusion_goes_back_to_pending_and_settles_once() {
    let (net, payers, journal, mut sub) = start(3, |c| c.confirmations = 3).await;

    let batch = net.batch(&payers, 2_000).await;
    sub.enqueue(TxId(1), batch.calldata().into()).await.unwrap();
    sub.tick().await.unwrap(); // sent; automine mines it
    // anvil may answer the receipt query a moment after the send returned: ticks see nothing until then
    // (2 of 20 runs failed when this expected the inclusion on the very next tick).
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    let first = loop {
        let events = sub.tick().await.unwrap();
        match events[..] {
            [] => assert!(tokio::time::Instant::now() < deadline, "never included"),
            [SubmitterEvent::Included { inclusion, .. }] => break inclusion,
            _ => panic!("{events:?}"),
        }
    };
    net.mine(1).await; // one block on top: not yet 3 deep
    assert!(sub.tick().await.unwrap().is_empty());
    // An indexer with no confirmations has applied the settlement.
    let store = Arc::new(MemoryIndexerStore::new());
    let mut config = IndexerConfig::new(net.escrow, net.deploy_block);
    config.confirmations = 0;
    let indexer = Indexer::new(provider(net.anvil.url()).await, store.clone(), config).unwrap();
    while !matches!(indexer.step().await.unwrap(), IndexerStep::UpToDate { .. }) {}
    assert_eq!(settlements(&store), 1);

    // The block with the settlement and the one above are replaced by empty blocks.
    net.rpc("anvil_reorg", json!([2, []])).await;
    let events = sub.tick().await.unwrap();
    assert!(
        matches!(events[..], [SubmitterEvent::Reorged { block, .. }] if block == first.block),
        "{events:?}"
    );
    assert!(matches!(state(&journal, 1), TxState::Pending { .. }));
    let step = indexer.step().await.unwrap();
    assert!(
        matches!(step, IndexerStep::Rewound { to, .. } if to.number < first.block.number),
        "{step:?}"
    );
    assert_eq!(settlements(&store), 0);

    let events = drive_to_confirmed(&net, &mut sub, 1, true).await;
    let inclusion = confirmed(&journal, 1).unwrap();
    assert_ne!(inclusion.block, first.block, "{events:?}");
    // The same signed transaction (same nonce) was mined again: never re-signed under another nonce.
    assert_eq!(inclusion.tx_hash, first.tx_hash);
    assert_eq!(net.balance(PAYEE).await, 3 * 2_000);
    net.assert_settled(&payers, 2_000, 1).await;
    while !matches!(indexer.step().await.unwrap(), IndexerStep::UpToDate { .. }) {}
    assert_eq!(settlements(&store), 1, "indexed once, in its new block");
}

/// How many channel settlements the indexer store holds.
fn settlements(store: &MemoryIndexerStore) -> usize {
    store
        .events()
        .iter()
        .map(|e| match &e.event {
            EscrowEvent::ReceiptsSettled { groups } => {
                groups.iter().map(|g| g.entries.len()).sum::<usize>()
            }
            _ => 0,
        })
        .sum::<usize>()
        / 3
}

#[tokio::test]
async fn anvil_restarted_while_a_transaction_is_pending() {
    let (mut net, payers, journal, mut sub) = start(2, |c| c.confirmations = 1).await;
    net.rpc("evm_setAutomine", json!([false])).await;

    let batch = net.batch(&payers, 3_000).await;
    sub.enqueue(TxId(1), batch.calldata().into()).await.unwrap();
    let events = sub.tick().await.unwrap();
    let [SubmitterEvent::Sent { hash, .. }] = events[..] else {
        panic!("{events:?}");
    };

    // The node goes down with the transaction in its pool; its chain state survives (dumped and
    // reloaded on the same port), its pool does not.
    let state_dump = net.rpc("anvil_dumpState", json!([])).await;
    let port = net.anvil.port();
    net.anvil.stop().await;
    let error = sub.tick().await.unwrap_err();
    assert_eq!(error.code(), "rpc");
    net.anvil = Anvil::start_on(port).await;
    net.rpc("anvil_loadState", json!([state_dump])).await;
    net.rpc("evm_setAutomine", json!([false])).await;
    let pooled = net.deployer.get_transaction_by_hash(hash).await.unwrap();
    assert!(pooled.is_none(), "the restarted node lost its pool");

    // The submitter notices the transaction is unknown and sends the stored bytes again.
    let events = sub.tick().await.unwrap();
    assert!(
        matches!(events[..], [SubmitterEvent::Sent { hash: h, kind: SendKind::Rebroadcast, .. }] if h == hash),
        "{events:?}"
    );
    drive_to_confirmed(&net, &mut sub, 1, true).await;
    assert_eq!(confirmed(&journal, 1).unwrap().tx_hash, hash);
    net.assert_settled(&payers, 3_000, 1).await;
}

#[tokio::test]
async fn a_stuck_job_is_cancelled_then_sent_again_under_a_new_nonce() {
    let (net, payers, journal, mut sub) = start(2, |c| {
        c.confirmations = 1;
        c.stuck_after = Duration::from_millis(100);
        c.max_bumps = 0; // the first time it is stuck, cancel
    })
    .await;
    net.rpc("evm_setAutomine", json!([false])).await;

    let batch = net.batch(&payers, 4_000).await;
    sub.enqueue(TxId(1), batch.calldata().into()).await.unwrap();
    let events = sub.tick().await.unwrap();
    let [SubmitterEvent::Sent { nonce: 0, .. }] = events[..] else {
        panic!("{events:?}");
    };
    let (cancel, _) = tick_until_cancelled(&mut sub).await;
    // The cancel replaces the job's transaction in the pool; mined, confirmed, the job is requeued and
    // sent again under the next nonce.
    net.mine(1).await;
    let events = drive_to_confirmed(&net, &mut sub, 1, true).await;
    let inclusion = confirmed(&journal, 1).unwrap();
    assert_cancelled_then_sent_again(&net.deployer, sub.address(), cancel, &events, &inclusion)
        .await;
    net.assert_settled(&payers, 4_000, 1).await;
}

#[tokio::test]
async fn run_settles_enqueued_jobs_until_shutdown() {
    let (net, payers, journal, mut sub) = start(2, |c| {
        c.confirmations = 1;
        c.poll_interval = Duration::from_millis(20);
    })
    .await;
    // Jobs enqueued straight into the journal (as the node does, in its batch's transaction).
    for (id, cumulative) in [(1, 100), (2, 200)] {
        let batch = net.batch(&payers, cumulative).await;
        journal
            .enqueue(TxId(id), batch.calldata().into())
            .await
            .unwrap();
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        sub.run(async {
            let _ = stopped.await;
        })
        .await
    });
    wait_for("both jobs confirmed", TIMEOUT, || {
        let journal = journal.clone();
        let net = &net;
        async move {
            net.mine(1).await;
            (confirmed(&journal, 1).is_some() && confirmed(&journal, 2).is_some()).then_some(())
        }
    })
    .await;
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    net.assert_settled(&payers, 200, 2).await;
}

#[tokio::test]
async fn a_nonce_taken_by_another_transaction_requeues_the_job_once_confirmed() {
    let (net, payers, _, mut sub) = start(2, |c| c.confirmations = 1).await;
    net.rpc("evm_setAutomine", json!([false])).await;

    let batch = net.batch(&payers, 5_000).await;
    sub.enqueue(TxId(1), batch.calldata().into()).await.unwrap();
    let events = sub.tick().await.unwrap();
    let [SubmitterEvent::Sent { hash, nonce: 0, .. }] = events[..] else {
        panic!("{events:?}");
    };
    // The same key sends something else with nonce 0 (another process, an operator) and it is mined.
    net.rpc("anvil_dropTransaction", json!([hash])).await;
    let other = wallet_provider(net.anvil.url(), &RELAYER_KEY).await;
    let request = piecepay_relayer_chain::alloy::rpc::types::TransactionRequest::default()
        .to(Address::repeat_byte(0x42))
        .nonce(0);
    let foreign = *other.send_transaction(request).await.unwrap().tx_hash();
    net.mine(1).await;
    assert!(
        net.deployer
            .get_transaction_receipt(foreign)
            .await
            .unwrap()
            .is_some()
    );

    // Not yet `confirmations` deep: the job waits (its attempt is refused as "nonce too low").
    let events = sub.tick().await.unwrap();
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, SubmitterEvent::Requeued { .. })),
        "{events:?}"
    );
    net.mine(1).await;
    let events = sub.tick().await.unwrap();
    assert!(
        matches!(
            events[..],
            [SubmitterEvent::Requeued {
                reason: RequeueReason::NonceTaken,
                ..
            }]
        ),
        "{events:?}"
    );
    let events = drive_to_confirmed(&net, &mut sub, 1, true).await;
    assert_sent_again_under(&events, 1);
    net.assert_settled(&payers, 5_000, 1).await;
}

#[tokio::test]
async fn a_gasless_batch_is_preflighted_and_sent_like_any_job() {
    use piecepay_protocol::{
        SettleFeeCap, SigningKey, SolStruct, alloy_primitives::aliases::U40,
        bindings::ChannelEscrow::setSettleFeeCapsBySigCall, domain,
    };
    use piecepay_relayer_chain::{alloy::primitives::B256, preflight::preflight_by_sig};

    let net = Devnet::start().await;
    let journal = Arc::new(MemoryJournal::new());
    let mut sub = submitter(&net, journal.clone(), |c| c.confirmations = 1).await;
    let chain_id = net.deployer.get_chain_id().await.unwrap();
    let domain = domain(chain_id, net.escrow);
    let deadline = u64::MAX >> 30;
    let auth = |key: &SigningKey, nonce: u64| {
        let message = SettleFeeCap {
            bps: 30,
            relayer: Address::ZERO,
            nonce,
            deadline: U40::from(deadline),
        };
        let signature = key
            .sign_digest(&message.eip712_signing_hash(&domain))
            .unwrap();
        message.auth(key.address(), &signature)
    };
    let good = SigningKey::from_bytes(&B256::repeat_byte(0x51)).unwrap();
    let stale = SigningKey::from_bytes(&B256::repeat_byte(0x52)).unwrap();
    let calldata = |auths| setSettleFeeCapsBySigCall { auths }.abi_encode();
    let both = calldata(vec![auth(&good, 0), auth(&stale, 7)]);
    let provider = provider(net.anvil.url()).await;
    let outcomes = preflight_by_sig(&provider, net.escrow, sub.address(), both.into())
        .await
        .unwrap();
    assert_eq!(outcomes.len(), 2);
    assert!(outcomes[0].is_empty(), "applies");
    assert!(!outcomes[1].is_empty(), "skipped: wrong nonce");

    sub.enqueue(TxId(9), calldata(vec![auth(&good, 0)]).into())
        .await
        .unwrap();
    drive_to_confirmed(&net, &mut sub, 9, true).await;
    let escrow =
        piecepay_sdk::chain::bindings::ChannelEscrow::new(net.escrow, net.deployer.clone());
    assert_eq!(
        escrow
            .settleFeeCapOf(good.address())
            .call()
            .await
            .unwrap()
            .bps,
        30
    );
    assert_eq!(
        escrow
            .settleFeeCapOf(stale.address())
            .call()
            .await
            .unwrap()
            .bps,
        0
    );
}
