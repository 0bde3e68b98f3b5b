//! The libtorrent client with its payments from the client agent (`piecepay-torrent serve|download`, the
//! one-call `piecepay::torrent::attach`): a seeder and leechers in separate processes, each with its own
//! agent, key and database, on a devnet (anvil, the contracts, the real relayer). Nobody opens or vouches a
//! channel for them: the leecher's agent opens it gaslessly, the seeder's checks it on chain, the relayer
//! settles the receipts, the leecher closes cooperatively and gets the rest of its deposit back.
//!
//! Needs `build/dev/piecepay-torrent` (`make -C client-sdk/integrations/libtorrent`, which `make
//! test-torrent` runs first) and the relayer binary (`cargo build -p piecepay-relayer`).

use std::{
    path::Path,
    time::{Duration, Instant},
};

use piecepay_e2e::{
    client::{Client, ClientNet, Policy, amount},
    libtorrent::Libtorrent,
};
use piecepay_sdk::{chain::ChannelStatus, protocol::alloy_primitives::B256};
use piecepay_test_support::chain::devnet_with_relayer;

const PRICE: u128 = 1_000;
/// What each leecher holds in the escrow to open channels from.
const DEPOSIT: u128 = 1_000_000;
/// 8 MiB of 64 KiB pieces.
const PIECES: u128 = 128;
/// The agent's default credit window, which docs/agent.md requires to cover the request pipeline: pieces
/// a killed leecher had in flight still count as served, and with a window smaller than what can be in
/// flight (8 pieces failed here once) the restarted leecher owes more than its credit for pieces it never
/// received and is choked on that channel for good.
const CREDIT: u64 = 64;

const SELLER: Policy = Policy::Seller {
    price: PRICE,
    credit_pieces: CREDIT,
    free_pieces: 0,
};
const BUYER: Policy = Policy::Buyer {
    max_price: PRICE,
    budget: DEPOSIT,
    deposit_per_channel: 2 * PIECES * PRICE,
};

fn start(args: &[&str], key: B256, dir: &Path, log: &str) -> Client {
    Client::start(&Libtorrent::built_bin(), args, key, dir.join(log)).unwrap()
}

/// The last lines of every process's log, for a failure message.
fn logs(dir: &Path) -> String {
    let mut out = String::new();
    for name in ["seeder", "leecher0", "leecher1-killed", "leecher1"] {
        let text = std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default();
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with("progress:"))
            .collect();
        out += &format!(
            "--- {name}.log\n{}\n",
            lines[lines.len().saturating_sub(40)..].join("\n")
        );
    }
    out
}

fn leecher_args<'a>(
    config: &'a str,
    torrent: &'a str,
    peer: &'a str,
    dir: &'a str,
) -> Vec<&'a str> {
    vec![
        "download",
        "--config",
        config,
        "--torrent",
        torrent,
        "--peer",
        peer,
        "--dir",
        dir,
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libtorrent_clients_with_agents_pay_every_piece_settle_close_and_survive_a_kill() {
    let net = ClientNet::start(async |dir| devnet_with_relayer(dir, 3, 2, DEPOSIT).await).await;
    let (dir, chain) = (net.dir.as_path(), &net.chain);

    // The seeder: its agent sells at PRICE, with a credit of CREDIT pieces.
    let seeder_config = net.config("seeder", SELLER);
    let seed_dir = net.path("seed");
    let mut seeder = start(
        &[
            "serve",
            "--config",
            &seeder_config,
            "--size-kib",
            "8192",
            "--piece-kib",
            "64",
            "--dir",
            &seed_dir,
        ],
        net.account("seeder", 0).key,
        dir,
        "seeder.log",
    );
    let torrent = seeder.hello["torrent"].as_str().unwrap().to_owned();
    let peer = seeder.hello["listen"].as_str().unwrap().to_owned();

    // Leecher 0 downloads the whole file, pays every piece, and closes its channel cooperatively.
    let config0 = net.config("leecher0", BUYER);
    let dir0 = net.path("leecher0");
    let mut args = leecher_args(&config0, &torrent, &peer, &dir0);
    args.extend(["--close", "yes", "--timeout-s", "60"]);
    let mut leecher = start(&args, net.account("leecher", 0).key, dir, "leecher0.log");
    let (report, ok) = leecher.finish(Duration::from_secs(90)).unwrap();
    assert!(ok, "leecher 0 failed: {report}\n{}", logs(dir));
    assert_eq!(
        amount(&report["spent"]).unwrap(),
        PIECES * PRICE,
        "{report}"
    );
    assert_eq!(report["torrents"][0]["pieces_paid"], PIECES as u64);
    let channel: B256 = report["peers"][0]["channel_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let on_chain = chain.channel(channel).await.unwrap();
    assert_eq!(on_chain.status, ChannelStatus::Closed, "{on_chain:?}");
    assert_eq!(
        chain
            .balance_of(net.account("leecher", 0).address)
            .await
            .unwrap(),
        DEPOSIT - PIECES * PRICE,
        "the unspent deposit came back"
    );

    // Leecher 1 is killed (SIGKILL) mid-download and started again on the same files and database.
    let config1 = net.config("leecher1", BUYER);
    let dir1 = net.path("leecher1");
    let mut args = leecher_args(&config1, &torrent, &peer, &dir1);
    args.extend(["--rate-kib", "2048"]);
    let mut killed = start(
        &args,
        net.account("leecher", 1).key,
        dir,
        "leecher1-killed.log",
    );
    let started = Instant::now();
    while killed.progress().have < 40 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "leecher 1 made no progress\n{}",
            logs(dir)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    killed.kill(); // SIGKILL
    let had = killed.progress().have;
    assert!(u128::from(had) < PIECES, "killed mid-download");
    let mut args = leecher_args(&config1, &torrent, &peer, &dir1);
    args.extend(["--close", "yes", "--timeout-s", "60"]);
    let mut resumed = start(&args, net.account("leecher", 1).key, dir, "leecher1.log");
    let (report1, ok) = resumed.finish(Duration::from_secs(90)).unwrap();
    assert!(
        ok,
        "leecher 1 failed after its restart: {report1}\n{}",
        logs(dir)
    );
    let spent1 = amount(&report1["spent"]).unwrap();
    // Nothing paid twice (pieces on disk are checked, not fetched again); at most the pieces verified
    // while their receipt was not yet durable went unpaid at the kill.
    assert!(spent1 <= PIECES * PRICE, "{report1}");
    assert!(spent1 >= (PIECES - u128::from(CREDIT)) * PRICE, "{report1}");
    assert_eq!(
        chain
            .balance_of(net.account("leecher", 1).address)
            .await
            .unwrap(),
        DEPOSIT - spent1,
        "the unspent deposit came back"
    );

    // The seeder was paid exactly what both paid, and the chain credited it.
    let (seeder_report, ok) = seeder.terminate().unwrap();
    assert!(ok, "{seeder_report}");
    let paid = PIECES * PRICE + spent1;
    let books = &seeder_report["torrents"][0];
    // Served counts pieces sent whole: those in flight to the killed leecher were sent again.
    assert!(amount(&books["served"]).unwrap() >= paid, "{seeder_report}");
    assert_eq!(amount(&books["settled"]).unwrap(), paid, "{seeder_report}");
    assert_eq!(
        chain
            .balance_of(net.account("seeder", 0).address)
            .await
            .unwrap(),
        paid,
        "the seeder's earnings are in its escrow balance"
    );
    net.devnet.shutdown().await;
}
