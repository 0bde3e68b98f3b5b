//! What a node's refusal of `eth_sendRawTransaction` means for the submitter.
//!
//! Three refusals mean the transaction, or one with its nonce, **may already be on its way**: "already
//! known" (the node has this exact transaction), "nonce too low" (the nonce is mined — maybe by this
//! very job, maybe by an earlier attempt of it) and "replacement underpriced" (another transaction with
//! this nonce is pending — maybe an earlier attempt). Retrying them blindly loops or, worse, re-signs a
//! settled job under a new nonce; the submitter instead reconciles with the chain (receipts of every
//! stored attempt, the account's nonce).

/// The class of an `eth_sendRawTransaction` failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SendErrorKind {
    /// The node already has this exact transaction (geth "already known", anvil "transaction already
    /// imported"). Possibly sent.
    AlreadyKnown,
    /// The nonce is below the account's: mined already, by this transaction or another. Possibly sent.
    NonceTooLow,
    /// Another transaction with this nonce is pending and this one does not pay 10 % more on both
    /// fields. Possibly sent.
    ReplacementUnderpriced,
    /// The nonce leaves a gap above the account's pending nonce (some nodes refuse those).
    NonceTooHigh,
    /// `maxFeePerGas` is below the current base fee (some nodes refuse instead of queueing): bump.
    FeeTooLow,
    /// The signer cannot pay `gas × maxFeePerGas`: an operator must fund it.
    InsufficientFunds,
    /// Anything else the node refused (intrinsic gas, oversized, a bad chain id…).
    Rejected,
}

impl SendErrorKind {
    /// Whether the transaction or another of the same nonce may be pending or mined: reconcile with the
    /// chain instead of retrying.
    pub const fn possibly_sent(self) -> bool {
        matches!(
            self,
            Self::AlreadyKnown | Self::NonceTooLow | Self::ReplacementUnderpriced
        )
    }

    /// A stable snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AlreadyKnown => "already_known",
            Self::NonceTooLow => "nonce_too_low",
            Self::ReplacementUnderpriced => "replacement_underpriced",
            Self::NonceTooHigh => "nonce_too_high",
            Self::FeeTooLow => "fee_too_low",
            Self::InsufficientFunds => "insufficient_funds",
            Self::Rejected => "rejected",
        }
    }
}

/// Classifies the message of a JSON-RPC error response to `eth_sendRawTransaction`. Matches the phrasing
/// of geth, reth, anvil, Erigon, Nethermind and Besu, case-insensitively.
pub fn classify_send_error(message: &str) -> SendErrorKind {
    let m = message.to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| m.contains(n));
    if has(&[
        "already known",
        "already imported",
        "alreadyknown",
        "already exists",
        "known transaction",
        "already in the mempool",
        "already_exists",
    ]) {
        SendErrorKind::AlreadyKnown
    } else if has(&[
        "nonce too low",
        "oldnonce",
        "nonce is too low",
        "nonce_too_low",
    ]) {
        SendErrorKind::NonceTooLow
    } else if has(&[
        "replacement transaction underpriced",
        "replacement underpriced",
        "replacementnotallowed",
        "replacement not allowed",
        "underpriced replacement",
    ]) {
        SendErrorKind::ReplacementUnderpriced
    } else if has(&["nonce too high", "noncegap", "nonce is too high"]) {
        SendErrorKind::NonceTooHigh
    } else if has(&[
        "max fee per gas less than block base fee",
        "fee cap less than block base fee",
        "feetoolow",
        "transaction underpriced",
        "fee too low",
    ]) {
        SendErrorKind::FeeTooLow
    } else if has(&["insufficient funds", "insufficientfunds"]) {
        SendErrorKind::InsufficientFunds
    } else {
        SendErrorKind::Rejected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_messages() {
        let cases = [
            ("already known", SendErrorKind::AlreadyKnown),
            ("transaction already imported", SendErrorKind::AlreadyKnown),
            ("ALREADY_EXISTS: already known", SendErrorKind::AlreadyKnown),
            ("AlreadyKnown", SendErrorKind::AlreadyKnown),
            (
                "nonce too low: next nonce 5, tx nonce 4",
                SendErrorKind::NonceTooLow,
            ),
            ("OldNonce, Current nonce: 5", SendErrorKind::NonceTooLow),
            (
                "replacement transaction underpriced",
                SendErrorKind::ReplacementUnderpriced,
            ),
            (
                "ReplacementNotAllowed",
                SendErrorKind::ReplacementUnderpriced,
            ),
            ("Nonce too high", SendErrorKind::NonceTooHigh),
            (
                "max fee per gas less than block base fee: address 0x…",
                SendErrorKind::FeeTooLow,
            ),
            ("transaction underpriced", SendErrorKind::FeeTooLow),
            (
                "insufficient funds for gas * price + value",
                SendErrorKind::InsufficientFunds,
            ),
            ("intrinsic gas too low", SendErrorKind::Rejected),
            ("", SendErrorKind::Rejected),
        ];
        for (message, kind) in cases {
            assert_eq!(classify_send_error(message), kind, "{message}");
        }
    }

    #[test]
    fn possibly_sent_is_the_three_ambiguous_refusals() {
        let all = [
            SendErrorKind::AlreadyKnown,
            SendErrorKind::NonceTooLow,
            SendErrorKind::ReplacementUnderpriced,
            SendErrorKind::NonceTooHigh,
            SendErrorKind::FeeTooLow,
            SendErrorKind::InsufficientFunds,
            SendErrorKind::Rejected,
        ];
        let possibly: Vec<_> = all.iter().filter(|k| k.possibly_sent()).collect();
        assert_eq!(possibly.len(), 3);
        assert!(all.iter().all(|k| !k.as_str().is_empty()));
    }
}
