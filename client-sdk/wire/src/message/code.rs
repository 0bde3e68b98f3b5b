//! Machine-readable codes: the `code` of `error` and `reject`, the `reason` of `payment_required`.

use std::borrow::Cow;
use std::fmt;

/// The most bytes a code may have.
pub const MAX_CODE_LEN: usize = 64;

/// A stable machine-readable code: 1 to 64 bytes of `a-z`, `0-9` and `_` (the SDK's
/// [`Error::code`](crate::Error::code)s are all of this form). Peers must accept codes they do not know.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Code(Cow<'static, str>);

impl Code {
    /// `payment_required`: one more piece would put the unpaid value over the credit window.
    pub const OVER_CREDIT: Self = Self(Cow::Borrowed("over_credit"));
    /// `payment_required`: one more piece would exceed the channel's deposit; top up.
    pub const DEPOSIT_EXHAUSTED: Self = Self(Cow::Borrowed("deposit_exhausted"));
    /// `payment_required`: no funded channel (not yet confirmed, or no longer open).
    pub const NOT_OPEN: Self = Self(Cow::Borrowed("not_open"));
    /// `payment_required`: the channel is closing; no more pieces are sold on it.
    pub const CLOSING: Self = Self(Cow::Borrowed("closing"));

    /// `error`: a failure without a more specific code.
    pub const OTHER: Self = Self(Cow::Borrowed("other"));

    /// A code from a literal this crate or the SDK defines, all of which have the code form (tests check
    /// them). Not public: anything else goes through [`new`](Self::new).
    pub(crate) const fn known(code: &'static str) -> Self {
        Self(Cow::Borrowed(code))
    }

    /// A code from `text`, if it has the code form.
    pub fn new(text: &str) -> Option<Self> {
        Self::from_bytes(text.as_bytes())
    }

    /// A code from `bytes`, if they have the code form.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let valid = !bytes.is_empty()
            && bytes.len() <= MAX_CODE_LEN
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_');
        // Checked above: ASCII only, so valid UTF-8.
        valid.then(|| Self(Cow::Owned(String::from_utf8_lossy(bytes).into_owned())))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_form() {
        assert_eq!(
            Code::new("stale_receipt").unwrap().as_str(),
            "stale_receipt"
        );
        assert!(Code::new("v2_thing").is_some());
        assert!(Code::new(&"a".repeat(MAX_CODE_LEN)).is_some());
        for bad in [
            "",
            "Upper",
            "has space",
            "dash-ed",
            "é",
            &"a".repeat(MAX_CODE_LEN + 1),
        ] {
            assert_eq!(Code::new(bad), None, "{bad:?}");
        }
        for constant in [
            Code::OVER_CREDIT,
            Code::DEPOSIT_EXHAUSTED,
            Code::NOT_OPEN,
            Code::CLOSING,
            Code::OTHER,
        ] {
            assert_eq!(Code::new(constant.as_str()), Some(constant));
        }
    }
}
