//! The crate's one error type, and its stable numeric status for C.

use std::ffi::CStr;

/// `Result` with this crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Everything a C ABI call can fail with. The string [`code`](Error::code) is the same stable code the
/// SDK and the wire codec use (and what goes on the wire); [`status`](Error::status) is its number in C.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A required pointer argument was NULL.
    #[error("argument {0} is NULL")]
    NullArgument(&'static str),

    /// An argument that is not NULL but not usable (a data pointer NULL with a non-zero length, …).
    #[error("invalid argument {0}")]
    InvalidArgument(&'static str),

    /// A bug: the library panicked. The panic was caught at the boundary; the handle may be inconsistent
    /// and should be freed.
    #[error("internal error (panic): {0}")]
    Panic(String),

    /// The sessions or the channel core refused the call (its code is the SDK's: the channel's, the
    /// sessions' `unexpected_message`, `terms_mismatch`, … or the wire codec's).
    #[error(transparent)]
    Sdk(#[from] piecepay_sdk::Error),

    /// Key or signature failure (the protocol crate's code).
    #[error(transparent)]
    Protocol(#[from] piecepay_protocol::Error),

    /// The peer's bytes are not a valid message, or a message could not be encoded (the wire codec's
    /// code).
    #[error(transparent)]
    Wire(#[from] piecepay_wire::Error),

    /// The thing asked for does not exist yet (no receipt accepted, no close signed).
    #[error("nothing to return: {0}")]
    NotFound(&'static str),

    /// The client agent failed (its code: `config`, `wallet`, `deployment`, `unavailable`, `storage`, …).
    #[error("{message}")]
    Agent {
        /// The agent's stable code.
        code: &'static str,
        /// Its message.
        message: String,
    },
}

impl From<piecepay_agent::Error> for Error {
    fn from(error: piecepay_agent::Error) -> Self {
        Self::Agent {
            code: error.code(),
            message: error.to_string(),
        }
    }
}

/// A call's result in C: zero for success, a stable positive number otherwise. New statuses may be added;
/// treat an unknown one like `PIECEPAY_STATUS_OTHER` and read `piecepay_last_error_code`.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PiecepayStatus {
    /// Success.
    Ok = 0,
    /// `null_argument`: a required pointer was NULL.
    NullArgument = 1,
    /// `invalid_argument`.
    InvalidArgument = 2,
    /// `panic`: a bug in the library, caught at the boundary.
    Panic = 3,
    /// `not_found`: nothing to return yet.
    NotFound = 4,
    /// The peer's bytes are not a valid message (`too_large`, `too_deep`, `malformed`, `not_canonical`,
    /// `integer_out_of_range`, `not_a_message`, `missing_field`, `invalid_field`). An `error` reply is
    /// in the outcome.
    MalformedMessage = 10,
    /// `unknown_message`: a message type this version does not know. An `error` reply is in the outcome.
    UnknownMessage = 11,
    /// `unexpected_message`: valid, but not taken in this role or state. An `error` reply is in the
    /// outcome.
    UnexpectedMessage = 12,
    /// `terms_mismatch`: the payee's terms name another chain, escrow or token.
    TermsMismatch = 13,
    /// `price_above_max`: the payee asks more than the payer pays.
    PriceAboveMax = 14,
    /// `top_up_needed`: the deposit cannot cover the payment; nothing was signed.
    TopUpNeeded = 15,
    /// `invalid_state`: not a legal transition from the channel's state.
    InvalidState = 20,
    /// `invalid_terms`.
    InvalidTerms = 21,
    /// `invalid_policy`: a configuration value out of range.
    InvalidPolicy = 22,
    /// `invalid_channel`: zero address, or payer = payee.
    InvalidChannel = 23,
    /// `zero_amount`.
    ZeroAmount = 24,
    /// `amount_too_large`: beyond the escrow's `uint96`.
    AmountTooLarge = 25,
    /// `deadline_out_of_range`: beyond the escrow's `uint40`.
    DeadlineOutOfRange = 26,
    /// `non_increasing_cumulative`.
    NonIncreasingCumulative = 27,
    /// `exceeds_deposit`.
    ExceedsDeposit = 28,
    /// `stale_top_up`.
    StaleTopUp = 29,
    /// `wrong_signer`: a signature by someone else than the party that must sign.
    WrongSigner = 30,
    /// `wrong_key`.
    WrongKey = 31,
    /// `channel_mismatch`: a message for another channel.
    ChannelMismatch = 32,
    /// `stale_receipt`: not above the highest receipt accepted.
    StaleReceipt = 33,
    /// `challenge_expired`.
    ChallengeExpired = 34,
    /// `challenge_period_active`.
    ChallengePeriodActive = 35,
    /// `signature_expired`.
    SignatureExpired = 36,
    /// `close_below_receipts`.
    CloseBelowReceipts = 37,
    /// `bid_too_low`.
    BidTooLow = 38,
    /// `invalid_secret_key`.
    InvalidSecretKey = 40,
    /// `invalid_signature` or `invalid_signature_length`.
    InvalidSignature = 41,
    /// `signature_high_s`: a malleable signature.
    SignatureHighS = 42,
    /// `unencodable_recovery_id`.
    UnencodableRecoveryId = 43,
    /// `over_budget`: a payment beyond the budget; nothing was signed.
    OverBudget = 44,
    /// `config`: the agent's configuration is wrong (the message names the key); nothing started.
    Config = 50,
    /// `wallet`: no key, a missing keystore, a wrong password.
    Wallet = 51,
    /// `deployment`: the manifest, RPC node or a relayer does not match the configured deployment.
    Deployment = 52,
    /// `unavailable`: what the call needs is not configured or not reachable (an RPC node, a relayer).
    Unavailable = 53,
    /// `storage`: the agent's database failed.
    Storage = 54,
    /// `shut_down`: the agent is shut down.
    ShutDown = 55,
    /// Any other code; `piecepay_last_error_code` gives it.
    Other = 99,
}

impl PiecepayStatus {
    /// The status of a stable string code.
    pub fn from_code(code: &str) -> Self {
        match code {
            "null_argument" => Self::NullArgument,
            "invalid_argument" => Self::InvalidArgument,
            "panic" => Self::Panic,
            "not_found" => Self::NotFound,
            "too_large"
            | "too_deep"
            | "malformed"
            | "not_canonical"
            | "integer_out_of_range"
            | "not_a_message"
            | "missing_field"
            | "invalid_field" => Self::MalformedMessage,
            "unknown_message" => Self::UnknownMessage,
            "unexpected_message" => Self::UnexpectedMessage,
            "terms_mismatch" => Self::TermsMismatch,
            "price_above_max" => Self::PriceAboveMax,
            "top_up_needed" => Self::TopUpNeeded,
            "invalid_state" => Self::InvalidState,
            "invalid_terms" => Self::InvalidTerms,
            "invalid_policy" => Self::InvalidPolicy,
            "invalid_channel" => Self::InvalidChannel,
            "zero_amount" => Self::ZeroAmount,
            "amount_too_large" => Self::AmountTooLarge,
            "deadline_out_of_range" => Self::DeadlineOutOfRange,
            "non_increasing_cumulative" => Self::NonIncreasingCumulative,
            "exceeds_deposit" => Self::ExceedsDeposit,
            "stale_top_up" => Self::StaleTopUp,
            "wrong_signer" => Self::WrongSigner,
            "wrong_key" => Self::WrongKey,
            "channel_mismatch" => Self::ChannelMismatch,
            "stale_receipt" => Self::StaleReceipt,
            "challenge_expired" => Self::ChallengeExpired,
            "challenge_period_active" => Self::ChallengePeriodActive,
            "signature_expired" => Self::SignatureExpired,
            "close_below_receipts" => Self::CloseBelowReceipts,
            "bid_too_low" => Self::BidTooLow,
            "invalid_secret_key" => Self::InvalidSecretKey,
            "invalid_signature" | "invalid_signature_length" => Self::InvalidSignature,
            "signature_high_s" => Self::SignatureHighS,
            "unencodable_recovery_id" => Self::UnencodableRecoveryId,
            "over_budget" => Self::OverBudget,
            "config" => Self::Config,
            "wallet" => Self::Wallet,
            "deployment" => Self::Deployment,
            "unavailable" => Self::Unavailable,
            "storage" => Self::Storage,
            "shut_down" => Self::ShutDown,
            _ => Self::Other,
        }
    }

    /// The status's name, as the header spells it.
    pub fn name(self) -> &'static str {
        self.c_name().to_str().unwrap_or_default()
    }

    /// [`name`](Self::name) as a C string.
    pub const fn c_name(self) -> &'static CStr {
        match self {
            Self::Ok => c"PIECEPAY_STATUS_OK",
            Self::NullArgument => c"PIECEPAY_STATUS_NULL_ARGUMENT",
            Self::InvalidArgument => c"PIECEPAY_STATUS_INVALID_ARGUMENT",
            Self::Panic => c"PIECEPAY_STATUS_PANIC",
            Self::NotFound => c"PIECEPAY_STATUS_NOT_FOUND",
            Self::MalformedMessage => c"PIECEPAY_STATUS_MALFORMED_MESSAGE",
            Self::UnknownMessage => c"PIECEPAY_STATUS_UNKNOWN_MESSAGE",
            Self::UnexpectedMessage => c"PIECEPAY_STATUS_UNEXPECTED_MESSAGE",
            Self::TermsMismatch => c"PIECEPAY_STATUS_TERMS_MISMATCH",
            Self::PriceAboveMax => c"PIECEPAY_STATUS_PRICE_ABOVE_MAX",
            Self::TopUpNeeded => c"PIECEPAY_STATUS_TOP_UP_NEEDED",
            Self::InvalidState => c"PIECEPAY_STATUS_INVALID_STATE",
            Self::InvalidTerms => c"PIECEPAY_STATUS_INVALID_TERMS",
            Self::InvalidPolicy => c"PIECEPAY_STATUS_INVALID_POLICY",
            Self::InvalidChannel => c"PIECEPAY_STATUS_INVALID_CHANNEL",
            Self::ZeroAmount => c"PIECEPAY_STATUS_ZERO_AMOUNT",
            Self::AmountTooLarge => c"PIECEPAY_STATUS_AMOUNT_TOO_LARGE",
            Self::DeadlineOutOfRange => c"PIECEPAY_STATUS_DEADLINE_OUT_OF_RANGE",
            Self::NonIncreasingCumulative => c"PIECEPAY_STATUS_NON_INCREASING_CUMULATIVE",
            Self::ExceedsDeposit => c"PIECEPAY_STATUS_EXCEEDS_DEPOSIT",
            Self::StaleTopUp => c"PIECEPAY_STATUS_STALE_TOP_UP",
            Self::WrongSigner => c"PIECEPAY_STATUS_WRONG_SIGNER",
            Self::WrongKey => c"PIECEPAY_STATUS_WRONG_KEY",
            Self::ChannelMismatch => c"PIECEPAY_STATUS_CHANNEL_MISMATCH",
            Self::StaleReceipt => c"PIECEPAY_STATUS_STALE_RECEIPT",
            Self::ChallengeExpired => c"PIECEPAY_STATUS_CHALLENGE_EXPIRED",
            Self::ChallengePeriodActive => c"PIECEPAY_STATUS_CHALLENGE_PERIOD_ACTIVE",
            Self::SignatureExpired => c"PIECEPAY_STATUS_SIGNATURE_EXPIRED",
            Self::CloseBelowReceipts => c"PIECEPAY_STATUS_CLOSE_BELOW_RECEIPTS",
            Self::BidTooLow => c"PIECEPAY_STATUS_BID_TOO_LOW",
            Self::InvalidSecretKey => c"PIECEPAY_STATUS_INVALID_SECRET_KEY",
            Self::InvalidSignature => c"PIECEPAY_STATUS_INVALID_SIGNATURE",
            Self::SignatureHighS => c"PIECEPAY_STATUS_SIGNATURE_HIGH_S",
            Self::UnencodableRecoveryId => c"PIECEPAY_STATUS_UNENCODABLE_RECOVERY_ID",
            Self::OverBudget => c"PIECEPAY_STATUS_OVER_BUDGET",
            Self::Config => c"PIECEPAY_STATUS_CONFIG",
            Self::Wallet => c"PIECEPAY_STATUS_WALLET",
            Self::Deployment => c"PIECEPAY_STATUS_DEPLOYMENT",
            Self::Unavailable => c"PIECEPAY_STATUS_UNAVAILABLE",
            Self::Storage => c"PIECEPAY_STATUS_STORAGE",
            Self::ShutDown => c"PIECEPAY_STATUS_SHUT_DOWN",
            Self::Other => c"PIECEPAY_STATUS_OTHER",
        }
    }
}

impl Error {
    /// The stable, machine-readable code: the SDK's, the protocol crate's or the wire codec's for errors
    /// from there.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NullArgument(_) => "null_argument",
            Self::InvalidArgument(_) => "invalid_argument",
            Self::Panic(_) => "panic",
            Self::Sdk(inner) => inner.code(),
            Self::Protocol(inner) => inner.code(),
            Self::Wire(inner) => inner.code(),
            Self::NotFound(_) => "not_found",
            Self::Agent { code, .. } => code,
        }
    }

    /// The status C sees.
    pub fn status(&self) -> PiecepayStatus {
        PiecepayStatus::from_code(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sdk_code_of_the_core_has_its_own_status() {
        let core = [
            "invalid_state",
            "invalid_terms",
            "invalid_policy",
            "invalid_channel",
            "zero_amount",
            "amount_too_large",
            "deadline_out_of_range",
            "non_increasing_cumulative",
            "exceeds_deposit",
            "stale_top_up",
            "wrong_signer",
            "wrong_key",
            "channel_mismatch",
            "stale_receipt",
            "challenge_expired",
            "challenge_period_active",
            "signature_expired",
            "close_below_receipts",
            "bid_too_low",
            "invalid_secret_key",
            "invalid_signature",
            "signature_high_s",
            "unencodable_recovery_id",
        ];
        let mut statuses: Vec<_> = core.iter().map(|c| PiecepayStatus::from_code(c)).collect();
        assert!(!statuses.contains(&PiecepayStatus::Other));
        statuses.sort_by_key(|s| *s as i32);
        statuses.dedup();
        assert_eq!(statuses.len(), core.len());
    }

    #[test]
    fn codes_map_to_their_status() {
        let e = Error::Wire(piecepay_wire::Error::UnknownMessage("x".into()));
        assert_eq!(e.status(), PiecepayStatus::UnknownMessage);
        assert_eq!(Error::Panic(String::new()).status(), PiecepayStatus::Panic);
        assert_eq!(
            PiecepayStatus::from_code("storage"),
            PiecepayStatus::Storage
        );
        assert_eq!(PiecepayStatus::from_code("rpc"), PiecepayStatus::Other);
    }
}
