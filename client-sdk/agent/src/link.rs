//! [`PeerLink`]: one peer connection, as the host's peer plugin feeds it.

use std::sync::Arc;

use piecepay_protocol::Amount;
use piecepay_sdk::PayerState;

use crate::{
    payee, payer,
    shared::{self, Inner},
};

/// One peer connection of one torrent, as the host's peer plugin sees it. Thread-safe; every call is
/// quick (no IO on the caller's thread: what needs the chain, a relayer or a durable write runs on the
/// agent's threads, and its messages wait in the outbox).
pub struct PeerLink {
    pub(crate) id: u64,
    pub(crate) inner: Arc<Inner>,
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
    /// Whole pieces it may be served now before it must pay more: the free share left, or for a paying
    /// peer the credit window and deposit left (`PayeeSession::allowance`). 0 exactly when not `serve`.
    /// A torrent engine accepts requests for at most this many pieces not yet sent whole.
    pub allowance: u64,
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
            out.allowance = payee.session.allowance();
            out.owed = channel.state().account().is_some_and(|a| a.owed() > 0);
        } else {
            out.allowance = free.saturating_sub(link.free_served);
            out.serve = out.allowance > 0;
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
