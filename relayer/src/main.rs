//! `piecepay-relayer`: the relayer node's command line.
//!
//! ```text
//! piecepay-relayer run --config relayer.toml     serve the API; lead (index, settle, submit) when elected
//! piecepay-relayer migrate --config relayer.toml apply the database migrations and exit
//! ```
//!
//! The configuration is the TOML file with `PIECEPAY_RELAYER__SECTION__KEY` environment overrides
//! (`docs/relayer.md`). Logs go to stderr (`RUST_LOG` filters them, default `info`). Once serving,
//! the node prints `listening on <address>` on stdout, so a supervisor that asked for port 0 learns the
//! port.

use std::{io::Write as _, path::PathBuf};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use piecepay_relayer::{Config, Store};
use tracing_subscriber::EnvFilter;

/// piecepay's relayer node: verifies receipts, keeps them durably and settles them in batches.
#[derive(Debug, Parser)]
#[command(name = "piecepay-relayer", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API; run the indexer, batcher and submitter while this node is the leader.
    Run {
        /// The configuration file (TOML).
        #[arg(long, short, default_value = "relayer.toml")]
        config: PathBuf,
    },
    /// Apply the database migrations and exit.
    Migrate {
        /// The configuration file (TOML); only `[database]` is used.
        #[arg(long, short, default_value = "relayer.toml")]
        config: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        match cli.command {
            Command::Run { config } => run(config).await,
            Command::Migrate { config } => migrate(config).await,
        }
    })
}

async fn run(path: PathBuf) -> anyhow::Result<()> {
    let settings =
        Config::load(&path, std::env::vars())?.resolve(|name| std::env::var(name).ok())?;
    let listener = tokio::net::TcpListener::bind(settings.config.api.listen)
        .await
        .with_context(|| format!("binding {}", settings.config.api.listen))?;
    let address = listener.local_addr()?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on {address}")?;
        stdout.flush()?;
    }
    piecepay_relayer::run(listener, settings, shutdown_signal()).await?;
    Ok(())
}

async fn migrate(path: PathBuf) -> anyhow::Result<()> {
    let config = Config::load(&path, std::env::vars())?;
    let store = Store::connect(&config.database.url, 1).await?;
    store.migrate().await?;
    store.close().await;
    tracing::info!(database = store.backend().as_str(), "migrations applied");
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
