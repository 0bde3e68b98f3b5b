//! The API's error codes and the whole-request error body.

use core::fmt;

use serde::{Deserialize, Serialize};

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, $status:literal; )*) => {
        /// The stable, machine-readable error codes of the API.
        ///
        /// A code is never renamed or reused within `v1`; new codes may be added, so clients treat a code
        /// they do not know as [`ErrorCode::Unknown`] and go by the HTTP status. The same codes appear as
        /// the whole-request error body ([`ApiError`]) and in per-item rejections of a batch
        /// ([`ReceiptResult::Rejected`](super::ReceiptResult::Rejected), [`OperationResult::Rejected`](super::OperationResult::Rejected)); where a code has the same meaning
        /// as one of the protocol or SDK crates' error codes, it is the same string.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )*
            /// A code this build does not know (sent by a newer relayer). Never sent by a relayer.
            Unknown,
        }

        impl ErrorCode {
            /// Every code a relayer may send, in documentation order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),*];

            /// The code as it appears on the wire.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $code,)*
                    Self::Unknown => "unknown",
                }
            }

            /// The HTTP status of a whole-request error with this code. Inside a batch's per-item
            /// results the status is the batch's (200), whatever the item's code.
            pub const fn http_status(self) -> u16 {
                match self {
                    $(Self::$variant => $status,)*
                    Self::Unknown => 500,
                }
            }

            /// The code for its wire string; [`ErrorCode::Unknown`] for any other string.
            pub fn from_code(code: &str) -> Self {
                match code {
                    $($code => Self::$variant,)*
                    _ => Self::Unknown,
                }
            }
        }
    };
}

error_codes! {
    // Request as a whole.
    /// The body is not valid JSON.
    InvalidJson = "invalid_json", 400;
    /// The body is JSON of the wrong shape: a missing field, a wrong type, an unknown operation `type`.
    InvalidRequest = "invalid_request", 400;
    /// The request has no `Content-Type: application/json`.
    UnsupportedMediaType = "unsupported_media_type", 415;
    /// The body exceeds [`MAX_BODY_BYTES`](super::MAX_BODY_BYTES).
    BodyTooLarge = "body_too_large", 413;
    /// More receipts than [`MAX_RECEIPTS_PER_REQUEST`](super::MAX_RECEIPTS_PER_REQUEST) or operations than [`MAX_OPERATIONS_PER_REQUEST`](super::MAX_OPERATIONS_PER_REQUEST).
    BatchTooLarge = "batch_too_large", 413;
    /// A batch with no receipts or operations.
    EmptyBatch = "empty_batch", 400;
    /// The request's `chain_id` and `escrow` are not this relayer's: its signatures cannot verify here.
    WrongDomain = "wrong_domain", 400;
    /// No such route.
    NotFound = "not_found", 404;
    /// The route exists but not with this method.
    MethodNotAllowed = "method_not_allowed", 405;
    /// Too many requests from this client; see `Retry-After`.
    RateLimited = "rate_limited", 429;
    /// The request took longer than the relayer's request timeout; nothing was committed. Retry.
    Timeout = "timeout", 503;
    /// The relayer cannot serve now (database or chain unreachable, shutting down, not ready). Retry.
    Unavailable = "unavailable", 503;
    /// A bug or an unexpected failure inside the relayer; details are in its logs, not here.
    Internal = "internal", 500;
    /// The relayer's transaction account cannot pay for gas now, so it takes no gasless operations until
    /// its operator funds it. Retry later, or submit through another relayer.
    RelayerUnfunded = "relayer_unfunded", 503;
    /// The request is not HTTP/1.1 the relayer can read: a malformed request line or header.
    MalformedRequest = "malformed_request", 400;
    /// The request's URI is longer than the relayer reads (64 KiB).
    UriTooLong = "uri_too_long", 414;
    /// The request's headers are larger than the relayer reads.
    HeadersTooLarge = "headers_too_large", 431;

    // Values (whole request, or one item of a batch).
    /// An address that is not `0x` + 40 hex digits, fails its EIP-55 checksum, or is zero where that is
    /// not allowed.
    InvalidAddress = "invalid_address", 400;
    /// A hash or id that is not `0x` + 64 hex digits.
    InvalidHash = "invalid_hash", 400;
    /// A decimal-string field (amount, fee, nonce) that is not canonical: empty, a sign, a point, an
    /// exponent, hex, spaces or leading zeros.
    InvalidAmount = "invalid_amount", 400;
    /// A decimal-string field beyond its type: `uint96` channel amounts, `uint128` withdrawals, `uint64`
    /// nonces.
    AmountTooLarge = "amount_too_large", 400;
    /// A receipt, deposit, top-up or withdrawal of zero.
    ZeroAmount = "zero_amount", 400;
    /// A deadline beyond the escrow's `uint40` timestamps.
    DeadlineOutOfRange = "deadline_out_of_range", 400;
    /// A signature whose `r` or `vs` is not `0x` + 64 hex digits.
    MalformedSignature = "malformed_signature", 400;
    /// No signer can be recovered from the signature.
    InvalidSignature = "invalid_signature", 400;
    /// The signature's `s` is in the upper half of the curve order (malleable); the escrow rejects it.
    SignatureHighS = "signature_high_s", 400;
    /// An operation's signature recovers someone other than the party it names.
    WrongSigner = "wrong_signer", 400;
    /// Channel parties the escrow refuses: a zero payer or payee, or payer = payee.
    InvalidChannel = "invalid_channel", 400;
    /// A settlement fee cap above 10,000 basis points.
    FeeCapTooHigh = "fee_cap_too_high", 400;
    /// An operation whose deadline has passed (or would pass before the relayer can submit it).
    SignatureExpired = "signature_expired", 400;
    /// An operation whose fee is below the relayer's minimum (see `min_fees` in `/v1/info`).
    FeeTooLow = "fee_too_low", 400;
    /// An operation that names another relayer as its only submitter: this relayer cannot submit it.
    WrongRelayer = "wrong_relayer", 400;

    // State.
    /// No such channel on the escrow (as far as the relayer has indexed). For a receipt, this is also
    /// what a signature over another domain or another payer's key looks like.
    UnknownChannel = "unknown_channel", 404;
    /// No operation with this id was ever queued here.
    UnknownOperation = "unknown_operation", 404;
    /// The channel is closed: no receipt can be settled on it any more.
    ChannelClosed = "channel_closed", 409;
    /// The channel is closing and its challenge window is over.
    ChallengeExpired = "challenge_expired", 409;
    /// A receipt's cumulative exceeds the channel's deposit.
    ExceedsDeposit = "exceeds_deposit", 409;
    /// A receipt below the one the relayer holds, or not above what is already settled: it adds nothing.
    StaleReceipt = "stale_receipt", 409;
    /// The escrow would refuse the operation as things stand (a pre-flight check); the message names
    /// the escrow's error, e.g. `InsufficientBalance`, `ChannelExists`, `InvalidNonce`.
    WouldRevert = "would_revert", 409;
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(Self::from_code(&code))
    }
}

/// The JSON error body, `{"code": "…", "message": "…"}`: of every non-2xx response, and of each rejected
/// item of a batch.
///
/// `code` is for machines and stable; `message` is for humans, may change, and never carries the
/// relayer's internals.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[error("{code}: {message}")]
pub struct ApiError {
    /// What went wrong, as a stable code.
    pub code: ErrorCode,
    /// What went wrong, for a human.
    pub message: String,
}

impl ApiError {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The HTTP status of this error as a whole-request response.
    pub const fn http_status(&self) -> u16 {
        self.code.http_status()
    }
}

impl From<crate::Error> for ApiError {
    fn from(error: crate::Error) -> Self {
        let code = match error {
            crate::Error::HighS => ErrorCode::SignatureHighS,
            crate::Error::InvalidSignatureLength(_) => ErrorCode::MalformedSignature,
            crate::Error::InvalidSignature => ErrorCode::InvalidSignature,
            // Signing-side errors; a relayer verifying a submission never meets them.
            _ => ErrorCode::Internal,
        };
        Self::new(code, error.to_string())
    }
}

#[cfg(test)]
mod tests {

    use serde_json::json;

    use super::*;
    use crate::relayer_api::testing::*;

    // --- error codes -------------------------------------------------------------------------------

    #[test]
    fn error_codes_are_distinct_snake_case_and_round_trip() {
        piecepay_test_support::assert_error_codes(ErrorCode::ALL.iter().map(|c| c.as_str()));
        for &code in ErrorCode::ALL {
            let s = code.as_str();
            assert_eq!(ErrorCode::from_code(s), code);
            assert!((400..600).contains(&code.http_status()), "{s}");
            assert_eq!(serde_json::to_value(code).unwrap(), json!(s));
        }
        assert!(!ErrorCode::ALL.contains(&ErrorCode::Unknown));
        assert_eq!(ErrorCode::from_code("teapot"), ErrorCode::Unknown);
    }

    #[test]
    fn error_codes_match_the_protocol_crates() {
        for (error, code) in [
            (crate::Error::HighS, ErrorCode::SignatureHighS),
            (crate::Error::InvalidSignature, ErrorCode::InvalidSignature),
        ] {
            assert_eq!(error.code(), code.as_str());
            assert_eq!(ApiError::from(error).code, code);
        }
        assert_eq!(
            ApiError::from(crate::Error::InvalidSignatureLength(3)).code,
            ErrorCode::MalformedSignature
        );
    }

    #[test]
    fn error_body_golden() {
        let error = ApiError::new(
            ErrorCode::BatchTooLarge,
            "receipts: 1001 given, at most 1000",
        );
        assert_golden(
            &error,
            json!({"code": "batch_too_large", "message": "receipts: 1001 given, at most 1000"}),
        );
        assert_eq!(error.http_status(), 413);
        assert_eq!(
            error.to_string(),
            "batch_too_large: receipts: 1001 given, at most 1000"
        );
        let newer: ApiError =
            serde_json::from_value(json!({"code": "quota_exhausted", "message": "later"})).unwrap();
        assert_eq!(newer.code, ErrorCode::Unknown);
    }
}
