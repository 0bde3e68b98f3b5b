#![doc = include_str!("../README.md")]

mod backends;
pub mod config;
mod error;
mod ledger;
mod link;
mod payee;
mod payer;
pub mod report;
mod resume;
mod shared;
mod tasks;
pub mod wallet;

use std::{
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
    PayerState,
    store::{GroupCommit, SqliteStore},
};
use tokio::{runtime::Runtime, sync::watch};

pub use backends::Deployment;
pub use config::AgentConfig;
pub use error::{Error, Result};
pub use ledger::{InfoHash, Tally};
pub use link::{PeerLink, PeerState};
pub use report::{Event, EventRecord, PeerReport, Report, TorrentReport, WalletReport};

use crate::{
    backends::Backends,
    report::Event as E,
    shared::{Inner, Link, State},
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
            let channels = resume::resume(&inner).await?;
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
        report::build(&self.inner)
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
            payee::settle_everything(&inner);
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

use backends::Unreachable;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_and_links_may_be_shared_between_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Agent>();
        send_sync::<PeerLink>();
    }
}
