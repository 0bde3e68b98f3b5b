//! Token amounts and the escrow's ranges, defined once for every crate: the wire codec, the SDK, the
//! relayer and the stores all take their limits, conversions and text forms from here.

use alloy_primitives::aliases::U96;

/// A token amount in base units.
///
/// `u128` for easy arithmetic; anything that reaches a signed message or the escrow is checked against
/// [`MAX_AMOUNT`], the escrow's `uint96` channel range.
pub type Amount = u128;

/// The largest channel amount the escrow can hold (deposits, cumulatives, channel fees): `2^96 − 1`
/// base units, its `uint96`.
pub const MAX_AMOUNT: Amount = (1 << 96) - 1;

/// `amount` as the escrow's `uint96`, or `None` above [`MAX_AMOUNT`]. Each caller maps `None` to its own
/// error (`amount_too_large` everywhere).
pub fn to_u96(amount: Amount) -> Option<U96> {
    U96::try_from(amount).ok()
}

/// A `uint96` from a message as an [`Amount`]; always fits.
pub fn from_u96(value: U96) -> Amount {
    value.to::<Amount>()
}

/// How much a payee serves a peer before being paid for it: what `accept` (`credit_pieces` /
/// `credit_amount` on the wire) agrees and the payee's credit check enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CreditWindow {
    /// This many pieces, at the agreed price.
    Pieces(u32),
    /// This much value, in token base units.
    Amount(Amount),
}

impl CreditWindow {
    /// The window in token base units at `price` per piece (saturating: a window can only be too large
    /// to matter, never wrap).
    pub const fn limit(self, price: Amount) -> Amount {
        match self {
            Self::Pieces(pieces) => price.saturating_mul(pieces as Amount),
            Self::Amount(amount) => amount,
        }
    }
}

/// Why a decimal string is not an amount.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DecimalError {
    /// Not the canonical form: empty, a character other than `0-9`, or a leading zero.
    NotCanonical,
    /// Above `u128::MAX`.
    TooLarge,
}

/// Parses the canonical decimal form of a `u128` (digits only, no sign, no leading zeros): the JSON form
/// of amounts in the relayer API, the journal and the indexer's records. One text, one number.
pub fn parse_decimal(text: &str) -> Result<u128, DecimalError> {
    let digits = text.as_bytes();
    if digits.is_empty()
        || !digits.iter().all(u8::is_ascii_digit)
        || (digits.len() > 1 && digits[0] == b'0')
    {
        return Err(DecimalError::NotCanonical);
    }
    digits
        .iter()
        .try_fold(0u128, |n, d| {
            n.checked_mul(10)?.checked_add(u128::from(d - b'0'))
        })
        .ok_or(DecimalError::TooLarge)
}

/// `serde(with = "piecepay_protocol::amount::decimal")`: a `u128` as its canonical decimal string. JSON
/// numbers above 2^53 lose precision in most readers, and serde's internally tagged enums cannot buffer
/// a `u128`; a string has neither problem. Reads only the canonical form [`parse_decimal`] accepts.
pub mod decimal {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    /// Writes `value` as a decimal string.
    pub fn serialize<S: Serializer>(value: &u128, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    /// Reads a canonical decimal string.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u128, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::parse_decimal(&text).map_err(|e| {
            D::Error::custom(match e {
                super::DecimalError::NotCanonical => {
                    format!("{text:?} is not a canonical decimal amount")
                }
                super::DecimalError::TooLarge => format!("{text:?} exceeds uint128"),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u96_conversions_respect_the_escrow_range() {
        assert_eq!(to_u96(MAX_AMOUNT).map(from_u96), Some(MAX_AMOUNT));
        assert_eq!(to_u96(MAX_AMOUNT + 1), None);
        assert_eq!(from_u96(U96::MAX), MAX_AMOUNT);
    }

    #[test]
    fn credit_limits() {
        assert_eq!(CreditWindow::Pieces(4).limit(10), 40);
        assert_eq!(CreditWindow::Amount(7).limit(10), 7);
        assert_eq!(CreditWindow::Pieces(2).limit(u128::MAX), u128::MAX);
    }

    #[test]
    fn decimals_are_canonical() {
        assert_eq!(parse_decimal("0"), Ok(0));
        assert_eq!(parse_decimal("1000"), Ok(1000));
        assert_eq!(parse_decimal(&u128::MAX.to_string()), Ok(u128::MAX));
        assert_eq!(
            parse_decimal("340282366920938463463374607431768211456"),
            Err(DecimalError::TooLarge)
        );
        for bad in ["", "01", "+1", "-1", "1e3", " 1", "1.0", "0x10"] {
            assert_eq!(
                parse_decimal(bad),
                Err(DecimalError::NotCanonical),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn decimal_serde_round_trips_inside_a_tagged_enum() {
        #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(tag = "t")]
        enum Tagged {
            A {
                #[serde(with = "decimal")]
                v: u128,
            },
        }
        let value = Tagged::A { v: u128::MAX };
        let json = serde_json::to_string(&value).unwrap();
        assert_eq!(json, format!(r#"{{"t":"A","v":"{}"}}"#, u128::MAX));
        assert_eq!(serde_json::from_str::<Tagged>(&json).unwrap(), value);
        assert!(serde_json::from_str::<Tagged>(r#"{"t":"A","v":"x"}"#).is_err());
        assert!(serde_json::from_str::<Tagged>(r#"{"t":"A","v":"007"}"#).is_err());
    }
}
