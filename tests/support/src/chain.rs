//! [`Chain`]: an anvil with piecepay's token and escrow deployed by the deploy tool, and the settings of a
//! whole `piecepay-devnet` ([`devnet_config`]) for tests that also want funded peers or a relayer.

use std::path::{Path, PathBuf};

use alloy::{
    consensus::TxType,
    network::EthereumWallet,
    primitives::{Address, B256, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use piecepay_deploy::{
    chain::TxOptions,
    deploy::{self, DeployRequest, Mode, TokenRequest},
    devnet::{ChainSpec, Devnet, DevnetConfig, anvil::DEFAULT_BIN},
    signer::KeySource,
};
use piecepay_relayer_chain::FeeMarket;
use serde_json::{Value, json};

use crate::{anvil::Anvil, keys::DEPLOYER_KEY, relayer};

/// The token supply, held by [`DEPLOYER_KEY`]'s account.
pub const SUPPLY: u128 = 1_000_000_000_000;
/// The escrow's challenge window, seconds.
pub const CHALLENGE_PERIOD: u64 = 3_600;
/// The ETH [`Chain::set_balance`] gives an account for gas: 100 ETH.
pub const GAS_MONEY: u128 = 100 * 10u128.pow(18);

/// anvil with `PieceToken` ("PieceToken", "PIECE", [`SUPPLY`] to the deployer) and `ChannelEscrow`
/// ([`CHALLENGE_PERIOD`]) deployed from [`DEPLOYER_KEY`] by the deploy tool's own code path.
#[derive(Debug)]
pub struct Chain {
    /// The node.
    pub anvil: Anvil,
    /// A provider that signs as the deployer (and token holder).
    pub deployer: DynProvider,
    /// The token.
    pub token: Address,
    /// The escrow.
    pub escrow: Address,
    /// The escrow's deployment block: where an indexer of its events starts.
    pub deploy_block: u64,
}

impl Chain {
    /// Starts anvil and deploys.
    pub async fn start() -> Self {
        Self::deploy(Anvil::start().await).await
    }

    /// Deploys the contracts on `anvil` (nonces 0 and 1 of the deployer: the same addresses on every
    /// fresh anvil).
    pub async fn deploy(anvil: Anvil) -> Self {
        let request = DeployRequest {
            rpc_url: anvil.url().to_owned(),
            deployments_dir: anvil.dir().join("deployments"),
            // Unused: the signer is handed over.
            key: KeySource::Env(piecepay_deploy::signer::KEY_ENV.into()),
            token: TokenRequest {
                name: Some("PieceToken".into()),
                symbol: Some("PIECE".into()),
                supply: Some(U256::from(SUPPLY)),
                ..TokenRequest::default()
            },
            challenge_period: Some(CHALLENGE_PERIOD),
            mode: Mode::Replace,
            build: None,
            tx: TxOptions::default(),
        };
        let signer = PrivateKeySigner::from_bytes(&DEPLOYER_KEY).expect("a valid key");
        let outcome = deploy::run_with_signer(&request, signer, &mut |_| {})
            .await
            .unwrap_or_else(|e| panic!("deploying on {}: {e}", anvil.url()));
        let manifest = outcome.manifest();
        Self {
            deployer: wallet_provider(anvil.url(), &DEPLOYER_KEY).await,
            token: manifest.token.address,
            escrow: manifest.escrow.address,
            deploy_block: manifest.deployment_block.number,
            anvil,
        }
    }

    /// Calls JSON-RPC `method` (anvil's `anvil_*`, `evm_*` included); panics on an error.
    pub async fn rpc(&self, method: &'static str, params: Value) -> Value {
        self.deployer
            .raw_request::<Value, Value>(method.into(), params)
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    /// Gives `account` [`GAS_MONEY`].
    pub async fn set_balance(&self, account: Address) {
        self.rpc("anvil_setBalance", json!([account, U256::from(GAS_MONEY)]))
            .await;
    }

    /// Mines `blocks` blocks.
    pub async fn mine(&self, blocks: u64) {
        self.rpc("anvil_mine", json!([blocks])).await;
    }

    /// Moves the chain's clock `seconds` forward and mines a block at the new time.
    pub async fn advance(&self, seconds: u64) {
        self.rpc("evm_increaseTime", json!([seconds])).await;
        self.rpc("evm_mine", json!([])).await;
    }
}

/// The fee market of the chain at `provider`, read from its latest block as the relayer and the SDK
/// read it, and that block's number.
pub async fn fee_market(provider: &DynProvider) -> (FeeMarket, u64) {
    let latest = piecepay_relayer_chain::rpc::latest_block(provider)
        .await
        .expect("the latest block");
    (
        FeeMarket::of_base_fee(latest.header.base_fee_per_gas),
        latest.header.number,
    )
}

/// The transaction type `market` calls for: type 2 (EIP-1559) with a base fee, type 0 without.
pub const fn tx_type(market: FeeMarket) -> TxType {
    match market {
        FeeMarket::Eip1559 => TxType::Eip1559,
        FeeMarket::Legacy => TxType::Legacy,
    }
}

/// A provider for `url` that signs and sends as the account of `key`.
pub async fn wallet_provider(url: &str, key: &B256) -> DynProvider {
    let signer = PrivateKeySigner::from_bytes(key).expect("a valid key");
    ProviderBuilder::new()
        .wallet(EthereumWallet::from(signer))
        .connect(url)
        .await
        .unwrap_or_else(|e| panic!("connecting to {url}: {e}"))
        .erased()
}

/// A provider for `url` without a wallet and without alloy's fillers (as the relayer's chain side
/// takes it).
pub async fn provider(url: &str) -> DynProvider {
    ProviderBuilder::default()
        .connect(url)
        .await
        .unwrap_or_else(|e| panic!("connecting to {url}: {e}"))
        .erased()
}

/// The settings of a `piecepay-devnet` (anvil, the deploy tool, funding, optionally a relayer) with its
/// files in `state_dir`: a free port, no peers, no relayer, [`CHALLENGE_PERIOD`]. Set the fields a test
/// needs with `DevnetConfig { peers: 3, ..devnet_config(dir) }`.
pub fn devnet_config(state_dir: &Path) -> DevnetConfig {
    DevnetConfig {
        anvil_bin: PathBuf::from(DEFAULT_BIN),
        port: 0,
        chain: ChainSpec::default(),
        state_dir: state_dir.to_owned(),
        peers: 0,
        leechers: 0,
        tokens_per_peer: U256::ZERO,
        deposit: U256::ZERO,
        challenge_period: CHALLENGE_PERIOD,
        relayer_bin: None,
        relayer_env: Vec::new(),
    }
}

/// A started devnet with the workspace's relayer, its files in `state_dir`: `peers` accounts with
/// 10 × `deposit` tokens each, of which the first `leechers` also have `deposit` in the escrow — what the
/// tests of separate client processes (each with its own agent) start from.
pub async fn devnet_with_relayer(
    state_dir: &Path,
    peers: usize,
    leechers: usize,
    deposit: u128,
) -> Devnet {
    let config = DevnetConfig {
        peers,
        leechers,
        tokens_per_peer: U256::from(10 * deposit),
        deposit: U256::from(deposit),
        relayer_bin: Some(relayer::workspace_bin()),
        ..devnet_config(state_dir)
    };
    Devnet::start(&config, &mut |_| {})
        .await
        .expect("the devnet starts")
}
