//! The payee's session with one payer: terms, bids, the channel check, credit, receipts, the close. It
//! wraps a [`PayeeChannel`] (created once a bid is accepted, or restored).
//!
//! Receipts are verified lazily, by [`DeferredReceipt`]: each one is checked cheaply on arrival and held,
//! newest only, until verifying it matters (the peer owes half its credit window counted against the
//! last verified receipt), a close, or the caller asks (its timer, about once a second, and when the
//! connection ends). One signature recovery then accepts — and one `receipt_ack` acknowledges — every
//! receipt since the last.

use piecepay_protocol::{
    CooperativeClose, Eip712Domain, SigningKey,
    alloy_primitives::{Address, aliases::U40},
    domain,
};
use piecepay_wire::{
    Accept, Bid, ChannelFunded, Close, Code, Message, PaymentRequired, Receipt, ReceiptAck, Reject,
};

use super::{
    Actions, CosignedClose, Handled, Outcome, SessionInfo, SessionState, decode_then, dispatch,
    error_message, wrong_direction,
};
use crate::{
    Amount, Channel, Error, PayeeChannel, PayeePolicy, Result, SignedReceipt, Terms,
    channel::to_u96,
    payee::{Arrival, ChokeReason, DeferredReceipt, PayeeState, ServeDecision},
};

/// How a payee session is set up.
#[derive(Clone, Debug)]
pub struct PayeeSessionConfig {
    /// The chain id of the escrow the payee is paid through.
    pub chain_id: u64,
    /// The escrow contract.
    pub escrow: Address,
    /// The token the escrow holds.
    pub token: Address,
    /// The payee's key; its address is the payee. Used only to co-sign cooperative closes.
    pub key: SigningKey,
    /// The lowest price per piece accepted and the credit extended.
    pub policy: PayeePolicy,
}

impl PayeeSessionConfig {
    /// The `terms` (the hello) a payee on this configuration sends.
    pub fn terms(&self) -> piecepay_wire::Terms {
        piecepay_wire::Terms {
            chain_id: self.chain_id,
            escrow: self.escrow,
            token: self.token,
            payee: self.key.address(),
            price: self.policy.min_price,
            credit: self.policy.credit,
        }
    }
}

/// A payee's session with one payer.
#[derive(Clone, Debug)]
pub struct PayeeSession {
    key: SigningKey,
    domain: Eip712Domain,
    terms: piecepay_wire::Terms,
    policy: PayeePolicy,
    channel: Option<PayeeChannel>,
    /// The newest receipt received and not verified yet (see the module's documentation).
    deferred: DeferredReceipt,
    /// Whether the peer was sent `payment_required` since it was last served: it is told once per choke.
    told_choked: bool,
    close: Option<CosignedClose>,
}

impl PayeeSession {
    /// A session selling on `config`'s terms. Fails with `invalid_policy` for a zero price or credit.
    pub fn new(config: PayeeSessionConfig) -> Result<Self> {
        config.policy.validate()?;
        Ok(Self {
            domain: domain(config.chain_id, config.escrow),
            terms: config.terms(),
            key: config.key,
            policy: config.policy,
            channel: None,
            deferred: DeferredReceipt::new(),
            told_choked: false,
            close: None,
        })
    }

    /// A session resuming `channel` (restored from a store), which must be this payee's on this escrow.
    pub fn restore(config: PayeeSessionConfig, channel: PayeeChannel) -> Result<Self> {
        if channel.channel().payee() != config.key.address()
            || channel.channel().domain() != &domain(config.chain_id, config.escrow)
        {
            return Err(Error::InvalidChannel(
                "the restored channel is not this payee's on this escrow",
            ));
        }
        let mut session = Self::new(config)?;
        session.channel = Some(channel);
        Ok(session)
    }

    /// The payee's address.
    pub const fn address(&self) -> Address {
        self.terms.payee
    }

    /// The `terms` message (the hello) to send once the peer advertised the extension.
    pub fn terms_message(&self) -> Message {
        Message::Terms(self.terms.clone())
    }

    /// The channel, once a bid was accepted.
    pub const fn channel(&self) -> Option<&PayeeChannel> {
        self.channel.as_ref()
    }

    /// The receipt held unverified, if any.
    pub const fn held_receipt(&self) -> Option<&SignedReceipt> {
        self.deferred.held()
    }

    fn agreed_channel(&mut self, kind: &'static str) -> Result<&mut PayeeChannel> {
        self.channel.as_mut().ok_or(Error::UnexpectedMessage {
            kind,
            reason: "no bid was accepted yet",
        })
    }

    /// Handles the bytes of a message from the peer ([`on_message`](Self::on_message)); bytes that do not
    /// decode are refused with an `error` reply.
    pub fn on_bytes(&mut self, bytes: &[u8], now: u64) -> Handled {
        decode_then(bytes, |message| self.on_message(message, now))
    }

    /// Handles a message from the peer.
    ///
    /// `bid` → `accept` or `reject` in the reply. `channel` → [`Actions::CHECK_CHANNEL`] with the claimed
    /// deposit in `amount`. `receipt` → checked cheaply (channel open, above the last, within the
    /// deposit) and held, with [`Actions::VERIFY_RECEIPT`] once verifying it is due: a receipt never costs
    /// a signature recovery here (a `close` does). The last receipt acknowledged, sent again, is
    /// acknowledged again at once ([`Actions::PERSIST_RECEIPT`], the `receipt_ack` as the reply). `SERVE`
    /// or `CHOKE` either way. `close` → the held receipt accepted first (`PERSIST_RECEIPT`), then
    /// co-signed: `CLOSE_SIGNED | CHOKE` and the co-signed `close` as the reply. `error` → `PEER_CODE`.
    pub fn on_message(&mut self, message: Message, now: u64) -> Handled {
        dispatch(message, |message, out| match message {
            Message::Bid(bid) => self.on_bid(&bid, now, out),
            Message::Channel(funded) => self.on_channel(&funded, out),
            Message::Receipt(receipt) => self.on_receipt(&receipt, now, out),
            Message::Close(close) => self.on_close(&close, now, out),
            other => Err(wrong_direction(other.kind())),
        })
    }

    fn on_bid(&mut self, bid: &Bid, now: u64, out: &mut Outcome) -> Result<()> {
        let terms = match self.policy.evaluate_bid(bid.price) {
            Ok(terms) => terms,
            Err(error @ Error::BidTooLow { min_price, .. }) => {
                out.reply = Some(Message::Reject(Reject {
                    code: Code::new(error.code()).unwrap_or(Code::OTHER),
                    min_price: Some(min_price),
                }));
                return Ok(());
            }
            Err(error) => return Err(error),
        };
        match &mut self.channel {
            Some(channel) => {
                if (channel.channel().payer(), channel.channel().salt()) != (bid.payer, bid.salt) {
                    return Err(Error::UnexpectedMessage {
                        kind: "bid",
                        reason: "it names another channel than the one agreed",
                    });
                }
                channel.update_terms(terms, now)?;
            }
            None => {
                let channel =
                    Channel::new(self.domain.clone(), bid.payer, self.terms.payee, bid.salt)?;
                self.channel = Some(PayeeChannel::new(channel, terms, now));
            }
        }
        out.reply = Some(accept(&terms));
        Ok(())
    }

    fn on_channel(&mut self, funded: &ChannelFunded, out: &mut Outcome) -> Result<()> {
        let channel = self.agreed_channel("channel")?.channel();
        if (funded.payer, funded.salt, funded.id) != (channel.payer(), channel.salt(), channel.id())
        {
            return Err(Error::ChannelMismatch {
                expected: channel.id(),
                actual: funded.id,
            });
        }
        out.actions |= Actions::CHECK_CHANNEL;
        out.amount = funded.deposit;
        Ok(())
    }

    /// Checks a receipt cheaply and holds it, asking for verification (`VERIFY_RECEIPT`) when that is due:
    /// it never spends a signature recovery itself, so the caller may handle it on its network thread. A
    /// receipt below the one held is stale; the one held, sent again, is acknowledged once verified; the
    /// last one acknowledged, sent again, is acknowledged again at once (no recovery).
    fn on_receipt(&mut self, receipt: &Receipt, now: u64, out: &mut Outcome) -> Result<()> {
        let channel = self.channel.as_mut().ok_or(Error::UnexpectedMessage {
            kind: "receipt",
            reason: "no bid was accepted yet",
        })?;
        let message = piecepay_protocol::Receipt {
            payee: channel.channel().payee(),
            salt: receipt.salt,
            cumulative: to_u96(receipt.cumulative)?,
        };
        match self
            .deferred
            .on_receipt(channel, message, receipt.signature, now)?
        {
            Arrival::Resent(accepted) => self.acknowledge(accepted.cumulative, out),
            Arrival::AlreadyHeld => self.decide(out, false),
            Arrival::Held { verify_now } => {
                self.decide(out, false);
                if verify_now {
                    out.actions |= Actions::VERIFY_RECEIPT;
                }
            }
        }
        Ok(())
    }

    /// Whether the receipt held should be verified now ([`DeferredReceipt::due`]).
    fn verification_due(&self) -> bool {
        self.channel
            .as_ref()
            .is_some_and(|channel| self.deferred.due(channel))
    }

    /// Verifies and accepts the receipt held, if any, and returns its cumulative. The receipt is let go
    /// either way.
    fn accept_held(&mut self, now: u64) -> Result<Option<Amount>> {
        let Some(channel) = self.channel.as_mut() else {
            return Ok(None);
        };
        Ok(self
            .deferred
            .verify(channel, now)?
            .map(|accepted| accepted.cumulative))
    }

    /// `PERSIST_RECEIPT`, then the acknowledgement of `cumulative` as the reply.
    fn acknowledge(&mut self, cumulative: Amount, out: &mut Outcome) {
        out.reply = Some(Message::ReceiptAck(ReceiptAck { cumulative }));
        out.actions |= Actions::PERSIST_RECEIPT;
        out.amount = cumulative;
        // The reply is the acknowledgement; a peer still over its limit was told so when it was choked.
        self.decide(out, false);
    }

    /// Verifies the receipt held, if any ([`Actions::VERIFY_RECEIPT`], the caller's timer, before a close
    /// or dropping the session). Nothing held: no actions. Accepted: `PERSIST_RECEIPT`, and the reply
    /// acknowledges it. A receipt that fails is let go and refused, with an `error` naming it as the reply.
    pub fn verify_receipt(&mut self, now: u64) -> Handled {
        let mut out = Outcome::default();
        match self.accept_held(now) {
            Ok(Some(cumulative)) => self.acknowledge(cumulative, &mut out),
            Ok(None) => self.decide(&mut out, false),
            Err(error) => {
                out.reply = Some(error_message(&error, "receipt"));
                return Err(Box::new(super::Refused {
                    error,
                    outcome: out,
                }));
            }
        }
        Ok(out)
    }

    fn on_close(&mut self, close: &Close, now: u64, out: &mut Outcome) -> Result<()> {
        // A close is checked against the highest receipt accepted: first accept the one held (the
        // co-signed close, not an acknowledgement, is the reply).
        if let Some(cumulative) = self.accept_held(now)? {
            out.actions |= Actions::PERSIST_RECEIPT;
            out.amount = cumulative;
        }
        let key = self.key.clone();
        let channel = self.agreed_channel("close")?;
        let message = CooperativeClose {
            payer: channel.channel().payer(),
            payee: channel.channel().payee(),
            salt: channel.channel().salt(),
            cumulative: to_u96(close.cumulative)?,
            fee: to_u96(close.fee)?,
            relayer: close.relayer,
            channelNonce: close.nonce,
            deadline: U40::try_from(close.deadline).map_err(|_| Error::DeadlineOutOfRange {
                deadline: close.deadline,
            })?,
        };
        let signed = channel.cooperative_close(&message, &close.signature, &key, now)?;
        self.close = Some(CosignedClose {
            message,
            payer_signature: close.signature,
            payee_signature: signed.signature,
        });
        out.reply = Some(Message::Close(Close {
            signature: signed.signature,
            ..close.clone()
        }));
        out.actions |= Actions::CLOSE_SIGNED | Actions::CHOKE;
        Ok(())
    }

    /// The caller checked the chain: the channel holds `deposit`. Opens it, or records a top-up. `SERVE`
    /// or `CHOKE` (with a `payment_required` reply).
    pub fn channel_funded(&mut self, deposit: Amount, now: u64) -> Handled {
        let channel = self
            .channel
            .as_mut()
            .ok_or(Error::NotFound("no bid was accepted yet"))?;
        match channel.state() {
            PayeeState::Proposed => channel.on_channel_opened(deposit, now)?,
            PayeeState::Open { account } if deposit > account.deposit => {
                channel.on_topped_up(deposit, now)?;
            }
            PayeeState::Open { .. } => {}
            _ => return Err(channel.invalid("fund").into()),
        }
        let mut out = Outcome::default();
        self.decide(&mut out, true);
        Ok(out)
    }

    /// The credit check before serving a request: `SERVE`, or `CHOKE` with a `payment_required` the first
    /// time.
    pub fn check_request(&mut self) -> Outcome {
        let mut out = Outcome::default();
        self.decide(&mut out, true);
        out
    }

    /// Whether the peer may be served its next piece now, without telling it anything.
    pub fn may_serve(&self) -> bool {
        self.serve_decision() == ServeDecision::Serve
    }

    /// Pieces the peer may be served now before it must pay more (the credit window or deposit left, in
    /// whole pieces at the price in force): what a torrent engine may accept requests for at once.
    pub fn allowance(&self) -> u64 {
        self.channel.as_ref().map_or(0, PayeeChannel::allowance)
    }

    /// A piece was served: counts it at the price in force, then decides about the next one, and asks
    /// for `VERIFY_RECEIPT` when a receipt held should be verified now. Never spends a signature
    /// recovery itself.
    pub fn on_piece_served(&mut self, now: u64) -> Handled {
        let channel = self
            .channel
            .as_mut()
            .ok_or(Error::NotFound("no bid was accepted yet"))?;
        // `decide` below makes the same decision and also tells the peer.
        let _ = channel.on_piece_served(now)?;
        let mut out = Outcome::default();
        self.decide(&mut out, true);
        if self.verification_due() {
            out.actions |= Actions::VERIFY_RECEIPT;
        }
        Ok(out)
    }

    fn serve_decision(&self) -> ServeDecision {
        self.channel.as_ref().map_or(
            ServeDecision::Choke(ChokeReason::NotOpen),
            PayeeChannel::serve_decision,
        )
    }

    /// Sets `SERVE` or `CHOKE`; a choke not yet told to the peer is told with `payment_required` when
    /// `may_reply`.
    fn decide(&mut self, out: &mut Outcome, may_reply: bool) {
        let ServeDecision::Choke(reason) = self.serve_decision() else {
            out.actions |= Actions::SERVE;
            self.told_choked = false;
            return;
        };
        out.actions |= Actions::CHOKE;
        if may_reply && !self.told_choked {
            out.reply = Some(Message::PaymentRequired(self.payment_required(reason)));
            self.told_choked = true;
        }
    }

    fn payment_required(&self, reason: ChokeReason) -> PaymentRequired {
        let account = self.channel.as_ref().and_then(|c| c.state().account());
        let (reason, deposit) = match reason {
            ChokeReason::NotOpen => (Code::NOT_OPEN, None),
            ChokeReason::Closing => (Code::CLOSING, None),
            ChokeReason::OverCredit { .. } => (Code::OVER_CREDIT, None),
            ChokeReason::DepositExhausted { deposit, .. } => {
                (Code::DEPOSIT_EXHAUSTED, Some(deposit))
            }
        };
        PaymentRequired {
            reason,
            paid: account.map_or(0, |a| a.paid()),
            served: account.map_or(0, |a| a.served),
            deposit,
        }
    }

    /// The chain settled the channel up to `settled`.
    pub fn on_settled(&mut self, settled: Amount, now: u64) -> Result<()> {
        let channel = self
            .channel
            .as_mut()
            .ok_or(Error::NotFound("no bid was accepted yet"))?;
        channel.on_settled(settled, now)
    }

    /// The channel state machine, for the caller's other chain events (close requested, closed,
    /// settlement sent); `None` before a bid was accepted.
    pub const fn channel_mut(&mut self) -> Option<&mut PayeeChannel> {
        self.channel.as_mut()
    }

    /// The highest receipt accepted.
    pub fn latest_receipt(&self) -> Option<&SignedReceipt> {
        self.channel.as_ref()?.latest_receipt()
    }

    /// The cooperative close co-signed.
    pub const fn cooperative_close(&self) -> Option<&CosignedClose> {
        self.close.as_ref()
    }

    /// A snapshot for display.
    pub fn info(&self) -> SessionInfo {
        let mut info = SessionInfo::NEGOTIATING;
        let Some(channel) = &self.channel else {
            return info;
        };
        info.channel_id = channel.channel().id();
        info.price = channel.terms().price();
        info.paid = channel.paid();
        info.acknowledged = info.paid;
        info.state = match channel.state() {
            PayeeState::Proposed => SessionState::Proposed,
            PayeeState::Open { .. } => SessionState::Open,
            PayeeState::Closing { .. } => SessionState::Closing,
            PayeeState::Closed { deposit, .. } => {
                info.deposit = *deposit;
                SessionState::Closed
            }
        };
        if let Some(account) = channel.state().account() {
            info.deposit = account.deposit;
            info.served = account.served;
            info.pieces = account.pieces_served;
        }
        info
    }
}

fn accept(terms: &Terms) -> Message {
    Message::Accept(Accept {
        price: terms.price(),
        credit: terms.credit(),
    })
}
