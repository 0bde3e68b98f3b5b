//! The crate's one error type.

/// `Result` with this crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Why bytes from a peer are not a valid piecepay message.
///
/// Every variant has a stable machine-readable [`code`](Error::code), which is what goes back to the peer
/// in an `error` message ([`Message::error_reply`](crate::Message::error_reply)); the display text is
/// for humans and may change.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input is longer than the limit for one message.
    #[error("message of {len} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// The input's length.
        len: usize,
        /// The limit.
        limit: usize,
    },

    /// Lists and dictionaries nested deeper than the limit.
    #[error("nesting deeper than {limit}")]
    TooDeep {
        /// The depth limit.
        limit: usize,
    },

    /// Not bencode: an unexpected byte, a truncated value, or bytes after the value.
    #[error("malformed bencode at byte {offset}: {reason}")]
    Malformed {
        /// Where decoding stopped.
        offset: usize,
        /// What was wrong there.
        reason: &'static str,
    },

    /// Valid bencode that is not in the one canonical form: leading zeros, `-0`, unsorted or duplicate
    /// dictionary keys. A canonical encoding makes one message one byte string.
    #[error("non-canonical bencode at byte {offset}: {reason}")]
    NotCanonical {
        /// Where the non-canonical item starts.
        offset: usize,
        /// What was not canonical.
        reason: &'static str,
    },

    /// An integer beyond what any piecepay field can hold (`i128`).
    #[error("integer out of range at byte {offset}")]
    IntegerOutOfRange {
        /// Where the integer starts.
        offset: usize,
    },

    /// The message is not a dictionary with a byte-string `t`.
    #[error("not a piecepay message: {0}")]
    NotAMessage(&'static str),

    /// A message type this version does not know. Answered with an error; the connection stays up.
    #[error("unknown message type {0:?}")]
    UnknownMessage(String),

    /// A required field is absent.
    #[error("message {message} lacks field {field}")]
    MissingField {
        /// The message type.
        message: &'static str,
        /// The field.
        field: &'static str,
    },

    /// A field has the wrong type, length or range.
    #[error("message {message} has an invalid {field}: {reason}")]
    InvalidField {
        /// The message type.
        message: &'static str,
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl Error {
    /// The stable, machine-readable code of this error, as sent in an `error` message.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "too_large",
            Self::TooDeep { .. } => "too_deep",
            Self::Malformed { .. } => "malformed",
            Self::NotCanonical { .. } => "not_canonical",
            Self::IntegerOutOfRange { .. } => "integer_out_of_range",
            Self::NotAMessage(_) => "not_a_message",
            Self::UnknownMessage(_) => "unknown_message",
            Self::MissingField { .. } => "missing_field",
            Self::InvalidField { .. } => "invalid_field",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_snake_case() {
        let all = [
            Error::TooLarge { len: 0, limit: 0 },
            Error::TooDeep { limit: 0 },
            Error::Malformed {
                offset: 0,
                reason: "",
            },
            Error::NotCanonical {
                offset: 0,
                reason: "",
            },
            Error::IntegerOutOfRange { offset: 0 },
            Error::NotAMessage(""),
            Error::UnknownMessage(String::new()),
            Error::MissingField {
                message: "",
                field: "",
            },
            Error::InvalidField {
                message: "",
                field: "",
                reason: "",
            },
        ];
        piecepay_test_support::assert_error_codes(all.iter().map(Error::code));
    }
}
