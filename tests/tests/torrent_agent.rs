//! The libtorrent client with its payments from the client agent (`piecepay-torrent serve|download`, the
//! one-call `piecepay::torrent::attach`): a seeder and leechers in separate processes, each with its own
//! agent, key and database, on a devnet (anvil, the contracts, the real relayer). Nobody opens or vouches a
//! channel for them: the leecher's agent opens it gaslessly, the seeder's checks it on chain, the relayer
//! settles the receipts, the leecher closes cooperatively and gets the rest of its deposit back.
//!
//! Needs `build/dev/piecepay-torrent` (`make -C client-sdk/integrations/libtorrent`, which `make
//! test-torrent` runs first) and the relayer binary (`cargo build -p piecepay-relayer`).

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, ChildStdout, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use piecepay_deploy::devnet::{Account, Devnet, DevnetInfo};
use piecepay_e2e::libtorrent::Libtorrent;
use piecepay_sdk::{
    chain::{ChainClient, ChannelStatus},
    protocol::alloy_primitives::{Address, B256, U256, hex},
};
use piecepay_test_support::{chain::devnet_config, relayer};
use serde_json::Value;

const PRICE: u128 = 1_000;
/// What each leecher holds in the escrow to open channels from.
const DEPOSIT: u128 = 1_000_000;
/// 8 MiB of 64 KiB pieces.
const PIECES: u128 = 128;
/// The agent's default credit window, which docs/agent.md requires to cover the request pipeline: pieces
/// a killed leecher had in flight still count as served, and with a window smaller than what can be in
/// flight (8 pieces failed here once) the restarted leecher owes more than its credit for pieces it never
/// received and is choked on that channel for good.
const CREDIT: u128 = 64;

/// Writes agent `name`'s configuration (its key in the environment variable `PIECEPAY_KEY`).
fn write_config(info: &DevnetInfo, dir: &Path, name: &str, role: &str) -> PathBuf {
    let relayer = &info.relayer.as_ref().expect("a relayer").url;
    let policy = match role {
        "seeder" => format!(
            "[payee]\nprice = {PRICE}\ncredit_pieces = {CREDIT}\nfree_pieces = 0\n\
             [payee.settle]\nmin_value = 1\nmax_age_s = 1\n"
        ),
        _ => format!(
            "[payer]\nmax_price = {PRICE}\nbudget_total = {DEPOSIT}\ndeposit_per_channel = {}\nidle_close_s = 0\n",
            2 * PIECES * PRICE
        ),
    };
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            "[wallet]\nkey_env = \"PIECEPAY_KEY\"\n\
             [chain]\nmanifest = \"{}\"\nrpc_url = \"{}\"\n\
             [relayer]\nurls = [\"{relayer}\"]\n\
             [store]\npath = \"{name}.sqlite\"\n\
             [timing]\nchain_poll_ms = 300\ntick_ms = 200\nchannel_check_s = 10\n{policy}",
            info.manifest.display(),
            info.rpc_url,
        ),
    )
    .unwrap();
    config
}

/// The account of the `i`-th peer of `role`.
fn account<'a>(info: &'a DevnetInfo, role: &str, i: usize) -> &'a Account {
    &info
        .peers
        .iter()
        .filter(|p| p.role == role)
        .nth(i)
        .expect("that many peers")
        .account
}

fn key(info: &DevnetInfo, role: &str, i: usize) -> B256 {
    account(info, role, i).key
}

fn address(info: &DevnetInfo, role: &str, i: usize) -> Address {
    account(info, role, i).address
}

/// A `piecepay-torrent` process: its first stdout line (the hello) read, the rest collected. Killed when
/// dropped unfinished (a failing test leaves nothing running).
struct Process {
    child: Child,
    hello: Value,
    lines: mpsc::Receiver<String>,
}

impl Process {
    fn start(args: &[&str], key: B256, dir: &Path, log: &str) -> Self {
        let log = std::fs::File::create(dir.join(log)).unwrap();
        let mut child = Command::new(Libtorrent::built_bin())
            .args(args)
            .env("PIECEPAY_KEY", hex::encode(key))
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let lines = read_lines(child.stdout.take().unwrap());
        let hello = lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("{args:?} printed no hello"));
        Self {
            child,
            hello: serde_json::from_str(&hello).unwrap(),
            lines,
        }
    }

    /// Waits for the exit; the last JSON line it printed (the agent's report) and whether it succeeded.
    fn finish(&mut self, timeout: Duration) -> (Value, bool) {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "the process did not finish");
            std::thread::sleep(Duration::from_millis(50));
        };
        let last = self.lines.try_iter().last().expect("a report");
        (serde_json::from_str(&last).unwrap(), status.success())
    }

    fn terminate(&mut self) -> (Value, bool) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        self.finish(Duration::from_secs(20))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn read_lines(out: ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Pieces of the downloaded file the leecher's log says it has.
fn pieces_had(log: &Path) -> u32 {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .rev()
        .filter_map(|l| l.strip_prefix("progress: have="))
        .find_map(|l| l.split('/').next()?.parse().ok())
        .unwrap_or(0)
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

fn amount(v: &Value) -> u128 {
    v.as_str().expect("a decimal string").parse().unwrap()
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
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let config = piecepay_deploy::devnet::DevnetConfig {
        peers: 3,
        leechers: 2,
        tokens_per_peer: U256::from(10 * DEPOSIT),
        deposit: U256::from(DEPOSIT),
        relayer_bin: Some(relayer::workspace_bin()),
        ..devnet_config(&dir.join("devnet"))
    };
    let devnet = Devnet::start(&config, &mut |_| {})
        .await
        .expect("the devnet starts");
    let info = devnet.info().clone();
    let chain = ChainClient::connect(&info.rpc_url, &info.deployer.key, info.escrow)
        .await
        .unwrap();
    let text = |p: PathBuf| p.to_str().unwrap().to_owned();

    // The seeder: its agent sells at PRICE, with a credit of CREDIT pieces.
    let seeder_config = text(write_config(&info, dir, "seeder", "seeder"));
    let seed_dir = text(dir.join("seed"));
    let mut seeder = Process::start(
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
        key(&info, "seeder", 0),
        dir,
        "seeder.log",
    );
    let torrent = seeder.hello["torrent"].as_str().unwrap().to_owned();
    let peer = seeder.hello["listen"].as_str().unwrap().to_owned();

    // Leecher 0 downloads the whole file, pays every piece, and closes its channel cooperatively.
    let config0 = text(write_config(&info, dir, "leecher0", "leecher"));
    let dir0 = text(dir.join("leecher0"));
    let mut args = leecher_args(&config0, &torrent, &peer, &dir0);
    args.extend(["--close", "yes", "--timeout-s", "60"]);
    let mut leecher = Process::start(&args, key(&info, "leecher", 0), dir, "leecher0.log");
    let (report, ok) = leecher.finish(Duration::from_secs(90));
    assert!(ok, "leecher 0 failed: {report}\n{}", logs(dir));
    assert_eq!(amount(&report["spent"]), PIECES * PRICE, "{report}");
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
            .balance_of(address(&info, "leecher", 0))
            .await
            .unwrap(),
        DEPOSIT - PIECES * PRICE,
        "the unspent deposit came back"
    );

    // Leecher 1 is killed (SIGKILL) mid-download and started again on the same files and database.
    let config1 = text(write_config(&info, dir, "leecher1", "leecher"));
    let dir1 = text(dir.join("leecher1"));
    let mut args = leecher_args(&config1, &torrent, &peer, &dir1);
    args.extend(["--rate-kib", "2048"]);
    let mut killed = Process::start(&args, key(&info, "leecher", 1), dir, "leecher1-killed.log");
    let started = Instant::now();
    while pieces_had(&dir.join("leecher1-killed.log")) < 40 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "leecher 1 made no progress\n{}",
            logs(dir)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    killed.child.kill().unwrap(); // SIGKILL
    killed.child.wait().unwrap();
    let had = pieces_had(&dir.join("leecher1-killed.log"));
    assert!(u128::from(had) < PIECES, "killed mid-download");
    let mut args = leecher_args(&config1, &torrent, &peer, &dir1);
    args.extend(["--close", "yes", "--timeout-s", "60"]);
    let mut resumed = Process::start(&args, key(&info, "leecher", 1), dir, "leecher1.log");
    let (report1, ok) = resumed.finish(Duration::from_secs(90));
    assert!(
        ok,
        "leecher 1 failed after its restart: {report1}\n{}",
        logs(dir)
    );
    let spent1 = amount(&report1["spent"]);
    // Nothing paid twice (pieces on disk are checked, not fetched again); at most the pieces verified
    // while their receipt was not yet durable went unpaid at the kill.
    assert!(spent1 <= PIECES * PRICE, "{report1}");
    assert!(spent1 >= (PIECES - CREDIT) * PRICE, "{report1}");
    assert_eq!(
        chain
            .balance_of(address(&info, "leecher", 1))
            .await
            .unwrap(),
        DEPOSIT - spent1,
        "the unspent deposit came back"
    );

    // The seeder was paid exactly what both paid, and the chain credited it.
    let (seeder_report, ok) = seeder.terminate();
    assert!(ok, "{seeder_report}");
    let paid = PIECES * PRICE + spent1;
    let books = &seeder_report["torrents"][0];
    // Served counts pieces sent whole: those in flight to the killed leecher were sent again.
    assert!(amount(&books["served"]) >= paid, "{seeder_report}");
    assert_eq!(amount(&books["settled"]), paid, "{seeder_report}");
    assert_eq!(
        chain.balance_of(address(&info, "seeder", 0)).await.unwrap(),
        paid,
        "the seeder's earnings are in its escrow balance"
    );
    devnet.shutdown().await;
}
