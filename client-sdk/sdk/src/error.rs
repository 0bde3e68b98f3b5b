//! The crate's one error type.

use piecepay_protocol::alloy_primitives::{Address, B256};

use crate::Amount;

/// `Result` with this crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = core::result::Result<T, E>;

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
}

impl Error {
    /// The stable, machine-readable code of this error; [`Error::Protocol`] passes the protocol crate's on.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::Protocol(inner) => inner.code(),
            Self::InvalidState { .. } => "invalid_state",
            Self::InvalidTerms(_) => "invalid_terms",
            Self::InvalidPolicy(_) => "invalid_policy",
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
        ];
        let mut codes: Vec<_> = all.iter().map(Error::code).collect();
        assert!(
            codes
                .iter()
                .all(|c| c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        );
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }

    #[test]
    fn protocol_errors_keep_their_code() {
        let inner = piecepay_protocol::Error::InvalidSignature;
        assert_eq!(Error::from(inner.clone()).code(), inner.code());
        assert_eq!(Error::from(inner.clone()).to_string(), inner.to_string());
    }
}
