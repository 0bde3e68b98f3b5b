//! The payee's side of a channel: accept a bid, serve pieces within a credit window, accept receipts,
//! decide when to settle, close.
//!
//! [`PayeeChannel`] never does IO. Each call takes `now` and its inputs and returns a decision or an
//! error; a refused call changes nothing. Chain events come back in through the `on_*` methods.
//!
//! ```text
//! Proposed --on_channel_opened--> Open --on_piece_served/on_receipt/on_topped_up/on_settled--> Open
//! Open | Closing{Cooperative|ByPayee} --on_close_requested--> Closing{Challenge}
//! Open | Closing --cooperative_close--> Closing{Cooperative}
//! Open | Closing{Challenge|Cooperative} --close--> Closing{ByPayee}
//! Open | Closing --on_closed--> Closed
//! ```
//!
//! **Persistence rule.** A payee must never lose its highest receipt: save each accepted receipt
//! durably (`PayeeStore::save_receipt_if_higher`, or a [`GroupCommit`](crate::store::GroupCommit)) before
//! acknowledging it, and snapshot the state (`PayeeStore::save_payee`) after the other transitions. The
//! snapshot after a piece served may be lazy: a lost `served` only under-counts what is owed, by at most
//! the credit window.
//!
//! **Deferred verification.** [`DeferredReceipt`] checks receipts cheaply on arrival and verifies only the
//! newest when it matters, one signature recovery for many receipts (see its module).

mod deferred;

use piecepay_protocol::{
    CompactSignature, CooperativeClose, Receipt, SigningKey, SolStruct,
    admission::{Admission, ChannelView, Phase, Refusal},
    alloy_primitives::Address,
    channel_id,
};

pub use deferred::{Arrival, DeferredReceipt};

use crate::{
    Amount, Channel, CreditWindow, Error, MAX_AMOUNT, Result, Signed, SignedReceipt, Terms,
    channel::{check_deposit, from_u96},
};

/// What a payee asks of bids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PayeePolicy {
    /// The lowest price per piece accepted.
    pub min_price: Amount,
    /// The credit extended to every paying peer.
    pub credit: CreditWindow,
}

impl PayeePolicy {
    /// Checks the policy: the terms at `min_price` must be valid ([`Terms::new`]).
    pub fn validate(&self) -> Result<()> {
        Terms::new(self.min_price, self.credit)
            .map(drop)
            .map_err(|_| Error::InvalidPolicy("no valid terms at min_price with this credit"))
    }

    /// Accepts a bid of `bid` per piece — the terms to answer with — or rejects it with
    /// [`Error::BidTooLow`] (its code and `min_price` go in the wire `reject`), or with
    /// [`Error::InvalidTerms`] if no terms at that price work (a credit amount below the price).
    pub fn evaluate_bid(&self, bid: Amount) -> Result<Terms> {
        if bid < self.min_price {
            return Err(Error::BidTooLow {
                bid,
                min_price: self.min_price,
            });
        }
        Terms::new(bid, self.credit)
    }
}

/// When a payee hands its latest receipt to a relayer, or settles it itself.
///
/// Only the highest receipt matters, so a settlement carries just that one; sending it twice is harmless
/// (the escrow skips a stale one), but costs gas, so the payee remembers what it sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SettlePolicy {
    /// Hand the latest receipt to the relayer once this much value is neither settled nor handed over.
    pub min_value: Amount,
    /// ... or once the oldest such value is this many seconds old.
    pub max_age: u64,
    /// Closing: hand it to the relayer when the challenge window ends within this many seconds.
    pub relayer_margin: u64,
    /// Closing: settle it on chain yourself when the challenge window ends within this many seconds
    /// and the chain has not settled it yet (the relayer may be late, or gone).
    pub self_settle_margin: u64,
    /// Send the latest receipt again when what was handed or submitted is still not settled this many
    /// seconds later: the relayer may have lost it, a transaction may have been dropped. Resending is
    /// harmless (the escrow skips what it has already settled); it costs a request or gas.
    pub resend_after: u64,
}

impl SettlePolicy {
    /// Checks the policy: the relayer gets its chance first (`self_settle_margin ≤ relayer_margin`), and
    /// a resend waits a while (`resend_after > 0`).
    pub fn validate(&self) -> Result<()> {
        if self.self_settle_margin > self.relayer_margin {
            return Err(Error::InvalidPolicy(
                "self_settle_margin must not exceed relayer_margin",
            ));
        }
        if self.resend_after == 0 {
            return Err(Error::InvalidPolicy("resend_after must be positive"));
        }
        Ok(())
    }
}

/// Where a settlement should go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SettleRoute {
    /// Hand the receipt to the relayer, which batches it.
    Relayer,
    /// Submit `settleBatch` with it yourself.
    OnChain,
}

/// Why a settlement is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SettleReason {
    /// The unsettled value reached [`SettlePolicy::min_value`].
    Value,
    /// The unsettled value is older than [`SettlePolicy::max_age`], or what was sent for settlement is
    /// still unsettled after [`SettlePolicy::resend_after`].
    Age,
    /// The payer requested a close and the challenge window is about to end.
    CloseDeadline,
}

/// A settlement due now: send `receipt` by `route`, then report it with
/// [`PayeeChannel::on_settlement_sent`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settlement {
    /// The latest receipt.
    pub receipt: SignedReceipt,
    /// Why now.
    pub reason: SettleReason,
    /// Where to.
    pub route: SettleRoute,
}

/// Why a peer must not be served now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChokeReason {
    /// No funded channel (not yet, or no longer).
    NotOpen,
    /// The channel is closing.
    Closing,
    /// One more piece would put the unpaid value over the credit window.
    OverCredit {
        /// Value served and not paid for.
        owed: Amount,
        /// The credit window in token base units.
        limit: Amount,
    },
    /// One more piece could never be paid: it would exceed the deposit. The payer must top up.
    DepositExhausted {
        /// The channel's deposit.
        deposit: Amount,
        /// Value served so far.
        served: Amount,
    },
}

/// Whether to serve a peer its next piece.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[must_use]
pub enum ServeDecision {
    /// Serve (unchoke, answer requests).
    Serve,
    /// Do not serve: choke, or reject requests (BEP 6) and send `payment-required`.
    Choke(ChokeReason),
}

/// A receipt accepted by [`PayeeChannel::on_receipt`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Accepted {
    /// How much the receipt adds to what was accepted before.
    pub delta: Amount,
    /// Its cumulative amount: what to acknowledge.
    pub cumulative: Amount,
    /// Whether to serve the peer now.
    pub serve: ServeDecision,
}

/// The payee's books of a funded channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// The channel's deposit on chain.
    pub deposit: Amount,
    /// Value of the pieces served, each at the price in force when it was served.
    pub served: Amount,
    /// Pieces served.
    pub pieces_served: u64,
    /// The highest receipt accepted.
    pub receipt: Option<SignedReceipt>,
    /// What the chain has settled.
    pub settled: Amount,
    /// The highest cumulative handed to a relayer.
    pub handed: Amount,
    /// The highest cumulative submitted on chain by the payee itself.
    pub submitted: Amount,
    /// When the oldest value neither settled nor sent arrived.
    pub pending_since: Option<u64>,
    /// When a receipt was last handed or submitted that the chain has not settled yet.
    pub sent_at: Option<u64>,
}

impl Account {
    /// A fresh account for a channel funded with `deposit`.
    pub const fn new(deposit: Amount) -> Self {
        Self {
            deposit,
            served: 0,
            pieces_served: 0,
            receipt: None,
            settled: 0,
            handed: 0,
            submitted: 0,
            pending_since: None,
            sent_at: None,
        }
    }

    /// What the payer has paid: the highest cumulative accepted, or settled if the chain knows of more.
    pub fn paid(&self) -> Amount {
        self.receipt
            .as_ref()
            .map_or(0, SignedReceipt::cumulative)
            .max(self.settled)
    }

    /// Value served and not paid for.
    pub fn owed(&self) -> Amount {
        self.served.saturating_sub(self.paid())
    }

    /// Value paid and not yet settled on chain.
    pub fn unsettled(&self) -> Amount {
        self.paid() - self.settled
    }

    /// Whether value was sent for settlement and the chain has not settled it `resend_after` later.
    fn resend_due(&self, policy: &SettlePolicy, now: u64) -> bool {
        self.settled < self.handed.max(self.submitted)
            && self
                .sent_at
                .is_some_and(|at| now.saturating_sub(at) >= policy.resend_after)
    }

    /// Value paid and neither settled nor sent for settlement.
    fn unsent(&self) -> Amount {
        self.paid()
            .saturating_sub(self.settled.max(self.handed).max(self.submitted))
    }

    /// Pieces the peer may be served now, at the price in force, before the next one would take what it
    /// owes past the credit window or what it was served past the deposit: 0 exactly when
    /// the serve decision chokes (unbounded, `u64::MAX`, for a zero price).
    pub fn allowance(&self, terms: &Terms) -> u64 {
        if self.serve_decision(terms) != ServeDecision::Serve {
            return 0;
        }
        let price = terms.price();
        if price == 0 {
            return u64::MAX;
        }
        let deposit_left = self.deposit.saturating_sub(self.served);
        // What was paid ahead counts as credit too (`owed` stops at 0).
        let credit_left = terms
            .credit_limit()
            .saturating_add(self.paid())
            .saturating_sub(self.served);
        u64::try_from(deposit_left.min(credit_left) / price).unwrap_or(u64::MAX)
    }

    fn serve_decision(&self, terms: &Terms) -> ServeDecision {
        let price = terms.price();
        if self.served.saturating_add(price) > self.deposit {
            return ServeDecision::Choke(ChokeReason::DepositExhausted {
                deposit: self.deposit,
                served: self.served,
            });
        }
        let (owed, limit) = (self.owed(), terms.credit_limit());
        if owed.saturating_add(price) > limit {
            return ServeDecision::Choke(ChokeReason::OverCredit { owed, limit });
        }
        ServeDecision::Serve
    }

    fn check(&self, channel: &Channel) -> Result<()> {
        if self.deposit > MAX_AMOUNT {
            return Err(Error::AmountTooLarge {
                amount: self.deposit,
            });
        }
        let mut highest = self.settled;
        if let Some(receipt) = &self.receipt {
            highest = highest.max(channel.verify_receipt(&receipt.message, &receipt.signature)?);
        }
        if highest > self.deposit {
            return Err(Error::ExceedsDeposit {
                cumulative: highest,
                deposit: self.deposit,
            });
        }
        Ok(())
    }
}

/// How a payee's channel is being closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PayeeClose {
    /// The payer requested a unilateral close: the latest receipt must be settled by `closes_at`.
    Challenge {
        /// End of the challenge window (the escrow's `closesAt`).
        closes_at: u64,
    },
    /// The payee co-signed a cooperative close at `cumulative`, valid until `deadline`.
    Cooperative {
        /// The agreed final total.
        cumulative: Amount,
        /// The close's deadline.
        deadline: u64,
    },
    /// The payee is closing the channel itself (`closeByPayee`).
    ByPayee,
}

/// The payee's view of a channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PayeeState {
    /// Terms agreed with the payer; no funded channel seen yet.
    Proposed,
    /// Funded: serving within the credit window, accepting receipts.
    Open {
        /// The books.
        account: Account,
    },
    /// Closing: no more serving; receipts still accepted while they can be settled.
    Closing {
        /// The books.
        account: Account,
        /// How the close is going.
        close: PayeeClose,
    },
    /// Closed on chain with `settled` paid to the payee.
    Closed {
        /// The channel's final deposit.
        deposit: Amount,
        /// What the payee was paid.
        settled: Amount,
    },
}

impl PayeeState {
    /// The state's name, as [`Error::InvalidState`] reports it.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Proposed => "proposed",
            Self::Open { .. } => "open",
            Self::Closing { .. } => "closing",
            Self::Closed { .. } => "closed",
        }
    }

    /// The books, while the channel is open or closing.
    pub const fn account(&self) -> Option<&Account> {
        match self {
            Self::Open { account } | Self::Closing { account, .. } => Some(account),
            Self::Proposed | Self::Closed { .. } => None,
        }
    }

    const fn account_mut(&mut self) -> Option<&mut Account> {
        match self {
            Self::Open { account } | Self::Closing { account, .. } => Some(account),
            Self::Proposed | Self::Closed { .. } => None,
        }
    }
}

/// What the payee submits to close the channel itself: settle `settle_first` (if any), then
/// `closeByPayee(payer, salt)` — the close does not take a receipt, so what is not settled first is lost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseByPayee {
    /// The channel's payer.
    pub payer: Address,
    /// The channel's salt.
    pub salt: u32,
    /// The latest receipt, if it holds more than the chain has settled.
    pub settle_first: Option<SignedReceipt>,
}

/// A payee's channel state machine. It holds no key: the one call that signs takes it as an argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayeeChannel {
    channel: Channel,
    terms: Terms,
    state: PayeeState,
    updated_at: u64,
}

impl PayeeChannel {
    /// A new channel in [`PayeeState::Proposed`] with the terms agreed with the payer (see
    /// [`PayeePolicy::evaluate_bid`]).
    pub const fn new(channel: Channel, terms: Terms, now: u64) -> Self {
        Self {
            channel,
            terms,
            state: PayeeState::Proposed,
            updated_at: now,
        }
    }

    /// Rebuilds a channel from its stored state, checking it first: the stored receipt is the payer's for
    /// this channel and nothing exceeds the deposit.
    pub fn restore(
        channel: Channel,
        terms: Terms,
        state: PayeeState,
        updated_at: u64,
    ) -> Result<Self> {
        if let Some(account) = state.account() {
            account.check(&channel)?;
        }
        if let PayeeState::Closed { deposit, settled } = state
            && settled > deposit
        {
            return Err(Error::ExceedsDeposit {
                cumulative: settled,
                deposit,
            });
        }
        Ok(Self {
            channel,
            terms,
            state,
            updated_at,
        })
    }

    /// The channel's identity.
    pub const fn channel(&self) -> &Channel {
        &self.channel
    }

    /// The terms in force.
    pub const fn terms(&self) -> &Terms {
        &self.terms
    }

    /// The current state: what to persist.
    pub const fn state(&self) -> &PayeeState {
        &self.state
    }

    /// `now` of the last transition.
    pub const fn updated_at(&self) -> u64 {
        self.updated_at
    }

    /// The highest receipt accepted.
    pub fn latest_receipt(&self) -> Option<&SignedReceipt> {
        self.state.account().and_then(|a| a.receipt.as_ref())
    }

    /// What the payer has paid (0 before the channel is funded). Once closed, what the chain paid out:
    /// the books are gone, and a receipt not settled by then was never collected.
    pub fn paid(&self) -> Amount {
        match &self.state {
            PayeeState::Closed { settled, .. } => *settled,
            state => state.account().map_or(0, Account::paid),
        }
    }

    /// `action` is not a legal transition from the channel's current state.
    pub(crate) fn invalid(&self, action: &'static str) -> Error {
        Error::InvalidState {
            action,
            state: self.state.name(),
        }
    }

    /// Adopts renegotiated terms (a raised bid): legal while proposed or open. Pieces already served keep
    /// their price.
    pub fn update_terms(&mut self, terms: Terms, now: u64) -> Result<()> {
        match self.state {
            PayeeState::Proposed | PayeeState::Open { .. } => {
                self.terms = terms;
                self.updated_at = now;
                Ok(())
            }
            _ => Err(self.invalid("update the terms of")),
        }
    }

    /// The chain shows the channel open with `deposit` (the caller checked it): Proposed → Open.
    pub fn on_channel_opened(&mut self, deposit: Amount, now: u64) -> Result<()> {
        if !matches!(self.state, PayeeState::Proposed) {
            return Err(self.invalid("open"));
        }
        check_deposit(deposit)?;
        self.state = PayeeState::Open {
            account: Account::new(deposit),
        };
        self.updated_at = now;
        Ok(())
    }

    /// The chain raised the deposit to `deposit` (`ChannelToppedUp`): Open → Open, or Closing{Cooperative |
    /// ByPayee} → same (closes the chain has not seen: the channel is still open there, so a top-up signed
    /// earlier can land, and receipts up to it can still be settled).
    pub fn on_topped_up(&mut self, deposit: Amount, now: u64) -> Result<()> {
        let account = match &mut self.state {
            PayeeState::Open { account }
            | PayeeState::Closing {
                account,
                close: PayeeClose::Cooperative { .. } | PayeeClose::ByPayee,
            } => account,
            _ => return Err(self.invalid("top up")),
        };
        if deposit <= account.deposit {
            return Err(Error::StaleTopUp {
                deposit: account.deposit,
                requested: deposit,
            });
        }
        check_deposit(deposit)?;
        account.deposit = deposit;
        self.updated_at = now;
        Ok(())
    }

    /// Whether to serve the peer its next piece: only on an open channel, within the credit window and the
    /// deposit. Ask before serving (swallow the request if it says choke).
    pub fn serve_decision(&self) -> ServeDecision {
        match &self.state {
            PayeeState::Open { account } => account.serve_decision(&self.terms),
            PayeeState::Closing { .. } => ServeDecision::Choke(ChokeReason::Closing),
            PayeeState::Proposed | PayeeState::Closed { .. } => {
                ServeDecision::Choke(ChokeReason::NotOpen)
            }
        }
    }

    /// Pieces the peer may be served now before it must pay more ([`Account::allowance`]); 0 unless open.
    pub fn allowance(&self) -> u64 {
        match &self.state {
            PayeeState::Open { account } => account.allowance(&self.terms),
            _ => 0,
        }
    }

    /// A piece was served at the current price: Open → Open. Returns whether to serve the next one.
    pub fn on_piece_served(&mut self, now: u64) -> Result<ServeDecision> {
        let PayeeState::Open { account } = &mut self.state else {
            return Err(self.invalid("serve a piece on"));
        };
        account.served = account.served.saturating_add(self.terms.price());
        account.pieces_served += 1;
        self.updated_at = now;
        Ok(self.serve_decision())
    }

    /// The checks [`Self::on_receipt`] makes before it recovers the signature, without changing anything:
    /// the one admission rule ([`piecepay_protocol::admission`]: a duplicate of the receipt held is taken
    /// again; otherwise the channel must be open, or closing within its challenge window, and the
    /// cumulative above everything accepted or settled and within the deposit). `Ok(true)` for the very
    /// receipt already held, byte for byte (a resend: no recovery needed), `Ok(false)` for one worth the
    /// recovery — a new one, or the held cumulative under another signature, which is a duplicate only if
    /// the payer signed it.
    ///
    /// An integrator that defers verification (holding the newest receipt until it matters) runs these
    /// checks on arrival, so a peer learns at once of a receipt that could never be accepted.
    pub fn precheck_receipt(
        &self,
        receipt: &Receipt,
        signature: &CompactSignature,
        now: u64,
    ) -> Result<bool> {
        let cumulative = from_u96(receipt.cumulative);
        let held = self.latest_receipt();
        let view = match &self.state {
            PayeeState::Open { account } | PayeeState::Closing { account, .. } => ChannelView {
                phase: match &self.state {
                    PayeeState::Closing {
                        close: PayeeClose::Challenge { closes_at },
                        ..
                    } => Phase::Closing {
                        closes_at: Some(*closes_at),
                    },
                    PayeeState::Closing { .. } => Phase::Closing { closes_at: None },
                    _ => Phase::Open,
                },
                deposit: account.deposit,
                settled: account.settled,
                held: held.map(SignedReceipt::cumulative),
            },
            PayeeState::Proposed | PayeeState::Closed { .. } => ChannelView {
                phase: Phase::NotOpen,
                deposit: 0,
                settled: 0,
                held: None,
            },
        };
        match view.admit(cumulative, now) {
            Ok(Admission::Duplicate) => {
                Ok(held.is_some_and(|h| h.message == *receipt && h.signature == *signature))
            }
            Ok(Admission::New) => Ok(false),
            Err(Refusal::NotOpen) => Err(self.invalid("accept a receipt on")),
            Err(Refusal::ChallengeExpired { closes_at }) => {
                Err(Error::ChallengeExpired { closes_at })
            }
            Err(Refusal::Stale { cumulative, latest }) => {
                Err(Error::StaleReceipt { cumulative, latest })
            }
            Err(Refusal::ExceedsDeposit {
                cumulative,
                deposit,
            }) => Err(Error::ExceedsDeposit {
                cumulative,
                deposit,
            }),
        }
    }

    /// A receipt arrived from the peer: Open or Closing → same, with the receipt as the new highest.
    ///
    /// Accepted only if it passes [`Self::precheck_receipt`] (cheap checks first, so stale floods cost no
    /// signature recovery), its signature recovers the channel's payer, and the channel id derived from
    /// it is this channel's. During a challenge window it is refused once the window is over
    /// ([`Error::ChallengeExpired`]): it could no longer be settled.
    ///
    /// A duplicate — the cumulative already held, signed by the payer — is accepted again with `delta` 0
    /// and no change (the held receipt stays, first one wins): the payer resends it when its
    /// acknowledgement never came (the save before the ack may have failed), and the caller saves
    /// (idempotent) and acknowledges it. The very bytes held cost no recovery.
    pub fn on_receipt(
        &mut self,
        receipt: &Receipt,
        signature: &CompactSignature,
        now: u64,
    ) -> Result<Accepted> {
        let cumulative = from_u96(receipt.cumulative);
        let latest = self.paid();
        let same_bytes = self.precheck_receipt(receipt, signature, now)?;
        if !same_bytes {
            self.channel.verify_receipt(receipt, signature)?;
        }
        if same_bytes || self.latest_receipt().map(SignedReceipt::cumulative) == Some(cumulative) {
            return Ok(Accepted {
                delta: 0,
                cumulative,
                serve: self.serve_decision(),
            });
        }

        let account = self
            .state
            .account_mut()
            .expect("open or closing, checked above");
        account.receipt = Some(Signed {
            message: receipt.clone(),
            signature: *signature,
        });
        account.pending_since.get_or_insert(now);
        self.updated_at = now;
        Ok(Accepted {
            delta: cumulative - latest,
            cumulative,
            serve: self.serve_decision(),
        })
    }

    /// Whether to settle now, where, and with which receipt (always the latest). `None` when nothing is
    /// due, nothing is unsettled, or the challenge window is already over.
    pub fn settlement(&self, policy: &SettlePolicy, now: u64) -> Option<Settlement> {
        let (account, close) = match &self.state {
            PayeeState::Open { account } => (account, None),
            PayeeState::Closing { account, close } => (account, Some(*close)),
            _ => return None,
        };
        let receipt = account.receipt.as_ref()?;
        let cumulative = receipt.cumulative();
        if cumulative <= account.settled {
            return None;
        }
        let due = |reason, route| {
            Some(Settlement {
                receipt: receipt.clone(),
                reason,
                route,
            })
        };
        if let Some(PayeeClose::Challenge { closes_at }) = close {
            if now > closes_at {
                return None;
            }
            let left = closes_at - now;
            // Not submitted yet, or submitted and still unsettled a while later (dropped, reorged out).
            if left <= policy.self_settle_margin
                && (cumulative > account.submitted
                    || (account.submitted > account.settled && account.resend_due(policy, now)))
            {
                return due(SettleReason::CloseDeadline, SettleRoute::OnChain);
            }
            if left <= policy.relayer_margin && cumulative > account.handed.max(account.submitted) {
                return due(SettleReason::CloseDeadline, SettleRoute::Relayer);
            }
        }
        if account.unsent() == 0 {
            // All sent: again only if it went unsettled for too long (the relayer lost it or is gone).
            return account
                .resend_due(policy, now)
                .then(|| due(SettleReason::Age, SettleRoute::Relayer))
                .flatten();
        }
        if account.unsent() >= policy.min_value {
            return due(SettleReason::Value, SettleRoute::Relayer);
        }
        if account
            .pending_since
            .is_some_and(|since| now.saturating_sub(since) >= policy.max_age)
        {
            return due(SettleReason::Age, SettleRoute::Relayer);
        }
        None
    }

    /// The receipt of cumulative `cumulative` was handed to a relayer or submitted on chain, as a
    /// [`Settlement`] asked: Open or Closing → same. Amounts above what was accepted are ignored.
    pub fn on_settlement_sent(
        &mut self,
        route: SettleRoute,
        cumulative: Amount,
        now: u64,
    ) -> Result<()> {
        let Some(account) = self.state.account_mut() else {
            return Err(self.invalid("settle"));
        };
        let cumulative = cumulative.min(account.paid());
        let sent = match route {
            SettleRoute::Relayer => &mut account.handed,
            SettleRoute::OnChain => &mut account.submitted,
        };
        *sent = (*sent).max(cumulative);
        if cumulative >= account.paid() {
            account.pending_since = None;
        }
        if cumulative > account.settled {
            account.sent_at = Some(now);
        }
        self.updated_at = now;
        Ok(())
    }

    /// The chain settled the channel up to `settled` (`ReceiptsSettled`): Open or Closing → same.
    /// Replayed or older events are harmless.
    pub fn on_settled(&mut self, settled: Amount, now: u64) -> Result<()> {
        let Some(account) = self.state.account_mut() else {
            return Err(self.invalid("settle"));
        };
        if settled > account.deposit {
            return Err(Error::ExceedsDeposit {
                cumulative: settled,
                deposit: account.deposit,
            });
        }
        account.settled = account.settled.max(settled);
        if account.settled >= account.paid() {
            account.pending_since = None;
        }
        if account.settled >= account.handed.max(account.submitted) {
            account.sent_at = None;
        }
        self.updated_at = now;
        Ok(())
    }

    /// The chain started the challenge window (`CloseRequested`), ending at `closes_at`: Open or
    /// Closing{Cooperative | ByPayee} → Closing{Challenge}. Watch [`settlement`](Self::settlement).
    pub fn on_close_requested(&mut self, closes_at: u64, now: u64) -> Result<()> {
        let account = match &self.state {
            PayeeState::Open { account }
            | PayeeState::Closing {
                account,
                close: PayeeClose::Cooperative { .. } | PayeeClose::ByPayee,
            } => account.clone(),
            _ => return Err(self.invalid("start the challenge of")),
        };
        self.state = PayeeState::Closing {
            account,
            close: PayeeClose::Challenge { closes_at },
        };
        self.updated_at = now;
        Ok(())
    }

    /// Co-signs the payer's cooperative close with the payee's `key`: Open or Closing →
    /// Closing{Cooperative}. Returns the payee's signature; with the payer's, the relayer the close names
    /// (anyone, if none) may submit `cooperativeClose`.
    ///
    /// From here on the payee serves nothing on this channel ([`serve_decision`](Self::serve_decision)
    /// chokes): the payer holds a close it can submit until its deadline, and receipts for pieces served
    /// after it would not be settled once it lands. A payee that wants to trade on must first void its
    /// signature on chain (`advanceChannelNonce`) and open anew.
    ///
    /// Refused if expired, for another channel, not signed by the payer, or for less than the payee
    /// already holds a receipt for ([`Error::CloseBelowReceipts`]).
    pub fn cooperative_close(
        &mut self,
        close: &CooperativeClose,
        payer_signature: &CompactSignature,
        key: &SigningKey,
        now: u64,
    ) -> Result<Signed<CooperativeClose>> {
        let Some(account) = self.state.account() else {
            return Err(self.invalid("cooperatively close"));
        };
        let deadline = close.deadline.to::<u64>();
        if now > deadline {
            return Err(Error::SignatureExpired { deadline });
        }
        let actual = channel_id(close.payer, close.payee, close.salt);
        if actual != self.channel.id() {
            return Err(Error::ChannelMismatch {
                expected: self.channel.id(),
                actual,
            });
        }
        let recovered =
            payer_signature.recover(&close.eip712_signing_hash(self.channel.domain()))?;
        if recovered != self.channel.payer() {
            return Err(Error::WrongSigner {
                recovered,
                expected: self.channel.payer(),
            });
        }
        let (cumulative, latest) = (from_u96(close.cumulative), account.paid());
        if cumulative < latest {
            return Err(Error::CloseBelowReceipts { cumulative, latest });
        }
        let account = account.clone();
        let signed = self
            .channel
            .sign(key, self.channel.payee(), close.clone())?;
        self.state = PayeeState::Closing {
            account,
            close: PayeeClose::Cooperative {
                cumulative,
                deadline,
            },
        };
        self.updated_at = now;
        Ok(signed)
    }

    /// Closes the channel from the payee's side: Open or Closing{Challenge | Cooperative} →
    /// Closing{ByPayee}. Returns what to submit, in order.
    pub fn close(&mut self, now: u64) -> Result<CloseByPayee> {
        let account = match &self.state {
            PayeeState::Open { account }
            | PayeeState::Closing {
                account,
                close: PayeeClose::Challenge { .. } | PayeeClose::Cooperative { .. },
            } => account.clone(),
            _ => return Err(self.invalid("close")),
        };
        let settle_first = account
            .receipt
            .clone()
            .filter(|receipt| receipt.cumulative() > account.settled);
        self.state = PayeeState::Closing {
            account,
            close: PayeeClose::ByPayee,
        };
        self.updated_at = now;
        Ok(CloseByPayee {
            payer: self.channel.payer(),
            salt: self.channel.salt(),
            settle_first,
        })
    }

    /// The chain closed the channel (`ChannelClosed`) with `settled` paid to the payee: Open or
    /// Closing → Closed.
    pub fn on_closed(&mut self, settled: Amount, now: u64) -> Result<()> {
        let Some(account) = self.state.account() else {
            return Err(self.invalid("close"));
        };
        let deposit = account.deposit;
        if settled > deposit {
            return Err(Error::ExceedsDeposit {
                cumulative: settled,
                deposit,
            });
        }
        self.state = PayeeState::Closed { deposit, settled };
        self.updated_at = now;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use piecepay_protocol::alloy_primitives::{
        B256,
        aliases::{U40, U96},
    };

    use super::*;
    use crate::channel::tests::{channel_between, key};

    const PRICE: Amount = 10;
    const DEPOSIT: Amount = 100;
    const T0: u64 = 1_000;
    const CLOSES_AT: u64 = 5_000;

    fn terms() -> Terms {
        Terms::new(PRICE, CreditWindow::Pieces(2)).unwrap()
    }

    fn channel() -> Channel {
        channel_between(&key(1), &key(2), 7)
    }

    /// A receipt signed by `signer` for `channel`.
    fn receipt_on(channel: &Channel, signer: u8, cumulative: Amount) -> SignedReceipt {
        let message = Receipt {
            payee: channel.payee(),
            salt: channel.salt(),
            cumulative: U96::from(cumulative),
        };
        let signer = key(signer);
        channel.sign(&signer, signer.address(), message).unwrap()
    }

    fn receipt(cumulative: Amount) -> SignedReceipt {
        receipt_on(&channel(), 1, cumulative)
    }

    fn accept(ch: &mut PayeeChannel, cumulative: Amount, now: u64) -> Result<Accepted> {
        let signed = receipt(cumulative);
        ch.on_receipt(&signed.message, &signed.signature, now)
    }

    fn cooperative_message(cumulative: Amount, deadline: u64) -> CooperativeClose {
        let channel = channel();
        CooperativeClose {
            payer: channel.payer(),
            payee: channel.payee(),
            salt: channel.salt(),
            cumulative: U96::from(cumulative),
            fee: U96::from(1u64),
            relayer: Address::ZERO,
            channelNonce: 0,
            deadline: U40::from(deadline),
        }
    }

    fn payer_signed(close: CooperativeClose) -> Signed<CooperativeClose> {
        channel().sign(&key(1), key(1).address(), close).unwrap()
    }

    fn co_sign(
        ch: &mut PayeeChannel,
        cumulative: Amount,
        now: u64,
    ) -> Result<Signed<CooperativeClose>> {
        let signed = payer_signed(cooperative_message(cumulative, T0 + 60));
        ch.cooperative_close(&signed.message, &signed.signature, &key(2), now)
    }

    fn proposed() -> PayeeChannel {
        PayeeChannel::new(channel(), terms(), T0)
    }

    fn open() -> PayeeChannel {
        let mut ch = proposed();
        ch.on_channel_opened(DEPOSIT, T0).unwrap();
        ch
    }

    /// Open, one piece served and paid.
    fn open_paid() -> PayeeChannel {
        let mut ch = open();
        let _ = ch.on_piece_served(T0).unwrap();
        accept(&mut ch, PRICE, T0).unwrap();
        ch
    }

    fn challenge() -> PayeeChannel {
        let mut ch = open_paid();
        ch.on_close_requested(CLOSES_AT, T0).unwrap();
        ch
    }

    fn cooperative() -> PayeeChannel {
        let mut ch = open_paid();
        co_sign(&mut ch, PRICE, T0).unwrap();
        ch
    }

    fn by_payee() -> PayeeChannel {
        let mut ch = open_paid();
        ch.close(T0).unwrap();
        ch
    }

    fn closed() -> PayeeChannel {
        let mut ch = open_paid();
        ch.on_closed(PRICE, T0).unwrap();
        ch
    }

    fn account(ch: &PayeeChannel) -> &Account {
        ch.state().account().unwrap()
    }

    fn settle_policy() -> SettlePolicy {
        SettlePolicy {
            min_value: 50,
            max_age: 300,
            relayer_margin: 600,
            self_settle_margin: 120,
            resend_after: 900,
        }
    }

    // --- bids ----------------------------------------------------------------------------------

    #[test]
    fn bids_at_or_above_the_minimum_are_accepted() {
        let policy = PayeePolicy {
            min_price: 8,
            credit: CreditWindow::Pieces(3),
        };
        assert!(policy.validate().is_ok());
        assert_eq!(
            policy.evaluate_bid(8),
            Terms::new(8, CreditWindow::Pieces(3))
        );
        assert_eq!(policy.evaluate_bid(12).unwrap().credit_limit(), 36);
        assert_eq!(
            policy.evaluate_bid(7),
            Err(Error::BidTooLow {
                bid: 7,
                min_price: 8
            })
        );
        assert_eq!(policy.evaluate_bid(0).unwrap_err().code(), "bid_too_low");
        assert_eq!(
            policy.evaluate_bid(MAX_AMOUNT + 1).unwrap_err().code(),
            "invalid_terms"
        );
    }

    #[test]
    fn a_credit_amount_caps_the_price_a_payee_can_accept() {
        let policy = PayeePolicy {
            min_price: 8,
            credit: CreditWindow::Amount(20),
        };
        assert_eq!(policy.evaluate_bid(20).unwrap().credit_limit(), 20);
        assert_eq!(policy.evaluate_bid(21).unwrap_err().code(), "invalid_terms");
        for bad in [
            PayeePolicy {
                min_price: 0,
                credit: CreditWindow::Pieces(1),
            },
            PayeePolicy {
                min_price: 21,
                credit: CreditWindow::Amount(20),
            },
        ] {
            assert_eq!(bad.validate().unwrap_err().code(), "invalid_policy");
        }
    }

    #[test]
    fn settle_policy_validation() {
        assert!(settle_policy().validate().is_ok());
        let bad = SettlePolicy {
            self_settle_margin: 601,
            ..settle_policy()
        };
        assert_eq!(bad.validate().unwrap_err().code(), "invalid_policy");
        let eager = SettlePolicy {
            resend_after: 0,
            ..settle_policy()
        };
        assert_eq!(eager.validate().unwrap_err().code(), "invalid_policy");
    }

    // --- opening and serving -------------------------------------------------------------------

    #[test]
    fn new_is_proposed_and_serves_nothing() {
        let ch = proposed();
        assert_eq!(ch.state(), &PayeeState::Proposed);
        assert_eq!(
            ch.serve_decision(),
            ServeDecision::Choke(ChokeReason::NotOpen)
        );
        assert_eq!(ch.paid(), 0);
        assert_eq!(ch.latest_receipt(), None);
        assert_eq!(ch.updated_at(), T0);
        assert_eq!(ch.terms(), &terms());
        assert_eq!(ch.channel(), &channel());
        assert_eq!(ch.settlement(&settle_policy(), T0), None);
    }

    #[test]
    fn on_channel_opened_opens_with_a_fresh_account() {
        let mut ch = proposed();
        assert_eq!(ch.on_channel_opened(0, T0), Err(Error::ZeroAmount));
        assert_eq!(
            ch.on_channel_opened(MAX_AMOUNT + 1, T0).unwrap_err().code(),
            "amount_too_large"
        );
        ch.on_channel_opened(DEPOSIT, T0 + 1).unwrap();
        assert_eq!(
            ch.state(),
            &PayeeState::Open {
                account: Account::new(DEPOSIT)
            }
        );
        assert_eq!(ch.serve_decision(), ServeDecision::Serve);
        assert_eq!(ch.updated_at(), T0 + 1);
    }

    #[test]
    fn credit_window_chokes_an_unpaid_peer_and_payment_reopens_it() {
        let mut ch = open();
        assert_eq!(ch.on_piece_served(T0), Ok(ServeDecision::Serve));
        assert_eq!(
            ch.on_piece_served(T0),
            Ok(ServeDecision::Choke(ChokeReason::OverCredit {
                owed: 20,
                limit: 20
            }))
        );
        assert_eq!(account(&ch).pieces_served, 2);
        assert_eq!(account(&ch).owed(), 20);
        let accepted = accept(&mut ch, 10, T0).unwrap();
        assert_eq!(
            accepted,
            Accepted {
                delta: 10,
                cumulative: 10,
                serve: ServeDecision::Serve
            }
        );
        assert_eq!(account(&ch).owed(), 10);
    }

    #[test]
    fn serving_stops_where_the_deposit_ends() {
        let mut ch = proposed();
        ch.on_channel_opened(25, T0).unwrap();
        let _ = ch.on_piece_served(T0).unwrap();
        accept(&mut ch, 10, T0).unwrap();
        assert_eq!(
            ch.on_piece_served(T0),
            Ok(ServeDecision::Choke(ChokeReason::DepositExhausted {
                deposit: 25,
                served: 20
            }))
        );
        accept(&mut ch, 20, T0).unwrap();
        assert_eq!(
            ch.serve_decision(),
            ServeDecision::Choke(ChokeReason::DepositExhausted {
                deposit: 25,
                served: 20
            }),
            "paid up, but one more piece could never be paid"
        );
        ch.on_topped_up(50, T0).unwrap();
        assert_eq!(ch.serve_decision(), ServeDecision::Serve);
    }

    #[test]
    fn allowance_counts_the_pieces_left_before_a_choke() {
        assert_eq!(proposed().allowance(), 0, "not open");
        let mut ch = open();
        assert_eq!(ch.allowance(), 2, "the credit window");
        let _ = ch.on_piece_served(T0).unwrap();
        assert_eq!(ch.allowance(), 1);
        let _ = ch.on_piece_served(T0).unwrap();
        assert_eq!(ch.allowance(), 0);
        assert_ne!(ch.serve_decision(), ServeDecision::Serve);
        accept(&mut ch, 50, T0).unwrap();
        assert_eq!(ch.allowance(), 5, "prepaid: 30 ahead plus the window");
        // The deposit bounds it: 20 served of 100 leaves 8 pieces, though 90 paid and the window cover 9.
        accept(&mut ch, 90, T0).unwrap();
        assert_eq!(ch.allowance(), 8, "the deposit left, not the credit");
        for _ in 0..8 {
            let _ = ch.on_piece_served(T0).unwrap();
        }
        assert_eq!(ch.allowance(), 0);
        assert_eq!(
            ch.serve_decision(),
            ServeDecision::Choke(ChokeReason::DepositExhausted {
                deposit: DEPOSIT,
                served: DEPOSIT
            })
        );
        ch.on_close_requested(CLOSES_AT, T0).unwrap();
        assert_eq!(ch.allowance(), 0, "closing");
    }

    #[test]
    fn prepayment_counts_as_credit() {
        let mut ch = open();
        accept(&mut ch, 30, T0).unwrap();
        for _ in 0..4 {
            assert_eq!(ch.on_piece_served(T0), Ok(ServeDecision::Serve));
        }
        assert_eq!(account(&ch).owed(), 10);
    }

    #[test]
    fn update_terms_prices_the_next_piece() {
        let mut ch = open();
        let _ = ch.on_piece_served(T0).unwrap();
        ch.update_terms(Terms::new(15, CreditWindow::Pieces(2)).unwrap(), T0)
            .unwrap();
        let _ = ch.on_piece_served(T0).unwrap();
        assert_eq!(account(&ch).served, 25);
        proposed().update_terms(terms(), T0).unwrap();
    }

    #[test]
    fn on_topped_up_must_raise_the_deposit() {
        let mut ch = open();
        assert_eq!(
            ch.on_topped_up(DEPOSIT, T0),
            Err(Error::StaleTopUp {
                deposit: DEPOSIT,
                requested: DEPOSIT
            })
        );
        assert_eq!(
            ch.on_topped_up(MAX_AMOUNT + 1, T0).unwrap_err().code(),
            "amount_too_large"
        );
        ch.on_topped_up(150, T0).unwrap();
        assert_eq!(account(&ch).deposit, 150);
    }

    #[test]
    fn closing_channels_serve_nothing() {
        for ch in [challenge(), cooperative(), by_payee()] {
            assert_eq!(
                ch.serve_decision(),
                ServeDecision::Choke(ChokeReason::Closing)
            );
        }
        assert_eq!(
            closed().serve_decision(),
            ServeDecision::Choke(ChokeReason::NotOpen)
        );
    }

    // --- receipts ------------------------------------------------------------------------------

    #[test]
    fn the_same_receipt_again_is_accepted_for_nothing_so_it_can_be_acknowledged() {
        let mut ch = open_paid();
        let held = ch.latest_receipt().unwrap().clone();
        let before = ch.state().clone();
        let again = ch
            .on_receipt(&held.message, &held.signature, T0 + 5)
            .unwrap();
        assert_eq!((again.delta, again.cumulative), (0, PRICE));
        assert_eq!(ch.state(), &before, "nothing changes");
        // The same cumulative under other signature bytes is a duplicate only if the payer signed it:
        // a broken signature is refused, the payer's own re-signature (another nonce) is taken again
        // for nothing, and the receipt held stays (first one wins).
        let mut broken = held.signature;
        broken.r.0[31] ^= 1;
        assert!(ch.on_receipt(&held.message, &broken, T0).is_err());
        let resigned = sign_with_other_nonce(1, &channel(), &held.message);
        assert_ne!(resigned, held.signature);
        let again = ch.on_receipt(&held.message, &resigned, T0).unwrap();
        assert_eq!((again.delta, again.cumulative), (0, PRICE));
        assert_eq!(ch.state(), &before, "the first copy stays");
        let forged = receipt_on(&channel(), 3, PRICE);
        assert_eq!(
            ch.on_receipt(&forged.message, &forged.signature, T0)
                .unwrap_err()
                .code(),
            "wrong_signer"
        );
    }

    /// A valid signature of `receipt` by `key(byte)` that is not the deterministic (RFC 6979) one: what
    /// a payer whose signer draws its own nonces sends.
    fn sign_with_other_nonce(byte: u8, channel: &Channel, receipt: &Receipt) -> CompactSignature {
        use secp256k1::{Message, Secp256k1, SecretKey};
        let secret = SecretKey::from_byte_array(B256::repeat_byte(byte).0).unwrap();
        let digest = receipt.signing_hash(channel.domain_separator());
        let (id, bytes) = Secp256k1::new()
            .sign_ecdsa_recoverable_with_noncedata(
                Message::from_digest(digest.0),
                &secret,
                &[7; 32],
            )
            .serialize_compact();
        let mut vs = B256::from_slice(&bytes[32..]);
        if i32::from(id) == 1 {
            vs.0[0] |= 0x80;
        }
        CompactSignature::new(B256::from_slice(&bytes[..32]), vs)
    }

    #[test]
    fn the_precheck_makes_the_cheap_checks_and_changes_nothing() {
        let ch = open_paid();
        let before = ch.clone();
        let held = ch.latest_receipt().unwrap().clone();
        // The receipt held, resent: worth no recovery. A higher one: worth it.
        assert_eq!(
            ch.precheck_receipt(&held.message, &held.signature, T0),
            Ok(true)
        );
        let next = receipt(PRICE + 1);
        assert_eq!(
            ch.precheck_receipt(&next.message, &next.signature, T0),
            Ok(false)
        );
        // A forged signature passes the precheck: only the recovery in `on_receipt` catches it.
        let forged = receipt_on(&channel(), 3, PRICE + 1);
        assert_eq!(
            ch.precheck_receipt(&forged.message, &forged.signature, T0),
            Ok(false)
        );
        // The held cumulative under other bytes is worth a recovery (a duplicate only if the payer
        // signed it); below it, stale.
        let mut other = held.signature;
        other.r.0[31] ^= 1;
        assert_eq!(ch.precheck_receipt(&held.message, &other, T0), Ok(false));
        let stale = receipt(PRICE - 1);
        assert_eq!(
            ch.precheck_receipt(&stale.message, &stale.signature, T0),
            Err(Error::StaleReceipt {
                cumulative: PRICE - 1,
                latest: PRICE
            })
        );
        let greedy = receipt(DEPOSIT + 1);
        assert_eq!(
            ch.precheck_receipt(&greedy.message, &greedy.signature, T0),
            Err(Error::ExceedsDeposit {
                cumulative: DEPOSIT + 1,
                deposit: DEPOSIT
            })
        );
        assert_eq!(
            proposed()
                .precheck_receipt(&next.message, &next.signature, T0)
                .unwrap_err()
                .code(),
            "invalid_state"
        );
        assert_eq!(ch, before);
    }

    #[test]
    fn receipts_must_increase() {
        let mut ch = open_paid();
        assert_eq!(
            accept(&mut ch, PRICE - 1, T0),
            Err(Error::StaleReceipt {
                cumulative: PRICE - 1,
                latest: PRICE
            })
        );
        let zero = receipt(0);
        assert_eq!(
            open().on_receipt(&zero.message, &zero.signature, T0),
            Err(Error::StaleReceipt {
                cumulative: 0,
                latest: 0
            })
        );
        assert_eq!(accept(&mut ch, 35, T0).unwrap().delta, 25);
        assert_eq!(ch.paid(), 35);
        assert_eq!(ch.latest_receipt(), Some(&receipt(35)));
    }

    #[test]
    fn receipts_must_fit_the_deposit() {
        let mut ch = open();
        assert_eq!(
            accept(&mut ch, DEPOSIT + 1, T0),
            Err(Error::ExceedsDeposit {
                cumulative: DEPOSIT + 1,
                deposit: DEPOSIT
            })
        );
        assert_eq!(accept(&mut ch, DEPOSIT, T0).unwrap().delta, DEPOSIT);
    }

    #[test]
    fn receipts_must_be_the_payers_for_this_channel() {
        let mut ch = open_paid();
        let before = ch.clone();
        let forged = receipt_on(&channel(), 3, 20);
        assert_eq!(
            ch.on_receipt(&forged.message, &forged.signature, T0),
            Err(Error::WrongSigner {
                recovered: key(3).address(),
                expected: key(1).address()
            })
        );
        let other_salt = channel_between(&key(1), &key(2), 8);
        let elsewhere = receipt_on(&other_salt, 1, 20);
        assert_eq!(
            ch.on_receipt(&elsewhere.message, &elsewhere.signature, T0),
            Err(Error::ChannelMismatch {
                expected: channel().id(),
                actual: other_salt.id()
            })
        );
        let other_payee = channel_between(&key(1), &key(4), 7);
        let misdirected = receipt_on(&other_payee, 1, 20);
        assert_eq!(
            ch.on_receipt(&misdirected.message, &misdirected.signature, T0)
                .unwrap_err()
                .code(),
            "channel_mismatch"
        );
        let mut tampered = receipt(20);
        tampered.message.cumulative = U96::from(30u64);
        assert_eq!(
            ch.on_receipt(&tampered.message, &tampered.signature, T0)
                .unwrap_err()
                .code(),
            "wrong_signer"
        );
        let broken = CompactSignature::new(Default::default(), Default::default());
        assert_eq!(
            ch.on_receipt(&receipt(20).message, &broken, T0),
            Err(Error::Protocol(piecepay_protocol::Error::InvalidSignature))
        );
        assert_eq!(ch, before, "refused receipts change nothing");
    }

    #[test]
    fn receipts_during_a_challenge_only_until_it_ends() {
        let mut ch = challenge();
        assert_eq!(accept(&mut ch, 20, CLOSES_AT).unwrap().delta, 10);
        assert_eq!(
            accept(&mut ch, 30, CLOSES_AT + 1),
            Err(Error::ChallengeExpired {
                closes_at: CLOSES_AT
            })
        );
        assert_eq!(
            accept(&mut ch, 30, CLOSES_AT).unwrap().serve,
            ServeDecision::Choke(ChokeReason::Closing)
        );
    }

    #[test]
    fn receipts_while_closing_otherwise_are_accepted() {
        for mut ch in [cooperative(), by_payee()] {
            assert_eq!(accept(&mut ch, 20, T0 + 1_000_000).unwrap().delta, 10);
        }
    }

    #[test]
    fn receipts_at_or_below_what_is_settled_are_stale() {
        let mut ch = open_paid();
        ch.on_settled(40, T0).unwrap();
        assert_eq!(ch.paid(), 40);
        assert_eq!(
            accept(&mut ch, 40, T0),
            Err(Error::StaleReceipt {
                cumulative: 40,
                latest: 40
            })
        );
        assert_eq!(accept(&mut ch, 45, T0).unwrap().delta, 5);
    }

    // --- settlement ----------------------------------------------------------------------------

    #[test]
    fn nothing_to_settle_without_unsettled_receipts() {
        let policy = settle_policy();
        assert_eq!(open().settlement(&policy, T0 + 1_000_000), None);
        let mut ch = open_paid();
        ch.on_settled(PRICE, T0).unwrap();
        assert_eq!(ch.settlement(&policy, T0 + 1_000_000), None);
        assert_eq!(closed().settlement(&policy, T0 + 1_000_000), None);
    }

    #[test]
    fn settle_by_value_through_the_relayer() {
        let policy = settle_policy();
        let mut ch = open_paid();
        assert_eq!(ch.settlement(&policy, T0), None, "10 is below 50");
        accept(&mut ch, 50, T0).unwrap();
        assert_eq!(
            ch.settlement(&policy, T0),
            Some(Settlement {
                receipt: receipt(50),
                reason: SettleReason::Value,
                route: SettleRoute::Relayer
            })
        );
        ch.on_settlement_sent(SettleRoute::Relayer, 50, T0).unwrap();
        assert_eq!(ch.settlement(&policy, T0), None, "handed over already");
        accept(&mut ch, 90, T0).unwrap();
        assert_eq!(ch.settlement(&policy, T0), None, "40 new is below 50");
        accept(&mut ch, 100, T0).unwrap();
        assert_eq!(
            ch.settlement(&policy, T0).map(|s| s.receipt.cumulative()),
            Some(100)
        );
    }

    #[test]
    fn settle_by_age_through_the_relayer() {
        let policy = settle_policy();
        let mut ch = open();
        accept(&mut ch, 10, T0).unwrap();
        accept(&mut ch, 20, T0 + 200).unwrap();
        assert_eq!(ch.settlement(&policy, T0 + 299), None);
        assert_eq!(
            ch.settlement(&policy, T0 + 300),
            Some(Settlement {
                receipt: receipt(20),
                reason: SettleReason::Age,
                route: SettleRoute::Relayer
            })
        );
        ch.on_settlement_sent(SettleRoute::Relayer, 20, T0 + 300)
            .unwrap();
        assert_eq!(account(&ch).pending_since, None);
        accept(&mut ch, 30, T0 + 400).unwrap();
        assert_eq!(account(&ch).pending_since, Some(T0 + 400));
        assert_eq!(ch.settlement(&policy, T0 + 699), None);
        assert!(ch.settlement(&policy, T0 + 700).is_some());
    }

    #[test]
    fn a_challenge_deadline_goes_to_the_relayer_then_on_chain() {
        let policy = SettlePolicy {
            max_age: u64::MAX,
            ..settle_policy()
        };
        let mut ch = challenge();
        assert_eq!(ch.settlement(&policy, CLOSES_AT - 601), None);
        let relayer = ch.settlement(&policy, CLOSES_AT - 600).unwrap();
        assert_eq!(
            (relayer.reason, relayer.route),
            (SettleReason::CloseDeadline, SettleRoute::Relayer)
        );
        ch.on_settlement_sent(SettleRoute::Relayer, PRICE, CLOSES_AT - 600)
            .unwrap();
        assert_eq!(ch.settlement(&policy, CLOSES_AT - 121), None);
        let own = ch.settlement(&policy, CLOSES_AT - 120).unwrap();
        assert_eq!(
            (own.reason, own.route, own.receipt),
            (
                SettleReason::CloseDeadline,
                SettleRoute::OnChain,
                receipt(PRICE)
            )
        );
        ch.on_settlement_sent(SettleRoute::OnChain, PRICE, CLOSES_AT - 120)
            .unwrap();
        assert_eq!(ch.settlement(&policy, CLOSES_AT), None, "submitted already");
        assert_eq!(account(&ch).submitted, PRICE);
    }

    #[test]
    fn a_receipt_handed_and_left_unsettled_is_handed_again() {
        let policy = settle_policy();
        let mut ch = open_paid();
        accept(&mut ch, 50, T0).unwrap();
        ch.on_settlement_sent(SettleRoute::Relayer, 50, T0).unwrap();
        assert_eq!(ch.settlement(&policy, T0 + 899), None);
        let again = ch.settlement(&policy, T0 + 900).unwrap();
        assert_eq!(
            (again.reason, again.route, again.receipt.cumulative()),
            (SettleReason::Age, SettleRoute::Relayer, 50)
        );
        ch.on_settlement_sent(SettleRoute::Relayer, 50, T0 + 900)
            .unwrap();
        assert_eq!(ch.settlement(&policy, T0 + 1_799), None, "waits again");
        ch.on_settled(50, T0 + 1_000).unwrap();
        assert_eq!(account(&ch).sent_at, None);
        assert_eq!(ch.settlement(&policy, T0 + 10_000), None, "settled");
    }

    #[test]
    fn a_dropped_self_settlement_in_the_challenge_is_submitted_again() {
        let policy = SettlePolicy {
            max_age: u64::MAX,
            resend_after: 60,
            ..settle_policy()
        };
        let mut ch = challenge();
        ch.on_settlement_sent(SettleRoute::OnChain, PRICE, CLOSES_AT - 120)
            .unwrap();
        assert_eq!(ch.settlement(&policy, CLOSES_AT - 61), None);
        assert_eq!(
            ch.settlement(&policy, CLOSES_AT - 60)
                .map(|s| (s.reason, s.route)),
            Some((SettleReason::CloseDeadline, SettleRoute::OnChain))
        );
        ch.on_settled(PRICE, CLOSES_AT - 50).unwrap();
        assert_eq!(ch.settlement(&policy, CLOSES_AT - 1), None);
    }

    #[test]
    fn a_late_receipt_in_the_challenge_is_settled_on_chain() {
        let policy = settle_policy();
        let mut ch = challenge();
        ch.on_settlement_sent(SettleRoute::OnChain, PRICE, T0)
            .unwrap();
        accept(&mut ch, 20, CLOSES_AT - 10).unwrap();
        assert_eq!(
            ch.settlement(&policy, CLOSES_AT - 10).map(|s| s.route),
            Some(SettleRoute::OnChain)
        );
        assert_eq!(ch.settlement(&policy, CLOSES_AT + 1), None, "too late");
    }

    #[test]
    fn settlement_sent_is_clamped_to_what_was_accepted() {
        let mut ch = open_paid();
        ch.on_settlement_sent(SettleRoute::Relayer, 1_000, T0)
            .unwrap();
        assert_eq!(account(&ch).handed, PRICE);
        ch.on_settlement_sent(SettleRoute::Relayer, 0, T0).unwrap();
        assert_eq!(account(&ch).handed, PRICE, "never lowered");
    }

    #[test]
    fn on_settled_is_idempotent_and_bounded() {
        let mut ch = open();
        accept(&mut ch, 30, T0).unwrap();
        ch.on_settled(20, T0).unwrap();
        assert_eq!(account(&ch).pending_since, Some(T0), "10 still unsettled");
        assert_eq!(account(&ch).unsettled(), 10);
        ch.on_settled(10, T0).unwrap();
        assert_eq!(account(&ch).settled, 20, "older events change nothing");
        ch.on_settled(30, T0).unwrap();
        assert_eq!(account(&ch).pending_since, None);
        assert_eq!(
            ch.on_settled(DEPOSIT + 1, T0),
            Err(Error::ExceedsDeposit {
                cumulative: DEPOSIT + 1,
                deposit: DEPOSIT
            })
        );
    }

    // --- closing -------------------------------------------------------------------------------

    #[test]
    fn on_close_requested_starts_the_challenge() {
        for mut ch in [open_paid(), cooperative(), by_payee()] {
            ch.on_close_requested(CLOSES_AT, T0 + 1).unwrap();
            assert!(matches!(
                ch.state(),
                PayeeState::Closing {
                    close: PayeeClose::Challenge {
                        closes_at: CLOSES_AT
                    },
                    account,
                } if account.paid() == PRICE
            ));
        }
    }

    #[test]
    fn cooperative_close_is_co_signed() {
        for mut ch in [open_paid(), challenge()] {
            let signed = co_sign(&mut ch, 60, T0).unwrap();
            assert_eq!(signed.message, cooperative_message(60, T0 + 60));
            let digest = signed.message.eip712_signing_hash(channel().domain());
            assert_eq!(signed.signature.recover(&digest), Ok(key(2).address()));
            assert_eq!(
                ch.state(),
                &PayeeState::Closing {
                    account: account(&open_paid()).clone(),
                    close: PayeeClose::Cooperative {
                        cumulative: 60,
                        deadline: T0 + 60
                    }
                }
            );
        }
    }

    /// The cooperative close that later receipts cannot cheat: once the payee co-signed, it serves no more
    /// on the channel (the payer could submit the close any time before its deadline, and nothing served
    /// after it would be paid), whatever arrives — even a higher receipt, which it still accepts and holds.
    #[test]
    fn after_co_signing_a_close_nothing_more_is_served() {
        let mut ch = open_paid();
        assert_eq!(ch.serve_decision(), ServeDecision::Serve);
        co_sign(&mut ch, PRICE, T0).unwrap();
        assert_eq!(
            ch.serve_decision(),
            ServeDecision::Choke(ChokeReason::Closing)
        );
        assert!(ch.on_piece_served(T0).is_err(), "no piece may be served");
        accept(&mut ch, 2 * PRICE, T0).unwrap();
        assert_eq!(
            ch.serve_decision(),
            ServeDecision::Choke(ChokeReason::Closing)
        );
    }

    #[test]
    fn cooperative_close_refusals() {
        let mut ch = open_paid();
        let before = ch.clone();
        let signed = payer_signed(cooperative_message(PRICE, T0 + 60));
        let (close, sig) = (&signed.message, &signed.signature);
        assert_eq!(
            ch.cooperative_close(close, sig, &key(2), T0 + 61),
            Err(Error::SignatureExpired { deadline: T0 + 60 })
        );
        assert_eq!(
            ch.cooperative_close(close, sig, &key(1), T0),
            Err(Error::WrongKey {
                key: key(1).address(),
                expected: key(2).address()
            })
        );
        let below = payer_signed(cooperative_message(PRICE - 1, T0 + 60));
        assert_eq!(
            ch.cooperative_close(&below.message, &below.signature, &key(2), T0),
            Err(Error::CloseBelowReceipts {
                cumulative: PRICE - 1,
                latest: PRICE
            })
        );
        let mut other = cooperative_message(PRICE, T0 + 60);
        other.salt = 8;
        let other = payer_signed(other);
        assert_eq!(
            ch.cooperative_close(&other.message, &other.signature, &key(2), T0)
                .unwrap_err()
                .code(),
            "channel_mismatch"
        );
        let by_someone = channel()
            .sign(
                &key(3),
                key(3).address(),
                cooperative_message(PRICE, T0 + 60),
            )
            .unwrap();
        assert_eq!(
            ch.cooperative_close(close, &by_someone.signature, &key(2), T0),
            Err(Error::WrongSigner {
                recovered: key(3).address(),
                expected: key(1).address()
            })
        );
        assert_eq!(ch, before);
    }

    #[test]
    fn close_by_payee_settles_first_what_the_chain_lacks() {
        let mut ch = open_paid();
        assert_eq!(
            ch.close(T0),
            Ok(CloseByPayee {
                payer: key(1).address(),
                salt: 7,
                settle_first: Some(receipt(PRICE))
            })
        );
        assert!(matches!(
            ch.state(),
            PayeeState::Closing {
                close: PayeeClose::ByPayee,
                ..
            }
        ));
        let mut settled = open_paid();
        settled.on_settled(PRICE, T0).unwrap();
        assert_eq!(settled.close(T0).unwrap().settle_first, None);
        assert_eq!(open().close(T0).unwrap().settle_first, None);
        for mut ch in [challenge(), cooperative()] {
            assert!(ch.close(T0).unwrap().settle_first.is_some());
        }
    }

    #[test]
    fn on_closed_from_open_and_every_closing() {
        for mut ch in [open_paid(), challenge(), cooperative(), by_payee()] {
            assert_eq!(
                ch.on_closed(DEPOSIT + 1, T0),
                Err(Error::ExceedsDeposit {
                    cumulative: DEPOSIT + 1,
                    deposit: DEPOSIT
                })
            );
            ch.on_closed(PRICE, T0 + 3).unwrap();
            assert_eq!(
                ch.state(),
                &PayeeState::Closed {
                    deposit: DEPOSIT,
                    settled: PRICE
                }
            );
            assert_eq!(ch.paid(), PRICE, "what it settled");
            assert_eq!(ch.updated_at(), T0 + 3);
        }
    }

    // --- restore -------------------------------------------------------------------------------

    #[test]
    fn restore_round_trips_every_state() {
        for (_, ch) in every_state() {
            let restored =
                PayeeChannel::restore(channel(), terms(), ch.state().clone(), ch.updated_at())
                    .unwrap();
            assert_eq!(restored, ch);
        }
    }

    #[test]
    fn restore_rejects_inconsistent_state() {
        let restore = |state| PayeeChannel::restore(channel(), terms(), state, T0);
        let mut account = account(&open_paid()).clone();
        account.deposit = PRICE - 1;
        assert_eq!(
            restore(PayeeState::Open {
                account: account.clone()
            })
            .unwrap_err()
            .code(),
            "exceeds_deposit"
        );
        account.deposit = MAX_AMOUNT + 1;
        assert_eq!(
            restore(PayeeState::Open {
                account: account.clone()
            })
            .unwrap_err()
            .code(),
            "amount_too_large"
        );
        account.deposit = DEPOSIT;
        account.receipt = Some(receipt_on(&channel(), 3, 5));
        assert_eq!(
            restore(PayeeState::Open {
                account: account.clone()
            })
            .unwrap_err()
            .code(),
            "wrong_signer"
        );
        account.receipt = None;
        account.settled = DEPOSIT + 1;
        assert_eq!(
            restore(PayeeState::Open { account }).unwrap_err().code(),
            "exceeds_deposit"
        );
        assert_eq!(
            restore(PayeeState::Closed {
                deposit: 1,
                settled: 2
            })
            .unwrap_err()
            .code(),
            "exceeds_deposit"
        );
    }

    // --- illegal transitions -------------------------------------------------------------------

    /// Every state a payee channel can be in, built through legal transitions.
    fn every_state() -> Vec<(&'static str, PayeeChannel)> {
        vec![
            ("proposed", proposed()),
            ("open", open_paid()),
            ("challenge", challenge()),
            ("cooperative", cooperative()),
            ("by_payee", by_payee()),
            ("closed", closed()),
        ]
    }

    type Transition = fn(&mut PayeeChannel) -> Result<()>;

    const OPEN_OR_CLOSING: &[&str] = &["open", "challenge", "cooperative", "by_payee"];

    /// Each transition with arguments that succeed wherever it is legal, and the states it is legal in.
    fn transitions() -> Vec<(&'static str, Transition, &'static [&'static str])> {
        vec![
            (
                "update_terms",
                |ch| ch.update_terms(terms(), T0),
                &["proposed", "open"],
            ),
            (
                "on_channel_opened",
                |ch| ch.on_channel_opened(DEPOSIT, T0),
                &["proposed"],
            ),
            (
                "on_topped_up",
                |ch| ch.on_topped_up(200, T0),
                &["open", "cooperative", "by_payee"],
            ),
            (
                "on_piece_served",
                |ch| ch.on_piece_served(T0).map(drop),
                &["open"],
            ),
            (
                "on_receipt",
                |ch| accept(ch, 50, T0).map(drop),
                OPEN_OR_CLOSING,
            ),
            (
                "on_settlement_sent",
                |ch| ch.on_settlement_sent(SettleRoute::Relayer, PRICE, T0),
                OPEN_OR_CLOSING,
            ),
            ("on_settled", |ch| ch.on_settled(PRICE, T0), OPEN_OR_CLOSING),
            (
                "on_close_requested",
                |ch| ch.on_close_requested(CLOSES_AT, T0),
                &["open", "cooperative", "by_payee"],
            ),
            (
                "cooperative_close",
                |ch| co_sign(ch, PRICE, T0).map(drop),
                OPEN_OR_CLOSING,
            ),
            (
                "close",
                |ch| ch.close(T0).map(drop),
                &["open", "challenge", "cooperative"],
            ),
            ("on_closed", |ch| ch.on_closed(PRICE, T0), OPEN_OR_CLOSING),
        ]
    }

    #[test]
    fn every_transition_is_legal_exactly_where_documented() {
        for (name, transition, legal_in) in transitions() {
            for (state, mut ch) in every_state() {
                let before = ch.clone();
                let result = transition(&mut ch);
                if legal_in.contains(&state) {
                    assert_eq!(result, Ok(()), "{name} from {state}");
                } else {
                    assert!(
                        matches!(result, Err(Error::InvalidState { state: s, .. }) if s == before.state().name()),
                        "{name} from {state} must be refused: {result:?}"
                    );
                    assert_eq!(ch, before, "{name} from {state} changed the channel");
                }
            }
        }
    }

    #[test]
    fn invalid_state_names_the_action_and_state() {
        let mut ch = proposed();
        let signed = receipt(10);
        let error = ch
            .on_receipt(&signed.message, &signed.signature, T0)
            .unwrap_err();
        assert_eq!(
            error,
            Error::InvalidState {
                action: "accept a receipt on",
                state: "proposed"
            }
        );
        assert_eq!(
            error.to_string(),
            "cannot accept a receipt on a channel that is proposed"
        );
    }
}
