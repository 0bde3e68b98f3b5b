//! The payee's session with one peer: terms, bids, the channel check, credit, receipts, the close.
//!
//! It wraps the SDK's [`PayeeChannel`] (created once a bid is accepted) and speaks the wire protocol
//! around it; [`abi`] exposes it to C.
//!
//! Receipts are verified lazily, by the SDK's [`DeferredReceipt`]: each one is checked cheaply on arrival
//! and held, newest only, until verifying it matters (the peer owes half its credit window counted
//! against the last verified receipt), a close, or the caller asks (its timer, about once a second, and
//! when the connection ends). One signature recovery then accepts — and one `receipt_ack` acknowledges —
//! every receipt since the last.

pub mod abi;

use piecepay_protocol::{
    CompactSignature, CooperativeClose, Eip712Domain, SigningKey,
    alloy_primitives::{Address, B256, aliases::U40},
};
use piecepay_sdk::{
    Amount, Channel, PayeeChannel, PayeePolicy, Terms,
    payee::{Arrival, ChokeReason, DeferredReceipt, PayeeState, ServeDecision},
};
use piecepay_wire::{
    Accept, Bid, ChannelFunded, Close, Code, Message, PaymentRequired, Receipt, ReceiptAck, Reject,
};

use crate::{
    Error, PIECEPAY_ACTION_CHECK_CHANNEL, PIECEPAY_ACTION_CHOKE, PIECEPAY_ACTION_CLOSE_SIGNED,
    PIECEPAY_ACTION_PERSIST_RECEIPT, PIECEPAY_ACTION_SERVE, PIECEPAY_ACTION_VERIFY_RECEIPT,
    PiecepayChannelInfo, PiecepayCooperativeClose, PiecepayOutcome, PiecepayPayeeConfig,
    PiecepayReceipt, PiecepayState, Result,
    session::{self, dispatch, encode, error_message, u96, wrong_direction},
};

/// A payee's session with one peer.
#[derive(Debug)]
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
    close: Option<PiecepayCooperativeClose>,
}

impl PayeeSession {
    /// A session selling on `config`'s terms.
    pub fn new(config: &PiecepayPayeeConfig) -> Result<Self> {
        let key = SigningKey::from_bytes(&B256::from(config.secret_key))?;
        let policy = PayeePolicy {
            min_price: config.min_price.into(),
            credit: piecepay_sdk::CreditWindow::Pieces(config.credit_pieces),
        };
        policy.validate()?;
        let escrow = Address::from(config.escrow);
        Ok(Self {
            domain: session::escrow_domain(config.chain_id, escrow),
            terms: piecepay_wire::Terms {
                chain_id: config.chain_id,
                escrow,
                token: Address::from(config.token),
                payee: key.address(),
                price: policy.min_price,
                credit: policy.credit,
            },
            key,
            policy,
            channel: None,
            deferred: DeferredReceipt::new(),
            told_choked: false,
            close: None,
        })
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

    fn channel_mut(&mut self, kind: &'static str) -> Result<&mut PayeeChannel> {
        self.channel.as_mut().ok_or(Error::UnexpectedMessage {
            kind,
            reason: "no bid was accepted yet",
        })
    }

    /// Handles bytes from the peer.
    pub fn on_message(&mut self, bytes: &[u8], now: u64, out: &mut PiecepayOutcome) -> Result<()> {
        dispatch(bytes, out, |message, out| match message {
            Message::Bid(bid) => self.on_bid(&bid, now, out),
            Message::Channel(funded) => self.on_channel(&funded, out),
            Message::Receipt(receipt) => self.on_receipt(&receipt, now, out),
            Message::Close(close) => self.on_close(&close, now, out),
            other => Err(wrong_direction(other.kind())),
        })
    }

    fn on_bid(&mut self, bid: &Bid, now: u64, out: &mut PiecepayOutcome) -> Result<()> {
        let terms = match self.policy.evaluate_bid(bid.price) {
            Ok(terms) => terms,
            Err(error @ piecepay_sdk::Error::BidTooLow { min_price, .. }) => {
                out.reply = encode(&Message::Reject(Reject {
                    code: Code::new(error.code()).unwrap_or(Code::OTHER),
                    min_price: Some(min_price),
                }));
                return Ok(());
            }
            Err(error) => return Err(error.into()),
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
        out.reply = encode(&accept(&terms));
        Ok(())
    }

    fn on_channel(&mut self, funded: &ChannelFunded, out: &mut PiecepayOutcome) -> Result<()> {
        let channel = self.channel_mut("channel")?.channel();
        if (funded.payer, funded.salt, funded.id) != (channel.payer(), channel.salt(), channel.id())
        {
            return Err(piecepay_sdk::Error::ChannelMismatch {
                expected: channel.id(),
                actual: funded.id,
            }
            .into());
        }
        out.actions |= PIECEPAY_ACTION_CHECK_CHANNEL;
        out.amount = funded.deposit.into();
        Ok(())
    }

    /// Checks a receipt cheaply and holds it, asking for verification (`VERIFY_RECEIPT`) when that is due:
    /// it never spends a signature recovery itself, so the caller may handle it on its network thread. A
    /// receipt below the one held is stale; the one held, sent again, is acknowledged once verified; the
    /// last one acknowledged, sent again, is acknowledged again at once (no recovery).
    fn on_receipt(&mut self, receipt: &Receipt, now: u64, out: &mut PiecepayOutcome) -> Result<()> {
        let channel = self.channel.as_mut().ok_or(Error::UnexpectedMessage {
            kind: "receipt",
            reason: "no bid was accepted yet",
        })?;
        let message = piecepay_protocol::Receipt {
            payee: channel.channel().payee(),
            salt: receipt.salt,
            cumulative: u96(receipt.cumulative)?,
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
                    out.actions |= PIECEPAY_ACTION_VERIFY_RECEIPT;
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

    /// Accepts the receipt held, if any, with a reply that acknowledges it (after the caller persists it).
    /// On failure the error is the caller's to reply.
    fn verify_held(&mut self, now: u64, out: &mut PiecepayOutcome) -> Result<()> {
        match self.accept_held(now)? {
            Some(cumulative) => self.acknowledge(cumulative, out),
            None => self.decide(out, false),
        }
        Ok(())
    }

    /// `PERSIST_RECEIPT`, then the acknowledgement of `cumulative` as the reply.
    fn acknowledge(&mut self, cumulative: Amount, out: &mut PiecepayOutcome) {
        out.reply = encode(&Message::ReceiptAck(ReceiptAck { cumulative }));
        out.actions |= PIECEPAY_ACTION_PERSIST_RECEIPT;
        out.amount = cumulative.into();
        // The reply is the acknowledgement; a peer still over its limit was told so when it was choked.
        self.decide(out, false);
    }

    /// Verifies the receipt held, if any (`PIECEPAY_ACTION_VERIFY_RECEIPT`, the caller's timer, before a
    /// close or dropping the session). A receipt that fails is answered with an `error` naming it.
    pub fn verify_receipt(&mut self, now: u64, out: &mut PiecepayOutcome) -> Result<()> {
        self.verify_held(now, out)
            .inspect_err(|error| out.reply = encode(&error_message(error, "receipt")))
    }

    fn on_close(&mut self, close: &Close, now: u64, out: &mut PiecepayOutcome) -> Result<()> {
        // A close is checked against the highest receipt accepted: first accept the one held (the
        // co-signed close, not an acknowledgement, is the reply).
        if let Some(cumulative) = self.accept_held(now)? {
            out.actions |= PIECEPAY_ACTION_PERSIST_RECEIPT;
            out.amount = cumulative.into();
        }
        let key = self.key.clone();
        let channel = self.channel_mut("close")?;
        let message = CooperativeClose {
            payer: channel.channel().payer(),
            payee: channel.channel().payee(),
            salt: channel.channel().salt(),
            cumulative: u96(close.cumulative)?,
            fee: u96(close.fee)?,
            deadline: U40::try_from(close.deadline).map_err(|_| {
                piecepay_sdk::Error::DeadlineOutOfRange {
                    deadline: close.deadline,
                }
            })?,
        };
        let signed = channel.cooperative_close(&message, &close.signature, &key, now)?;
        self.close = Some(close_struct(&message, &close.signature, &signed.signature));
        out.reply = encode(&Message::Close(Close {
            signature: signed.signature,
            ..close.clone()
        }));
        out.actions |= PIECEPAY_ACTION_CLOSE_SIGNED | PIECEPAY_ACTION_CHOKE;
        Ok(())
    }

    /// The integrator checked the chain: the channel holds `deposit`. Opens it, or records a top-up.
    pub fn channel_funded(
        &mut self,
        deposit: Amount,
        now: u64,
        out: &mut PiecepayOutcome,
    ) -> Result<()> {
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
            other => {
                return Err(piecepay_sdk::Error::InvalidState {
                    action: "fund",
                    state: other.name(),
                }
                .into());
            }
        }
        self.decide(out, true);
        Ok(())
    }

    /// The credit check before serving a request: `SERVE`, or `CHOKE` with a `payment_required` the first
    /// time.
    pub fn check_request(&mut self, out: &mut PiecepayOutcome) {
        self.decide(out, true);
    }

    /// A piece was served: counts it, then decides about the next one.
    pub fn on_piece_served(&mut self, now: u64, out: &mut PiecepayOutcome) -> Result<()> {
        let channel = self
            .channel
            .as_mut()
            .ok_or(Error::NotFound("no bid was accepted yet"))?;
        // `decide` below makes the same decision and also tells the peer.
        let _ = channel.on_piece_served(now)?;
        self.decide(out, true);
        if self.verification_due() {
            out.actions |= PIECEPAY_ACTION_VERIFY_RECEIPT;
        }
        Ok(())
    }

    /// Sets `SERVE` or `CHOKE`; a choke not yet told to the peer is told with `payment_required` when
    /// `may_reply`.
    fn decide(&mut self, out: &mut PiecepayOutcome, may_reply: bool) {
        let decision = self.channel.as_ref().map_or(
            ServeDecision::Choke(ChokeReason::NotOpen),
            PayeeChannel::serve_decision,
        );
        let ServeDecision::Choke(reason) = decision else {
            out.actions |= PIECEPAY_ACTION_SERVE;
            self.told_choked = false;
            return;
        };
        out.actions |= PIECEPAY_ACTION_CHOKE;
        if may_reply && !self.told_choked {
            out.reply = encode(&Message::PaymentRequired(self.payment_required(reason)));
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
        Ok(channel.on_settled(settled, now)?)
    }

    /// The highest receipt accepted.
    pub fn latest_receipt(&self) -> Result<PiecepayReceipt> {
        let channel = self.channel.as_ref().ok_or(Error::NotFound("no channel"))?;
        let receipt = channel
            .latest_receipt()
            .ok_or(Error::NotFound("no receipt accepted yet"))?;
        Ok(session::receipt_struct(channel.channel(), receipt))
    }

    /// The cooperative close co-signed.
    pub fn cooperative_close(&self) -> Result<PiecepayCooperativeClose> {
        self.close
            .ok_or(Error::NotFound("no cooperative close co-signed"))
    }

    /// A snapshot for display.
    pub fn info(&self) -> PiecepayChannelInfo {
        let mut info = PiecepayChannelInfo::negotiating();
        let Some(channel) = &self.channel else {
            return info;
        };
        info.channel_id = channel.channel().id().0;
        info.price = channel.terms().price().into();
        info.paid = channel.paid().into();
        info.acknowledged = info.paid;
        info.state = match channel.state() {
            PayeeState::Proposed => PiecepayState::Proposed,
            PayeeState::Open { .. } => PiecepayState::Open,
            PayeeState::Closing { .. } => PiecepayState::Closing,
            PayeeState::Closed { deposit, .. } => {
                info.deposit = (*deposit).into();
                PiecepayState::Closed
            }
        };
        if let Some(account) = channel.state().account() {
            info.deposit = account.deposit.into();
            info.served = account.served.into();
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

/// Both signatures of a cooperative close as the C struct.
pub(crate) fn close_struct(
    close: &CooperativeClose,
    payer_signature: &CompactSignature,
    payee_signature: &CompactSignature,
) -> PiecepayCooperativeClose {
    PiecepayCooperativeClose {
        payer: close.payer.0.0,
        payee: close.payee.0.0,
        salt: close.salt,
        cumulative: close.cumulative.to::<Amount>().into(),
        fee: close.fee.to::<Amount>().into(),
        deadline: close.deadline.to::<u64>(),
        payer_signature: payer_signature.to_bytes(),
        payee_signature: payee_signature.to_bytes(),
    }
}
