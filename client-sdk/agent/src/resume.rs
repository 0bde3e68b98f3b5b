//! Start-up: every stored channel of the deployment rebuilt as a session.

use std::sync::Arc;

use piecepay_sdk::{
    PayeeSession, PayerConfig, PayerSession, PayerState,
    store::{PayeeStore, PayerStore},
};

use crate::{
    Result,
    ledger::{self, Role},
    shared::{Inner, Payee, Payer, State},
};

/// Rebuilds every stored channel of this deployment as a session: a payer never signs below what it
/// reserved, a payee keeps its highest receipt and settles what is unsettled. How many.
pub(crate) async fn resume(inner: &Arc<Inner>) -> Result<usize> {
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
