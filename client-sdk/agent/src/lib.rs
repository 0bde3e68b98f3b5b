#![doc = include_str!("../README.md")]

mod backends;
pub mod config;
mod error;
mod ledger;
mod payee;
mod payer;
pub mod report;
mod shared;
mod tasks;
pub mod wallet;

use std::{
    collections::HashMap,
    path::Path,
    sync::{
        Arc, Condvar, Mutex, RwLock,
        atomic::{AtomicI64, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use piecepay_protocol::{
    Amount,
    alloy_primitives::{Address, B256},
};
use piecepay_sdk::{
    PayeeSession, PayeeState, PayerConfig, PayerSession, PayerState,
    store::{GroupCommit, PayeeStore, PayerStore, SqliteStore},
};
use tokio::{runtime::Runtime, sync::watch};

pub use backends::Deployment;
pub use config::AgentConfig;
pub use error::{Error, Result};
pub use ledger::{InfoHash, Tally};
pub use report::{Event, EventRecord, PeerReport, Report, TorrentReport, WalletReport};

use crate::{
    backends::Backends,
    ledger::Role,
    report::Event as E,
    shared::{Inner, Link, Payee, Payer, State},
};

/// Receipts the payee side makes durable in one commit at most.
const GROUP_COMMIT: usize = 256;

/// How long [`Agent::shutdown`] waits for background work to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// One per client process: pays and earns for every torrent and peer of the process, by itself.
///
/// It owns a multi-threaded tokio runtime (two worker threads), so a host needs none; every method is
/// synchronous and may be called from any thread, but not from inside an async task (a Rust host on
/// tokio calls it from `spawn_blocking`). See the crate documentation for the flow.
pub struct Agent {
    inner: Arc<Inner>,
    runtime: Option<Runtime>,
    stop: watch::Sender<bool>,
}

impl core::fmt::Debug for Agent {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Agent")
            .field("address", &self.inner.address)
            .field("deployment", &self.inner.deployment)
            .finish_non_exhaustive()
    }
}

impl Agent {
    /// Starts the agent of the configuration file at `path`. `password` unlocks the wallet's keystore
    /// when the host has it (else `password_env`, else the terminal).
    pub fn from_file(path: impl AsRef<Path>, password: Option<&str>) -> Result<Self> {
        Self::start(AgentConfig::from_file(path)?, password)
    }

    /// Starts an agent: checks the configuration, loads the wallet, opens the store, connects the RPC
    /// node and relayers and checks they serve the configured deployment, resumes every stored channel,
    /// and starts the background work. Fails with one error naming what is wrong before anything is
    /// served.
    pub fn start(config: AgentConfig, password: Option<&str>) -> Result<Self> {
        config
            .validate()
            .map_err(|reason| Error::config(None, reason))?;
        let key = wallet::load(&config.wallet, password)?;
        Self::start_with_key(config, key)
    }

    /// [`start`](Self::start) with a key the Rust host holds itself (`[wallet]` is not read).
    pub fn start_with_key(config: AgentConfig, key: wallet::SecretKey) -> Result<Self> {
        let mut check = config.clone();
        check.wallet = config::WalletConfig {
            key_env: Some(String::new()),
            ..config::WalletConfig::default()
        };
        check
            .validate()
            .map_err(|reason| Error::config(None, reason))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("piecepay-agent")
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        let handle = runtime.handle().clone();
        let (stop, stop_rx) = watch::channel(false);
        let inner = runtime.block_on(async {
            let (backends, unreachable) =
                Backends::connect(&config.chain, &config.relayer, &key).await?;
            if let Some(parent) = config.store.path.parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent).map_err(|e| {
                    Error::config(
                        None,
                        format!("store.path {}: {e}", config.store.path.display()),
                    )
                })?;
            }
            let store = SqliteStore::open(&config.store.path).await?;
            ledger::migrate(&store).await?;
            let signing = key.signing_key();
            let inner = Arc::new(Inner {
                deployment: backends.deployment.clone(),
                address: signing.address(),
                signing,
                payer_policy: config.payer,
                payee_policy: config.payee,
                timing: config.timing,
                commit: GroupCommit::spawn(store.clone(), GROUP_COMMIT),
                store,
                backends,
                state: Mutex::new(State::default()),
                events: Mutex::new(Default::default()),
                event_signal: Condvar::new(),
                waker: RwLock::new(None),
                handle: handle.clone(),
                clock_offset: AtomicI64::new(0),
                next_link: AtomicU64::new(1),
                kick: tokio::sync::Notify::new(),
            });
            for Unreachable { url, reason } in unreachable {
                inner.event(E::RelayerUnavailable { url, reason });
            }
            let channels = resume(&inner).await?;
            inner.event(E::Started {
                address: inner.address,
                channels,
            });
            // The channels are looked at by the chain watch, in the background: a resume does not
            // wait for one read per channel.
            tasks::poll_account(&inner).await;
            Ok::<_, Error>(inner)
        })?;
        runtime.spawn(tasks::tick(inner.clone(), stop_rx.clone()));
        runtime.spawn(tasks::watch_chain(inner.clone(), stop_rx));
        Ok(Self {
            inner,
            runtime: Some(runtime),
            stop,
        })
    }

    /// The account this agent pays from and is paid to.
    pub fn address(&self) -> Address {
        self.inner.address
    }

    /// The deployment it works on.
    pub fn deployment(&self) -> &Deployment {
        &self.inner.deployment
    }

    /// Calls `wake(link_id)` from the agent's threads whenever a link has messages to send or its serve
    /// decision may have changed (a channel checked, a receipt acknowledged, a choke). The host then
    /// calls [`PeerLink::take_outgoing`] and [`PeerLink::may_serve`] on its own thread.
    pub fn set_waker(&self, wake: impl Fn(u64) + Send + Sync + 'static) {
        *self
            .inner
            .waker
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::new(wake));
    }

    /// A link for one peer connection of the torrent `info_hash` (`peer` labels it in reports, e.g.
    /// `ip:port`). Dropping it detaches the connection: a receipt it held is still verified and stored.
    pub fn attach(&self, info_hash: InfoHash, peer: &str) -> PeerLink {
        let id = self.inner.next_link.fetch_add(1, Ordering::Relaxed);
        self.inner.with_state(|state| {
            state.links.insert(
                id,
                Link {
                    info_hash,
                    label: peer.to_owned(),
                    outbox: Default::default(),
                    payee_channel: None,
                    payer_payee: None,
                    free_served: 0,
                },
            );
        });
        PeerLink {
            id,
            inner: self.inner.clone(),
        }
    }

    /// Spend and earnings per torrent and per peer, balances, deposits locked: what the agent knows now
    /// (balances as last read from the chain).
    pub fn report(&self) -> Report {
        report(&self.inner)
    }

    /// The next event, if one happened since the last call (events older than the last 4,096 are
    /// dropped).
    pub fn next_event(&self) -> Option<EventRecord> {
        self.inner
            .events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop_front()
    }

    /// Waits up to `timeout` for the next event.
    pub fn wait_event(&self, timeout: Duration) -> Option<EventRecord> {
        let deadline = Instant::now() + timeout;
        let mut events = self
            .inner
            .events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        loop {
            if let Some(event) = events.pop_front() {
                return Some(event);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            events = self
                .inner
                .event_signal
                .wait_timeout(events, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }

    /// Withdraws `amount` (all of it when `None`) of the free balance to `to` (this account when
    /// `None`); needs an RPC node. The transaction's hash.
    pub fn withdraw(&self, to: Option<Address>, amount: Option<Amount>) -> Result<B256> {
        let inner = self.inner.clone();
        self.block_on(async move {
            let chain = inner.backends.chain("a withdrawal")?;
            let amount = match amount {
                Some(amount) => amount,
                None => chain.balance_of(inner.address).await?,
            };
            let to = to.unwrap_or(inner.address);
            let tx = chain.withdraw(to, amount).await?;
            inner.event(E::Withdrawn {
                to,
                amount,
                id: tx.hash,
            });
            tasks::poll_chain(&inner).await;
            Ok(tx.hash)
        })
    }

    /// Closes every channel this agent pays on: cooperatively where the payee is connected (it
    /// co-signs; closed at once), else by a close request (the payee may settle until the challenge
    /// window ends, then the agent finalizes and the rest of the deposit returns to the free balance).
    /// Hands every receipt it was paid with to a relayer (or settles it) now. Returns once the closes
    /// are under way; events report their end.
    pub fn close_all(&self) -> Result<()> {
        let inner = self.inner.clone();
        self.block_on(async move {
            let open: Vec<B256> = inner.with_state(|state| {
                state
                    .payers
                    .iter()
                    .filter(|(_, p)| {
                        matches!(
                            p.session.channel().map(|c| c.state()),
                            Some(PayerState::Open { .. })
                        )
                    })
                    .map(|(id, _)| *id)
                    .collect()
            });
            let mut cooperative = Vec::new();
            for id in open {
                if payer::propose_close(&inner, id) {
                    cooperative.push(id);
                } else {
                    payer::request_close(&inner, id).await?;
                }
            }
            // A payee that does not co-sign within a while gets a close request instead.
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline && !cooperative.is_empty() {
                tokio::time::sleep(Duration::from_millis(200)).await;
                cooperative.retain(|id| {
                    inner.with_state(|state| {
                        state
                            .payers
                            .get(id)
                            .and_then(|p| p.session.cooperative_close())
                            .is_none()
                    })
                });
            }
            for id in cooperative {
                payer::request_close(&inner, id).await?;
            }
            settle_everything(&inner);
            Ok(())
        })
    }

    /// Stops the background work, makes every change durable, and releases the store. Links still
    /// attached stop working.
    pub fn shutdown(mut self) -> Result<()> {
        self.stop_and_flush()
    }

    fn stop_and_flush(&mut self) -> Result<()> {
        let Some(runtime) = self.runtime.take() else {
            return Ok(());
        };
        let inner = self.inner.clone();
        inner.with_state(|state| state.stopping = true);
        let _ = self.stop.send(true);
        inner.kick.notify_one();
        runtime.block_on(async {
            payee::verify_held(&inner);
            tokio::time::sleep(Duration::from_millis(50)).await;
            payee::flush(&inner).await;
            inner.store.close().await;
        });
        runtime.shutdown_timeout(SHUTDOWN_GRACE);
        Ok(())
    }

    fn block_on<T>(&self, future: impl Future<Output = Result<T>> + Send + 'static) -> Result<T>
    where
        T: Send + 'static,
    {
        let handle = self
            .runtime
            .as_ref()
            .ok_or(Error::ShutDown)?
            .handle()
            .clone();
        // On the caller's thread, blocking it: the runtime's workers run the future's IO.
        std::thread::scope(|scope| {
            scope
                .spawn(move || handle.block_on(future))
                .join()
                .unwrap_or(Err(Error::ShutDown))
        })
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.stop_and_flush();
    }
}

/// One peer connection of one torrent, as the host's peer plugin sees it. Thread-safe; every call is
/// quick (no IO on the caller's thread: what needs the chain, a relayer or a durable write runs on the
/// agent's threads, and its messages wait in the outbox).
pub struct PeerLink {
    id: u64,
    inner: Arc<Inner>,
}

impl core::fmt::Debug for PeerLink {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PeerLink")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// What a link knows of its peer, for the host's choker and display.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerState {
    /// The peer pays this agent on a funded channel.
    pub paying: bool,
    /// The price per piece it pays (its accepted bid), zero when not paying: rank unchoke slots by it.
    pub bid: Amount,
    /// It may be served its next piece now.
    pub serve: bool,
    /// It owes for pieces served (a receipt may be on its way): keep the connection a little.
    pub owed: bool,
    /// This agent pays the peer on a funded channel.
    pub buying: bool,
    /// This agent owes the peer: pieces verified and not yet in a receipt, or a receipt not yet
    /// acknowledged. Keep the connection until it clears.
    pub payment_due: bool,
}

impl PeerLink {
    /// The link's id, as the waker names it.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The peer advertised piecepay (its extended handshake): when this agent sells, its terms are
    /// queued as the hello.
    pub fn start(&self) {
        payee::start(&self.inner, self.id);
    }

    /// A piecepay message from the peer (the extended message's payload). Replies land in the outbox.
    pub fn on_message(&self, bytes: &[u8]) {
        shared::on_message(&self.inner, self.id, bytes);
    }

    /// Whether to serve the peer its next piece: on its channel within its credit window, or within
    /// the free share. When false, swallow its requests (BEP 6 reject) and choke it.
    pub fn may_serve(&self) -> bool {
        payee::may_serve(&self.inner, self.id)
    }

    /// A whole piece went to the peer.
    pub fn on_piece_served(&self) {
        payee::on_piece_served(&self.inner, self.id);
    }

    /// A piece the peer supplied passed its hash check: paid with the next receipt.
    pub fn on_piece_verified(&self) {
        payer::on_piece_verified(&self.inner, self.id);
    }

    /// The peer choked us: a raised bid goes out if the policy allows.
    pub fn on_choked(&self) {
        let now = self.inner.now();
        self.inner.with_state(|state| {
            let Some(payee) = state.links.get(&self.id).and_then(|l| l.payer_payee) else {
                return;
            };
            let Some(id) = state.payer_by_payee.get(&payee).copied() else {
                return;
            };
            if let Some(payer) = state.payers.get_mut(&id)
                && let Ok(outcome) = payer.session.on_choked(now)
            {
                state.reply(self.id, &outcome);
            }
        });
    }

    /// The next message to send to the peer (one piecepay extended message payload), if any.
    pub fn next_outgoing(&self) -> Option<Vec<u8>> {
        self.inner.with_state(|state| {
            state
                .links
                .get_mut(&self.id)
                .and_then(|l| l.outbox.pop_front())
        })
    }

    /// The messages to send to the peer, in order (each one piecepay extended message payload).
    pub fn take_outgoing(&self) -> Vec<Vec<u8>> {
        self.inner.with_state(|state| {
            state
                .links
                .get_mut(&self.id)
                .map(|l| l.outbox.drain(..).collect())
                .unwrap_or_default()
        })
    }

    /// What the link knows of its peer.
    pub fn state(&self) -> PeerState {
        let free = self.inner.payee_policy.map_or(0, |p| p.free_pieces);
        let state = self.inner.lock();
        let Some(link) = state.links.get(&self.id) else {
            return PeerState::default();
        };
        let mut out = PeerState::default();
        let payee = link.payee_channel.and_then(|id| state.payees.get(&id));
        if let Some(payee) = payee.filter(|p| p.paying()) {
            let channel = payee.session.channel().expect("paying");
            out.paying = true;
            out.bid = channel.terms().price();
            out.serve = payee.session.may_serve();
            out.owed = channel.state().account().is_some_and(|a| a.owed() > 0);
        } else {
            out.serve = link.free_served < free;
        }
        let payer = link
            .payer_payee
            .and_then(|p| state.payer_by_payee.get(&p))
            .and_then(|id| state.payers.get(id));
        if let Some(payer) = payer {
            let info = payer.session.info();
            out.buying = matches!(
                payer.session.channel().map(|c| c.state()),
                Some(PayerState::Open { .. })
            );
            out.payment_due =
                info.acknowledged < info.paid || payer.in_flight || !payer.pending.is_empty();
        }
        out
    }
}

impl Drop for PeerLink {
    fn drop(&mut self) {
        let verify = self.inner.with_state(|state| {
            let link = state.links.remove(&self.id)?;
            if let Some(payee) = link.payer_payee
                && let Some(id) = state.payer_by_payee.get(&payee)
                && let Some(payer) = state.payers.get_mut(id)
            {
                payer.links.remove(&self.id);
            }
            let id = link.payee_channel?;
            let payee = state.payees.get_mut(&id)?;
            payee.links.remove(&self.id);
            (payee.session.held_receipt().is_some() && !state.stopping).then_some(id)
        });
        if let Some(id) = verify {
            let inner = self.inner.clone();
            self.inner
                .handle
                .spawn(async move { payee::verify(&inner, id).await });
        }
    }
}

/// Rebuilds every stored channel of this deployment as a session: a payer never signs below what it
/// reserved, a payee keeps its highest receipt and settles what is unsettled. How many.
async fn resume(inner: &Arc<Inner>) -> Result<usize> {
    let domain = inner.deployment.domain();
    let payer_ledger = ledger::load(&inner.store, &inner.deployment, Role::Payer).await?;
    let payee_ledger = ledger::load(&inner.store, &inner.deployment, Role::Payee).await?;
    let mut state = State::default();
    for record in inner.store.payer_channels().await? {
        if record.channel.domain() != &domain || record.channel.payer() != inner.address {
            continue;
        }
        let id = record.channel.id();
        let (salt, price) = (record.channel.salt(), record.terms.price());
        let config = inner.payer_config(salt, price);
        let channel = record.restore(
            inner.signing.clone(),
            PayerConfig {
                auth_ttl: config.channel.auth_ttl,
                ..PayerConfig::default()
            },
        )?;
        let reserved = channel.cumulative();
        let payee = channel.channel().payee();
        let live = !matches!(channel.state(), PayerState::Closed { .. });
        let session = PayerSession::restore(config, channel, reserved)?;
        let ledger = payer_ledger.get(&id).cloned().unwrap_or_default();
        for (info_hash, tally) in &ledger {
            state
                .spent_by_torrent
                .entry(*info_hash)
                .or_default()
                .add(tally.pieces, tally.amount);
        }
        if live {
            state.payer_by_payee.insert(payee, id);
        }
        state
            .payers
            .insert(id, Payer::new(session, ledger, reserved, inner.now()));
    }
    for record in inner.store.payee_channels().await? {
        if record.channel.domain() != &domain || record.channel.payee() != inner.address {
            continue;
        }
        let id = record.channel.id();
        let config = inner.payee_config(Some(record.terms));
        let channel = record.restore()?;
        let mut payee = Payee::new(PayeeSession::restore(config, channel)?);
        payee.saved = true;
        payee.served = payee_ledger.get(&id).cloned().unwrap_or_default();
        state.payees.insert(id, payee);
    }
    let channels = state.payers.len() + state.payees.len();
    *inner.lock() = state;
    Ok(channels)
}

/// Hands every receipt held to a relayer (or settles it) now, whatever the settlement policy says.
fn settle_everything(inner: &Arc<Inner>) {
    inner.with_state(|state| {
        for payee in state.payees.values_mut() {
            if let Some(channel) = payee.session.channel_mut()
                && let Some(account) = channel.state().account()
                && account.paid() > account.settled.max(account.handed)
            {
                payee.dirty = true;
            }
        }
    });
    let task = inner.clone();
    inner.spawn(async move {
        let policy = task.payee_policy;
        if policy.is_none() {
            return;
        }
        let receipts: Vec<(B256, piecepay_sdk::SignedReceipt)> = task.with_state(|state| {
            state
                .payees
                .iter()
                .filter_map(|(id, p)| {
                    let account = p.session.channel()?.state().account()?;
                    let receipt = account.receipt.clone()?;
                    (receipt.cumulative() > account.settled.max(account.handed))
                        .then_some((*id, receipt))
                })
                .collect()
        });
        for (_, receipt) in receipts {
            let _ = task.backends.hand(&receipt).await;
        }
        task.kick.notify_one();
    });
}

/// The report, from the sessions and the ledgers.
fn report(inner: &Inner) -> Report {
    let state = inner.lock();
    let mut torrents: HashMap<InfoHash, TorrentReport> = HashMap::new();
    let torrent = |torrents: &mut HashMap<InfoHash, TorrentReport>, info_hash: InfoHash| {
        torrents.entry(info_hash).or_insert_with(|| TorrentReport {
            info_hash,
            ..TorrentReport::default()
        });
    };
    for (info_hash, tally) in &state.spent_by_torrent {
        torrent(&mut torrents, *info_hash);
        let t = torrents.get_mut(info_hash).expect("just inserted");
        t.pieces_paid = tally.pieces;
        t.spent = tally.amount;
    }
    let mut peers = Vec::new();
    let mut locked = 0;
    let mut pending = 0;
    let mut earned = 0;
    for (id, payer) in &state.payers {
        let info = payer.session.info();
        let Some(channel) = payer.session.channel() else {
            continue;
        };
        let settled = match channel.state() {
            PayerState::Closed { settled, .. } => *settled,
            _ => 0,
        };
        let open = !matches!(channel.state(), PayerState::Closed { .. });
        let channel_locked = if open {
            info.deposit.saturating_sub(info.paid.min(info.deposit))
        } else {
            0
        };
        locked += channel_locked;
        peers.push(PeerReport {
            role: "payer",
            peer: channel.channel().payee(),
            channel_id: *id,
            state: state_name(info.state),
            price: info.price,
            deposit: info.deposit,
            paid: payer.reserved,
            settled,
            pending: payer.reserved.saturating_sub(settled),
            locked: channel_locked,
            pieces: payer.ledger.values().map(|t| t.pieces).sum(),
            connections: labels(&state, &payer.links),
        });
    }
    for (id, payee) in &state.payees {
        let info = payee.session.info();
        let Some(channel) = payee.session.channel() else {
            continue;
        };
        let settled = match channel.state() {
            PayeeState::Closed { settled, .. } => *settled,
            other => other.account().map_or(0, |a| a.settled),
        };
        earned += info.paid;
        pending += info.paid.saturating_sub(settled);
        let served_total: Amount = payee.served.values().map(|t| t.amount).sum();
        for (info_hash, tally) in &payee.served {
            torrent(&mut torrents, *info_hash);
            let t = torrents.get_mut(info_hash).expect("just inserted");
            t.pieces_served += tally.pieces;
            t.served += tally.amount;
            // Shared in proportion to what each torrent was served (a channel pays for all of them).
            if served_total > 0 {
                t.earned += share(info.paid, tally.amount, served_total);
                t.settled += share(settled, tally.amount, served_total);
            }
        }
        peers.push(PeerReport {
            role: "payee",
            peer: channel.channel().payer(),
            channel_id: *id,
            state: state_name(info.state),
            price: info.price,
            deposit: info.deposit,
            paid: info.paid,
            settled,
            pending: info.paid.saturating_sub(settled),
            locked: 0,
            pieces: info.pieces,
            connections: labels(&state, &payee.links),
        });
    }
    peers.sort_by(|a, b| (a.role, a.channel_id).cmp(&(b.role, b.channel_id)));
    let mut torrents: Vec<_> = torrents.into_values().collect();
    torrents.sort_by_key(|t| t.info_hash);
    Report {
        address: inner.address,
        chain_id: inner.deployment.chain_id,
        escrow: inner.deployment.escrow,
        wallet: WalletReport {
            withdrawable: state.balance,
            tokens: state.tokens,
            locked,
            pending,
        },
        spent: state.spent(),
        earned,
        torrents,
        peers,
    }
}

/// The labels of `links` that are attached.
fn labels(state: &State, links: &std::collections::BTreeSet<u64>) -> Vec<String> {
    links
        .iter()
        .filter_map(|id| state.links.get(id).map(|l| l.label.clone()))
        .collect()
}

/// `total × part / whole`, without overflow for any amount in the escrow's range.
fn share(total: Amount, part: Amount, whole: Amount) -> Amount {
    total
        .checked_mul(part)
        .map_or_else(|| total / whole * part, |product| product / whole)
}

const fn state_name(state: piecepay_sdk::session::SessionState) -> &'static str {
    use piecepay_sdk::session::SessionState as S;
    match state {
        S::Negotiating => "negotiating",
        S::Proposed => "proposed",
        S::Opening => "opening",
        S::Open => "open",
        S::Closing => "closing",
        S::Closed => "closed",
    }
}

use backends::Unreachable;
