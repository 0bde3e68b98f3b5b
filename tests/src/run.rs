//! One run of the whole system: fund channels on chain, let the swarm exchange and pay, hand the receipts
//! to the relayer, wait until the chain has settled every paid piece, and add up the balances.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use anyhow::{Context, bail, ensure};
use piecepay_sdk::{
    Amount, CreditWindow, SignedReceipt,
    chain::{
        ChainClient,
        alloy::providers::{Provider, ProviderBuilder},
    },
    protocol::{
        SigningKey,
        alloy_primitives::{Address, B256},
        domain,
        relayer_api::SettlementState,
    },
    relayer_client::{RelayerClient, RelayerClientConfig},
};

use crate::{
    content::Content,
    libtorrent::{self, Libtorrent, Transferred},
    swarm::{Conduct, Swarm},
};

/// What moves the pieces.
#[derive(Clone, Debug)]
pub enum Engine {
    /// The SDK's state machines in this process exchange pieces and receipts directly.
    InProcess,
    /// Real BitTorrent transfers on loopback: libtorrent sessions with piecepay's plugin, one per peer.
    Libtorrent(Libtorrent),
}

/// A running devnet: where the chain and the relayer are, and the accounts to play with.
#[derive(Clone, Debug)]
pub struct Env {
    /// The JSON-RPC endpoint.
    pub rpc_url: String,
    /// The escrow.
    pub escrow: Address,
    /// The relayer's base URL.
    pub relayer_url: String,
    /// Seeders' secret keys (each needs a little ETH for nothing; payees never send transactions here).
    pub seeders: Vec<B256>,
    /// Leechers' secret keys: each needs tokens for its deposits and ETH for its own transactions.
    pub leechers: Vec<B256>,
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Size of the shared file, in bytes.
    pub file_len: usize,
    /// Piece length, in bytes.
    pub piece_len: usize,
    /// Price of one piece, in token base units.
    pub price: Amount,
    /// Credit a seeder extends, in pieces.
    pub credit_pieces: u32,
    /// Deposit of every channel.
    pub deposit: Amount,
    /// Each leecher's conduct (one entry per leecher in [`Env::leechers`]).
    pub conduct: Vec<Conduct>,
    /// Seeders hand their latest receipts to the relayer every this many swarm steps.
    pub submit_every: u64,
    /// How long to wait for the relayer to settle everything once the transfer is over.
    pub settle_timeout: Duration,
    /// What moves the pieces.
    pub engine: Engine,
}

/// What the run is doing, for progress display.
pub trait Progress {
    /// A new phase starts.
    fn phase(&mut self, name: &str);
    /// The swarm made a step; `progress[l]` is leecher `l`'s piece count out of `pieces`.
    fn transfer(&mut self, progress: &[usize], pieces: usize);
    /// Settlement so far: channels whose paid total is settled on chain, of `channels`.
    fn settlement(&mut self, settled: usize, channels: usize);
}

/// One pair's books at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PairOutcome {
    /// Leecher index.
    pub leecher: usize,
    /// Seeder index.
    pub seeder: usize,
    /// Pieces transferred.
    pub pieces: u64,
    /// Receipts signed for the seeder (its payee verifies lazily and accepts the newest of several at
    /// once, whichever engine moved the pieces).
    pub receipts: u64,
    /// The highest cumulative the seeder holds.
    pub paid: Amount,
    /// What the escrow has settled on the channel.
    pub settled: Amount,
}

/// A settlement transaction the relayer sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SettlementTx {
    /// Its hash.
    pub hash: B256,
    /// The block it was mined in.
    pub block: u64,
    /// Gas it used.
    pub gas_used: u64,
}

/// One account's token and escrow balances.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Balances {
    /// ERC-20 balance.
    pub token: u128,
    /// Free balance in the escrow.
    pub escrow: u128,
}

/// The whole run's result.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Pieces in the file.
    pub pieces: usize,
    /// Price of a piece.
    pub price: Amount,
    /// Every pair.
    pub pairs: Vec<PairOutcome>,
    /// The relayer's settlement transactions.
    pub settlements: Vec<SettlementTx>,
    /// `(name, address, before, after)` of every seeder and leecher.
    pub balances: Vec<(String, Address, Balances, Balances)>,
    /// Whether every check on the chain's numbers passed.
    pub onchain_matches: bool,
    /// The checks that failed, in words.
    pub mismatches: Vec<String>,
}

impl Outcome {
    /// Pieces paid for, from the amounts the seeders were paid.
    pub fn pieces_paid(&self) -> u64 {
        self.pairs
            .iter()
            .map(|p| (p.paid / self.price) as u64)
            .sum()
    }

    /// Receipts paid to the seeders (one per paid piece when all goes well; see `PairOutcome::receipts`).
    pub fn receipts(&self) -> u64 {
        self.pairs.iter().map(|p| p.receipts).sum()
    }

    /// Gas of all settlement transactions.
    pub fn gas_used(&self) -> u64 {
        self.settlements.iter().map(|s| s.gas_used).sum()
    }
}

struct Peer {
    name: String,
    address: Address,
    client: ChainClient,
}

async fn balances(peer: &Peer) -> anyhow::Result<Balances> {
    let token = peer.client.token_balance_of(peer.address).await?;
    Ok(Balances {
        token: token.try_into().context("token balance beyond u128")?,
        escrow: peer.client.balance_of(peer.address).await?,
    })
}

/// Runs `scenario` on `env`: [`Run::start`], [`Run::transfer`] to the end, [`Run::settle`].
pub async fn run(
    env: &Env,
    scenario: &Scenario,
    progress: &mut dyn Progress,
) -> anyhow::Result<Outcome> {
    let mut run = Run::start(env, scenario, progress).await?;
    run.transfer(u64::MAX, progress).await?;
    run.settle(progress).await
}

/// A run in progress, phase by phase, so a test can act between them (restart the relayer, close a
/// channel).
pub struct Run {
    scenario: Scenario,
    rpc_url: String,
    escrow: Address,
    chain_id: u64,
    peers: Vec<Peer>,
    seeders: usize,
    before: Vec<Balances>,
    swarm: Swarm,
    relayer: RelayerClient,
    now: u64,
    steps: u64,
    salt_base: u32,
    seeder_keys: Vec<B256>,
    leecher_keys: Vec<B256>,
    /// What an external engine reported; `None` while the swarm itself moves the pieces.
    external: Option<Transferred>,
}

impl Run {
    /// Connects every peer, records balances, and funds every channel on chain: each leecher deposits
    /// with a permit and opens its channels in one gasless batch it submits itself.
    pub async fn start(
        env: &Env,
        scenario: &Scenario,
        progress: &mut dyn Progress,
    ) -> anyhow::Result<Self> {
        ensure!(
            scenario.conduct.len() == env.leechers.len(),
            "one conduct per leecher"
        );
        progress.phase("connecting");
        let mut peers = Vec::new();
        for (role, keys) in [("seeder", &env.seeders), ("leecher", &env.leechers)] {
            for (i, key) in keys.iter().enumerate() {
                let client = ChainClient::connect(&env.rpc_url, key, env.escrow)
                    .await
                    .with_context(|| format!("{role} {i} connects to {}", env.rpc_url))?;
                peers.push(Peer {
                    name: format!("{role} {i}"),
                    address: client.address(),
                    client,
                });
            }
        }
        let seeders = env.seeders.len();
        let first_leecher = &peers.get(seeders).context("at least one leecher")?.client;
        let chain_id = first_leecher
            .domain()
            .chain_id
            .context("the escrow's domain has a chain id")?
            .to::<u64>();
        let now = first_leecher.block_timestamp().await?;
        let mut before = Vec::new();
        for peer in &peers {
            before.push(balances(peer).await?);
        }

        let content = Content::generate(scenario.file_len, scenario.piece_len, 0x5eed);
        let seeder_keys = env
            .seeders
            .iter()
            .map(SigningKey::from_bytes)
            .collect::<Result<Vec<_>, _>>()?;
        let leecher_keys = env
            .leechers
            .iter()
            .zip(&scenario.conduct)
            .map(|(key, conduct)| Ok((SigningKey::from_bytes(key)?, *conduct)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        // A salt base from the clock, so a second run on the same devnet opens fresh channels.
        let salt_base = (now % 1_000_000) as u32 * 16;
        let mut swarm = Swarm::new(
            content,
            &domain(chain_id, env.escrow),
            first_leecher.token(),
            &seeder_keys,
            &leecher_keys,
            scenario.price,
            CreditWindow::Pieces(scenario.credit_pieces),
            salt_base,
            now,
        )?;

        progress.phase("funding channels");
        let opens = swarm.sign_opens(scenario.deposit, now)?;
        for (l, leecher) in peers[seeders..].iter().enumerate() {
            let mine: Vec<_> = opens
                .iter()
                .filter(|(ol, _, _)| *ol == l)
                .map(|(_, _, open)| (leecher.address, open.clone()))
                .collect();
            let total = scenario.deposit * mine.len() as Amount;
            leecher
                .client
                .deposit_with_permit(total, now + 3_600)
                .await
                .with_context(|| format!("{} deposits {total}", leecher.name))?;
            let report = leecher.client.open_channels_by_sig(&mine).await?;
            ensure!(
                report.skipped.is_empty(),
                "{}: opens skipped: {:?}",
                leecher.name,
                report.skipped
            );
        }
        for (l, s, _) in &opens {
            swarm.on_opened(*l, *s, scenario.deposit, now)?;
        }
        Ok(Self {
            scenario: scenario.clone(),
            rpc_url: env.rpc_url.clone(),
            escrow: env.escrow,
            chain_id,
            seeders,
            before,
            swarm,
            relayer: RelayerClient::new(RelayerClientConfig::new(env.relayer_url.clone()))?,
            peers,
            now,
            steps: 0,
            salt_base,
            seeder_keys: env.seeders.clone(),
            leecher_keys: env.leechers.clone(),
            external: None,
        })
    }

    /// The swarm, to look at pairs and channels.
    pub fn swarm(&self) -> &Swarm {
        &self.swarm
    }

    /// Leecher `l`'s chain client.
    pub fn leecher_client(&self, l: usize) -> Option<&ChainClient> {
        self.peers.get(self.seeders + l).map(|p| &p.client)
    }

    /// Moves pieces for at most `steps` swarm steps, or until no leecher gets a piece; seeders hand their
    /// latest receipts to the relayer every [`Scenario::submit_every`] steps. Returns whether pieces
    /// still moved in the last step. With [`Engine::Libtorrent`] the whole transfer runs at once.
    pub async fn transfer(
        &mut self,
        steps: u64,
        progress: &mut dyn Progress,
    ) -> anyhow::Result<bool> {
        progress.phase("transferring");
        if let Engine::Libtorrent(engine) = &self.scenario.engine {
            let params = libtorrent::Params {
                chain_id: self.chain_id,
                escrow: self.escrow,
                seeder_keys: &self.seeder_keys,
                leecher_keys: &self.leecher_keys,
                salt_base: self.salt_base,
                deposit: self.scenario.deposit,
                price: self.scenario.price,
                file_kib: self.scenario.file_len.div_ceil(1024),
                piece_kib: self.scenario.piece_len.div_ceil(1024),
            };
            let transferred = engine
                .transfer(&params, &self.swarm, &mut |done, pieces| {
                    progress.transfer(done, pieces)
                })
                .await?;
            self.external = Some(transferred);
            return Ok(false);
        }
        let pieces = self.swarm.content().pieces();
        let leechers = self.swarm.size().1;
        for _ in 0..steps {
            let report = self.swarm.step(self.now)?;
            self.steps += 1;
            let done: Vec<_> = (0..leechers).map(|l| self.swarm.progress(l)).collect();
            progress.transfer(&done, pieces);
            if self.steps.is_multiple_of(self.scenario.submit_every) {
                self.submit_latest().await?;
            }
            if report.transferred.is_empty() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Each pair's counts and each seeder's latest receipts, from whichever engine moved the pieces.
    pub fn transferred(&self) -> Transferred {
        self.external.clone().unwrap_or_else(|| Transferred {
            stats: self.swarm.stats().clone(),
            receipts: (0..self.swarm.size().0)
                .map(|s| self.swarm.latest_receipts(s))
                .collect(),
        })
    }

    /// Every seeder hands the latest receipt of each of its channels to the relayer now; returns how
    /// many the relayer holds (a channel it has not indexed yet is refused for now).
    pub async fn submit_latest(&self) -> anyhow::Result<usize> {
        let receipts = self.transferred().receipts;
        submit_latest(&self.relayer, &receipts, self.chain_id, self.escrow).await
    }

    /// Hands the latest receipts over until the relayer holds every one of them (it may still be
    /// indexing the channels' opens), or fails after `timeout`.
    pub async fn hand_over(&self, timeout: Duration) -> anyhow::Result<()> {
        let receipts: usize = self.transferred().receipts.iter().map(Vec::len).sum();
        let deadline = Instant::now() + timeout;
        loop {
            let held = self.submit_latest().await?;
            if held == receipts {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the relayer holds {held} of {receipts} receipts after {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Hands the receipts over until the chain has settled every paid channel to what its seeder was
    /// paid (or the scenario's timeout passes), then adds up the books.
    pub async fn settle(self, progress: &mut dyn Progress) -> anyhow::Result<Outcome> {
        let Transferred { stats, receipts } = self.transferred();
        let Self {
            scenario,
            peers,
            seeders,
            before,
            swarm,
            relayer,
            chain_id,
            escrow,
            rpc_url,
            ..
        } = self;
        let seeder_peers = &peers[..seeders];
        progress.phase("settling");
        let channels: Vec<(usize, usize)> = stats
            .iter()
            .filter(|(_, s)| s.paid > 0)
            .map(|(&pair, _)| pair)
            .collect();
        let deadline = Instant::now() + scenario.settle_timeout;
        let mut settled_on_chain = BTreeMap::new();
        let mut settlement_hashes = BTreeSet::new();
        loop {
            submit_latest(&relayer, &receipts, chain_id, escrow).await?;
            settled_on_chain.clear();
            for &(l, s) in &channels {
                let id = swarm.channel(l, s).expect("pair").id();
                let info = seeder_peers[s].client.channel(id).await?;
                settled_on_chain.insert((l, s), info.settled);
                if let Some(status) = relayer.settlement(id).await?
                    && let Some(tx) = status.transaction
                    && status.status != SettlementState::Expired
                {
                    settlement_hashes.insert(tx.hash);
                }
            }
            let done = channels
                .iter()
                .filter(|pair| settled_on_chain[*pair] == stats[*pair].paid)
                .count();
            progress.settlement(done, channels.len());
            if done == channels.len() {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "the relayer settled {done} of {} channels within {:?}",
                    channels.len(),
                    scenario.settle_timeout
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }

        let settlements = settlement_txs(&rpc_url, settlement_hashes).await?;

        let pairs: Vec<PairOutcome> = stats
            .iter()
            .map(|(&(l, s), stats)| PairOutcome {
                leecher: l,
                seeder: s,
                pieces: stats.pieces,
                receipts: stats.receipts,
                paid: stats.paid,
                settled: settled_on_chain.get(&(l, s)).copied().unwrap_or_default(),
            })
            .collect();
        let mut balances_out = Vec::new();
        for (peer, before) in peers.iter().zip(before) {
            balances_out.push((
                peer.name.clone(),
                peer.address,
                before,
                balances(peer).await?,
            ));
        }
        let mismatches = check_books(&pairs, &balances_out, seeders, &scenario);
        Ok(Outcome {
            pieces: swarm.content().pieces(),
            price: scenario.price,
            pairs,
            settlements,
            onchain_matches: mismatches.is_empty(),
            mismatches,
            balances: balances_out,
        })
    }
}

/// The settlement transactions `hashes`, in chain order, with the gas each used.
pub async fn settlement_txs(
    rpc_url: &str,
    hashes: impl IntoIterator<Item = B256>,
) -> anyhow::Result<Vec<SettlementTx>> {
    let provider = ProviderBuilder::new().connect(rpc_url).await?;
    let mut txs = Vec::new();
    for hash in hashes {
        let receipt = provider
            .get_transaction_receipt(hash)
            .await?
            .with_context(|| format!("settlement {hash} has a receipt"))?;
        txs.push(SettlementTx {
            hash,
            block: receipt.block_number.unwrap_or_default(),
            gas_used: receipt.gas_used,
        });
    }
    txs.sort_by_key(|s| (s.block, s.hash));
    Ok(txs)
}

/// Every seeder hands the latest receipt of each of its channels to the relayer. Receipts for channels
/// the relayer has not indexed yet are refused now and handed again next time.
async fn submit_latest(
    relayer: &RelayerClient,
    by_seeder: &[Vec<SignedReceipt>],
    chain_id: u64,
    escrow: Address,
) -> anyhow::Result<usize> {
    let mut held = 0;
    for (s, receipts) in by_seeder.iter().enumerate() {
        if !receipts.is_empty() {
            let results = relayer
                .submit_signed_receipts(chain_id, escrow, receipts)
                .await
                .with_context(|| format!("seeder {s} hands its receipts to the relayer"))?;
            held += results.iter().filter(|r| r.is_held()).count();
        }
    }
    Ok(held)
}

/// The books must add up on chain: every channel settled to what its seeder was paid, every seeder's
/// escrow balance up by exactly what was settled to it (no fee: the seeders set no fee cap), every
/// leecher's tokens down by exactly its deposits.
fn check_books(
    pairs: &[PairOutcome],
    balances: &[(String, Address, Balances, Balances)],
    seeders: usize,
    scenario: &Scenario,
) -> Vec<String> {
    let mut mismatches = Vec::new();
    for p in pairs {
        if p.settled != p.paid {
            mismatches.push(format!(
                "leecher {} → seeder {}: paid {} but settled {}",
                p.leecher, p.seeder, p.paid, p.settled
            ));
        }
    }
    for (i, (name, _, before, after)) in balances.iter().enumerate() {
        if i < seeders {
            let settled: Amount = pairs
                .iter()
                .filter(|p| p.seeder == i)
                .map(|p| p.settled)
                .sum();
            if after.escrow.checked_sub(before.escrow) != Some(settled)
                || after.token != before.token
            {
                mismatches.push(format!(
                    "{name}: escrow balance {} → {}, settled to it {settled}",
                    before.escrow, after.escrow
                ));
            }
        } else {
            // Every leecher opened a channel to every seeder, used or not.
            let deposited = seeders as Amount * scenario.deposit;
            if before.token.checked_sub(after.token) != Some(deposited)
                || after.escrow != before.escrow
            {
                mismatches.push(format!(
                    "{name}: tokens {} → {}, deposited {deposited}",
                    before.token, after.token
                ));
            }
        }
    }
    mismatches
}
