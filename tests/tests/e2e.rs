//! The whole system end to end, on a devnet per test: anvil with the real contracts, the real relayer
//! binary on SQLite, and a swarm of SDK peers paying per piece — on a prague chain, and once on a Berlin
//! one with chain id 1029 like BTTC's Donau testnet (legacy build, legacy transactions); and the main
//! job (`piecepay-demo`, separate client processes) as `make demo` runs it.
//!
//! Needs the `piecepay-relayer` binary in this target directory: `cargo test --workspace` (what
//! `make test` runs) builds it; alone, run `cargo build -p piecepay-relayer` first.

use std::time::Duration;

use piecepay_deploy::devnet::{ChainSpec, Devnet, DevnetConfig};
use piecepay_e2e::{
    libtorrent::Libtorrent,
    run::{Engine, Env, Outcome, Progress, Run, Scenario, run},
    swarm::Conduct,
};
use piecepay_sdk::{
    chain::{
        ChannelStatus,
        alloy::{
            consensus::Transaction as _,
            eips::Typed2718 as _,
            providers::{Provider, ProviderBuilder},
        },
    },
    protocol::alloy_primitives::U256,
};
use piecepay_test_support::{chain::devnet_config, relayer};

const TOKEN: u128 = 1_000_000_000_000_000_000;
const PRICE: u128 = TOKEN / 1_000;
const CREDIT: u32 = 3;

/// Progress goes nowhere in tests.
struct Quiet;

impl Progress for Quiet {
    fn phase(&mut self, _: &str) {}
    fn transfer(&mut self, _: &[usize], _: usize) {}
    fn settlement(&mut self, _: usize, _: usize) {}
}

/// A devnet with `seeders` + `leechers` funded peers and a relayer configured by `relayer_env`.
async fn devnet(
    dir: &tempfile::TempDir,
    seeders: usize,
    leechers: usize,
    relayer_env: &[(&str, &str)],
) -> (Devnet, Env) {
    devnet_on(ChainSpec::default(), dir, seeders, leechers, relayer_env).await
}

/// [`devnet`] on the chain `chain`.
async fn devnet_on(
    chain: ChainSpec,
    dir: &tempfile::TempDir,
    seeders: usize,
    leechers: usize,
    relayer_env: &[(&str, &str)],
) -> (Devnet, Env) {
    let config = DevnetConfig {
        chain,
        peers: seeders + leechers,
        leechers,
        tokens_per_peer: U256::from(1_000 * TOKEN),
        relayer_bin: Some(relayer::workspace_bin()),
        relayer_env: relayer_env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..devnet_config(dir.path())
    };
    let devnet = Devnet::start(&config, &mut |_| {})
        .await
        .expect("devnet starts");
    let info = devnet.info().clone();
    let keys = |role| info.accounts(role).map(|a| a.key).collect();
    let env = Env {
        rpc_url: info.rpc_url.clone(),
        escrow: info.escrow,
        relayer_url: info.relayer.as_ref().expect("a relayer").url.clone(),
        seeders: keys("seeder"),
        leechers: keys("leecher"),
    };
    (devnet, env)
}

/// Moves anvil's clock forward by `seconds` and mines a block at the new time.
async fn advance_chain_time(rpc_url: &str, seconds: u64) {
    let provider = ProviderBuilder::new().connect(rpc_url).await.unwrap();
    let _: serde_json::Value = provider
        .raw_request("evm_increaseTime".into(), (seconds,))
        .await
        .unwrap();
    let _: serde_json::Value = provider.raw_request("evm_mine".into(), ()).await.unwrap();
}

fn scenario(conduct: Vec<Conduct>) -> Scenario {
    Scenario {
        file_len: 40 * 16 * 1024,
        piece_len: 16 * 1024,
        price: PRICE,
        credit_pieces: CREDIT,
        deposit: 100 * PRICE,
        conduct,
        submit_every: 8,
        settle_timeout: Duration::from_secs(90),
        engine: Engine::InProcess,
    }
}

fn assert_books(outcome: &Outcome) {
    assert!(outcome.onchain_matches, "{:?}", outcome.mismatches);
    assert!(!outcome.settlements.is_empty());
    assert!(outcome.settlements.iter().all(|s| s.gas_used > 0));
    for pair in &outcome.pairs {
        assert_eq!(pair.paid, pair.receipts as u128 * PRICE, "{pair:?}");
        assert_eq!(pair.settled, pair.paid, "{pair:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_paid_piece_is_settled_and_a_leecher_that_stops_paying_costs_at_most_its_credit() {
    let dir = tempfile::tempdir().unwrap();
    let (devnet, env) = devnet(&dir, 2, 3, &[]).await;
    let conduct = vec![
        Conduct::Pays,
        Conduct::Pays,
        Conduct::StopsPayingAfter { pieces: 5 },
    ];
    let outcome = run(&env, &scenario(conduct), &mut Quiet).await;
    devnet.shutdown().await;
    let outcome = outcome.unwrap();

    assert_books(&outcome);
    let pieces = outcome.pieces as u64;
    for leecher in 0..2 {
        let got: u64 = outcome
            .pairs
            .iter()
            .filter(|p| p.leecher == leecher)
            .map(|p| p.pieces)
            .sum();
        assert_eq!(got, pieces, "paying leecher {leecher} got the whole file");
    }
    let stopped: Vec<_> = outcome.pairs.iter().filter(|p| p.leecher == 2).collect();
    assert_eq!(stopped.iter().map(|p| p.receipts).sum::<u64>(), 5);
    for pair in stopped {
        assert!(
            pair.pieces - pair.receipts <= u64::from(CREDIT),
            "seeder {} lost more than its credit window: {pair:?}",
            pair.seeder
        );
    }
    assert!(outcome.pieces_paid() == 2 * pieces + 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relayer_crash_in_the_middle_loses_no_acknowledged_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let (mut devnet, env) = devnet(&dir, 2, 2, &[]).await;
    let scenario = scenario(vec![Conduct::Pays; 2]);
    let mut run = Run::start(&env, &scenario, &mut Quiet).await.unwrap();
    assert!(run.transfer(20, &mut Quiet).await.unwrap(), "half way");
    run.hand_over(Duration::from_secs(30)).await.unwrap();
    // SIGKILL: whatever the relayer acknowledged must be in its database and get settled.
    devnet.restart_relayer(true).await.unwrap();
    run.transfer(u64::MAX, &mut Quiet).await.unwrap();
    let outcome = run.settle(&mut Quiet).await;
    devnet.shutdown().await;
    assert_books(&outcome.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watchtower_settles_for_an_offline_seeder_when_its_leecher_closes() {
    let dir = tempfile::tempdir().unwrap();
    // Neither value nor age ever triggers a settlement: only a close deadline within the margin does.
    let (devnet, env) = devnet(
        &dir,
        1,
        1,
        &[
            (
                "PIECEPAY_RELAYER__BATCH__VALUE_THRESHOLD",
                "\"1000000000000000000000000\"",
            ),
            ("PIECEPAY_RELAYER__BATCH__MAX_AGE_S", "100000000"),
            ("PIECEPAY_RELAYER__BATCH__CLOSE_MARGIN_S", "3000"),
        ],
    )
    .await;
    let scenario = scenario(vec![Conduct::Pays]);
    let mut run = Run::start(&env, &scenario, &mut Quiet).await.unwrap();
    run.transfer(u64::MAX, &mut Quiet).await.unwrap();
    // The seeder hands its receipt to the relayer and goes offline.
    run.hand_over(Duration::from_secs(30)).await.unwrap();
    let payer = run.swarm().payer(0, 0).unwrap().channel().unwrap();
    let (paid, id, payee, salt) = (
        payer.cumulative(),
        payer.channel().id(),
        payer.channel().payee(),
        payer.channel().salt(),
    );
    assert!(paid > 0);
    let leecher = run.leecher_client(0).unwrap();
    assert_eq!(
        leecher.channel(id).await.unwrap().settled,
        0,
        "nothing settled yet"
    );

    // The leecher asks for a unilateral close: the challenge window starts. Ten minutes of chain time
    // later it ends within the relayer's margin (anvil's clock moves only when told or when it mines).
    let started = leecher.request_close(payee, salt).await.unwrap();
    advance_chain_time(&env.rpc_url, 601).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let info = leecher.channel(id).await.unwrap();
        assert!(
            matches!(info.status, ChannelStatus::Closing { .. }),
            "{info:?}"
        );
        if info.settled == paid {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            let log = devnet.info().relayer.as_ref().map(|r| r.log.clone());
            let log = log.and_then(|path| std::fs::read_to_string(path).ok());
            panic!(
                "the relayer did not settle within its close margin (window ends {}); its log:\n{}",
                started.closes_at,
                log.unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    devnet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_libtorrent_transfers_are_paid_per_piece_and_settled_on_chain() {
    let dir = tempfile::tempdir().unwrap();
    let (devnet, env) = devnet(&dir, 2, 2, &[]).await;
    let scenario = Scenario {
        engine: Engine::Libtorrent(Libtorrent {
            bin: Libtorrent::built_bin(),
            dir: dir.path().join("torrent"),
        }),
        ..scenario(vec![Conduct::Pays; 2])
    };
    let outcome = run(&env, &scenario, &mut Quiet).await;
    devnet.shutdown().await;
    let outcome = outcome.unwrap();
    assert_books(&outcome);
    for leecher in 0..2 {
        let (pieces, receipts): (u64, u64) = outcome
            .pairs
            .iter()
            .filter(|p| p.leecher == leecher)
            .fold((0, 0), |(a, b), p| (a + p.pieces, b + p.receipts));
        assert_eq!(
            pieces, outcome.pieces as u64,
            "leecher {leecher} got the file"
        );
        assert_eq!(receipts, pieces, "one receipt per piece");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_main_job_runs_on_a_berlin_chain_with_chain_id_1029() {
    const DONAU: u64 = 1029;
    let dir = tempfile::tempdir().unwrap();
    let berlin = ChainSpec {
        hardfork: "berlin".into(),
        chain_id: DONAU,
    };
    let (devnet, env) = devnet_on(berlin, &dir, 2, 2, &[]).await;
    let info = devnet.info().clone();
    assert_eq!(
        (info.chain_id, info.evm_version.as_str()),
        (DONAU, "berlin"),
        "the legacy build"
    );
    let outcome = run(&env, &scenario(vec![Conduct::Pays; 2]), &mut Quiet).await;
    // The settlements' transaction types and chain ids, read before the chain goes.
    let mut settlement_txs = Vec::new();
    if let Ok(outcome) = &outcome {
        let provider = ProviderBuilder::new().connect(&env.rpc_url).await.unwrap();
        for settlement in &outcome.settlements {
            let tx = provider
                .get_transaction_by_hash(settlement.hash)
                .await
                .unwrap()
                .expect("the settlement is on chain");
            settlement_txs.push((tx.inner.ty(), tx.inner.chain_id()));
        }
    }
    devnet.shutdown().await;
    let outcome = outcome.unwrap();
    assert_books(&outcome);
    assert_eq!(outcome.pieces_paid(), 2 * outcome.pieces as u64);
    for (ty, chain_id) in settlement_txs {
        assert_eq!((ty, chain_id), (0, Some(DONAU)), "legacy transactions");
    }
}

/// The main job (`make demo`) as a user runs it, smaller: separate client processes, each with its own
/// agent; it exits 0 only with the books matching on chain, every channel closed and every deposit
/// refunded. Its relayer path is pinned here: while the leechers seed on (`--linger-s`), the relayer
/// settles the seeders' receipts — without it the cooperative closes would settle everything and the last
/// line would read `receipts=0 settlements=0`.
#[test]
fn the_main_job_settles_through_the_relayer_closes_and_refunds() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_piecepay-demo"))
        .args(["--seeders", "2", "--leechers", "2", "--file-kib", "1024"])
        .arg("--relayer-bin")
        .arg(relayer::workspace_bin())
        .arg("--torrent-bin")
        .arg(Libtorrent::built_bin())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let last = stdout.lines().last().unwrap_or_default();
    let field = |key: &str| -> &str {
        last.split_whitespace()
            .find_map(|f| f.strip_prefix(key)?.strip_prefix('='))
            .unwrap_or_else(|| panic!("no {key} in {last}"))
    };
    let number = |key: &str| -> u64 { field(key).parse().unwrap() };
    // 16 pieces of 64 KiB, bought by each of the two leechers.
    assert_eq!(number("pieces_paid"), 32, "{last}");
    assert!(number("receipts") >= 1, "{last}");
    assert!(number("settlements") >= 1, "{last}");
    assert!(number("gas_used") > 0, "{last}");
    assert_eq!(field("onchain_matches"), "yes", "{last}");
    // Each leecher paid on a channel; a channel to a seeder that served it nothing closes too.
    assert!(number("closed") >= 2, "{last}");
    assert_eq!(field("refunded"), "yes", "{last}");
}
