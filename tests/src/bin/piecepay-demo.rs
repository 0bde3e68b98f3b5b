//! The main job: a devnet (anvil, the contracts, a relayer on SQLite), then seeders and leechers as
//! separate `piecepay-torrent` client processes, each with its own agent, key and SQLite file, exchanging
//! the pieces of a generated file and paying per piece; nobody but the clients' own agents opens, checks,
//! settles or closes a channel. The leechers close cooperatively once complete, every client withdraws,
//! and the books are read from the chain. `make demo` runs it.
//!
//! Exit status 0 only if every paid piece is settled on chain, every channel is closed, every unspent
//! deposit returned and the balances add up — and, when the leechers linger before closing, the relayer
//! settled some of the receipts the seeders handed it (else the job did not exercise its relayer path).

use std::{io::Write as _, path::PathBuf, process::ExitCode, time::Duration};

use anyhow::Context;
use clap::Parser;
use piecepay_deploy::devnet::{ChainSpec, Devnet, DevnetConfig, anvil::DEFAULT_BIN, relayer};
use piecepay_e2e::{
    client::Pieces,
    job::{self, Job, Progress},
    libtorrent::Libtorrent,
    report,
};
use piecepay_sdk::protocol::alloy_primitives::U256;

/// One whole token in base units (the devnet token has 18 decimals).
const TOKEN: u128 = 1_000_000_000_000_000_000;

#[derive(Parser, Debug)]
#[command(about = "piecepay's main job: pay-per-piece on a local devnet, settled on chain")]
struct Args {
    /// Seeders (payees).
    #[arg(long, default_value_t = 3)]
    seeders: usize,
    /// Leechers (payers); each downloads from every seeder, its agent opening a channel to each.
    #[arg(long, default_value_t = 4)]
    leechers: usize,
    /// Size of the shared file in KiB.
    #[arg(long, default_value_t = 4096)]
    file_kib: usize,
    /// Piece length in KiB.
    #[arg(long, default_value_t = 64)]
    piece_kib: usize,
    /// Seconds a leecher seeds on once complete, before it closes its channels: the relayer settles the
    /// seeders' receipts meanwhile (0: the cooperative closes settle everything).
    #[arg(long, default_value_t = 5)]
    linger_s: u64,
    /// Where the devnet keeps its files (default: a fresh temporary directory).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// The hardfork the devnet's anvil runs (`berlin`: a chain like BTTC, without EIP-1559, PUSH0 or
    /// transient storage; the deploy tool then picks the legacy build).
    #[arg(long, default_value_t = ChainSpec::default().hardfork)]
    hardfork: String,
    /// The devnet's chain id.
    #[arg(long, default_value_t = ChainSpec::default().chain_id)]
    chain_id: u64,
    /// The relayer binary (default: `piecepay-relayer` beside this program).
    #[arg(long)]
    relayer_bin: Option<PathBuf>,
    /// The client program, `piecepay-torrent` (default: the one `make -C
    /// client-sdk/integrations/libtorrent` builds).
    #[arg(long)]
    torrent_bin: Option<PathBuf>,
}

/// Progress as plain lines (a log or a terminal alike), every two seconds while the leechers download.
struct Lines;

impl Progress for Lines {
    fn phase(&mut self, name: &str) {
        println!("demo: {name}");
    }

    fn transfer(&mut self, elapsed: Duration, leechers: &[Option<Pieces>]) {
        let each: Vec<String> = leechers
            .iter()
            .enumerate()
            .map(|(l, p)| match p {
                Some(p) => format!("leecher {l} {:>3}/{} paid {:>3}", p.have, p.of, p.paid),
                None => format!("leecher {l} exited"),
            })
            .collect();
        println!("  {:>5.1} s  {}", elapsed.as_secs_f64(), each.join("  "));
        let _ = std::io::stdout().flush();
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match main_job(Args::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("demo: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn main_job(args: Args) -> anyhow::Result<bool> {
    anyhow::ensure!(
        args.seeders > 0 && args.leechers > 0,
        "need seeders and leechers"
    );
    let temp = match &args.state_dir {
        Some(_) => None,
        None => Some(tempfile::tempdir().context("a temporary directory")?),
    };
    let state_dir = args
        .state_dir
        .clone()
        .unwrap_or_else(|| temp.as_ref().expect("made above").path().to_owned());
    let relayer_bin = relayer::find_binary(args.relayer_bin.as_deref()).context(
        "no piecepay-relayer beside this program or on PATH (build it: cargo build -p piecepay-relayer)",
    )?;

    let bin = args
        .torrent_bin
        .clone()
        .unwrap_or_else(Libtorrent::default_bin);
    anyhow::ensure!(
        bin.is_file(),
        "{} is missing: build it with `make -C client-sdk/integrations/libtorrent`",
        bin.display()
    );
    let pieces = args.file_kib.div_ceil(args.piece_kib);
    let price = TOKEN / 1_000; // 0.001 token per piece
    // Enough for every piece from one seeder, so no channel ever needs a top-up; a leecher's budget is one
    // such deposit per seeder (job::run funds it).
    let deposit_per_channel = price * pieces as u128;
    let config = DevnetConfig {
        anvil_bin: PathBuf::from(DEFAULT_BIN),
        port: 0,
        chain: ChainSpec {
            hardfork: args.hardfork.clone(),
            chain_id: args.chain_id,
        },
        state_dir: state_dir.clone(),
        peers: args.seeders + args.leechers,
        leechers: args.leechers,
        tokens_per_peer: U256::ZERO,
        deposit: U256::ZERO,
        challenge_period: 3_600,
        relayer_bin: Some(relayer_bin),
        relayer_env: Vec::new(),
    };
    println!("demo: starting the devnet (anvil, contracts, relayer)");
    let devnet = Devnet::start(&config, &mut |line| println!("  {line}"))
        .await
        .context("starting the devnet")?;
    let info = devnet.info().clone();
    let relayer = info.relayer.as_ref().context("the devnet runs a relayer")?;
    println!("  rpc      {}", info.rpc_url);
    println!("  escrow   {}", info.escrow);
    println!("  relayer  {}", relayer.url);
    let job = Job {
        bin,
        dir: state_dir.join("clients"),
        seeders: args.seeders,
        file_kib: args.file_kib,
        piece_kib: args.piece_kib,
        price,
        credit_pieces: 32,
        linger: Duration::from_secs(args.linger_s),
        deposit_per_channel,
        timeout: Duration::from_secs(120),
    };
    println!(
        "demo: {} seeders and {} leechers, one piecepay-torrent process each (configurations, databases and \
         logs under {}; kept with --state-dir)",
        args.seeders,
        args.leechers,
        job.dir.display()
    );
    let outcome = job::run(&info, &job, &mut Lines).await;
    devnet.shutdown().await;
    let outcome = outcome?;
    print!("{}", report::tables(&outcome));
    // With no linger the cooperative closes settle everything: the relayer may then rightly settle nothing.
    let relayer_ok = args.linger_s == 0 || outcome.relayer_settled();
    if !relayer_ok {
        println!(
            "demo: the seeders handed the relayer {} receipts and it settled none",
            outcome.receipts_handed
        );
    }
    println!("{}", report::last_line(&outcome));
    Ok(outcome.onchain_matches && outcome.refunded() && relayer_ok)
}
