//! Selling: terms and bids, checking every claimed channel on chain (never the peer's word), serving
//! within the credit window (or the free share), receipts persisted before they are acknowledged,
//! handed to a relayer or settled on chain by the agent itself.

use std::{sync::Arc, time::Duration};

use piecepay_protocol::{Amount, alloy_primitives::B256, channel_id};
use piecepay_sdk::{
    Actions, Outcome, PayeeState,
    payee::{SettleRoute, Settlement},
    store::{PayeeStore, SettlementProgress},
};
use piecepay_wire::Message;

use crate::{
    backends::Phase,
    ledger,
    report::Event,
    shared::{Inner, Payee, State, agent_error, asks, new_payee, outcome_of},
};

/// How often a claimed channel is looked for again while the chain may not show it yet.
const CHECK_POLL: Duration = Duration::from_millis(500);

/// The hello for a peer that advertised the extension: this agent's terms, when it sells.
pub(crate) fn start(inner: &Arc<Inner>, link: u64) {
    if inner.payee_policy.is_none() {
        return;
    }
    let terms = Message::Terms(inner.payee_config(None).terms());
    inner.with_state(|state| state.send(link, &terms));
}

/// A message for the payee side of `link`.
pub(crate) fn on_message(inner: &Arc<Inner>, link: u64, message: Message) {
    if inner.payee_policy.is_none() && !matches!(message, Message::Error(_)) {
        return;
    }
    let now = inner.now();
    let follow = inner.with_state(|state| {
        let l = state.links.get(&link)?;
        let id = match (&message, l.payee_channel) {
            (_, Some(id)) => id,
            (Message::Bid(bid), None) => {
                let id = channel_id(bid.payer, inner.address, bid.salt);
                if let std::collections::hash_map::Entry::Vacant(entry) = state.payees.entry(id) {
                    entry.insert(Payee::new(new_payee(inner)?));
                }
                let payee = state.payees.get_mut(&id).expect("just ensured");
                payee.links.insert(link);
                payee.last_link = Some(link);
                state.links.get_mut(&link).expect("checked").payee_channel = Some(id);
                id
            }
            // A channel, receipt or close before any bid: the session refuses it.
            _ => {
                let mut session = new_payee(inner)?;
                let (outcome, _) = outcome_of(session.on_message(message, now));
                state.reply(link, &outcome);
                return None;
            }
        };
        let payee = state.payees.get_mut(&id)?;
        let kind = message.kind();
        let (outcome, _) = outcome_of(payee.session.on_message(message, now));
        payee.dirty = true;
        payee.last_link = Some(link);
        if asks(&outcome, Actions::CLOSE_SIGNED) {
            inner.event(Event::CloseSigned {
                channel_id: id,
                role: "payee",
                cumulative: payee.session.cooperative_close().map_or(0, |c| {
                    piecepay_protocol::amount::from_u96(c.message.cumulative)
                }),
            });
        }
        let _ = kind;
        Some(route(inner, state, link, id, outcome))
    });
    if let Some(follow) = follow {
        follow.run(inner);
    }
}

/// What an outcome asks of the agent beyond sending its reply.
#[derive(Default)]
pub(crate) struct FollowUp {
    check: Option<(B256, Amount)>,
    persist: Option<(B256, u64, Outcome)>,
    verify: Option<B256>,
}

impl FollowUp {
    pub(crate) fn run(self, inner: &Arc<Inner>) {
        if let Some((id, claimed)) = self.check {
            let task = inner.clone();
            inner.spawn(async move { check_channel(&task, id, claimed).await });
        }
        if let Some((id, link, outcome)) = self.persist {
            let task = inner.clone();
            inner.spawn(async move { persist_then_reply(&task, id, link, outcome).await });
        }
        if let Some(id) = self.verify {
            let task = inner.clone();
            inner.spawn(async move { verify(&task, id).await });
        }
    }
}

/// Sends `outcome`'s reply now, unless it acknowledges a receipt (then only once the receipt is
/// durable), and collects the checks, persistence and verification it asks for.
pub(crate) fn route(
    _inner: &Inner,
    state: &mut State,
    link: u64,
    id: B256,
    outcome: Outcome,
) -> FollowUp {
    let mut follow = FollowUp::default();
    let payee = state.payees.get_mut(&id).expect("caller's channel");
    if asks(&outcome, Actions::CHECK_CHANNEL) && !payee.checking {
        payee.checking = true;
        follow.check = Some((id, outcome.amount));
    }
    if asks(&outcome, Actions::VERIFY_RECEIPT) && !payee.verifying {
        payee.verifying = true;
        follow.verify = Some(id);
    }
    state.wake(link);
    if asks(&outcome, Actions::PERSIST_RECEIPT) {
        follow.persist = Some((id, link, outcome));
    } else {
        state.reply(link, &outcome);
    }
    follow
}

/// Whether the peer of `link` may be served its next piece: on its open channel within its credit
/// window, else within the free share.
pub(crate) fn may_serve(inner: &Inner, link: u64) -> bool {
    let free = inner.payee_policy.map_or(0, |p| p.free_pieces);
    let state = inner.lock();
    let Some(l) = state.links.get(&link) else {
        return false;
    };
    match l.payee_channel.and_then(|id| state.payees.get(&id)) {
        Some(payee) if payee.paying() => payee.session.may_serve(),
        _ => l.free_served < free,
    }
}

/// A whole piece went to the peer of `link`: counted against its channel (at the price in force), or
/// against the free share.
pub(crate) fn on_piece_served(inner: &Arc<Inner>, link: u64) {
    let now = inner.now();
    let follow = inner.with_state(|state| {
        let l = state.links.get_mut(&link)?;
        let info_hash = l.info_hash;
        let paying = l
            .payee_channel
            .filter(|id| state.payees.get(id).is_some_and(Payee::paying));
        let Some(id) = paying else {
            l.free_served += 1;
            state.wake(link);
            return None;
        };
        let payee = state.payees.get_mut(&id)?;
        let price = payee.session.channel()?.terms().price();
        let (outcome, refusal) = outcome_of(payee.session.on_piece_served(now));
        if refusal.is_none() {
            payee.served.entry(info_hash).or_default().add(1, price);
            payee.dirty = true;
        }
        Some(route(inner, state, link, id, outcome))
    });
    if let Some(follow) = follow {
        follow.run(inner);
    }
}

impl Payee {
    pub(crate) fn new(session: piecepay_sdk::PayeeSession) -> Self {
        Self {
            session,
            served: Default::default(),
            dirty: false,
            saved: false,
            checking: false,
            verifying: false,
            settling: false,
            retry_at: 0,
            failures: 0,
            links: Default::default(),
            last_link: None,
        }
    }

    /// Whether the channel is funded and open: the peer is charged by it.
    pub(crate) fn paying(&self) -> bool {
        matches!(
            self.session.channel().map(|c| c.state()),
            Some(PayeeState::Open { .. })
        )
    }
}

/// Looks the claimed channel `id` up on chain (or with a relayer indexing it), retrying while it may
/// not show yet, and serves on the deposit found there; a channel not open there is refused.
async fn check_channel(inner: &Arc<Inner>, id: B256, claimed: Amount) {
    let give_up = inner.now().saturating_add(inner.timing.channel_check_s);
    let found = loop {
        match inner.backends.channel(id).await {
            Some(on_chain) if on_chain.phase == Phase::Open && on_chain.deposit > 0 => {
                break Ok(on_chain.deposit);
            }
            Some(on_chain) if matches!(on_chain.phase, Phase::Closing { .. } | Phase::Closed) => {
                break Err("the channel is closing or closed on chain".to_owned());
            }
            _ if inner.now() > give_up => {
                break Err(format!(
                    "no open channel {id} on chain (the peer claimed a deposit of {claimed})"
                ));
            }
            _ => tokio::time::sleep(CHECK_POLL).await,
        }
    };
    let now = inner.now();
    inner.with_state(|state| {
        let Some(payee) = state.payees.get_mut(&id) else {
            return;
        };
        payee.checking = false;
        let payer = payee
            .session
            .channel()
            .map(|c| c.channel().payer())
            .unwrap_or_default();
        let links: Vec<u64> = payee.links.iter().copied().collect();
        match found {
            Ok(deposit) => {
                let (outcome, refusal) = outcome_of(payee.session.channel_funded(deposit, now));
                payee.dirty = true;
                if refusal.is_none() {
                    inner.event(Event::ChannelChecked {
                        payer,
                        channel_id: id,
                        deposit,
                    });
                }
                for link in links {
                    state.reply(link, &outcome);
                    state.wake(link);
                }
            }
            Err(reason) => {
                inner.event(Event::ChannelRefused {
                    payer,
                    channel_id: id,
                    reason: reason.clone(),
                });
                let refusal = agent_error("channel_not_funded", &reason, "channel");
                for link in links {
                    state.send(link, &refusal);
                }
            }
        }
    });
}

/// Verifies the receipt held on channel `id` (a signature recovery) and acknowledges it once durable.
pub(crate) async fn verify(inner: &Arc<Inner>, id: B256) {
    let now = inner.now();
    let follow = inner.with_state(|state| {
        let payee = state.payees.get_mut(&id)?;
        payee.verifying = false;
        // With no connection left the receipt is still verified and stored; its ack has nowhere to go.
        let link = payee.last_link.unwrap_or(0);
        let (outcome, _) = outcome_of(payee.session.verify_receipt(now));
        payee.dirty = true;
        Some(route(inner, state, link, id, outcome))
    });
    if let Some(follow) = follow {
        follow.run(inner);
    }
}

/// Stores the highest receipt of channel `id` durably, then sends `outcome`'s reply (which acknowledges
/// it, or is the co-signed close that covers it).
async fn persist_then_reply(inner: &Arc<Inner>, id: B256, link: u64, outcome: Outcome) {
    let Some((channel, receipt, first)) = inner.with_state(|state| {
        let payee = state.payees.get_mut(&id)?;
        let first = !std::mem::replace(&mut payee.saved, true);
        Some((
            payee.session.channel()?.clone(),
            payee.session.latest_receipt()?.clone(),
            first,
        ))
    }) else {
        return;
    };
    // The channel's row first, so settlement progress can be recorded against it after a crash.
    let saved = async {
        if first {
            inner.store.save_payee(&channel).await?;
        }
        inner
            .commit
            .save_receipt_if_higher(channel.channel(), receipt.cumulative(), &receipt.signature)
            .await
    }
    .await;
    inner.with_state(|state| match saved {
        Ok(_) => state.reply(link, &outcome),
        Err(error) => {
            if let Some(payee) = state.payees.get_mut(&id) {
                payee.saved = !first && payee.saved;
            }
            inner.event(Event::Error {
                code: error.code().to_owned(),
                message: format!("receipt of {id} not stored (not acknowledged): {error}"),
            });
        }
    });
}

/// Settles what is due on every payee channel: to a relayer, or on chain by the agent itself when no
/// relayer takes it and a close deadline approaches or the value is worth the gas.
pub(crate) fn settle_due(inner: &Arc<Inner>) {
    let Some(policy) = inner.payee_policy else {
        return;
    };
    let settle = policy.settle_policy();
    let now = inner.now();
    let due: Vec<(B256, Settlement)> = inner.with_state(|state| {
        state
            .payees
            .iter_mut()
            .filter(|(_, p)| !p.settling && now >= p.retry_at)
            .filter_map(|(id, p)| {
                let settlement = p.session.channel()?.settlement(&settle, now)?;
                p.settling = true;
                Some((*id, settlement))
            })
            .collect()
    });
    for (id, settlement) in due {
        let task = inner.clone();
        inner.spawn(async move { settle_one(&task, id, settlement).await });
    }
}

async fn settle_one(inner: &Arc<Inner>, id: B256, settlement: Settlement) {
    let cumulative = settlement.receipt.cumulative();
    let mut route = settlement.route;
    // Whether it went somewhere: a settlement nobody took waits before the next try.
    let mut sent = false;
    if route == SettleRoute::Relayer {
        match inner.backends.hand(&settlement.receipt).await {
            Ok(relayer) => {
                sent = true;
                record(inner, id, SettleRoute::Relayer, cumulative).await;
                inner.event(Event::ReceiptHanded {
                    channel_id: id,
                    cumulative,
                    relayer,
                });
            }
            Err(error) => {
                let first = inner
                    .with_state(|state| state.payees.get(&id).is_some_and(|p| p.failures == 0));
                if first && !inner.backends.relayers.is_empty() {
                    inner.event(Event::RelayerUnavailable {
                        url: "(all)".into(),
                        reason: error.to_string(),
                    });
                }
                if self_settle_allowed(inner, id, &settlement) {
                    route = SettleRoute::OnChain;
                }
            }
        }
    }
    if route == SettleRoute::OnChain {
        match inner.backends.chain("settling by itself") {
            Ok(chain) => match chain.settle_receipt(&settlement.receipt).await {
                Ok(report) => {
                    sent = true;
                    record(inner, id, SettleRoute::OnChain, cumulative).await;
                    inner.event(Event::SelfSettled {
                        channel_id: id,
                        cumulative,
                        tx: report.tx.hash,
                    });
                    if let Some(settled) = report.settled.iter().find(|s| s.channel_id == id) {
                        on_settled(inner, id, settled.settled).await;
                    }
                }
                Err(error) => inner.event(Event::Error {
                    code: error.code().to_owned(),
                    message: format!("settling {id} on chain failed: {error}"),
                }),
            },
            Err(error) => inner.event(Event::Error {
                code: error.code().to_owned(),
                message: error.to_string(),
            }),
        }
    }
    let wait_at_most = inner
        .payee_policy
        .map_or(900, |p| p.settle.resend_after_s)
        .max(1);
    let now = inner.now();
    inner.with_state(|state| {
        if let Some(payee) = state.payees.get_mut(&id) {
            payee.settling = false;
            if sent {
                payee.failures = 0;
                payee.retry_at = 0;
            } else {
                payee.failures = payee.failures.saturating_add(1);
                // 2, 4, 8 … seconds: a relayer still indexing the channel takes it soon; one that is
                // down is not asked every tick.
                let wait = (1u64 << payee.failures.min(16)).min(wait_at_most);
                payee.retry_at = now.saturating_add(wait);
            }
        }
    });
}

/// No relayer took the receipt: settle on chain when nobody else will (no relayer configured), when
/// the unsettled value reaches `self_settle_min_value` (worth the gas), or a close deadline is within
/// the relayer margin.
fn self_settle_allowed(inner: &Inner, id: B256, settlement: &Settlement) -> bool {
    let Some(policy) = inner.payee_policy else {
        return false;
    };
    if inner.backends.relayers.is_empty() {
        return true;
    }
    let state = inner.lock();
    let Some(account) = state
        .payees
        .get(&id)
        .and_then(|p| p.session.channel())
        .and_then(|c| c.state().account())
    else {
        return false;
    };
    let unsettled = settlement
        .receipt
        .cumulative()
        .saturating_sub(account.settled);
    let worth = policy
        .settle
        .self_settle_min_value
        .is_some_and(|min| unsettled >= min);
    worth || settlement.reason == piecepay_sdk::payee::SettleReason::CloseDeadline
}

/// Records that channel `id`'s receipt of `cumulative` went out by `route` (memory and store).
async fn record(inner: &Inner, id: B256, route: SettleRoute, cumulative: Amount) {
    let now = inner.now();
    let Some(channel) = inner.with_state(|state| {
        let payee = state.payees.get_mut(&id)?;
        let channel = payee.session.channel_mut()?;
        let _ = channel.on_settlement_sent(route, cumulative, now);
        payee.dirty = true;
        Some(channel.clone())
    }) else {
        return;
    };
    let _ = inner.store.save_payee(&channel).await;
    if let Err(error) = inner
        .store
        .record_settlement(
            channel.channel(),
            SettlementProgress::sent(route, cumulative),
        )
        .await
    {
        inner.event(Event::Error {
            code: error.code().to_owned(),
            message: format!("settlement progress of {id} not recorded: {error}"),
        });
    }
}

/// The chain settled channel `id` up to `settled`.
pub(crate) async fn on_settled(inner: &Inner, id: B256, settled: Amount) {
    let now = inner.now();
    let Some(channel) = inner.with_state(|state| {
        let payee = state.payees.get_mut(&id)?;
        let before = payee.session.channel()?.state().account()?.settled;
        if settled <= before {
            return None;
        }
        payee.session.on_settled(settled, now).ok()?;
        payee.dirty = true;
        inner.event(Event::Settled {
            channel_id: id,
            role: "payee",
            settled,
        });
        Some(payee.session.channel()?.clone())
    }) else {
        return;
    };
    let _ = inner.store.save_payee(&channel).await;
    let _ = inner
        .store
        .record_settlement(channel.channel(), SettlementProgress::Settled(settled))
        .await;
}

/// Snapshots every payee channel that changed, and what it served per torrent.
pub(crate) async fn flush(inner: &Inner) {
    let dirty: Vec<_> = inner.with_state(|state| {
        state
            .payees
            .iter_mut()
            .filter(|(_, p)| p.dirty)
            .filter_map(|(id, p)| {
                p.dirty = false;
                p.saved = true;
                Some((*id, p.session.channel()?.clone(), p.served.clone()))
            })
            .collect()
    });
    for (id, channel, served) in dirty {
        let saved = async {
            inner.store.save_payee(&channel).await?;
            ledger::write_served(&inner.store, &inner.deployment, id, served).await
        }
        .await;
        if let Err(error) = saved {
            inner.with_state(|state| {
                if let Some(payee) = state.payees.get_mut(&id) {
                    payee.dirty = true;
                }
            });
            inner.event(Event::Error {
                code: error.code().to_owned(),
                message: format!("payee channel {id} not saved: {error}"),
            });
        }
    }
}

/// Verifies every receipt held (the once-a-tick timer): none waits more than a tick for its
/// acknowledgement.
pub(crate) fn verify_held(inner: &Arc<Inner>) {
    let held: Vec<B256> = inner.with_state(|state| {
        state
            .payees
            .iter_mut()
            .filter(|(_, p)| p.session.held_receipt().is_some() && !p.verifying)
            .map(|(id, p)| {
                p.verifying = true;
                *id
            })
            .collect()
    });
    for id in held {
        let task = inner.clone();
        inner.spawn(async move { verify(&task, id).await });
    }
}

/// Hands every receipt held to a relayer (or settles it) now, whatever the settlement policy says.
pub(crate) fn settle_everything(inner: &Arc<Inner>) {
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
