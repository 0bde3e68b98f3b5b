//! The plain C structs and enums of the ABI.

use std::ffi::c_char;

use crate::bytes::PiecepayBytes;

/// A token amount in base units: `lo + hi * 2^64` (the escrow's amounts fit in 96 bits).
///
/// `{ .lo = n }` is the amount `n`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PiecepayAmount {
    /// The low 64 bits.
    pub lo: u64,
    /// The high 64 bits.
    pub hi: u64,
}

impl From<u128> for PiecepayAmount {
    fn from(value: u128) -> Self {
        Self {
            lo: value as u64,
            hi: (value >> 64) as u64,
        }
    }
}

impl From<PiecepayAmount> for u128 {
    fn from(value: PiecepayAmount) -> Self {
        (u128::from(value.hi) << 64) | u128::from(value.lo)
    }
}

/// Set in [`PiecepayOutcome::actions`]: serve the peer (unchoke it, answer its requests).
pub const PIECEPAY_ACTION_SERVE: u32 = 1 << 0;
/// Set in [`PiecepayOutcome::actions`]: stop serving the peer: choke it and reject (BEP 6) or drop its
/// pending requests. The reply, if any, is the `payment_required` that tells it why.
pub const PIECEPAY_ACTION_CHOKE: u32 = 1 << 1;
/// Payee: the peer says its channel is funded with [`PiecepayOutcome::amount`]. Check the channel on chain
/// (or with a relayer you trust), then call `piecepay_payee_channel_funded` with the deposit you saw.
pub const PIECEPAY_ACTION_CHECK_CHANNEL: u32 = 1 << 2;
/// Payee: a new highest receipt was accepted. Persist it (`piecepay_payee_latest_receipt`) durably
/// before sending the reply, which acknowledges it.
pub const PIECEPAY_ACTION_PERSIST_RECEIPT: u32 = 1 << 3;
/// Payer: the bid was accepted. Fund the channel (`piecepay_payer_open`, submit, then
/// `piecepay_payer_channel_funded`).
pub const PIECEPAY_ACTION_OPEN_CHANNEL: u32 = 1 << 4;
/// Payer: the deposit runs out. Top up to [`PiecepayOutcome::amount`] (total), then call
/// `piecepay_payer_channel_funded` with the new deposit.
pub const PIECEPAY_ACTION_TOP_UP: u32 = 1 << 5;
/// Both: the cooperative close carries both signatures; read it with `piecepay_*_cooperative_close` and
/// submit it (escrow `cooperativeClose`, or a relayer).
pub const PIECEPAY_ACTION_CLOSE_SIGNED: u32 = 1 << 6;
/// Both: the peer sent `error`, `reject` or `payment_required`; its code is in [`PiecepayOutcome::code`].
pub const PIECEPAY_ACTION_PEER_CODE: u32 = 1 << 7;
/// Payee: a receipt held unverified now matters (the peer has used half its credit window). Call
/// `piecepay_payee_verify_receipt`, on any thread that may spend a signature recovery (~40 µs).
pub const PIECEPAY_ACTION_VERIFY_RECEIPT: u32 = 1 << 8;

/// Size of [`PiecepayOutcome::code`]: the longest code (64 bytes) and its NUL.
pub const PIECEPAY_CODE_CAPACITY: usize = 65;

/// What a call asks the caller to do. Zeroed by every call that takes one, so `reply` is always safe to
/// free.
#[repr(C)]
#[derive(Debug)]
pub struct PiecepayOutcome {
    /// Bytes to send to the peer as one piecepay extended message (empty: nothing to send). Send them even
    /// when the call returned an error status: they are the `error` that tells the peer. Owned by the
    /// caller: free with `piecepay_bytes_free`.
    pub reply: PiecepayBytes,
    /// `PIECEPAY_ACTION_*` bits.
    pub actions: u32,
    /// The type of the message handled (`PIECEPAY_MESSAGE_KIND_NONE` when the call took no message or the
    /// message did not decode).
    pub received: PiecepayMessageKind,
    /// The amount the actions refer to: the claimed deposit (`CHECK_CHANNEL`), the deposit to top up to
    /// (`TOP_UP`), the acknowledged cumulative (a received `receipt_ack`), the accepted cumulative
    /// (`PERSIST_RECEIPT`); zero otherwise.
    pub amount: PiecepayAmount,
    /// The peer's code, NUL-terminated, when `PIECEPAY_ACTION_PEER_CODE` is set; empty otherwise.
    pub code: [c_char; PIECEPAY_CODE_CAPACITY],
}

impl Default for PiecepayOutcome {
    fn default() -> Self {
        Self {
            reply: PiecepayBytes::empty(),
            actions: 0,
            received: PiecepayMessageKind::None,
            amount: PiecepayAmount::default(),
            code: [0; PIECEPAY_CODE_CAPACITY],
        }
    }
}

impl PiecepayOutcome {
    /// Records the peer's `code` and sets [`PIECEPAY_ACTION_PEER_CODE`].
    pub(crate) fn set_peer_code(&mut self, code: &str) {
        // Codes are at most 64 ASCII bytes (the wire crate checks), so they fit with their NUL.
        for (slot, byte) in self
            .code
            .iter_mut()
            .zip(code.bytes().take(PIECEPAY_CODE_CAPACITY - 1))
        {
            *slot = byte as c_char;
        }
        self.actions |= PIECEPAY_ACTION_PEER_CODE;
    }

    /// The peer's code, as text.
    pub fn peer_code(&self) -> String {
        self.code
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8 as char)
            .collect()
    }
}

/// The type of a piecepay message (its `t`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PiecepayMessageKind {
    /// No message.
    None = 0,
    /// `terms` (payee → payer): the hello.
    Terms = 1,
    /// `bid` (payer → payee).
    Bid = 2,
    /// `accept` (payee → payer).
    Accept = 3,
    /// `reject` (payee → payer).
    Reject = 4,
    /// `channel` (payer → payee).
    Channel = 5,
    /// `receipt` (payer → payee).
    Receipt = 6,
    /// `receipt_ack` (payee → payer).
    ReceiptAck = 7,
    /// `payment_required` (payee → payer).
    PaymentRequired = 8,
    /// `close` (both ways).
    Close = 9,
    /// `error` (both ways).
    Error = 10,
}

impl PiecepayMessageKind {
    /// The kind of a message's `t` (`None` for one this version does not know).
    pub(crate) fn of_kind(kind: &str) -> Self {
        match kind {
            "terms" => Self::Terms,
            "bid" => Self::Bid,
            "accept" => Self::Accept,
            "reject" => Self::Reject,
            "channel" => Self::Channel,
            "receipt" => Self::Receipt,
            "receipt_ack" => Self::ReceiptAck,
            "payment_required" => Self::PaymentRequired,
            "close" => Self::Close,
            "error" => Self::Error,
            _ => Self::None,
        }
    }
}

/// Where a session's channel stands.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PiecepayState {
    /// No terms agreed yet (before `accept`, or before a bid was accepted).
    Negotiating = 0,
    /// Terms agreed; the channel is not funded yet.
    Proposed = 1,
    /// Payer: the open is signed, not yet confirmed.
    Opening = 2,
    /// Funded: pieces are paid for with receipts.
    Open = 3,
    /// A close is under way.
    Closing = 4,
    /// Closed on chain.
    Closed = 5,
}

/// A snapshot of a session, for display and tests.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PiecepayChannelInfo {
    /// Where the channel stands.
    pub state: PiecepayState,
    /// The channel id (zero while negotiating).
    pub channel_id: [u8; 32],
    /// The agreed price per piece (zero while negotiating).
    pub price: PiecepayAmount,
    /// The deposit on chain, as last confirmed (zero before).
    pub deposit: PiecepayAmount,
    /// Payer: the highest cumulative signed. Payee: the highest accepted (or settled).
    pub paid: PiecepayAmount,
    /// Payer: the highest cumulative the payee acknowledged. Payee: equal to `paid`.
    pub acknowledged: PiecepayAmount,
    /// Payee: the value served. Payer: zero.
    pub served: PiecepayAmount,
    /// Payee: pieces served. Payer: pieces paid for.
    pub pieces: u64,
}

/// A payer-signed receipt, as a relayer (`POST /v1/receipts`) or the escrow (`settleBatch`) takes it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PiecepayReceipt {
    /// The escrow's channel id.
    pub channel_id: [u8; 32],
    /// The payer (recovered from the signature).
    pub payer: [u8; 20],
    /// The payee.
    pub payee: [u8; 20],
    /// The channel's salt.
    pub salt: u32,
    /// The cumulative amount.
    pub cumulative: PiecepayAmount,
    /// The payer's EIP-2098 signature, `r ‖ vs`.
    pub signature: [u8; 64],
}

/// The payer's gasless open authorisation (EIP-712 `OpenChannel`), for the escrow's `openChannelsBySig`
/// or a relayer.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PiecepaySignedOpen {
    /// The payer.
    pub payer: [u8; 20],
    /// The payee.
    pub payee: [u8; 20],
    /// The channel's salt.
    pub salt: u32,
    /// The deposit moved from the payer's free balance.
    pub deposit: PiecepayAmount,
    /// Most the relayer may take.
    pub fee: PiecepayAmount,
    /// Unix time after which it is void.
    pub deadline: u64,
    /// The payer's signature, `r ‖ vs`.
    pub signature: [u8; 64],
}

/// A cooperative close signed by both parties (EIP-712 `CooperativeClose`), for the escrow's
/// `cooperativeClose` or a relayer.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PiecepayCooperativeClose {
    /// The payer.
    pub payer: [u8; 20],
    /// The payee.
    pub payee: [u8; 20],
    /// The channel's salt.
    pub salt: u32,
    /// The final total owed to the payee.
    pub cumulative: PiecepayAmount,
    /// What the submitting relayer takes.
    pub fee: PiecepayAmount,
    /// The only relayer that may submit it; all zero: anyone.
    pub relayer: [u8; 20],
    /// The channel nonce it is signed under.
    pub channel_nonce: u16,
    /// Unix time after which it is void.
    pub deadline: u64,
    /// The payer's signature, `r ‖ vs`.
    pub payer_signature: [u8; 64],
    /// The payee's signature, `r ‖ vs`.
    pub payee_signature: [u8; 64],
}

/// How a payer session is set up.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PiecepayPayerConfig {
    /// The chain id of the escrow the payer uses; `terms` for another chain are refused.
    pub chain_id: u64,
    /// The escrow contract.
    pub escrow: [u8; 20],
    /// The token the escrow holds.
    pub token: [u8; 20],
    /// The payer's secp256k1 secret key (big-endian). Copied; the caller may wipe its copy.
    pub secret_key: [u8; 32],
    /// The salt of the channel to this payee (unique per payer and payee).
    pub salt: u32,
    /// The most ever bid per piece.
    pub max_price: PiecepayAmount,
    /// How much a raise (after a choke) adds to the bid.
    pub bid_step: PiecepayAmount,
    /// The most this session spends in all.
    pub budget: PiecepayAmount,
    /// Seconds a signed open, top-up or close stays valid.
    pub auth_ttl: u64,
}

/// How a payee session is set up.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PiecepayPayeeConfig {
    /// The chain id of the escrow the payee is paid through.
    pub chain_id: u64,
    /// The escrow contract.
    pub escrow: [u8; 20],
    /// The token the escrow holds.
    pub token: [u8; 20],
    /// The payee's secp256k1 secret key (big-endian); its address is the payee. Used only to co-sign
    /// cooperative closes. Copied; the caller may wipe its copy.
    pub secret_key: [u8; 32],
    /// The lowest price per piece accepted.
    pub min_price: PiecepayAmount,
    /// Pieces served ahead of payment (the credit window), at least 1.
    pub credit_pieces: u32,
}

#[cfg(test)]
mod tests {
    use piecepay_sdk::Actions;
    use piecepay_wire::message::MESSAGE_TYPES;

    use super::*;

    #[test]
    fn action_bits_are_the_sessions() {
        for (c, rust) in [
            (PIECEPAY_ACTION_SERVE, Actions::SERVE),
            (PIECEPAY_ACTION_CHOKE, Actions::CHOKE),
            (PIECEPAY_ACTION_CHECK_CHANNEL, Actions::CHECK_CHANNEL),
            (PIECEPAY_ACTION_PERSIST_RECEIPT, Actions::PERSIST_RECEIPT),
            (PIECEPAY_ACTION_OPEN_CHANNEL, Actions::OPEN_CHANNEL),
            (PIECEPAY_ACTION_TOP_UP, Actions::TOP_UP),
            (PIECEPAY_ACTION_CLOSE_SIGNED, Actions::CLOSE_SIGNED),
            (PIECEPAY_ACTION_PEER_CODE, Actions::PEER_CODE),
            (PIECEPAY_ACTION_VERIFY_RECEIPT, Actions::VERIFY_RECEIPT),
        ] {
            assert_eq!(c, rust.bits(), "{rust:?}");
        }
    }

    #[test]
    fn every_message_type_has_its_kind() {
        let kinds: Vec<_> = MESSAGE_TYPES
            .iter()
            .map(|t| PiecepayMessageKind::of_kind(t) as u32)
            .collect();
        assert_eq!(kinds, (1..=10).collect::<Vec<_>>());
        assert_eq!(
            PiecepayMessageKind::of_kind("nope"),
            PiecepayMessageKind::None
        );
    }
}
