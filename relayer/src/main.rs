//! `piecepay-relayer`: the relayer node's command line.
//!
//! ```text
//! piecepay-relayer run --config relayer.toml     check, then serve the API; lead (index, settle, submit) when elected
//! piecepay-relayer migrate --config relayer.toml apply the database migrations and exit
//! piecepay-relayer openapi                       print the API's OpenAPI document
//! ```
//!
//! The configuration is the TOML file with `PIECEPAY_RELAYER__SECTION__KEY` environment overrides
//! (`docs/relayer.md`). Logs go to stderr (`RUST_LOG` filters them, default `info`), as text (coloured
//! only on a terminal) or one JSON object per line (`--log-format json`). `run` checks the database and
//! the chain first; once serving, it prints `listening on <address>` on stdout, so a supervisor that
//! asked for port 0 learns the port. A failure is one line on stderr, `error[<code>]: <message>`, and
//! exit status 1.

use std::{
    io::{IsTerminal as _, Write as _},
    path::PathBuf,
    process::ExitCode,
};

use clap::{Parser, Subcommand, ValueEnum};
use piecepay_relayer::{Config, Error, Node, Store};
use tracing_subscriber::EnvFilter;

/// piecepay's relayer node: verifies receipts, keeps them durably and settles them in batches.
#[derive(Debug, Parser)]
#[command(name = "piecepay-relayer", version, about)]
struct Cli {
    /// How log lines are written to stderr.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t = LogFormat::Text,
        env = "PIECEPAY_RELAYER_LOG_FORMAT"
    )]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    /// Human-readable lines; coloured only when stderr is a terminal (and `NO_COLOR` is unset).
    Text,
    /// One JSON object per line (`timestamp`, `level`, `fields`, `target`, spans), for log collectors.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check the database and the chain, then serve the HTTP API; run the indexer, batcher and submitter
    /// while this node is the leader.
    Run {
        /// The configuration file (TOML); relative paths in it are relative to its directory.
        #[arg(long, short, default_value = "relayer.toml")]
        config: PathBuf,
    },
    /// Apply the database migrations and exit. The configuration must be complete (it is checked as
    /// for `run`, except that the signer key is not read).
    Migrate {
        /// The configuration file (TOML).
        #[arg(long, short, default_value = "relayer.toml")]
        config: PathBuf,
    },
    /// Print the API's OpenAPI 3.1 document (what `GET /v1/openapi.json` serves) and exit.
    Openapi,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&Error::Io(error)),
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run { config } => run(config).await,
            Command::Migrate { config } => migrate(config).await,
            Command::Openapi => {
                let mut stdout = std::io::stdout().lock();
                stdout.write_all(piecepay_relayer::api::openapi::pretty().as_bytes())?;
                Ok(stdout.flush()?)
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

/// One line, `error[<code>]: <message>`, on stderr (a message that spans lines, as TOML's do, is joined);
/// exit status 1. A closed stderr is no reason to panic: the status still says it failed.
fn fail(error: &Error) -> ExitCode {
    let message = error.to_string();
    let line: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let _ = writeln!(
        std::io::stderr(),
        "error[{}]: {}",
        error.code(),
        line.join(" ")
    );
    ExitCode::FAILURE
}

fn init_logs(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => logs.json().init(),
        LogFormat::Text => {
            let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            logs.with_ansi(colour).init();
        }
    }
}

async fn run(path: PathBuf) -> Result<(), Error> {
    let settings =
        Config::load(&path, std::env::vars())?.resolve(|name| std::env::var(name).ok())?;
    let listen = settings.config.api.listen;
    let node = Node::start(settings).await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Error::Config(format!("api.listen {listen}: cannot bind it ({e})")))?;
    let address = listener.local_addr()?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on {address}")?;
        stdout.flush()?;
    }
    node.serve(listener, shutdown_signal()).await
}

async fn migrate(path: PathBuf) -> Result<(), Error> {
    let settings = Config::load(&path, std::env::vars())?.resolve_without_signer()?;
    let database = &settings.config.database;
    let store =
        Store::connect_with(&database.url, 1, settings.config.tls.ca_file.as_deref()).await?;
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
