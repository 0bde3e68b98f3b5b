//! A real devnet for the chain tests: anvil with the contracts deployed and accounts funded (the deploy
//! crate's `devnet`), the relayer binary as a child process on SQLite or PostgreSQL, and the SDK's chain
//! and relayer clients as the peers.

#![allow(dead_code, missing_docs)]

use std::{
    future::Future,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, mpsc},
    time::Duration,
};

use piecepay_deploy::devnet::{Devnet, DevnetConfig, DevnetInfo, anvil};
use piecepay_protocol::{
    Receipt, SigningKey,
    alloy_primitives::{Address, B256, U256, aliases::U96},
    domain,
    relayer_api::{ReceiptResult, ReceiptSubmission, SubmitReceiptsRequest},
};
use piecepay_relayer::test_support::{PostgresServer, TempDir};
use piecepay_relayer_chain::alloy::{
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::Filter,
    sol_types::SolEvent,
};
use piecepay_sdk::{
    chain::{ChainClient, bindings::ChannelEscrow},
    relayer_client::{RelayerClient, RelayerClientConfig},
};
use serde_json::{Value, json};

/// The relayer's submitting key (devnet only).
pub const RELAYER_KEY: B256 = B256::repeat_byte(0x77);
/// Every payer's free balance in the escrow.
pub const DEPOSIT: u128 = 10_000_000;

/// Which database the relayer runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// anvil + contracts + funded peers (`payers` leechers with [`DEPOSIT`] in the escrow, then one payee),
/// mining a block every second.
pub struct Net {
    devnet: Option<Devnet>,
    pub info: DevnetInfo,
    pub dir: TempDir,
    pub provider: DynProvider,
    pub chain_id: u64,
    postgres: Option<Arc<PostgresServer>>,
}

impl Net {
    pub async fn start(payers: usize, challenge_period: u64) -> Self {
        let dir = TempDir::new("piecepay-settle").unwrap();
        let config = DevnetConfig {
            anvil_bin: PathBuf::from(anvil::DEFAULT_BIN),
            port: 0,
            state_dir: dir.path().join("devnet"),
            peers: payers + 1,
            leechers: payers,
            tokens_per_peer: U256::from(DEPOSIT * 2),
            deposit: U256::from(DEPOSIT),
            challenge_period,
            relayer_bin: None,
            relayer_env: Vec::new(),
        };
        let devnet = Devnet::start(&config, &mut |_| {})
            .await
            .expect("devnet starts");
        let info = devnet.info().clone();
        let provider = ProviderBuilder::default()
            .connect(&info.rpc_url)
            .await
            .unwrap()
            .erased();
        let net = Self {
            devnet: Some(devnet),
            chain_id: info.chain_id,
            info,
            dir,
            provider,
            postgres: None,
        };
        let relayer = SigningKey::from_bytes(&RELAYER_KEY).unwrap().address();
        net.rpc(
            "anvil_setBalance",
            json!([relayer, U256::from(10u128.pow(20))]),
        )
        .await;
        // Blocks keep coming, so events and transactions get their confirmations.
        net.rpc("evm_setIntervalMining", json!([1])).await;
        net
    }

    pub async fn rpc(&self, method: &'static str, params: Value) -> Value {
        self.provider
            .raw_request::<Value, Value>(method.into(), params)
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    /// The payers' keys.
    pub fn payers(&self) -> Vec<B256> {
        self.info
            .peers
            .iter()
            .filter(|p| p.role == "leecher")
            .map(|p| p.account.key)
            .collect()
    }

    /// The payee's key.
    pub fn payee(&self) -> B256 {
        self.info
            .peers
            .iter()
            .find(|p| p.role == "seeder")
            .unwrap()
            .account
            .key
    }

    pub fn relayer_address(&self) -> Address {
        SigningKey::from_bytes(&RELAYER_KEY).unwrap().address()
    }

    pub async fn client(&self, key: &B256) -> ChainClient {
        ChainClient::connect(&self.info.rpc_url, key, self.info.escrow)
            .await
            .unwrap()
    }

    /// A database URL for a relayer on `engine` (a fresh database; the same one for every call on this
    /// net with the same `name`).
    pub fn database_url(&mut self, engine: Engine, name: &str) -> String {
        match engine {
            Engine::Sqlite => self.dir.sqlite_url(&format!("{name}.db")),
            Engine::Postgres => {
                let server = self
                    .postgres
                    .get_or_insert_with(|| PostgresServer::shared().unwrap());
                server.fresh_database().unwrap()
            }
        }
    }

    /// A relayer config on `database_url`; `batch` is the body of its `[batch]` section.
    pub fn relayer_config(&self, database_url: &str, batch: &str) -> PathBuf {
        let key_file = self.dir.path().join("relayer.key");
        std::fs::write(&key_file, format!("{RELAYER_KEY}\n")).unwrap();
        let path = self.dir.path().join("relayer.toml");
        let text = format!(
            "[chain]\nrpc_url = \"{rpc}\"\nmanifest = \"{manifest}\"\nconfirmations = 1\n\
             poll_interval_ms = 200\n\
             [signer]\nkey_file = \"{key}\"\n\
             [database]\nurl = \"{database_url}\"\n\
             [api]\nlisten = \"127.0.0.1:0\"\nrate_limit_per_second = 0\n\
             [batch]\ninterval_ms = 300\n{batch}\n",
            rpc = self.info.rpc_url,
            manifest = self.info.manifest.display(),
            key = key_file.display(),
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Signs a receipt of `payer` for `payee`'s channel `salt` at `cumulative`.
    pub fn receipt(
        &self,
        payer: &B256,
        payee: Address,
        salt: u32,
        cumulative: u128,
    ) -> ReceiptSubmission {
        let key = SigningKey::from_bytes(payer).unwrap();
        let receipt = Receipt {
            payee,
            salt,
            cumulative: U96::from(cumulative),
        };
        let digest = piecepay_protocol::SolStruct::eip712_signing_hash(
            &receipt,
            &domain(self.chain_id, self.info.escrow),
        );
        ReceiptSubmission::new(&receipt, &key.sign_digest(&digest).unwrap())
    }

    /// `ReceiptsSettled` entries for `channel` and `ReceiptSkipped` logs, on the canonical chain.
    pub async fn settle_logs(&self, channel: B256) -> (Vec<u128>, usize) {
        let filter = Filter::new().address(self.info.escrow).from_block(0);
        let logs = self.provider.get_logs(&filter).await.unwrap();
        let mut settled = Vec::new();
        let mut skipped = 0;
        for log in &logs {
            if let Ok(e) = ChannelEscrow::ReceiptsSettled::decode_log(&log.inner) {
                settled.extend(
                    e.data
                        .settlements
                        .iter()
                        .filter(|s| s.channelId == channel)
                        .map(|s| s.settled.to::<u128>()),
                );
            }
            if ChannelEscrow::ReceiptSkipped::decode_log(&log.inner).is_ok() {
                skipped += 1;
            }
        }
        (settled, skipped)
    }

    /// How many transactions the relayer's key has had mined.
    pub async fn relayer_transactions(&self) -> u64 {
        self.provider
            .get_transaction_count(self.relayer_address())
            .latest()
            .await
            .unwrap()
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        // Dropping the devnet kills anvil (kill_on_drop).
        drop(self.devnet.take());
    }
}

/// A `piecepay-relayer run` child; SIGKILLed on drop.
pub struct RelayerProcess {
    child: Child,
    pub base: String,
    pub log: PathBuf,
    pub stdout: mpsc::Receiver<String>,
}

impl RelayerProcess {
    pub fn start(config: &Path, log: &Path, env: &[(&str, &str)]) -> Self {
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_piecepay-relayer"))
            .args(["run", "--config"])
            .arg(config)
            .env("RUST_LOG", "info,sqlx=warn")
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("the relayer did not start; log {}", log.display()));
        let address = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Self {
            child,
            base: format!("http://{address}"),
            log: log.to_path_buf(),
            stdout: rx,
        }
    }

    pub fn client(&self) -> RelayerClient {
        RelayerClient::new(RelayerClientConfig::new(self.base.clone())).unwrap()
    }

    /// SIGKILL, and reap it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Submits receipts and checks each was accepted (held).
    pub async fn submit(&self, net: &Net, receipts: Vec<ReceiptSubmission>) {
        let request = SubmitReceiptsRequest::new(net.chain_id, net.info.escrow, receipts);
        let response = self.client().submit_receipts(&request).await.unwrap();
        for result in &response.results {
            assert!(
                matches!(result, ReceiptResult::Accepted(_)),
                "not accepted: {result:?}"
            );
        }
    }
}

impl Drop for RelayerProcess {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            eprintln!(
                "--- relayer log (last lines) ---\n{}",
                lines[lines.len().saturating_sub(60)..].join("\n")
            );
        }
    }
}

/// Polls `check` every 100 ms until it returns `Some`, for at most `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
