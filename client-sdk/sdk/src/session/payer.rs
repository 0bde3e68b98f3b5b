//! The payer's session with one payee: read its terms, bid, fund the channel, pay per verified piece,
//! close. It wraps a [`PayerChannel`] (created once a bid is accepted, or restored) and a [`Bidder`].

use piecepay_protocol::{
    CooperativeClose, Eip712Domain, OpenChannel, SigningKey, SolStruct,
    alloy_primitives::{Address, B256},
    domain,
};
use piecepay_wire::{Accept, Bid, ChannelFunded, Close, Code, Message, PaymentRequired, Reject};

use super::{
    Actions, CosignedClose, Handled, Outcome, SessionInfo, SessionState, decode_then, dispatch,
    refuse_with, wrong_direction,
};
use crate::{
    Amount, BidPolicy, BidUpdate, Bidder, Channel, Error, MAX_AMOUNT, PayerChannel, PayerConfig,
    PayerState, Payment, Result, Signed, SignedReceipt, Terms, channel::from_u96,
};

/// Seconds between two raises of the bid after a choke: BitTorrent re-chokes every 10 s.
pub(super) const RAISE_INTERVAL: u64 = 10;

/// How a payer session is set up.
#[derive(Clone, Debug)]
pub struct PayerSessionConfig {
    /// The chain id of the escrow the payer uses; `terms` for another chain are refused.
    pub chain_id: u64,
    /// The escrow contract.
    pub escrow: Address,
    /// The token the escrow holds.
    pub token: Address,
    /// The payer's key.
    pub key: SigningKey,
    /// The salt of the channel to this payee (unique per payer and payee).
    pub salt: u32,
    /// The most ever bid per piece.
    pub max_price: Amount,
    /// How much a raise (after a choke) adds to the bid.
    pub bid_step: Amount,
    /// The most this session spends in all: a payment past it is refused (`over_budget`).
    pub budget: Amount,
    /// How signed authorisations expire and when top-ups are suggested.
    pub channel: PayerConfig,
}

/// A payer's session with one payee.
#[derive(Clone, Debug)]
pub struct PayerSession {
    key: SigningKey,
    domain: Eip712Domain,
    chain_id: u64,
    escrow: Address,
    token: Address,
    salt: u32,
    config: PayerConfig,
    bidder: Bidder,
    payee: Option<Address>,
    channel: Option<PayerChannel>,
    acknowledged: Amount,
    pieces: u64,
    close: Option<Signed<CooperativeClose>>,
    cosigned: Option<CosignedClose>,
}

impl PayerSession {
    /// A session paying from `config`'s key, on `config`'s escrow. Fails with `invalid_policy` for a
    /// zero `max_price` or `bid_step`, or a channel configuration [`PayerConfig::validate`] refuses.
    pub fn new(config: PayerSessionConfig) -> Result<Self> {
        config.channel.validate()?;
        let bidder = Bidder::new(BidPolicy {
            // The first real bid meets the payee's asked price (see `on_terms`).
            start: 1,
            max_price: config.max_price,
            step: config.bid_step,
            raise_interval: RAISE_INTERVAL,
            budget: config.budget,
        })?;
        Ok(Self {
            domain: domain(config.chain_id, config.escrow),
            key: config.key,
            chain_id: config.chain_id,
            escrow: config.escrow,
            token: config.token,
            salt: config.salt,
            config: config.channel,
            bidder,
            payee: None,
            channel: None,
            acknowledged: 0,
            pieces: 0,
            close: None,
            cosigned: None,
        })
    }

    /// A session resuming `channel` (restored from a store): its payee, salt and terms are the
    /// channel's; `spent` is what was already paid against `config.budget` (the budget left is what a
    /// payment may still use). Its price is the channel's until a new bid is accepted.
    pub fn restore(
        config: PayerSessionConfig,
        channel: PayerChannel,
        spent: Amount,
    ) -> Result<Self> {
        if channel.channel().payer() != config.key.address()
            || channel.channel().domain() != &domain(config.chain_id, config.escrow)
        {
            return Err(Error::InvalidChannel(
                "the restored channel is not this payer's on this escrow",
            ));
        }
        let salt = channel.channel().salt();
        let mut session = Self::new(PayerSessionConfig { salt, ..config })?;
        session.bidder = Bidder::resume(*session.bidder.policy(), channel.terms().price(), spent)?;
        session.payee = Some(channel.channel().payee());
        session.channel = Some(channel);
        Ok(session)
    }

    /// The payer's address.
    pub const fn address(&self) -> Address {
        self.key.address()
    }

    /// The payee, once its terms arrived.
    pub const fn payee(&self) -> Option<Address> {
        self.payee
    }

    /// The salt of the channel.
    pub const fn salt(&self) -> u32 {
        self.salt
    }

    /// The channel, once a bid was accepted.
    pub const fn channel(&self) -> Option<&PayerChannel> {
        self.channel.as_ref()
    }

    /// The bidder: the price bid and what was spent.
    pub const fn bidder(&self) -> &Bidder {
        &self.bidder
    }

    /// The channel state machine, for the caller's chain events (close requested, closed); `None` before
    /// a bid was accepted.
    pub const fn channel_mut(&mut self) -> Option<&mut PayerChannel> {
        self.channel.as_mut()
    }

    fn agreed_channel(&mut self) -> Result<&mut PayerChannel> {
        self.channel
            .as_mut()
            .ok_or(Error::NotFound("no bid was accepted yet"))
    }

    /// Handles the bytes of a message from the peer ([`on_message`](Self::on_message)); bytes that do not
    /// decode are refused with an `error` reply.
    pub fn on_bytes(&mut self, bytes: &[u8], now: u64) -> Handled {
        decode_then(bytes, |message| self.on_message(message, now))
    }

    /// Handles a message from the peer.
    ///
    /// `terms` → checked against the escrow (`terms_mismatch`, `price_above_max`), then a `bid` reply.
    /// `accept` → [`Actions::OPEN_CHANNEL`] (the first time). `reject` → [`Actions::PEER_CODE`], and a
    /// raised `bid` if the policy allows. `receipt_ack` → the acknowledged cumulative in `amount`.
    /// `payment_required` → `PEER_CODE`; [`Actions::TOP_UP`] (a total in `amount`) if the deposit is
    /// exhausted; the `channel` message again if the payee has not seen the channel open. `close` (the
    /// payee's co-signature) → [`Actions::CLOSE_SIGNED`]. `error` → `PEER_CODE`.
    pub fn on_message(&mut self, message: Message, now: u64) -> Handled {
        dispatch(message, |message, out| match message {
            Message::Terms(terms) => self.on_terms(&terms, now, out),
            Message::Accept(accept) => self.on_accept(&accept, now, out),
            Message::Reject(reject) => {
                self.on_reject(&reject, now, out);
                Ok(())
            }
            Message::ReceiptAck(ack) => {
                self.acknowledged = self.acknowledged.max(ack.cumulative);
                out.amount = ack.cumulative;
                Ok(())
            }
            Message::PaymentRequired(required) => {
                self.on_payment_required(&required, out);
                Ok(())
            }
            Message::Close(close) => self.on_close(&close, out),
            other => Err(wrong_direction(other.kind())),
        })
    }

    fn on_terms(
        &mut self,
        terms: &piecepay_wire::Terms,
        now: u64,
        out: &mut Outcome,
    ) -> Result<()> {
        if terms.chain_id != self.chain_id {
            return Err(Error::TermsMismatch("chain"));
        }
        if terms.escrow != self.escrow {
            return Err(Error::TermsMismatch("escrow"));
        }
        if terms.token != self.token {
            return Err(Error::TermsMismatch("token"));
        }
        if self.channel.is_some() && self.payee != Some(terms.payee) {
            return Err(Error::TermsMismatch("payee"));
        }
        // Refuse a payee the escrow would refuse (zero, or ourselves) before bidding to it.
        Channel::new(self.domain.clone(), self.address(), terms.payee, self.salt)?;
        self.payee = Some(terms.payee);
        if terms.price > self.bidder.price()
            && let BidUpdate::Unchanged { .. } = self.bidder.on_rejected(terms.price, now)
            && self.bidder.price() < terms.price
        {
            return Err(Error::PriceAboveMax {
                price: terms.price,
                max_price: self.bidder.policy().max_price,
            });
        }
        out.reply = Some(self.bid());
        Ok(())
    }

    /// The `bid` message at the current price.
    pub fn bid(&self) -> Message {
        Message::Bid(Bid {
            price: self.bidder.price(),
            payer: self.address(),
            salt: self.salt,
        })
    }

    fn on_accept(&mut self, accept: &Accept, now: u64, out: &mut Outcome) -> Result<()> {
        let Some(payee) = self.payee else {
            return Err(Error::UnexpectedMessage {
                kind: "accept",
                reason: "no terms received yet",
            });
        };
        if accept.price > self.bidder.price() {
            return Err(Error::InvalidTerms("accepted price above the bid"));
        }
        let terms = Terms::new(accept.price, accept.credit)?;
        match &mut self.channel {
            Some(channel) => channel.update_terms(terms, now)?,
            None => {
                let channel =
                    Channel::new(self.domain.clone(), self.key.address(), payee, self.salt)?;
                self.channel = Some(PayerChannel::new(
                    self.key.clone(),
                    channel,
                    terms,
                    self.config,
                    now,
                )?);
                out.actions |= Actions::OPEN_CHANNEL;
            }
        }
        Ok(())
    }

    fn on_reject(&mut self, reject: &Reject, now: u64, out: &mut Outcome) {
        out.set_peer_code(&reject.code);
        if let Some(min_price) = reject.min_price
            && let BidUpdate::Raised { .. } = self.bidder.on_rejected(min_price, now)
        {
            out.reply = Some(self.bid());
        }
    }

    fn on_payment_required(&mut self, required: &PaymentRequired, out: &mut Outcome) {
        out.set_peer_code(&required.reason);
        let Some(channel) = &self.channel else {
            return;
        };
        if required.reason == Code::DEPOSIT_EXHAUSTED
            && let Some(deposit) = channel.state().deposit()
        {
            // Enough for the pieces the payee already served, plus as much again.
            let needed = required.served.saturating_add(channel.terms().price());
            out.actions |= Actions::TOP_UP;
            out.amount = needed.max(deposit.saturating_mul(2)).min(MAX_AMOUNT);
        } else if required.reason == Code::NOT_OPEN
            && let PayerState::Open { deposit, .. } = channel.state()
        {
            // The payee may have missed (or not yet checked) the announcement: repeat it.
            out.reply = Some(self.funded_message(*deposit, None));
        }
    }

    fn on_close(&mut self, close: &Close, out: &mut Outcome) -> Result<()> {
        let Some(ours) = &self.close else {
            return Err(Error::UnexpectedMessage {
                kind: "close",
                reason: "the payer proposes cooperative closes",
            });
        };
        let message = &ours.message;
        let same = (close.cumulative, close.fee, close.deadline)
            == (
                from_u96(message.cumulative),
                from_u96(message.fee),
                message.deadline.to::<u64>(),
            );
        if !same {
            return Err(Error::UnexpectedMessage {
                kind: "close",
                reason: "it differs from the close the payer signed",
            });
        }
        let recovered = close
            .signature
            .recover(&message.eip712_signing_hash(&self.domain))?;
        if recovered != message.payee {
            return Err(Error::WrongSigner {
                recovered,
                expected: message.payee,
            });
        }
        self.cosigned = Some(CosignedClose {
            message: message.clone(),
            payer_signature: ours.signature,
            payee_signature: close.signature,
        });
        out.actions |= Actions::CLOSE_SIGNED;
        Ok(())
    }

    /// The `channel` message announcing the channel funded with `deposit` (`tx`: the transaction, as a
    /// hint for the payee).
    pub fn funded_message(&self, deposit: Amount, tx: Option<B256>) -> Message {
        let channel = self.channel.as_ref().map(PayerChannel::channel);
        Message::Channel(ChannelFunded {
            payer: self.address(),
            salt: self.salt,
            id: channel.map_or(B256::ZERO, Channel::id),
            deposit,
            tx,
        })
    }

    /// Signs the gasless open of the channel with `deposit`, paying a relayer at most `fee`.
    pub fn open(&mut self, deposit: Amount, fee: Amount, now: u64) -> Result<Signed<OpenChannel>> {
        self.agreed_channel()?.open(deposit, fee, now)
    }

    /// The chain shows the channel funded with `deposit` (opened, or topped up): records it and returns
    /// the `channel` message that tells the payee as the reply. A channel opened outside this session
    /// (without [`open`](Self::open)) is adopted.
    pub fn channel_funded(&mut self, deposit: Amount, tx: Option<B256>, now: u64) -> Handled {
        let channel = self.agreed_channel()?;
        match channel.state() {
            PayerState::Proposed => {
                // Opened by other means: the open signed here only moves the state machine on; a channel
                // id opens once, so that signature can never be used for a second open.
                let _ = channel.open(deposit, 0, now)?;
                channel.on_opened(deposit, now)?;
            }
            PayerState::Opening { .. } => channel.on_opened(deposit, now)?,
            PayerState::Open {
                deposit: current, ..
            } if deposit > *current => {
                channel.on_topped_up(deposit, now)?;
            }
            PayerState::Open { .. } => {}
            _ => return Err(channel.invalid("fund").into()),
        }
        Ok(Outcome {
            reply: Some(self.funded_message(deposit, tx)),
            ..Outcome::default()
        })
    }

    /// A piece passed its hash check: signs the next cumulative receipt (one piece at the agreed price)
    /// and returns it as the reply ([`pay_pieces`](Self::pay_pieces) with 1).
    pub fn on_piece_verified(&mut self, now: u64) -> Handled {
        self.pay_pieces(1, now)
    }

    /// `pieces` pieces passed their hash check: signs **one** receipt raising the cumulative by their
    /// price and returns it as the reply. Persist it ([`latest_receipt`](Self::latest_receipt)) before
    /// sending it. With one receipt in flight per channel, the pieces that pass meanwhile are paid by the
    /// next receipt together (`docs/wire-protocol.md`, "every piece paid within the credit window").
    ///
    /// [`Actions::TOP_UP`] (a total in `amount`) advises a top-up. Refused with `top_up_needed` (and
    /// `TOP_UP`) when the deposit cannot cover it, `over_budget` past the budget: nothing is signed.
    pub fn pay_pieces(&mut self, pieces: u64, now: u64) -> Handled {
        refuse_with(|out| {
            if pieces == 0 {
                return Err(Error::ZeroAmount);
            }
            let price = self.agreed_channel()?.terms().price();
            let amount = price.saturating_mul(Amount::from(pieces));
            let channel = self.channel.as_mut().expect("checked above");
            match self.bidder.pay(channel, amount, now)? {
                Payment::Paid { receipt, top_up } => {
                    out.reply = Some(Message::Receipt(piecepay_wire::Receipt {
                        salt: receipt.message.salt,
                        cumulative: receipt.cumulative(),
                        signature: receipt.signature,
                    }));
                    self.pieces += pieces;
                    if let Some(total) = top_up {
                        out.actions |= Actions::TOP_UP;
                        out.amount = total;
                    }
                    Ok(())
                }
                Payment::TopUpNeeded {
                    deposit,
                    required,
                    suggested,
                } => {
                    out.actions |= Actions::TOP_UP;
                    out.amount = suggested;
                    Err(Error::TopUpNeeded {
                        deposit,
                        required,
                        suggested,
                    })
                }
            }
        })
    }

    /// The payee choked us: raise the bid if the policy allows, and return the new `bid` as the reply
    /// (none: the bid stays).
    pub fn on_choked(&mut self, now: u64) -> Handled {
        if self.payee.is_none() {
            return Err(Error::NotFound("no terms received yet").into());
        }
        let mut out = Outcome::default();
        if let BidUpdate::Raised { .. } = self.bidder.on_choked(now) {
            out.reply = Some(self.bid());
        }
        Ok(out)
    }

    /// Signs a cooperative close at the highest cumulative signed (a relayer may take at most `fee`) and
    /// returns the `close` message as the reply. No receipt is signed afterwards; the payee's
    /// co-signature comes back through [`on_message`](Self::on_message) as [`Actions::CLOSE_SIGNED`].
    pub fn close(&mut self, fee: Amount, now: u64) -> Handled {
        let signed = self.agreed_channel()?.cooperative_close(fee, now)?;
        let reply = Message::Close(Close {
            cumulative: from_u96(signed.message.cumulative),
            fee: from_u96(signed.message.fee),
            relayer: signed.message.relayer,
            nonce: signed.message.channelNonce,
            deadline: signed.message.deadline.to::<u64>(),
            signature: signed.signature,
        });
        self.close = Some(signed);
        Ok(Outcome {
            reply: Some(reply),
            ..Outcome::default()
        })
    }

    /// The cooperative close with both signatures, once the payee co-signed.
    pub const fn cooperative_close(&self) -> Option<&CosignedClose> {
        self.cosigned.as_ref()
    }

    /// The highest receipt signed: persist it before sending it.
    pub fn latest_receipt(&self) -> Option<&SignedReceipt> {
        self.channel.as_ref()?.latest_receipt()
    }

    /// A snapshot for display.
    pub fn info(&self) -> SessionInfo {
        let mut info = SessionInfo::NEGOTIATING;
        let Some(channel) = &self.channel else {
            return info;
        };
        info.channel_id = channel.channel().id();
        info.price = channel.terms().price();
        info.deposit = channel.state().deposit().unwrap_or(0);
        info.paid = channel.cumulative();
        info.acknowledged = self.acknowledged;
        info.pieces = self.pieces;
        info.state = match channel.state() {
            PayerState::Proposed => SessionState::Proposed,
            PayerState::Opening { .. } => SessionState::Opening,
            PayerState::Open { .. } => SessionState::Open,
            PayerState::Closing { .. } => SessionState::Closing,
            PayerState::Closed { .. } => SessionState::Closed,
        };
        info
    }
}
