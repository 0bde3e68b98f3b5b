//! The relayer binary against a real anvil with the real contracts: receipts over HTTP end up settled on
//! chain exactly once (SQLite and PostgreSQL), the watchtower settles a closing channel whose payee is
//! offline, gasless operations submitted over the API get mined (every kind), and a relayer killed
//! (SIGKILL) right after signing a batch settles everything exactly once after a restart. The gasless open
//! and the watchtower also run on a Berlin chain (no EIP-1559, like BitTorrent Chain): legacy transactions.

mod chain_support;

use std::{collections::BTreeMap, time::Duration};

use chain_support::{Engine, Net, RelayerProcess, wait_for};
use piecepay_deploy::devnet::ChainSpec;
use piecepay_protocol::{
    CooperativeClose, RequestClose, SettleFeeCap, SigningKey, TopUp, Withdrawal,
    alloy_primitives::{
        Address, B256, U256,
        aliases::{U40, U96},
    },
    channel_id,
    relayer_api::{ChannelState, Operation, OperationState, ReadinessState},
};
use piecepay_relayer::{Store, duties::CRASH_AT_ENV};
use piecepay_relayer_chain::{
    TxState,
    alloy::{eips::BlockNumberOrTag, providers::Provider},
};
use piecepay_sdk::chain::ChannelStatus;
use piecepay_test_support::chain::{fee_market, tx_type};

const TIMEOUT: Duration = Duration::from_secs(60);

fn address(key: &B256) -> Address {
    SigningKey::from_bytes(key).unwrap().address()
}

/// Opens a channel (salt 1) from each payer to the payee, directly on chain; waits until the relayer
/// indexed them.
async fn open_channels(net: &Net, relayer: &RelayerProcess, deposit: u128) -> Vec<(B256, B256)> {
    let payee = address(&net.payee());
    let mut channels = Vec::new();
    for payer in net.payers() {
        let opened = net
            .client(&payer)
            .await
            .open_channel(payee, 1, deposit)
            .await
            .unwrap();
        channels.push((payer, opened.channel_id));
    }
    let api = relayer.client();
    for (_, id) in &channels {
        wait_for("the relayer to index the open", TIMEOUT, || async {
            api.channel(*id).await.unwrap().map(drop)
        })
        .await;
    }
    channels
}

/// A Berlin chain with Donau's chain id, as BitTorrent Chain's testnet runs.
fn berlin() -> ChainSpec {
    ChainSpec {
        hardfork: "berlin".into(),
        chain_id: 1029,
    }
}

/// Checks the node named the chain's fee market at start (`eip1559`, or `legacy` without a base fee) and
/// every transaction from its account is of that type.
async fn assert_sent_for_the_chain(net: &Net, relayer: &RelayerProcess) {
    let (market, latest) = fee_market(&net.provider).await;
    let want = tx_type(market);
    let log = std::fs::read_to_string(&relayer.log).unwrap();
    let checked = log.lines().find(|l| l.contains("chain checked")).unwrap();
    assert!(
        checked.contains(&format!("fee_market={market}")),
        "{checked}"
    );
    let sent = net
        .provider
        .get_transaction_count(net.relayer_address())
        .await
        .unwrap();
    let mut found = 0;
    for number in 0..=latest {
        let block = net
            .provider
            .get_block_by_number(BlockNumberOrTag::Number(number))
            .full()
            .await
            .unwrap()
            .unwrap();
        for tx in block.transactions.txns() {
            if tx.inner.signer() == net.relayer_address() {
                assert_eq!(tx.inner.tx_type(), want, "{tx:?}");
                found += 1;
            }
        }
    }
    assert!(found > 0 && found == sent, "{found} of {sent}");
}

/// Waits until every channel is settled to `paid` on chain and in the relayer's settlement status, then
/// checks the books: the payee's escrow balance is exactly what was paid, each channel's settlements rose
/// strictly, and no receipt was ever sent twice (no `ReceiptSkipped`).
async fn assert_settled_exactly_once(
    net: &Net,
    relayer: &RelayerProcess,
    paid: &BTreeMap<B256, u128>,
) {
    let api = relayer.client();
    let escrow = net.client(&net.payee()).await;
    for (&id, &amount) in paid {
        let status = wait_for("the relayer to report the settlement", TIMEOUT, || async {
            let status = api.settlement(id).await.unwrap()?;
            (status.settled == amount).then_some(status)
        })
        .await;
        let tx = status.transaction.expect("the settling transaction");
        assert_eq!(tx.cumulative, amount);
        assert!(tx.block_number.is_some());
        assert_eq!(escrow.channel(id).await.unwrap().settled, amount);
        let (settlements, skipped) = net.settle_logs(id).await;
        assert_eq!(settlements.last(), Some(&amount));
        assert!(
            settlements.windows(2).all(|w| w[0] < w[1]),
            "{settlements:?}"
        );
        assert_eq!(skipped, 0, "a receipt was sent after it was settled");
    }
    let total: u128 = paid.values().sum();
    assert_eq!(
        escrow.balance_of(address(&net.payee())).await.unwrap(),
        total
    );
}

async fn receipts_settle_exactly_once(engine: Engine) {
    let mut net = Net::start(3, 3_600).await;
    let url = net.database_url(engine, "settle");
    let config = net.relayer_config(&url, "value_threshold = \"1\"\nmax_age_s = 0");
    let relayer = RelayerProcess::start(&config, &net.dir.path().join("relayer.log"), &[]);
    let channels = open_channels(&net, &relayer, 1_000_000).await;
    let payee = address(&net.payee());
    let mut paid = BTreeMap::new();
    for round in 1..=3u128 {
        let receipts = channels
            .iter()
            .enumerate()
            .map(|(i, (payer, id))| {
                let cumulative = round * 1_000 + i as u128;
                paid.insert(*id, cumulative);
                net.receipt(payer, payee, 1, cumulative)
            })
            .collect();
        relayer.submit(&net, receipts).await;
    }
    assert_settled_exactly_once(&net, &relayer, &paid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_settle_exactly_once_on_sqlite() {
    receipts_settle_exactly_once(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_settle_exactly_once_on_postgres() {
    receipts_settle_exactly_once(Engine::Postgres).await;
}

/// The payer asks to close, the payee is gone: only the watchtower rule can make the channel due (the
/// value threshold and the age limit are out of reach), and it settles before the window ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watchtower_settles_before_the_challenge_window_ends() {
    watchtower_settles_in_time(Net::start(1, 3_600).await).await;
}

/// The same on a Berlin chain with Donau's chain id (no base fee: legacy transactions; the escrow's
/// build for old EVMs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watchtower_settles_in_time_on_a_berlin_chain() {
    watchtower_settles_in_time(Net::start_chain(1, 3_600, berlin()).await).await;
}

async fn watchtower_settles_in_time(mut net: Net) {
    let url = net.database_url(Engine::Sqlite, "watchtower");
    let config = net.relayer_config(
        &url,
        "value_threshold = \"1000000000000000000000\"\nmax_age_s = 100000000\nclose_margin_s = 600",
    );
    let relayer = RelayerProcess::start(&config, &net.dir.path().join("relayer.log"), &[]);
    let channels = open_channels(&net, &relayer, 1_000_000).await;
    let (payer, id) = channels[0];
    let payee = address(&net.payee());
    relayer
        .submit(&net, vec![net.receipt(&payer, payee, 1, 5_000)])
        .await;
    // The payee goes offline; the payer starts the unilateral close.
    let payer_client = net.client(&payer).await;
    let close = payer_client.request_close(payee, 1).await.unwrap();
    let api = relayer.client();
    wait_for("the relayer to see the close", TIMEOUT, || async {
        let channel = api.channel(id).await.unwrap()?;
        (channel.state == ChannelState::Closing).then_some(())
    })
    .await;
    assert_eq!(
        payer_client.channel(id).await.unwrap().settled,
        0,
        "an hour of window left: nothing is due yet"
    );
    // 50 minutes later (chain time), the window ends within the 10-minute margin.
    net.rpc("evm_increaseTime", serde_json::json!([3_000]))
        .await;
    let status = wait_for("the watchtower settlement", TIMEOUT, || async {
        let status = api.settlement(id).await.unwrap()?;
        (status.settled == 5_000).then_some(status)
    })
    .await;
    let block = status.transaction.unwrap().block_number.unwrap();
    let mined_at = net
        .provider
        .get_block_by_number(BlockNumberOrTag::Number(block))
        .await
        .unwrap()
        .unwrap()
        .header
        .timestamp;
    assert!(
        mined_at <= close.closes_at,
        "settled at {mined_at}, the window ended at {}",
        close.closes_at
    );
    let on_chain = payer_client.channel(id).await.unwrap();
    assert_eq!(on_chain.settled, 5_000);
    let paid = BTreeMap::from([(id, 5_000)]);
    assert_settled_exactly_once(&net, &relayer, &paid).await;
    assert_sent_for_the_chain(&net, &relayer).await;
}

/// A payer with no ETH opens a channel through the relayer: the operation is mined, the channel becomes
/// known to the relayer, the relayer earns the fee; the same open again is refused by the escrow and
/// reported `failed` with its reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gasless_open_gets_mined_and_the_channel_known() {
    gasless_open_mined_and_known(Net::start(1, 3_600).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gasless_open_gets_mined_and_the_channel_known_on_a_berlin_chain() {
    gasless_open_mined_and_known(Net::start_chain(1, 3_600, berlin()).await).await;
}

async fn gasless_open_mined_and_known(mut net: Net) {
    let url = net.database_url(Engine::Sqlite, "gasless");
    let config = net.relayer_config(&url, "");
    let relayer = RelayerProcess::start(&config, &net.dir.path().join("relayer.log"), &[]);
    let payer = net.payers()[0];
    let payee = address(&net.payee());
    let now = net.client(&payer).await.block_timestamp().await.unwrap();
    let api = relayer.client();
    relayer
        .applied(&net, net.signed_open(&payer, payee, 9, 25, now + 3_600))
        .await;
    let id = channel_id(address(&payer), payee, 9);
    let channel = wait_for("the channel to be indexed", TIMEOUT, || async {
        api.channel(id).await.unwrap()
    })
    .await;
    assert_eq!(channel.deposit, 500_000);
    assert_eq!(channel.state, ChannelState::Open);
    let chain = net.client(&payer).await;
    assert_eq!(chain.channel(id).await.unwrap().deposit, 500_000);
    assert_eq!(chain.balance_of(net.relayer_address()).await.unwrap(), 25);

    // The same channel again: the escrow refuses it.
    let again = net.signed_open(&payer, payee, 9, 25, now + 3_601);
    let operation = relayer.queue(&net, again).await;
    let status = wait_for("the duplicate open to fail", TIMEOUT, || async {
        let status = api.operation(operation).await.unwrap()?;
        (status.status == OperationState::Failed).then_some(status)
    })
    .await;
    assert!(
        status.reason.is_some_and(|r| !r.is_empty()),
        "the escrow's reason"
    );
    assert_eq!(chain.balance_of(net.relayer_address()).await.unwrap(), 25);
    assert_sent_for_the_chain(&net, &relayer).await;
}

/// Every other kind of gasless operation through the node, each checked on chain and in the relayer's
/// view: a top-up, a settlement fee cap, a close request, a cooperative close, and the payee's withdrawal
/// of what that close paid it. Each one's fee goes to the relayer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_gasless_operation_kind_gets_mined() {
    const FEE: u64 = 10;
    let mut net = Net::start(2, 3_600).await;
    let url = net.database_url(Engine::Sqlite, "operations");
    let config = net.relayer_config(&url, "");
    let relayer = RelayerProcess::start(&config, &net.dir.path().join("relayer.log"), &[]);
    // Ready once its indexer has caught up with the chain (`/readyz`).
    wait_for("the relayer to be ready", TIMEOUT, || async {
        let readiness = relayer.client().readiness().await.unwrap();
        (readiness.status == ReadinessState::Ready).then_some(())
    })
    .await;
    let channels = open_channels(&net, &relayer, 100_000).await;
    let ((payer_a, id_a), (payer_b, id_b)) = (channels[0], channels[1]);
    let (payee_key, payee) = (net.payee(), address(&net.payee()));
    let chain = net.client(&payer_a).await;
    let api = relayer.client();
    let deadline = U40::from(chain.block_timestamp().await.unwrap() + 3_600);
    let fee = U96::from(FEE);
    // Every operation names this relayer as its only submitter (and so the only one paid its fee).
    let relayer_address = net.relayer_address();

    let message = TopUp {
        payee,
        salt: 1,
        deposit: U96::from(150_000u64),
        fee,
        relayer: relayer_address,
        channelNonce: 0,
        deadline,
    };
    let signature = net.sign(&payer_a, &message);
    let payer = address(&payer_a);
    relayer
        .applied(
            &net,
            Operation::TopUp {
                payer,
                message,
                signature,
            },
        )
        .await;
    assert_eq!(chain.channel(id_a).await.unwrap().deposit, 150_000);
    wait_for("the relayer to see the top-up", TIMEOUT, || async {
        let seen = api.channel(id_a).await.unwrap()?;
        (seen.deposit == 150_000).then_some(())
    })
    .await;

    let message = SettleFeeCap {
        bps: 50,
        relayer: relayer_address,
        nonce: chain.nonce_of(payee).await.unwrap(),
        deadline,
    };
    let signature = net.sign(&payee_key, &message);
    relayer
        .applied(
            &net,
            Operation::SetSettleFeeCap {
                payee,
                message,
                signature,
            },
        )
        .await;
    assert_eq!(
        chain.settle_fee_cap_of(payee).await.unwrap(),
        (50, relayer_address)
    );

    let message = RequestClose {
        payee,
        salt: 1,
        fee,
        relayer: relayer_address,
        deadline,
    };
    let signature = net.sign(&payer_b, &message);
    let payer = address(&payer_b);
    relayer
        .applied(
            &net,
            Operation::RequestClose {
                payer,
                message,
                signature,
            },
        )
        .await;
    assert!(matches!(
        chain.channel(id_b).await.unwrap().status,
        ChannelStatus::Closing { .. }
    ));
    wait_for("the relayer to see the close request", TIMEOUT, || async {
        let seen = api.channel(id_b).await.unwrap()?;
        (seen.state == ChannelState::Closing).then_some(())
    })
    .await;

    let message = CooperativeClose {
        payer: address(&payer_a),
        payee,
        salt: 1,
        cumulative: U96::from(40_000u64),
        fee,
        relayer: relayer_address,
        channelNonce: 0,
        deadline,
    };
    let (payer_signature, payee_signature) =
        (net.sign(&payer_a, &message), net.sign(&payee_key, &message));
    let close = Operation::CooperativeClose {
        message,
        payer_signature,
        payee_signature,
    };
    relayer.applied(&net, close).await;
    let closed = chain.channel(id_a).await.unwrap();
    assert_eq!(
        (closed.status, closed.settled),
        (ChannelStatus::Closed, 40_000)
    );
    assert_eq!(chain.balance_of(payee).await.unwrap(), 40_000);
    wait_for("the relayer to see the close", TIMEOUT, || async {
        let seen = api.channel(id_a).await.unwrap()?;
        (seen.state == ChannelState::Closed).then_some(())
    })
    .await;

    let to = Address::repeat_byte(0x5e);
    let message = Withdrawal {
        to,
        amount: 30_000,
        fee: u128::from(FEE),
        relayer: relayer_address,
        nonce: chain.nonce_of(payee).await.unwrap(),
        deadline,
    };
    let signature = net.sign(&payee_key, &message);
    let owner = payee;
    relayer
        .applied(
            &net,
            Operation::Withdraw {
                owner,
                message,
                signature,
            },
        )
        .await;
    assert_eq!(
        chain.token_balance_of(to).await.unwrap(),
        U256::from(30_000)
    );
    assert_eq!(
        chain.balance_of(payee).await.unwrap(),
        40_000 - 30_000 - u128::from(FEE)
    );
    // Top-up, close request, cooperative close and withdrawal each paid FEE; a fee cap has no fee.
    assert_eq!(
        chain.balance_of(net.relayer_address()).await.unwrap(),
        4 * u128::from(FEE)
    );
}

/// The relayer signs a settlement batch and dies (SIGKILL) before broadcasting it, while more receipts
/// were acknowledged; restarted, it sends the stored transaction (same hash, same nonce) instead of
/// signing a new one, and settles every acknowledged receipt exactly once.
async fn killed_after_signing_settles_once(engine: Engine) {
    let mut net = Net::start(3, 3_600).await;
    let url = net.database_url(engine, "crash");
    let config = net.relayer_config(&url, "value_threshold = \"1\"\nmax_age_s = 0");
    let log = net.dir.path().join("relayer.log");
    let mut relayer = RelayerProcess::start(&config, &log, &[(CRASH_AT_ENV, "signed")]);
    let channels = open_channels(&net, &relayer, 1_000_000).await;
    let payee = address(&net.payee());
    let mut paid = BTreeMap::new();
    let receipts = channels
        .iter()
        .enumerate()
        .map(|(i, (payer, id))| {
            paid.insert(*id, 100 + i as u128);
            net.receipt(payer, payee, 1, 100 + i as u128)
        })
        .collect();
    relayer.submit(&net, receipts).await;
    let line = relayer
        .next_line(TIMEOUT)
        .expect("the relayer reaches the crash point");
    assert!(line.starts_with("CRASH-POINT signed"), "{line}");
    // Acknowledged while the submitter is frozen: they must be settled too.
    let (payer, id) = channels[0];
    relayer
        .submit(&net, vec![net.receipt(&payer, payee, 1, 700)])
        .await;
    paid.insert(id, 700);
    relayer.kill();

    let store = Store::open(&url, 1).await.unwrap();
    let jobs = store.journal_jobs().await.unwrap();
    let TxState::Pending { intent, attempts } = &jobs[0].state else {
        panic!("{:?}", jobs[0].state);
    };
    let signed = attempts[0].hash;
    assert!(
        net.provider
            .get_transaction_by_hash(signed)
            .await
            .unwrap()
            .is_none(),
        "never broadcast"
    );

    let relayer = RelayerProcess::start(&config, &log, &[]);
    assert_settled_exactly_once(&net, &relayer, &paid).await;
    let receipt = net
        .provider
        .get_transaction_receipt(signed)
        .await
        .unwrap()
        .expect("the transaction signed before the crash is the one mined");
    assert!(receipt.status());
    let jobs = wait_for("every job confirmed", TIMEOUT, || async {
        let jobs = store.journal_jobs().await.unwrap();
        jobs.iter()
            .all(|j| matches!(j.state, TxState::Confirmed { .. }))
            .then_some(jobs)
    })
    .await;
    assert_eq!(
        net.relayer_transactions().await,
        jobs.len() as u64,
        "one transaction per batch: nothing signed twice"
    );
    assert_eq!(intent.nonce, 0);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_signing_settles_once_on_sqlite() {
    killed_after_signing_settles_once(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_signing_settles_once_on_postgres() {
    killed_after_signing_settles_once(Engine::Postgres).await;
}
