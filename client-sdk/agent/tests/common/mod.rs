//! A devnet (anvil, the contracts, funded accounts, a relayer) and agents on it, driven the way a torrent
//! engine drives them: messages pumped between two links, pieces served and verified.

#![allow(dead_code)]

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use piecepay_agent::{
    Agent, AgentConfig, PeerLink,
    config::{
        ChainConfig, PayeePolicy, PayerPolicy, RelayerConfig, SettleConfig, StoreConfig,
        TimingConfig, WalletConfig,
    },
    wallet::SecretKey,
};
use piecepay_deploy::devnet::{Devnet, DevnetInfo};
use piecepay_sdk::{
    chain::{ChainClient, ChannelInfo},
    protocol::alloy_primitives::{B256, U256},
};
use piecepay_test_support::{TempDir, chain::devnet_config, relayer::workspace_bin, temp_dir};
use tokio::runtime::Runtime;

/// Price of a piece.
pub(crate) const PRICE: u128 = 1_000;
/// Tokens each peer receives; leechers also get `DEPOSIT` of them in the escrow.
pub(crate) const TOKENS: u128 = 10_000_000;
/// What each leecher holds in the escrow to open channels from.
pub(crate) const DEPOSIT: u128 = 1_000_000;
/// The torrent the tests move pieces of.
pub(crate) const TORRENT: [u8; 20] = [0x7a; 20];

/// A running devnet and its runtime (its child processes are tokio's).
pub(crate) struct Net {
    pub rt: Runtime,
    pub devnet: Option<Devnet>,
    pub info: DevnetInfo,
    pub dir: TempDir,
}

impl Net {
    /// `leechers` accounts with tokens and an escrow deposit, `seeders` with tokens, and a relayer unless
    /// `relayer` is false.
    pub(crate) fn start(leechers: usize, seeders: usize, relayer: bool) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = temp_dir();
        let config = piecepay_deploy::devnet::DevnetConfig {
            peers: leechers + seeders,
            leechers,
            tokens_per_peer: U256::from(TOKENS),
            deposit: U256::from(DEPOSIT),
            relayer_bin: relayer.then(workspace_bin),
            ..devnet_config(&dir.path().join("devnet"))
        };
        let devnet = rt
            .block_on(Devnet::start(&config, &mut |_| {}))
            .expect("the devnet starts");
        let info = devnet.info().clone();
        Self {
            rt,
            devnet: Some(devnet),
            info,
            dir,
        }
    }

    /// The key of the `i`-th peer of `role` (`leecher` or `seeder`).
    pub(crate) fn key(&self, role: &str, i: usize) -> SecretKey {
        SecretKey::from_bytes(self.raw_key(role, i)).unwrap()
    }

    /// Its 32 bytes (devnet keys only).
    pub(crate) fn raw_key(&self, role: &str, i: usize) -> B256 {
        self.info
            .accounts(role)
            .nth(i)
            .expect("that many peers")
            .key
    }

    /// The relayer's URL.
    pub(crate) fn relayer_url(&self) -> String {
        self.info.relayer.as_ref().expect("a relayer").url.clone()
    }

    /// An agent configuration on this devnet: its store in the test's directory under `name`.
    pub(crate) fn config(&self, name: &str, relayer: bool) -> AgentConfig {
        AgentConfig {
            wallet: WalletConfig::default(),
            chain: ChainConfig {
                manifest: Some(self.info.manifest.clone()),
                rpc_url: Some(self.info.rpc_url.clone()),
                ..ChainConfig::default()
            },
            relayer: RelayerConfig {
                urls: if relayer {
                    vec![self.relayer_url()]
                } else {
                    Vec::new()
                },
                ..RelayerConfig::default()
            },
            store: StoreConfig {
                path: self.store(name),
            },
            payer: None,
            payee: None,
            timing: TimingConfig {
                chain_poll_ms: 300,
                tick_ms: 200,
                channel_check_s: 10,
            },
        }
    }

    /// The store file of agent `name`.
    pub(crate) fn store(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.sqlite"))
    }

    /// A chain client (as the deployer), to read channels and balances.
    pub(crate) fn chain(&self) -> ChainClient {
        self.rt
            .block_on(ChainClient::connect(
                &self.info.rpc_url,
                &self.info.deployer.key,
                self.info.escrow,
            ))
            .unwrap()
    }

    /// Channel `id` as the chain shows it.
    pub(crate) fn channel(&self, id: B256) -> ChannelInfo {
        let chain = self.chain();
        self.rt.block_on(chain.channel(id)).unwrap()
    }

    /// Waits up to `timeout` for channel `id` to be closed on chain; whether it was.
    pub(crate) fn closes_within(&self, id: B256, timeout: Duration) -> bool {
        eventually(timeout, || {
            matches!(
                self.channel(id).status,
                piecepay_sdk::chain::ChannelStatus::Closed
            )
        })
    }

    /// Moves the chain's clock `seconds` forward and mines a block.
    pub(crate) fn advance(&self, seconds: u64) {
        use piecepay_sdk::chain::alloy::providers::{Provider, ProviderBuilder};
        self.rt.block_on(async {
            let provider = ProviderBuilder::new()
                .connect(&self.info.rpc_url)
                .await
                .unwrap();
            let _: serde_json::Value = provider
                .raw_request("evm_increaseTime".into(), (seconds,))
                .await
                .unwrap();
            let _: serde_json::Value = provider.raw_request("evm_mine".into(), ()).await.unwrap();
        });
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        if let Some(devnet) = self.devnet.take() {
            self.rt.block_on(devnet.shutdown());
        }
    }
}

/// A buyer's policy at `PRICE`.
pub(crate) fn payer_policy(budget: u128) -> PayerPolicy {
    PayerPolicy {
        max_price: PRICE,
        bid_step: None,
        budget_total: budget,
        budget_per_torrent: None,
        deposit_per_channel: 100 * PRICE,
        auto_top_up: true,
        max_fee: 0,
        idle_close_s: 0,
        auth_ttl_s: 600,
    }
}

/// A seller's policy at `price`, with `credit` pieces of credit.
pub(crate) fn payee_policy(price: u128, credit: u32) -> PayeePolicy {
    PayeePolicy {
        price,
        credit_pieces: Some(credit),
        credit_amount: None,
        free_pieces: 0,
        settle: SettleConfig {
            min_value: 1,
            max_age_s: 1,
            ..SettleConfig::default()
        },
    }
}

/// Starts an agent with `key`.
pub(crate) fn agent(config: AgentConfig, key: SecretKey) -> Agent {
    Agent::start_with_key(config, key).unwrap_or_else(|e| panic!("the agent starts: {e}"))
}

/// The seeder's agent (the devnet's first seeder account), selling on `policy`; `config` adjusts the rest.
pub(crate) fn seller(
    net: &Net,
    policy: PayeePolicy,
    config: impl FnOnce(&mut AgentConfig),
) -> Agent {
    let mut c = net.config("seeder", net.info.relayer.is_some());
    c.payee = Some(policy);
    config(&mut c);
    agent(c, net.key("seeder", 0))
}

/// The leecher's agent (the devnet's first leecher account), buying on `policy`; `config` adjusts the
/// rest.
pub(crate) fn buyer(
    net: &Net,
    policy: PayerPolicy,
    config: impl FnOnce(&mut AgentConfig),
) -> Agent {
    let mut c = net.config("leecher", net.info.relayer.is_some());
    c.payer = Some(policy);
    config(&mut c);
    agent(c, net.key("leecher", 0))
}

/// A connection between the two for `TORRENT`: the seeder's link and the leecher's, the seeder's terms
/// on their way.
pub(crate) fn connect(seeder: &Agent, leecher: &Agent) -> (PeerLink, PeerLink) {
    let (s, l) = (
        seeder.attach(TORRENT, "leecher"),
        leecher.attach(TORRENT, "seeder"),
    );
    s.start();
    (s, l)
}

/// Moves every message waiting on either link to the other; whether any moved.
pub(crate) fn pump(a: &PeerLink, b: &PeerLink) -> bool {
    let mut moved = false;
    for message in a.take_outgoing() {
        b.on_message(&message);
        moved = true;
    }
    for message in b.take_outgoing() {
        a.on_message(&message);
        moved = true;
    }
    moved
}

/// The seeder serves and the leecher verifies up to `pieces` pieces, as fast as the seeder allows, for at
/// most `timeout` (or until `stalled` passes without a piece). Pieces moved.
pub(crate) fn transfer(
    seeder: &PeerLink,
    leecher: &PeerLink,
    pieces: u64,
    stalled: Duration,
) -> u64 {
    let mut moved = 0;
    let mut last = Instant::now();
    while moved < pieces && last.elapsed() < stalled {
        pump(seeder, leecher);
        if seeder.may_serve() {
            seeder.on_piece_served();
            leecher.on_piece_verified();
            moved += 1;
            last = Instant::now();
        } else {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    moved
}

/// Pumps messages until `done` holds or `timeout` passes; whether it held.
pub(crate) fn settle_down(
    a: &PeerLink,
    b: &PeerLink,
    timeout: Duration,
    done: impl Fn() -> bool,
) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        pump(a, b);
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Waits until `check` holds or `timeout` passes; whether it held.
pub(crate) fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    check()
}

/// Every event so far, as JSON lines (for failure messages).
pub(crate) fn drain_events(agent: &Agent) -> Vec<String> {
    std::iter::from_fn(|| agent.next_event())
        .map(|e| serde_json::to_string(&e).unwrap())
        .collect()
}
