//! The wire codec's C functions: the extension's name and version, message types, `error` messages.

#![allow(unsafe_code)]

use std::ffi::{CStr, c_char};

use piecepay_wire::{Code, ErrorMessage, Message, handshake};

use crate::{
    Error, PiecepayBytes, PiecepayStatus, last_error::guard, marshal::encode, ptr as p,
    types::PiecepayMessageKind,
};

/// The most bytes of one piecepay message; larger payloads are refused unread.
pub const PIECEPAY_MAX_MESSAGE_LEN: usize = 4096;

/// The highest protocol version this library speaks.
pub const PIECEPAY_VERSION: u64 = 1;

/// `"piecepay"`: the extension's name in the BEP 10 handshake's `m` dictionary. Static; never free it.
#[unsafe(no_mangle)]
pub extern "C" fn piecepay_extension_name() -> *const c_char {
    c"piecepay".as_ptr()
}

/// `"piecepay_v"`: the top-level extended-handshake key carrying the highest version a peer speaks (an
/// integer). Static; never free it.
#[unsafe(no_mangle)]
pub extern "C" fn piecepay_version_key() -> *const c_char {
    c"piecepay_v".as_ptr()
}

/// The version to speak with a peer whose handshake carried `piecepay_v = theirs`: the lower of the two,
/// or 0 if there is none in common (`theirs` < 1; treat the peer as not speaking piecepay).
#[unsafe(no_mangle)]
pub extern "C" fn piecepay_negotiate_version(theirs: i64) -> u64 {
    handshake::negotiate(theirs.into()).unwrap_or(0)
}

/// Decodes `data` (`len` bytes) and writes its type to `*out`, for routing or logging. Fails like a
/// session would (`MALFORMED_MESSAGE`, `UNKNOWN_MESSAGE`), without a reply.
///
/// # Safety
/// `data` must point to `len` readable bytes (NULL if `len` is 0); `out` must be valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_message_kind(
    data: *const u8,
    len: usize,
    out: *mut PiecepayMessageKind,
) -> PiecepayStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        unsafe { p::put(out, PiecepayMessageKind::None, "out")? };
        let bytes = unsafe { p::bytes(data, len, "data")? };
        let kind = PiecepayMessageKind::of_kind(Message::decode(bytes)?.kind());
        unsafe { p::put(out, kind, "out") }
    })
}

/// Encodes an `error` message of your own (for instance when you drop a peer): `code` is a stable code
/// (1–64 bytes of `a-z0-9_`), `text` an optional human explanation (NULL, or UTF-8; cut to 256 bytes).
/// Free `*out` with `piecepay_bytes_free`.
///
/// # Safety
/// `code` must be a NUL-terminated string; `text` NULL or NUL-terminated; `out` valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn piecepay_encode_error(
    code: *const c_char,
    text: *const c_char,
    out: *mut PiecepayBytes,
) -> PiecepayStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { p::init(out, "out")? };
        let code = unsafe { p::read(code, "code")? };
        let code = unsafe { CStr::from_ptr(code) };
        let code = Code::from_bytes(code.to_bytes()).ok_or(Error::InvalidArgument("code"))?;
        let text = if text.is_null() {
            String::new()
        } else {
            // SAFETY: the caller's contract.
            unsafe { CStr::from_ptr(text) }
                .to_str()
                .map_err(|_| Error::InvalidArgument("text"))?
                .to_owned()
        };
        *out = encode(&Message::Error(ErrorMessage::new(code, &text, None)))?;
        Ok(())
    })
}

/// The name of a status (`"PIECEPAY_STATUS_STALE_RECEIPT"`), or `"PIECEPAY_STATUS_OTHER"` for a number
/// this library does not define. Static; never free it.
#[unsafe(no_mangle)]
pub extern "C" fn piecepay_status_name(status: i32) -> *const c_char {
    let name = STATUSES
        .iter()
        .find(|s| **s as i32 == status)
        .unwrap_or(&PiecepayStatus::Other)
        .c_name();
    name.as_ptr()
}

use PiecepayStatus as S;

/// Every status, for [`piecepay_status_name`].
pub(crate) const STATUSES: [PiecepayStatus; 42] = [
    S::Ok,
    S::NullArgument,
    S::InvalidArgument,
    S::Panic,
    S::NotFound,
    S::MalformedMessage,
    S::UnknownMessage,
    S::UnexpectedMessage,
    S::TermsMismatch,
    S::PriceAboveMax,
    S::TopUpNeeded,
    S::InvalidState,
    S::InvalidTerms,
    S::InvalidPolicy,
    S::InvalidChannel,
    S::ZeroAmount,
    S::AmountTooLarge,
    S::DeadlineOutOfRange,
    S::NonIncreasingCumulative,
    S::ExceedsDeposit,
    S::StaleTopUp,
    S::WrongSigner,
    S::WrongKey,
    S::ChannelMismatch,
    S::StaleReceipt,
    S::ChallengeExpired,
    S::ChallengePeriodActive,
    S::SignatureExpired,
    S::CloseBelowReceipts,
    S::BidTooLow,
    S::InvalidSecretKey,
    S::InvalidSignature,
    S::SignatureHighS,
    S::UnencodableRecoveryId,
    S::OverBudget,
    S::Config,
    S::Wallet,
    S::Deployment,
    S::Unavailable,
    S::Storage,
    S::ShutDown,
    S::Other,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_match_the_codec() {
        assert_eq!(PIECEPAY_MAX_MESSAGE_LEN, piecepay_wire::MAX_MESSAGE_LEN);
        assert_eq!(PIECEPAY_VERSION, handshake::VERSION);
        // SAFETY: static NUL-terminated strings.
        unsafe {
            assert_eq!(
                CStr::from_ptr(piecepay_extension_name()).to_str(),
                Ok(handshake::EXTENSION_NAME)
            );
            assert_eq!(
                CStr::from_ptr(piecepay_version_key()).to_str(),
                Ok(handshake::VERSION_KEY)
            );
        }
    }

    #[test]
    fn status_names() {
        for status in STATUSES {
            // SAFETY: static NUL-terminated strings.
            let name = unsafe { CStr::from_ptr(piecepay_status_name(status as i32)) };
            assert_eq!(name.to_str(), Ok(status.name()));
        }
        let unknown = unsafe { CStr::from_ptr(piecepay_status_name(12_345)) };
        assert_eq!(unknown.to_str(), Ok("PIECEPAY_STATUS_OTHER"));
    }
}
