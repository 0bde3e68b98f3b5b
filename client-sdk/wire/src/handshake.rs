//! What piecepay adds to the BEP 10 extended handshake, and version negotiation.
//!
//! A peer advertises the extension by naming it in the handshake's `m` dictionary
//! (`m: {piecepay: <id>}`) and states the highest protocol version it speaks in a top-level
//! `piecepay_v` integer. Both then speak the lower of the two versions; a peer that gives no
//! `piecepay_v`, or one below 1, does not speak piecepay.

/// The extension's name in the handshake's `m` dictionary.
pub const EXTENSION_NAME: &str = "piecepay";

/// The handshake key that carries the highest protocol version a peer speaks.
pub const VERSION_KEY: &str = "piecepay_v";

/// The highest protocol version this crate speaks.
pub const VERSION: u64 = 1;

/// The version to speak with a peer that advertised `theirs`, or `None` if there is none in common.
pub fn negotiate(theirs: i128) -> Option<u64> {
    if theirs < 1 {
        return None;
    }
    Some(u64::try_from(theirs).map_or(VERSION, |theirs| theirs.min(VERSION)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speaks_the_lower_version() {
        assert_eq!(negotiate(1), Some(1));
        assert_eq!(negotiate(7), Some(VERSION));
        assert_eq!(negotiate(i128::MAX), Some(VERSION));
        assert_eq!(negotiate(0), None);
        assert_eq!(negotiate(-1), None);
    }
}
