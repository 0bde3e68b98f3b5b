//! Parsing of the JSON fields every request shares (decimals, addresses, hashes, deadlines, the
//! EIP-712 domain) and the JSON form of a signature.

use alloy_primitives::{
    Address, B256, U256,
    aliases::{U40, U96},
    hex,
};
use alloy_sol_types::{Eip712Domain, SolStruct};
use serde::{Deserialize, Serialize};

use crate::{
    CompactSignature,
    amount::{self, DecimalError, to_u96},
};

use super::*;

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

/// Parses a decimal string within the escrow's `uint96` channel range ([`MAX_AMOUNT`](crate::MAX_AMOUNT)).
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

pub(super) fn nonzero(field: &str, address: Address) -> Result<Address, ApiError> {
    if address.is_zero() {
        return Err(ApiError::new(
            ErrorCode::InvalidAddress,
            format!("{field}: the zero address is not allowed"),
        ));
    }
    Ok(address)
}

pub(super) fn positive<T: Default + PartialEq>(field: &str, amount: T) -> Result<T, ApiError> {
    if amount == T::default() {
        return Err(ApiError::new(
            ErrorCode::ZeroAmount,
            format!("{field}: must be positive"),
        ));
    }
    Ok(amount)
}

/// An operation's optional `relayer`: absent is the zero address (anyone may submit).
pub(super) fn parse_relayer(value: Option<&str>) -> Result<Address, ApiError> {
    value.map_or(Ok(Address::ZERO), |v| parse_address("relayer", v))
}

pub(super) fn channel_parties(payer: &str, payee: &str) -> Result<(Address, Address), ApiError> {
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

pub(super) fn check_batch(what: &str, len: usize, max: usize) -> Result<(), ApiError> {
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
pub(super) fn recover<T: SolStruct>(
    message: &T,
    signature: &CompactSignature,
    domain: &Eip712Domain,
) -> Result<Address, ApiError> {
    Ok(signature.recover(&message.eip712_signing_hash(domain))?)
}

/// Refuses a signature over `digest` that does not recover `expected`, the `party` that must have signed.
pub(super) fn expect_signer(
    party: &str,
    expected: Address,
    digest: &B256,
    signature: &CompactSignature,
) -> Result<(), ApiError> {
    let recovered = signature.recover(digest)?;
    if recovered != expected {
        return Err(ApiError::new(
            ErrorCode::WrongSigner,
            format!("signed by {recovered}, but the {party} is {expected}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {

    use alloy_primitives::aliases::U96;

    use super::*;
    use crate::{MAX_AMOUNT, relayer_api::testing::*};

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
}
