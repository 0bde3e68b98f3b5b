//! The payer's session with one peer: read its terms, bid, fund the channel, pay per verified piece,
//! close.
//!
//! It wraps the SDK's [`PayerChannel`] (created once a bid is accepted) and [`Bidder`], and speaks the
//! wire protocol around them; [`abi`] exposes it to C.

pub mod abi;

use piecepay_protocol::{
    CooperativeClose, Eip712Domain, SigningKey, SolStruct,
    alloy_primitives::{Address, B256},
};
use piecepay_sdk::{
    Amount, BidPolicy, BidUpdate, Bidder, Channel, MAX_AMOUNT, PayerChannel, PayerConfig,
    PayerState, Payment, Signed, Terms,
};
use piecepay_wire::{Accept, Bid, ChannelFunded, Close, Code, Message, PaymentRequired, Reject};

use crate::{
    Error, PIECEPAY_ACTION_CLOSE_SIGNED, PIECEPAY_ACTION_OPEN_CHANNEL, PIECEPAY_ACTION_TOP_UP,
    PiecepayChannelInfo, PiecepayCooperativeClose, PiecepayOutcome, PiecepayPayerConfig,
    PiecepayReceipt, PiecepaySignedOpen, PiecepayState, Result,
    payee::close_struct,
    session::{self, dispatch, encode, encode_checked, wrong_direction},
};

/// Seconds between two raises of the bid after a choke: BitTorrent re-chokes every 10 s.
const RAISE_INTERVAL: u64 = 10;

/// A payer's session with one peer.
#[derive(Debug)]
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
    cosigned: Option<PiecepayCooperativeClose>,
}

impl PayerSession {
    /// A session paying from `config`'s key, on `config`'s escrow.
    pub fn new(config: &PiecepayPayerConfig) -> Result<Self> {
        let key = SigningKey::from_bytes(&B256::from(config.secret_key))?;
        let escrow = Address::from(config.escrow);
        let payer_config = PayerConfig {
            auth_ttl: config.auth_ttl,
            ..PayerConfig::default()
        };
        payer_config.validate()?;
        let bidder = Bidder::new(BidPolicy {
            // The first real bid meets the payee's asked price (see `on_terms`).
            start: 1,
            max_price: config.max_price.into(),
            step: config.bid_step.into(),
            raise_interval: RAISE_INTERVAL,
            budget: config.budget.into(),
        })?;
        Ok(Self {
            key,
            domain: session::escrow_domain(config.chain_id, escrow),
            chain_id: config.chain_id,
            escrow,
            token: Address::from(config.token),
            salt: config.salt,
            config: payer_config,
            bidder,
            payee: None,
            channel: None,
            acknowledged: 0,
            pieces: 0,
            close: None,
            cosigned: None,
        })
    }

    /// The payer's address.
    pub const fn address(&self) -> Address {
        self.key.address()
    }

    /// The channel, once a bid was accepted.
    pub const fn channel(&self) -> Option<&PayerChannel> {
        self.channel.as_ref()
    }

    fn channel_mut(&mut self) -> Result<&mut PayerChannel> {
        self.channel
            .as_mut()
            .ok_or(Error::NotFound("no bid was accepted yet"))
    }

    /// Handles bytes from the peer.
    pub fn on_message(&mut self, bytes: &[u8], now: u64, out: &mut PiecepayOutcome) -> Result<()> {
        dispatch(bytes, out, |message, out| match message {
            Message::Terms(terms) => self.on_terms(&terms, now, out),
            Message::Accept(accept) => self.on_accept(&accept, now, out),
            Message::Reject(reject) => {
                self.on_reject(&reject, now, out);
                Ok(())
            }
            Message::ReceiptAck(ack) => {
                self.acknowledged = self.acknowledged.max(ack.cumulative);
                out.amount = ack.cumulative.into();
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
        out: &mut PiecepayOutcome,
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
        out.reply = encode(&self.bid());
        Ok(())
    }

    fn bid(&self) -> Message {
        Message::Bid(Bid {
            price: self.bidder.price(),
            payer: self.address(),
            salt: self.salt,
        })
    }

    fn on_accept(&mut self, accept: &Accept, now: u64, out: &mut PiecepayOutcome) -> Result<()> {
        let Some(payee) = self.payee else {
            return Err(Error::UnexpectedMessage {
                kind: "accept",
                reason: "no terms received yet",
            });
        };
        if accept.price > self.bidder.price() {
            return Err(piecepay_sdk::Error::InvalidTerms("accepted price above the bid").into());
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
                out.actions |= PIECEPAY_ACTION_OPEN_CHANNEL;
            }
        }
        Ok(())
    }

    fn on_reject(&mut self, reject: &Reject, now: u64, out: &mut PiecepayOutcome) {
        out.set_peer_code(reject.code.as_str());
        if let Some(min_price) = reject.min_price
            && let BidUpdate::Raised { .. } = self.bidder.on_rejected(min_price, now)
        {
            out.reply = encode(&self.bid());
        }
    }

    fn on_payment_required(&mut self, required: &PaymentRequired, out: &mut PiecepayOutcome) {
        out.set_peer_code(required.reason.as_str());
        let Some(channel) = &self.channel else {
            return;
        };
        if required.reason == Code::DEPOSIT_EXHAUSTED
            && let Some(deposit) = channel.state().deposit()
        {
            // Enough for the pieces the payee already served, plus as much again.
            let needed = required.served.saturating_add(channel.terms().price());
            out.actions |= PIECEPAY_ACTION_TOP_UP;
            out.amount = needed.max(deposit.saturating_mul(2)).min(MAX_AMOUNT).into();
        } else if required.reason == Code::NOT_OPEN
            && let PayerState::Open { deposit, .. } = channel.state()
        {
            // The payee may have missed (or not yet checked) the announcement: repeat it.
            out.reply = encode(&self.funded_message(*deposit, None));
        }
    }

    fn on_close(&mut self, close: &Close, out: &mut PiecepayOutcome) -> Result<()> {
        let Some(ours) = &self.close else {
            return Err(Error::UnexpectedMessage {
                kind: "close",
                reason: "the payer proposes cooperative closes",
            });
        };
        let message = &ours.message;
        let same = (close.cumulative, close.fee, close.deadline)
            == (
                message.cumulative.to::<Amount>(),
                message.fee.to::<Amount>(),
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
            return Err(piecepay_sdk::Error::WrongSigner {
                recovered,
                expected: message.payee,
            }
            .into());
        }
        self.cosigned = Some(close_struct(message, &ours.signature, &close.signature));
        out.actions |= PIECEPAY_ACTION_CLOSE_SIGNED;
        Ok(())
    }

    fn funded_message(&self, deposit: Amount, tx: Option<B256>) -> Message {
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
    pub fn open(&mut self, deposit: Amount, fee: Amount, now: u64) -> Result<PiecepaySignedOpen> {
        let payer = self.address();
        let signed = self.channel_mut()?.open(deposit, fee, now)?;
        Ok(PiecepaySignedOpen {
            payer: payer.0.0,
            payee: signed.message.payee.0.0,
            salt: signed.message.salt,
            deposit: signed.message.deposit.to::<Amount>().into(),
            fee: signed.message.fee.to::<Amount>().into(),
            deadline: signed.message.deadline.to::<u64>(),
            signature: signed.signature.to_bytes(),
        })
    }

    /// The chain shows the channel funded with `deposit` (opened, or topped up): records it and returns
    /// the `channel` message that tells the payee. A channel opened outside this session (without
    /// [`open`](Self::open)) is adopted.
    pub fn channel_funded(
        &mut self,
        deposit: Amount,
        tx: Option<B256>,
        now: u64,
    ) -> Result<Message> {
        let channel = self.channel_mut()?;
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
            other => {
                return Err(piecepay_sdk::Error::InvalidState {
                    action: "fund",
                    state: other.name(),
                }
                .into());
            }
        }
        Ok(self.funded_message(deposit, tx))
    }

    /// A piece passed its hash check: signs the next cumulative receipt and returns it as the reply.
    pub fn on_piece_verified(&mut self, now: u64, out: &mut PiecepayOutcome) -> Result<()> {
        match self.channel_mut()?.pay_piece(now)? {
            Payment::Paid { receipt, top_up } => {
                out.reply = encode_checked(&Message::Receipt(piecepay_wire::Receipt {
                    salt: receipt.message.salt,
                    cumulative: receipt.cumulative(),
                    signature: receipt.signature,
                }))?;
                self.pieces += 1;
                self.bidder
                    .on_paid(self.channel.as_ref().map_or(0, |c| c.terms().price()));
                if let Some(total) = top_up {
                    out.actions |= PIECEPAY_ACTION_TOP_UP;
                    out.amount = total.into();
                }
                Ok(())
            }
            Payment::TopUpNeeded {
                deposit,
                required,
                suggested,
            } => {
                out.actions |= PIECEPAY_ACTION_TOP_UP;
                out.amount = suggested.into();
                Err(Error::TopUpNeeded {
                    deposit,
                    required,
                    suggested,
                })
            }
        }
    }

    /// The payee choked us: raise the bid if the policy allows, and return the new `bid` as the reply.
    pub fn on_choked(&mut self, now: u64, out: &mut PiecepayOutcome) -> Result<()> {
        if self.payee.is_none() {
            return Err(Error::NotFound("no terms received yet"));
        }
        if let BidUpdate::Raised { .. } = self.bidder.on_choked(now) {
            out.reply = encode(&self.bid());
        }
        Ok(())
    }

    /// Signs a cooperative close at the highest cumulative signed and returns it as the reply.
    pub fn close(&mut self, fee: Amount, now: u64, out: &mut PiecepayOutcome) -> Result<()> {
        let signed = self.channel_mut()?.cooperative_close(fee, now)?;
        out.reply = encode_checked(&Message::Close(Close {
            cumulative: signed.message.cumulative.to::<Amount>(),
            fee: signed.message.fee.to::<Amount>(),
            deadline: signed.message.deadline.to::<u64>(),
            signature: signed.signature,
        }))?;
        self.close = Some(signed);
        Ok(())
    }

    /// The cooperative close with both signatures, once the payee co-signed.
    pub fn cooperative_close(&self) -> Result<PiecepayCooperativeClose> {
        self.cosigned
            .ok_or(Error::NotFound("the payee has not co-signed a close"))
    }

    /// The highest receipt signed: persist it before sending it.
    pub fn latest_receipt(&self) -> Result<PiecepayReceipt> {
        let channel = self.channel.as_ref().ok_or(Error::NotFound("no channel"))?;
        let receipt = channel
            .latest_receipt()
            .ok_or(Error::NotFound("no receipt signed yet"))?;
        Ok(session::receipt_struct(channel.channel(), receipt))
    }

    /// A snapshot for display.
    pub fn info(&self) -> PiecepayChannelInfo {
        let mut info = PiecepayChannelInfo::negotiating();
        let Some(channel) = &self.channel else {
            return info;
        };
        info.channel_id = channel.channel().id().0;
        info.price = channel.terms().price().into();
        info.deposit = channel.state().deposit().unwrap_or(0).into();
        info.paid = channel.cumulative().into();
        info.acknowledged = self.acknowledged.into();
        info.pieces = self.pieces;
        info.state = match channel.state() {
            PayerState::Proposed => PiecepayState::Proposed,
            PayerState::Opening { .. } => PiecepayState::Opening,
            PayerState::Open { .. } => PiecepayState::Open,
            PayerState::Closing { .. } => PiecepayState::Closing,
            PayerState::Closed { .. } => PiecepayState::Closed,
        };
        info
    }
}
