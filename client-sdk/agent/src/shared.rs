//! The agent's shared state and the synchronous half of its work: routing a peer's message to the right
//! session, the serve decision, counting pieces. Whatever needs IO (the chain, a relayer, a durable
//! write) is handed to a task on the agent's runtime (`payer.rs`, `payee.rs`), which comes back here
//! under the lock with the result. The lock is never held across an await.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque},
    sync::{
        Arc, Condvar, Mutex, MutexGuard, RwLock,
        atomic::{AtomicI64, AtomicU64, Ordering},
    },
    time::{SystemTime, UNIX_EPOCH},
};

use piecepay_protocol::{
    Amount, SigningKey,
    alloy_primitives::{Address, B256, keccak256},
    channel_id,
};
use piecepay_sdk::{
    Actions, Handled, Outcome, PayeeSession, PayeeSessionConfig, PayerConfig, PayerSession,
    PayerSessionConfig, SignedReceipt,
    store::{GroupCommit, SqliteStore},
};
use piecepay_wire::{Code, ErrorMessage, Message};
use tokio::{runtime::Handle, sync::Notify};

use crate::{
    backends::{Backends, Deployment},
    config::{PayeePolicy, PayerPolicy, TimingConfig},
    ledger::{InfoHash, Tally},
    report::{Event, EventRecord},
};

/// Events kept for a reader that does not keep up; older ones are dropped first.
const EVENT_QUEUE: usize = 4_096;

/// The host's wake-up call: a link has messages to send, or its serve decision changed.
pub(crate) type Waker = Arc<dyn Fn(u64) + Send + Sync>;

/// Everything the agent's threads share.
pub(crate) struct Inner {
    pub deployment: Deployment,
    pub signing: SigningKey,
    pub address: Address,
    pub payer_policy: Option<PayerPolicy>,
    pub payee_policy: Option<PayeePolicy>,
    pub timing: TimingConfig,
    pub backends: Backends,
    pub store: SqliteStore,
    pub commit: GroupCommit,
    pub state: Mutex<State>,
    pub events: Mutex<VecDeque<EventRecord>>,
    pub event_signal: Condvar,
    pub waker: RwLock<Option<Waker>>,
    pub handle: Handle,
    /// How far the chain's clock is ahead of this machine's, seconds (deadlines are the chain's); never
    /// negative.
    pub clock_offset: AtomicI64,
    pub next_link: AtomicU64,
    /// Wakes the background loop early (a shutdown, a close request).
    pub kick: Notify,
}

/// The sessions and the links, under one lock.
#[derive(Default)]
pub(crate) struct State {
    pub links: HashMap<u64, Link>,
    /// Payer channels by id, and the current one per payee.
    pub payers: HashMap<B256, Payer>,
    pub payer_by_payee: HashMap<Address, B256>,
    /// Payee channels by id.
    pub payees: HashMap<B256, Payee>,
    /// Per torrent: what this agent paid (sum of the payer ledgers).
    pub spent_by_torrent: HashMap<InfoHash, Tally>,
    /// Budgets already reported exhausted (`None`: the total).
    pub exhausted: HashSet<Option<InfoHash>>,
    /// The account's free balance and tokens, as last read from the chain.
    pub balance: Option<Amount>,
    pub tokens: Option<Amount>,
    /// Links whose host must be woken once the lock is released.
    pub woken: BTreeSet<u64>,
    pub stopping: bool,
}

/// One peer connection of one torrent.
pub(crate) struct Link {
    pub info_hash: InfoHash,
    pub label: String,
    pub outbox: VecDeque<Vec<u8>>,
    /// The channel this peer pays this agent on, once it bid.
    pub payee_channel: Option<B256>,
    /// The peer's address when this agent pays it, once its terms arrived.
    pub payer_payee: Option<Address>,
    /// Pieces served free of charge (no channel).
    pub free_served: u64,
}

/// A channel this agent pays on.
pub(crate) struct Payer {
    pub session: PayerSession,
    /// Per torrent: what the receipts reserved so far paid for (as stored).
    pub ledger: HashMap<InfoHash, Tally>,
    /// Pieces verified and not yet in a receipt.
    pub pending: BTreeMap<InfoHash, u64>,
    /// In the session's cumulative but not yet recorded: a receipt whose reservation failed (it never
    /// left); the next receipt covers and records it.
    pub carry: BTreeMap<InfoHash, Tally>,
    /// The highest cumulative reserved (durable).
    pub reserved: Amount,
    pub in_flight: bool,
    pub funding: bool,
    pub closing: bool,
    pub finalizing: bool,
    pub links: BTreeSet<u64>,
    pub last_link: Option<u64>,
    pub last_paid: u64,
    /// A funding that failed is tried again from then on (a minute later).
    pub fund_retry_at: u64,
}

/// A channel this agent is paid on.
pub(crate) struct Payee {
    pub session: PayeeSession,
    /// Per torrent: pieces served and their value.
    pub served: HashMap<InfoHash, Tally>,
    /// A snapshot (and the served ledger) is due.
    pub dirty: bool,
    /// The channel row exists in the store (receipts may reference it for settlement progress).
    pub saved: bool,
    pub checking: bool,
    pub verifying: bool,
    pub settling: bool,
    /// A settlement that found nobody to take it waits until then (doubling from 2 s, up to
    /// `resend_after_s`).
    pub retry_at: u64,
    pub failures: u32,
    pub links: BTreeSet<u64>,
    pub last_link: Option<u64>,
}

impl Payer {
    /// A channel this agent pays on, with its per-torrent `ledger` and the highest cumulative `reserved`.
    pub(crate) fn new(
        session: PayerSession,
        ledger: HashMap<InfoHash, Tally>,
        reserved: Amount,
        now: u64,
    ) -> Self {
        Self {
            session,
            ledger,
            pending: BTreeMap::new(),
            carry: BTreeMap::new(),
            reserved,
            in_flight: false,
            funding: false,
            closing: false,
            finalizing: false,
            links: BTreeSet::new(),
            last_link: None,
            last_paid: now,
            fund_retry_at: 0,
        }
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn system_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Inner {
    /// The chain's time, as far as the agent knows it (system time corrected by the last block seen).
    pub(crate) fn now(&self) -> u64 {
        system_now().saturating_add_signed(self.clock_offset.load(Ordering::Relaxed).max(0))
    }

    /// Locks the state.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `body` under the lock, then wakes the hosts of the links it queued messages for.
    pub(crate) fn with_state<T>(&self, body: impl FnOnce(&mut State) -> T) -> T {
        let (out, woken) = {
            let mut state = self.lock();
            let out = body(&mut state);
            (out, std::mem::take(&mut state.woken))
        };
        if !woken.is_empty()
            && let Some(waker) = self
                .waker
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
        {
            for link in woken {
                waker(link);
            }
        }
        out
    }

    /// Records an event.
    pub(crate) fn event(&self, event: Event) {
        let mut events = self
            .events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if events.len() == EVENT_QUEUE {
            events.pop_front();
        }
        events.push_back(EventRecord {
            at: self.now(),
            event,
        });
        self.event_signal.notify_all();
    }

    /// Runs `future` on the agent's runtime.
    pub(crate) fn spawn<F>(self: &Arc<Self>, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.handle.spawn(future);
    }

    /// The payer session configuration for a channel (the policy's, or for a channel kept from an
    /// earlier configuration, limits that let it be reported and closed).
    pub(crate) fn payer_config(&self, salt: u32, price: Amount) -> PayerSessionConfig {
        let policy = self.payer_policy;
        PayerSessionConfig {
            chain_id: self.deployment.chain_id,
            escrow: self.deployment.escrow,
            token: self.deployment.token,
            key: self.signing.clone(),
            salt,
            max_price: policy.map_or(price.max(1), |p| p.max_price),
            bid_step: policy.map_or(1, |p| p.bid_step()),
            // The agent enforces its budgets itself, over every channel and torrent.
            budget: Amount::MAX,
            channel: PayerConfig {
                auth_ttl: policy.map_or(600, |p| p.auth_ttl_s),
                ..PayerConfig::default()
            },
        }
    }

    /// The payee session configuration (the policy's, or for a channel kept from an earlier
    /// configuration, its own terms).
    pub(crate) fn payee_config(&self, fallback: Option<piecepay_sdk::Terms>) -> PayeeSessionConfig {
        let policy = self.payee_policy.map_or_else(
            || piecepay_sdk::PayeePolicy {
                min_price: fallback.map_or(1, |t| t.price()),
                credit: fallback.map_or(piecepay_protocol::CreditWindow::Pieces(1), |t| t.credit()),
            },
            |p| piecepay_sdk::PayeePolicy {
                min_price: p.price,
                credit: p.credit(),
            },
        );
        PayeeSessionConfig {
            chain_id: self.deployment.chain_id,
            escrow: self.deployment.escrow,
            token: self.deployment.token,
            key: self.signing.clone(),
            policy,
        }
    }
}

impl State {
    /// Queues `message` on `link` (encoded) and marks the link for a wake-up. Messages the sessions
    /// build are always in range; one that is not is dropped rather than sent invalid.
    pub(crate) fn send(&mut self, link: u64, message: &Message) {
        if let (Some(l), Ok(bytes)) = (self.links.get_mut(&link), message.encode()) {
            l.outbox.push_back(bytes);
            self.woken.insert(link);
        }
    }

    /// Queues the reply of `outcome`, if any.
    pub(crate) fn reply(&mut self, link: u64, outcome: &Outcome) {
        if let Some(reply) = &outcome.reply {
            self.send(link, reply);
        }
    }

    /// Marks `link` for a wake-up (its serve decision may have changed).
    pub(crate) fn wake(&mut self, link: u64) {
        if self.links.contains_key(&link) {
            self.woken.insert(link);
        }
    }

    /// What this agent paid in all: the highest receipts reserved.
    pub(crate) fn spent(&self) -> Amount {
        self.payers.values().map(|p| p.reserved).sum()
    }
}

/// A fresh salt for a channel to `payee`: unpredictable, and not the salt of a channel this agent knows.
pub(crate) fn fresh_salt(state: &State, payer: Address, payee: Address, counter: u64) -> u32 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut seed = [0u8; 48];
    seed[..20].copy_from_slice(payee.as_slice());
    seed[20..36].copy_from_slice(&nanos.to_be_bytes());
    seed[36..44].copy_from_slice(&counter.to_be_bytes());
    let mut salt = u32::from_be_bytes(keccak256(seed)[..4].try_into().expect("4 bytes"));
    while state.payers.contains_key(&channel_id(payer, payee, salt)) {
        salt = salt.wrapping_add(1);
    }
    salt
}

/// What a link asks of the agent when a message arrives (`Agent`'s entry point for peer bytes).
pub(crate) fn on_message(inner: &Arc<Inner>, link: u64, bytes: &[u8]) {
    let message = match Message::decode(bytes) {
        Ok(message) => message,
        Err(error) => {
            inner.with_state(|state| state.send(link, &Message::error_reply(&error)));
            return;
        }
    };
    match &message {
        Message::Terms(_)
        | Message::Accept(_)
        | Message::Reject(_)
        | Message::ReceiptAck(_)
        | Message::PaymentRequired(_) => crate::payer::on_message(inner, link, message),
        Message::Bid(_) | Message::Channel(_) | Message::Receipt(_) => {
            crate::payee::on_message(inner, link, message);
        }
        // A close comes back to the payer that proposed it; otherwise it is a payer's proposal.
        Message::Close(_) => {
            let to_payer = inner.with_state(|state| {
                state
                    .links
                    .get(&link)
                    .and_then(|l| l.payer_payee)
                    .is_some_and(|payee| {
                        state
                            .payer_by_payee
                            .get(&payee)
                            .and_then(|id| state.payers.get(id))
                            .is_some_and(|p| p.closing)
                    })
            });
            if to_payer {
                crate::payer::on_message(inner, link, message);
            } else {
                crate::payee::on_message(inner, link, message);
            }
        }
        // The peer's error is about whichever role it refused; the sessions record its code.
        Message::Error(_) => {
            let paying = inner.with_state(|state| {
                state
                    .links
                    .get(&link)
                    .is_some_and(|l| l.payer_payee.is_some())
            });
            if paying {
                crate::payer::on_message(inner, link, message);
            } else {
                crate::payee::on_message(inner, link, message);
            }
        }
    }
}

/// The `error` message for a refusal that is the agent's rather than a session's.
pub(crate) fn agent_error(code: &str, text: &str, regarding: &str) -> Message {
    Message::Error(ErrorMessage::new(
        Code::new(code).unwrap_or(Code::OTHER),
        text,
        Code::new(regarding),
    ))
}

/// The outcome of a session call, refusal or not: a refusal's outcome carries the `error` for the peer.
pub(crate) fn outcome_of(result: Handled) -> (Outcome, Option<piecepay_sdk::Error>) {
    match result {
        Ok(outcome) => (outcome, None),
        Err(refused) => (refused.outcome, Some(refused.error)),
    }
}

/// Whether `outcome` asks for `action`.
pub(crate) const fn asks(outcome: &Outcome, action: Actions) -> bool {
    outcome.actions.contains(action)
}

/// A payee session for the channel `payer` → this agent with `salt`, new.
pub(crate) fn new_payee(inner: &Inner) -> Option<PayeeSession> {
    PayeeSession::new(inner.payee_config(None)).ok()
}

/// A payer session for `payee` with a fresh salt, new.
pub(crate) fn new_payer(inner: &Inner, state: &State, payee: Address) -> Option<PayerSession> {
    let counter = inner.next_link.fetch_add(1, Ordering::Relaxed);
    let salt = fresh_salt(state, inner.address, payee, counter);
    PayerSession::new(inner.payer_config(salt, 0)).ok()
}

/// The latest receipt a payer signed, as the wire message that carries it.
pub(crate) fn receipt_message(receipt: &SignedReceipt) -> Message {
    Message::Receipt(piecepay_wire::Receipt {
        salt: receipt.message.salt,
        cumulative: receipt.cumulative(),
        signature: receipt.signature,
    })
}
