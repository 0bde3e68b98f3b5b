//! piecepay's messages and their encoding as bencoded dictionaries.
//!
//! A message is a dictionary whose `t` names its type; the other keys are its fields (see
//! `docs/wire-protocol.md`). Unknown keys are ignored, so a later version can add optional fields; an
//! unknown `t` is an error the receiver answers with [`Message::error_reply`].

mod code;
mod fields;
mod types;

pub use code::{Code, MAX_CODE_LEN};
pub use piecepay_protocol::amount::{Amount, CreditWindow, MAX_AMOUNT};
pub use types::{
    Accept, Bid, ChannelFunded, Close, ErrorMessage, PaymentRequired, Receipt, ReceiptAck, Reject,
    Terms,
};

use piecepay_protocol::alloy_primitives::Address;

use crate::{Error, Result, bencode};
use fields::{Reader, Writer};

/// The most bytes of text in an `error`'s `msg`.
pub const MAX_TEXT_LEN: usize = 256;

/// One piecepay message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Message {
    /// `terms`.
    Terms(Terms),
    /// `bid`.
    Bid(Bid),
    /// `accept`.
    Accept(Accept),
    /// `reject`.
    Reject(Reject),
    /// `channel`.
    Channel(ChannelFunded),
    /// `receipt`.
    Receipt(Receipt),
    /// `receipt_ack`.
    ReceiptAck(ReceiptAck),
    /// `payment_required`.
    PaymentRequired(PaymentRequired),
    /// `close`.
    Close(Close),
    /// `error`.
    Error(ErrorMessage),
}

/// The `t` of every message type, in [`Message`] order.
pub const MESSAGE_TYPES: [&str; 10] = [
    "terms",
    "bid",
    "accept",
    "reject",
    "channel",
    "receipt",
    "receipt_ack",
    "payment_required",
    "close",
    "error",
];

impl Message {
    /// The message's `t`.
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Terms(_) => "terms",
            Self::Bid(_) => "bid",
            Self::Accept(_) => "accept",
            Self::Reject(_) => "reject",
            Self::Channel(_) => "channel",
            Self::Receipt(_) => "receipt",
            Self::ReceiptAck(_) => "receipt_ack",
            Self::PaymentRequired(_) => "payment_required",
            Self::Close(_) => "close",
            Self::Error(_) => "error",
        }
    }

    /// Decodes one message (the payload of a BEP 10 extended message, after its id byte).
    ///
    /// Strict: canonical bencode within [`MAX_MESSAGE_LEN`](crate::MAX_MESSAGE_LEN) bytes, every field of
    /// the right type and range. Never panics; on error answer the peer with
    /// [`error_reply`](Self::error_reply).
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let value = bencode::decode(bytes)?;
        let dict = value
            .as_dict()
            .ok_or(Error::NotAMessage("not a dictionary"))?;
        let kind = dict
            .get(b"t".as_slice())
            .and_then(bencode::Value::as_bytes)
            .ok_or(Error::NotAMessage("no byte-string t"))?;
        let Some(kind) = MESSAGE_TYPES.iter().find(|t| t.as_bytes() == kind) else {
            return Err(Error::UnknownMessage(
                String::from_utf8_lossy(&kind[..kind.len().min(MAX_CODE_LEN)]).into_owned(),
            ));
        };
        let r = Reader::new(kind, dict);
        Ok(match *kind {
            "terms" => Self::Terms(Terms {
                chain_id: r.u64("chain")?,
                escrow: r.address("escrow")?,
                token: r.address("token")?,
                payee: r.address("payee")?,
                price: r.amount("price")?,
                credit: credit(&r, kind)?,
            }),
            "bid" => Self::Bid(Bid {
                price: r.amount("price")?,
                payer: r.address("payer")?,
                salt: r.u32("salt")?,
            }),
            "accept" => Self::Accept(Accept {
                price: r.amount("price")?,
                credit: credit(&r, kind)?,
            }),
            "reject" => Self::Reject(Reject {
                code: r.code("code")?,
                min_price: r.opt_amount("min_price")?,
            }),
            "channel" => Self::Channel(ChannelFunded {
                payer: r.address("payer")?,
                salt: r.u32("salt")?,
                id: r.hash("id")?,
                deposit: r.amount("deposit")?,
                tx: r.opt_hash("tx")?,
            }),
            "receipt" => Self::Receipt(Receipt {
                salt: r.u32("salt")?,
                cumulative: r.amount("cumulative")?,
                signature: r.signature("sig")?,
            }),
            "receipt_ack" => Self::ReceiptAck(ReceiptAck {
                cumulative: r.amount("cumulative")?,
            }),
            "payment_required" => Self::PaymentRequired(PaymentRequired {
                reason: r.code("reason")?,
                paid: r.amount("paid")?,
                served: r.amount("served")?,
                deposit: r.opt_amount("deposit")?,
            }),
            "close" => Self::Close(Close {
                cumulative: r.amount("cumulative")?,
                fee: r.amount("fee")?,
                relayer: r.opt_address("relayer")?.unwrap_or(Address::ZERO),
                nonce: r.opt_u16("nonce")?.unwrap_or(0),
                deadline: r.u64("deadline")?,
                signature: r.signature("sig")?,
            }),
            "error" => Self::Error(ErrorMessage {
                code: r.code("code")?,
                message: r.opt_text("msg")?,
                regarding: r.has("re").then(|| r.code("re")).transpose()?,
            }),
            _ => unreachable!("every entry of MESSAGE_TYPES has an arm"),
        })
    }

    /// The canonical encoding of the message.
    ///
    /// Fails with [`Error::InvalidField`] for a value a peer would refuse (an amount above
    /// [`MAX_AMOUNT`], a `msg` over [`MAX_TEXT_LEN`] bytes), so nothing invalid is ever sent.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut w = Writer::new(self.kind());
        match self {
            Self::Terms(m) => {
                w.uint("chain", m.chain_id)
                    .raw("escrow", m.escrow.as_slice())
                    .raw("token", m.token.as_slice())
                    .raw("payee", m.payee.as_slice())
                    .amount("price", m.price);
                put_credit(&mut w, m.credit);
            }
            Self::Bid(m) => {
                w.amount("price", m.price)
                    .raw("payer", m.payer.as_slice())
                    .uint("salt", m.salt);
            }
            Self::Accept(m) => {
                w.amount("price", m.price);
                put_credit(&mut w, m.credit);
            }
            Self::Reject(m) => {
                w.raw("code", m.code.as_str().as_bytes())
                    .opt_amount("min_price", m.min_price);
            }
            Self::Channel(m) => {
                w.raw("payer", m.payer.as_slice())
                    .uint("salt", m.salt)
                    .raw("id", m.id.as_slice())
                    .amount("deposit", m.deposit)
                    .opt_raw("tx", m.tx.as_ref().map(|tx| tx.as_slice()));
            }
            Self::Receipt(m) => {
                w.uint("salt", m.salt)
                    .amount("cumulative", m.cumulative)
                    .raw("sig", &m.signature.to_bytes());
            }
            Self::ReceiptAck(m) => {
                w.amount("cumulative", m.cumulative);
            }
            Self::PaymentRequired(m) => {
                w.raw("reason", m.reason.as_str().as_bytes())
                    .amount("paid", m.paid)
                    .amount("served", m.served)
                    .opt_amount("deposit", m.deposit);
            }
            Self::Close(m) => {
                w.amount("cumulative", m.cumulative)
                    .amount("fee", m.fee)
                    .opt_raw(
                        "relayer",
                        (!m.relayer.is_zero()).then_some(m.relayer.as_slice()),
                    )
                    .opt_uint("nonce", (m.nonce != 0).then_some(m.nonce))
                    .uint("deadline", m.deadline)
                    .raw("sig", &m.signature.to_bytes());
            }
            Self::Error(m) => {
                w.raw("code", m.code.as_str().as_bytes())
                    .opt_text("msg", m.message.as_deref())
                    .opt_raw("re", m.regarding.as_ref().map(|c| c.as_str().as_bytes()));
            }
        }
        w.finish()
    }

    /// The `error` message answering bytes that failed to decode with `error`.
    pub fn error_reply(error: &Error) -> Self {
        let regarding = match error {
            Error::UnknownMessage(kind) => Code::new(kind),
            Error::MissingField { message, .. } | Error::InvalidField { message, .. } => {
                Code::new(message)
            }
            _ => None,
        };
        Self::Error(ErrorMessage::new(
            Code::known(error.code()),
            &error.to_string(),
            regarding,
        ))
    }
}

impl ErrorMessage {
    /// An `error` with `code`, a human `message` (cut to [`MAX_TEXT_LEN`] bytes on a character
    /// boundary) and the `t` it answers.
    pub fn new(code: Code, message: &str, regarding: Option<Code>) -> Self {
        let mut end = message.len().min(MAX_TEXT_LEN);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        Self {
            code,
            message: (end > 0).then(|| message[..end].to_owned()),
            regarding,
        }
    }
}

fn credit(r: &Reader<'_>, kind: &'static str) -> Result<CreditWindow> {
    match (r.has("credit_pieces"), r.has("credit_amount")) {
        (true, false) => Ok(CreditWindow::Pieces(r.u32("credit_pieces")?)),
        (false, true) => Ok(CreditWindow::Amount(r.amount("credit_amount")?)),
        (false, false) => Err(Error::MissingField {
            message: kind,
            field: "credit_pieces",
        }),
        (true, true) => Err(Error::InvalidField {
            message: kind,
            field: "credit_amount",
            reason: "both credit_pieces and credit_amount",
        }),
    }
}

fn put_credit(w: &mut Writer, credit: CreditWindow) {
    match credit {
        CreditWindow::Pieces(pieces) => w.uint("credit_pieces", pieces),
        CreditWindow::Amount(amount) => w.amount("credit_amount", amount),
    };
}
