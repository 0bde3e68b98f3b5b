//! `piecepay-devnet`: a local chain for development — anvil on 127.0.0.1, the token and escrow deployed
//! through the deploy command's code, funded peer accounts, a relayer on SQLite — until Ctrl-C or
//! SIGTERM, when every child is stopped and reaped. See docs/deploy.md.

use std::{path::PathBuf, process::ExitCode};

use alloy::primitives::U256;
use anyhow::Context as _;
use clap::Parser;
use piecepay_deploy::devnet::{ChainSpec, Devnet, DevnetConfig, DevnetInfo, anvil, relayer};
use tokio::signal::unix::{SignalKind, signal};

/// Starts a local piecepay devnet and keeps it running until Ctrl-C or SIGTERM. The keys it prints are
/// anvil's well-known development keys: never use them for real funds.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    /// anvil's port on 127.0.0.1 (0: a free port).
    #[arg(long, default_value_t = 8545)]
    port: u16,

    /// The hardfork whose EVM and transaction rules anvil runs (`berlin`, `london`, `shanghai`,
    /// `cancun`, `prague`, …). Before Cancun the legacy build of the contracts is deployed, before
    /// London every transaction is a legacy (gasPrice) one.
    #[arg(long, default_value_t = ChainSpec::default().hardfork)]
    hardfork: String,

    /// The chain id anvil reports (e.g. 1029 to stand in for BTTC's Donau testnet).
    #[arg(long, default_value_t = ChainSpec::default().chain_id)]
    chain_id: u64,

    /// The anvil binary.
    #[arg(long, env = "PIECEPAY_ANVIL", default_value = anvil::DEFAULT_BIN)]
    anvil: PathBuf,

    /// Peer accounts to fund with tokens.
    #[arg(long, default_value_t = 4)]
    peers: usize,

    /// How many of the peers are leechers (they get the --deposit); the rest are seeders.
    #[arg(long, default_value_t = 2)]
    leechers: usize,

    /// Tokens each peer receives, in whole tokens (18 decimals).
    #[arg(long, default_value_t = 1_000)]
    tokens: u64,

    /// Tokens each leecher deposits into the escrow from its funds, in whole tokens (0: no deposit).
    #[arg(long, default_value_t = 0)]
    deposit: u64,

    /// The escrow's challenge window, seconds.
    #[arg(long, default_value_t = 3_600)]
    challenge_period: u64,

    /// Do not start a relayer.
    #[arg(long)]
    no_relayer: bool,

    /// The relayer binary (default: next to this binary, then on PATH).
    #[arg(long, env = "PIECEPAY_RELAYER_BIN")]
    relayer_bin: Option<PathBuf>,

    /// Directory for the manifest, anvil's config and the relayer's files; kept at exit. Default: a
    /// temporary directory removed at exit.
    #[arg(long)]
    state_dir: Option<PathBuf>,

    /// Print what is running as one JSON line on stdout instead of text.
    #[arg(long)]
    json: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    piecepay_deploy::exit_code(run(Cli::parse()).await)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // Installed first, so a signal during start-up is not lost: it is handled once start-up returns.
    let mut sigterm = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut sigint = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;

    let (state_dir, temporary) = match &cli.state_dir {
        Some(dir) => (dir.clone(), false),
        None => (
            std::env::temp_dir().join(format!("piecepay-devnet-{}", std::process::id())),
            true,
        ),
    };
    let relayer_bin = if cli.no_relayer {
        None
    } else {
        let found = relayer::find_binary(cli.relayer_bin.as_deref());
        if found.is_none() {
            eprintln!(
                "warning: {} not found ({}); continuing without a relayer. Build it with `cargo build -p \
                 piecepay-relayer`, point --relayer-bin at it, or pass --no-relayer.",
                relayer::BIN_NAME,
                cli.relayer_bin.as_ref().map_or_else(
                    || "looked next to this binary and on PATH".to_owned(),
                    |p| format!("no file at {}", p.display())
                ),
            );
        }
        found
    };
    let whole = |tokens: u64| U256::from(tokens) * U256::from(10u64).pow(U256::from(18));
    let config = DevnetConfig {
        anvil_bin: cli.anvil,
        port: cli.port,
        chain: ChainSpec {
            hardfork: cli.hardfork,
            chain_id: cli.chain_id,
        },
        state_dir: state_dir.clone(),
        peers: cli.peers,
        leechers: cli.leechers.min(cli.peers),
        tokens_per_peer: whole(cli.tokens),
        deposit: whole(cli.deposit),
        challenge_period: cli.challenge_period,
        relayer_bin,
        relayer_env: Vec::new(),
    };

    let mut progress = |line: &str| eprintln!("{line}");
    let started = tokio::select! {
        started = Devnet::start(&config, &mut progress) => Some(started),
        // Start-up is abandoned: dropping its future kills the children it spawned (kill_on_drop).
        _ = sigint.recv() => None,
        _ = sigterm.recv() => None,
    };
    let mut devnet = match started {
        Some(Ok(devnet)) => devnet,
        Some(Err(e)) => {
            cleanup(&state_dir, temporary);
            return Err(e.into());
        }
        None => {
            cleanup(&state_dir, temporary);
            eprintln!("interrupted during start-up");
            return Ok(());
        }
    };
    if cli.json {
        println!(
            "{}",
            serde_json::to_string(devnet.info()).context("serializing the devnet's description")?
        );
    } else {
        print_info(devnet.info());
    }

    let lost = tokio::select! {
        _ = sigint.recv() => None,
        _ = sigterm.recv() => None,
        lost = devnet.child_exited() => Some(lost),
    };
    eprintln!("stopping the devnet");
    devnet.shutdown().await;
    cleanup(&state_dir, temporary);
    match lost {
        Some(what) => anyhow::bail!("{what}; the devnet was stopped"),
        None => Ok(()),
    }
}

fn cleanup(dir: &std::path::Path, temporary: bool) {
    if temporary {
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn print_info(info: &DevnetInfo) {
    println!(
        "piecepay devnet (chain {}, {}, evm_version {}) — Ctrl-C stops it",
        info.chain_id, info.hardfork, info.evm_version
    );
    println!("  rpc       {}", info.rpc_url);
    println!("  token     {}", info.token);
    println!(
        "  escrow    {} (challenge period {} s)",
        info.escrow, info.challenge_period
    );
    println!("  manifest  {}", info.manifest.display());
    match &info.relayer {
        Some(r) => {
            println!(
                "  relayer   {} (signer {}, log {})",
                r.url,
                r.account.address,
                r.log.display()
            );
        }
        None => println!("  relayer   none"),
    }
    println!("accounts (anvil's well-known dev keys — never use them for real funds):");
    println!(
        "  deployer  {}  key {}  (token holder)",
        info.deployer.address, info.deployer.key
    );
    if let Some(r) = &info.relayer {
        println!("  relayer   {}  key {}", r.account.address, r.account.key);
    }
    for peer in &info.peers {
        println!(
            "  {:<8}  {}  key {}  tokens {}  escrow {}",
            peer.role, peer.account.address, peer.account.key, peer.tokens, peer.deposit
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
