//! The payer's side of a channel: open it, pay piece by piece with cumulative receipts, top it up, close
//! it.
//!
//! [`PayerChannel`] never does IO. Each call takes `now` and its inputs, checks that it is a legal
//! transition, and returns what to send or submit (a signed receipt, a signed gasless authorisation, the
//! arguments of `finalizeClose`); a refused call changes nothing. Chain events come back in through the
//! `on_*` methods.
//!
//! ```text
//! Proposed --open--> Opening --on_opened--> Open --pay/top_up/on_topped_up--> Open
//!    ^                  |                     |
//!    +--on_open_failed--+                     +--cooperative_close--> Closing{Cooperative}
//!                                             +--request_close------> Closing{Requested}
//! Open | Closing{Cooperative|Requested} --on_close_requested--> Closing{Challenge} --finalize (after closes_at)
//! Open | Closing --on_closed--> Closed
//! ```
//!
//! **Persistence rule.** The one thing a payer must never do is sign a receipt at or below one it already
//! signed for the channel, so the caller stores [`PayerChannel::state`] *before* it sends the receipt a
//! call returned, and rebuilds the channel after a restart with [`PayerChannel::restore`].

use piecepay_protocol::{
    CooperativeClose, OpenChannel, Receipt, RequestClose, SigningKey, TopUp,
    alloy_primitives::Address,
};

use crate::{
    Amount, Channel, Error, MAX_AMOUNT, Result, Signed, SignedReceipt, Terms,
    channel::{check_deposit, to_u40, to_u96},
};

/// How a payer signs authorisations and when it tops up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayerConfig {
    /// Seconds a signed gasless authorisation (open, top-up, close request, cooperative close) stays valid
    /// after `now`.
    pub auth_ttl: u64,
    /// Suggest a top-up when the deposit left unpaid falls below this (0: only when a payment does not fit).
    pub top_up_threshold: Amount,
    /// How much a suggested top-up adds to the deposit.
    pub top_up_amount: Amount,
    /// The relayer named in every signed open, top-up, close request and cooperative close: the only
    /// account that may submit them, and so take their fee (a copier of its batch gets nothing). The zero
    /// address lets anyone submit them.
    pub relayer: Address,
}

impl PayerConfig {
    /// Checks the values: a positive `auth_ttl`, a positive `top_up_amount` if a threshold is set, and
    /// amounts within [`MAX_AMOUNT`].
    pub fn validate(&self) -> Result<()> {
        if self.auth_ttl == 0 {
            return Err(Error::InvalidPolicy("auth_ttl must be positive"));
        }
        if self.top_up_threshold > MAX_AMOUNT || self.top_up_amount > MAX_AMOUNT {
            return Err(Error::InvalidPolicy(
                "top-up amounts exceed the escrow's uint96 range",
            ));
        }
        if self.top_up_threshold > 0 && self.top_up_amount == 0 {
            return Err(Error::InvalidPolicy(
                "a top-up threshold needs a positive top_up_amount",
            ));
        }
        Ok(())
    }
}

impl Default for PayerConfig {
    /// Authorisations valid for ten minutes, submittable by anyone; top-ups suggested only when a payment
    /// does not fit.
    fn default() -> Self {
        Self {
            auth_ttl: 600,
            top_up_threshold: 0,
            top_up_amount: 0,
            relayer: Address::ZERO,
        }
    }
}

/// A top-up signed and not yet seen on chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PendingTopUp {
    /// The new total deposit asked for.
    pub deposit: Amount,
    /// When the authorisation expires; after it, the top-up can no longer apply.
    pub deadline: u64,
}

/// How a payer's channel is being closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PayerClose {
    /// The payer signed a cooperative close; it applies once the payee co-signs and someone submits it
    /// before `deadline`.
    Cooperative {
        /// The cooperative close's deadline.
        deadline: u64,
    },
    /// The payer signed (or sent) a close request; the chain has not confirmed it yet.
    Requested {
        /// The request's deadline.
        deadline: u64,
    },
    /// The chain confirmed the request: the payee may settle until `closes_at`, then anyone may finalize.
    Challenge {
        /// End of the challenge window (the escrow's `closesAt`).
        closes_at: u64,
    },
}

/// The payer's view of a channel. Every state carries what it needs; none can be skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PayerState {
    /// Terms agreed with the payee; nothing on chain yet.
    Proposed,
    /// The open is signed (or sent); waiting for `ChannelOpened`.
    Opening {
        /// The deposit asked for.
        deposit: Amount,
        /// When the open authorisation expires.
        deadline: u64,
    },
    /// Funded: receipts may be signed up to `deposit`.
    Open {
        /// The channel's deposit on chain.
        deposit: Amount,
        /// The highest receipt signed, if any.
        receipt: Option<SignedReceipt>,
        /// A top-up signed and not yet confirmed.
        top_up: Option<PendingTopUp>,
    },
    /// Closing: no more receipts are signed.
    Closing {
        /// The channel's deposit on chain.
        deposit: Amount,
        /// The highest receipt signed, if any.
        receipt: Option<SignedReceipt>,
        /// How the close is going.
        close: PayerClose,
    },
    /// Closed on chain: the payee kept `settled`, the payer got `deposit − settled` back.
    Closed {
        /// The channel's final deposit.
        deposit: Amount,
        /// What the payee was paid.
        settled: Amount,
        /// The highest receipt signed, if any.
        receipt: Option<SignedReceipt>,
    },
}

impl PayerState {
    /// The state's name, as [`Error::InvalidState`] reports it.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Proposed => "proposed",
            Self::Opening { .. } => "opening",
            Self::Open { .. } => "open",
            Self::Closing { .. } => "closing",
            Self::Closed { .. } => "closed",
        }
    }

    /// The highest receipt signed for the channel.
    pub const fn receipt(&self) -> Option<&SignedReceipt> {
        match self {
            Self::Open { receipt, .. }
            | Self::Closing { receipt, .. }
            | Self::Closed { receipt, .. } => receipt.as_ref(),
            Self::Proposed | Self::Opening { .. } => None,
        }
    }

    /// The highest cumulative amount signed for the channel (0 before the first receipt).
    pub fn cumulative(&self) -> Amount {
        self.receipt().map_or(0, SignedReceipt::cumulative)
    }

    /// The deposit on chain, once the channel is open.
    pub const fn deposit(&self) -> Option<Amount> {
        match self {
            Self::Open { deposit, .. }
            | Self::Closing { deposit, .. }
            | Self::Closed { deposit, .. } => Some(*deposit),
            Self::Proposed | Self::Opening { .. } => None,
        }
    }
}

/// What a payment produced.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub enum Payment {
    /// Signed: send `receipt` to the payee (after storing the channel state).
    Paid {
        /// The new highest receipt.
        receipt: SignedReceipt,
        /// A new total deposit to top up to, when what is left fell below the configured threshold and no
        /// top-up is pending; see [`PayerChannel::top_up`].
        top_up: Option<Amount>,
    },
    /// The deposit cannot cover the payment; nothing was signed. Top up, then pay again.
    TopUpNeeded {
        /// The channel's deposit.
        deposit: Amount,
        /// The cumulative amount the payment needs the deposit to reach.
        required: Amount,
        /// A new total deposit that covers it: at least `required`, and at least the configured
        /// `top_up_amount` above the deposit (capped at [`MAX_AMOUNT`]).
        suggested: Amount,
    },
}

/// The arguments of the escrow's `finalizeClose(payer, payee, salt)`, which anyone may submit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FinalizeClose {
    /// The channel's payer.
    pub payer: Address,
    /// The channel's payee.
    pub payee: Address,
    /// The channel's salt.
    pub salt: u32,
}

/// A payer's channel state machine. It holds the payer's key and signs what the transitions require.
#[derive(Clone, Debug)]
pub struct PayerChannel {
    key: SigningKey,
    channel: Channel,
    terms: Terms,
    config: PayerConfig,
    state: PayerState,
    /// The channel's nonce on the escrow, which signed opens, top-ups and cooperative closes carry.
    channel_nonce: u16,
    updated_at: u64,
}

impl PayerChannel {
    /// A new channel in [`PayerState::Proposed`] with the terms agreed with the payee.
    ///
    /// `key` must be the channel's payer's.
    pub fn new(
        key: SigningKey,
        channel: Channel,
        terms: Terms,
        config: PayerConfig,
        now: u64,
    ) -> Result<Self> {
        Self::restore(key, channel, terms, config, PayerState::Proposed, now)
    }

    /// Rebuilds a channel from its stored state, checking it first: the key is the payer's, the stored
    /// receipt is this payer's for this channel and within the deposit.
    pub fn restore(
        key: SigningKey,
        channel: Channel,
        terms: Terms,
        config: PayerConfig,
        state: PayerState,
        updated_at: u64,
    ) -> Result<Self> {
        config.validate()?;
        if key.address() != channel.payer() {
            return Err(Error::WrongKey {
                key: key.address(),
                expected: channel.payer(),
            });
        }
        if let Some(deposit) = state.deposit() {
            if deposit > MAX_AMOUNT {
                return Err(Error::AmountTooLarge { amount: deposit });
            }
            if let Some(receipt) = state.receipt() {
                let cumulative = channel.verify_receipt(&receipt.message, &receipt.signature)?;
                if cumulative > deposit {
                    return Err(Error::ExceedsDeposit {
                        cumulative,
                        deposit,
                    });
                }
            }
            if let PayerState::Closed { settled, .. } = state
                && settled > deposit
            {
                return Err(Error::ExceedsDeposit {
                    cumulative: settled,
                    deposit,
                });
            }
        }
        Ok(Self {
            key,
            channel,
            terms,
            config,
            state,
            channel_nonce: 0,
            updated_at,
        })
    }

    /// The channel's nonce on the escrow (the `nonce` of its `channel(id)`), which every open, top-up and
    /// cooperative close signed from now on carries. 0 for a channel whose nonce was never advanced — all
    /// of them unless someone called `advanceChannelNonce`, which voids what was signed before.
    #[must_use]
    pub const fn with_channel_nonce(mut self, nonce: u16) -> Self {
        self.channel_nonce = nonce;
        self
    }

    /// The chain advanced the channel's nonce (`ChannelNonceAdvanced`): later signatures carry it.
    pub const fn on_channel_nonce(&mut self, nonce: u16) {
        self.channel_nonce = nonce;
    }

    /// The channel's identity.
    pub const fn channel(&self) -> &Channel {
        &self.channel
    }

    /// The terms in force.
    pub const fn terms(&self) -> &Terms {
        &self.terms
    }

    /// The configuration.
    pub const fn config(&self) -> &PayerConfig {
        &self.config
    }

    /// The current state: what to persist.
    pub const fn state(&self) -> &PayerState {
        &self.state
    }

    /// `now` of the last transition.
    pub const fn updated_at(&self) -> u64 {
        self.updated_at
    }

    /// The highest cumulative amount signed (0 before the first receipt).
    pub fn cumulative(&self) -> Amount {
        self.state.cumulative()
    }

    /// The highest receipt signed, to send again after a reconnect: only the latest one matters.
    pub const fn latest_receipt(&self) -> Option<&SignedReceipt> {
        self.state.receipt()
    }

    /// What is left of the deposit to pay with, while open.
    pub fn remaining(&self) -> Option<Amount> {
        match &self.state {
            PayerState::Open { deposit, .. } => Some(deposit - self.cumulative()),
            _ => None,
        }
    }

    /// `action` is not a legal transition from the channel's current state.
    pub(crate) fn invalid(&self, action: &'static str) -> Error {
        Error::InvalidState {
            action,
            state: self.state.name(),
        }
    }

    fn deadline(&self, now: u64) -> u64 {
        now.saturating_add(self.config.auth_ttl)
    }

    /// Adopts renegotiated terms (for instance a raised bid the payee accepted). Legal until the channel
    /// closes; receipts already signed are untouched.
    pub fn update_terms(&mut self, terms: Terms, now: u64) -> Result<()> {
        match self.state {
            PayerState::Proposed | PayerState::Opening { .. } | PayerState::Open { .. } => {
                self.terms = terms;
                self.updated_at = now;
                Ok(())
            }
            _ => Err(self.invalid("update the terms of")),
        }
    }

    /// Signs the gasless open of the channel with `deposit` from the payer's free balance, paying a
    /// relayer at most `fee`: Proposed → Opening. Submit it (`openChannelsBySig`) or call `openChannel`
    /// with the same values.
    pub fn open(&mut self, deposit: Amount, fee: Amount, now: u64) -> Result<Signed<OpenChannel>> {
        if !matches!(self.state, PayerState::Proposed) {
            return Err(self.invalid("open"));
        }
        if deposit == 0 {
            return Err(Error::ZeroAmount);
        }
        let deadline = self.deadline(now);
        let message = OpenChannel {
            payee: self.channel.payee(),
            salt: self.channel.salt(),
            deposit: to_u96(deposit)?,
            fee: to_u96(fee)?,
            relayer: self.config.relayer,
            channelNonce: self.channel_nonce,
            deadline: to_u40(deadline)?,
        };
        let signed = self
            .channel
            .sign(&self.key, self.channel.payer(), message)?;
        self.state = PayerState::Opening { deposit, deadline };
        self.updated_at = now;
        Ok(signed)
    }

    /// The chain confirmed the open (`ChannelOpened`) with `deposit`: Opening → Open.
    pub fn on_opened(&mut self, deposit: Amount, now: u64) -> Result<()> {
        if !matches!(self.state, PayerState::Opening { .. }) {
            return Err(self.invalid("confirm the opening of"));
        }
        check_deposit(deposit)?;
        self.state = PayerState::Open {
            deposit,
            receipt: None,
            top_up: None,
        };
        self.updated_at = now;
        Ok(())
    }

    /// The open failed (skipped by the escrow, or its deadline passed unseen): Opening → Proposed, to try
    /// again.
    pub fn on_open_failed(&mut self, now: u64) -> Result<()> {
        if !matches!(self.state, PayerState::Opening { .. }) {
            return Err(self.invalid("fail the opening of"));
        }
        self.state = PayerState::Proposed;
        self.updated_at = now;
        Ok(())
    }

    /// Pays for one piece at the agreed price: [`pay`](Self::pay) with [`Terms::price`].
    pub fn pay_piece(&mut self, now: u64) -> Result<Payment> {
        self.pay(self.terms.price(), now)
    }

    /// Pays `amount` more: signs a receipt for the cumulative total plus `amount` (Open → Open), or, if the
    /// deposit does not cover it, signs nothing and returns [`Payment::TopUpNeeded`].
    pub fn pay(&mut self, amount: Amount, now: u64) -> Result<Payment> {
        if !matches!(self.state, PayerState::Open { .. }) {
            return Err(self.invalid("pay on"));
        }
        if amount == 0 {
            return Err(Error::ZeroAmount);
        }
        self.pay_up_to(self.cumulative().saturating_add(amount), now)
    }

    /// Pays up to the cumulative total `cumulative` (for instance after the payee asked for payment of
    /// pieces the caller has checked it received). Fails with [`Error::NonIncreasingCumulative`] if that is
    /// not above what is already signed; returns [`Payment::TopUpNeeded`] if the deposit does not cover it.
    pub fn pay_up_to(&mut self, cumulative: Amount, now: u64) -> Result<Payment> {
        let PayerState::Open { deposit, .. } = self.state else {
            return Err(self.invalid("pay on"));
        };
        let latest = self.cumulative();
        if cumulative <= latest {
            return Err(Error::NonIncreasingCumulative { cumulative, latest });
        }
        if cumulative > deposit {
            return Ok(Payment::TopUpNeeded {
                deposit,
                required: cumulative,
                suggested: self.suggested_top_up(deposit, cumulative),
            });
        }
        let receipt = self.sign_receipt(cumulative, now)?;
        Ok(Payment::Paid {
            receipt,
            top_up: self.top_up_advice(now),
        })
    }

    /// The only place a receipt is signed. It re-checks both rules itself, so no caller can get a receipt
    /// at or below one already signed, or above the deposit.
    fn sign_receipt(&mut self, cumulative: Amount, now: u64) -> Result<SignedReceipt> {
        let latest = self.cumulative();
        let PayerState::Open {
            deposit, receipt, ..
        } = &mut self.state
        else {
            return Err(self.invalid("pay on"));
        };
        if cumulative <= latest {
            return Err(Error::NonIncreasingCumulative { cumulative, latest });
        }
        if cumulative > *deposit {
            return Err(Error::ExceedsDeposit {
                cumulative,
                deposit: *deposit,
            });
        }
        let message = Receipt {
            payee: self.channel.payee(),
            salt: self.channel.salt(),
            cumulative: to_u96(cumulative)?,
        };
        let signed = self.channel.sign_receipt(&self.key, message)?;
        *receipt = Some(signed.clone());
        self.updated_at = now;
        Ok(signed)
    }

    fn suggested_top_up(&self, deposit: Amount, required: Amount) -> Amount {
        required
            .max(deposit.saturating_add(self.config.top_up_amount))
            .min(MAX_AMOUNT)
            .max(deposit)
    }

    /// The new total deposit to top up to, if what is left of the deposit is below the configured threshold
    /// and no unexpired top-up is pending. `None` when not open, or when the deposit is already at
    /// [`MAX_AMOUNT`].
    pub fn top_up_advice(&self, now: u64) -> Option<Amount> {
        let PayerState::Open {
            deposit, top_up, ..
        } = &self.state
        else {
            return None;
        };
        if top_up.is_some_and(|pending| now <= pending.deadline) {
            return None;
        }
        let left = deposit - self.cumulative();
        if left >= self.config.top_up_threshold {
            return None;
        }
        let suggested = self.suggested_top_up(*deposit, *deposit);
        (suggested > *deposit).then_some(suggested)
    }

    /// Signs a gasless top-up of the deposit to the new **total** `deposit`, paying a relayer at most
    /// `fee`: Open → Open with the top-up pending. A later top-up to a higher total replaces it (top-ups
    /// are to totals, so at most the highest one is paid for).
    pub fn top_up(&mut self, deposit: Amount, fee: Amount, now: u64) -> Result<Signed<TopUp>> {
        let PayerState::Open {
            deposit: current, ..
        } = self.state
        else {
            return Err(self.invalid("top up"));
        };
        if deposit <= current {
            return Err(Error::StaleTopUp {
                deposit: current,
                requested: deposit,
            });
        }
        let deadline = self.deadline(now);
        let message = TopUp {
            payee: self.channel.payee(),
            salt: self.channel.salt(),
            deposit: to_u96(deposit)?,
            fee: to_u96(fee)?,
            relayer: self.config.relayer,
            channelNonce: self.channel_nonce,
            deadline: to_u40(deadline)?,
        };
        let signed = self
            .channel
            .sign(&self.key, self.channel.payer(), message)?;
        if let PayerState::Open { top_up, .. } = &mut self.state {
            *top_up = Some(PendingTopUp { deposit, deadline });
        }
        self.updated_at = now;
        Ok(signed)
    }

    /// The chain raised the deposit to `deposit` (`ChannelToppedUp`): Open → Open, or Closing{Cooperative
    /// | Requested} → same (the chain still has the channel open, so a top-up signed earlier can land; the
    /// refund on close grows with it).
    pub fn on_topped_up(&mut self, deposit: Amount, now: u64) -> Result<()> {
        let (current, top_up) = match &mut self.state {
            PayerState::Open {
                deposit: current,
                top_up,
                ..
            } => (current, Some(top_up)),
            PayerState::Closing {
                deposit: current,
                close: PayerClose::Cooperative { .. } | PayerClose::Requested { .. },
                ..
            } => (current, None),
            _ => return Err(self.invalid("top up")),
        };
        if deposit <= *current {
            return Err(Error::StaleTopUp {
                deposit: *current,
                requested: deposit,
            });
        }
        check_deposit(deposit)?;
        *current = deposit;
        if let Some(top_up) = top_up
            && top_up.is_some_and(|pending| deposit >= pending.deposit)
        {
            *top_up = None;
        }
        self.updated_at = now;
        Ok(())
    }

    /// Signs a cooperative close at the highest cumulative signed, paying a relayer at most `fee`:
    /// Open → Closing{Cooperative}. Send it to the payee, who co-signs; no more receipts are signed.
    pub fn cooperative_close(&mut self, fee: Amount, now: u64) -> Result<Signed<CooperativeClose>> {
        let PayerState::Open {
            deposit, receipt, ..
        } = &self.state
        else {
            return Err(self.invalid("cooperatively close"));
        };
        let (deposit, receipt) = (*deposit, receipt.clone());
        let deadline = self.deadline(now);
        let message = CooperativeClose {
            payer: self.channel.payer(),
            payee: self.channel.payee(),
            salt: self.channel.salt(),
            cumulative: to_u96(self.cumulative())?,
            fee: to_u96(fee)?,
            relayer: self.config.relayer,
            channelNonce: self.channel_nonce,
            deadline: to_u40(deadline)?,
        };
        let signed = self
            .channel
            .sign(&self.key, self.channel.payer(), message)?;
        self.state = PayerState::Closing {
            deposit,
            receipt,
            close: PayerClose::Cooperative { deadline },
        };
        self.updated_at = now;
        Ok(signed)
    }

    /// Signs a gasless unilateral close request, paying a relayer at most `fee`: Open,
    /// Closing{Cooperative} (the payee did not co-sign) or Closing{Requested} whose deadline passed unseen
    /// (the request was never mined; a new one replaces it) → Closing{Requested}.
    pub fn request_close(&mut self, fee: Amount, now: u64) -> Result<Signed<RequestClose>> {
        let (deposit, receipt) = match &self.state {
            PayerState::Open {
                deposit, receipt, ..
            }
            | PayerState::Closing {
                deposit,
                receipt,
                close: PayerClose::Cooperative { .. },
            } => (*deposit, receipt.clone()),
            PayerState::Closing {
                deposit,
                receipt,
                close: PayerClose::Requested { deadline },
            } if now > *deadline => (*deposit, receipt.clone()),
            _ => return Err(self.invalid("request the close of")),
        };
        let deadline = self.deadline(now);
        let message = RequestClose {
            payee: self.channel.payee(),
            salt: self.channel.salt(),
            fee: to_u96(fee)?,
            relayer: self.config.relayer,
            deadline: to_u40(deadline)?,
        };
        let signed = self
            .channel
            .sign(&self.key, self.channel.payer(), message)?;
        self.state = PayerState::Closing {
            deposit,
            receipt,
            close: PayerClose::Requested { deadline },
        };
        self.updated_at = now;
        Ok(signed)
    }

    /// The chain started the challenge window (`CloseRequested`), ending at `closes_at`: Open or
    /// Closing{Cooperative | Requested} → Closing{Challenge}.
    pub fn on_close_requested(&mut self, closes_at: u64, now: u64) -> Result<()> {
        let (deposit, receipt) = match &self.state {
            PayerState::Open {
                deposit, receipt, ..
            }
            | PayerState::Closing {
                deposit,
                receipt,
                close: PayerClose::Cooperative { .. } | PayerClose::Requested { .. },
            } => (*deposit, receipt.clone()),
            _ => return Err(self.invalid("start the challenge of")),
        };
        self.state = PayerState::Closing {
            deposit,
            receipt,
            close: PayerClose::Challenge { closes_at },
        };
        self.updated_at = now;
        Ok(())
    }

    /// The arguments of `finalizeClose`, once the challenge window is over (`now > closes_at`, as the
    /// escrow checks). The state stays Closing until [`on_closed`](Self::on_closed).
    pub fn finalize(&self, now: u64) -> Result<FinalizeClose> {
        let PayerState::Closing {
            close: PayerClose::Challenge { closes_at },
            ..
        } = self.state
        else {
            return Err(self.invalid("finalize"));
        };
        if now <= closes_at {
            return Err(Error::ChallengePeriodActive { closes_at });
        }
        Ok(FinalizeClose {
            payer: self.channel.payer(),
            payee: self.channel.payee(),
            salt: self.channel.salt(),
        })
    }

    /// The chain closed the channel (`ChannelClosed`) with `settled` paid to the payee, however it was
    /// closed (finalized, cooperatively, or by the payee): Open or Closing → Closed.
    pub fn on_closed(&mut self, settled: Amount, now: u64) -> Result<()> {
        let (deposit, receipt) = match &self.state {
            PayerState::Open {
                deposit, receipt, ..
            }
            | PayerState::Closing {
                deposit, receipt, ..
            } => (*deposit, receipt.clone()),
            _ => return Err(self.invalid("close")),
        };
        if settled > deposit {
            return Err(Error::ExceedsDeposit {
                cumulative: settled,
                deposit,
            });
        }
        self.state = PayerState::Closed {
            deposit,
            settled,
            receipt,
        };
        self.updated_at = now;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use piecepay_protocol::{SolStruct, alloy_primitives::aliases::U96};

    use super::*;
    use crate::{
        CreditWindow,
        channel::tests::{channel_between, key},
    };

    const PRICE: Amount = 10;
    const T0: u64 = 1_000;
    const CLOSES_AT: u64 = 5_000;

    fn terms() -> Terms {
        Terms::new(PRICE, CreditWindow::Pieces(2)).unwrap()
    }

    fn config() -> PayerConfig {
        PayerConfig {
            auth_ttl: 60,
            top_up_threshold: 25,
            top_up_amount: 100,
            relayer: Address::repeat_byte(0x7e),
        }
    }

    fn proposed() -> PayerChannel {
        let (payer, payee) = (key(1), key(2));
        let channel = channel_between(&payer, &payee, 7);
        PayerChannel::new(payer, channel, terms(), config(), T0).unwrap()
    }

    fn opening() -> PayerChannel {
        let mut ch = proposed();
        ch.open(100, 0, T0).unwrap();
        ch
    }

    fn open() -> PayerChannel {
        let mut ch = opening();
        ch.on_opened(100, T0).unwrap();
        ch
    }

    fn open_paid() -> PayerChannel {
        let mut ch = open();
        let _ = ch.pay_piece(T0).unwrap();
        ch
    }

    fn cooperative() -> PayerChannel {
        let mut ch = open_paid();
        ch.cooperative_close(0, T0).unwrap();
        ch
    }

    fn requested() -> PayerChannel {
        let mut ch = open_paid();
        ch.request_close(0, T0).unwrap();
        ch
    }

    fn challenge() -> PayerChannel {
        let mut ch = requested();
        ch.on_close_requested(CLOSES_AT, T0).unwrap();
        ch
    }

    fn closed() -> PayerChannel {
        let mut ch = challenge();
        ch.on_closed(PRICE, CLOSES_AT + 1).unwrap();
        ch
    }

    fn paid_receipt(payment: Payment) -> SignedReceipt {
        match payment {
            Payment::Paid { receipt, .. } => receipt,
            other => panic!("expected a receipt, got {other:?}"),
        }
    }

    // --- legal transitions ---------------------------------------------------------------------

    #[test]
    fn new_is_proposed() {
        let ch = proposed();
        assert_eq!(ch.state(), &PayerState::Proposed);
        assert_eq!(ch.cumulative(), 0);
        assert_eq!(ch.latest_receipt(), None);
        assert_eq!(ch.remaining(), None);
        assert_eq!(ch.updated_at(), T0);
        assert_eq!(ch.terms(), &terms());
        assert_eq!(ch.config(), &config());
    }

    #[test]
    fn new_rejects_another_key_and_a_bad_config() {
        let (payer, payee) = (key(1), key(2));
        let channel = channel_between(&payer, &payee, 7);
        assert_eq!(
            PayerChannel::new(payee.clone(), channel.clone(), terms(), config(), T0).unwrap_err(),
            Error::WrongKey {
                key: payee.address(),
                expected: payer.address()
            }
        );
        let bad = PayerConfig {
            auth_ttl: 0,
            ..config()
        };
        assert_eq!(
            PayerChannel::new(payer, channel, terms(), bad, T0)
                .unwrap_err()
                .code(),
            "invalid_policy"
        );
    }

    #[test]
    fn config_validation() {
        assert!(PayerConfig::default().validate().is_ok());
        for bad in [
            PayerConfig {
                auth_ttl: 0,
                ..config()
            },
            PayerConfig {
                top_up_amount: 0,
                ..config()
            },
            PayerConfig {
                top_up_amount: MAX_AMOUNT + 1,
                ..config()
            },
            PayerConfig {
                top_up_threshold: MAX_AMOUNT + 1,
                ..config()
            },
        ] {
            assert_eq!(bad.validate().unwrap_err().code(), "invalid_policy");
        }
    }

    #[test]
    fn open_signs_the_gasless_open() {
        let mut ch = proposed();
        let signed = ch.open(100, 3, T0).unwrap();
        assert_eq!(
            signed.message,
            OpenChannel {
                payee: ch.channel().payee(),
                salt: 7,
                deposit: U96::from(100u64),
                fee: U96::from(3u64),
                relayer: Address::repeat_byte(0x7e),
                channelNonce: 0,
                deadline: to_u40(T0 + 60).unwrap(),
            }
        );
        let digest = signed.message.eip712_signing_hash(ch.channel().domain());
        assert_eq!(signed.signature.recover(&digest), Ok(ch.channel().payer()));
        assert_eq!(
            ch.state(),
            &PayerState::Opening {
                deposit: 100,
                deadline: T0 + 60
            }
        );
    }

    #[test]
    fn open_rejects_bad_amounts() {
        let mut ch = proposed();
        assert_eq!(ch.open(0, 0, T0), Err(Error::ZeroAmount));
        assert_eq!(
            ch.open(MAX_AMOUNT + 1, 0, T0).unwrap_err().code(),
            "amount_too_large"
        );
        assert_eq!(
            ch.open(1, MAX_AMOUNT + 1, T0).unwrap_err().code(),
            "amount_too_large"
        );
        assert_eq!(
            ch.open(1, 0, u64::MAX).unwrap_err(),
            Error::DeadlineOutOfRange { deadline: u64::MAX }
        );
        assert_eq!(ch.state(), &PayerState::Proposed);
    }

    #[test]
    fn on_opened_opens_with_the_chains_deposit() {
        let mut ch = opening();
        assert_eq!(ch.on_opened(0, T0), Err(Error::ZeroAmount));
        assert_eq!(
            ch.on_opened(MAX_AMOUNT + 1, T0).unwrap_err().code(),
            "amount_too_large"
        );
        ch.on_opened(90, T0 + 5).unwrap();
        assert_eq!(
            ch.state(),
            &PayerState::Open {
                deposit: 90,
                receipt: None,
                top_up: None
            }
        );
        assert_eq!(ch.remaining(), Some(90));
        assert_eq!(ch.updated_at(), T0 + 5);
    }

    #[test]
    fn on_open_failed_goes_back_to_proposed() {
        let mut ch = opening();
        ch.on_open_failed(T0 + 61).unwrap();
        assert_eq!(ch.state(), &PayerState::Proposed);
        ch.open(50, 0, T0 + 61).unwrap();
    }

    #[test]
    fn update_terms_changes_the_price_of_the_next_piece() {
        let mut ch = open_paid();
        let raised = Terms::new(15, CreditWindow::Pieces(2)).unwrap();
        ch.update_terms(raised, T0 + 1).unwrap();
        assert_eq!(ch.terms(), &raised);
        let receipt = paid_receipt(ch.pay_piece(T0 + 1).unwrap());
        assert_eq!(receipt.cumulative(), PRICE + 15);
        for mut ch in [proposed(), opening()] {
            ch.update_terms(raised, T0).unwrap();
        }
    }

    #[test]
    fn pay_piece_signs_increasing_cumulative_receipts() {
        let mut ch = open();
        let first = paid_receipt(ch.pay_piece(T0).unwrap());
        let second = paid_receipt(ch.pay_piece(T0 + 1).unwrap());
        assert_eq!((first.cumulative(), second.cumulative()), (10, 20));
        assert_eq!(
            second.message,
            Receipt {
                payee: ch.channel().payee(),
                salt: 7,
                cumulative: U96::from(20u64)
            }
        );
        assert_eq!(
            ch.channel()
                .verify_receipt(&second.message, &second.signature),
            Ok(20)
        );
        assert_eq!(ch.latest_receipt(), Some(&second));
        assert_eq!(ch.cumulative(), 20);
        assert_eq!(ch.remaining(), Some(80));
    }

    #[test]
    fn pay_rejects_zero() {
        let mut ch = open();
        assert_eq!(ch.pay(0, T0), Err(Error::ZeroAmount));
        assert_eq!(ch.cumulative(), 0);
    }

    #[test]
    fn pay_beyond_the_deposit_signs_nothing_and_asks_for_a_top_up() {
        let mut ch = open();
        let _ = ch.pay(95, T0).unwrap();
        let before = ch.state().clone();
        assert_eq!(
            ch.pay_piece(T0).unwrap(),
            Payment::TopUpNeeded {
                deposit: 100,
                required: 105,
                suggested: 200
            }
        );
        assert_eq!(ch.state(), &before);
        // An amount that overflows still asks for a top-up rather than wrapping.
        assert!(matches!(
            ch.pay(Amount::MAX, T0).unwrap(),
            Payment::TopUpNeeded {
                required: Amount::MAX,
                suggested: MAX_AMOUNT,
                ..
            }
        ));
    }

    #[test]
    fn pay_exactly_the_deposit() {
        let mut ch = open();
        let receipt = paid_receipt(ch.pay(100, T0).unwrap());
        assert_eq!(receipt.cumulative(), 100);
        assert_eq!(ch.remaining(), Some(0));
    }

    #[test]
    fn pay_up_to_never_signs_at_or_below_what_is_signed() {
        let mut ch = open_paid();
        for cumulative in [0, 5, PRICE] {
            assert_eq!(
                ch.pay_up_to(cumulative, T0),
                Err(Error::NonIncreasingCumulative {
                    cumulative,
                    latest: PRICE
                })
            );
        }
        assert_eq!(paid_receipt(ch.pay_up_to(42, T0).unwrap()).cumulative(), 42);
        assert!(matches!(
            ch.pay_up_to(101, T0).unwrap(),
            Payment::TopUpNeeded { required: 101, .. }
        ));
    }

    #[test]
    fn sign_receipt_rechecks_both_rules() {
        let mut ch = open_paid();
        assert_eq!(
            ch.sign_receipt(PRICE, T0),
            Err(Error::NonIncreasingCumulative {
                cumulative: PRICE,
                latest: PRICE
            })
        );
        assert_eq!(
            ch.sign_receipt(101, T0),
            Err(Error::ExceedsDeposit {
                cumulative: 101,
                deposit: 100
            })
        );
        assert_eq!(ch.cumulative(), PRICE);
        let mut ch = proposed();
        assert_eq!(ch.sign_receipt(1, T0).unwrap_err().code(), "invalid_state");
    }

    #[test]
    fn payment_suggests_a_top_up_below_the_threshold() {
        let mut ch = open();
        let Payment::Paid { top_up, .. } = ch.pay(70, T0).unwrap() else {
            panic!()
        };
        assert_eq!(top_up, None, "30 left is not below 25");
        let Payment::Paid { top_up, .. } = ch.pay(10, T0).unwrap() else {
            panic!()
        };
        assert_eq!(top_up, Some(200));
        assert_eq!(ch.top_up_advice(T0), Some(200));
    }

    #[test]
    fn top_up_advice_waits_for_a_pending_top_up_until_it_expires() {
        let mut ch = open();
        let _ = ch.pay(80, T0).unwrap();
        ch.top_up(200, 1, T0).unwrap();
        assert_eq!(ch.top_up_advice(T0), None);
        assert_eq!(ch.top_up_advice(T0 + 60), None);
        assert_eq!(ch.top_up_advice(T0 + 61), Some(200));
    }

    #[test]
    fn top_up_advice_is_capped_and_only_while_open() {
        assert_eq!(proposed().top_up_advice(T0), None);
        assert_eq!(cooperative().top_up_advice(T0), None);
        let mut ch = open();
        ch.on_topped_up(MAX_AMOUNT, T0).unwrap();
        let _ = ch.pay(MAX_AMOUNT - 1, T0).unwrap();
        assert_eq!(
            ch.top_up_advice(T0),
            None,
            "already at the escrow's maximum"
        );
        let mut ch = open();
        ch.on_topped_up(MAX_AMOUNT - 50, T0).unwrap();
        let _ = ch.pay(MAX_AMOUNT - 60, T0).unwrap();
        assert_eq!(ch.top_up_advice(T0), Some(MAX_AMOUNT));
    }

    #[test]
    fn no_threshold_no_advice() {
        let (payer, payee) = (key(1), key(2));
        let channel = channel_between(&payer, &payee, 7);
        let mut ch =
            PayerChannel::new(payer, channel, terms(), PayerConfig::default(), T0).unwrap();
        ch.open(20, 0, T0).unwrap();
        ch.on_opened(20, T0).unwrap();
        let Payment::Paid { top_up, .. } = ch.pay(20, T0).unwrap() else {
            panic!()
        };
        assert_eq!(top_up, None);
        assert_eq!(
            ch.pay_piece(T0).unwrap(),
            Payment::TopUpNeeded {
                deposit: 20,
                required: 30,
                suggested: 30
            }
        );
    }

    #[test]
    fn top_up_signs_a_new_total() {
        let mut ch = open_paid();
        let signed = ch.top_up(250, 2, T0).unwrap();
        assert_eq!(signed.message.deposit, U96::from(250u64));
        assert_eq!(signed.message.fee, U96::from(2u64));
        let digest = signed.message.eip712_signing_hash(ch.channel().domain());
        assert_eq!(signed.signature.recover(&digest), Ok(ch.channel().payer()));
        assert!(matches!(
            ch.state(),
            PayerState::Open {
                deposit: 100,
                top_up: Some(PendingTopUp {
                    deposit: 250,
                    deadline
                }),
                ..
            } if *deadline == T0 + 60
        ));
    }

    #[test]
    fn top_up_must_raise_the_deposit() {
        let mut ch = open();
        for requested in [0, 99, 100] {
            assert_eq!(
                ch.top_up(requested, 0, T0),
                Err(Error::StaleTopUp {
                    deposit: 100,
                    requested
                })
            );
        }
        assert_eq!(
            ch.top_up(MAX_AMOUNT + 1, 0, T0).unwrap_err().code(),
            "amount_too_large"
        );
        assert!(matches!(ch.state(), PayerState::Open { top_up: None, .. }));
    }

    #[test]
    fn on_topped_up_raises_the_deposit_and_clears_the_pending_top_up() {
        let mut ch = open();
        ch.top_up(300, 0, T0).unwrap();
        ch.on_topped_up(200, T0).unwrap();
        assert!(matches!(
            ch.state(),
            PayerState::Open {
                deposit: 200,
                top_up: Some(_),
                ..
            }
        ));
        ch.on_topped_up(300, T0).unwrap();
        assert!(matches!(
            ch.state(),
            PayerState::Open {
                deposit: 300,
                top_up: None,
                ..
            }
        ));
        assert_eq!(
            ch.on_topped_up(300, T0),
            Err(Error::StaleTopUp {
                deposit: 300,
                requested: 300
            })
        );
        assert_eq!(
            ch.on_topped_up(MAX_AMOUNT + 1, T0).unwrap_err().code(),
            "amount_too_large"
        );
    }

    #[test]
    fn topped_up_channel_pays_again() {
        let mut ch = open();
        let _ = ch.pay(100, T0).unwrap();
        assert!(matches!(
            ch.pay_piece(T0).unwrap(),
            Payment::TopUpNeeded { .. }
        ));
        ch.on_topped_up(200, T0).unwrap();
        assert_eq!(paid_receipt(ch.pay_piece(T0).unwrap()).cumulative(), 110);
    }

    #[test]
    fn cooperative_close_signs_the_latest_cumulative() {
        let mut ch = open_paid();
        let signed = ch.cooperative_close(4, T0).unwrap();
        assert_eq!(
            signed.message,
            CooperativeClose {
                payer: ch.channel().payer(),
                payee: ch.channel().payee(),
                salt: 7,
                cumulative: U96::from(PRICE),
                fee: U96::from(4u64),
                relayer: Address::repeat_byte(0x7e),
                channelNonce: 0,
                deadline: to_u40(T0 + 60).unwrap(),
            }
        );
        let digest = signed.message.eip712_signing_hash(ch.channel().domain());
        assert_eq!(signed.signature.recover(&digest), Ok(ch.channel().payer()));
        assert!(matches!(
            ch.state(),
            PayerState::Closing {
                deposit: 100,
                close: PayerClose::Cooperative { deadline },
                ..
            } if *deadline == T0 + 60
        ));
        assert_eq!(ch.cumulative(), PRICE, "the receipt is kept");
    }

    /// After the chain advanced the channel's nonce, what the payer signs carries the new one.
    #[test]
    fn signatures_carry_the_channel_nonce() {
        let mut ch = proposed().with_channel_nonce(2);
        assert_eq!(ch.open(100, 0, T0).unwrap().message.channelNonce, 2);
        ch.on_opened(100, T0).unwrap();
        ch.on_channel_nonce(3);
        assert_eq!(ch.top_up(150, 0, T0).unwrap().message.channelNonce, 3);
        assert_eq!(ch.cooperative_close(0, T0).unwrap().message.channelNonce, 3);
    }

    #[test]
    fn cooperative_close_without_payments_closes_at_zero() {
        let mut ch = open();
        let signed = ch.cooperative_close(0, T0).unwrap();
        assert_eq!(signed.message.cumulative, U96::ZERO);
    }

    #[test]
    fn request_close_from_open_and_from_an_unanswered_cooperative_close() {
        for mut ch in [open_paid(), cooperative()] {
            let signed = ch.request_close(1, T0 + 100).unwrap();
            assert_eq!(
                signed.message,
                RequestClose {
                    payee: ch.channel().payee(),
                    salt: 7,
                    fee: U96::from(1u64),
                    relayer: Address::repeat_byte(0x7e),
                    deadline: to_u40(T0 + 160).unwrap(),
                }
            );
            let digest = signed.message.eip712_signing_hash(ch.channel().domain());
            assert_eq!(signed.signature.recover(&digest), Ok(ch.channel().payer()));
            assert!(matches!(
                ch.state(),
                PayerState::Closing {
                    close: PayerClose::Requested { deadline },
                    ..
                } if *deadline == T0 + 160
            ));
            assert_eq!(ch.cumulative(), PRICE);
        }
    }

    #[test]
    fn on_close_requested_starts_the_challenge() {
        for mut ch in [open_paid(), cooperative(), requested()] {
            ch.on_close_requested(CLOSES_AT, T0).unwrap();
            assert_eq!(
                ch.state(),
                &PayerState::Closing {
                    deposit: 100,
                    receipt: open_paid().latest_receipt().cloned(),
                    close: PayerClose::Challenge {
                        closes_at: CLOSES_AT
                    },
                }
            );
        }
    }

    #[test]
    fn finalize_only_after_the_challenge_window() {
        let ch = challenge();
        for now in [T0, CLOSES_AT] {
            assert_eq!(
                ch.finalize(now),
                Err(Error::ChallengePeriodActive {
                    closes_at: CLOSES_AT
                })
            );
        }
        assert_eq!(
            ch.finalize(CLOSES_AT + 1),
            Ok(FinalizeClose {
                payer: ch.channel().payer(),
                payee: ch.channel().payee(),
                salt: 7
            })
        );
        assert_eq!(ch.state().name(), "closing");
    }

    #[test]
    fn on_closed_from_open_and_every_closing() {
        for mut ch in [open_paid(), cooperative(), requested(), challenge()] {
            assert_eq!(
                ch.on_closed(101, T0),
                Err(Error::ExceedsDeposit {
                    cumulative: 101,
                    deposit: 100
                })
            );
            ch.on_closed(PRICE, T0 + 9).unwrap();
            assert_eq!(
                ch.state(),
                &PayerState::Closed {
                    deposit: 100,
                    settled: PRICE,
                    receipt: open_paid().latest_receipt().cloned(),
                }
            );
            assert_eq!(ch.updated_at(), T0 + 9);
        }
        assert_eq!(closed().cumulative(), PRICE);
        assert_eq!(closed().state().deposit(), Some(100));
    }

    #[test]
    fn restore_round_trips_every_state() {
        for ch in [
            proposed(),
            opening(),
            open(),
            open_paid(),
            cooperative(),
            requested(),
            challenge(),
            closed(),
        ] {
            let restored = PayerChannel::restore(
                key(1),
                ch.channel().clone(),
                *ch.terms(),
                *ch.config(),
                ch.state().clone(),
                ch.updated_at(),
            )
            .unwrap();
            assert_eq!(restored.state(), ch.state());
        }
    }

    #[test]
    fn restore_rejects_inconsistent_state() {
        let ch = open_paid();
        let receipt = ch.latest_receipt().cloned();
        let restore = |state| {
            PayerChannel::restore(key(1), ch.channel().clone(), terms(), config(), state, T0)
        };
        let below = PayerState::Open {
            deposit: PRICE - 1,
            receipt: receipt.clone(),
            top_up: None,
        };
        assert_eq!(restore(below).unwrap_err().code(), "exceeds_deposit");
        let huge = PayerState::Open {
            deposit: MAX_AMOUNT + 1,
            receipt: None,
            top_up: None,
        };
        assert_eq!(restore(huge).unwrap_err().code(), "amount_too_large");
        let over_settled = PayerState::Closed {
            deposit: 100,
            settled: 101,
            receipt: None,
        };
        assert_eq!(restore(over_settled).unwrap_err().code(), "exceeds_deposit");
        let mut forged = receipt.unwrap();
        forged.message.cumulative = U96::from(5u64);
        let forged = PayerState::Open {
            deposit: 100,
            receipt: Some(forged),
            top_up: None,
        };
        assert_eq!(restore(forged).unwrap_err().code(), "wrong_signer");
    }

    // --- illegal transitions -------------------------------------------------------------------

    /// Every state a payer channel can be in, built through legal transitions.
    fn every_state() -> Vec<(&'static str, PayerChannel)> {
        vec![
            ("proposed", proposed()),
            ("opening", opening()),
            ("open", open_paid()),
            ("cooperative", cooperative()),
            ("requested", requested()),
            ("challenge", challenge()),
            ("closed", closed()),
        ]
    }

    type Transition = fn(&mut PayerChannel) -> Result<()>;

    /// Each transition with arguments that succeed wherever it is legal, and the states it is legal in.
    fn transitions() -> Vec<(&'static str, Transition, &'static [&'static str])> {
        vec![
            (
                "update_terms",
                |ch| ch.update_terms(terms(), T0),
                &["proposed", "opening", "open"],
            ),
            ("open", |ch| ch.open(100, 0, T0).map(drop), &["proposed"]),
            ("on_opened", |ch| ch.on_opened(100, T0), &["opening"]),
            ("on_open_failed", |ch| ch.on_open_failed(T0), &["opening"]),
            ("pay_piece", |ch| ch.pay_piece(T0).map(drop), &["open"]),
            ("pay", |ch| ch.pay(1, T0).map(drop), &["open"]),
            ("pay_up_to", |ch| ch.pay_up_to(50, T0).map(drop), &["open"]),
            ("top_up", |ch| ch.top_up(500, 0, T0).map(drop), &["open"]),
            (
                "on_topped_up",
                |ch| ch.on_topped_up(500, T0),
                &["open", "cooperative", "requested"],
            ),
            (
                "cooperative_close",
                |ch| ch.cooperative_close(0, T0).map(drop),
                &["open"],
            ),
            (
                "request_close",
                |ch| ch.request_close(0, T0).map(drop),
                &["open", "cooperative"],
            ),
            (
                "on_close_requested",
                |ch| ch.on_close_requested(CLOSES_AT, T0),
                &["open", "cooperative", "requested"],
            ),
            (
                "finalize",
                |ch| ch.finalize(CLOSES_AT + 1).map(drop),
                &["challenge"],
            ),
            (
                "on_closed",
                |ch| ch.on_closed(0, T0),
                &["open", "cooperative", "requested", "challenge"],
            ),
        ]
    }

    #[test]
    fn an_expired_close_request_can_be_signed_again() {
        let mut ch = requested();
        let PayerState::Closing {
            close: PayerClose::Requested { deadline },
            ..
        } = *ch.state()
        else {
            panic!("requested() is a requested close");
        };
        assert!(matches!(
            ch.request_close(0, deadline),
            Err(Error::InvalidState { .. })
        ));
        let again = ch.request_close(0, deadline + 1).unwrap();
        assert_eq!(
            again.message.deadline.to::<u64>(),
            ch.deadline(deadline + 1)
        );
        assert!(matches!(
            ch.state(),
            PayerState::Closing { close: PayerClose::Requested { deadline: d }, .. } if *d == ch.deadline(deadline + 1)
        ));
    }

    #[test]
    fn a_top_up_that_lands_while_closing_raises_the_refund() {
        for mut ch in [cooperative(), requested()] {
            ch.on_topped_up(500, T0).unwrap();
            assert!(matches!(
                ch.state(),
                PayerState::Closing { deposit: 500, .. }
            ));
        }
        assert!(matches!(
            challenge().on_topped_up(500, T0),
            Err(Error::InvalidState { .. })
        ));
    }

    #[test]
    fn every_transition_is_legal_exactly_where_documented() {
        for (name, transition, legal_in) in transitions() {
            for (state, mut ch) in every_state() {
                let (before, clock) = (ch.state().clone(), ch.updated_at());
                let result = transition(&mut ch);
                if legal_in.contains(&state) {
                    assert_eq!(result, Ok(()), "{name} from {state}");
                } else {
                    assert!(
                        matches!(result, Err(Error::InvalidState { state: s, .. }) if s == before.name()),
                        "{name} from {state} must be refused: {result:?}"
                    );
                    assert_eq!(ch.state(), &before, "{name} from {state} changed the state");
                    assert_eq!(
                        ch.updated_at(),
                        clock,
                        "{name} from {state} touched the clock"
                    );
                }
            }
        }
    }

    #[test]
    fn no_receipt_is_signed_outside_open() {
        for (state, mut ch) in every_state() {
            if state == "open" {
                continue;
            }
            let before = ch.cumulative();
            assert_eq!(ch.pay_piece(T0).unwrap_err().code(), "invalid_state");
            assert_eq!(ch.cumulative(), before);
        }
    }

    #[test]
    fn invalid_state_names_the_action_and_state() {
        let mut ch = closed();
        assert_eq!(
            ch.pay_piece(T0),
            Err(Error::InvalidState {
                action: "pay on",
                state: "closed"
            })
        );
        assert_eq!(
            ch.pay_piece(T0).unwrap_err().to_string(),
            "cannot pay on a channel that is closed"
        );
    }
}
