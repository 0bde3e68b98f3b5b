//! `POST /v1/operations` and `GET /v1/operations/{id}`: gasless operations, their verification, and
//! their status.

use alloy_primitives::{Address, B256, Bytes, aliases::U40, keccak256};
use alloy_sol_types::{Eip712Domain, SolStruct};
use serde::{Deserialize, Serialize};

use crate::{
    CompactSignature, CooperativeClose, OpenChannel, RequestClose, SettleFeeCap, TopUp, Withdrawal,
    channel_id,
};

use super::*;

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
            Self::Open(f) => {
                let (payer, message, signature) = f.parse()?;
                Operation::Open {
                    payer,
                    message,
                    signature,
                }
            }
            Self::TopUp(f) => {
                let (payer, message, signature) = f.parse()?;
                Operation::TopUp {
                    payer,
                    message: funding_as!(message => TopUp),
                    signature,
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
        operation_id(self.signer().1, self.digest(domain))
    }

    /// Unix time after which the escrow refuses the operation.
    pub fn deadline(&self) -> u64 {
        self.terms().0.to::<u64>()
    }

    /// The fee its signer pays the submitter (a fee cap pays none).
    pub fn fee(&self) -> u128 {
        self.terms().1
    }

    /// The relayer the operation names as its only submitter (`None`: anyone may submit it). A fee cap
    /// names no submitter: its `relayer` is who may take settlement fees.
    pub fn submitter(&self) -> Option<Address> {
        let relayer = self.terms().2;
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
        let (payee, salt) = match self {
            Self::Open { message: m, .. } => (m.payee, m.salt),
            Self::TopUp { message: m, .. } => (m.payee, m.salt),
            Self::RequestClose { message: m, .. } => (m.payee, m.salt),
            Self::CooperativeClose { message: m, .. } => (m.payee, m.salt),
            Self::Withdraw { .. } | Self::SetSettleFeeCap { .. } => return None,
        };
        // The signer of a channel's operation is its payer.
        Some(channel_id(self.signer().1, payee, salt))
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
        let digest = self.digest(domain);
        let (role, signer) = self.signer();
        expect_signer(role, signer, &digest, self.signature())?;
        if let Self::CooperativeClose {
            message,
            payee_signature,
            ..
        } = self
        {
            expect_signer("payee", message.payee, &digest, payee_signature)?;
        }
        Ok(operation_id(signer, digest))
    }

    /// The message's deadline, the fee it pays its submitter, and the only relayer that may submit it
    /// (zero: anyone), in one match for the accessors above.
    fn terms(&self) -> (U40, u128, Address) {
        match self {
            Self::Open { message: m, .. } => (m.deadline, m.fee.to(), m.relayer),
            Self::TopUp { message: m, .. } => (m.deadline, m.fee.to(), m.relayer),
            Self::RequestClose { message: m, .. } => (m.deadline, m.fee.to(), m.relayer),
            Self::Withdraw { message: m, .. } => (m.deadline, m.fee, m.relayer),
            // The cap's `relayer` is who may take settlement fees, not who submits it.
            Self::SetSettleFeeCap { message: m, .. } => (m.deadline, 0, Address::ZERO),
            Self::CooperativeClose { message: m, .. } => (m.deadline, m.fee.to(), m.relayer),
        }
    }

    /// The EIP-712 signing hash of the message in `domain` (the messages differ in type: one arm each).
    fn digest(&self, domain: &Eip712Domain) -> B256 {
        match self {
            Self::Open { message, .. } => message.eip712_signing_hash(domain),
            Self::TopUp { message, .. } => message.eip712_signing_hash(domain),
            Self::RequestClose { message, .. } => message.eip712_signing_hash(domain),
            Self::Withdraw { message, .. } => message.eip712_signing_hash(domain),
            Self::SetSettleFeeCap { message, .. } => message.eip712_signing_hash(domain),
            Self::CooperativeClose { message, .. } => message.eip712_signing_hash(domain),
        }
    }

    /// The party that must have signed, as its role (for errors) and address: for a cooperative close,
    /// the payer (the payee signs too, checked in [`verify`](Self::verify)).
    fn signer(&self) -> (&'static str, Address) {
        match self {
            Self::Open { payer, .. }
            | Self::TopUp { payer, .. }
            | Self::RequestClose { payer, .. } => ("payer", *payer),
            Self::Withdraw { owner, .. } => ("owner", *owner),
            Self::SetSettleFeeCap { payee, .. } => ("payee", *payee),
            Self::CooperativeClose { message, .. } => ("payer", message.payer),
        }
    }

    /// The [`signer`](Self::signer)'s signature.
    fn signature(&self) -> &CompactSignature {
        match self {
            Self::Open { signature, .. }
            | Self::TopUp { signature, .. }
            | Self::RequestClose { signature, .. }
            | Self::Withdraw { signature, .. }
            | Self::SetSettleFeeCap { signature, .. } => signature,
            Self::CooperativeClose {
                payer_signature, ..
            } => payer_signature,
        }
    }
}

/// `keccak256(signer ‖ digest)`: see [`Operation::id`].
fn operation_id(signer: Address, digest: B256) -> B256 {
    let mut bytes = [0u8; 52];
    bytes[..20].copy_from_slice(signer.as_slice());
    bytes[20..].copy_from_slice(digest.as_slice());
    keccak256(bytes)
}

/// `OpenChannel` and `TopUp` have the same fields (the escrow's `OpenAuth` and `TopUpAuth` differ only in
/// their type name, hence in their digests): builds one from the other's fields.
macro_rules! funding_as {
    ($message:expr => $to:ident) => {{
        let m = $message;
        $to {
            payee: m.payee,
            salt: m.salt,
            deposit: m.deposit,
            fee: m.fee,
            relayer: m.relayer,
            channelNonce: m.channelNonce,
            deadline: m.deadline,
        }
    }};
}
use funding_as;

impl ChannelFunding {
    /// Parses an `open` or a `top_up`: the payer, the fields as an `OpenChannel` (a top-up's are the
    /// same, [`funding_as`]), and the signature. Checked in field order, as the other kinds are.
    fn parse(&self) -> Result<(Address, OpenChannel, CompactSignature), ApiError> {
        let (payer, payee) = channel_parties(&self.payer, &self.payee)?;
        let message = OpenChannel {
            payee,
            salt: self.salt,
            deposit: positive("deposit", parse_u96("deposit", &self.deposit)?)?,
            fee: parse_u96("fee", &self.fee)?,
            relayer: parse_relayer(self.relayer.as_deref())?,
            channelNonce: self.channel_nonce.unwrap_or(0),
            deadline: check_deadline(self.deadline)?,
        };
        Ok((payer, message, self.signature.parse("signature")?))
    }

    /// The submission of an `open`'s (or, through [`funding_as`], a top-up's) fields.
    fn new(payer: &Address, message: &OpenChannel, signature: &CompactSignature) -> Self {
        Self {
            payer: checksum(payer),
            payee: checksum(&message.payee),
            salt: message.salt,
            deposit: message.deposit.to_string(),
            fee: message.fee.to_string(),
            relayer: named(&message.relayer),
            channel_nonce: nonzero_nonce(message.channelNonce),
            deadline: message.deadline.to::<u64>(),
            signature: signature.into(),
        }
    }
}

/// An address as the API answers it (EIP-55).
fn checksum(address: &Address) -> String {
    address.to_checksum(None)
}

/// An optional relayer as sent: absent for the zero address (anyone).
fn named(relayer: &Address) -> Option<String> {
    (!relayer.is_zero()).then(|| checksum(relayer))
}

/// An optional channel nonce as sent: absent for 0.
fn nonzero_nonce(nonce: u16) -> Option<u16> {
    (nonce != 0).then_some(nonce)
}

impl From<&Operation> for OperationSubmission {
    fn from(operation: &Operation) -> Self {
        let deadline = |d: U40| d.to::<u64>();
        match operation {
            Operation::Open {
                payer,
                message,
                signature,
            } => Self::Open(ChannelFunding::new(payer, message, signature)),
            Operation::TopUp {
                payer,
                message,
                signature,
            } => Self::TopUp(ChannelFunding::new(
                payer,
                &funding_as!(message => OpenChannel),
                signature,
            )),
            Operation::RequestClose {
                payer,
                message,
                signature,
            } => Self::RequestClose(CloseRequest {
                payer: checksum(payer),
                payee: checksum(&message.payee),
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
                owner: checksum(owner),
                to: checksum(&message.to),
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
                payee: checksum(payee),
                bps: message.bps,
                relayer: checksum(&message.relayer),
                nonce: message.nonce.to_string(),
                deadline: deadline(message.deadline),
                signature: signature.into(),
            }),
            Operation::CooperativeClose {
                message,
                payer_signature,
                payee_signature,
            } => Self::CooperativeClose(CooperativeCloseRequest {
                payer: checksum(&message.payer),
                payee: checksum(&message.payee),
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

#[cfg(test)]
mod tests {

    use alloy_primitives::{
        Address, B256,
        aliases::{U40, U96},
        b256, bytes, keccak256,
    };
    use alloy_sol_types::SolStruct;

    use serde_json::{Value, json};

    use super::*;
    use crate::{
        CompactSignature, CooperativeClose, MAX_AMOUNT, OpenChannel, RequestClose, SettleFeeCap,
        SigningKey, TopUp, Withdrawal, domain, relayer_api::testing::*,
    };

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
        for (operation, kind) in signed_operations().iter().zip(OperationKind::ALL) {
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
}
