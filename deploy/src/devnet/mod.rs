//! A local devnet: anvil, the contracts deployed through [`deploy::run`], funded
//! accounts, and a relayer on SQLite.
//!
//! Account roles, all anvil dev accounts (well-known keys, devnet only): 0 deploys and holds the token
//! supply, 1 is the relayer's signer, 2… are the peers; the first `leechers` peers are leechers (they get
//! an escrow deposit when one is asked for), the rest seeders.

pub mod anvil;
pub mod fund;
pub mod process;
pub mod relayer;

use std::path::PathBuf;

use alloy::primitives::{Address, B256, U256};
use serde::Serialize;

pub use anvil::{Anvil, ChainSpec, DevAccount};
pub use relayer::Relayer;

use crate::{
    Error, Result, chain,
    deploy::{self, DeployRequest, Mode, TokenRequest},
    signer::KeySource,
};

/// The account index of the deployer and token holder.
const DEPLOYER: usize = 0;
/// The account index of the relayer's signer.
const RELAYER: usize = 1;
/// The first peer's account index.
const FIRST_PEER: usize = 2;

/// What to start.
#[derive(Clone, Debug)]
pub struct DevnetConfig {
    /// The anvil binary.
    pub anvil_bin: PathBuf,
    /// anvil's port on 127.0.0.1 (0: a free one).
    pub port: u16,
    /// The chain anvil simulates: hardfork and chain id.
    pub chain: ChainSpec,
    /// Where the anvil config, manifest and relayer files go.
    pub state_dir: PathBuf,
    /// How many peer accounts to fund.
    pub peers: usize,
    /// How many of them are leechers.
    pub leechers: usize,
    /// Tokens (base units) each peer receives.
    pub tokens_per_peer: U256,
    /// Tokens (base units) each leecher deposits into the escrow (zero: none).
    pub deposit: U256,
    /// The escrow's challenge window in seconds.
    pub challenge_period: u64,
    /// The relayer binary; `None`: no relayer.
    pub relayer_bin: Option<PathBuf>,
    /// Configuration overrides for the relayer, as environment variables
    /// (`PIECEPAY_RELAYER__BATCH__MAX_AGE_S` = `"60"`, …; `docs/relayer.md`).
    pub relayer_env: Vec<(String, String)>,
}

/// A running devnet; [`Devnet::shutdown`] stops it (dropping it kills the children).
#[derive(Debug)]
pub struct Devnet {
    anvil: Anvil,
    relayer: Option<Relayer>,
    /// How the relayer was started, to start it again.
    relayer_setup: Option<(relayer::RelayerSetup, crate::Manifest)>,
    info: DevnetInfo,
}

/// Everything a user of the devnet needs, as printed (JSON with `--json`).
#[derive(Clone, Debug, Serialize)]
pub struct DevnetInfo {
    /// anvil's JSON-RPC endpoint.
    pub rpc_url: String,
    /// The chain id (31337 unless another was asked for).
    pub chain_id: u64,
    /// The hardfork anvil runs.
    pub hardfork: String,
    /// The EVM version of the build deployed (`prague`: the current build, `berlin`: the legacy one).
    pub evm_version: String,
    /// The deployment manifest.
    pub manifest: PathBuf,
    /// The token.
    pub token: Address,
    /// The escrow.
    pub escrow: Address,
    /// The escrow's challenge window, seconds.
    pub challenge_period: u64,
    /// The deployer and token holder.
    pub deployer: Account,
    /// The relayer, if one runs.
    pub relayer: Option<RelayerInfo>,
    /// The funded peers.
    pub peers: Vec<Peer>,
    /// anvil's process id.
    pub anvil_pid: Option<u32>,
    /// The state directory.
    pub state_dir: PathBuf,
}

/// An account and its (devnet) key.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Account {
    /// Address.
    pub address: Address,
    /// Private key: anvil's well-known dev keys, never for real funds.
    pub key: B256,
}

/// The running relayer.
#[derive(Clone, Debug, Serialize)]
pub struct RelayerInfo {
    /// Its API.
    pub url: String,
    /// Its signer.
    pub account: Account,
    /// Its config file.
    pub config: PathBuf,
    /// Its log file.
    pub log: PathBuf,
    /// Its process id.
    pub pid: Option<u32>,
}

impl DevnetInfo {
    /// The accounts of the peers of `role` (`"seeder"` or `"leecher"`), in order.
    pub fn accounts<'a>(&'a self, role: &str) -> impl Iterator<Item = &'a Account> + use<'a> {
        let role = role.to_owned();
        self.peers
            .iter()
            .filter(move |p| p.role == role)
            .map(|p| &p.account)
    }
}

/// A funded peer.
#[derive(Clone, Debug, Serialize)]
pub struct Peer {
    /// `leecher` or `seeder`.
    pub role: &'static str,
    /// Its account.
    pub account: Account,
    /// Tokens in its wallet (base units, decimal).
    pub tokens: String,
    /// Its free balance in the escrow (base units, decimal).
    pub deposit: String,
}

impl Devnet {
    /// Starts anvil, deploys, funds, starts the relayer. On failure everything started is stopped.
    /// `progress` receives one line per step.
    pub async fn start(config: &DevnetConfig, progress: &mut dyn FnMut(&str)) -> Result<Self> {
        if config.leechers > config.peers {
            return Err(Error::InvalidInput(format!(
                "{} leechers asked among {} peers",
                config.leechers, config.peers
            )));
        }
        if config.deposit > config.tokens_per_peer {
            return Err(Error::InvalidInput(format!(
                "a deposit of {} exceeds the {} tokens each peer receives",
                config.deposit, config.tokens_per_peer
            )));
        }
        std::fs::create_dir_all(&config.state_dir)
            .map_err(|e| Error::io(format!("creating {}", config.state_dir.display()), e))?;
        let accounts = (FIRST_PEER + config.peers).max(10);
        let anvil = Anvil::start_chain(
            &config.anvil_bin,
            config.port,
            accounts,
            &config.state_dir,
            &config.chain,
        )
        .await?;
        progress(&format!(
            "anvil listening at {} (hardfork {}, chain id {})",
            anvil.url(),
            config.chain.hardfork,
            config.chain.chain_id
        ));
        let mut devnet = Self {
            info: DevnetInfo {
                rpc_url: anvil.url().to_owned(),
                chain_id: 0,
                hardfork: config.chain.hardfork.clone(),
                evm_version: String::new(),
                manifest: PathBuf::new(),
                token: Address::ZERO,
                escrow: Address::ZERO,
                challenge_period: config.challenge_period,
                deployer: account(&anvil, DEPLOYER),
                relayer: None,
                peers: Vec::new(),
                anvil_pid: anvil.pid(),
                state_dir: config.state_dir.clone(),
            },
            anvil,
            relayer: None,
            relayer_setup: None,
        };
        match devnet.bring_up(config, progress).await {
            Ok(()) => Ok(devnet),
            Err(e) => {
                devnet.shutdown().await;
                Err(e)
            }
        }
    }

    async fn bring_up(
        &mut self,
        config: &DevnetConfig,
        progress: &mut dyn FnMut(&str),
    ) -> Result<()> {
        let deployer = self.info.deployer;
        let request = DeployRequest {
            rpc_url: self.info.rpc_url.clone(),
            deployments_dir: config.state_dir.join("deployments"),
            // Unused: the deployer's signer is handed over directly.
            key: KeySource::Env(crate::signer::KEY_ENV.into()),
            token: TokenRequest::default(),
            challenge_period: Some(config.challenge_period),
            // A fresh anvil never has the deployment an old manifest in a reused state dir describes.
            mode: Mode::Replace,
            build: None,
            tx: chain::TxOptions::default(),
        };
        let signer = crate::signer::from_bytes(&deployer.key)?;
        // The deploy command's own code path, with the signer handed over instead of loaded.
        let outcome = deploy::run_with_signer(&request, signer.clone(), progress).await?;
        let manifest = outcome.manifest().clone();
        let manifest_path = crate::manifest::path(&request.deployments_dir, manifest.chain_id);
        self.info.chain_id = manifest.chain_id;
        self.info.evm_version = manifest.escrow.artifact.evm_version.clone();
        self.info.manifest = manifest_path.clone();
        self.info.token = manifest.token.address;
        self.info.escrow = manifest.escrow.address;

        let holder = chain::connect_signer(&self.info.rpc_url, signer).await?;
        // The funding transactions are priced the way the deployment's were.
        let tx = chain::TxOptions {
            legacy: chain::base_fee(&holder).await?.is_none(),
            ..chain::TxOptions::default()
        };
        for i in 0..config.peers {
            let account = account(&self.anvil, FIRST_PEER + i);
            let leecher = i < config.leechers;
            if !config.tokens_per_peer.is_zero() {
                fund::transfer(
                    &holder,
                    manifest.token.address,
                    account.address,
                    config.tokens_per_peer,
                    tx,
                )
                .await?;
            }
            let deposit = if leecher { config.deposit } else { U256::ZERO };
            if !deposit.is_zero() {
                fund::deposit(
                    &self.info.rpc_url,
                    &account.key,
                    manifest.token.address,
                    manifest.escrow.address,
                    deposit,
                    tx,
                )
                .await?;
            }
            self.info.peers.push(Peer {
                role: if leecher { "leecher" } else { "seeder" },
                account,
                tokens: (config.tokens_per_peer - deposit).to_string(),
                deposit: deposit.to_string(),
            });
        }
        progress(&format!("funded {} peers", config.peers));

        if let Some(bin) = &config.relayer_bin {
            let key = account(&self.anvil, RELAYER);
            let setup = relayer::RelayerSetup {
                bin: bin.clone(),
                dir: config.state_dir.join("relayer"),
                rpc_url: self.info.rpc_url.clone(),
                manifest_path,
                key: key.key,
                port: relayer::free_port()?,
                env: config.relayer_env.clone(),
            };
            progress(&format!("starting {}", bin.display()));
            let relayer = Relayer::start(&setup, &manifest).await?;
            self.info.relayer = Some(RelayerInfo {
                url: relayer.url.clone(),
                account: key,
                config: relayer.config.clone(),
                log: relayer.log.clone(),
                pid: relayer.pid(),
            });
            self.relayer = Some(relayer);
            self.relayer_setup = Some((setup, manifest));
        }
        Ok(())
    }

    /// Stops the relayer — gracefully, or with SIGKILL when `crash` (no shutdown path runs) — and starts
    /// it again on the same port, database and config; returns once it answers `/healthz`.
    pub async fn restart_relayer(&mut self, crash: bool) -> Result<()> {
        let (setup, manifest) = self
            .relayer_setup
            .as_ref()
            .ok_or_else(|| Error::Relayer("this devnet runs no relayer".into()))?;
        if let Some(old) = self.relayer.take() {
            if crash {
                old.kill().await;
            } else {
                old.stop().await;
            }
        }
        let relayer = Relayer::start(setup, manifest).await?;
        if let Some(info) = &mut self.info.relayer {
            info.pid = relayer.pid();
        }
        self.relayer = Some(relayer);
        Ok(())
    }

    /// Kills the relayer (SIGKILL) and leaves it down: its URL stops answering, as a relayer that is
    /// gone for good (the clients' configurations still name it).
    pub async fn kill_relayer(&mut self) {
        if let Some(relayer) = self.relayer.take() {
            relayer.kill().await;
        }
        if let Some(info) = &mut self.info.relayer {
            info.pid = None;
        }
    }

    /// What is running, for printing.
    pub fn info(&self) -> &DevnetInfo {
        &self.info
    }

    /// Resolves when a child exits on its own (a devnet that lost a part), naming it.
    pub async fn child_exited(&mut self) -> String {
        let relayer = async {
            match &mut self.relayer {
                Some(r) => r.wait().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            status = self.anvil.wait() => format!("anvil exited ({})", describe(status)),
            status = relayer => format!("the relayer exited ({})", describe(status)),
        }
    }

    /// Stops the relayer, then anvil (SIGTERM, then SIGKILL after a grace period), and reaps both.
    pub async fn shutdown(self) {
        if let Some(relayer) = self.relayer {
            relayer.stop().await;
        }
        self.anvil.stop().await;
    }
}

fn describe(status: Option<std::process::ExitStatus>) -> String {
    status.map_or_else(|| "status unknown".into(), |s| s.to_string())
}

fn account(anvil: &Anvil, index: usize) -> Account {
    let a = anvil.accounts()[index];
    Account {
        address: a.address,
        key: a.key,
    }
}
