//! A real devnet for the chain tests: anvil with the contracts deployed and accounts funded (the deploy
//! crate's `devnet`), the relayer binary as a child process on SQLite or PostgreSQL, and the SDK's chain
//! and relayer clients as the peers.

#![allow(dead_code, missing_docs)]

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use piecepay_deploy::devnet::{ChainSpec, Devnet, DevnetConfig, DevnetInfo};
use piecepay_protocol::{
    CompactSignature, OpenChannel, Receipt, SigningKey, SolStruct,
    alloy_primitives::{
        Address, B256, U256,
        aliases::{U40, U96},
    },
    domain,
    relayer_api::{
        Operation, OperationResult, OperationState, ReceiptResult, ReceiptSubmission,
        SubmitReceiptsRequest,
    },
    settle_batch::SettledGroup,
};
use piecepay_relayer_chain::alloy::{
    providers::{DynProvider, Provider},
    rpc::types::Filter,
    sol_types::SolEvent,
};
use piecepay_sdk::{
    chain::{ChainClient, bindings::ChannelEscrow},
    relayer_client::{RelayerClient, RelayerClientConfig},
};
use piecepay_test_support::{
    TempDir,
    chain::{devnet_config, provider},
    postgres::PostgresServer,
    relayer::{Relayer, RelayerCommand},
    sqlite_url, temp_dir,
};
pub(crate) use piecepay_test_support::{keys::RELAYER_KEY, wait_for};
use serde_json::{Value, json};

/// Every payer's free balance in the escrow.
pub(crate) const DEPOSIT: u128 = 10_000_000;

/// Which database the relayer runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Engine {
    Sqlite,
    Postgres,
}

/// anvil + contracts + funded peers (`payers` leechers with [`DEPOSIT`] in the escrow, then one payee),
/// mining a block every second.
pub(crate) struct Net {
    devnet: Option<Devnet>,
    pub info: DevnetInfo,
    pub dir: TempDir,
    pub provider: DynProvider,
    pub chain_id: u64,
    postgres: Option<Arc<PostgresServer>>,
}

impl Net {
    pub(crate) async fn start(payers: usize, challenge_period: u64) -> Self {
        Self::start_chain(payers, challenge_period, ChainSpec::default()).await
    }

    /// [`start`](Self::start) on anvil simulating `chain` (hardfork, chain id).
    pub(crate) async fn start_chain(
        payers: usize,
        challenge_period: u64,
        chain: ChainSpec,
    ) -> Self {
        let dir = temp_dir();
        let config = DevnetConfig {
            chain,
            peers: payers + 1,
            leechers: payers,
            tokens_per_peer: U256::from(DEPOSIT * 2),
            deposit: U256::from(DEPOSIT),
            challenge_period,
            ..devnet_config(&dir.path().join("devnet"))
        };
        let devnet = Devnet::start(&config, &mut |_| {})
            .await
            .expect("devnet starts");
        let info = devnet.info().clone();
        let provider = provider(&info.rpc_url).await;
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

    pub(crate) async fn rpc(&self, method: &'static str, params: Value) -> Value {
        self.provider
            .raw_request::<Value, Value>(method.into(), params)
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    /// The payers' keys.
    pub(crate) fn payers(&self) -> Vec<B256> {
        self.info.accounts("leecher").map(|a| a.key).collect()
    }

    /// The payee's key.
    pub(crate) fn payee(&self) -> B256 {
        self.info.accounts("seeder").next().unwrap().key
    }

    pub(crate) fn relayer_address(&self) -> Address {
        SigningKey::from_bytes(&RELAYER_KEY).unwrap().address()
    }

    pub(crate) async fn client(&self, key: &B256) -> ChainClient {
        ChainClient::connect(&self.info.rpc_url, key, self.info.escrow)
            .await
            .unwrap()
    }

    /// A database URL for a relayer on `engine` (a fresh database; the same one for every call on this
    /// net with the same `name`).
    pub(crate) fn database_url(&mut self, engine: Engine, name: &str) -> String {
        match engine {
            Engine::Sqlite => sqlite_url(self.dir.path(), &format!("{name}.db")),
            Engine::Postgres => {
                let server = self
                    .postgres
                    .get_or_insert_with(|| PostgresServer::shared().unwrap());
                server.fresh_database().unwrap()
            }
        }
    }

    /// A relayer config on `database_url`; `batch` is the body of its `[batch]` section.
    pub(crate) fn relayer_config(&self, database_url: &str, batch: &str) -> PathBuf {
        let key_file = self.dir.path().join("relayer.key");
        std::fs::write(&key_file, format!("{RELAYER_KEY}\n")).unwrap();
        let path = self.dir.path().join("relayer.toml");
        let text = format!(
            "[chain]\nrpc_url = \"{rpc}\"\nmanifest = \"{manifest}\"\nconfirmations = 1\n\
             poll_interval_ms = 200\nmonitor_interval_ms = 500\n\
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
    pub(crate) fn receipt(
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
        let digest = receipt.eip712_signing_hash(&domain(self.chain_id, self.info.escrow));
        ReceiptSubmission::new(&receipt, &key.sign_digest(&digest).unwrap())
    }

    /// `ReceiptsSettled` entries for `channel` and `ReceiptSkipped` logs, on the canonical chain.
    pub(crate) async fn settle_logs(&self, channel: B256) -> (Vec<u128>, usize) {
        let filter = Filter::new().address(self.info.escrow).from_block(0);
        let logs = self.provider.get_logs(&filter).await.unwrap();
        let mut settled = Vec::new();
        let mut skipped = 0;
        for log in &logs {
            if let Ok(e) = ChannelEscrow::ReceiptsSettled::decode_log(&log.inner) {
                for group in SettledGroup::decode_all(&e.data.settlements).unwrap() {
                    settled.extend(
                        group
                            .channels()
                            .filter(|c| c.channel_id == channel)
                            .map(|c| c.settled),
                    );
                }
            }
            if ChannelEscrow::ReceiptSkipped::decode_log(&log.inner).is_ok() {
                skipped += 1;
            }
        }
        (settled, skipped)
    }

    /// `message` signed by `key` in the escrow's domain.
    pub(crate) fn sign<T: SolStruct>(&self, key: &B256, message: &T) -> CompactSignature {
        let digest = message.eip712_signing_hash(&domain(self.chain_id, self.info.escrow));
        SigningKey::from_bytes(key)
            .unwrap()
            .sign_digest(&digest)
            .unwrap()
    }

    /// A gasless open from `payer` to `payee` (deposit 500,000), signed.
    pub(crate) fn signed_open(
        &self,
        payer: &B256,
        payee: Address,
        salt: u32,
        fee: u64,
        deadline: u64,
    ) -> Operation {
        let message = OpenChannel {
            payee,
            salt,
            deposit: U96::from(500_000u64),
            fee: U96::from(fee),
            relayer: Address::ZERO,
            channelNonce: 0,
            deadline: U40::from(deadline),
        };
        Operation::Open {
            payer: SigningKey::from_bytes(payer).unwrap().address(),
            signature: self.sign(payer, &message),
            message,
        }
    }

    /// How many transactions the relayer's key has had mined.
    pub(crate) async fn relayer_transactions(&self) -> u64 {
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

/// Writes `<dir>/<name>.toml`, an API-only node (no chain endpoint) on `database_url` listening on a
/// free port, with `extra` appended after its `[api]` section's `listen`; returns its path.
pub(crate) fn api_only_config(dir: &Path, name: &str, database_url: &str, extra: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "[chain]\nchain_id = 31337\nescrow = \"0xE5e5E5E5e5e5E5E5E5E5e5E5e5e5e5E5e5e5e5e5\"\n\
             [database]\nurl = \"{database_url}\"\n[api]\nlisten = \"127.0.0.1:0\"\n{extra}"
        ),
    )
    .unwrap();
    path
}

/// A `piecepay-relayer run` child logging to a file; SIGKILLed on drop (its log's tail printed if the
/// test panics).
pub(crate) struct RelayerProcess {
    relayer: Relayer,
    /// Its API, `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its log file.
    pub log: PathBuf,
}

impl RelayerProcess {
    pub(crate) fn start(config: &Path, log: &Path, env: &[(&str, &str)]) -> Self {
        let command = RelayerCommand::new(env!("CARGO_BIN_EXE_piecepay-relayer"), config)
            .env("RUST_LOG", "info,sqlx=warn")
            .log(log);
        let command = env
            .iter()
            .fold(command, |command, (key, value)| command.env(key, value));
        let relayer = command.start();
        Self {
            base: relayer.url().to_owned(),
            log: log.to_owned(),
            relayer,
        }
    }

    pub(crate) fn client(&self) -> RelayerClient {
        RelayerClient::new(RelayerClientConfig::new(&self.base)).unwrap()
    }

    /// SIGKILL, and reap it.
    pub(crate) fn kill(&mut self) {
        self.relayer.kill();
    }

    /// Its next stdout line, if one comes within `timeout`.
    pub(crate) fn next_line(&self, timeout: std::time::Duration) -> Option<String> {
        self.relayer.next_line(timeout)
    }

    /// Submits one operation; returns its id once queued.
    pub(crate) async fn queue(&self, net: &Net, operation: Operation) -> B256 {
        let results = self
            .client()
            .submit_signed_operations(net.chain_id, net.info.escrow, &[operation])
            .await
            .unwrap();
        match &results[0] {
            OperationResult::Queued(q) => q.operation_id,
            other => panic!("not queued: {other:?}"),
        }
    }

    /// Submits one operation and waits until it is applied on chain.
    pub(crate) async fn applied(&self, net: &Net, operation: Operation) {
        let id = self.queue(net, operation).await;
        let api = self.client();
        let status = wait_for(
            "the operation to be applied",
            std::time::Duration::from_secs(60),
            async || {
                let status = api.operation(id).await.unwrap()?;
                assert_ne!(status.status, OperationState::Failed, "{status:?}");
                (status.status == OperationState::Applied).then_some(status)
            },
        )
        .await;
        assert!(status.transaction_hash.is_some() && status.block_number.is_some());
    }

    /// Opens a channel from `payer` on chain and waits until this relayer has indexed it; returns its id.
    pub(crate) async fn open_indexed(
        &self,
        net: &Net,
        payer: &B256,
        payee: Address,
        salt: u32,
        deposit: u128,
    ) -> B256 {
        let opened = net
            .client(payer)
            .await
            .open_channel(payee, salt, deposit)
            .await
            .unwrap();
        let api = self.client();
        wait_for(
            "the open to be indexed",
            std::time::Duration::from_secs(60),
            async || api.channel(opened.channel_id).await.unwrap().map(drop),
        )
        .await;
        opened.channel_id
    }

    /// Submits receipts and checks each was accepted (held).
    pub(crate) async fn submit(&self, net: &Net, receipts: Vec<ReceiptSubmission>) {
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
