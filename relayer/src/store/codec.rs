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

/// A unix time or block number as a 64-bit signed column, by the project's one rule
/// ([`piecepay_protocol::column::time`]): a value above `i64::MAX` is refused, never saturated, so what is
/// stored reads back as exactly what was written. Nothing the relayer accepts comes near it (deadlines are
/// `uint40`, blocks and clocks far below 2^63): reaching it is a bug, reported as one.
pub(crate) fn int(value: u64) -> Result<i64> {
    piecepay_protocol::column::time(value)
        .ok_or_else(|| Error::Internal(format!("{value} does not fit a 64-bit time column")))
}

/// [`int`] of an optional column.
pub(crate) fn opt_int(value: Option<u64>) -> Result<Option<i64>> {
    value.map(int).transpose()
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

/// A channel's escrow state as its `channels` row stores it: the `state`, `deposit`, `settled` and
/// `closes_at` columns, parsed (for whole records and for admission snapshots alike).
pub(crate) fn parse_channel_state(
    state: &str,
    deposit: &str,
    settled: &str,
    closes_at: Option<i64>,
) -> Result<(ChannelState, u128, u128, Option<u64>)> {
    Ok((
        parse_state(state)?,
        parse_amount(deposit, "channels.deposit")?,
        parse_amount(settled, "channels.settled")?,
        closes_at
            .map(|t| parse_int(t, "channels.closes_at"))
            .transpose()?,
    ))
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
    fn times_out_of_range_are_refused_not_saturated() {
        let max = u64::try_from(i64::MAX).unwrap();
        assert_eq!(int(max).unwrap(), i64::MAX);
        assert!(matches!(int(max + 1), Err(Error::Internal(_))));
        assert_eq!(opt_int(None).unwrap(), None);
        assert!(opt_int(Some(u64::MAX)).is_err());
        assert_eq!(parse_int(int(7).unwrap(), "x").unwrap(), 7);
        assert!(parse_int(-1, "x").is_err());
    }

    #[test]
    fn placeholders_number_from_first() {
        assert_eq!(placeholders(3, 3), "$3, $4, $5");
    }
}
