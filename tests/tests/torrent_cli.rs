//! The command-line client's commands beyond a plain transfer (`piecepay-torrent`, demo/client.cpp), as
//! real processes on a devnet (anvil, the contracts, the real relayer): `serve --file` of a user's file,
//! `download --magnet` of its magnet link (metadata from the seller), the `summary:` line, `balance`,
//! `withdraw`, `close` (a close request, no seller connected), and bad input refused with one line.
//!
//! Needs `build/dev/piecepay-torrent` (`make -C client-sdk/integrations/libtorrent`, which `make
//! test-torrent` runs first) and the relayer binary (`cargo build -p piecepay-relayer`).

use std::{path::Path, process::Command, time::Duration};

use piecepay_e2e::{
    client::{Client, ClientNet, KEY_ENV, Policy, amount, arg, run_command},
    libtorrent::Libtorrent,
};
use piecepay_sdk::{
    chain::ChannelStatus,
    protocol::alloy_primitives::{Address, B256, U256, hex},
};
use piecepay_test_support::chain::devnet_with_relayer;

const PRICE: u128 = 1_000;
/// What each leecher holds in the escrow to open channels from.
const DEPOSIT: u128 = 1_000_000;
/// The user's file: 1 MiB in 64 KiB pieces.
const PIECES: u128 = 16;

fn peer(net: &ClientNet, role: &str, i: usize) -> (B256, Address) {
    let p = net.account(role, i);
    (p.key, p.address)
}

/// Runs `piecepay-torrent args…` expecting a usage or configuration error: its exit status and stderr.
fn refused(args: &[&str], key: B256) -> (i32, String) {
    let out = Command::new(Libtorrent::built_bin())
        .args(args)
        .env(KEY_ENV, hex::encode(key))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The `summary:` line of the client log `log` contains `what`.
fn assert_summary_says(log: &Path, what: &str) {
    let log = std::fs::read_to_string(log).unwrap();
    let summary = log
        .lines()
        .find(|l| l.starts_with("summary: "))
        .expect("a summary line");
    assert!(summary.contains(what), "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_a_file_download_its_magnet_link_then_balance_withdraw_and_close() {
    let net = ClientNet::start(async |dir| devnet_with_relayer(dir, 3, 2, DEPOSIT).await).await;
    let (dir, chain) = (net.dir.as_path(), &net.chain);
    let bin = Libtorrent::built_bin();
    let (seller_key, seller) = peer(&net, "seeder", 0);
    let seller_config = net.config(
        "seeder",
        Policy::Seller {
            price: PRICE,
            credit_pieces: 8,
            free_pieces: 0,
        },
    );
    let buyer = Policy::Buyer {
        max_price: PRICE,
        budget: DEPOSIT,
        deposit_per_channel: 2 * PIECES * PRICE,
    };

    // Bad input: one line naming what and where, exit status 2, before anything starts.
    for (args, names) in [
        (
            vec![
                "serve",
                "--config",
                &seller_config,
                "--file",
                "/nonexistent/x.bin",
            ],
            "--file /nonexistent/x.bin",
        ),
        (
            vec![
                "download",
                "--config",
                &seller_config,
                "--magnet",
                "magnet:?xt=bogus",
                "--peer",
                "127.0.0.1:1",
            ],
            "--magnet magnet:?xt=bogus",
        ),
        (
            vec![
                "download",
                "--config",
                &seller_config,
                "--magnet",
                "magnet:?xt=urn:btih:0000000000000000000000000000000000000000",
            ],
            "--peer HOST:PORT is required",
        ),
        (
            vec!["withdraw", "--config", &seller_config, "--to", "0x12"],
            "--to",
        ),
        (
            vec!["balance", "--config", &seller_config, "--json", "maybe"],
            "--json",
        ),
    ] {
        let (code, stderr) = refused(&args, seller_key);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("piecepay-torrent: usage error: ") && stderr.contains(names),
            "{args:?}: {stderr}"
        );
    }
    // A configuration the agent refuses: its stable code, exit status 1.
    let (code, stderr) = refused(
        &["balance", "--config", &net.path("missing.toml")],
        seller_key,
    );
    assert_eq!((code, stderr.lines().count()), (1, 1), "{stderr}");
    assert!(
        stderr.contains("error[config]") && stderr.contains("missing.toml"),
        "{stderr}"
    );

    // The seller seeds a file of the user's (checked before it is served) and prints its magnet link.
    let file = dir.join("user.bin");
    std::fs::write(
        &file,
        (0..(PIECES as usize) * 65536)
            .map(|i| (i * 7 % 251) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let seed_dir = net.path("seed");
    let mut seeder = Client::start(
        &bin,
        &[
            "serve",
            "--config",
            &seller_config,
            "--file",
            &arg(&file),
            "--piece-kib",
            "64",
            "--dir",
            &seed_dir,
        ],
        seller_key,
        dir.join("seeder.log"),
    )
    .unwrap();
    let magnet = seeder.hello["magnet"].as_str().unwrap().to_owned();
    let listen = seeder.hello["listen"].as_str().unwrap().to_owned();
    assert!(dir.join("seed/user.bin.torrent").is_file());

    // Leecher 0 downloads from the magnet link, pays every piece, closes cooperatively, says what it paid.
    let (key0, address0) = peer(&net, "leecher", 0);
    let config0 = net.config("leecher0", buyer);
    let mut leecher = Client::start(
        &bin,
        &[
            "download",
            "--config",
            &config0,
            "--magnet",
            &magnet,
            "--peer",
            &listen,
            "--dir",
            &net.path("leecher0"),
            "--close",
            "yes",
            "--timeout-s",
            "60",
        ],
        key0,
        dir.join("leecher0.log"),
    )
    .unwrap();
    let (report, ok) = leecher.finish(Duration::from_secs(90)).unwrap();
    assert!(ok, "{report}\n{}\n{}", leecher.tail(30), seeder.tail(30));
    assert_eq!(
        amount(&report["spent"]).unwrap(),
        PIECES * PRICE,
        "{report}"
    );
    assert_eq!(
        std::fs::read(dir.join("leecher0/download/user.bin")).unwrap(),
        std::fs::read(&file).unwrap()
    );
    assert_summary_says(
        &dir.join("leecher0.log"),
        &format!(
            "have {PIECES}/{PIECES} pieces; paid {} for {PIECES} pieces",
            PIECES * PRICE
        ),
    );

    // balance: the refund is withdrawable, the channel closed; withdraw moves it to the wallet.
    let refund = DEPOSIT - PIECES * PRICE;
    let balance = run_command(&bin, &["balance", "--config", &config0], key0).unwrap();
    assert!(
        balance
            .to_lowercase()
            .starts_with(&format!("balance: address={address0:#x} ")),
        "{balance}"
    );
    assert!(
        balance.contains(&format!(" withdrawable={refund} locked=0 ")),
        "{balance}"
    );
    assert!(balance.contains(" state=closed "), "{balance}");
    let tokens = chain.token_balance_of(address0).await.unwrap();
    let withdrawn = run_command(&bin, &["withdraw", "--config", &config0], key0).unwrap();
    assert!(
        withdrawn.starts_with(&format!("withdrawn: amount={refund} ")),
        "{withdrawn}"
    );
    assert_eq!(chain.balance_of(address0).await.unwrap(), 0);
    assert_eq!(
        chain.token_balance_of(address0).await.unwrap(),
        tokens + U256::from(refund)
    );

    // Leecher 1 downloads without closing; `close` afterwards, the seller gone from its session: a close
    // request, the channel closing on chain.
    let (key1, _) = peer(&net, "leecher", 1);
    let config1 = net.config("leecher1", buyer);
    let torrent = net.path("seed/user.bin.torrent");
    let mut leecher = Client::start(
        &bin,
        &[
            "download",
            "--config",
            &config1,
            "--torrent",
            &torrent,
            "--peer",
            &listen,
            "--dir",
            &net.path("leecher1"),
            "--timeout-s",
            "60",
        ],
        key1,
        dir.join("leecher1.log"),
    )
    .unwrap();
    let (report, ok) = leecher.finish(Duration::from_secs(90)).unwrap();
    assert!(ok, "{report}\n{}", leecher.tail(30));
    let channel: B256 = report["peers"][0]["channel_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let closed = run_command(
        &bin,
        &["close", "--config", &config1, "--wait-s", "30"],
        key1,
    )
    .unwrap();
    assert_eq!(
        closed.trim(),
        "close: open=0 closing=1 closed=0",
        "{closed}"
    );
    assert!(
        matches!(
            chain.channel(channel).await.unwrap().status,
            ChannelStatus::Closing { .. }
        ),
        "the close request is on chain"
    );

    // The seller's summary says what it earned.
    let (seller_report, ok) = seeder.terminate().unwrap();
    assert!(ok, "{seller_report}");
    assert_summary_says(
        &dir.join("seeder.log"),
        &format!("earned {} for", amount(&seller_report["earned"]).unwrap()),
    );
    assert!(chain.balance_of(seller).await.unwrap() >= PIECES * PRICE);
    net.devnet.shutdown().await;
}
