//! The relayer's HTTP API, version 1: request and response bodies, error codes, limits, and the pure
//! validation the relayer runs on what it is sent. `docs/relayer-api.md` is the prose contract.
//!
//! JSON conventions, the same everywhere:
//! - amounts, fees and nonces are **decimal strings** (`"1000000000000000000"`): they exceed 2^53, past
//!   which JavaScript and many JSON parsers lose precision. Canonical form only: digits, no sign, no
//!   leading zeros.
//! - addresses are `0x` + 40 hex digits (all lower, all upper, or EIP-55 mixed case, which must then
//!   check out); the relayer answers with EIP-55 checksummed addresses.
//! - hashes and ids are `0x` + 64 hex digits; the relayer answers in lower case.
//! - signatures are EIP-2098 compact, `{"r": "0x…", "vs": "0x…"}`.
//! - salts, deadlines, block numbers, basis points and the chain id are JSON numbers (all below 2^53).
//!
//! Request bodies keep their fields as the strings that were sent, so that one malformed receipt in a
//! batch is rejected with its own [`ErrorCode`] while the others go through: `serde` only fails a whole
//! request for JSON of the wrong *shape* (a missing field, a number where a string belongs). The
//! `parse`/`verify` methods turn a submission into protocol types; they do no IO, keep no clock and
//! hold no state, so the relayer and its tests share them.
//!
//! Response bodies carry typed values (serialized in the forms above), so a client gets protocol types.

use core::fmt;

use alloy_primitives::{
    Address, B256, Bytes, U256,
    aliases::{U40, U96},
    hex, keccak256,
};
use alloy_sol_types::{Eip712Domain, SolStruct};
use serde::{Deserialize, Serialize};

pub use crate::admission::Admission;
use crate::{
    CompactSignature, CooperativeClose, OpenChannel, Receipt, RequestClose, SettleFeeCap, TopUp,
    Withdrawal,
    admission::{ChannelView, Phase, Refusal},
    amount::{self, DecimalError, from_u96, to_u96},
    channel_id,
};

/// The API version, also the first segment of every versioned path.
pub const API_VERSION: &str = "v1";

/// Most receipts one `POST /v1/receipts` may carry.
pub const MAX_RECEIPTS_PER_REQUEST: usize = 1_000;

/// Most gasless operations one `POST /v1/operations` may carry.
pub const MAX_OPERATIONS_PER_REQUEST: usize = 100;

/// Largest request body the relayer reads, in bytes (1 MiB). A full batch of receipts takes about a
/// quarter of it.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// Largest `uint40`: the escrow's bound on timestamps (deadlines, `closesAt`).
pub const MAX_UINT40: u64 = (1 << 40) - 1;

/// Largest settlement fee cap, in basis points (100%).
pub const MAX_FEE_CAP_BPS: u16 = 10_000;

#[cfg(feature = "schemars")]
pub mod schema;

/// Every route of the API, in axum 0.8's path syntax (`{param}`).
pub mod paths {
    /// `GET`: [`RelayerInfo`](super::RelayerInfo).
    pub const INFO: &str = "/v1/info";
    /// `POST`: [`SubmitReceiptsRequest`](super::SubmitReceiptsRequest) →
    /// [`SubmitReceiptsResponse`](super::SubmitReceiptsResponse).
    pub const RECEIPTS: &str = "/v1/receipts";
    /// `POST`: [`SubmitOperationsRequest`](super::SubmitOperationsRequest) →
    /// [`SubmitOperationsResponse`](super::SubmitOperationsResponse).
    pub const OPERATIONS: &str = "/v1/operations";
    /// `GET`: [`OperationStatus`](super::OperationStatus).
    pub const OPERATION: &str = "/v1/operations/{operation_id}";
    /// `GET`: [`ChannelStatus`](super::ChannelStatus).
    pub const CHANNEL: &str = "/v1/channels/{channel_id}";
    /// `GET`: [`SettlementStatus`](super::SettlementStatus).
    pub const SETTLEMENT: &str = "/v1/channels/{channel_id}/settlement";
    /// `GET`: the OpenAPI 3.1 document of this API.
    pub const OPENAPI: &str = "/v1/openapi.json";
    /// `GET`: [`Health`](super::Health), liveness (unversioned).
    pub const HEALTH: &str = "/healthz";
    /// `GET`: [`Readiness`](super::Readiness) (unversioned).
    pub const READY: &str = "/readyz";
    /// `GET`: Prometheus text exposition (unversioned).
    pub const METRICS: &str = "/metrics";
}

// -------------------------------------------------------------------------------------------------
// Errors
// -------------------------------------------------------------------------------------------------

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, $status:literal; )*) => {
        /// The stable, machine-readable error codes of the API.
        ///
        /// A code is never renamed or reused within `v1`; new codes may be added, so clients treat a code
        /// they do not know as [`ErrorCode::Unknown`] and go by the HTTP status. The same codes appear as
        /// the whole-request error body ([`ApiError`]) and in per-item rejections of a batch
        /// ([`ReceiptResult::Rejected`], [`OperationResult::Rejected`]); where a code has the same meaning
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
    /// The body exceeds [`MAX_BODY_BYTES`].
    BodyTooLarge = "body_too_large", 413;
    /// More receipts than [`MAX_RECEIPTS_PER_REQUEST`] or operations than [`MAX_OPERATIONS_PER_REQUEST`].
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

// -------------------------------------------------------------------------------------------------
// Field parsing
// -------------------------------------------------------------------------------------------------

/// Parses a canonical decimal string (digits only, no sign, no leading zeros) that fits a `u128`.
///
/// `field` names the field in the error message. Fails with [`ErrorCode::InvalidAmount`] for anything
/// not canonical and [`ErrorCode::AmountTooLarge`] above `u128::MAX`.
pub fn parse_decimal(field: &str, value: &str) -> Result<u128, ApiError> {
    amount::parse_decimal(value).map_err(|e| match e {
        DecimalError::NotCanonical
            if value.bytes().all(|b| b.is_ascii_digit()) && !value.is_empty() =>
        {
            ApiError::new(
                ErrorCode::InvalidAmount,
                format!("{field}: leading zeros are not allowed"),
            )
        }
        DecimalError::NotCanonical => ApiError::new(
            ErrorCode::InvalidAmount,
            format!(
                "{field}: expected a decimal string of digits (no sign, point, exponent or spaces)"
            ),
        ),
        DecimalError::TooLarge => too_large(field, "uint128"),
    })
}

/// Parses a decimal string within the escrow's `uint96` channel range ([`MAX_AMOUNT`]).
pub fn parse_u96(field: &str, value: &str) -> Result<U96, ApiError> {
    match parse_decimal(field, value) {
        Ok(n) => to_u96(n).ok_or_else(|| too_large(field, "uint96")),
        Err(e) if e.code == ErrorCode::AmountTooLarge => Err(too_large(field, "uint96")),
        Err(e) => Err(e),
    }
}

/// Parses a decimal string that fits a `u64` (escrow nonces).
pub fn parse_u64(field: &str, value: &str) -> Result<u64, ApiError> {
    match parse_decimal(field, value) {
        Ok(n) => u64::try_from(n).map_err(|_| too_large(field, "uint64")),
        Err(e) if e.code == ErrorCode::AmountTooLarge => Err(too_large(field, "uint64")),
        Err(e) => Err(e),
    }
}

fn too_large(field: &str, ty: &str) -> ApiError {
    ApiError::new(
        ErrorCode::AmountTooLarge,
        format!("{field}: exceeds the escrow's {ty} range"),
    )
}

/// Checks a deadline against the escrow's `uint40` timestamps ([`MAX_UINT40`]).
pub fn check_deadline(deadline: u64) -> Result<U40, ApiError> {
    U40::try_from(deadline).map_err(|_| {
        ApiError::new(
            ErrorCode::DeadlineOutOfRange,
            "deadline: exceeds the escrow's uint40 range",
        )
    })
}

/// Parses `0x` + 40 hex digits; mixed case must be a valid EIP-55 checksum.
pub fn parse_address(field: &str, value: &str) -> Result<Address, ApiError> {
    let invalid = |why: &str| ApiError::new(ErrorCode::InvalidAddress, format!("{field}: {why}"));
    let digits = value
        .strip_prefix("0x")
        .filter(|d| d.len() == 40 && d.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| invalid("expected 0x followed by 40 hex digits"))?;
    let mixed_case = digits.bytes().any(|b| b.is_ascii_lowercase())
        && digits.bytes().any(|b| b.is_ascii_uppercase());
    if mixed_case {
        return Address::parse_checksummed(value, None)
            .map_err(|_| invalid("mixed-case address with a wrong EIP-55 checksum"));
    }
    let mut bytes = [0u8; 20];
    hex::decode_to_slice(digits, &mut bytes)
        .map_err(|_| invalid("expected 0x followed by 40 hex digits"))?;
    Ok(Address::from(bytes))
}

/// Parses `0x` + 64 hex digits (any case).
pub fn parse_b256(field: &str, value: &str) -> Result<B256, ApiError> {
    parse_word(value).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidHash,
            format!("{field}: expected 0x followed by 64 hex digits"),
        )
    })
}

fn parse_word(value: &str) -> Option<B256> {
    let digits = value.strip_prefix("0x").filter(|d| d.len() == 64)?;
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(digits, &mut bytes).ok()?;
    Some(B256::from(bytes))
}

fn nonzero(field: &str, address: Address) -> Result<Address, ApiError> {
    if address.is_zero() {
        return Err(ApiError::new(
            ErrorCode::InvalidAddress,
            format!("{field}: the zero address is not allowed"),
        ));
    }
    Ok(address)
}

fn positive<T: Default + PartialEq>(field: &str, amount: T) -> Result<T, ApiError> {
    if amount == T::default() {
        return Err(ApiError::new(
            ErrorCode::ZeroAmount,
            format!("{field}: must be positive"),
        ));
    }
    Ok(amount)
}

/// An operation's optional `relayer`: absent is the zero address (anyone may submit).
fn parse_relayer(value: Option<&str>) -> Result<Address, ApiError> {
    value.map_or(Ok(Address::ZERO), |v| parse_address("relayer", v))
}

fn channel_parties(payer: &str, payee: &str) -> Result<(Address, Address), ApiError> {
    let payer = parse_address("payer", payer)?;
    let payee = parse_address("payee", payee)?;
    check_parties(payer, payee)?;
    Ok((payer, payee))
}

fn check_parties(payer: Address, payee: Address) -> Result<(), ApiError> {
    if payer.is_zero() || payee.is_zero() {
        return Err(ApiError::new(
            ErrorCode::InvalidChannel,
            "a channel's payer and payee must not be the zero address",
        ));
    }
    if payer == payee {
        return Err(ApiError::new(
            ErrorCode::InvalidChannel,
            "a channel's payer and payee must differ",
        ));
    }
    Ok(())
}

/// Checks that a request is for this relayer's escrow: its `chain_id` and `escrow` must be those of
/// `domain`, or no signature in it can verify. Fails with [`ErrorCode::InvalidAddress`] for a malformed
/// `escrow` and [`ErrorCode::WrongDomain`] for another chain or escrow.
pub fn check_domain(chain_id: u64, escrow: &str, domain: &Eip712Domain) -> Result<(), ApiError> {
    let escrow = parse_address("escrow", escrow)?;
    if domain.chain_id != Some(U256::from(chain_id)) || domain.verifying_contract != Some(escrow) {
        return Err(ApiError::new(
            ErrorCode::WrongDomain,
            "chain_id and escrow do not match this relayer's (see /v1/info)",
        ));
    }
    Ok(())
}

fn check_batch(what: &str, len: usize, max: usize) -> Result<(), ApiError> {
    if len == 0 {
        return Err(ApiError::new(
            ErrorCode::EmptyBatch,
            format!("{what}: at least one is required"),
        ));
    }
    if len > max {
        return Err(ApiError::new(
            ErrorCode::BatchTooLarge,
            format!("{what}: {len} given, at most {max} per request"),
        ));
    }
    Ok(())
}

// -------------------------------------------------------------------------------------------------
// Signatures
// -------------------------------------------------------------------------------------------------

/// An EIP-2098 compact signature as sent: `{"r": "0x…", "vs": "0x…"}`, 32 bytes each.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct SignatureJson {
    /// `r`, `0x` + 64 hex digits.
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Word"))]
    pub r: String,
    /// `vs` (`s` with the y parity in its top bit), `0x` + 64 hex digits.
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Word"))]
    pub vs: String,
}

impl SignatureJson {
    /// The signature's words; [`ErrorCode::MalformedSignature`] if either is not 32 bytes of hex.
    /// Whether it recovers a signer is checked when it is verified.
    pub fn parse(&self, field: &str) -> Result<CompactSignature, ApiError> {
        match (parse_word(&self.r), parse_word(&self.vs)) {
            (Some(r), Some(vs)) => Ok(CompactSignature::new(r, vs)),
            _ => Err(ApiError::new(
                ErrorCode::MalformedSignature,
                format!("{field}: r and vs must each be 0x followed by 64 hex digits"),
            )),
        }
    }
}

impl From<&CompactSignature> for SignatureJson {
    fn from(signature: &CompactSignature) -> Self {
        Self {
            r: hex::encode_prefixed(signature.r),
            vs: hex::encode_prefixed(signature.vs),
        }
    }
}

/// Recovers who signed `message` in `domain`, with the API's codes for a bad signature.
fn recover<T: SolStruct>(
    message: &T,
    signature: &CompactSignature,
    domain: &Eip712Domain,
) -> Result<Address, ApiError> {
    Ok(signature.recover(&message.eip712_signing_hash(domain))?)
}

fn expect_signer<T: SolStruct>(
    party: &str,
    expected: Address,
    message: &T,
    signature: &CompactSignature,
    domain: &Eip712Domain,
) -> Result<(), ApiError> {
    let recovered = recover(message, signature, domain)?;
    if recovered != expected {
        return Err(ApiError::new(
            ErrorCode::WrongSigner,
            format!("signed by {recovered}, but the {party} is {expected}"),
        ));
    }
    Ok(())
}

// -------------------------------------------------------------------------------------------------
// Receipts
// -------------------------------------------------------------------------------------------------

/// `POST /v1/receipts`: one or more payer-signed receipts, for the escrow of `chain_id`/`escrow`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct SubmitReceiptsRequest {
    /// The chain the receipts were signed for.
    pub chain_id: u64,
    /// The escrow (EIP-712 `verifyingContract`) the receipts were signed for.
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Address"))]
    pub escrow: String,
    /// 1 to [`MAX_RECEIPTS_PER_REQUEST`] receipts, processed in order.
    #[cfg_attr(feature = "schemars", schemars(length(min = 1, max = MAX_RECEIPTS_PER_REQUEST)))]
    pub receipts: Vec<ReceiptSubmission>,
}

impl SubmitReceiptsRequest {
    /// A request for the escrow `escrow` on chain `chain_id`.
    pub fn new(chain_id: u64, escrow: Address, receipts: Vec<ReceiptSubmission>) -> Self {
        Self {
            chain_id,
            escrow: escrow.to_checksum(None),
            receipts,
        }
    }

    /// The checks on the request as a whole: batch size, then domain. A failure rejects the request.
    pub fn check(&self, domain: &Eip712Domain) -> Result<(), ApiError> {
        check_batch("receipts", self.receipts.len(), MAX_RECEIPTS_PER_REQUEST)?;
        check_domain(self.chain_id, &self.escrow, domain)
    }
}

/// One receipt as sent: the EIP-712 `Receipt(address payee,uint32 salt,uint96 cumulative)` and the
/// payer's signature over it. The payer is not sent: it is recovered from the signature.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ReceiptSubmission {
    /// The channel's payee.
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Address"))]
    pub payee: String,
    /// The channel's salt.
    pub salt: u32,
    /// Total paid over the channel's life, in token base units (decimal string, `uint96`).
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Amount"))]
    pub cumulative: String,
    /// The payer's signature.
    pub signature: SignatureJson,
}

impl ReceiptSubmission {
    /// The submission of `receipt` signed with `signature`.
    pub fn new(receipt: &Receipt, signature: &CompactSignature) -> Self {
        Self {
            payee: receipt.payee.to_checksum(None),
            salt: receipt.salt,
            cumulative: receipt.cumulative.to_string(),
            signature: signature.into(),
        }
    }

    /// Parses the fields into protocol types and checks what needs no signature recovery: a non-zero
    /// payee, a positive `uint96` cumulative, a 64-byte signature.
    pub fn parse(&self) -> Result<ParsedReceipt, ApiError> {
        let payee = parse_address("payee", &self.payee)?;
        if payee.is_zero() {
            return Err(ApiError::new(
                ErrorCode::InvalidChannel,
                "payee: the zero address has no channel",
            ));
        }
        let cumulative = positive("cumulative", parse_u96("cumulative", &self.cumulative)?)?;
        let signature = self.signature.parse("signature")?;
        Ok(ParsedReceipt {
            receipt: Receipt {
                payee,
                salt: self.salt,
                cumulative,
            },
            signature,
        })
    }

    /// [`parse`](Self::parse), then [`ParsedReceipt::recover`]: everything about a receipt that needs no
    /// state. What remains is [`ChannelSnapshot::admit`] against the channel it pays on.
    pub fn verify(&self, domain: &Eip712Domain) -> Result<RecoveredReceipt, ApiError> {
        self.parse()?.recover(domain)
    }
}

/// A structurally valid receipt, its signature not yet checked.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ParsedReceipt {
    /// The signed message.
    pub receipt: Receipt,
    /// The payer's signature over its EIP-712 signing hash.
    pub signature: CompactSignature,
}

impl ParsedReceipt {
    /// Recovers the payer in `domain`, as the escrow does (high-s rejected), and derives the channel id.
    ///
    /// A signature over another domain, or by a key that is not the payer's, still recovers *some*
    /// address: it names a channel nobody opened, which [`ErrorCode::UnknownChannel`] then rejects.
    pub fn recover(&self, domain: &Eip712Domain) -> Result<RecoveredReceipt, ApiError> {
        let payer = recover(&self.receipt, &self.signature, domain)?;
        Ok(RecoveredReceipt {
            channel_id: self.receipt.channel_id(payer),
            payer,
            cumulative: from_u96(self.receipt.cumulative),
            receipt: self.receipt.clone(),
            signature: self.signature,
        })
    }
}

/// A receipt with its payer recovered: what the relayer looks its channel up by and stores.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RecoveredReceipt {
    /// The channel it pays on: `channel_id(payer, payee, salt)`.
    pub channel_id: B256,
    /// The recovered signer.
    pub payer: Address,
    /// `receipt.cumulative` as a number.
    pub cumulative: u128,
    /// The signed message.
    pub receipt: Receipt,
    /// The payer's signature.
    pub signature: CompactSignature,
}

/// The state of a channel on the escrow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChannelState {
    /// Open: receipts settle, top-ups apply.
    Open,
    /// The payer requested a close: receipts settle until `closes_at`, then anyone may finalize.
    Closing,
    /// Closed for good (a tombstone: the id is never reused).
    Closed,
}

/// What the relayer knows of a channel when a receipt for it arrives: the escrow's state as indexed and
/// the highest receipt it already holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChannelSnapshot {
    /// The channel's state.
    pub state: ChannelState,
    /// Its deposit.
    pub deposit: u128,
    /// Its settled total.
    pub settled: u128,
    /// End of the challenge window while closing.
    pub closes_at: Option<u64>,
    /// The cumulative of the highest receipt the relayer holds for it.
    pub held: Option<u128>,
}

impl ChannelSnapshot {
    /// Whether a receipt of `cumulative` may be stored at unix time `now`: the one admission rule
    /// ([`crate::admission`]; the receipt's signature was verified before), its refusals as API errors.
    pub fn admit(&self, cumulative: u128, now: u64) -> Result<Admission, ApiError> {
        let view = ChannelView {
            phase: match self.state {
                ChannelState::Open => Phase::Open,
                ChannelState::Closing => Phase::Closing {
                    closes_at: self.closes_at,
                },
                ChannelState::Closed => Phase::NotOpen,
            },
            deposit: self.deposit,
            settled: self.settled,
            held: self.held,
        };
        view.admit(cumulative, now)
            .map_err(|refusal| match refusal {
                Refusal::NotOpen => {
                    ApiError::new(ErrorCode::ChannelClosed, "the channel is closed")
                }
                Refusal::ChallengeExpired { closes_at } => ApiError::new(
                    ErrorCode::ChallengeExpired,
                    format!("the challenge window ended at {closes_at}"),
                ),
                Refusal::Stale { cumulative, latest } => ApiError::new(
                    ErrorCode::StaleReceipt,
                    format!("cumulative {cumulative} is not above the {latest} held or settled"),
                ),
                Refusal::ExceedsDeposit {
                    cumulative,
                    deposit,
                } => ApiError::new(
                    ErrorCode::ExceedsDeposit,
                    format!("cumulative {cumulative} exceeds the deposit {deposit}"),
                ),
            })
    }
}

/// The reply to `POST /v1/receipts` (HTTP 200): one result per submitted receipt, in order.
///
/// Every `accepted` receipt is committed to the relayer's database before this reply is sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct SubmitReceiptsResponse {
    /// `results[i]` is the outcome of `receipts[i]`.
    pub results: Vec<ReceiptResult>,
}

/// The outcome of one submitted receipt, tagged by `status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ReceiptResult {
    /// Verified and stored: now the channel's highest receipt, to be settled.
    Accepted(AcceptedReceipt),
    /// Already held (same channel and cumulative): nothing changed.
    Duplicate(AcceptedReceipt),
    /// Not stored, for the reason given; the other receipts of the request are unaffected.
    Rejected(ApiError),
}

impl ReceiptResult {
    /// `accepted` or `duplicate` for `receipt`, as `admission` says.
    pub fn admitted(receipt: &RecoveredReceipt, admission: Admission) -> Self {
        let accepted = AcceptedReceipt {
            channel_id: receipt.channel_id,
            payer: receipt.payer,
            cumulative: receipt.cumulative,
        };
        match admission {
            Admission::New => Self::Accepted(accepted),
            Admission::Duplicate => Self::Duplicate(accepted),
        }
    }

    /// Whether the relayer holds the receipt (accepted now or before).
    pub const fn is_held(&self) -> bool {
        matches!(self, Self::Accepted(_) | Self::Duplicate(_))
    }
}

/// What the relayer holds after accepting a receipt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct AcceptedReceipt {
    /// The channel the receipt pays on.
    #[serde(with = "wire::hash")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Hash"))]
    pub channel_id: B256,
    /// The recovered payer.
    #[serde(with = "wire::address")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Address"))]
    pub payer: Address,
    /// The receipt's cumulative.
    #[serde(with = "amount::decimal")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Amount"))]
    pub cumulative: u128,
}

// -------------------------------------------------------------------------------------------------
// Gasless operations
// -------------------------------------------------------------------------------------------------

/// `POST /v1/operations`: signed gasless operations for the relayer to submit, batched, to the escrow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct SubmitOperationsRequest {
    /// The chain the operations were signed for.
    pub chain_id: u64,
    /// The escrow the operations were signed for.
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Address"))]
    pub escrow: String,
    /// 1 to [`MAX_OPERATIONS_PER_REQUEST`] operations.
    #[cfg_attr(feature = "schemars", schemars(length(min = 1, max = MAX_OPERATIONS_PER_REQUEST)))]
    pub operations: Vec<OperationSubmission>,
}

impl SubmitOperationsRequest {
    /// A request for the escrow `escrow` on chain `chain_id`.
    pub fn new(chain_id: u64, escrow: Address, operations: Vec<OperationSubmission>) -> Self {
        Self {
            chain_id,
            escrow: escrow.to_checksum(None),
            operations,
        }
    }

    /// The checks on the request as a whole: batch size, then domain.
    pub fn check(&self, domain: &Eip712Domain) -> Result<(), ApiError> {
        check_batch(
            "operations",
            self.operations.len(),
            MAX_OPERATIONS_PER_REQUEST,
        )?;
        check_domain(self.chain_id, &self.escrow, domain)
    }
}

/// The kinds of gasless operation, as the `type` tag of a submission.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum OperationKind {
    /// `openChannelsBySig`.
    Open,
    /// `topUpsBySig`.
    TopUp,
    /// `requestClosesBySig`.
    RequestClose,
    /// `withdrawBySig`.
    Withdraw,
    /// `setSettleFeeCapsBySig`.
    SetSettleFeeCap,
    /// `cooperativeClose`.
    CooperativeClose,
}

impl OperationKind {
    /// Every kind.
    pub const ALL: [Self; 6] = [
        Self::Open,
        Self::TopUp,
        Self::RequestClose,
        Self::Withdraw,
        Self::SetSettleFeeCap,
        Self::CooperativeClose,
    ];

    /// The kind's stable snake_case name: its `type` tag in the API (and a column value in stores).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::TopUp => "top_up",
            Self::RequestClose => "request_close",
            Self::Withdraw => "withdraw",
            Self::SetSettleFeeCap => "set_settle_fee_cap",
            Self::CooperativeClose => "cooperative_close",
        }
    }
}

/// One signed operation as sent, tagged by `type`; the fields mirror the escrow's `…Auth` structs.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OperationSubmission {
    /// `OpenAuth`: open channel (payer, payee, salt) with `deposit` from the payer's free balance.
    Open(ChannelFunding),
    /// `TopUpAuth`: raise the channel's deposit to the new **total** `deposit`.
    TopUp(ChannelFunding),
    /// `CloseAuth`: start the unilateral close of the channel.
    RequestClose(CloseRequest),
    /// `WithdrawAuth`: withdraw from `owner`'s free balance to `to`.
    Withdraw(WithdrawRequest),
    /// `SettleFeeCapAuth`: set the payee's settlement fee cap.
    SetSettleFeeCap(FeeCapRequest),
    /// `CooperativeCloseAuth` with both signatures: close the channel at once.
    CooperativeClose(CooperativeCloseRequest),
}

/// Fields of an `open` or `top_up` (`OpenAuth`, `TopUpAuth`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ChannelFunding {
    /// The payer, who signed.
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Address"))]
    pub payer: String,
    /// The payee.
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Address"))]
    pub payee: String,
    /// The channel's salt.
    pub salt: u32,
    /// The deposit (open) or the new total deposit (top-up), decimal `uint96`.
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Amount"))]
    pub deposit: String,
    /// The fee the payer pays the relayer, decimal `uint96`.
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Amount"))]
    pub fee: String,
    /// The only relayer that may submit it (and collect `fee`); absent: anyone (the zero address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schemars", schemars(with = "Option<schema::Address>"))]
    pub relayer: Option<String>,
    /// The channel's nonce it was signed under; absent: 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_nonce: Option<u16>,
    /// Unix time after which the signature is void (`uint40`).
    pub deadline: u64,
    /// The payer's signature.
    pub signature: SignatureJson,
}

/// Fields of a `request_close` (`CloseAuth`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct CloseRequest {
    /// The payer, who signed.
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Address"))]
    pub payer: String,
    /// The payee.
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Address"))]
    pub payee: String,
    /// The channel's salt.
    pub salt: u32,
    /// The fee the payer pays the relayer, decimal `uint96`.
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Amount"))]
    pub fee: String,
    /// The only relayer that may submit it (and collect `fee`); absent: anyone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schemars", schemars(with = "Option<schema::Address>"))]
    pub relayer: Option<String>,
    /// Unix time after which the signature is void.
    pub deadline: u64,
    /// The payer's signature.
    pub signature: SignatureJson,
}

/// Fields of a `withdraw` (`WithdrawAuth`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct WithdrawRequest {
    /// The account owner, who signed.
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Address"))]
    pub owner: String,
    /// The recipient of the tokens.
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Address"))]
    pub to: String,
    /// Amount withdrawn, decimal `uint128`.
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Amount"))]
    pub amount: String,
    /// The fee the owner pays the relayer, decimal `uint128`.
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Amount"))]
    pub fee: String,
    /// The only relayer that may submit it (and collect `fee`); absent: anyone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schemars", schemars(with = "Option<schema::Address>"))]
    pub relayer: Option<String>,
    /// The owner's next escrow nonce, decimal `uint64`.
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Amount"))]
    pub nonce: String,
    /// Unix time after which the signature is void.
    pub deadline: u64,
    /// The owner's signature.
    pub signature: SignatureJson,
}

/// Fields of a `set_settle_fee_cap` (`SettleFeeCapAuth`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct FeeCapRequest {
    /// The payee, who signed.
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Address"))]
    pub payee: String,
    /// The cap, in basis points (at most 10,000).
    pub bps: u16,
    /// The one relayer that may take the fee (the zero address: none).
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Address"))]
    pub relayer: String,
    /// The payee's next escrow nonce, decimal `uint64`.
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Amount"))]
    pub nonce: String,
    /// Unix time after which the signature is void.
    pub deadline: u64,
    /// The payee's signature.
    pub signature: SignatureJson,
}

/// Fields of a `cooperative_close` (`CooperativeCloseAuth` and both signatures).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct CooperativeCloseRequest {
    /// The payer.
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Address"))]
    pub payer: String,
    /// The payee.
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Address"))]
    pub payee: String,
    /// The channel's salt.
    pub salt: u32,
    /// Final total owed to the payee, decimal `uint96`.
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Amount"))]
    pub cumulative: String,
    /// The fee the payer pays the relayer, decimal `uint96`.
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Amount"))]
    pub fee: String,
    /// The only relayer that may submit it (and collect `fee`); absent: anyone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schemars", schemars(with = "Option<schema::Address>"))]
    pub relayer: Option<String>,
    /// The channel's nonce it was signed under; absent: 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_nonce: Option<u16>,
    /// Unix time after which the agreement is void.
    pub deadline: u64,
    /// The payer's signature over the `CooperativeClose` message.
    pub payer_signature: SignatureJson,
    /// The payee's signature over the same message.
    pub payee_signature: SignatureJson,
}

/// A parsed gasless operation: the EIP-712 message, the party that must have signed it, and the
/// signature(s).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    /// A signed open.
    Open {
        /// The payer, who must have signed.
        payer: Address,
        /// The signed message.
        message: OpenChannel,
        /// The payer's signature.
        signature: CompactSignature,
    },
    /// A signed top-up to a new total deposit.
    TopUp {
        /// The payer, who must have signed.
        payer: Address,
        /// The signed message.
        message: TopUp,
        /// The payer's signature.
        signature: CompactSignature,
    },
    /// A signed close request.
    RequestClose {
        /// The payer, who must have signed.
        payer: Address,
        /// The signed message.
        message: RequestClose,
        /// The payer's signature.
        signature: CompactSignature,
    },
    /// A signed withdrawal.
    Withdraw {
        /// The account owner, who must have signed.
        owner: Address,
        /// The signed message.
        message: Withdrawal,
        /// The owner's signature.
        signature: CompactSignature,
    },
    /// A signed settlement fee cap.
    SetSettleFeeCap {
        /// The payee, who must have signed.
        payee: Address,
        /// The signed message.
        message: SettleFeeCap,
        /// The payee's signature.
        signature: CompactSignature,
    },
    /// A cooperative close signed by both parties (the message names them).
    CooperativeClose {
        /// The signed message.
        message: CooperativeClose,
        /// The payer's signature.
        payer_signature: CompactSignature,
        /// The payee's signature.
        payee_signature: CompactSignature,
    },
}

impl OperationSubmission {
    /// The operation's kind.
    pub const fn kind(&self) -> OperationKind {
        match self {
            Self::Open(_) => OperationKind::Open,
            Self::TopUp(_) => OperationKind::TopUp,
            Self::RequestClose(_) => OperationKind::RequestClose,
            Self::Withdraw(_) => OperationKind::Withdraw,
            Self::SetSettleFeeCap(_) => OperationKind::SetSettleFeeCap,
            Self::CooperativeClose(_) => OperationKind::CooperativeClose,
        }
    }

    /// Parses the fields into protocol types and checks what the escrow would refuse regardless of
    /// state: zero or equal parties, zero deposits and withdrawals, values beyond their Solidity types,
    /// a fee cap above 100%, malformed signatures.
    pub fn parse(&self) -> Result<Operation, ApiError> {
        Ok(match self {
            Self::Open(f) | Self::TopUp(f) => {
                let (payer, payee) = channel_parties(&f.payer, &f.payee)?;
                let deposit = positive("deposit", parse_u96("deposit", &f.deposit)?)?;
                let fee = parse_u96("fee", &f.fee)?;
                let relayer = parse_relayer(f.relayer.as_deref())?;
                let channel_nonce = f.channel_nonce.unwrap_or(0);
                let deadline = check_deadline(f.deadline)?;
                let signature = f.signature.parse("signature")?;
                if matches!(self, Self::Open(_)) {
                    let message = OpenChannel {
                        payee,
                        salt: f.salt,
                        deposit,
                        fee,
                        relayer,
                        channelNonce: channel_nonce,
                        deadline,
                    };
                    Operation::Open {
                        payer,
                        message,
                        signature,
                    }
                } else {
                    let message = TopUp {
                        payee,
                        salt: f.salt,
                        deposit,
                        fee,
                        relayer,
                        channelNonce: channel_nonce,
                        deadline,
                    };
                    Operation::TopUp {
                        payer,
                        message,
                        signature,
                    }
                }
            }
            Self::RequestClose(c) => {
                let (payer, payee) = channel_parties(&c.payer, &c.payee)?;
                Operation::RequestClose {
                    payer,
                    message: RequestClose {
                        payee,
                        salt: c.salt,
                        fee: parse_u96("fee", &c.fee)?,
                        relayer: parse_relayer(c.relayer.as_deref())?,
                        deadline: check_deadline(c.deadline)?,
                    },
                    signature: c.signature.parse("signature")?,
                }
            }
            Self::Withdraw(w) => Operation::Withdraw {
                owner: nonzero("owner", parse_address("owner", &w.owner)?)?,
                message: Withdrawal {
                    to: nonzero("to", parse_address("to", &w.to)?)?,
                    amount: positive("amount", parse_decimal("amount", &w.amount)?)?,
                    fee: parse_decimal("fee", &w.fee)?,
                    relayer: parse_relayer(w.relayer.as_deref())?,
                    nonce: parse_u64("nonce", &w.nonce)?,
                    deadline: check_deadline(w.deadline)?,
                },
                signature: w.signature.parse("signature")?,
            },
            Self::SetSettleFeeCap(c) => {
                let payee = nonzero("payee", parse_address("payee", &c.payee)?)?;
                if c.bps > MAX_FEE_CAP_BPS {
                    return Err(ApiError::new(
                        ErrorCode::FeeCapTooHigh,
                        format!("bps: {} exceeds {MAX_FEE_CAP_BPS}", c.bps),
                    ));
                }
                Operation::SetSettleFeeCap {
                    payee,
                    message: SettleFeeCap {
                        bps: c.bps,
                        relayer: parse_address("relayer", &c.relayer)?,
                        nonce: parse_u64("nonce", &c.nonce)?,
                        deadline: check_deadline(c.deadline)?,
                    },
                    signature: c.signature.parse("signature")?,
                }
            }
            Self::CooperativeClose(c) => {
                let (payer, payee) = channel_parties(&c.payer, &c.payee)?;
                Operation::CooperativeClose {
                    message: CooperativeClose {
                        payer,
                        payee,
                        salt: c.salt,
                        cumulative: parse_u96("cumulative", &c.cumulative)?,
                        fee: parse_u96("fee", &c.fee)?,
                        relayer: parse_relayer(c.relayer.as_deref())?,
                        channelNonce: c.channel_nonce.unwrap_or(0),
                        deadline: check_deadline(c.deadline)?,
                    },
                    payer_signature: c.payer_signature.parse("payer_signature")?,
                    payee_signature: c.payee_signature.parse("payee_signature")?,
                }
            }
        })
    }

    /// [`parse`](Self::parse), then [`Operation::verify`]; returns the operation and its id.
    pub fn verify(&self, domain: &Eip712Domain, now: u64) -> Result<(Operation, B256), ApiError> {
        let operation = self.parse()?;
        let id = operation.verify(domain, now)?;
        Ok((operation, id))
    }
}

impl Operation {
    /// The operation's kind.
    pub const fn kind(&self) -> OperationKind {
        match self {
            Self::Open { .. } => OperationKind::Open,
            Self::TopUp { .. } => OperationKind::TopUp,
            Self::RequestClose { .. } => OperationKind::RequestClose,
            Self::Withdraw { .. } => OperationKind::Withdraw,
            Self::SetSettleFeeCap { .. } => OperationKind::SetSettleFeeCap,
            Self::CooperativeClose { .. } => OperationKind::CooperativeClose,
        }
    }

    /// The operation's id: `keccak256(signer ‖ digest)`, the signer's 20-byte address followed by the
    /// EIP-712 signing hash of its message in `domain` (for a cooperative close the signer is the payer).
    ///
    /// Most messages do not name their signer (the escrow recovers it), so two accounts may sign identical
    /// fields; the signer in the id keeps their operations apart. A client can compute it before
    /// submitting; the same signed operation always has the same id, so resubmitting it is recognised
    /// (`duplicate`), never queued twice.
    pub fn id(&self, domain: &Eip712Domain) -> B256 {
        let (signer, digest) = match self {
            Self::Open { payer, message, .. } => (payer, message.eip712_signing_hash(domain)),
            Self::TopUp { payer, message, .. } => (payer, message.eip712_signing_hash(domain)),
            Self::RequestClose { payer, message, .. } => {
                (payer, message.eip712_signing_hash(domain))
            }
            Self::Withdraw { owner, message, .. } => (owner, message.eip712_signing_hash(domain)),
            Self::SetSettleFeeCap { payee, message, .. } => {
                (payee, message.eip712_signing_hash(domain))
            }
            Self::CooperativeClose { message, .. } => {
                (&message.payer, message.eip712_signing_hash(domain))
            }
        };
        let mut bytes = [0u8; 52];
        bytes[..20].copy_from_slice(signer.as_slice());
        bytes[20..].copy_from_slice(digest.as_slice());
        keccak256(bytes)
    }

    /// Unix time after which the escrow refuses the operation.
    pub fn deadline(&self) -> u64 {
        let deadline = match self {
            Self::Open { message, .. } => message.deadline,
            Self::TopUp { message, .. } => message.deadline,
            Self::RequestClose { message, .. } => message.deadline,
            Self::Withdraw { message, .. } => message.deadline,
            Self::SetSettleFeeCap { message, .. } => message.deadline,
            Self::CooperativeClose { message, .. } => message.deadline,
        };
        deadline.to::<u64>()
    }

    /// The fee its signer pays the submitter (a fee cap pays none).
    pub fn fee(&self) -> u128 {
        match self {
            Self::Open { message, .. } => message.fee.to::<u128>(),
            Self::TopUp { message, .. } => message.fee.to::<u128>(),
            Self::RequestClose { message, .. } => message.fee.to::<u128>(),
            Self::Withdraw { message, .. } => message.fee,
            Self::SetSettleFeeCap { .. } => 0,
            Self::CooperativeClose { message, .. } => message.fee.to::<u128>(),
        }
    }

    /// The relayer the operation names as its only submitter (`None`: anyone may submit it). A fee cap
    /// names no submitter: its `relayer` is who may take settlement fees.
    pub fn submitter(&self) -> Option<Address> {
        let relayer = match self {
            Self::Open { message, .. } => message.relayer,
            Self::TopUp { message, .. } => message.relayer,
            Self::RequestClose { message, .. } => message.relayer,
            Self::Withdraw { message, .. } => message.relayer,
            Self::CooperativeClose { message, .. } => message.relayer,
            Self::SetSettleFeeCap { .. } => Address::ZERO,
        };
        (!relayer.is_zero()).then_some(relayer)
    }

    /// Refuses an operation that `relayer` cannot submit because it names another submitter
    /// ([`ErrorCode::WrongRelayer`]): the escrow would skip it.
    pub fn check_submitter(&self, relayer: Address) -> Result<(), ApiError> {
        match self.submitter() {
            Some(named) if named != relayer => Err(ApiError::new(
                ErrorCode::WrongRelayer,
                format!(
                    "the operation names {} as its relayer, not {}",
                    named.to_checksum(None),
                    relayer.to_checksum(None)
                ),
            )),
            _ => Ok(()),
        }
    }

    /// The channel the operation acts on, if it acts on one.
    pub fn channel_id(&self) -> Option<B256> {
        match self {
            Self::Open { payer, message, .. } => {
                Some(channel_id(*payer, message.payee, message.salt))
            }
            Self::TopUp { payer, message, .. } => {
                Some(channel_id(*payer, message.payee, message.salt))
            }
            Self::RequestClose { payer, message, .. } => {
                Some(channel_id(*payer, message.payee, message.salt))
            }
            Self::CooperativeClose { message, .. } => {
                Some(channel_id(message.payer, message.payee, message.salt))
            }
            Self::Withdraw { .. } | Self::SetSettleFeeCap { .. } => None,
        }
    }

    /// Checks the deadline (the escrow refuses once `now > deadline`; pass `now` plus the time the
    /// relayer needs to get it mined) and that each signature recovers the party it must; returns the
    /// operation's [`id`](Self::id).
    pub fn verify(&self, domain: &Eip712Domain, now: u64) -> Result<B256, ApiError> {
        let deadline = self.deadline();
        if now > deadline {
            return Err(ApiError::new(
                ErrorCode::SignatureExpired,
                format!("deadline {deadline} has passed"),
            ));
        }
        match self {
            Self::Open {
                payer,
                message,
                signature,
            } => expect_signer("payer", *payer, message, signature, domain)?,
            Self::TopUp {
                payer,
                message,
                signature,
            } => expect_signer("payer", *payer, message, signature, domain)?,
            Self::RequestClose {
                payer,
                message,
                signature,
            } => expect_signer("payer", *payer, message, signature, domain)?,
            Self::Withdraw {
                owner,
                message,
                signature,
            } => expect_signer("owner", *owner, message, signature, domain)?,
            Self::SetSettleFeeCap {
                payee,
                message,
                signature,
            } => expect_signer("payee", *payee, message, signature, domain)?,
            Self::CooperativeClose {
                message,
                payer_signature,
                payee_signature,
            } => {
                expect_signer("payer", message.payer, message, payer_signature, domain)?;
                expect_signer("payee", message.payee, message, payee_signature, domain)?;
            }
        }
        Ok(self.id(domain))
    }
}

impl From<&Operation> for OperationSubmission {
    fn from(operation: &Operation) -> Self {
        let address = |a: &Address| a.to_checksum(None);
        let named = |a: &Address| (!a.is_zero()).then(|| a.to_checksum(None));
        let nonzero_nonce = |n: u16| (n != 0).then_some(n);
        let deadline = |d: U40| d.to::<u64>();
        match operation {
            Operation::Open {
                payer,
                message,
                signature,
            } => Self::Open(ChannelFunding {
                payer: address(payer),
                payee: address(&message.payee),
                salt: message.salt,
                deposit: message.deposit.to_string(),
                fee: message.fee.to_string(),
                relayer: named(&message.relayer),
                channel_nonce: nonzero_nonce(message.channelNonce),
                deadline: deadline(message.deadline),
                signature: signature.into(),
            }),
            Operation::TopUp {
                payer,
                message,
                signature,
            } => Self::TopUp(ChannelFunding {
                payer: address(payer),
                payee: address(&message.payee),
                salt: message.salt,
                deposit: message.deposit.to_string(),
                fee: message.fee.to_string(),
                relayer: named(&message.relayer),
                channel_nonce: nonzero_nonce(message.channelNonce),
                deadline: deadline(message.deadline),
                signature: signature.into(),
            }),
            Operation::RequestClose {
                payer,
                message,
                signature,
            } => Self::RequestClose(CloseRequest {
                payer: address(payer),
                payee: address(&message.payee),
                salt: message.salt,
                fee: message.fee.to_string(),
                relayer: named(&message.relayer),
                deadline: deadline(message.deadline),
                signature: signature.into(),
            }),
            Operation::Withdraw {
                owner,
                message,
                signature,
            } => Self::Withdraw(WithdrawRequest {
                owner: address(owner),
                to: address(&message.to),
                amount: message.amount.to_string(),
                fee: message.fee.to_string(),
                relayer: named(&message.relayer),
                nonce: message.nonce.to_string(),
                deadline: deadline(message.deadline),
                signature: signature.into(),
            }),
            Operation::SetSettleFeeCap {
                payee,
                message,
                signature,
            } => Self::SetSettleFeeCap(FeeCapRequest {
                payee: address(payee),
                bps: message.bps,
                relayer: address(&message.relayer),
                nonce: message.nonce.to_string(),
                deadline: deadline(message.deadline),
                signature: signature.into(),
            }),
            Operation::CooperativeClose {
                message,
                payer_signature,
                payee_signature,
            } => Self::CooperativeClose(CooperativeCloseRequest {
                payer: address(&message.payer),
                payee: address(&message.payee),
                salt: message.salt,
                cumulative: message.cumulative.to_string(),
                fee: message.fee.to_string(),
                relayer: named(&message.relayer),
                channel_nonce: nonzero_nonce(message.channelNonce),
                deadline: deadline(message.deadline),
                payer_signature: payer_signature.into(),
                payee_signature: payee_signature.into(),
            }),
        }
    }
}

/// The reply to `POST /v1/operations` (HTTP 200): one result per submitted operation, in order.
///
/// Every `queued` operation is committed to the relayer's database before this reply is sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct SubmitOperationsResponse {
    /// `results[i]` is the outcome of `operations[i]`.
    pub results: Vec<OperationResult>,
}

/// The outcome of one submitted operation, tagged by `status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum OperationResult {
    /// Verified and stored; it will be submitted in a batch. Follow it with `GET /v1/operations/{id}`.
    Queued(QueuedOperation),
    /// Already queued (same id): nothing changed.
    Duplicate(QueuedOperation),
    /// Not queued, for the reason given; the other operations of the request are unaffected.
    Rejected(ApiError),
}

/// A queued operation's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct QueuedOperation {
    /// The operation's id ([`Operation::id`]).
    #[serde(with = "wire::hash")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Hash"))]
    pub operation_id: B256,
}

/// Where a queued operation is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum OperationState {
    /// Stored, waiting for the next batch.
    Pending,
    /// In a transaction that was broadcast and is not yet confirmed.
    Submitted,
    /// Applied by the escrow, at the relayer's confirmation depth.
    Applied,
    /// Skipped by the escrow (`AuthorizationSkipped`); `reason` holds the escrow's error.
    Failed,
    /// Its deadline passed before it could be included; it will not be submitted.
    Expired,
}

/// `GET /v1/operations/{operation_id}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct OperationStatus {
    /// The operation's id.
    #[serde(with = "wire::hash")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Hash"))]
    pub operation_id: B256,
    /// Its kind.
    #[serde(rename = "type")]
    pub kind: OperationKind,
    /// Where it is.
    pub status: OperationState,
    /// The transaction that carries it (`submitted`, `applied`, `failed`), else `null`.
    #[serde(with = "wire::opt_hash")]
    #[cfg_attr(feature = "schemars", schemars(with = "Option<schema::Hash>"))]
    pub transaction_hash: Option<B256>,
    /// The block that included it (`applied`, `failed`), else `null`.
    pub block_number: Option<u64>,
    /// For `failed`: the ABI-encoded custom error the escrow gave (`AuthorizationSkipped.reason`).
    #[serde(with = "wire::opt_bytes")]
    #[cfg_attr(feature = "schemars", schemars(with = "Option<schema::HexBytes>"))]
    pub reason: Option<Bytes>,
}

// -------------------------------------------------------------------------------------------------
// Channel and settlement status
// -------------------------------------------------------------------------------------------------

/// `GET /v1/channels/{channel_id}`: the channel as the relayer has indexed it, and the highest receipt
/// it holds for it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ChannelStatus {
    /// The channel's id.
    #[serde(with = "wire::hash")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Hash"))]
    pub channel_id: B256,
    /// The payer.
    #[serde(with = "wire::address")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Address"))]
    pub payer: Address,
    /// The payee.
    #[serde(with = "wire::address")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Address"))]
    pub payee: Address,
    /// The salt.
    pub salt: u32,
    /// The state on the escrow.
    pub state: ChannelState,
    /// The deposit.
    #[serde(with = "amount::decimal")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Amount"))]
    pub deposit: u128,
    /// The settled total on the escrow.
    #[serde(with = "amount::decimal")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Amount"))]
    pub settled: u128,
    /// End of the challenge window while `closing`, else `null`.
    pub closes_at: Option<u64>,
    /// The highest receipt the relayer holds, or `null`. Anyone may settle it; it pays only the payee.
    pub latest_receipt: Option<HeldReceipt>,
    /// The block the escrow's state above is read at (confirmed).
    pub indexed_block: u64,
}

/// A receipt the relayer holds: enough, with the channel's payee and salt, to settle it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct HeldReceipt {
    /// The receipt's cumulative.
    #[serde(with = "amount::decimal")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Amount"))]
    pub cumulative: u128,
    /// The payer's signature.
    #[serde(with = "wire::signature")]
    #[cfg_attr(feature = "schemars", schemars(with = "SignatureJson"))]
    pub signature: CompactSignature,
}

/// How far a channel's settlement has got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum SettlementState {
    /// Nothing held beyond what is settled.
    UpToDate,
    /// A receipt above the settled total waits for a batch (threshold, age or close deadline).
    Pending,
    /// In a settlement transaction that was broadcast and is not yet confirmed.
    Submitted,
    /// Unsettled value is left but can no longer settle: the channel closed, or its challenge window
    /// ended.
    Expired,
}

/// `GET /v1/channels/{channel_id}/settlement`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct SettlementStatus {
    /// The channel's id.
    #[serde(with = "wire::hash")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Hash"))]
    pub channel_id: B256,
    /// Where its settlement is.
    pub status: SettlementState,
    /// The cumulative of the highest receipt the relayer holds (`"0"` if none).
    #[serde(with = "amount::decimal")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Amount"))]
    pub received: u128,
    /// The settled total on the escrow, at the relayer's confirmation depth.
    #[serde(with = "amount::decimal")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Amount"))]
    pub settled: u128,
    /// The latest settlement transaction that carried this channel, or `null`.
    pub transaction: Option<SettlementTransaction>,
}

/// A settlement transaction, as far as one channel is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct SettlementTransaction {
    /// Its hash (the latest broadcast one, if it was replaced with higher fees).
    #[serde(with = "wire::hash")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Hash"))]
    pub hash: B256,
    /// The cumulative it settles the channel to.
    #[serde(with = "amount::decimal")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Amount"))]
    pub cumulative: u128,
    /// The block that included it, or `null` while pending.
    pub block_number: Option<u64>,
}

// -------------------------------------------------------------------------------------------------
// Info, health, readiness
// -------------------------------------------------------------------------------------------------

/// `GET /v1/info`: which escrow this relayer serves, what it charges and what it accepts.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct RelayerInfo {
    /// [`API_VERSION`].
    pub api_version: String,
    /// The chain id of the escrow's EIP-712 domain.
    pub chain_id: u64,
    /// The escrow (EIP-712 `verifyingContract`).
    #[serde(with = "wire::address")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Address"))]
    pub escrow: Address,
    /// The escrow's ERC-20 token.
    #[serde(with = "wire::address")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Address"))]
    pub token: Address,
    /// The relayer's submitting account: where fees are credited.
    #[serde(with = "wire::address")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Address"))]
    pub relayer: Address,
    /// The settlement fee the relayer claims, in basis points of what it credits a payee; it settles a
    /// payee's receipts only if the payee's on-chain cap allows it.
    pub settle_fee_bps: u16,
    /// The lowest fee it accepts per gasless operation.
    pub min_fees: MinFees,
    /// Its request limits.
    pub limits: Limits,
}

/// The lowest fee a relayer accepts per kind of gasless operation, in token base units. A settlement
/// fee cap (`set_settle_fee_cap`) carries no fee.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct MinFees {
    /// For an `open`.
    #[serde(with = "amount::decimal")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Amount"))]
    pub open: u128,
    /// For a `top_up`.
    #[serde(with = "amount::decimal")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Amount"))]
    pub top_up: u128,
    /// For a `request_close`.
    #[serde(with = "amount::decimal")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Amount"))]
    pub request_close: u128,
    /// For a `withdraw`.
    #[serde(with = "amount::decimal")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Amount"))]
    pub withdraw: u128,
    /// For a `cooperative_close`.
    #[serde(with = "amount::decimal")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Amount"))]
    pub cooperative_close: u128,
}

impl MinFees {
    /// The minimum fee for `kind`.
    pub const fn for_kind(&self, kind: OperationKind) -> u128 {
        match kind {
            OperationKind::Open => self.open,
            OperationKind::TopUp => self.top_up,
            OperationKind::RequestClose => self.request_close,
            OperationKind::Withdraw => self.withdraw,
            OperationKind::SetSettleFeeCap => 0,
            OperationKind::CooperativeClose => self.cooperative_close,
        }
    }
}

/// Request limits a relayer enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Limits {
    /// Largest request body, in bytes.
    pub max_body_bytes: u64,
    /// Most receipts per `POST /v1/receipts`.
    pub max_receipts_per_request: u32,
    /// Most operations per `POST /v1/operations`.
    pub max_operations_per_request: u32,
}

impl Limits {
    /// The v1 limits: [`MAX_BODY_BYTES`], [`MAX_RECEIPTS_PER_REQUEST`], [`MAX_OPERATIONS_PER_REQUEST`].
    pub const V1: Self = Self {
        max_body_bytes: MAX_BODY_BYTES as u64,
        max_receipts_per_request: MAX_RECEIPTS_PER_REQUEST as u32,
        max_operations_per_request: MAX_OPERATIONS_PER_REQUEST as u32,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::V1
    }
}

/// `GET /healthz` (HTTP 200): the process is alive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Health {
    /// Always `ok`.
    pub status: HealthState,
}

/// The only liveness state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    /// Alive.
    Ok,
}

impl Health {
    /// `{"status": "ok"}`.
    pub const OK: Self = Self {
        status: HealthState::Ok,
    };
}

/// `GET /readyz`: HTTP 200 with `ready`, or 503 with `not_ready`, and the checks behind it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Readiness {
    /// Whether every check passed.
    pub status: ReadinessState,
    /// The individual checks (database, chain, indexer lag, …).
    pub checks: Vec<ReadinessCheck>,
}

impl Readiness {
    /// Readiness from `checks`: ready when all are ok.
    pub fn from_checks(checks: Vec<ReadinessCheck>) -> Self {
        let status = if checks.iter().all(|c| c.ok) {
            ReadinessState::Ready
        } else {
            ReadinessState::NotReady
        };
        Self { status, checks }
    }

    /// The HTTP status that goes with it: 200 or 503.
    pub const fn http_status(&self) -> u16 {
        match self.status {
            ReadinessState::Ready => 200,
            ReadinessState::NotReady => 503,
        }
    }
}

/// Whether the relayer takes traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReadinessState {
    /// Every check passed.
    Ready,
    /// At least one check failed.
    NotReady,
}

/// One readiness check.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ReadinessCheck {
    /// What was checked: `database`, `chain`, `indexer`, …
    pub name: String,
    /// Whether it passed.
    pub ok: bool,
    /// A short reason when it failed (no internals), else `null`.
    pub detail: Option<String>,
}

// -------------------------------------------------------------------------------------------------
// Serde forms of typed response fields
// -------------------------------------------------------------------------------------------------

/// `serde(with)` modules for the JSON forms of the conventions above.
mod wire {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    fn string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
        String::deserialize(deserializer)
    }

    /// `Address` as EIP-55 hex.
    pub(super) mod address {
        use super::*;
        use alloy_primitives::Address;

        pub(crate) fn serialize<S: Serializer>(value: &Address, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&value.to_checksum(None))
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Address, D::Error> {
            super::super::parse_address("address", &string(d)?).map_err(D::Error::custom)
        }
    }

    /// `B256` as lower-case `0x` hex.
    pub(super) mod hash {
        use super::*;
        use alloy_primitives::{B256, hex};

        pub(crate) fn serialize<S: Serializer>(value: &B256, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&hex::encode_prefixed(value))
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<B256, D::Error> {
            super::super::parse_b256("hash", &string(d)?).map_err(D::Error::custom)
        }
    }

    /// `Option<B256>`: hex or `null`.
    pub(super) mod opt_hash {
        use super::*;
        use alloy_primitives::B256;

        pub(crate) fn serialize<S: Serializer>(
            value: &Option<B256>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match value {
                Some(value) => super::hash::serialize(value, s),
                None => s.serialize_none(),
            }
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<B256>, D::Error> {
            Option::<String>::deserialize(d)?
                .map(|v| super::super::parse_b256("hash", &v).map_err(D::Error::custom))
                .transpose()
        }
    }

    /// `Option<Bytes>`: `0x` hex of any even length, or `null`.
    pub(super) mod opt_bytes {
        use super::*;
        use alloy_primitives::{Bytes, hex};

        pub(crate) fn serialize<S: Serializer>(
            value: &Option<Bytes>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match value {
                Some(value) => s.serialize_str(&hex::encode_prefixed(value)),
                None => s.serialize_none(),
            }
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<Bytes>, D::Error> {
            Option::<String>::deserialize(d)?
                .map(|v| {
                    v.strip_prefix("0x")
                        .and_then(|digits| hex::decode(digits).ok())
                        .map(Bytes::from)
                        .ok_or_else(|| D::Error::custom("expected 0x followed by hex byte pairs"))
                })
                .transpose()
        }
    }

    /// `CompactSignature` as `{"r", "vs"}`.
    pub(super) mod signature {
        use super::*;
        use crate::{CompactSignature, relayer_api::SignatureJson};
        use serde::Serialize;

        pub(crate) fn serialize<S: Serializer>(
            value: &CompactSignature,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            SignatureJson::from(value).serialize(s)
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<CompactSignature, D::Error> {
            SignatureJson::deserialize(d)?
                .parse("signature")
                .map_err(D::Error::custom)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MAX_AMOUNT, SigningKey, domain};
    use alloy_primitives::{address, b256, bytes};
    use serde_json::{Value, json};

    const PAYER: Address = address!("0x1a642f0E3c3aF545E7AcBD38b07251B3990914F1");
    const PAYEE: Address = address!("0x5050A4F4b3f9338C3472dcC01A87C76A144b3c9c");
    const ESCROW: Address = Address::repeat_byte(0xe5);
    const CHANNEL: B256 =
        b256!("0xf26689e6d6b24fa28e41abc2dc678ea392367fe09febe13473d8c464f767d793");
    const ONE_TOKEN: u128 = 1_000_000_000_000_000_000;
    const DEADLINE: u64 = 1_700_003_600;

    fn test_domain() -> Eip712Domain {
        domain(31_337, ESCROW)
    }

    fn key(byte: u8) -> SigningKey {
        SigningKey::from_bytes(&B256::repeat_byte(byte)).unwrap()
    }

    /// The payer (key 0x01…) paying the payee (key 0x02…) one token on salt 7, in the test domain.
    fn golden_receipt() -> Value {
        json!({
            "payee": "0x5050A4F4b3f9338C3472dcC01A87C76A144b3c9c",
            "salt": 7,
            "cumulative": "1000000000000000000",
            "signature": {
                "r": "0x0699f75294ad1011346408d3420b85a4aec67ab2640aba38c4ab97b1465919a5",
                "vs": "0x142c117351996d6ec9613c715326d36e96376c18b1cee1da256c570edc0188e4"
            }
        })
    }

    fn golden_open() -> Value {
        json!({
            "type": "open",
            "payer": "0x1a642f0E3c3aF545E7AcBD38b07251B3990914F1",
            "payee": "0x5050A4F4b3f9338C3472dcC01A87C76A144b3c9c",
            "salt": 7,
            "deposit": "5000000000000000000",
            "fee": "1000000000000000",
            "relayer": "0x7e7e7e7E7e7E7e7e7e7E7e7e7e7E7e7e7e7e7e7E",
            "deadline": 1700003600,
            "signature": {
                "r": "0x0246537e4fd0c75d354513e5726721e6d29a6945cbd7ea4871424f54649cb68a",
                "vs": "0xfa883ca570f6e5eb990631c04b9234b425344e78a6eecd52cb08c087c92d47e6"
            }
        })
    }

    fn golden_cooperative_close() -> Value {
        json!({
            "type": "cooperative_close",
            "payer": "0x1a642f0E3c3aF545E7AcBD38b07251B3990914F1",
            "payee": "0x5050A4F4b3f9338C3472dcC01A87C76A144b3c9c",
            "salt": 7,
            "cumulative": "1000000000000000000",
            "fee": "1000000000000000",
            "relayer": "0x7e7e7e7E7e7E7e7e7e7E7e7e7e7E7e7e7e7e7e7E",
            "channel_nonce": 1,
            "deadline": 1700003600,
            "payer_signature": {
                "r": "0xab469a4c23e56431534c6ae7a5c9582256651c51d9590e1fd2a2c521a0fd87e2",
                "vs": "0x13f70c0b0ad8ba99b6720fc04be98785e35acaf619e0c7363370020d931ed22e"
            },
            "payee_signature": {
                "r": "0xc8434503887727438c04a2a1a6fdd2c3dbe92b9080056d776fb0472ed642cf93",
                "vs": "0x5902379aae23bf840ab8206b41a73a58a1027960c290fbfdcc1d08c9eef1992b"
            }
        })
    }

    fn receipt_with(field: &str, value: Value) -> ReceiptSubmission {
        let mut json = golden_receipt();
        json[field] = value;
        serde_json::from_value(json).unwrap()
    }

    fn code<T: fmt::Debug>(result: Result<T, ApiError>) -> ErrorCode {
        result.unwrap_err().code
    }

    /// `value` serializes to exactly `golden`, and `golden` deserializes back to `value`.
    fn assert_golden<T>(value: &T, golden: Value)
    where
        T: Serialize + for<'de> Deserialize<'de> + PartialEq + fmt::Debug,
    {
        assert_eq!(serde_json::to_value(value).unwrap(), golden);
        assert_eq!(&serde_json::from_value::<T>(golden).unwrap(), value);
        let text = serde_json::to_string(value).unwrap();
        assert_eq!(&serde_json::from_str::<T>(&text).unwrap(), value);
    }

    // --- error codes -------------------------------------------------------------------------------

    #[test]
    fn error_codes_are_distinct_snake_case_and_round_trip() {
        let mut seen = std::collections::BTreeSet::new();
        for &code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(
                s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{s}"
            );
            assert!(seen.insert(s), "duplicate code {s}");
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

    // --- field parsing -----------------------------------------------------------------------------

    #[test]
    fn decimals_parse_canonical_digits_only() {
        for (text, value) in [
            ("0", 0),
            ("1", 1),
            ("1000000000000000000", ONE_TOKEN),
            ("340282366920938463463374607431768211455", u128::MAX),
        ] {
            assert_eq!(parse_decimal("x", text), Ok(value));
        }
        for bad in [
            "", "-1", "+1", "1.0", "1e18", "0x10", " 1", "1 ", "01", "00", "1_000", "١", "NaN",
        ] {
            assert_eq!(
                code(parse_decimal("x", bad)),
                ErrorCode::InvalidAmount,
                "{bad:?}"
            );
        }
        assert_eq!(
            code(parse_decimal(
                "x",
                "340282366920938463463374607431768211456"
            )),
            ErrorCode::AmountTooLarge
        );
        assert_eq!(
            code(parse_decimal("x", &"9".repeat(500))),
            ErrorCode::AmountTooLarge
        );
    }

    #[test]
    fn decimal_ranges_follow_the_solidity_types() {
        assert_eq!(parse_u96("x", &MAX_AMOUNT.to_string()), Ok(U96::MAX));
        assert_eq!(
            code(parse_u96("x", &(MAX_AMOUNT + 1).to_string())),
            ErrorCode::AmountTooLarge
        );
        assert_eq!(
            code(parse_u96("x", &"9".repeat(60))),
            ErrorCode::AmountTooLarge
        );
        assert_eq!(code(parse_u96("x", "1.5")), ErrorCode::InvalidAmount);
        assert_eq!(parse_u64("x", &u64::MAX.to_string()), Ok(u64::MAX));
        assert_eq!(
            code(parse_u64("x", &(u128::from(u64::MAX) + 1).to_string())),
            ErrorCode::AmountTooLarge
        );
        assert_eq!(check_deadline(MAX_UINT40).unwrap().to::<u64>(), MAX_UINT40);
        assert_eq!(
            code(check_deadline(MAX_UINT40 + 1)),
            ErrorCode::DeadlineOutOfRange
        );
    }

    #[test]
    fn addresses_parse_in_any_single_case_or_checksummed() {
        let lower = "0x5050a4f4b3f9338c3472dcc01a87c76a144b3c9c";
        let upper = "0x5050A4F4B3F9338C3472DCC01A87C76A144B3C9C";
        let checksummed = "0x5050A4F4b3f9338C3472dcC01A87C76A144b3c9c";
        for text in [lower, upper, checksummed] {
            assert_eq!(parse_address("a", text), Ok(PAYEE), "{text}");
        }
        for bad in [
            "0x5050A4F4b3f9338C3472dcC01A87C76A144b3c9C", // checksum broken by one letter's case
            "5050a4f4b3f9338c3472dcc01a87c76a144b3c9c",   // no 0x
            "0X5050a4f4b3f9338c3472dcc01a87c76a144b3c9c", // 0X
            "0x5050a4f4b3f9338c3472dcc01a87c76a144b3c9",  // 39 digits
            "0x5050a4f4b3f9338c3472dcc01a87c76a144b3c9c0", // 41 digits
            "0x5050a4f4b3f9338c3472dcc01a87c76a144b3c9g", // not hex
            "",
        ] {
            assert_eq!(
                code(parse_address("a", bad)),
                ErrorCode::InvalidAddress,
                "{bad}"
            );
        }
    }

    #[test]
    fn hashes_parse_as_32_bytes_of_hex() {
        let text = "0xf26689e6d6b24fa28e41abc2dc678ea392367fe09febe13473d8c464f767d793";
        assert_eq!(parse_b256("id", text), Ok(CHANNEL));
        assert_eq!(
            parse_b256("id", &text.to_uppercase().replacen("0X", "0x", 1)),
            Ok(CHANNEL)
        );
        for bad in [&text[2..], &text[..65], "0x", "0xzz"] {
            assert_eq!(code(parse_b256("id", bad)), ErrorCode::InvalidHash, "{bad}");
        }
    }

    // --- receipts ----------------------------------------------------------------------------------

    #[test]
    fn receipt_golden_json_verifies() {
        let payer = key(1);
        let receipt = Receipt {
            payee: key(2).address(),
            salt: 7,
            cumulative: U96::from(ONE_TOKEN),
        };
        let signature = payer
            .sign_digest(&receipt.eip712_signing_hash(&test_domain()))
            .unwrap();
        let submission = ReceiptSubmission::new(&receipt, &signature);
        assert_golden(&submission, golden_receipt());

        let recovered = submission.verify(&test_domain()).unwrap();
        assert_eq!(recovered.payer, PAYER);
        assert_eq!(recovered.channel_id, CHANNEL);
        assert_eq!(recovered.cumulative, ONE_TOKEN);
        assert_eq!(recovered.receipt, receipt);
        assert_eq!(recovered.signature, signature);
    }

    #[test]
    fn receipt_signed_for_another_domain_recovers_someone_else() {
        let submission: ReceiptSubmission = serde_json::from_value(golden_receipt()).unwrap();
        let elsewhere = submission.verify(&domain(1, ESCROW)).unwrap();
        assert_ne!(elsewhere.payer, PAYER);
        assert_ne!(elsewhere.channel_id, CHANNEL);
    }

    #[test]
    fn malformed_receipts_are_rejected_with_their_code() {
        let cases = [
            ("payee", json!("0x5050"), ErrorCode::InvalidAddress),
            (
                "payee",
                json!("0x0000000000000000000000000000000000000000"),
                ErrorCode::InvalidChannel,
            ),
            ("cumulative", json!("0"), ErrorCode::ZeroAmount),
            ("cumulative", json!("1.5"), ErrorCode::InvalidAmount),
            ("cumulative", json!("-1"), ErrorCode::InvalidAmount),
            ("cumulative", json!("007"), ErrorCode::InvalidAmount),
            (
                "cumulative",
                json!((MAX_AMOUNT + 1).to_string()),
                ErrorCode::AmountTooLarge,
            ),
            (
                "signature",
                json!({"r": "0x06", "vs": "0x14"}),
                ErrorCode::MalformedSignature,
            ),
            (
                "signature",
                json!({"r": "0x0699f75294ad1011346408d3420b85a4aec67ab2640aba38c4ab97b1465919a5",
                       "vs": "142c117351996d6ec9613c715326d36e96376c18b1cee1da256c570edc0188e4"}),
                ErrorCode::MalformedSignature,
            ),
        ];
        for (field, value, expected) in cases {
            let submission = receipt_with(field, value.clone());
            assert_eq!(
                code(submission.verify(&test_domain())),
                expected,
                "{field} = {value}"
            );
        }
    }

    #[test]
    fn bad_signatures_are_rejected_with_the_protocol_codes() {
        // vs with s above n/2: the malleable twin of a valid signature.
        let high_s = receipt_with(
            "signature",
            json!({"r": "0x0699f75294ad1011346408d3420b85a4aec67ab2640aba38c4ab97b1465919a5",
                   "vs": "0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a1"}),
        );
        assert_eq!(
            code(high_s.verify(&test_domain())),
            ErrorCode::SignatureHighS
        );
        let zero_r = receipt_with(
            "signature",
            json!({"r": format!("0x{}", "0".repeat(64)),
                   "vs": "0x142c117351996d6ec9613c715326d36e96376c18b1cee1da256c570edc0188e4"}),
        );
        assert_eq!(
            code(zero_r.verify(&test_domain())),
            ErrorCode::InvalidSignature
        );
    }

    #[test]
    fn a_batch_with_one_bad_receipt_still_parses_the_others() {
        let mut bad = golden_receipt();
        bad["cumulative"] = json!("12.5");
        let body = json!({
            "chain_id": 31337,
            "escrow": "0xE5e5E5E5e5e5E5E5E5E5e5E5e5e5e5E5e5e5e5e5",
            "receipts": [golden_receipt(), bad, golden_receipt()]
        });
        let request: SubmitReceiptsRequest = serde_json::from_value(body).unwrap();
        request.check(&test_domain()).unwrap();
        let results: Vec<_> = request
            .receipts
            .iter()
            .map(|r| r.verify(&test_domain()).map(|r| r.channel_id))
            .collect();
        assert_eq!(results[0], Ok(CHANNEL));
        assert_eq!(
            results[1].clone().unwrap_err().code,
            ErrorCode::InvalidAmount
        );
        assert_eq!(results[2], Ok(CHANNEL));
    }

    #[test]
    fn schema_violations_fail_the_whole_request() {
        for receipt in [
            json!({"payee": "0x00", "salt": 7, "signature": {"r": "", "vs": ""}}), // no cumulative
            json!({"payee": "0x00", "salt": -1, "cumulative": "1", "signature": {"r": "", "vs": ""}}),
            json!({"payee": "0x00", "salt": 7, "cumulative": 1, "signature": {"r": "", "vs": ""}}),
        ] {
            let body = json!({"chain_id": 1, "escrow": "0x00", "receipts": [receipt]});
            assert!(serde_json::from_value::<SubmitReceiptsRequest>(body).is_err());
        }
    }

    #[test]
    fn request_checks_batch_size_then_domain() {
        let receipt: ReceiptSubmission = serde_json::from_value(golden_receipt()).unwrap();
        let request = |n: usize, chain_id: u64, escrow: &str| SubmitReceiptsRequest {
            chain_id,
            escrow: escrow.to_owned(),
            receipts: vec![receipt.clone(); n],
        };
        let escrow = "0xe5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5";
        let d = test_domain();
        assert_eq!(request(1, 31_337, escrow).check(&d), Ok(()));
        assert_eq!(
            request(MAX_RECEIPTS_PER_REQUEST, 31_337, escrow).check(&d),
            Ok(())
        );
        assert_eq!(
            code(request(0, 31_337, escrow).check(&d)),
            ErrorCode::EmptyBatch
        );
        assert_eq!(
            code(request(MAX_RECEIPTS_PER_REQUEST + 1, 31_337, escrow).check(&d)),
            ErrorCode::BatchTooLarge
        );
        assert_eq!(
            code(request(1, 1, escrow).check(&d)),
            ErrorCode::WrongDomain
        );
        let other = "0xe5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e6";
        assert_eq!(
            code(request(1, 31_337, other).check(&d)),
            ErrorCode::WrongDomain
        );
        assert_eq!(
            code(request(1, 31_337, "escrow").check(&d)),
            ErrorCode::InvalidAddress
        );
        assert_eq!(
            SubmitReceiptsRequest::new(31_337, ESCROW, vec![receipt]).escrow,
            "0xE5e5E5E5e5e5E5E5E5E5e5E5e5e5e5E5e5e5e5e5"
        );
    }

    #[test]
    fn a_full_batch_fits_the_body_limit() {
        let receipt: ReceiptSubmission = serde_json::from_value(golden_receipt()).unwrap();
        let mut widest = receipt;
        widest.salt = u32::MAX;
        widest.cumulative = MAX_AMOUNT.to_string();
        let request =
            SubmitReceiptsRequest::new(u64::MAX, ESCROW, vec![widest; MAX_RECEIPTS_PER_REQUEST]);
        let pretty = serde_json::to_vec_pretty(&request).unwrap();
        assert!(pretty.len() < MAX_BODY_BYTES, "{} bytes", pretty.len());
    }

    #[test]
    fn admission_follows_the_escrow() {
        let open = ChannelSnapshot {
            state: ChannelState::Open,
            deposit: 100,
            settled: 10,
            closes_at: None,
            held: Some(40),
        };
        assert_eq!(open.admit(41, 0), Ok(Admission::New));
        assert_eq!(open.admit(100, 0), Ok(Admission::New));
        assert_eq!(open.admit(40, 0), Ok(Admission::Duplicate));
        assert_eq!(code(open.admit(39, 0)), ErrorCode::StaleReceipt);
        assert_eq!(code(open.admit(101, 0)), ErrorCode::ExceedsDeposit);
        let nothing_held = ChannelSnapshot { held: None, ..open };
        assert_eq!(nothing_held.admit(11, 0), Ok(Admission::New));
        assert_eq!(code(nothing_held.admit(10, 0)), ErrorCode::StaleReceipt);

        let closing = ChannelSnapshot {
            state: ChannelState::Closing,
            closes_at: Some(1_000),
            ..open
        };
        assert_eq!(closing.admit(50, 1_000), Ok(Admission::New));
        assert_eq!(code(closing.admit(50, 1_001)), ErrorCode::ChallengeExpired);
        assert_eq!(closing.admit(40, 1_001), Ok(Admission::Duplicate));

        let closed = ChannelSnapshot {
            state: ChannelState::Closed,
            ..open
        };
        assert_eq!(code(closed.admit(50, 0)), ErrorCode::ChannelClosed);
        assert_eq!(closed.admit(40, 0), Ok(Admission::Duplicate));
    }

    #[test]
    fn receipts_response_golden() {
        let recovered = serde_json::from_value::<ReceiptSubmission>(golden_receipt())
            .unwrap()
            .verify(&test_domain())
            .unwrap();
        let response = SubmitReceiptsResponse {
            results: vec![
                ReceiptResult::admitted(&recovered, Admission::New),
                ReceiptResult::admitted(&recovered, Admission::Duplicate),
                ReceiptResult::Rejected(ApiError::new(
                    ErrorCode::StaleReceipt,
                    "cumulative 5 is below the 1000000000000000000 already held",
                )),
            ],
        };
        let accepted = json!({
            "channel_id": "0xf26689e6d6b24fa28e41abc2dc678ea392367fe09febe13473d8c464f767d793",
            "payer": "0x1a642f0E3c3aF545E7AcBD38b07251B3990914F1",
            "cumulative": "1000000000000000000"
        });
        let mut duplicate = accepted.clone();
        let mut accepted = accepted;
        accepted["status"] = json!("accepted");
        duplicate["status"] = json!("duplicate");
        assert_golden(
            &response,
            json!({"results": [
                accepted,
                duplicate,
                {"status": "rejected", "code": "stale_receipt",
                 "message": "cumulative 5 is below the 1000000000000000000 already held"}
            ]}),
        );
        assert!(response.results[0].is_held() && response.results[1].is_held());
        assert!(!response.results[2].is_held());
    }

    // --- operations --------------------------------------------------------------------------------

    /// The relayer the test operations name (as the SDK names the relayer it submits through).
    fn test_relayer() -> Address {
        Address::repeat_byte(0x7e)
    }

    #[test]
    fn only_the_named_relayer_may_submit() {
        for operation in signed_operations() {
            match operation.submitter() {
                Some(named) => {
                    assert_eq!(named, test_relayer());
                    assert_eq!(operation.check_submitter(test_relayer()), Ok(()));
                    let err = operation
                        .check_submitter(Address::repeat_byte(1))
                        .unwrap_err();
                    assert_eq!(err.code, ErrorCode::WrongRelayer);
                }
                None => assert_eq!(operation.check_submitter(Address::repeat_byte(1)), Ok(())),
            }
        }
        // The fee cap's relayer is who may take settlement fees, not who submits it.
        let cap = &signed_operations()[4];
        assert_eq!(cap.kind(), OperationKind::SetSettleFeeCap);
        assert_eq!(cap.submitter(), None);
    }

    fn signed_operations() -> Vec<Operation> {
        let d = test_domain();
        let (payer, payee) = (key(1), key(2));
        let open = OpenChannel {
            payee: payee.address(),
            salt: 7,
            deposit: U96::from(5 * ONE_TOKEN),
            fee: U96::from(ONE_TOKEN / 1_000),
            relayer: test_relayer(),
            channelNonce: 0,
            deadline: U40::from(DEADLINE),
        };
        let top_up = TopUp {
            payee: payee.address(),
            salt: 7,
            deposit: U96::from(6 * ONE_TOKEN),
            fee: U96::from(1u8),
            relayer: Address::ZERO,
            channelNonce: 2,
            deadline: U40::from(DEADLINE),
        };
        let close = RequestClose {
            payee: payee.address(),
            salt: 7,
            fee: U96::ZERO,
            relayer: test_relayer(),
            deadline: U40::from(DEADLINE),
        };
        let withdrawal = Withdrawal {
            to: Address::repeat_byte(9),
            amount: u128::MAX,
            fee: 3,
            relayer: Address::ZERO,
            nonce: u64::MAX,
            deadline: U40::from(DEADLINE),
        };
        let cap = SettleFeeCap {
            bps: 25,
            relayer: test_relayer(),
            nonce: 0,
            deadline: U40::from(DEADLINE),
        };
        let cooperative = CooperativeClose {
            payer: payer.address(),
            payee: payee.address(),
            salt: 7,
            cumulative: U96::from(ONE_TOKEN),
            fee: U96::from(ONE_TOKEN / 1_000),
            relayer: test_relayer(),
            channelNonce: 1,
            deadline: U40::from(DEADLINE),
        };
        let sign = |k: &SigningKey, digest: B256| k.sign_digest(&digest).unwrap();
        vec![
            Operation::Open {
                payer: payer.address(),
                signature: sign(&payer, open.eip712_signing_hash(&d)),
                message: open,
            },
            Operation::TopUp {
                payer: payer.address(),
                signature: sign(&payer, top_up.eip712_signing_hash(&d)),
                message: top_up,
            },
            Operation::RequestClose {
                payer: payer.address(),
                signature: sign(&payer, close.eip712_signing_hash(&d)),
                message: close,
            },
            Operation::Withdraw {
                owner: payer.address(),
                signature: sign(&payer, withdrawal.eip712_signing_hash(&d)),
                message: withdrawal,
            },
            Operation::SetSettleFeeCap {
                payee: payee.address(),
                signature: sign(&payee, cap.eip712_signing_hash(&d)),
                message: cap,
            },
            Operation::CooperativeClose {
                payer_signature: sign(&payer, cooperative.eip712_signing_hash(&d)),
                payee_signature: sign(&payee, cooperative.eip712_signing_hash(&d)),
                message: cooperative,
            },
        ]
    }

    #[test]
    fn operation_golden_json() {
        let operations = signed_operations();
        assert_golden(&OperationSubmission::from(&operations[0]), golden_open());
        assert_golden(
            &OperationSubmission::from(&operations[5]),
            golden_cooperative_close(),
        );
        assert_eq!(
            operations[0].id(&test_domain()),
            b256!("0x57f3896482d8c44e95caf0b245c771e4c90ebcc983f9e40f6a44eddfd43b9f00")
        );
        assert_eq!(
            operations[5].id(&test_domain()),
            b256!("0x929afd9076d66b305c8d7392ff901deb1c7d81966d826cda115366635519546b")
        );
    }

    #[test]
    fn operation_kind_names_are_their_serde_tags() {
        for kind in OperationKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }

    #[test]
    fn identical_messages_from_two_signers_have_different_ids() {
        let message = SettleFeeCap {
            bps: 25,
            relayer: test_relayer(),
            nonce: 0,
            deadline: U40::from(2_000_000_000u64),
        };
        let domain = test_domain();
        let digest = message.eip712_signing_hash(&domain);
        let [a, b] = [1u8, 2].map(|byte| Operation::SetSettleFeeCap {
            payee: Address::repeat_byte(byte),
            message: message.clone(),
            signature: CompactSignature::new(B256::ZERO, B256::ZERO),
        });
        assert_ne!(a.id(&domain), b.id(&domain));
        let mut bytes = Address::repeat_byte(1).to_vec();
        bytes.extend_from_slice(digest.as_slice());
        assert_eq!(a.id(&domain), keccak256(bytes));
    }

    #[test]
    fn every_operation_round_trips_and_verifies() {
        let kinds = [
            OperationKind::Open,
            OperationKind::TopUp,
            OperationKind::RequestClose,
            OperationKind::Withdraw,
            OperationKind::SetSettleFeeCap,
            OperationKind::CooperativeClose,
        ];
        for (operation, kind) in signed_operations().iter().zip(kinds) {
            let submission = OperationSubmission::from(operation);
            let json = serde_json::to_value(&submission).unwrap();
            assert_eq!(json["type"], serde_json::to_value(kind).unwrap());
            let back: OperationSubmission = serde_json::from_value(json).unwrap();
            assert_eq!(back, submission);
            assert_eq!((back.kind(), operation.kind()), (kind, kind));
            let (parsed, id) = back.verify(&test_domain(), DEADLINE).unwrap();
            assert_eq!(&parsed, operation);
            assert_eq!(id, operation.id(&test_domain()));
            assert_eq!(
                code(parsed.verify(&test_domain(), DEADLINE + 1)),
                ErrorCode::SignatureExpired
            );
        }
    }

    #[test]
    fn operation_accessors() {
        let operations = signed_operations();
        let fees: Vec<_> = operations.iter().map(Operation::fee).collect();
        assert_eq!(fees, [ONE_TOKEN / 1_000, 1, 0, 3, 0, ONE_TOKEN / 1_000]);
        assert!(operations.iter().all(|o| o.deadline() == DEADLINE));
        let channels: Vec<_> = operations.iter().map(Operation::channel_id).collect();
        assert_eq!(
            channels,
            [
                Some(CHANNEL),
                Some(CHANNEL),
                Some(CHANNEL),
                None,
                None,
                Some(CHANNEL)
            ]
        );
    }

    #[test]
    fn an_operation_naming_another_signer_is_rejected() {
        let mut open = golden_open();
        open["payer"] = json!(key(3).address().to_checksum(None));
        let submission: OperationSubmission = serde_json::from_value(open).unwrap();
        assert_eq!(
            code(submission.verify(&test_domain(), 0)),
            ErrorCode::WrongSigner
        );

        let mut close = golden_cooperative_close();
        close["payee_signature"] = close["payer_signature"].clone();
        let submission: OperationSubmission = serde_json::from_value(close).unwrap();
        assert_eq!(
            code(submission.verify(&test_domain(), 0)),
            ErrorCode::WrongSigner
        );
    }

    #[test]
    fn malformed_operations_are_rejected_with_their_code() {
        let with = |golden: Value, field: &str, value: Value| {
            let mut json = golden;
            json[field] = value;
            serde_json::from_value::<OperationSubmission>(json).unwrap()
        };
        let submissions = signed_operations()
            .iter()
            .map(|o| serde_json::to_value(OperationSubmission::from(o)).unwrap())
            .collect::<Vec<_>>();
        let [open, top_up, close, withdraw, cap, cooperative] = submissions.try_into().unwrap();
        let payer = json!(PAYER.to_checksum(None));
        let zero = json!(Address::ZERO.to_checksum(None));
        let cases = [
            (
                with(open.clone(), "payee", payer.clone()),
                ErrorCode::InvalidChannel,
            ),
            (
                with(open.clone(), "payer", zero.clone()),
                ErrorCode::InvalidChannel,
            ),
            (
                with(open.clone(), "deposit", json!("0")),
                ErrorCode::ZeroAmount,
            ),
            (
                with(open.clone(), "fee", json!("0x10")),
                ErrorCode::InvalidAmount,
            ),
            (
                with(open.clone(), "deadline", json!(MAX_UINT40 + 1)),
                ErrorCode::DeadlineOutOfRange,
            ),
            (
                with(top_up, "deposit", json!((MAX_AMOUNT + 1).to_string())),
                ErrorCode::AmountTooLarge,
            ),
            (
                with(close, "signature", json!({"r": "0x", "vs": "0x"})),
                ErrorCode::MalformedSignature,
            ),
            (
                with(withdraw.clone(), "to", zero.clone()),
                ErrorCode::InvalidAddress,
            ),
            (
                with(withdraw.clone(), "owner", json!("0xabc")),
                ErrorCode::InvalidAddress,
            ),
            (
                with(withdraw.clone(), "amount", json!("0")),
                ErrorCode::ZeroAmount,
            ),
            (
                with(withdraw, "nonce", json!("18446744073709551616")),
                ErrorCode::AmountTooLarge,
            ),
            (
                with(cap.clone(), "bps", json!(10_001)),
                ErrorCode::FeeCapTooHigh,
            ),
            (with(cap, "payee", zero), ErrorCode::InvalidAddress),
            (
                with(cooperative.clone(), "payee", payer),
                ErrorCode::InvalidChannel,
            ),
            (
                with(
                    cooperative,
                    "payee_signature",
                    json!({"r": "0x00", "vs": "0x00"}),
                ),
                ErrorCode::MalformedSignature,
            ),
        ];
        for (submission, expected) in cases {
            assert_eq!(code(submission.parse()), expected, "{submission:?}");
        }
        let mut unknown = open;
        unknown["type"] = json!("mint");
        assert!(serde_json::from_value::<OperationSubmission>(unknown).is_err());
    }

    #[test]
    fn operations_request_checks_batch_size_then_domain() {
        let op = OperationSubmission::from(&signed_operations()[0]);
        let request = |n| SubmitOperationsRequest::new(31_337, ESCROW, vec![op.clone(); n]);
        assert_eq!(
            request(MAX_OPERATIONS_PER_REQUEST).check(&test_domain()),
            Ok(())
        );
        assert_eq!(
            code(request(0).check(&test_domain())),
            ErrorCode::EmptyBatch
        );
        assert_eq!(
            code(request(MAX_OPERATIONS_PER_REQUEST + 1).check(&test_domain())),
            ErrorCode::BatchTooLarge
        );
        assert_eq!(
            code(request(1).check(&domain(1, ESCROW))),
            ErrorCode::WrongDomain
        );
    }

    #[test]
    fn operations_response_golden() {
        let id = b256!("0x57f3896482d8c44e95caf0b245c771e4c90ebcc983f9e40f6a44eddfd43b9f00");
        let response = SubmitOperationsResponse {
            results: vec![
                OperationResult::Queued(QueuedOperation { operation_id: id }),
                OperationResult::Duplicate(QueuedOperation { operation_id: id }),
                OperationResult::Rejected(ApiError::new(
                    ErrorCode::FeeTooLow,
                    "fee 0 is below the minimum 1000",
                )),
            ],
        };
        assert_golden(
            &response,
            json!({"results": [
                {"status": "queued", "operation_id": "0x57f3896482d8c44e95caf0b245c771e4c90ebcc983f9e40f6a44eddfd43b9f00"},
                {"status": "duplicate", "operation_id": "0x57f3896482d8c44e95caf0b245c771e4c90ebcc983f9e40f6a44eddfd43b9f00"},
                {"status": "rejected", "code": "fee_too_low", "message": "fee 0 is below the minimum 1000"}
            ]}),
        );
    }

    #[test]
    fn operation_status_golden() {
        let status = OperationStatus {
            operation_id: b256!(
                "0x57f3896482d8c44e95caf0b245c771e4c90ebcc983f9e40f6a44eddfd43b9f00"
            ),
            kind: OperationKind::Open,
            status: OperationState::Failed,
            transaction_hash: Some(B256::repeat_byte(0xab)),
            block_number: Some(123),
            // Some ABI-encoded custom error; a real one also carries its arguments.
            reason: Some(bytes!("db42144d")),
        };
        assert_golden(
            &status,
            json!({
                "operation_id": "0x57f3896482d8c44e95caf0b245c771e4c90ebcc983f9e40f6a44eddfd43b9f00",
                "type": "open",
                "status": "failed",
                "transaction_hash": format!("0x{}", "ab".repeat(32)),
                "block_number": 123,
                "reason": "0xdb42144d"
            }),
        );
        let pending = OperationStatus {
            status: OperationState::Pending,
            transaction_hash: None,
            block_number: None,
            reason: None,
            ..status
        };
        let json = serde_json::to_value(&pending).unwrap();
        assert_eq!(json["status"], "pending");
        assert_eq!(json["transaction_hash"], Value::Null);
        assert_eq!(json["reason"], Value::Null);
        assert_eq!(
            serde_json::from_value::<OperationStatus>(json).unwrap(),
            pending
        );
    }

    // --- status, info, health ----------------------------------------------------------------------

    fn golden_channel_status() -> (ChannelStatus, Value) {
        let signature = serde_json::from_value::<ReceiptSubmission>(golden_receipt())
            .unwrap()
            .parse()
            .unwrap()
            .signature;
        let status = ChannelStatus {
            channel_id: CHANNEL,
            payer: PAYER,
            payee: PAYEE,
            salt: 7,
            state: ChannelState::Closing,
            deposit: 5 * ONE_TOKEN,
            settled: ONE_TOKEN / 2,
            closes_at: Some(1_700_086_400),
            latest_receipt: Some(HeldReceipt {
                cumulative: ONE_TOKEN,
                signature,
            }),
            indexed_block: 1_234,
        };
        let json = json!({
            "channel_id": "0xf26689e6d6b24fa28e41abc2dc678ea392367fe09febe13473d8c464f767d793",
            "payer": "0x1a642f0E3c3aF545E7AcBD38b07251B3990914F1",
            "payee": "0x5050A4F4b3f9338C3472dcC01A87C76A144b3c9c",
            "salt": 7,
            "state": "closing",
            "deposit": "5000000000000000000",
            "settled": "500000000000000000",
            "closes_at": 1700086400,
            "latest_receipt": {
                "cumulative": "1000000000000000000",
                "signature": golden_receipt()["signature"].clone()
            },
            "indexed_block": 1234
        });
        (status, json)
    }

    #[test]
    fn channel_status_golden() {
        let (status, json) = golden_channel_status();
        assert_golden(&status, json);
        let fresh = ChannelStatus {
            state: ChannelState::Open,
            closes_at: None,
            latest_receipt: None,
            ..status
        };
        let json = serde_json::to_value(&fresh).unwrap();
        assert_eq!(
            (&json["closes_at"], &json["latest_receipt"]),
            (&Value::Null, &Value::Null)
        );
        assert_eq!(
            serde_json::from_value::<ChannelStatus>(json).unwrap(),
            fresh
        );
    }

    #[test]
    fn malformed_response_fields_do_not_decode() {
        let (_, json) = golden_channel_status();
        for (field, value) in [
            ("deposit", json!(5_000_000_000_000_000_000u128)),
            ("deposit", json!("5e18")),
            ("payer", json!("0x1a642f0e3c3af545e7acbd38b07251b3990914F1")),
            ("channel_id", json!("0xf266")),
            ("state", json!("opening")),
            (
                "latest_receipt",
                json!({"cumulative": "1", "signature": {"r": "0x", "vs": "0x"}}),
            ),
        ] {
            let mut bad = json.clone();
            bad[field] = value;
            assert!(
                serde_json::from_value::<ChannelStatus>(bad).is_err(),
                "{field}"
            );
        }
    }

    #[test]
    fn settlement_status_golden() {
        let status = SettlementStatus {
            channel_id: CHANNEL,
            status: SettlementState::Submitted,
            received: ONE_TOKEN,
            settled: ONE_TOKEN / 2,
            transaction: Some(SettlementTransaction {
                hash: B256::repeat_byte(0xcd),
                cumulative: ONE_TOKEN,
                block_number: None,
            }),
        };
        assert_golden(
            &status,
            json!({
                "channel_id": "0xf26689e6d6b24fa28e41abc2dc678ea392367fe09febe13473d8c464f767d793",
                "status": "submitted",
                "received": "1000000000000000000",
                "settled": "500000000000000000",
                "transaction": {
                    "hash": format!("0x{}", "cd".repeat(32)),
                    "cumulative": "1000000000000000000",
                    "block_number": null
                }
            }),
        );
        for (state, text) in [
            (SettlementState::UpToDate, "up_to_date"),
            (SettlementState::Pending, "pending"),
            (SettlementState::Expired, "expired"),
        ] {
            assert_eq!(serde_json::to_value(state).unwrap(), json!(text));
        }
    }

    #[test]
    fn info_golden() {
        let info = RelayerInfo {
            api_version: API_VERSION.to_owned(),
            chain_id: 31_337,
            escrow: ESCROW,
            token: Address::repeat_byte(0x70),
            relayer: Address::repeat_byte(0x4e),
            settle_fee_bps: 25,
            min_fees: MinFees {
                open: 1_000,
                top_up: 1_000,
                request_close: 1_000,
                withdraw: 2_000,
                cooperative_close: 0,
            },
            limits: Limits::default(),
        };
        assert_golden(
            &info,
            json!({
                "api_version": "v1",
                "chain_id": 31337,
                "escrow": "0xE5e5E5E5e5e5E5E5E5E5e5E5e5e5e5E5e5e5e5e5",
                "token": Address::repeat_byte(0x70).to_checksum(None),
                "relayer": Address::repeat_byte(0x4e).to_checksum(None),
                "settle_fee_bps": 25,
                "min_fees": {
                    "open": "1000",
                    "top_up": "1000",
                    "request_close": "1000",
                    "withdraw": "2000",
                    "cooperative_close": "0"
                },
                "limits": {
                    "max_body_bytes": 1048576,
                    "max_receipts_per_request": 1000,
                    "max_operations_per_request": 100
                }
            }),
        );
        assert_eq!(info.min_fees.for_kind(OperationKind::Withdraw), 2_000);
        assert_eq!(info.min_fees.for_kind(OperationKind::SetSettleFeeCap), 0);
    }

    #[test]
    fn health_and_readiness_golden() {
        assert_golden(&Health::OK, json!({"status": "ok"}));
        let ready = Readiness::from_checks(vec![ReadinessCheck {
            name: "database".to_owned(),
            ok: true,
            detail: None,
        }]);
        assert_eq!(ready.http_status(), 200);
        assert_golden(
            &ready,
            json!({"status": "ready", "checks": [{"name": "database", "ok": true, "detail": null}]}),
        );
        let not_ready = Readiness::from_checks(vec![
            ReadinessCheck {
                name: "database".to_owned(),
                ok: true,
                detail: None,
            },
            ReadinessCheck {
                name: "chain".to_owned(),
                ok: false,
                detail: Some("no block for 60 s".to_owned()),
            },
        ]);
        assert_eq!(not_ready.status, ReadinessState::NotReady);
        assert_eq!(not_ready.http_status(), 503);
        assert_eq!(
            serde_json::to_value(&not_ready).unwrap()["status"],
            "not_ready"
        );
    }

    /// Every JSON example of `docs/relayer-api.md` is a value of one of the API's types, re-encodes to the
    /// very same JSON, and — for requests — passes the relayer's checks (its signatures are real).
    #[test]
    fn the_documented_examples_are_valid() {
        fn same<T: Serialize + for<'de> Deserialize<'de>>(value: &Value) -> Option<T> {
            let typed: T = serde_json::from_value(value.clone()).ok()?;
            (serde_json::to_value(&typed).ok()? == *value).then_some(typed)
        }
        let doc = include_str!("../../../docs/relayer-api.md");
        let blocks: Vec<&str> = doc
            .split("```json\n")
            .skip(1)
            .map(|rest| rest.split("```").next().unwrap())
            .collect();
        assert!(blocks.len() >= 10, "{} examples", blocks.len());
        let d = test_domain();
        for block in blocks {
            let value: Value = serde_json::from_str(block).unwrap();
            if let Some(request) = same::<SubmitReceiptsRequest>(&value) {
                request.check(&d).unwrap();
                for receipt in &request.receipts {
                    assert_eq!(receipt.verify(&d).unwrap().payer, PAYER);
                }
            } else if let Some(request) = same::<SubmitOperationsRequest>(&value) {
                request.check(&d).unwrap();
                for operation in &request.operations {
                    operation.verify(&d, DEADLINE).unwrap();
                }
            } else {
                let known = same::<SubmitReceiptsResponse>(&value).is_some()
                    || same::<SubmitOperationsResponse>(&value).is_some()
                    || same::<OperationStatus>(&value).is_some()
                    || same::<ChannelStatus>(&value).is_some()
                    || same::<SettlementStatus>(&value).is_some()
                    || same::<RelayerInfo>(&value).is_some()
                    || same::<Readiness>(&value).is_some()
                    || same::<ApiError>(&value).is_some();
                assert!(known, "not an API value: {value}");
            }
        }
    }

    #[test]
    fn paths_are_versioned() {
        for path in [
            paths::INFO,
            paths::RECEIPTS,
            paths::OPERATIONS,
            paths::OPERATION,
            paths::CHANNEL,
            paths::SETTLEMENT,
            paths::OPENAPI,
        ] {
            assert!(path.starts_with(&format!("/{API_VERSION}/")), "{path}");
        }
    }
}
