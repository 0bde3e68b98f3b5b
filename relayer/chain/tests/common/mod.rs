//! Test support: a real anvil, the real contracts from forge's artifacts (through the SDK's bindings),
//! channels opened by real payers, receipts signed by them, and waiting on conditions with a timeout.
//!
//! anvil comes from the pinned npm toolchain (`make setup`); without it the tests fail, never skip.
#![allow(dead_code)] // each test file uses a part

use std::{
    future::Future,
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::mpsc,
    thread,
    time::Duration,
};

use piecepay_protocol::{
    CompactSignature, Receipt, SigningKey,
    alloy_primitives::aliases::{U40, U96},
    channel_id, domain,
    settle_batch::SettleBatch,
};
use piecepay_relayer_chain::alloy::{
    network::EthereumWallet,
    primitives::{Address, B256, U256, b256},
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use piecepay_sdk::chain::{
    ChainClient,
    bindings::{ChannelEscrow, PieceToken},
};
use serde_json::{Value, json};

/// anvil's first dev account (devnet only): deploys and holds the token supply.
pub const DEPLOYER_KEY: B256 =
    b256!("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80");
/// The relayer's key (devnet only).
pub const RELAYER_KEY: B256 = B256::repeat_byte(0x77);
const SUPPLY: u128 = 1_000_000_000_000;
const CHALLENGE_PERIOD: u64 = 3_600;
/// Every test channel's deposit.
pub const DEPOSIT: u128 = 1_000_000;

/// An anvil on 127.0.0.1, killed on drop.
pub struct Anvil {
    child: Child,
    pub port: u16,
    pub url: String,
}

fn anvil_bin() -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    assert!(
        bin.is_file(),
        "anvil not found at {}: run `make setup` (it installs the pinned Foundry toolchain from npm)",
        bin.display()
    );
    bin
}

impl Anvil {
    /// On a free port (the OS picks it; anvil reports it).
    pub fn start() -> Self {
        Self::start_on(0)
    }

    /// On `port` (0: any), e.g. the port of an anvil that was stopped, to restart "the same node".
    pub fn start_on(port: u16) -> Self {
        let mut child = Command::new(anvil_bin())
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--hardfork", "prague"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("anvil starts");
        let stdout = child.stdout.take().expect("piped");
        let (address_tx, address_rx) = mpsc::channel();
        // Keeps reading anvil's log to the end, so a full pipe never blocks it.
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(address) = line.strip_prefix("Listening on ") {
                    let _ = address_tx.send(address.trim().to_owned());
                }
            }
        });
        let Ok(address) = address_rx.recv_timeout(Duration::from_secs(60)) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("anvil did not report its address within 60 s");
        };
        let port = address
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("host:port");
        Self {
            child,
            port,
            url: format!("http://{address}"),
        }
    }

    /// Kills it (SIGKILL) and waits for it to exit.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A provider signing with `secret`.
pub async fn wallet_provider(url: &str, secret: &B256) -> DynProvider {
    let signer = PrivateKeySigner::from_bytes(secret).unwrap();
    ProviderBuilder::new()
        .wallet(EthereumWallet::from(signer))
        .connect(url)
        .await
        .unwrap()
        .erased()
}

/// A provider without a wallet, as the relayer's chain side takes it.
pub async fn plain_provider(url: &str) -> DynProvider {
    ProviderBuilder::default()
        .connect(url)
        .await
        .unwrap()
        .erased()
}

/// anvil with PieceToken and ChannelEscrow deployed.
pub struct Devnet {
    pub anvil: Anvil,
    pub deployer: DynProvider,
    pub token: Address,
    pub escrow: Address,
    pub deploy_block: u64,
}

impl Devnet {
    pub async fn start() -> Self {
        let anvil = Anvil::start();
        Self::deploy(anvil).await
    }

    pub async fn deploy(anvil: Anvil) -> Self {
        let deployer = wallet_provider(&anvil.url, &DEPLOYER_KEY).await;
        let holder = SigningKey::from_bytes(&DEPLOYER_KEY).unwrap().address();
        let token = PieceToken::deploy(
            deployer.clone(),
            "PieceToken".into(),
            "PIECE".into(),
            holder,
            U256::from(SUPPLY),
        )
        .await
        .unwrap();
        let escrow = ChannelEscrow::deploy(
            deployer.clone(),
            *token.address(),
            U40::from(CHALLENGE_PERIOD),
        )
        .await
        .unwrap();
        let deploy_block = deployer.get_block_number().await.unwrap();
        Self {
            token: *token.address(),
            escrow: *escrow.address(),
            deployer,
            anvil,
            deploy_block,
        }
    }

    pub async fn rpc(&self, method: &'static str, params: Value) -> Value {
        self.deployer
            .raw_request::<Value, Value>(method.into(), params)
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    pub async fn set_balance(&self, account: Address) {
        self.rpc(
            "anvil_setBalance",
            json!([account, U256::from(10u128.pow(20))]),
        )
        .await;
    }

    pub async fn mine(&self, blocks: u64) {
        self.rpc("anvil_mine", json!([blocks])).await;
    }

    /// A client for the account of `secret`, with ETH for gas.
    pub async fn client(&self, secret: &B256) -> ChainClient {
        let key = SigningKey::from_bytes(secret).unwrap();
        self.set_balance(key.address()).await;
        ChainClient::connect(&self.anvil.url, secret, self.escrow)
            .await
            .unwrap()
    }

    /// `count` payers (keys `0x11…`, `0x12…`), each with a channel of [`DEPOSIT`] to `payee` (salt 1).
    pub async fn open_channels(&self, count: u8, payee: Address) -> Vec<Payer> {
        let deployer = self.client(&DEPLOYER_KEY).await;
        let mut payers = Vec::new();
        for i in 0..count {
            let secret = B256::repeat_byte(0x11 + i);
            let key = SigningKey::from_bytes(&secret).unwrap();
            deployer.deposit_to(key.address(), DEPOSIT).await.unwrap();
            let client = self.client(&secret).await;
            let opened = client.open_channel(payee, 1, DEPOSIT).await.unwrap();
            assert_eq!(opened.channel_id, channel_id(key.address(), payee, 1));
            payers.push(Payer {
                key,
                payee,
                salt: 1,
                channel_id: opened.channel_id,
            });
        }
        payers
    }

    /// The payers' receipts for `cumulative` each, in one settle batch with no fee.
    pub async fn batch(&self, payers: &[Payer], cumulative: u128) -> SettleBatch {
        let chain_id = self.deployer.get_chain_id().await.unwrap();
        let separator = domain(chain_id, self.escrow).separator();
        let mut batch = SettleBatch::new();
        for payer in payers {
            let (receipt, signature) = payer.sign(&separator, cumulative);
            batch.push(&receipt, &signature, 0);
        }
        batch
    }

    /// A channel's settled total on chain.
    pub async fn settled(&self, channel_id: B256) -> u128 {
        let channel = ChannelEscrow::new(self.escrow, self.deployer.clone())
            .channel(channel_id)
            .call()
            .await
            .unwrap();
        channel.settled.to()
    }

    /// `account`'s free balance in the escrow.
    pub async fn balance(&self, account: Address) -> u128 {
        ChannelEscrow::new(self.escrow, self.deployer.clone())
            .balanceOf(account)
            .call()
            .await
            .unwrap()
            .to()
    }

    /// How many `ReceiptsSettled` and `ReceiptSkipped` logs the escrow emitted so far (canonical chain).
    pub async fn settle_logs(&self) -> (usize, usize) {
        use piecepay_relayer_chain::alloy::{rpc::types::Filter, sol_types::SolEvent};
        let filter = Filter::new().address(self.escrow).from_block(0);
        let logs = self.deployer.get_logs(&filter).await.unwrap();
        let topic = |t| logs.iter().filter(|l| l.topic0() == Some(&t)).count();
        (
            topic(ChannelEscrow::ReceiptsSettled::SIGNATURE_HASH),
            topic(ChannelEscrow::ReceiptSkipped::SIGNATURE_HASH),
        )
    }
}

/// A payer with one channel.
pub struct Payer {
    pub key: SigningKey,
    pub payee: Address,
    pub salt: u32,
    pub channel_id: B256,
}

impl Payer {
    pub fn sign(&self, separator: &B256, cumulative: u128) -> (Receipt, CompactSignature) {
        let receipt = Receipt {
            payee: self.payee,
            salt: self.salt,
            cumulative: U96::from(cumulative),
        };
        let signature = self
            .key
            .sign_digest(&receipt.signing_hash(separator))
            .unwrap();
        (receipt, signature)
    }
}

/// Polls `check` every 20 ms until it returns `Some`, for at most `timeout`.
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
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
