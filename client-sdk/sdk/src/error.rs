//! The crate's one error type.

use core::fmt;
use std::sync::Arc;

use piecepay_protocol::{
    alloy_primitives::{Address, B256, Bytes, U256},
    relayer_api::ErrorCode,
};

use crate::Amount;

/// `Result` with this crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// The error underneath an [`Error::Storage`] or [`Error::Rpc`] (sqlx's, alloy's), kept whole so that
/// [`source`](std::error::Error::source) chains reach it. Shared through an `Arc` because [`Error`] is
/// `Clone`; two causes are equal when their messages are, since the underlying errors have no equality.
#[derive(Clone, Debug)]
pub struct Cause(Arc<dyn std::error::Error + Send + Sync>);

impl Cause {
    /// `error`, kept as the cause.
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Arc::new(error))
    }

    /// A cause that is only a message (a failure with no error value beneath it).
    pub fn msg(message: impl Into<String>) -> Self {
        let error: Box<dyn std::error::Error + Send + Sync> = message.into().into();
        Self(Arc::from(error))
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl PartialEq for Cause {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Eq for Cause {}

/// Everything the channel core can refuse.
///
/// A refused call changes nothing: the state machine is left exactly as it was. Each variant has a stable
/// machine-readable [`code`](Error::code) that callers may put on the wire (the BEP 10 `error{code}` and
/// `reject` messages, relayer JSON errors); the display text is for humans and may change.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A signature could not be made or recovered; the code is the protocol crate's.
    #[error(transparent)]
    Protocol(#[from] piecepay_protocol::Error),

    /// The peer's bytes are not a valid message (the wire codec's code).
    #[error(transparent)]
    Wire(#[from] piecepay_wire::Error),

    /// A valid message that this side does not take in its role or state.
    #[error("unexpected {kind} message: {reason}")]
    UnexpectedMessage {
        /// The message's `t`.
        kind: &'static str,
        /// Why it is not taken now.
        reason: &'static str,
    },

    /// The payee's terms name another chain, escrow, token (or payee) than the payer's session.
    #[error("terms for another {0} than this payer's")]
    TermsMismatch(&'static str),

    /// The payee asks more per piece than the payer's maximum price (or budget).
    #[error("price {price} is above what this payer pays ({max_price})")]
    PriceAboveMax {
        /// The price asked.
        price: Amount,
        /// The most the payer pays.
        max_price: Amount,
    },

    /// The deposit does not cover the payment; nothing was signed.
    #[error("deposit {deposit} cannot cover cumulative {required}; top up to {suggested}")]
    TopUpNeeded {
        /// The channel's deposit.
        deposit: Amount,
        /// What the payment needs the deposit to reach.
        required: Amount,
        /// A total deposit that covers it.
        suggested: Amount,
    },

    /// What the call needs does not exist yet (no bid accepted, no terms received).
    #[error("nothing to act on: {0}")]
    NotFound(&'static str),

    /// The call is not a legal transition from the channel's current state.
    #[error("cannot {action} a channel that is {state}")]
    InvalidState {
        /// What was attempted.
        action: &'static str,
        /// The state the channel is in.
        state: &'static str,
    },

    /// Terms that cannot work: zero price, price above the escrow's range, or a credit window that does not
    /// cover a single piece.
    #[error("invalid terms: {0}")]
    InvalidTerms(&'static str),

    /// A policy or configuration value out of range.
    #[error("invalid policy: {0}")]
    InvalidPolicy(&'static str),

    /// A payment would take the bidder past its budget; nothing was signed.
    #[error("a payment of {price} exceeds the remaining budget {remaining}")]
    OverBudget {
        /// The piece's price.
        price: Amount,
        /// What is left of the budget.
        remaining: Amount,
    },

    /// Channel parties the escrow would refuse (zero address, payer = payee).
    #[error("invalid channel: {0}")]
    InvalidChannel(&'static str),

    /// A payment, deposit or top-up of zero.
    #[error("amount must be positive")]
    ZeroAmount,

    /// An amount beyond the escrow's `uint96` channel range.
    #[error("amount {amount} exceeds the escrow's uint96 range")]
    AmountTooLarge {
        /// The amount asked for.
        amount: Amount,
    },

    /// A deadline beyond the escrow's `uint40` timestamps.
    #[error("deadline {deadline} exceeds the escrow's uint40 range")]
    DeadlineOutOfRange {
        /// The deadline asked for.
        deadline: u64,
    },

    /// The payer was asked to sign a cumulative amount not above one it already signed for the channel.
    #[error("cumulative {cumulative} is not above the {latest} already signed")]
    NonIncreasingCumulative {
        /// The cumulative asked for.
        cumulative: Amount,
        /// The highest cumulative already signed.
        latest: Amount,
    },

    /// A cumulative amount (or settled total) above the channel's deposit.
    #[error("cumulative {cumulative} exceeds the deposit {deposit}")]
    ExceedsDeposit {
        /// The amount asked for or received.
        cumulative: Amount,
        /// The channel's deposit.
        deposit: Amount,
    },

    /// A top-up (or its confirmation) that does not raise the deposit.
    #[error("top-up to {requested} does not raise the deposit {deposit}")]
    StaleTopUp {
        /// The channel's deposit.
        deposit: Amount,
        /// The new total asked for or reported.
        requested: Amount,
    },

    /// A signature that recovers someone other than the party who must have signed.
    #[error("signed by {recovered}, expected {expected}")]
    WrongSigner {
        /// The address the signature recovers.
        recovered: Address,
        /// The address that must have signed.
        expected: Address,
    },

    /// A signing key that is not the channel party's.
    #[error("key of {key} given, the channel party is {expected}")]
    WrongKey {
        /// The key's address.
        key: Address,
        /// The channel party's address.
        expected: Address,
    },

    /// A message for another channel (other payee or salt).
    #[error("message for channel {actual}, expected {expected}")]
    ChannelMismatch {
        /// This channel's id.
        expected: B256,
        /// The id the message pays on.
        actual: B256,
    },

    /// A receipt not above the highest one already accepted: it adds nothing.
    #[error("receipt cumulative {cumulative} is not above the {latest} already accepted")]
    StaleReceipt {
        /// The receipt's cumulative.
        cumulative: Amount,
        /// The highest cumulative accepted.
        latest: Amount,
    },

    /// The challenge window is over: no receipt can be settled on this channel any more.
    #[error("the challenge window ended at {closes_at}")]
    ChallengeExpired {
        /// End of the challenge window.
        closes_at: u64,
    },

    /// The challenge window is still running: the close cannot be finalized yet.
    #[error("the challenge window runs until {closes_at}")]
    ChallengePeriodActive {
        /// End of the challenge window.
        closes_at: u64,
    },

    /// A signed message whose deadline has passed.
    #[error("signature expired at {deadline}")]
    SignatureExpired {
        /// The message's deadline.
        deadline: u64,
    },

    /// A cooperative close for less than the payee already holds receipts for.
    #[error("cooperative close at {cumulative} is below the accepted receipt of {latest}")]
    CloseBelowReceipts {
        /// The close's cumulative.
        cumulative: Amount,
        /// The highest cumulative accepted.
        latest: Amount,
    },

    /// A bid below the payee's minimum price.
    #[error("bid {bid} is below the minimum price {min_price}")]
    BidTooLow {
        /// The price per piece offered.
        bid: Amount,
        /// The lowest price the payee accepts.
        min_price: Amount,
    },

    /// The store's database failed (IO, lock timeout, migration): treat the write as not durable (do not
    /// acknowledge or send on it). Retrying is safe.
    #[error("storage failed: {0}")]
    Storage(#[source] Cause),

    /// The store has no record of the channel (save it first).
    #[error("no stored channel {channel}")]
    UnknownChannel {
        /// The channel id.
        channel: B256,
    },

    /// A stored record that does not decode or does not restore (a damaged or foreign database).
    #[error("corrupt stored record: {0}")]
    CorruptRecord(String),

    /// The relayer refused a request (HTTP 4xx). The code is the relayer API's, passed on as this error's
    /// [`code`](Error::code) (`wrong_domain`, `rate_limited`, `batch_too_large`, …; `unknown` for a code
    /// newer than this SDK); asking again unchanged gets the same answer.
    #[error("relayer refused the request (HTTP {status}): {code}: {message}")]
    Relayer {
        /// The HTTP status.
        status: u16,
        /// The API's error code.
        code: ErrorCode,
        /// The relayer's explanation, for humans.
        message: String,
    },

    /// The relayer could not be reached, timed out or kept answering HTTP 5xx through every retry.
    /// Everything the API accepts is idempotent, so trying again later is safe; a payee can also settle
    /// on chain itself.
    #[error("relayer unavailable after {attempts} attempts: {reason}")]
    RelayerUnavailable {
        /// How many requests were made.
        attempts: u32,
        /// The last failure.
        reason: String,
    },

    /// The relayer answered with a body that does not decode or does not match the request.
    #[error("invalid relayer response: {0}")]
    InvalidRelayerResponse(String),

    /// The escrow: `account`'s free balance `available` is below `required` (amount plus fee).
    #[error("free balance of {account} is {available}, {required} required")]
    InsufficientBalance {
        /// Whose balance.
        account: Address,
        /// Its free balance.
        available: U256,
        /// What the operation needed.
        required: U256,
    },

    /// The escrow would hold more than 2^128 − 1 tokens.
    #[error("the escrow would hold {holdings}, above 2^128 - 1")]
    HoldingsOverflow {
        /// What it would hold.
        holdings: U256,
    },

    /// The escrow: the channel id is taken (open or closed; a closed channel stays a tombstone). Pick
    /// another salt.
    #[error("channel {channel_id} exists already")]
    ChannelExists {
        /// The channel id.
        channel_id: B256,
    },

    /// The escrow: the channel is not in a state that allows the operation.
    #[error("channel {channel_id} is {state} on chain")]
    InvalidChannelState {
        /// The channel id.
        channel_id: B256,
        /// Its state on chain: `none`, `open`, `closing` or `closed`.
        state: &'static str,
    },

    /// The escrow: a signed nonce is not the account's next one.
    #[error("nonce {provided} given for {account}, expected {expected}")]
    InvalidNonce {
        /// The signer.
        account: Address,
        /// Its next nonce on chain.
        expected: u64,
        /// The nonce signed.
        provided: u64,
    },

    /// The escrow: a settlement fee cap above 10,000 bps.
    #[error("fee cap {bps} bps is above 10000")]
    FeeCapTooHigh {
        /// The cap asked for.
        bps: u16,
    },

    /// The escrow's constructor: a challenge period outside [1 s, 30 days].
    #[error("invalid challenge period {period}")]
    InvalidChallengePeriod {
        /// The period asked for, in seconds.
        period: U256,
    },

    /// A settlement batch that is not a whole number of well-formed groups.
    #[error("malformed settle batch at byte {offset}")]
    MalformedBatch {
        /// Where the truncated header or receipts start.
        offset: U256,
    },

    /// The token: `spender`'s allowance is below what a transfer needs.
    #[error("allowance of {spender} is {allowance}, {needed} needed")]
    InsufficientAllowance {
        /// Who was to move the tokens (the escrow).
        spender: Address,
        /// The allowance.
        allowance: U256,
        /// What the transfer needed.
        needed: U256,
    },

    /// The token: `account` holds fewer tokens than a transfer needs.
    #[error("{account} holds {balance} tokens, {needed} needed")]
    InsufficientTokens {
        /// Whose tokens.
        account: Address,
        /// Its token balance.
        balance: U256,
        /// What the transfer needed.
        needed: U256,
    },

    /// A signed operation names `expected` as the only relayer that may submit it; `caller` did.
    #[error("the operation names {expected} as its relayer, {caller} submitted it")]
    WrongRelayer {
        /// The relayer the operation names.
        expected: Address,
        /// Who submitted it.
        caller: Address,
    },

    /// A signed operation carries channel nonce `provided`; the channel's is `expected` (someone advanced
    /// it, voiding what was signed before): sign again under the new nonce.
    #[error("channel {channel_id} has nonce {expected}, the operation was signed under {provided}")]
    ChannelNonceMismatch {
        /// The channel.
        channel_id: B256,
        /// The channel's nonce.
        expected: u16,
        /// The nonce the operation carries.
        provided: u16,
    },

    /// The token refused a transfer the escrow made (returned false).
    #[error("token {token} refused the transfer")]
    TokenTransferFailed {
        /// The token.
        token: Address,
    },

    /// A contract call reverted with data this SDK does not know (a panic, a string, another
    /// contract's error): the raw revert data.
    #[error("reverted: {data}")]
    Reverted {
        /// The revert data.
        data: Bytes,
    },

    /// The JSON-RPC node could not be reached or answered with an error that is not a revert; retrying
    /// later may succeed.
    #[error("rpc failed: {0}")]
    Rpc(#[source] Cause),

    /// A transaction was sent but its receipt did not come (timeout, or the node went away while
    /// waiting): it may still be mined. Look `tx_hash` up before sending the same action again — a
    /// deposit or a withdrawal repeated blindly happens twice.
    #[error("transaction {tx_hash} sent, outcome unknown: {reason}")]
    TransactionPending {
        /// The transaction.
        tx_hash: B256,
        /// Why the wait ended.
        reason: String,
    },

    /// A transaction was mined but reverted (it passed gas estimation, then the chain changed).
    #[error("transaction {tx_hash} reverted")]
    TransactionFailed {
        /// The transaction.
        tx_hash: B256,
    },

    /// The address is not a piecepay escrow on this chain (no code, or another EIP-712 domain).
    #[error("{escrow} is not the expected escrow: {reason}")]
    EscrowMismatch {
        /// The address given.
        escrow: Address,
        /// What did not match.
        reason: &'static str,
    },

    /// The chain returned something the escrow never produces (a mined call without its event, an
    /// unknown outcome byte).
    #[error("unexpected chain data: {0}")]
    UnexpectedChainData(String),
}

impl Error {
    /// The stable, machine-readable code of this error; [`Error::Protocol`] passes the protocol crate's on,
    /// [`Error::Relayer`] the relayer API's.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Protocol(inner) => inner.code(),
            Self::Wire(inner) => inner.code(),
            Self::UnexpectedMessage { .. } => "unexpected_message",
            Self::TermsMismatch(_) => "terms_mismatch",
            Self::PriceAboveMax { .. } => "price_above_max",
            Self::TopUpNeeded { .. } => "top_up_needed",
            Self::NotFound(_) => "not_found",
            Self::InvalidState { .. } => "invalid_state",
            Self::InvalidTerms(_) => "invalid_terms",
            Self::InvalidPolicy(_) => "invalid_policy",
            Self::OverBudget { .. } => "over_budget",
            Self::InvalidChannel(_) => "invalid_channel",
            Self::ZeroAmount => "zero_amount",
            Self::AmountTooLarge { .. } => "amount_too_large",
            Self::DeadlineOutOfRange { .. } => "deadline_out_of_range",
            Self::NonIncreasingCumulative { .. } => "non_increasing_cumulative",
            Self::ExceedsDeposit { .. } => "exceeds_deposit",
            Self::StaleTopUp { .. } => "stale_top_up",
            Self::WrongSigner { .. } => "wrong_signer",
            Self::WrongKey { .. } => "wrong_key",
            Self::ChannelMismatch { .. } => "channel_mismatch",
            Self::StaleReceipt { .. } => "stale_receipt",
            Self::ChallengeExpired { .. } => "challenge_expired",
            Self::ChallengePeriodActive { .. } => "challenge_period_active",
            Self::SignatureExpired { .. } => "signature_expired",
            Self::CloseBelowReceipts { .. } => "close_below_receipts",
            Self::BidTooLow { .. } => "bid_too_low",
            Self::Storage(_) => "storage",
            Self::UnknownChannel { .. } => "unknown_channel",
            Self::CorruptRecord(_) => "corrupt_record",
            Self::Relayer { code, .. } => code.as_str(),
            Self::RelayerUnavailable { .. } => "relayer_unavailable",
            Self::InvalidRelayerResponse(_) => "invalid_relayer_response",
            Self::InsufficientBalance { .. } => "insufficient_balance",
            Self::HoldingsOverflow { .. } => "holdings_overflow",
            Self::ChannelExists { .. } => "channel_exists",
            Self::InvalidChannelState { .. } => "invalid_channel_state",
            Self::InvalidNonce { .. } => "invalid_nonce",
            Self::FeeCapTooHigh { .. } => "fee_cap_too_high",
            Self::InvalidChallengePeriod { .. } => "invalid_challenge_period",
            Self::MalformedBatch { .. } => "malformed_batch",
            Self::InsufficientAllowance { .. } => "insufficient_allowance",
            Self::InsufficientTokens { .. } => "insufficient_tokens",
            Self::WrongRelayer { .. } => "wrong_relayer",
            Self::ChannelNonceMismatch { .. } => "channel_nonce_mismatch",
            Self::TokenTransferFailed { .. } => "token_transfer_failed",
            Self::Reverted { .. } => "reverted",
            Self::Rpc(_) => "rpc",
            Self::TransactionPending { .. } => "transaction_pending",
            Self::TransactionFailed { .. } => "transaction_failed",
            Self::EscrowMismatch { .. } => "escrow_mismatch",
            Self::UnexpectedChainData(_) => "unexpected_chain_data",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_snake_case() {
        let all = [
            Error::Protocol(piecepay_protocol::Error::HighS),
            Error::InvalidState {
                action: "pay",
                state: "closed",
            },
            Error::InvalidTerms(""),
            Error::InvalidPolicy(""),
            Error::OverBudget {
                price: 0,
                remaining: 0,
            },
            Error::InvalidChannel(""),
            Error::ZeroAmount,
            Error::AmountTooLarge { amount: 0 },
            Error::DeadlineOutOfRange { deadline: 0 },
            Error::NonIncreasingCumulative {
                cumulative: 0,
                latest: 0,
            },
            Error::ExceedsDeposit {
                cumulative: 0,
                deposit: 0,
            },
            Error::StaleTopUp {
                deposit: 0,
                requested: 0,
            },
            Error::WrongSigner {
                recovered: Address::ZERO,
                expected: Address::ZERO,
            },
            Error::WrongKey {
                key: Address::ZERO,
                expected: Address::ZERO,
            },
            Error::ChannelMismatch {
                expected: B256::ZERO,
                actual: B256::ZERO,
            },
            Error::StaleReceipt {
                cumulative: 0,
                latest: 0,
            },
            Error::ChallengeExpired { closes_at: 0 },
            Error::ChallengePeriodActive { closes_at: 0 },
            Error::SignatureExpired { deadline: 0 },
            Error::CloseBelowReceipts {
                cumulative: 0,
                latest: 0,
            },
            Error::BidTooLow {
                bid: 0,
                min_price: 0,
            },
            Error::Storage(Cause::msg("")),
            Error::UnknownChannel {
                channel: B256::ZERO,
            },
            Error::CorruptRecord(String::new()),
            Error::Relayer {
                status: 429,
                code: ErrorCode::RateLimited,
                message: String::new(),
            },
            Error::RelayerUnavailable {
                attempts: 0,
                reason: String::new(),
            },
            Error::InvalidRelayerResponse(String::new()),
            Error::InsufficientBalance {
                account: Address::ZERO,
                available: U256::ZERO,
                required: U256::ZERO,
            },
            Error::HoldingsOverflow {
                holdings: U256::ZERO,
            },
            Error::ChannelExists {
                channel_id: B256::ZERO,
            },
            Error::InvalidChannelState {
                channel_id: B256::ZERO,
                state: "none",
            },
            Error::InvalidNonce {
                account: Address::ZERO,
                expected: 0,
                provided: 0,
            },
            Error::FeeCapTooHigh { bps: 0 },
            Error::InvalidChallengePeriod { period: U256::ZERO },
            Error::MalformedBatch { offset: U256::ZERO },
            Error::InsufficientAllowance {
                spender: Address::ZERO,
                allowance: U256::ZERO,
                needed: U256::ZERO,
            },
            Error::InsufficientTokens {
                account: Address::ZERO,
                balance: U256::ZERO,
                needed: U256::ZERO,
            },
            Error::WrongRelayer {
                expected: Address::ZERO,
                caller: Address::ZERO,
            },
            Error::ChannelNonceMismatch {
                channel_id: B256::ZERO,
                expected: 0,
                provided: 0,
            },
            Error::TokenTransferFailed {
                token: Address::ZERO,
            },
            Error::Reverted { data: Bytes::new() },
            Error::Rpc(Cause::msg("")),
            Error::TransactionPending {
                tx_hash: B256::ZERO,
                reason: String::new(),
            },
            Error::TransactionFailed {
                tx_hash: B256::ZERO,
            },
            Error::EscrowMismatch {
                escrow: Address::ZERO,
                reason: "",
            },
            Error::UnexpectedChainData(String::new()),
            Error::Wire(piecepay_wire::Error::NotAMessage("")),
            Error::UnexpectedMessage {
                kind: "",
                reason: "",
            },
            Error::TermsMismatch(""),
            Error::PriceAboveMax {
                price: 0,
                max_price: 0,
            },
            Error::TopUpNeeded {
                deposit: 0,
                required: 0,
                suggested: 0,
            },
            Error::NotFound(""),
        ];
        piecepay_test_support::assert_error_codes(all.iter().map(Error::code));
    }

    #[test]
    fn protocol_errors_keep_their_code() {
        let inner = piecepay_protocol::Error::InvalidSignature;
        assert_eq!(Error::from(inner.clone()).code(), inner.code());
        assert_eq!(Error::from(inner.clone()).to_string(), inner.to_string());
    }
}
