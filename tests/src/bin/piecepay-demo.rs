//! The main job: a devnet (anvil, the contracts, a relayer on SQLite), a swarm of seeders and leechers
//! exchanging the pieces of a generated file and paying per piece, the relayer settling on chain, and a
//! summary of what was paid and settled. `make demo` runs it.
//!
//! Exit status 0 only if every paid piece is settled on chain and the balances add up.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use anyhow::Context;
use clap::Parser;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use piecepay_deploy::devnet::{ChainSpec, Devnet, DevnetConfig, anvil::DEFAULT_BIN, relayer};
use piecepay_e2e::{
    libtorrent::Libtorrent,
    report,
    run::{Engine, Env, Progress, Scenario, run},
    swarm::Conduct,
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
    /// Leechers (payers); each opens a channel to every seeder.
    #[arg(long, default_value_t = 4)]
    leechers: usize,
    /// Size of the shared file in KiB.
    #[arg(long, default_value_t = 4096)]
    file_kib: usize,
    /// Piece length in KiB.
    #[arg(long, default_value_t = 64)]
    piece_kib: usize,
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
    /// What moves the pieces: real libtorrent sessions with piecepay's plugin, or the SDK's state
    /// machines in this process.
    #[arg(long, value_enum, default_value_t = EngineArg::Libtorrent)]
    engine: EngineArg,
    /// The libtorrent plugin's program (default: the one `make -C client-sdk/integrations/libtorrent`
    /// builds).
    #[arg(long)]
    torrent_bin: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum EngineArg {
    /// libtorrent 2.0 sessions on loopback, one per peer, paying through the C ABI.
    Libtorrent,
    /// The SDK's payer and payee state machines exchanging pieces in this process.
    InProcess,
}

/// Progress bars: one per leecher, then one for settlement.
struct Bars {
    multi: MultiProgress,
    phase: ProgressBar,
    leechers: Vec<ProgressBar>,
    settlement: Option<ProgressBar>,
}

impl Bars {
    fn new(leechers: usize) -> Self {
        let multi = MultiProgress::new();
        let phase = multi.add(ProgressBar::new_spinner());
        phase.enable_steady_tick(Duration::from_millis(120));
        let style = ProgressStyle::with_template("{prefix:>10} [{bar:40}] {pos}/{len} pieces")
            .expect("a valid template")
            .progress_chars("=> ");
        let leechers = (0..leechers)
            .map(|l| {
                let bar = multi.add(ProgressBar::new(0).with_style(style.clone()));
                bar.set_prefix(format!("leecher {l}"));
                bar
            })
            .collect();
        Self {
            multi,
            phase,
            leechers,
            settlement: None,
        }
    }
}

impl Progress for Bars {
    fn phase(&mut self, name: &str) {
        self.phase.set_message(name.to_owned());
    }

    fn transfer(&mut self, progress: &[usize], pieces: usize) {
        for (bar, &done) in self.leechers.iter().zip(progress) {
            bar.set_length(pieces as u64);
            bar.set_position(done as u64);
        }
    }

    fn settlement(&mut self, settled: usize, channels: usize) {
        let bar = self.settlement.get_or_insert_with(|| {
            let style = ProgressStyle::with_template(
                "{prefix:>10} [{bar:40}] {pos}/{len} channels settled",
            )
            .expect("a valid template")
            .progress_chars("=> ");
            let bar = self
                .multi
                .add(ProgressBar::new(channels as u64).with_style(style));
            bar.set_prefix("relayer");
            bar
        });
        bar.set_position(settled as u64);
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

    let engine = match args.engine {
        EngineArg::InProcess => Engine::InProcess,
        EngineArg::Libtorrent => Engine::Libtorrent(Libtorrent {
            bin: args
                .torrent_bin
                .clone()
                .unwrap_or_else(Libtorrent::default_bin),
            dir: state_dir.join("torrent"),
        }),
    };
    let file_len = args.file_kib * 1024;
    let piece_len = args.piece_kib * 1024;
    let pieces = file_len.div_ceil(piece_len);
    let price = TOKEN / 1_000; // 0.001 token per piece
    // Enough for every piece from one seeder, so no leecher ever needs a top-up.
    let deposit = price * pieces as u128;
    let config = DevnetConfig {
        anvil_bin: PathBuf::from(DEFAULT_BIN),
        port: 0,
        chain: ChainSpec {
            hardfork: args.hardfork.clone(),
            chain_id: args.chain_id,
        },
        state_dir,
        peers: args.seeders + args.leechers,
        leechers: args.leechers,
        tokens_per_peer: U256::from(deposit * args.seeders as u128 * 2),
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
    let env = Env {
        rpc_url: info.rpc_url.clone(),
        escrow: info.escrow,
        relayer_url: relayer.url.clone(),
        seeders: info
            .peers
            .iter()
            .filter(|p| p.role == "seeder")
            .map(|p| p.account.key)
            .collect(),
        leechers: info
            .peers
            .iter()
            .filter(|p| p.role == "leecher")
            .map(|p| p.account.key)
            .collect(),
    };
    let scenario = Scenario {
        file_len,
        piece_len,
        price,
        credit_pieces: 4,
        deposit,
        conduct: vec![Conduct::Pays; args.leechers],
        submit_every: 16,
        settle_timeout: Duration::from_secs(120),
        engine,
    };
    let mut bars = Bars::new(args.leechers);
    let outcome = run(&env, &scenario, &mut bars).await;
    bars.phase.finish_and_clear();
    devnet.shutdown().await;
    let outcome = outcome?;
    print!("{}", report::tables(&outcome));
    println!("{}", report::last_line(&outcome));
    Ok(outcome.onchain_matches)
}
