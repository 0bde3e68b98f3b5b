//! The crate's one error type.

/// `Result` with this crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Everything that can go wrong in the protocol core.
///
/// Each variant has a stable machine-readable [`code`](Error::code) that callers may put on the wire
/// (relayer JSON errors, the BEP 10 `error{code}` message); the display text is for humans and may change.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The 32 bytes are not a valid secp256k1 secret key (zero, or not below the curve order).
    #[error("invalid secret key: zero or not below the secp256k1 curve order")]
    InvalidSecretKey,

    /// A signature had the wrong length for EIP-2098 compact form.
    #[error("invalid signature length: expected 64 bytes, got {0}")]
    InvalidSignatureLength(usize),

    /// The signature's `s` is in the upper half of the curve order. Both `s` and `n - s` verify, so the
    /// escrow (OpenZeppelin `ECDSA`) only accepts the lower one; so do we.
    #[error("malleable signature: s is in the upper half of the curve order")]
    HighS,

    /// No public key can be recovered from the signature for this digest (`r` or `s` zero or out of range,
    /// or `r` not the x coordinate of a curve point).
    #[error("invalid signature: no signer can be recovered")]
    InvalidSignature,

    /// Signing produced a recovery id above 1, which EIP-2098 (and `ecrecover`) cannot express. It happens
    /// only when the nonce point's x coordinate exceeds the curve order: probability about 2^-128.
    #[error("signature needs a recovery id that EIP-2098 cannot encode")]
    UnencodableRecoveryId,
}

impl Error {
    /// The stable, machine-readable code of this error.
    pub const fn code(&self) -> &'static str {
        match self {
            Self::InvalidSecretKey => "invalid_secret_key",
            Self::InvalidSignatureLength(_) => "invalid_signature_length",
            Self::HighS => "signature_high_s",
            Self::InvalidSignature => "invalid_signature",
            Self::UnencodableRecoveryId => "unencodable_recovery_id",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_snake_case() {
        let all = [
            Error::InvalidSecretKey,
            Error::InvalidSignatureLength(0),
            Error::HighS,
            Error::InvalidSignature,
            Error::UnencodableRecoveryId,
        ];
        piecepay_test_support::assert_error_codes(all.iter().map(Error::code));
    }
}
