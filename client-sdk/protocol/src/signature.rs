//! EIP-2098 compact secp256k1 signatures over 32-byte digests, on libsecp256k1.
//!
//! Signing is deterministic (RFC 6979) and always yields low-s, the same signature forge's `vm.sign`
//! gives. Recovery accepts exactly what the escrow accepts (OpenZeppelin `ECDSA.tryRecover(hash, r, vs)`):
//! a high-s signature is rejected rather than normalised, so one receipt has one encoding.

use core::fmt;
use std::sync::LazyLock;

use alloy_primitives::{Address, B256, b256, keccak256};
use secp256k1::{
    Message, PublicKey, Secp256k1, SecretKey, SignOnly, VerifyOnly,
    ecdsa::{RecoverableSignature, RecoveryId},
};

use crate::{Error, Result};

/// `n / 2` for the secp256k1 curve order `n`: the largest `s` a signature may carry.
const HALF_ORDER: B256 =
    b256!("0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0");

/// The top bit of `vs`, where EIP-2098 keeps the y parity.
const PARITY_MASK: u8 = 0x80;

/// An EIP-2098 compact signature: `r` and `vs = (y_parity << 255) | s`, 64 bytes in all.
///
/// The Solidity side's `IChannelEscrow.CompactSignature { bytes32 r; bytes32 vs; }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CompactSignature {
    /// The x coordinate of the nonce point, reduced mod `n`.
    pub r: B256,
    /// `s` with the y parity of the nonce point in its top bit.
    pub vs: B256,
}

impl CompactSignature {
    /// Encoded length: `r ‖ vs`.
    pub const LEN: usize = 64;

    /// A signature from its two words, unchecked; [`recover`](Self::recover) does the checking.
    pub const fn new(r: B256, vs: B256) -> Self {
        Self { r, vs }
    }

    /// Parses `r ‖ vs` (64 bytes), the order the escrow's calldata uses.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != Self::LEN {
            return Err(Error::InvalidSignatureLength(bytes.len()));
        }
        Ok(Self::new(
            B256::from_slice(&bytes[..32]),
            B256::from_slice(&bytes[32..]),
        ))
    }

    /// `r ‖ vs`.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[..32].copy_from_slice(self.r.as_slice());
        out[32..].copy_from_slice(self.vs.as_slice());
        out
    }

    /// `s`: `vs` without the parity bit.
    pub fn s(&self) -> B256 {
        let mut s = self.vs;
        s[0] &= !PARITY_MASK;
        s
    }

    /// The y parity of the nonce point (`v - 27` in the 65-byte form).
    pub fn y_parity(&self) -> bool {
        self.vs[0] & PARITY_MASK != 0
    }

    /// The address whose key signed `digest`.
    ///
    /// Fails with [`Error::HighS`] if `s > n / 2` and with [`Error::InvalidSignature`] if no key can be
    /// recovered. A valid signature over a *different* digest recovers some other address without error:
    /// callers compare the result with the signer they expect (or derive ids from it).
    pub fn recover(&self, digest: &B256) -> Result<Address> {
        let s = self.s();
        // Big-endian bytes compare like the numbers they encode.
        if s > HALF_ORDER {
            return Err(Error::HighS);
        }
        let mut rs = [0u8; 64];
        rs[..32].copy_from_slice(self.r.as_slice());
        rs[32..].copy_from_slice(s.as_slice());
        let recovery_id = if self.y_parity() {
            RecoveryId::One
        } else {
            RecoveryId::Zero
        };
        let signature = RecoverableSignature::from_compact(&rs, recovery_id)
            .map_err(|_| Error::InvalidSignature)?;
        let public_key = VERIFIER
            .recover_ecdsa(Message::from_digest(digest.0), &signature)
            .map_err(|_| Error::InvalidSignature)?;
        Ok(address_of(&public_key))
    }
}

/// Recovery touches no secret: one shared context, never randomised, serves every thread.
static VERIFIER: LazyLock<Secp256k1<VerifyOnly>> = LazyLock::new(Secp256k1::verification_only);

/// A secp256k1 secret key that signs piecepay digests, with its address computed once.
///
/// Each key has its own signing context, blinded once when the key is loaded (libsecp256k1's
/// `secp256k1_context_randomize`, as its documentation recommends) with a seed derived from the key.
/// libsecp256k1 signs in constant time whether blinded or not; blinding is defence in depth against
/// power/EM side channels. Re-blinding after every signature, which the newer `secp256k1` crate does,
/// costs one more scalar multiplication per signature — as much as the signature itself — and a
/// payer signs one receipt per piece, so it is done once per key instead.
///
/// `Debug` shows only the address, so the key cannot leak through logs.
#[derive(Clone)]
pub struct SigningKey {
    secret: SecretKey,
    address: Address,
    context: Secp256k1<SignOnly>,
}

impl SigningKey {
    /// A key from its 32 big-endian bytes; fails for zero or values not below the curve order.
    pub fn from_bytes(bytes: &B256) -> Result<Self> {
        let secret = SecretKey::from_byte_array(bytes.0).map_err(|_| Error::InvalidSecretKey)?;
        let mut context = Secp256k1::signing_only();
        context.seeded_randomize(&blinding_seed(bytes));
        let address = address_of(&PublicKey::from_secret_key(&context, &secret));
        Ok(Self {
            secret,
            address,
            context,
        })
    }

    /// The Ethereum address of this key.
    pub const fn address(&self) -> Address {
        self.address
    }

    /// Signs `digest` (an EIP-712 signing hash, for piecepay) with an RFC 6979 nonce; the result is low-s.
    ///
    /// Fails only with [`Error::UnencodableRecoveryId`], with probability about 2^-128.
    pub fn sign_digest(&self, digest: &B256) -> Result<CompactSignature> {
        let signature = self
            .context
            .sign_ecdsa_recoverable(Message::from_digest(digest.0), &self.secret);
        let (recovery_id, rs) = signature.serialize_compact();
        let y_parity = match recovery_id {
            RecoveryId::Zero => false,
            RecoveryId::One => true,
            RecoveryId::Two | RecoveryId::Three => return Err(Error::UnencodableRecoveryId),
        };
        let r = B256::from_slice(&rs[..32]);
        let mut vs = B256::from_slice(&rs[32..]);
        if y_parity {
            vs[0] |= PARITY_MASK;
        }
        Ok(CompactSignature::new(r, vs))
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// The blinding seed of a key's signing context: secret (it is derived from the key) and never reused
/// for another key, which is all libsecp256k1 asks of it.
fn blinding_seed(secret: &B256) -> [u8; 32] {
    keccak256(
        [
            b"piecepay signing context blinding".as_slice(),
            secret.as_slice(),
        ]
        .concat(),
    )
    .0
}

/// The last 20 bytes of `keccak256(x ‖ y)`, the uncompressed public key without its `0x04` tag.
fn address_of(public_key: &PublicKey) -> Address {
    let uncompressed = public_key.serialize_uncompressed();
    Address::from_slice(&keccak256(&uncompressed[1..])[12..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{U256, address};

    fn key(byte: u8) -> SigningKey {
        SigningKey::from_bytes(&B256::repeat_byte(byte)).unwrap()
    }

    #[test]
    fn address_of_key_one() {
        let one = SigningKey::from_bytes(&B256::with_last_byte(1)).unwrap();
        assert_eq!(
            one.address(),
            address!("0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf")
        );
    }

    #[test]
    fn sign_then_recover_round_trips() {
        let signer = key(0x11);
        for i in 0..32u8 {
            let digest = keccak256([i]);
            let signature = signer.sign_digest(&digest).unwrap();
            assert!(signature.s() <= HALF_ORDER, "libsecp256k1 signs low-s");
            assert_eq!(signature.recover(&digest), Ok(signer.address()));
        }
    }

    #[test]
    fn signing_is_deterministic() {
        let signer = key(0x22);
        let digest = keccak256("piece 7");
        assert_eq!(signer.sign_digest(&digest), signer.sign_digest(&digest));
    }

    #[test]
    fn wrong_digest_recovers_another_address() {
        let signer = key(0x33);
        let signature = signer.sign_digest(&keccak256("receipt 1")).unwrap();
        let recovered = signature.recover(&keccak256("receipt 2")).unwrap();
        assert_ne!(recovered, signer.address());
    }

    #[test]
    fn flipped_parity_recovers_another_address() {
        let signer = key(0x44);
        let digest = keccak256("receipt");
        let mut signature = signer.sign_digest(&digest).unwrap();
        signature.vs[0] ^= PARITY_MASK;
        assert_ne!(signature.recover(&digest), Ok(signer.address()));
    }

    #[test]
    fn high_s_is_rejected() {
        let digest = keccak256("receipt");
        let r = key(0x55).sign_digest(&digest).unwrap().r;
        let high_s = B256::from(U256::from_be_bytes(HALF_ORDER.0) + U256::from(1));

        let mut high_s_odd = high_s;
        high_s_odd[0] |= PARITY_MASK;
        for vs in [high_s, high_s_odd] {
            assert_eq!(
                CompactSignature::new(r, vs).recover(&digest),
                Err(Error::HighS)
            );
        }

        // libsecp256k1 alone would recover a key from it: the check above is what rejects it.
        let mut rs = [0u8; 64];
        rs[..32].copy_from_slice(r.as_slice());
        rs[32..].copy_from_slice(high_s.as_slice());
        let raw = RecoverableSignature::from_compact(&rs, RecoveryId::Zero).unwrap();
        assert!(
            VERIFIER
                .recover_ecdsa(Message::from_digest(digest.0), &raw)
                .is_ok()
        );
    }

    #[test]
    fn s_at_half_order_is_not_high() {
        let digest = keccak256("receipt");
        let r = key(0x66).sign_digest(&digest).unwrap().r;
        assert_ne!(
            CompactSignature::new(r, HALF_ORDER).recover(&digest),
            Err(Error::HighS)
        );
    }

    #[test]
    fn zero_or_out_of_range_values_are_invalid() {
        let digest = keccak256("receipt");
        let good = key(0x77).sign_digest(&digest).unwrap();
        let order = b256!("0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141");
        for signature in [
            CompactSignature::new(B256::ZERO, good.vs),
            CompactSignature::new(good.r, B256::ZERO),
            CompactSignature::new(order, good.vs),
            CompactSignature::new(B256::repeat_byte(0xff), good.vs),
        ] {
            assert_eq!(signature.recover(&digest), Err(Error::InvalidSignature));
        }
    }

    #[test]
    fn bytes_round_trip() {
        let signature = key(0x88).sign_digest(&keccak256("x")).unwrap();
        let bytes = signature.to_bytes();
        assert_eq!(&bytes[..32], signature.r.as_slice());
        assert_eq!(&bytes[32..], signature.vs.as_slice());
        assert_eq!(CompactSignature::from_slice(&bytes), Ok(signature));
        assert_eq!(
            CompactSignature::from_slice(&bytes[..63]),
            Err(Error::InvalidSignatureLength(63))
        );
        assert_eq!(
            CompactSignature::from_slice(&[0u8; 65]),
            Err(Error::InvalidSignatureLength(65))
        );
    }

    #[test]
    fn invalid_secret_keys_are_rejected() {
        let order = b256!("0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141");
        for bad in [B256::ZERO, order, B256::repeat_byte(0xff)] {
            assert_eq!(
                SigningKey::from_bytes(&bad).err(),
                Some(Error::InvalidSecretKey)
            );
        }
    }

    #[test]
    fn debug_does_not_show_the_secret() {
        let signer = key(0xab);
        let shown = format!("{signer:?}");
        assert!(shown.contains(&format!("{:?}", signer.address())));
        assert!(!shown.to_lowercase().contains(&"ab".repeat(32)));
    }
}
