//! The indexer against a real anvil: the escrow's events decoded in chain order over several ranges, a
//! restart resuming from the stored cursor, and reorgs rewound to the common ancestor — the store always
//! equal to what the canonical chain says.

mod common;

use std::{sync::Arc, time::Duration};

use common::{DEPOSIT, Devnet};
use piecepay_relayer_chain::{
    EscrowEvent, IndexedEvent, Indexer, IndexerConfig, IndexerStep, IndexerStore,
    MemoryIndexerStore,
    alloy::{
        primitives::Address,
        providers::{DynProvider, Provider},
        rpc::types::Filter,
    },
    decode_log, event_signatures,
};
use piecepay_test_support::{chain::provider, wait_for};
use serde_json::json;

fn config(net: &Devnet, confirmations: u64) -> IndexerConfig {
    let mut config = IndexerConfig::new(net.escrow, net.deploy_block);
    config.confirmations = confirmations;
    config.max_range = 3;
    config.history = 32;
    config.poll_interval = Duration::from_millis(20);
    config
}

/// Steps until up to date; returns how many ranges were applied.
async fn catch_up(indexer: &Indexer<Arc<MemoryIndexerStore>>) -> usize {
    let mut applied = 0;
    for _ in 0..1_000 {
        match indexer.step().await.unwrap() {
            IndexerStep::UpToDate { .. } => return applied,
            IndexerStep::Applied { .. } => applied += 1,
            IndexerStep::Rewound { from, to } => panic!("unexpected rewind {from} → {to}"),
        }
    }
    panic!("indexer never caught up");
}

/// The escrow's events up to `to` as the chain has them now.
async fn chain_events(provider: &DynProvider, escrow: Address, to: u64) -> Vec<IndexedEvent> {
    let filter = Filter::new()
        .address(escrow)
        .event_signature(event_signatures())
        .from_block(0)
        .to_block(to);
    let logs = provider.get_logs(&filter).await.unwrap();
    logs.iter().filter_map(|l| decode_log(l).unwrap()).collect()
}

#[tokio::test]
async fn follows_events_resumes_and_rewinds_reorgs() {
    let net = Devnet::start().await;
    let payee = Address::repeat_byte(0xee);
    let payers = net.open_channels(3, payee).await;
    let payee_client = net
        .client(&piecepay_relayer_chain::alloy::primitives::B256::repeat_byte(0x99))
        .await;
    let batch = net.batch(&payers, 1_234).await;
    payee_client.settle(&batch).await.unwrap();

    let provider = provider(net.anvil.url()).await;
    let store = Arc::new(MemoryIndexerStore::new());
    let indexer = Indexer::new(provider.clone(), store.clone(), config(&net, 2)).unwrap();
    assert!(catch_up(&indexer).await > 1, "several ranges of 3 blocks");
    let head = provider.get_block_number().await.unwrap();
    let cursor = store.cursor().await.unwrap().unwrap();
    assert_eq!(cursor.number, head - 2, "two confirmations");
    assert_eq!(
        store.events(),
        chain_events(&provider, net.escrow, cursor.number).await
    );

    // Every channel's opening, and the settlement, decoded.
    net.mine(2).await;
    catch_up(&indexer).await;
    let events = store.events();
    let opened: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.event {
            EscrowEvent::ChannelOpened {
                channel_id,
                deposit,
                payee: p,
                ..
            } => {
                assert_eq!((*deposit, *p), (DEPOSIT, payee));
                Some(*channel_id)
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        opened,
        payers.iter().map(|p| p.channel_id).collect::<Vec<_>>()
    );
    let settled = events
        .iter()
        .find_map(|e| match &e.event {
            EscrowEvent::ReceiptsSettled { groups } => {
                let [group] = groups.as_slice() else {
                    panic!("one payee group: {groups:?}")
                };
                Some(group.clone())
            }
            _ => None,
        })
        .expect("the settlement is indexed");
    assert_eq!(
        settled.channels().map(|c| c.channel_id).collect::<Vec<_>>(),
        payers.iter().map(|p| p.channel_id).collect::<Vec<_>>()
    );
    assert!(settled.entries.iter().all(|s| s.settled == 1_234));
    assert_eq!(settled.credited, 3 * 1_234);
    let order: Vec<_> = events
        .iter()
        .map(|e| (e.meta.block_number, e.meta.log_index))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "chain order");

    // A restart: a new indexer on the same store resumes from its cursor and applies nothing twice.
    let cursor = store.cursor().await.unwrap().unwrap();
    let restarted = Indexer::new(provider.clone(), store.clone(), config(&net, 2)).unwrap();
    assert_eq!(catch_up(&restarted).await, 0);
    assert_eq!(store.cursor().await.unwrap().unwrap(), cursor);

    // A settlement at the head, indexed with no confirmations, then reorged away.
    let indexer = Indexer::new(provider.clone(), store.clone(), config(&net, 0)).unwrap();
    let later = net.batch(&payers, 2_000).await;
    let report = payee_client.settle(&later).await.unwrap();
    catch_up(&indexer).await;
    let before = store.cursor().await.unwrap().unwrap();
    assert_eq!(Some(before.number), report.tx.block_number);
    assert_eq!(store.events().len(), events.len() + 1);

    net.rpc("anvil_reorg", json!([1, []])).await;
    let step = indexer.step().await.unwrap();
    let IndexerStep::Rewound { from, to } = step else {
        panic!("{step:?}");
    };
    assert_eq!(from, before);
    assert!(to.number < before.number);
    catch_up(&indexer).await;
    let head = provider.get_block_number().await.unwrap();
    assert_eq!(
        store.events(),
        chain_events(&provider, net.escrow, head).await
    );
    for event in store.events() {
        let block = provider
            .get_block_by_number(event.meta.block_number.into())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            block.header.hash, event.meta.block_hash,
            "only canonical blocks stay"
        );
    }
    for payer in &payers {
        // The reorged settlement is gone from the chain and from the store alike.
        assert_eq!(net.settled(payer.channel_id).await, 1_234);
    }

    // Deeper than the remembered history: refused with its own code, nothing changed.
    let shallow = {
        let mut c = config(&net, 0);
        c.history = 1;
        c
    };
    let fresh = Arc::new(MemoryIndexerStore::new());
    let indexer = Indexer::new(provider.clone(), fresh.clone(), shallow).unwrap();
    catch_up(&indexer).await;
    net.mine(3).await;
    catch_up(&indexer).await;
    let cursor = fresh.cursor().await.unwrap().unwrap();
    net.rpc("anvil_reorg", json!([4, []])).await;
    let error = indexer.step().await.unwrap_err();
    assert_eq!(error.code(), "reorg_too_deep");
    assert_eq!(fresh.cursor().await.unwrap().unwrap(), cursor);
}

#[tokio::test]
async fn run_follows_new_blocks_until_shutdown() {
    let net = Devnet::start().await;
    let provider = provider(net.anvil.url()).await;
    let store = Arc::new(MemoryIndexerStore::new());
    let indexer = Indexer::new(provider.clone(), store.clone(), config(&net, 1)).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        indexer
            .run(async {
                let _ = stopped.await;
            })
            .await
    });
    let payee = Address::repeat_byte(0xee);
    let payers = net.open_channels(2, payee).await;
    net.mine(1).await;
    let head = provider.get_block_number().await.unwrap();
    let opened = wait_for("the opens indexed", Duration::from_secs(30), || {
        let store = store.clone();
        async move {
            let cursor = store.cursor().await.unwrap()?;
            (cursor.number >= head - 1).then(|| {
                store
                    .events()
                    .iter()
                    .filter(|e| matches!(e.event, EscrowEvent::ChannelOpened { .. }))
                    .count()
            })
        }
    })
    .await;
    assert_eq!(opened, payers.len());
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}
