//! What payer and payee sessions share: turning peer bytes into a message or an `error` reply, and the
//! conversions between SDK values and the C structs.

use piecepay_protocol::{
    Eip712Domain,
    alloy_primitives::{Address, aliases::U96},
    domain,
};
use piecepay_sdk::{Amount, Channel, SignedReceipt};
use piecepay_wire::{Code, ErrorMessage, Message};

use crate::{
    Error, PiecepayOutcome, PiecepayReceipt, Result, bytes::PiecepayBytes,
    types::PiecepayMessageKind,
};

/// Decodes `bytes` from the peer and hands the message to `handle`, filling `out`:
///
/// - bytes that do not decode are answered with an `error` (in `out.reply`) and fail with the codec's
///   error;
/// - a peer's `error` is reported (`PIECEPAY_ACTION_PEER_CODE`) and never answered, so two peers cannot
///   loop on errors;
/// - if `handle` fails, its error is answered with an `error` naming the message.
pub(crate) fn dispatch(
    bytes: &[u8],
    out: &mut PiecepayOutcome,
    handle: impl FnOnce(Message, &mut PiecepayOutcome) -> Result<()>,
) -> Result<()> {
    let message = match Message::decode(bytes) {
        Ok(message) => message,
        Err(error) => {
            out.reply = encode(&Message::error_reply(&error));
            return Err(error.into());
        }
    };
    out.received = PiecepayMessageKind::of(&message);
    let kind = message.kind();
    if let Message::Error(error) = &message {
        out.set_peer_code(error.code.as_str());
        return Ok(());
    }
    handle(message, out).inspect_err(|error| {
        // A handler fails before it writes a reply, so this replaces nothing.
        out.reply = encode(&error_message(error, kind));
    })
}

/// The `error` message telling the peer why its `regarding` message was refused.
pub(crate) fn error_message(error: &Error, regarding: &'static str) -> Message {
    Message::Error(ErrorMessage::new(
        Code::new(error.code()).unwrap_or(Code::OTHER),
        &error.to_string(),
        Code::new(regarding),
    ))
}

/// `message` encoded for C. Messages built here are always in range; if one were not, the peer gets
/// nothing rather than something invalid.
pub(crate) fn encode(message: &Message) -> PiecepayBytes {
    PiecepayBytes::from_vec(message.encode().unwrap_or_default())
}

/// `message` encoded, failing on out-of-range values.
pub(crate) fn encode_checked(message: &Message) -> Result<PiecepayBytes> {
    Ok(PiecepayBytes::from_vec(message.encode()?))
}

/// The escrow's EIP-712 domain.
pub(crate) fn escrow_domain(chain_id: u64, escrow: Address) -> Eip712Domain {
    domain(chain_id, escrow)
}

/// A wire amount as the escrow's `uint96`; the codec keeps amounts in range, the SDK checks again.
pub(crate) fn u96(amount: Amount) -> Result<U96> {
    piecepay_protocol::amount::to_u96(amount)
        .ok_or_else(|| piecepay_sdk::Error::AmountTooLarge { amount }.into())
}

/// A signed receipt of `channel` as the C struct.
pub(crate) fn receipt_struct(channel: &Channel, receipt: &SignedReceipt) -> PiecepayReceipt {
    PiecepayReceipt {
        channel_id: channel.id().0,
        payer: channel.payer().0.0,
        payee: channel.payee().0.0,
        salt: channel.salt(),
        cumulative: receipt.cumulative().into(),
        signature: receipt.signature.to_bytes(),
    }
}

/// A message from the other role.
pub(crate) const fn wrong_direction(kind: &'static str) -> Error {
    Error::UnexpectedMessage {
        kind,
        reason: "it is sent by the other role",
    }
}
