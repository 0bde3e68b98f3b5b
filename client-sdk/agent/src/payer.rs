//! Buying: answering a payee's terms, funding the channel (gasless through a relayer, or on chain),
//! paying verified pieces with one receipt in flight per channel, topping up, closing.

use std::{collections::HashMap, sync::Arc, time::Duration};

use piecepay_protocol::{
    Amount, MAX_AMOUNT,
    alloy_primitives::{Address, B256},
    amount::from_u96,
    relayer_api::{Operation, OperationState},
};
use piecepay_sdk::{Actions, PayerState, store::PayerStore};
use piecepay_wire::Message;

use crate::{
    Error, Result,
    backends::Phase,
    ledger::{self, InfoHash, Tally},
    report::Event,
    shared::{Inner, Payer, State, asks, new_payer, outcome_of, receipt_message},
};

/// Seconds before a failed funding is tried again (the tick retries it while the payee is connected).
const FUNDING_RETRY_S: u64 = 60;

/// How often a funding, top-up or close waits on the chain before looking again.
const POLL: Duration = Duration::from_millis(250);

/// A message for the payer side of `link`.
pub(crate) fn on_message(inner: &Arc<Inner>, link: u64, message: Message) {
    let Some(policy) = inner.payer_policy else {
        return;
    };
    let now = inner.now();
    let mut fund = None;
    let mut top_up = None;
    let mut submit_close = None;
    inner.with_state(|state| {
        let Some(l) = state.links.get(&link) else {
            return;
        };
        let payee = match (&message, l.payer_payee) {
            (Message::Terms(terms), _) => terms.payee,
            (_, Some(payee)) => payee,
            // Accept, ack … before any terms: nothing to pay on.
            _ => return,
        };
        let info_hash = l.info_hash;
        if let Message::Terms(terms) = &message
            && !start_buying(inner, state, link, info_hash, payee, terms.price, policy)
        {
            return;
        }
        let Some(id) = state.payer_by_payee.get(&payee).copied() else {
            return;
        };
        let payer = state.payers.get_mut(&id).expect("indexed");
        let was_open = matches!(
            payer.session.channel().map(|c| c.state()),
            Some(PayerState::Open { .. })
        );
        let kind = message.kind();
        let (outcome, refusal) = outcome_of(payer.session.on_message(message, now));
        if let Some(error) = refusal
            && kind == "terms"
        {
            inner.event(Event::TermsRefused {
                payee,
                code: error.code().to_owned(),
            });
        }
        if asks(&outcome, Actions::OPEN_CHANNEL) {
            fund = Some(payee);
        }
        if asks(&outcome, Actions::TOP_UP) {
            top_up = Some((id, outcome.amount));
        }
        if asks(&outcome, Actions::CLOSE_SIGNED) {
            submit_close = Some(id);
        }
        // Accepted again on an open channel (a new connection, a resumed channel): announce it, and
        // resend the last receipt, which the payee may have missed.
        let again = kind == "accept" && was_open && !asks(&outcome, Actions::OPEN_CHANNEL);
        let announce = again
            .then(|| {
                let deposit = payer.session.channel()?.state().deposit()?;
                Some(payer.session.funded_message(deposit, None))
            })
            .flatten();
        let resend = again
            .then(|| payer.session.latest_receipt().map(receipt_message))
            .flatten();
        state.reply(link, &outcome);
        for message in announce.iter().chain(resend.iter()) {
            state.send(link, message);
        }
    });
    if let Some(payee) = fund {
        let inner = inner.clone();
        inner
            .clone()
            .spawn(async move { fund_channel(&inner, payee).await });
    }
    if let Some((id, total)) = top_up {
        let inner = inner.clone();
        inner
            .clone()
            .spawn(async move { top_up_channel(&inner, id, total).await });
    }
    if let Some(id) = submit_close {
        let inner = inner.clone();
        inner
            .clone()
            .spawn(async move { submit_cooperative_close(&inner, id).await });
    }
}

/// Binds `link` to a payer session for `payee` (the current one, or a new one if there is none or it is
/// closed) unless the budget cannot pay one piece at `price`. Whether to go on with the terms.
fn start_buying(
    inner: &Inner,
    state: &mut State,
    link: u64,
    info_hash: InfoHash,
    payee: Address,
    price: Amount,
    policy: crate::config::PayerPolicy,
) -> bool {
    if payee == inner.address {
        return false;
    }
    let spent = state.spent();
    let torrent_spent = state
        .spent_by_torrent
        .get(&info_hash)
        .map_or(0, |t| t.amount);
    if policy.budget_total.saturating_sub(spent) < price
        || policy.budget_per_torrent().saturating_sub(torrent_spent) < price
    {
        report_exhausted(inner, state, info_hash, price, policy);
        return false;
    }
    let current = state
        .payer_by_payee
        .get(&payee)
        .and_then(|id| state.payers.get(id))
        .filter(|p| {
            !matches!(
                p.session.channel().map(|c| c.state()),
                Some(PayerState::Closing { .. } | PayerState::Closed { .. })
            )
        })
        .is_some();
    if !current {
        let Some(session) = new_payer(inner, state, payee) else {
            return false;
        };
        let id = piecepay_protocol::channel_id(inner.address, payee, session.salt());
        state
            .payers
            .insert(id, Payer::new(session, HashMap::new(), 0, inner.now()));
        state.payer_by_payee.insert(payee, id);
    }
    let id = state.payer_by_payee[&payee];
    let payer = state.payers.get_mut(&id).expect("just ensured");
    payer.links.insert(link);
    payer.last_link = Some(link);
    if let Some(l) = state.links.get_mut(&link) {
        l.payer_payee = Some(payee);
    }
    true
}

/// Reports, once per budget, that `budget_total` (when it cannot pay one more piece at `price`) or the
/// budget of `info_hash` ran out.
fn report_exhausted(
    inner: &Inner,
    state: &mut State,
    info_hash: InfoHash,
    price: Amount,
    policy: crate::config::PayerPolicy,
) {
    let total = policy.budget_total.saturating_sub(state.spent()) < price;
    let key = if total { None } else { Some(info_hash) };
    if state.exhausted.insert(key) {
        inner.event(Event::BudgetExhausted {
            scope: if total { "total" } else { "torrent" },
            info_hash: key,
        });
    }
}

/// A piece from the peer of `link` passed its hash check: pay it (with the next receipt).
pub(crate) fn on_piece_verified(inner: &Arc<Inner>, link: u64) {
    let start = inner.with_state(|state| {
        let l = state.links.get(&link)?;
        let (info_hash, payee) = (l.info_hash, l.payer_payee?);
        let id = *state.payer_by_payee.get(&payee)?;
        let payer = state.payers.get_mut(&id)?;
        // Pieces before the channel is open were the payee's free share.
        if !matches!(
            payer.session.channel().map(|c| c.state()),
            Some(PayerState::Open { .. })
        ) {
            return None;
        }
        *payer.pending.entry(info_hash).or_default() += 1;
        payer.last_link = Some(link);
        (!std::mem::replace(&mut payer.in_flight, true)).then_some(id)
    });
    if let Some(id) = start {
        let inner = inner.clone();
        inner
            .clone()
            .spawn(async move { pay_loop(&inner, id).await });
    }
}

/// What one round of the pay loop signed, to reserve before it leaves.
struct Signed {
    channel: piecepay_sdk::Channel,
    cumulative: Amount,
    signature: piecepay_protocol::CompactSignature,
    message: Message,
    totals: Vec<(InfoHash, Tally)>,
    paid: Vec<(InfoHash, Tally)>,
}

/// Pays the pending pieces of channel `id`, one receipt at a time: sign what passed since the last
/// receipt, reserve it (and what it paid for) durably, send it; then again while pieces passed
/// meanwhile. Every piece is paid within the credit window, at any rate of pieces.
pub(crate) async fn pay_loop(inner: &Arc<Inner>, id: B256) {
    loop {
        let Some(signed) = sign_pending(inner, id) else {
            return;
        };
        let result = ledger::reserve_payment(
            &inner.store,
            &inner.deployment,
            &signed.channel,
            signed.cumulative,
            &signed.signature,
            signed.totals.iter().copied(),
        )
        .await;
        let done = inner.with_state(|state| {
            let Some(payer) = state.payers.get_mut(&id) else {
                return true;
            };
            match &result {
                Ok(()) => {
                    payer.reserved = payer.reserved.max(signed.cumulative);
                    payer.ledger.extend(signed.totals.iter().copied());
                    payer.carry.clear();
                    payer.last_paid = inner.now();
                    let link = payer
                        .last_link
                        .filter(|l| payer.links.contains(l))
                        .or_else(|| payer.links.iter().next_back().copied());
                    for (info_hash, tally) in &signed.paid {
                        state
                            .spent_by_torrent
                            .entry(*info_hash)
                            .or_default()
                            .add(tally.pieces, tally.amount);
                    }
                    // No connection to the payee now: the receipt leaves with the next one (sent again
                    // after its accept), and only the latest receipt matters.
                    if let Some(link) = link {
                        state.send(link, &signed.message);
                    }
                    false
                }
                Err(error) => {
                    // The receipt never left: the next one covers it (the session's cumulative is
                    // already past it) and records what it paid for, which stays carried.
                    payer.in_flight = false;
                    inner.event(Event::Error {
                        code: error.code().to_owned(),
                        message: format!("a receipt could not be made durable: {error}"),
                    });
                    true
                }
            }
        });
        if done {
            return;
        }
    }
}

/// Under the lock: the pending pieces of channel `id` within the budgets, signed as one receipt; `None`
/// (and the loop stops) when there is nothing to pay.
fn sign_pending(inner: &Arc<Inner>, id: B256) -> Option<Signed> {
    let policy = inner.payer_policy?;
    let now = inner.now();
    let mut top_up = None;
    let signed = inner.with_state(|state| {
        let spent = state.spent();
        let spent_by_torrent: Vec<(InfoHash, Amount)> = state
            .payers
            .get(&id)?
            .pending
            .keys()
            .map(|t| (*t, state.spent_by_torrent.get(t).map_or(0, |x| x.amount)))
            .collect();
        let payer = state.payers.get_mut(&id)?;
        let price = match payer.session.channel() {
            Some(channel) if matches!(channel.state(), PayerState::Open { .. }) => {
                channel.terms().price()
            }
            _ => 0,
        };
        if price == 0 || payer.pending.is_empty() {
            payer.in_flight = false;
            return None;
        }
        // Within the budgets — what is left in all and per torrent, counting what an earlier receipt
        // that never left already covers; what does not fit is never paid for.
        let carried = |t: &InfoHash| payer.carry.get(t).map_or(0, |c| c.amount);
        let mut left_total = policy
            .budget_total
            .saturating_sub(spent)
            .saturating_sub(payer.carry.values().map(|c| c.amount).sum());
        let mut paid = Vec::new();
        let mut exhausted = Vec::new();
        for (info_hash, pieces) in std::mem::take(&mut payer.pending) {
            let torrent_spent = spent_by_torrent
                .iter()
                .find(|(t, _)| *t == info_hash)
                .map_or(0, |(_, a)| *a);
            let left_torrent = policy
                .budget_per_torrent()
                .saturating_sub(torrent_spent)
                .saturating_sub(carried(&info_hash));
            let affordable = (left_torrent.min(left_total) / price).min(u128::from(pieces));
            let affordable = u64::try_from(affordable).unwrap_or(u64::MAX);
            if affordable < pieces {
                exhausted.push(info_hash);
            }
            if affordable > 0 {
                let amount = price * u128::from(affordable);
                left_total -= amount;
                paid.push((
                    info_hash,
                    Tally {
                        pieces: affordable,
                        amount,
                    },
                ));
            }
        }
        let pieces: u64 = paid.iter().map(|(_, t)| t.pieces).sum();
        let result = (pieces > 0).then(|| payer.session.pay_pieces(pieces, now));
        let signed = match result {
            None => {
                payer.in_flight = false;
                None
            }
            Some(Ok(outcome)) => {
                if asks(&outcome, Actions::TOP_UP) && policy.auto_top_up {
                    top_up = Some((id, outcome.amount));
                }
                let receipt = payer.session.latest_receipt()?.clone();
                // What the receipt pays for: the pieces now, and what a receipt that never left carried.
                let mut increments = std::mem::take(&mut payer.carry);
                for (info_hash, tally) in &paid {
                    increments
                        .entry(*info_hash)
                        .or_default()
                        .add(tally.pieces, tally.amount);
                }
                let totals = increments
                    .iter()
                    .map(|(t, inc)| {
                        let mut total = payer.ledger.get(t).copied().unwrap_or_default();
                        total.add(inc.pieces, inc.amount);
                        (*t, total)
                    })
                    .collect();
                // Put back for now; taken again once the reservation is durable.
                payer.carry = increments.clone();
                Some(Signed {
                    channel: payer.session.channel()?.channel().clone(),
                    cumulative: receipt.cumulative(),
                    signature: receipt.signature,
                    message: outcome.reply?,
                    totals,
                    paid: increments.into_iter().collect(),
                })
            }
            Some(Err(refused)) => {
                payer.in_flight = false;
                if matches!(refused.error, piecepay_sdk::Error::TopUpNeeded { .. }) {
                    // Nothing was signed: the pieces wait for the top-up.
                    for (info_hash, tally) in &paid {
                        *payer.pending.entry(*info_hash).or_default() += tally.pieces;
                    }
                    if policy.auto_top_up {
                        top_up = Some((id, refused.outcome.amount));
                    }
                } else {
                    inner.event(Event::Error {
                        code: refused.error.code().to_owned(),
                        message: format!("a payment was refused: {}", refused.error),
                    });
                }
                None
            }
        };
        for info_hash in exhausted {
            report_exhausted(inner, state, info_hash, price, policy);
        }
        signed
    });
    if let Some((id, total)) = top_up {
        let task = inner.clone();
        inner.spawn(async move { top_up_channel(&task, id, total).await });
    }
    signed
}

/// Funds the channel to `payee` that its accept asked for: makes sure the free balance covers the
/// deposit (depositing with a permit when the wallet holds tokens and an RPC node is configured), signs
/// the open, stores it, submits it (gasless to a relayer, else as this account's transaction), and
/// waits for the chain; then announces the channel to the payee.
pub(crate) async fn fund_channel(inner: &Arc<Inner>, payee: Address) {
    let Some(policy) = inner.payer_policy else {
        return;
    };
    let Some(id) = inner.with_state(|state| {
        let id = *state.payer_by_payee.get(&payee)?;
        let payer = state.payers.get_mut(&id)?;
        (!std::mem::replace(&mut payer.funding, true)).then_some(id)
    }) else {
        return;
    };
    let result = open(inner, id, payee, policy).await;
    let funded = inner.with_state(|state| {
        let payer = state.payers.get_mut(&id)?;
        payer.funding = false;
        match result {
            Ok(deposit) => {
                match outcome_of(payer.session.channel_funded(deposit, None, inner.now())) {
                    (outcome, None) => Some((outcome, deposit)),
                    (_, Some(error)) => {
                        inner.event(Event::FundingFailed {
                            payee,
                            code: error.code().to_owned(),
                            message: error.to_string(),
                        });
                        None
                    }
                }
            }
            Err(error) => {
                if let Some(channel) = payer.session.channel_mut()
                    && matches!(channel.state(), PayerState::Opening { .. })
                {
                    let _ = channel.on_open_failed(inner.now());
                }
                payer.fund_retry_at = inner.now().saturating_add(FUNDING_RETRY_S);
                inner.event(Event::FundingFailed {
                    payee,
                    code: error.code().to_owned(),
                    message: error.to_string(),
                });
                None
            }
        }
    });
    // Stored open before the payee hears of it: the receipts for the first pieces it then serves are
    // reserved against the stored channel, which refuses them while it still says opening (and a fast
    // payee serves within milliseconds).
    save(inner, id).await;
    if let Some((outcome, deposit)) = funded {
        inner.with_state(|state| {
            let links: Vec<u64> = state
                .payers
                .get(&id)
                .map(|p| p.links.iter().copied().collect())
                .unwrap_or_default();
            for link in links {
                state.reply(link, &outcome);
            }
        });
        inner.event(Event::ChannelOpened {
            payee,
            channel_id: id,
            deposit,
        });
    }
}

/// Opens channel `id` on chain; the deposit the chain shows.
async fn open(
    inner: &Arc<Inner>,
    id: B256,
    payee: Address,
    policy: crate::config::PayerPolicy,
) -> Result<Amount> {
    let deposit = policy.deposit_per_channel;
    let gasless = !inner.backends.relayers.is_empty();
    let fee = if gasless { policy.max_fee } else { 0 };
    if gasless {
        // The relayer opens from the free balance; on chain, `open_on_chain` funds it from the wallet.
        ensure_free_balance(inner, deposit.saturating_add(fee)).await?;
    }
    let now = inner.now();
    let signed = inner
        .with_state(|state| {
            let payer = state.payers.get_mut(&id)?;
            Some(payer.session.open(deposit, fee, now))
        })
        .ok_or(Error::ShutDown)??;
    let deadline = signed.message.deadline.to::<u64>();
    // Durable before anything signed leaves the process.
    save(inner, id).await;
    inner.event(Event::ChannelOpening {
        payee,
        channel_id: id,
        deposit,
        via: if gasless { "relayer" } else { "chain" },
    });
    let op = Operation::Open {
        payer: inner.address,
        message: signed.message.clone(),
        signature: signed.signature,
    };
    let operation = gasless_or_on_chain(inner, &op, async {
        let chain = inner.backends.chain("opening a channel")?;
        open_on_chain(inner, chain, payee, signed.message.salt, deposit).await
    })
    .await?;
    wait_for_deposit(inner, id, operation, deposit, deadline).await
}

/// Opens the channel with this account's own transaction: from the free balance when it holds `deposit`,
/// else straight from the wallet's tokens with an EIP-2612 permit (`fundChannelsWithPermit`: one
/// transaction, no approval and no deposit first).
async fn open_on_chain(
    inner: &Inner,
    chain: &piecepay_sdk::chain::ChainClient,
    payee: Address,
    salt: u32,
    deposit: Amount,
) -> Result<()> {
    if chain.balance_of(inner.address).await? >= deposit {
        chain.open_channel(payee, salt, deposit).await?;
    } else {
        let deadline = inner.now().saturating_add(3_600);
        chain
            .fund_channels_with_permit(&[(payee, salt, deposit)], deadline)
            .await?;
    }
    Ok(())
}

/// Makes sure the account's free balance holds `needed`: with an RPC node, reads it and, if short,
/// deposits the difference from the wallet's tokens with an EIP-2612 permit (one transaction). Without
/// one, the relayer finds out (an open skipped for want of balance fails the funding).
async fn ensure_free_balance(inner: &Inner, needed: Amount) -> Result<()> {
    let Some(chain) = &inner.backends.chain else {
        return Ok(());
    };
    let balance = chain.balance_of(inner.address).await?;
    if balance >= needed {
        return Ok(());
    }
    let missing = needed - balance;
    let tokens = chain.token_balance_of(inner.address).await?;
    if tokens < piecepay_protocol::alloy_primitives::U256::from(missing) {
        return Err(Error::Unavailable(format!(
            "the free balance is {balance} and the wallet holds {tokens} tokens, {needed} are needed: \
             fund this account's escrow balance with deposit(account, amount) from another wallet"
        )));
    }
    chain
        .deposit_with_permit(missing, inner.now().saturating_add(3_600))
        .await?;
    Ok(())
}

/// Waits until the chain shows channel `id` funded with at least `deposit` (its deposit), the gasless
/// operation `operation` fails, or `deadline` passes unseen.
async fn wait_for_deposit(
    inner: &Inner,
    id: B256,
    operation: Option<B256>,
    deposit: Amount,
    deadline: u64,
) -> Result<Amount> {
    loop {
        if let Some(on_chain) = inner.backends.channel(id).await
            && on_chain.phase == Phase::Open
            && on_chain.deposit >= deposit
        {
            return Ok(on_chain.deposit);
        }
        if let Some(op) = operation
            && let Some(status) = inner.backends.operation(op).await
            && matches!(
                status.status,
                OperationState::Failed | OperationState::Expired
            )
        {
            let reason = status
                .reason
                .map(|data| piecepay_sdk::chain::decode_revert(&data).to_string())
                .unwrap_or_else(|| "expired".into());
            return Err(Error::Unavailable(format!(
                "the relayer's {:?} operation did not apply: {reason}",
                status.kind
            )));
        }
        if inner.now() > deadline.saturating_add(60) {
            return Err(Error::Unavailable(format!(
                "channel {id} not funded on chain by its deadline {deadline}"
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Tops channel `id` up to at least `total` (by `deposit_per_channel` at least), within the budget:
/// signed and submitted like an open, then announced.
pub(crate) async fn top_up_channel(inner: &Arc<Inner>, id: B256, total: Amount) {
    let Some(policy) = inner.payer_policy else {
        return;
    };
    let prepared = inner.with_state(|state| {
        let left = policy.budget_total.saturating_sub(state.spent());
        let payer = state.payers.get_mut(&id)?;
        let current = payer.session.channel()?.state().deposit()?;
        // Nothing to lock more for when the budget is spent; a top-up under way is not doubled.
        if left == 0 || payer.funding {
            return None;
        }
        payer.funding = true;
        let target = total
            .max(current.saturating_add(policy.deposit_per_channel))
            .min(MAX_AMOUNT);
        Some((current, target, payer.session.channel()?.channel().payee()))
    });
    let Some((current, target, payee)) = prepared else {
        return;
    };
    let result = async {
        let gasless = !inner.backends.relayers.is_empty();
        let fee = if gasless { policy.max_fee } else { 0 };
        ensure_free_balance(inner, (target - current).saturating_add(fee)).await?;
        let now = inner.now();
        let signed = inner
            .with_state(|state| {
                let channel = state.payers.get_mut(&id)?.session.channel_mut()?;
                Some(channel.top_up(target, fee, now))
            })
            .ok_or(Error::ShutDown)??;
        save(inner, id).await;
        let op = Operation::TopUp {
            payer: inner.address,
            message: signed.message.clone(),
            signature: signed.signature,
        };
        let operation = gasless_or_on_chain(inner, &op, async {
            let chain = inner.backends.chain("a top-up")?;
            chain
                .top_up(payee, signed.message.salt, target - current)
                .await?;
            Ok(())
        })
        .await?;
        wait_for_deposit(
            inner,
            id,
            operation,
            target,
            signed.message.deadline.to::<u64>(),
        )
        .await
    }
    .await;
    let resume = inner.with_state(|state| {
        let payer = state.payers.get_mut(&id)?;
        payer.funding = false;
        match result {
            Ok(deposit) => {
                let (outcome, _) =
                    outcome_of(payer.session.channel_funded(deposit, None, inner.now()));
                let links: Vec<u64> = payer.links.iter().copied().collect();
                inner.event(Event::ToppedUp {
                    channel_id: id,
                    deposit,
                });
                let resume =
                    !payer.pending.is_empty() && !std::mem::replace(&mut payer.in_flight, true);
                for link in links {
                    state.reply(link, &outcome);
                }
                Some(resume)
            }
            Err(error) => {
                inner.event(Event::Error {
                    code: error.code().to_owned(),
                    message: format!("top-up of {id} failed: {error}"),
                });
                None
            }
        }
    });
    save(inner, id).await;
    if resume == Some(true) {
        pay_loop(inner, id).await;
    }
}

/// Proposes a cooperative close of channel `id` on one of its connections (its highest receipt is the
/// final total). Whether a connection was there to carry it.
pub(crate) fn propose_close(inner: &Arc<Inner>, id: B256) -> bool {
    let fee = inner.payer_policy.map_or(0, |p| p.max_fee);
    let now = inner.now();
    let proposed = inner.with_state(|state| {
        let payer = state.payers.get_mut(&id)?;
        let link = payer.links.iter().next_back().copied()?;
        if payer.in_flight || payer.funding || payer.closing {
            return None;
        }
        let (outcome, refusal) = outcome_of(payer.session.close(fee, now));
        if refusal.is_some() {
            return None;
        }
        payer.closing = true;
        let cumulative = payer.session.channel().map_or(0, |c| c.cumulative());
        state.reply(link, &outcome);
        inner.event(Event::CloseSigned {
            channel_id: id,
            role: "payer",
            cumulative,
        });
        Some(())
    });
    if proposed.is_some() {
        let task = inner.clone();
        inner.spawn(async move { save(&task, id).await });
    }
    proposed.is_some()
}

/// Submits the co-signed cooperative close of channel `id` (gasless through a relayer, else as this
/// account's transaction) and waits until the chain shows it closed.
pub(crate) async fn submit_cooperative_close(inner: &Arc<Inner>, id: B256) {
    let Some(close) = inner.with_state(|state| {
        state
            .payers
            .get(&id)
            .and_then(|p| p.session.cooperative_close().cloned())
    }) else {
        return;
    };
    let op = Operation::CooperativeClose {
        message: close.message.clone(),
        payer_signature: close.payer_signature,
        payee_signature: close.payee_signature,
    };
    let result = gasless_or_on_chain(inner, &op, async {
        let chain = inner.backends.chain("a cooperative close")?;
        chain
            .cooperative_close(
                &close.message,
                &close.payer_signature,
                &close.payee_signature,
            )
            .await?;
        Ok(())
    })
    .await;
    if let Err(error) = result {
        inner.event(Event::Error {
            code: error.code().to_owned(),
            message: format!(
                "the cooperative close of {id} at {} was not submitted: {error}",
                from_u96(close.message.cumulative)
            ),
        });
    }
    // The chain watch sees the close and records it.
    inner.kick.notify_one();
}

/// Starts the unilateral close of channel `id` (a close request; the payee may still settle until the
/// challenge window ends, then anyone finalizes).
pub(crate) async fn request_close(inner: &Arc<Inner>, id: B256) -> Result<()> {
    let fee = inner.payer_policy.map_or(0, |p| p.max_fee);
    let now = inner.now();
    let (signed, payee) = inner
        .with_state(|state| {
            let payer = state.payers.get_mut(&id)?;
            payer.closing = true;
            let payee = payer.session.channel()?.channel().payee();
            let channel = payer.session.channel_mut()?;
            Some(channel.request_close(fee, now).map(|s| (s, payee)))
        })
        .ok_or(Error::ShutDown)??;
    save(inner, id).await;
    let salt = signed.message.salt;
    let op = Operation::RequestClose {
        payer: inner.address,
        message: signed.message,
        signature: signed.signature,
    };
    gasless_or_on_chain(inner, &op, async {
        let chain = inner.backends.chain("a close request")?;
        chain.request_close(payee, salt).await?;
        Ok(())
    })
    .await?;
    inner.kick.notify_one();
    Ok(())
}

/// Submits `operation` to a relayer (gasless); with none configured, or none taking it while an RPC node
/// is configured, runs `on_chain` — the same step as this account's own transaction — instead. The
/// relayer's operation id when one took it.
async fn gasless_or_on_chain(
    inner: &Inner,
    operation: &Operation,
    on_chain: impl Future<Output = Result<()>>,
) -> Result<Option<B256>> {
    if !inner.backends.relayers.is_empty() {
        match inner.backends.submit(operation).await {
            Ok(id) => return Ok(Some(id)),
            Err(error) if inner.backends.chain.is_none() => return Err(error),
            Err(error) => inner.event(Event::RelayerUnavailable {
                url: "(all)".into(),
                reason: error.to_string(),
            }),
        }
    }
    on_chain.await?;
    Ok(None)
}

/// Snapshots payer channel `id` (durable when it returns; a failure is reported).
pub(crate) async fn save(inner: &Inner, id: B256) {
    let Some(channel) = inner.with_state(|state| {
        state
            .payers
            .get(&id)
            .and_then(|p| p.session.channel().cloned())
    }) else {
        return;
    };
    if let Err(error) = inner.store.save_payer(&channel).await {
        inner.event(Event::Error {
            code: error.code().to_owned(),
            message: format!("payer channel {id} not saved: {error}"),
        });
    }
}
