//! Column encodings shared by both engines (see the migrations' header).

use piecepay_protocol::{
    CompactSignature,
    alloy_primitives::{Address, B256},
    relayer_api::ChannelState,
};

use crate::{Error, Result};

/// An amount as the schema's 39-digit zero-padded decimal: text order is numeric order
/// ([`piecepay_protocol::column`], the SDK store's encoding too).
pub(crate) use piecepay_protocol::column::amount;

pub(crate) fn parse_amount(text: &str, column: &str) -> Result<u128> {
    piecepay_protocol::column::parse_amount(text).ok_or_else(|| corrupt(column))
}

/// A unix time or block number as a 64-bit signed column.
pub(crate) fn int(value: u64) -> i64 {
    // Times and blocks stay far below 2^63; saturating keeps a hostile deadline from wrapping negative.
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub(crate) fn parse_int(value: i64, column: &str) -> Result<u64> {
    u64::try_from(value).map_err(|_| corrupt(column))
}

pub(crate) fn b256(bytes: &[u8], column: &str) -> Result<B256> {
    B256::try_from(bytes).map_err(|_| corrupt(column))
}

pub(crate) fn address(bytes: &[u8], column: &str) -> Result<Address> {
    Address::try_from(bytes).map_err(|_| corrupt(column))
}

pub(crate) fn signature(r: &[u8], vs: &[u8]) -> Result<CompactSignature> {
    Ok(CompactSignature::new(b256(r, "r")?, b256(vs, "vs")?))
}

pub(crate) const fn state(state: ChannelState) -> &'static str {
    match state {
        ChannelState::Open => "open",
        ChannelState::Closing => "closing",
        ChannelState::Closed => "closed",
    }
}

pub(crate) fn parse_state(text: &str) -> Result<ChannelState> {
    match text {
        "open" => Ok(ChannelState::Open),
        "closing" => Ok(ChannelState::Closing),
        "closed" => Ok(ChannelState::Closed),
        _ => Err(corrupt("channels.state")),
    }
}

pub(crate) fn corrupt(column: &str) -> Error {
    Error::CorruptRecord(format!("{column} does not decode"))
}

/// `$first, $first+1, …` for `count` placeholders, comma-separated.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    let mut out = String::with_capacity(count * 5);
    for i in 0..count {
        if i > 0 {
            out.push_str(", ");
        }
        out.push('$');
        out.push_str(&(first + i).to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_sort_as_text() {
        let values = [0u128, 1, 9, 10, 1 << 96, u128::MAX];
        let texts: Vec<_> = values.iter().map(|v| amount(*v)).collect();
        assert!(texts.windows(2).all(|w| w[0] < w[1]));
        for (v, t) in values.iter().zip(&texts) {
            assert_eq!(parse_amount(t, "x").unwrap(), *v);
        }
        assert!(parse_amount("12", "x").is_err());
    }

    #[test]
    fn placeholders_number_from_first() {
        assert_eq!(placeholders(3, 3), "$3, $4, $5");
    }
}
