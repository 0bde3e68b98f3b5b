//! The messages of protocol version 1, one struct each.

use piecepay_protocol::{
    CompactSignature,
    alloy_primitives::{Address, B256},
};

use super::{Amount, Code, CreditWindow};

/// `terms` (payee → payer), the hello: where and how this payee sells pieces.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Terms {
    /// The chain id of the escrow (`chain`).
    pub chain_id: u64,
    /// The escrow contract (`escrow`).
    pub escrow: Address,
    /// The ERC-20 the escrow holds (`token`).
    pub token: Address,
    /// The payee's address, which receipts pay (`payee`).
    pub payee: Address,
    /// The lowest price per piece accepted, in token base units (`price`).
    pub price: Amount,
    /// The credit extended to a paying peer (`credit_pieces` or `credit_amount`).
    pub credit: CreditWindow,
}

/// `bid` (payer → payee): the price per piece offered, and the channel the payer will pay through.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Bid {
    /// Price per piece offered (`price`).
    pub price: Amount,
    /// The payer's address (`payer`).
    pub payer: Address,
    /// The payer's salt for the channel (`salt`): with payer and payee it makes the channel id.
    pub salt: u32,
}

/// `accept` (payee → payer): the bid is accepted on these terms.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Accept {
    /// The price per piece in force (`price`), the bid's.
    pub price: Amount,
    /// The credit extended (`credit_pieces` or `credit_amount`).
    pub credit: CreditWindow,
}

/// `reject` (payee → payer): the bid is refused.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reject {
    /// Why (`code`), e.g. `bid_too_low`.
    pub code: Code,
    /// The lowest price the payee would accept, when price is the reason (`min_price`).
    pub min_price: Option<Amount>,
}

/// `channel` (payer → payee): the channel is funded (sent after the open and after each top-up).
///
/// Not a proof by itself: the payee reads the channel from the chain (or a relayer it trusts) by `id`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ChannelFunded {
    /// The payer's address (`payer`).
    pub payer: Address,
    /// The channel's salt (`salt`).
    pub salt: u32,
    /// The escrow's channel id, `keccak256(abi.encode(payer, payee, salt))` (`id`).
    pub id: B256,
    /// The deposit the payer says the channel holds (`deposit`).
    pub deposit: Amount,
    /// The transaction that opened or topped up the channel, as a hint for the payee's check (`tx`).
    pub tx: Option<B256>,
}

/// `receipt` (payer → payee): a signed cumulative receipt, the payment.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Receipt {
    /// The channel's salt (`salt`).
    pub salt: u32,
    /// Total paid over the channel's life (`cumulative`).
    pub cumulative: Amount,
    /// The payer's EIP-2098 signature over the EIP-712 `Receipt(payee, salt, cumulative)` (`sig`).
    pub signature: CompactSignature,
}

/// `receipt_ack` (payee → payer): the receipt of this cumulative is stored durably.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ReceiptAck {
    /// The acknowledged cumulative (`cumulative`).
    pub cumulative: Amount,
}

/// `payment_required` (payee → payer): the payee stopped serving; sent with a choke.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PaymentRequired {
    /// Why (`reason`): [`Code::OVER_CREDIT`], [`Code::DEPOSIT_EXHAUSTED`], [`Code::NOT_OPEN`],
    /// [`Code::CLOSING`], or a newer one.
    pub reason: Code,
    /// The highest cumulative the payee accepted (`paid`).
    pub paid: Amount,
    /// The value the payee has served (`served`).
    pub served: Amount,
    /// The deposit the payee sees, when the deposit is the reason (`deposit`).
    pub deposit: Option<Amount>,
}

/// `close` (payer → payee, then payee → payer): a cooperative close, first signed by the payer, then
/// co-signed by the payee. Each side sends its own signature over the same EIP-712 `CooperativeClose`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Close {
    /// The final total owed to the payee (`cumulative`).
    pub cumulative: Amount,
    /// What the submitting relayer takes (`fee`).
    pub fee: Amount,
    /// The only relayer that may submit the close (`relayer`; the zero address, sent as an absent field:
    /// anyone).
    pub relayer: Address,
    /// The channel nonce the close is signed under (`nonce`; 0 is sent as an absent field).
    pub nonce: u16,
    /// Unix time after which the close is void (`deadline`).
    pub deadline: u64,
    /// The sender's signature (`sig`).
    pub signature: CompactSignature,
}

/// `error` (either way): the last message was refused, or is not understood.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ErrorMessage {
    /// What went wrong (`code`): one of this crate's [`Error`](crate::Error) codes, or an SDK code.
    pub code: Code,
    /// Human-readable detail, at most 256 bytes of UTF-8 (`msg`).
    pub message: Option<String>,
    /// The `t` of the message refused, when known (`re`).
    pub regarding: Option<Code>,
}
