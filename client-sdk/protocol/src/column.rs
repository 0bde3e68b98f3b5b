//! How amounts and times are stored in SQL columns, for every store of the project (the SDK's SQLite
//! store, the relayer's SQLite and PostgreSQL databases): one encoding and one range rule, so a value
//! written by one is read the same by the other.
//!
//! - An amount is a `u128` as **39-digit zero-padded decimal text**: any `u128` fits (2^128 − 1 has 39
//!   digits), and fixed width makes the text order (`memcmp`, SQL `<`, `max()`) the numeric order, so
//!   amounts never pass through a 64-bit integer.
//! - A time (unix seconds, a block number) is a signed 64-bit integer column. The rule: what does not
//!   fit is **refused**, never saturated — a stored value reads back as exactly what was written.

use crate::Amount;

/// Digits of an amount column.
pub const AMOUNT_DIGITS: usize = 39;

/// `value` as its column text.
pub fn amount(value: Amount) -> String {
    format!("{value:039}")
}

/// An amount column's text: exactly [`AMOUNT_DIGITS`] ASCII digits; `None` for anything else.
pub fn parse_amount(text: &str) -> Option<Amount> {
    if text.len() != AMOUNT_DIGITS || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `value` as a 64-bit column, or `None` above `i64::MAX` (refused, not saturated).
pub fn time(value: u64) -> Option<i64> {
    i64::try_from(value).ok()
}

/// A 64-bit column as a time, or `None` if negative.
pub fn parse_time(value: i64) -> Option<u64> {
    u64::try_from(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_round_trip_and_sort_as_numbers() {
        for value in [0, 1, 999, u128::from(u64::MAX) + 1, u128::MAX] {
            let text = amount(value);
            assert_eq!(text.len(), AMOUNT_DIGITS);
            assert_eq!(parse_amount(&text), Some(value));
        }
        assert!(amount(9) < amount(10) && amount(10) < amount(u128::MAX));
        for bad in [
            "",
            "1",
            &"9".repeat(40),
            &format!("{:>39}", 7),
            &"x".repeat(39),
        ] {
            assert_eq!(parse_amount(bad), None, "{bad:?}");
        }
        // 39 nines exceed u128.
        assert_eq!(parse_amount(&"9".repeat(39)), None);
    }

    #[test]
    fn times_out_of_range_are_refused() {
        assert_eq!(time(0), Some(0));
        assert_eq!(time(i64::MAX as u64), Some(i64::MAX));
        assert_eq!(time(i64::MAX as u64 + 1), None);
        assert_eq!(parse_time(-1), None);
        assert_eq!(parse_time(5), Some(5));
    }
}
