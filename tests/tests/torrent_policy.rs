//! The client agent's policies in the command-line client (`piecepay-torrent`, demo/client.cpp): real
//! processes on a devnet (anvil, the contracts, the real relayer), each with its own agent, key and SQLite
//! file — what docs/agent.md promises a torrent user when things do not go to plan:
//! - the relayer is down for the whole transfer: the seller settles on chain itself before the close
//!   deadline;
//! - a buyer's budget runs out: it stops paying, is choked, never signs past its budget;
//! - terms above the buyer's maximum price: no channel, nothing signed, only the free share moves;
//! - a buyer claiming a channel that does not exist on chain ([`piecepay_e2e::rogue`]): refused.
//!
//! Needs `build/dev/piecepay-torrent` (`make -C client-sdk/integrations/libtorrent`, which `make
//! test-torrent` runs first) and the relayer binary (`cargo build -p piecepay-relayer`).

use std::time::{Duration, Instant};

use piecepay_e2e::{
    client::{Client, ClientNet, Policy, amount, run_command},
    libtorrent::Libtorrent,
    rogue::{self, Torrent},
};
use piecepay_sdk::{
    chain::{
        ChannelStatus,
        alloy::providers::{Provider, ProviderBuilder},
    },
    protocol::alloy_primitives::B256,
};
use piecepay_test_support::{chain::devnet_with_relayer, wait_for};
use serde_json::Value;

const PRICE: u128 = 1_000;
/// What each leecher holds in the escrow to open channels from.
const DEPOSIT: u128 = 1_000_000;
/// The served file: 4 MiB of 256 KiB pieces.
const PIECES: u32 = 16;
const PIECE_KIB: u32 = 256;

/// A devnet with one seller and `leechers` buyers.
async fn start(leechers: usize) -> ClientNet {
    ClientNet::start(async |dir| devnet_with_relayer(dir, 1 + leechers, leechers, DEPOSIT).await)
        .await
}

/// The clients these tests run, one seller and one buyer at most.
trait Clients {
    fn seller(&self, policy: Policy) -> Client;
    fn buyer(&self, seller: &Client, policy: Policy) -> (Client, String);
    fn client(&self, args: &[&str], role: &str) -> Client;
}

impl Clients for ClientNet {
    /// `piecepay-torrent serve` of a generated file, selling as `policy` says.
    fn seller(&self, policy: Policy) -> Client {
        let config = self.config("seeder", policy);
        let args = [
            "serve",
            "--config",
            &config,
            "--size-kib",
            &(PIECES * PIECE_KIB).to_string(),
            "--piece-kib",
            &PIECE_KIB.to_string(),
            "--dir",
            &self.path("seed"),
        ];
        self.client(&args, "seeder")
    }

    /// `piecepay-torrent download` of `seller`'s torrent, buying as `policy` says; its configuration too.
    fn buyer(&self, seller: &Client, policy: Policy) -> (Client, String) {
        let config = self.config("leecher", policy);
        let field = |k: &str| seller.hello[k].as_str().unwrap().to_owned();
        let args = [
            "download",
            "--config",
            &config,
            "--torrent",
            &field("torrent"),
            "--peer",
            &field("listen"),
            "--dir",
            &self.path("leecher"),
            "--timeout-s",
            "60",
        ];
        (self.client(&args, "leecher"), config)
    }

    /// `piecepay-torrent args…` with the key of `role`'s peer, logging to `role.log`.
    fn client(&self, args: &[&str], role: &str) -> Client {
        let key = self.account(role, 0).key;
        Client::start(
            &Libtorrent::built_bin(),
            args,
            key,
            self.dir.join(format!("{role}.log")),
        )
        .unwrap()
    }
}

fn seller(price: u128, credit_pieces: u64, free_pieces: u64) -> Policy {
    Policy::Seller {
        price,
        credit_pieces,
        free_pieces,
    }
}

fn buyer(max_price: u128, budget: u128) -> Policy {
    Policy::Buyer {
        max_price,
        budget,
        deposit_per_channel: 2 * u128::from(PIECES) * PRICE,
    }
}

/// Waits until `leecher`'s download stalls (its pieces unchanged for 3 s, 20 s at most), then stops it:
/// the pieces it had, and its report. A download stopped incomplete fails.
fn stop_stalled(leecher: &mut Client) -> (u32, Value) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut last, mut since) = (leecher.progress(), Instant::now());
    while Instant::now() < deadline && since.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(100));
        let now = leecher.progress();
        if now != last {
            (last, since) = (now, Instant::now());
        }
    }
    let (report, ok) = leecher.terminate().unwrap();
    assert!(!ok, "an incomplete download fails: {report}");
    (last.have, report)
}

/// The one channel `report` holds in `role` (payer or payee).
fn channel(report: &Value, role: &str) -> Value {
    let peers: Vec<&Value> = report["peers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["role"] == role)
        .collect();
    assert_eq!(peers.len(), 1, "{report}");
    peers[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_relayer_down_the_seller_settles_on_chain_itself_before_the_close_deadline() {
    let mut net = start(1).await;
    // Down for the whole transfer: both configurations still name it.
    net.devnet.kill_relayer().await;
    let mut seeder = net.seller(seller(PRICE, 8, 0));
    let (mut leecher, config) = net.buyer(&seeder, buyer(PRICE, DEPOSIT));
    // The leecher opens its channel with its own transaction and pays every piece.
    let (report, ok) = leecher.finish(Duration::from_secs(90)).unwrap();
    assert!(ok, "{report}\n{}\n{}", leecher.tail(30), seeder.tail(30));
    let paid = u128::from(PIECES) * PRICE;
    assert_eq!(amount(&report["spent"]).unwrap(), paid, "{report}");
    let id: B256 = channel(&report, "payer")["channel_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        !seeder.events("relayer_unavailable").is_empty(),
        "{}",
        seeder.tail(30)
    );
    // No relayer took the receipts, and the value alone does not make the seller pay the gas.
    assert_eq!(net.chain.channel(id).await.unwrap().settled, 0);

    // The leecher goes away and asks to close (the seller not connected): the challenge window starts.
    let closed = run_command(
        &Libtorrent::built_bin(),
        &["close", "--config", &config, "--wait-s", "30"],
        net.account("leecher", 0).key,
    )
    .unwrap();
    assert_eq!(closed.trim(), "close: open=0 closing=1 closed=0");
    let ChannelStatus::Closing { closes_at } = net.chain.channel(id).await.unwrap().status else {
        panic!("the close request is on chain");
    };

    // Its window ends within the seller's margin: the seller settles on chain itself, in the window.
    let settled = seeder
        .wait_event("self_settled", Duration::from_secs(30), |_| true)
        .unwrap();
    let (seller_report, ok) = seeder.terminate().unwrap();
    assert!(ok, "{seller_report}");
    let held = amount(&channel(&seller_report, "payee")["paid"]).unwrap();
    let on_chain = net.chain.channel(id).await.unwrap();
    assert_eq!(held, paid, "{seller_report}");
    assert_eq!(
        on_chain.settled, held,
        "the highest receipt the seller holds"
    );
    assert!(matches!(on_chain.status, ChannelStatus::Closing { .. }));
    assert_eq!(amount(&settled["cumulative"]).unwrap(), held, "{settled}");
    let provider = ProviderBuilder::new()
        .connect(&net.info.rpc_url)
        .await
        .unwrap();
    let tx: B256 = settled["tx"].as_str().unwrap().parse().unwrap();
    let receipt = provider.get_transaction_receipt(tx).await.unwrap().unwrap();
    assert_eq!(
        receipt.from,
        net.account("seeder", 0).address,
        "the seller's own transaction"
    );
    let block = provider
        .get_block_by_number(receipt.block_number.unwrap().into())
        .await
        .unwrap()
        .unwrap();
    assert!(block.header.timestamp <= closes_at, "before the deadline");
    net.devnet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_budget_stops_the_payments_and_the_seller_chokes() {
    let net = start(1).await;
    let credit = 2;
    let mut seeder = net.seller(seller(PRICE, credit, 0));
    // Five and a half pieces' worth.
    let budget = 5 * PRICE + PRICE / 2;
    let (mut leecher, _) = net.buyer(&seeder, buyer(PRICE, budget));
    leecher
        .wait_event("budget_exhausted", Duration::from_secs(40), |_| true)
        .unwrap();
    // The seller serves its credit window beyond what was paid, then nothing: the download stalls.
    let (have, report) = stop_stalled(&mut leecher);
    assert_eq!(amount(&report["spent"]).unwrap(), 5 * PRICE, "{report}");
    assert_eq!(report["torrents"][0]["pieces_paid"], 5, "{report}");
    // The credit window and not one piece more: the seller accepts requests only for the pieces the
    // peer's allowance covers.
    assert_eq!(have, 5 + credit as u32, "pieces for 5 paid");
    assert!(have < PIECES, "choked");
    // The highest receipt the seller holds and the chain settles is within the budget.
    let (seller_report, ok) = seeder.terminate().unwrap();
    assert!(ok, "{seller_report}");
    let payee = channel(&seller_report, "payee");
    assert_eq!(
        amount(&payee["paid"]).unwrap(),
        5 * PRICE,
        "{seller_report}"
    );
    let id: B256 = payee["channel_id"].as_str().unwrap().parse().unwrap();
    let chain = &net.chain;
    wait_for(
        "the relayer's settlement",
        Duration::from_secs(20),
        async || {
            let settled = chain.channel(id).await.unwrap().settled;
            (settled == 5 * PRICE).then_some(())
        },
    )
    .await;
    net.devnet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terms_above_the_maximum_price_are_not_paid() {
    let net = start(1).await;
    let free = 2;
    let mut seeder = net.seller(seller(2 * PRICE, 8, free));
    let (mut leecher, _) = net.buyer(&seeder, buyer(PRICE, DEPOSIT));
    leecher
        .wait_event("terms_refused", Duration::from_secs(30), |e| {
            e["code"] == "price_above_max"
        })
        .unwrap();
    let (have, report) = stop_stalled(&mut leecher);
    assert_eq!(have, free as u32, "pieces for a free share of {free}");
    assert_eq!(amount(&report["spent"]).unwrap(), 0, "{report}");
    assert!(
        leecher.events("channel_opening").is_empty(),
        "no channel: {report}"
    );
    assert_eq!(
        net.chain
            .balance_of(net.account("leecher", 0).address)
            .await
            .unwrap(),
        DEPOSIT,
        "nothing locked"
    );
    let (seller_report, ok) = seeder.terminate().unwrap();
    assert!(ok, "{seller_report}");
    assert_eq!(amount(&seller_report["earned"]).unwrap(), 0);
    net.devnet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claimed_channel_that_does_not_exist_on_chain_is_refused() {
    let net = start(0).await;
    let free = 1u32;
    let mut seeder = net.seller(seller(PRICE, 8, free.into()));
    let torrent = Torrent {
        info_hash: rogue::magnet_info_hash(seeder.hello["magnet"].as_str().unwrap()).unwrap(),
        pieces: PIECES,
        piece_len: PIECE_KIB * 1024,
    };
    let listen = seeder.hello["listen"].as_str().unwrap().to_owned();
    let info = net.info.clone();
    // The seller looks for the channel for `channel_check_s` (10 s here), then refuses it; the liar
    // watches a little longer.
    let seen = tokio::task::spawn_blocking(move || {
        rogue::claim_a_missing_channel(
            &listen,
            torrent,
            &info,
            PRICE,
            50 * PRICE,
            Duration::from_secs(13),
        )
    })
    .await
    .unwrap()
    .unwrap();
    assert!(seen.claimed, "the seller accepted the bid: {seen:?}");
    assert!(
        seen.errors.iter().any(|c| c == "channel_not_funded"),
        "{seen:?}\n{}",
        seeder.tail(30)
    );
    // The free share and not a block more (it asked for every piece at once, without BEP 6).
    assert!(
        seen.whole_pieces == free && seen.piece_bytes == u64::from(free * PIECE_KIB * 1024),
        "the free share only: {seen:?}"
    );
    assert_eq!(
        seeder.events("channel_refused").len(),
        1,
        "{}",
        seeder.tail(30)
    );
    let (seller_report, ok) = seeder.terminate().unwrap();
    assert!(ok, "{seller_report}");
    assert_eq!(amount(&seller_report["earned"]).unwrap(), 0);
    net.devnet.shutdown().await;
}
