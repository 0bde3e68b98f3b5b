//! Per-peer wire sessions: the BEP 10 conversation of `docs/wire-protocol.md` (terms → bid → accept →
//! channel → receipts → close) around the channel state machines, still sans-IO.
//!
//! A [`PayeeSession`] is a seller's view of one channel and a [`PayerSession`] a buyer's. They take
//! decoded [`Message`]s (or their bytes) and the torrent client's events (a piece served, a piece that
//! passed its hash check, a choke) and answer with an [`Outcome`]: the message to send back, if any, and
//! the [`Actions`] the caller must take — check a channel on chain, persist a receipt before sending
//! the acknowledgement, fund or top up a channel, submit a co-signed close. They never do IO and keep
//! no clock: every call takes `now`.
//!
//! A refused call returns [`Refused`]: the [`Error`] and an outcome whose `reply`, when
//! set, is the `error` message that tells the peer why — send it. A refused message changes nothing.
//!
//! The C ABI (`piecepay-ffi`) marshals these sessions to C; the client agent (`piecepay-agent`) drives
//! them with its chain, relayer and store; the in-process demo engine exchanges their messages directly.

mod payee;
mod payer;

use core::{fmt, ops};

use piecepay_protocol::{CompactSignature, CooperativeClose, alloy_primitives::B256};
use piecepay_wire::{Code, ErrorMessage, Message};

pub use payee::{PayeeSession, PayeeSessionConfig};
pub use payer::{PayerSession, PayerSessionConfig};

use crate::{Amount, Error};

/// What a session asks its caller to do, as a set of bits (the C ABI's `PIECEPAY_ACTION_*` values).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Actions(u32);

impl Actions {
    /// No action.
    pub const NONE: Self = Self(0);
    /// Serve the peer (unchoke it, answer its requests).
    pub const SERVE: Self = Self(1 << 0);
    /// Stop serving the peer: choke it and reject (BEP 6) or drop its pending requests. The reply, if
    /// any, is the `payment_required` that tells it why.
    pub const CHOKE: Self = Self(1 << 1);
    /// Payee: the peer says its channel is funded with [`Outcome::amount`]. Check the channel on chain
    /// (or with a relayer), then call [`PayeeSession::channel_funded`] with the deposit seen there.
    pub const CHECK_CHANNEL: Self = Self(1 << 2);
    /// Payee: a new highest receipt was accepted ([`PayeeSession::latest_receipt`]). Persist it durably
    /// before sending the reply, which acknowledges it.
    pub const PERSIST_RECEIPT: Self = Self(1 << 3);
    /// Payer: the bid was accepted. Fund the channel ([`PayerSession::open`], submit, then
    /// [`PayerSession::channel_funded`]).
    pub const OPEN_CHANNEL: Self = Self(1 << 4);
    /// Payer: the deposit runs out. Top up to [`Outcome::amount`] (a total), then call
    /// [`PayerSession::channel_funded`] with the new deposit.
    pub const TOP_UP: Self = Self(1 << 5);
    /// Both: the cooperative close carries both signatures (`cooperative_close()` of either session);
    /// submit it (escrow `cooperativeClose`, or a relayer).
    pub const CLOSE_SIGNED: Self = Self(1 << 6);
    /// Both: the peer sent `error`, `reject` or `payment_required`; its code is [`Outcome::peer_code`].
    pub const PEER_CODE: Self = Self(1 << 7);
    /// Payee: a receipt held unverified now matters (the peer has used half its credit window). Call
    /// [`PayeeSession::verify_receipt`], where a signature recovery (~40 µs) may be spent.
    pub const VERIFY_RECEIPT: Self = Self(1 << 8);

    /// The bits.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Whether every action of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether no action is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl ops::BitOr for Actions {
    type Output = Self;

    fn bitor(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

impl ops::BitOrAssign for Actions {
    fn bitor_assign(&mut self, other: Self) {
        self.0 |= other.0;
    }
}

impl fmt::Debug for Actions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [&str; 9] = [
            "SERVE",
            "CHOKE",
            "CHECK_CHANNEL",
            "PERSIST_RECEIPT",
            "OPEN_CHANNEL",
            "TOP_UP",
            "CLOSE_SIGNED",
            "PEER_CODE",
            "VERIFY_RECEIPT",
        ];
        let set: Vec<_> = NAMES
            .iter()
            .enumerate()
            .filter(|(bit, _)| self.0 & (1 << bit) != 0)
            .map(|(_, name)| *name)
            .collect();
        write!(f, "Actions({})", set.join(" | "))
    }
}

/// What a session call asks of its caller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The message to send to the peer, if any. With [`Actions::PERSIST_RECEIPT`] it is the
    /// acknowledgement: send it only once the receipt is durable.
    pub reply: Option<Message>,
    /// What to do.
    pub actions: Actions,
    /// The `t` of the message handled, when the call took one that decoded.
    pub received: Option<&'static str>,
    /// The amount the actions refer to: the claimed deposit (`CHECK_CHANNEL`), the deposit to top up to
    /// (`TOP_UP`), the acknowledged cumulative (a received `receipt_ack`), the accepted cumulative
    /// (`PERSIST_RECEIPT`); zero otherwise.
    pub amount: Amount,
    /// The peer's code with [`Actions::PEER_CODE`].
    pub peer_code: Option<Code>,
}

impl Outcome {
    fn received(kind: &'static str) -> Self {
        Self {
            received: Some(kind),
            ..Self::default()
        }
    }

    /// Whether every action of `actions` is set.
    pub const fn has(&self, actions: Actions) -> bool {
        self.actions.contains(actions)
    }

    /// Records the peer's `code` and sets [`Actions::PEER_CODE`].
    fn set_peer_code(&mut self, code: &Code) {
        self.peer_code = Some(code.clone());
        self.actions |= Actions::PEER_CODE;
    }
}

/// A refused call: why, and what to tell the peer. Nothing changed in the session.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct Refused {
    /// Why.
    #[source]
    pub error: Error,
    /// Its `reply`, when set, is the `error` message for the peer (send it); its actions may ask for
    /// something still (`TOP_UP` with a payment that did not fit).
    pub outcome: Outcome,
}

impl From<Error> for Box<Refused> {
    fn from(error: Error) -> Self {
        Box::new(Refused {
            error,
            outcome: Outcome::default(),
        })
    }
}

/// What a session call that may be refused returns (the refusal boxed: it is the rare path, and an
/// outcome with its message is a few hundred bytes).
pub type Handled = Result<Outcome, Box<Refused>>;

/// Where a session's channel stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SessionState {
    /// No terms agreed yet.
    Negotiating,
    /// Terms agreed; the channel is not funded yet.
    Proposed,
    /// Payer: the open is signed, not yet confirmed.
    Opening,
    /// Funded: pieces are paid for with receipts.
    Open,
    /// A close is under way.
    Closing,
    /// Closed on chain.
    Closed,
}

/// A snapshot of a session, for display and reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SessionInfo {
    /// Where the channel stands.
    pub state: SessionState,
    /// The channel id (zero while negotiating).
    pub channel_id: B256,
    /// The agreed price per piece (zero while negotiating).
    pub price: Amount,
    /// The deposit on chain, as last confirmed (zero before).
    pub deposit: Amount,
    /// Payer: the highest cumulative signed. Payee: the highest accepted (or settled).
    pub paid: Amount,
    /// Payer: the highest cumulative the payee acknowledged. Payee: equal to `paid`.
    pub acknowledged: Amount,
    /// Payee: the value served. Payer: zero.
    pub served: Amount,
    /// Payee: pieces served. Payer: pieces paid for.
    pub pieces: u64,
}

impl SessionInfo {
    const NEGOTIATING: Self = Self {
        state: SessionState::Negotiating,
        channel_id: B256::ZERO,
        price: 0,
        deposit: 0,
        paid: 0,
        acknowledged: 0,
        served: 0,
        pieces: 0,
    };
}

/// A cooperative close with both signatures: what the escrow's `cooperativeClose` (or a relayer) takes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CosignedClose {
    /// The agreed close.
    pub message: CooperativeClose,
    /// The payer's signature.
    pub payer_signature: CompactSignature,
    /// The payee's signature.
    pub payee_signature: CompactSignature,
}

/// Decodes `bytes` from the peer and hands the message to `handle`: bytes that do not decode are
/// refused with an `error` reply.
fn decode_then(bytes: &[u8], handle: impl FnOnce(Message) -> Handled) -> Handled {
    match Message::decode(bytes) {
        Ok(message) => handle(message),
        Err(error) => Err(Box::new(Refused {
            outcome: Outcome {
                reply: Some(Message::error_reply(&error)),
                ..Outcome::default()
            },
            error: error.into(),
        })),
    }
}

/// Hands `message` to `handle`, filling an outcome:
///
/// - a peer's `error` is reported ([`Actions::PEER_CODE`]) and never answered, so two peers cannot loop
///   on errors;
/// - if `handle` fails, its error is answered with an `error` naming the message.
fn dispatch(
    message: Message,
    handle: impl FnOnce(Message, &mut Outcome) -> crate::Result<()>,
) -> Handled {
    let kind = message.kind();
    let mut out = Outcome::received(kind);
    if let Message::Error(error) = &message {
        out.set_peer_code(&error.code);
        return Ok(out);
    }
    match handle(message, &mut out) {
        Ok(()) => Ok(out),
        Err(error) => {
            // A handler fails before it writes a reply, so this replaces nothing.
            out.reply = Some(error_message(&error, kind));
            Err(Box::new(Refused {
                error,
                outcome: out,
            }))
        }
    }
}

/// Runs `body` on a fresh outcome; a failure is refused with that outcome (no reply).
fn refuse_with(body: impl FnOnce(&mut Outcome) -> crate::Result<()>) -> Handled {
    let mut out = Outcome::default();
    match body(&mut out) {
        Ok(()) => Ok(out),
        Err(error) => Err(Box::new(Refused {
            error,
            outcome: out,
        })),
    }
}

/// The `error` message telling the peer why its `regarding` message was refused.
pub fn error_message(error: &Error, regarding: &str) -> Message {
    Message::Error(ErrorMessage::new(
        Code::new(error.code()).unwrap_or(Code::OTHER),
        &error.to_string(),
        Code::new(regarding),
    ))
}

/// A message from the other role.
const fn wrong_direction(kind: &'static str) -> Error {
    Error::UnexpectedMessage {
        kind,
        reason: "it is sent by the other role",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_the_c_abi_bits_and_print_by_name() {
        let both = Actions::SERVE | Actions::VERIFY_RECEIPT;
        assert_eq!(both.bits(), 0b1_0000_0001);
        assert!(both.contains(Actions::SERVE) && !both.contains(Actions::CHOKE));
        assert_eq!(format!("{both:?}"), "Actions(SERVE | VERIFY_RECEIPT)");
        assert!(Actions::NONE.is_empty() && Actions::default().is_empty());
    }

    #[test]
    fn undecodable_bytes_are_refused_with_an_error_reply() {
        let refused = decode_then(b"garbage", |_| unreachable!()).unwrap_err();
        assert_eq!(refused.error.code(), "malformed");
        let Some(Message::Error(reply)) = refused.outcome.reply else {
            panic!("an error reply");
        };
        assert_eq!(reply.code.as_str(), "malformed");
    }
}
