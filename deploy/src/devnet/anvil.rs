//! A local anvil on 127.0.0.1, with its dev accounts read from its `--config-out` file.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use alloy::primitives::{Address, B256};
use serde::Deserialize;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
    sync::oneshot,
};

use super::process;
use crate::{Error, Result};

/// The anvil of the pinned npm Foundry toolchain (`make setup`), in this repository.
pub const DEFAULT_BIN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
);

/// How long anvil gets to report its address.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The chain a devnet's anvil simulates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainSpec {
    /// The hardfork whose EVM and transaction rules it runs, by anvil's name (`berlin`, `london`,
    /// `shanghai`, `cancun`, `prague`, …; before London there is no base fee and only legacy
    /// transactions are taken).
    pub hardfork: String,
    /// Its EIP-155 chain id.
    pub chain_id: u64,
}

impl Default for ChainSpec {
    /// What Ethereum runs, with anvil's own chain id: prague, 31337.
    fn default() -> Self {
        Self {
            hardfork: "prague".into(),
            chain_id: 31_337,
        }
    }
}

/// One of anvil's dev accounts (the well-known keys of its default mnemonic: devnet use only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DevAccount {
    /// Its address.
    pub address: Address,
    /// Its private key.
    pub key: B256,
}

/// A running anvil; killed when dropped, stopped gracefully by [`Anvil::stop`].
#[derive(Debug)]
pub struct Anvil {
    child: Child,
    url: String,
    accounts: Vec<DevAccount>,
}

impl Anvil {
    /// Starts `bin` on 127.0.0.1 at `port` (0: a free port anvil picks) with `accounts` dev accounts,
    /// writing its config (accounts and keys) into `state_dir`; returns once it listens. The chain is
    /// [`ChainSpec::default`]: prague, chain id 31337.
    pub async fn start(bin: &Path, port: u16, accounts: usize, state_dir: &Path) -> Result<Self> {
        Self::start_chain(bin, port, accounts, state_dir, &ChainSpec::default()).await
    }

    /// [`Anvil::start`] running the EVM of `hardfork` (`berlin`, `shanghai`, `cancun`, `prague`, …) with
    /// anvil's chain id.
    pub async fn start_with_hardfork(
        bin: &Path,
        port: u16,
        accounts: usize,
        state_dir: &Path,
        hardfork: &str,
    ) -> Result<Self> {
        let spec = ChainSpec {
            hardfork: hardfork.into(),
            ..ChainSpec::default()
        };
        Self::start_chain(bin, port, accounts, state_dir, &spec).await
    }

    /// [`Anvil::start`] simulating the chain `spec` (another hardfork's EVM, another chain id).
    pub async fn start_chain(
        bin: &Path,
        port: u16,
        accounts: usize,
        state_dir: &Path,
        spec: &ChainSpec,
    ) -> Result<Self> {
        if !bin.is_file() {
            return Err(Error::Anvil(format!(
                "not found at {}: run `make setup` (it installs the pinned Foundry toolchain from npm), or \
                 pass its path",
                bin.display()
            )));
        }
        std::fs::create_dir_all(state_dir)
            .map_err(|e| Error::Anvil(format!("cannot create {}: {e}", state_dir.display())))?;
        let config_out = state_dir.join("anvil.json");
        let mut child = Command::new(bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args([
                "--accounts",
                &accounts.to_string(),
                "--hardfork",
                &spec.hardfork,
            ])
            .args(["--chain-id", &spec.chain_id.to_string()])
            .arg("--config-out")
            .arg(&config_out)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            // Its own process group: a terminal's Ctrl-C reaches only the devnet, which stops it in order.
            .process_group(0)
            .spawn()
            .map_err(|e| Error::Anvil(format!("cannot start {}: {e}", bin.display())))?;

        let (address_tx, address_rx) = oneshot::channel();
        let stdout = child.stdout.take().expect("stdout is piped");
        // Reads anvil's log to the end, so a full pipe never blocks it.
        tokio::spawn(async move {
            let mut address_tx = Some(address_tx);
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(address) = line.strip_prefix("Listening on ")
                    && let Some(tx) = address_tx.take()
                {
                    let _ = tx.send(address.trim().to_owned());
                }
            }
        });
        let stderr = child.stderr.take().expect("stderr is piped");
        let stderr_tail = tokio::spawn(async move {
            let mut tail = Vec::new();
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if tail.len() == 20 {
                    tail.remove(0);
                }
                tail.push(line);
            }
            tail.join("\n")
        });

        let address = match tokio::time::timeout(START_TIMEOUT, address_rx).await {
            Ok(Ok(address)) => address,
            Ok(Err(_)) => {
                let status = child.wait().await.ok();
                let tail = stderr_tail.await.unwrap_or_default();
                return Err(Error::Anvil(format!(
                    "exited before listening ({}): {tail}",
                    status.map_or("unknown status".into(), |s| s.to_string())
                )));
            }
            Err(_) => {
                process::stop(&mut child, process::GRACE).await;
                return Err(Error::Anvil(format!(
                    "did not report its address within {} s",
                    START_TIMEOUT.as_secs()
                )));
            }
        };
        let accounts = read_accounts(&config_out)?;
        Ok(Self {
            child,
            url: format!("http://{address}"),
            accounts,
        })
    }

    /// Its JSON-RPC endpoint, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its dev accounts, funded with ETH, in anvil's order.
    pub fn accounts(&self) -> &[DevAccount] {
        &self.accounts
    }

    /// Its process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Whether it has exited (and how), without waiting.
    pub fn try_exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits until it exits on its own.
    pub async fn wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.wait().await.ok()
    }

    /// Stops it (SIGTERM, then SIGKILL after a grace period) and reaps it.
    pub async fn stop(mut self) {
        process::stop(&mut self.child, process::GRACE).await;
    }
}

#[derive(Deserialize)]
struct ConfigOut {
    available_accounts: Vec<Address>,
    private_keys: Vec<B256>,
}

fn read_accounts(path: &PathBuf) -> Result<Vec<DevAccount>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Anvil(format!("cannot read its config {}: {e}", path.display())))?;
    let config: ConfigOut = serde_json::from_str(&text)
        .map_err(|e| Error::Anvil(format!("unexpected config {}: {e}", path.display())))?;
    if config.available_accounts.len() != config.private_keys.len() {
        return Err(Error::Anvil(format!(
            "config {} lists {} accounts but {} keys",
            path.display(),
            config.available_accounts.len(),
            config.private_keys.len()
        )));
    }
    Ok(config
        .available_accounts
        .into_iter()
        .zip(config.private_keys)
        .map(|(address, key)| DevAccount { address, key })
        .collect())
}
