//! The agent's background work: a tick (settlement, held receipts, snapshots, idle channels) and a
//! chain watch (settlements, close requests and closes of every channel, balances, the chain's clock).

use std::{sync::Arc, time::Duration};

use piecepay_protocol::{Amount, alloy_primitives::B256};
use piecepay_sdk::{PayeeState, PayerState, payee::PayeeClose, payer::PayerClose};
use tokio::sync::watch;

use crate::{
    backends::{OnChain, Phase},
    payee, payer,
    report::Event,
    shared::{Inner, system_now},
};

/// Runs the tick until `stop` says so; one last flush on the way out.
pub(crate) async fn tick(inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    let period = Duration::from_millis(inner.timing.tick_ms);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = inner.kick.notified() => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            payee::flush(&inner).await;
            return;
        }
        payee::verify_held(&inner);
        payee::flush(&inner).await;
        payee::settle_due(&inner);
        close_idle(&inner);
        retry_funding(&inner);
    }
}

/// Runs the chain watch until `stop` says so.
pub(crate) async fn watch_chain(inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    let period = Duration::from_millis(inner.timing.chain_poll_ms);
    loop {
        poll_chain(&inner).await;
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
    }
}

/// One look at the chain: the clock, the balances, and every channel that is not closed.
pub(crate) async fn poll_chain(inner: &Arc<Inner>) {
    poll_account(inner).await;
    poll_channels(inner).await;
}

/// The chain's clock and the account's balances.
pub(crate) async fn poll_account(inner: &Inner) {
    if let Some(chain) = &inner.backends.chain {
        // The chain's clock is never behind its latest block: a block stamped ahead of this machine's
        // clock (a devnet moved forward, a skewed clock) moves the agent's `now` forward with it. A
        // chain that mines on demand leaves its latest block in the past, which says nothing, so the
        // correction only ever grows.
        if let Ok(block_time) = chain.block_timestamp().await {
            let ahead = i64::try_from(block_time).unwrap_or(i64::MAX)
                - i64::try_from(system_now()).unwrap_or(i64::MAX);
            inner
                .clock_offset
                .fetch_max(ahead, std::sync::atomic::Ordering::Relaxed);
        }
        let balance = chain.balance_of(inner.address).await.ok();
        let tokens = chain
            .token_balance_of(inner.address)
            .await
            .ok()
            .and_then(|t| Amount::try_from(t).ok());
        inner.with_state(|state| {
            state.balance = balance.or(state.balance);
            state.tokens = tokens.or(state.tokens);
        });
    }
}

/// Every channel that is not closed, as the chain shows it now.
async fn poll_channels(inner: &Arc<Inner>) {
    let (payees, payers): (Vec<B256>, Vec<B256>) = inner.with_state(|state| {
        let payees = state
            .payees
            .iter()
            .filter(|(_, p)| {
                matches!(
                    p.session.channel().map(|c| c.state()),
                    Some(PayeeState::Open { .. } | PayeeState::Closing { .. })
                )
            })
            .map(|(id, _)| *id)
            .collect();
        let payers = state
            .payers
            .iter()
            .filter(|(_, p)| {
                matches!(
                    p.session.channel().map(|c| c.state()),
                    Some(PayerState::Open { .. } | PayerState::Closing { .. })
                )
            })
            .map(|(id, _)| *id)
            .collect();
        (payees, payers)
    });
    for id in payees {
        if let Some(on_chain) = inner.backends.channel(id).await {
            payee_saw(inner, id, on_chain).await;
        }
    }
    for id in payers {
        if let Some(on_chain) = inner.backends.channel(id).await {
            payer_saw(inner, id, on_chain).await;
        }
    }
}

/// What the chain shows of payee channel `id`.
async fn payee_saw(inner: &Arc<Inner>, id: B256, on_chain: OnChain) {
    payee::on_settled(inner, id, on_chain.settled).await;
    let now = inner.now();
    let changed = inner.with_state(|state| {
        let payee = state.payees.get_mut(&id)?;
        let channel = payee.session.channel_mut()?;
        let event = match (on_chain.phase, channel.state()) {
            (
                Phase::Closing { closes_at },
                PayeeState::Open { .. }
                | PayeeState::Closing {
                    close: PayeeClose::Cooperative { .. } | PayeeClose::ByPayee,
                    ..
                },
            ) => {
                channel.on_close_requested(closes_at, now).ok()?;
                Event::CloseRequested {
                    channel_id: id,
                    role: "payee",
                    closes_at,
                }
            }
            (Phase::Closed, PayeeState::Open { .. } | PayeeState::Closing { .. }) => {
                channel.on_closed(on_chain.settled, now).ok()?;
                Event::ChannelClosed {
                    channel_id: id,
                    role: "payee",
                    settled: on_chain.settled,
                }
            }
            _ => return None,
        };
        inner.event(event);
        payee.dirty = true;
        // The backoff after relayers failed (up to `resend_after_s`) must not hold back a settlement the
        // close deadline now asks for.
        payee.retry_at = 0;
        let links: Vec<u64> = payee.links.iter().copied().collect();
        for link in links {
            state.wake(link);
        }
        Some(())
    });
    if changed.is_some() {
        // A close deadline may now be near: settle at once rather than at the next tick.
        payee::settle_due(inner);
    }
}

/// What the chain shows of payer channel `id`.
async fn payer_saw(inner: &Arc<Inner>, id: B256, on_chain: OnChain) {
    let now = inner.now();
    let finalize = inner.with_state(|state| {
        let payer = state.payers.get_mut(&id)?;
        let channel = payer.session.channel_mut()?;
        let event = match (on_chain.phase, channel.state()) {
            (
                Phase::Closing { closes_at },
                PayerState::Open { .. }
                | PayerState::Closing {
                    close: PayerClose::Cooperative { .. } | PayerClose::Requested { .. },
                    ..
                },
            ) => {
                channel.on_close_requested(closes_at, now).ok()?;
                Some(Event::CloseRequested {
                    channel_id: id,
                    role: "payer",
                    closes_at,
                })
            }
            (Phase::Closed, PayerState::Open { .. } | PayerState::Closing { .. }) => {
                channel.on_closed(on_chain.settled, now).ok()?;
                payer.closing = false;
                Some(Event::ChannelClosed {
                    channel_id: id,
                    role: "payer",
                    settled: on_chain.settled,
                })
            }
            _ => None,
        };
        let changed = event.is_some();
        if let Some(event) = event {
            inner.event(event);
        }
        // The challenge window is over: anyone may finalize, and the refund is this agent's.
        let due = matches!(
            channel.state(),
            PayerState::Closing { close: PayerClose::Challenge { closes_at }, .. } if now > *closes_at
        ) && !payer.finalizing;
        if due {
            payer.finalizing = true;
        }
        Some((changed, due.then(|| (channel.channel().payer(), channel.channel().payee(), channel.channel().salt()))))
    });
    let Some((changed, finalize)) = finalize else {
        return;
    };
    if changed {
        payer::save(inner, id).await;
    }
    if let Some((payer_address, payee_address, salt)) = finalize {
        if let Some(chain) = &inner.backends.chain
            && let Err(error) = chain
                .finalize_close(payer_address, payee_address, salt)
                .await
        {
            inner.event(Event::Error {
                code: error.code().to_owned(),
                message: format!("finalizing {id} failed: {error}"),
            });
        }
        inner.with_state(|state| {
            if let Some(payer) = state.payers.get_mut(&id) {
                payer.finalizing = false;
            }
        });
    }
}

/// Funds again every channel whose bid was accepted and whose funding failed a while ago, while its payee
/// is connected.
fn retry_funding(inner: &Arc<Inner>) {
    let now = inner.now();
    let due: Vec<piecepay_protocol::alloy_primitives::Address> = inner.with_state(|state| {
        state
            .payers
            .values()
            .filter(|p| {
                !p.funding
                    && !p.links.is_empty()
                    && now >= p.fund_retry_at
                    && matches!(
                        p.session.channel().map(|c| c.state()),
                        Some(PayerState::Proposed)
                    )
            })
            .filter_map(|p| p.session.payee())
            .collect()
    });
    for payee in due {
        let task = inner.clone();
        inner.spawn(async move { payer::fund_channel(&task, payee).await });
    }
}

/// Proposes a cooperative close of every payer channel idle for `idle_close_s` whose payee is
/// connected.
fn close_idle(inner: &Arc<Inner>) {
    let Some(policy) = inner.payer_policy else {
        return;
    };
    if policy.idle_close_s == 0 {
        return;
    }
    let now = inner.now();
    let idle: Vec<B256> = inner.with_state(|state| {
        state
            .payers
            .iter()
            .filter(|(_, p)| {
                !p.links.is_empty()
                    && !p.closing
                    && p.pending.is_empty()
                    && now.saturating_sub(p.last_paid) >= policy.idle_close_s
                    && matches!(
                        p.session.channel().map(|c| c.state()),
                        Some(PayerState::Open { .. })
                    )
            })
            .map(|(id, _)| *id)
            .collect()
    });
    for id in idle {
        payer::propose_close(inner, id);
    }
}
