//! `POST /v1/receipts`: receipt submissions, their verification, and the per-receipt results.

use alloy_primitives::{Address, B256};
use alloy_sol_types::Eip712Domain;
use serde::{Deserialize, Serialize};

use crate::{
    CompactSignature, Receipt,
    admission::{ChannelView, Phase, Refusal},
    amount::{self, from_u96},
};

use super::*;

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

#[cfg(test)]
mod tests {

    use alloy_primitives::aliases::U96;
    use alloy_sol_types::SolStruct;

    use serde_json::json;

    use super::*;
    use crate::{MAX_AMOUNT, Receipt, domain, relayer_api::testing::*};

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
}
