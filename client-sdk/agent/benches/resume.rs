//! `make bench-agent`: how long an agent takes to start with 1,000 channels in its store — 500 it pays on
//! and 500 it is paid on, each with a receipt — against a local chain: load the wallet, connect and check
//! the deployment, open the store, rebuild and re-verify every channel. Prints
//! `agent resume channels=1000 ms=N` (the goal is ≤ 1,000 ms).

use std::time::Instant;

use piecepay_agent::{
    Agent, AgentConfig,
    config::{
        ChainConfig, PayeePolicy, PayerPolicy, RelayerConfig, SettleConfig, StoreConfig,
        TimingConfig, WalletConfig,
    },
    wallet::SecretKey,
};
use piecepay_sdk::{
    Channel, CreditWindow, PayeeChannel, PayerChannel, PayerConfig, Payment, Terms,
    protocol::{SigningKey, alloy_primitives::B256, domain},
    store::{PayeeStore, PayerStore, SqliteStore},
};
use piecepay_test_support::{chain::Chain, keys::SECOND_KEY, temp_dir};

const CHANNELS: usize = 1_000;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let chain = rt.block_on(Chain::start());
    let dir = temp_dir();
    let store_path = dir.path().join("agent.sqlite");
    let me = SigningKey::from_bytes(&SECOND_KEY).unwrap();
    let chain_id = 31_337;
    rt.block_on(fill(&store_path, &me, chain_id, chain.escrow));

    let config = AgentConfig {
        wallet: WalletConfig::default(),
        chain: ChainConfig {
            chain_id: Some(chain_id),
            escrow: Some(chain.escrow),
            rpc_url: Some(chain.anvil.url().to_owned()),
            ..ChainConfig::default()
        },
        relayer: RelayerConfig::default(),
        store: StoreConfig { path: store_path },
        payer: Some(PayerPolicy {
            max_price: 10,
            bid_step: None,
            budget_total: u128::from(u64::MAX),
            budget_per_torrent: None,
            deposit_per_channel: 1_000,
            auto_top_up: true,
            max_fee: 0,
            idle_close_s: 0,
            auth_ttl_s: 600,
        }),
        payee: Some(PayeePolicy {
            price: 10,
            credit_pieces: Some(4),
            credit_amount: None,
            free_pieces: 0,
            settle: SettleConfig::default(),
        }),
        timing: TimingConfig::default(),
    };
    let key = SecretKey::from_bytes(SECOND_KEY).unwrap();
    let started = Instant::now();
    let agent = Agent::start_with_key(config, key).expect("the agent starts");
    let ms = started.elapsed().as_millis();
    let resumed = agent.report().peers.len();
    assert_eq!(resumed, CHANNELS, "every channel resumed");
    println!("agent resume channels={resumed} ms={ms}");
    agent.shutdown().unwrap();
    drop(chain);
}

/// 500 payer and 500 payee channels of `me`, open, each with one receipt.
async fn fill(
    path: &std::path::Path,
    me: &SigningKey,
    chain_id: u64,
    escrow: piecepay_sdk::protocol::alloy_primitives::Address,
) {
    let store = SqliteStore::open(path).await.unwrap();
    let d = domain(chain_id, escrow);
    let terms = Terms::new(10, CreditWindow::Pieces(4)).unwrap();
    for i in 0..CHANNELS / 2 {
        let peer =
            SigningKey::from_bytes(&B256::left_padding_from(&(i as u64 + 1_000).to_be_bytes()))
                .unwrap();
        // This agent pays `peer`.
        let channel = Channel::new(d.clone(), me.address(), peer.address(), i as u32).unwrap();
        let mut payer =
            PayerChannel::new(me.clone(), channel, terms, PayerConfig::default(), 1).unwrap();
        let _ = payer.open(1_000, 0, 1).unwrap();
        payer.on_opened(1_000, 1).unwrap();
        store.save_payer(&payer).await.unwrap();
        let Payment::Paid { receipt, .. } = payer.pay_piece(1).unwrap() else {
            unreachable!("the deposit covers a piece")
        };
        store
            .reserve_signature(payer.channel(), receipt.cumulative(), &receipt.signature)
            .await
            .unwrap();
        // `peer` pays this agent.
        let channel = Channel::new(d.clone(), peer.address(), me.address(), i as u32).unwrap();
        let mut theirs = PayerChannel::new(
            peer.clone(),
            channel.clone(),
            terms,
            PayerConfig::default(),
            1,
        )
        .unwrap();
        let _ = theirs.open(1_000, 0, 1).unwrap();
        theirs.on_opened(1_000, 1).unwrap();
        let Payment::Paid { receipt, .. } = theirs.pay_piece(1).unwrap() else {
            unreachable!("the deposit covers a piece")
        };
        let mut payee = PayeeChannel::new(channel, terms, 1);
        payee.on_channel_opened(1_000, 1).unwrap();
        let _ = payee.on_piece_served(1).unwrap();
        payee
            .on_receipt(&receipt.message, &receipt.signature, 1)
            .unwrap();
        store.save_payee(&payee).await.unwrap();
        store
            .save_receipt_if_higher(payee.channel(), receipt.cumulative(), &receipt.signature)
            .await
            .unwrap();
    }
    store.close().await;
}
