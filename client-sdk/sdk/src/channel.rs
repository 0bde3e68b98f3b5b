//! What both sides of a channel share: its identity, the agreed terms and signed messages.

pub use piecepay_protocol::amount::{Amount, CreditWindow, MAX_AMOUNT, from_u96};
use piecepay_protocol::{
    CompactSignature, Eip712Domain, Receipt, SigningKey, SolStruct,
    alloy_primitives::{
        Address, B256,
        aliases::{U40, U96},
    },
    amount, channel_id,
};

use crate::{Error, Result};

/// `amount` as the `uint96` the escrow's messages carry, or [`Error::AmountTooLarge`].
pub(crate) fn to_u96(amount: Amount) -> Result<U96> {
    amount::to_u96(amount).ok_or(Error::AmountTooLarge { amount })
}

/// `deadline` as the `uint40` timestamp the escrow's messages carry.
pub(crate) fn to_u40(deadline: u64) -> Result<U40> {
    U40::try_from(deadline).map_err(|_| Error::DeadlineOutOfRange { deadline })
}

/// Checks a deposit reported by the chain (or asked for): positive and within the `uint96` range.
pub(crate) fn check_deposit(deposit: Amount) -> Result<()> {
    if deposit == 0 {
        return Err(Error::ZeroAmount);
    }
    if deposit > MAX_AMOUNT {
        return Err(Error::AmountTooLarge { amount: deposit });
    }
    Ok(())
}

/// One payment channel payer → payee on one escrow: its EIP-712 domain, its parties and salt, and the id
/// the escrow derives from them (computed once).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Channel {
    domain: Eip712Domain,
    /// `domain.separator()`, kept because hashing the domain costs five keccaks per receipt otherwise.
    domain_separator: B256,
    payer: Address,
    payee: Address,
    salt: u32,
    id: B256,
}

impl Channel {
    /// The channel `payer` → `payee` with `salt` on the escrow of `domain` (see
    /// [`piecepay_protocol::domain`]).
    ///
    /// Fails with [`Error::InvalidChannel`] for parties the escrow refuses (a zero address, or payer = payee)
    /// and for a domain that is not an escrow's (`domain(chain_id, escrow)`: other name, version or salt).
    pub fn new(domain: Eip712Domain, payer: Address, payee: Address, salt: u32) -> Result<Self> {
        // Receipts signed in any other domain would verify here and never settle on the escrow.
        let escrow_domain = match (&domain.chain_id, domain.verifying_contract) {
            (Some(chain_id), Some(escrow)) => u64::try_from(*chain_id)
                .ok()
                .map(|chain_id| piecepay_protocol::domain(chain_id, escrow)),
            _ => None,
        };
        if escrow_domain.as_ref() != Some(&domain) {
            return Err(Error::InvalidChannel("not the escrow's EIP-712 domain"));
        }
        if payer.is_zero() || payee.is_zero() {
            return Err(Error::InvalidChannel("zero address"));
        }
        if payer == payee {
            return Err(Error::InvalidChannel("payer and payee are the same"));
        }
        Ok(Self {
            domain_separator: domain.separator(),
            domain,
            payer,
            payee,
            salt,
            id: channel_id(payer, payee, salt),
        })
    }

    /// The escrow's EIP-712 domain.
    pub const fn domain(&self) -> &Eip712Domain {
        &self.domain
    }

    /// The escrow's EIP-712 domain separator (its `DOMAIN_SEPARATOR()`).
    pub const fn domain_separator(&self) -> &B256 {
        &self.domain_separator
    }

    /// Who pays.
    pub const fn payer(&self) -> Address {
        self.payer
    }

    /// Who is paid.
    pub const fn payee(&self) -> Address {
        self.payee
    }

    /// The payer's salt for this channel.
    pub const fn salt(&self) -> u32 {
        self.salt
    }

    /// `keccak256(abi.encode(payer, payee, salt))`, the escrow's channel id.
    pub const fn id(&self) -> B256 {
        self.id
    }

    /// Checks that `signature` over `receipt` was made by this channel's payer for this channel, and
    /// returns the receipt's cumulative amount.
    ///
    /// This is the escrow's own check: the payer is recovered (high-s rejected) and the channel id derived
    /// from it with the receipt's payee and salt.
    pub fn verify_receipt(
        &self,
        receipt: &Receipt,
        signature: &CompactSignature,
    ) -> Result<Amount> {
        let recovered = signature.recover(&receipt.signing_hash(&self.domain_separator))?;
        if recovered != self.payer {
            return Err(Error::WrongSigner {
                recovered,
                expected: self.payer,
            });
        }
        // With the payer equal, the ids are equal exactly when payee and salt are: no keccak needed.
        if receipt.payee != self.payee || receipt.salt != self.salt {
            return Err(Error::ChannelMismatch {
                expected: self.id,
                actual: receipt.channel_id(recovered),
            });
        }
        Ok(from_u96(receipt.cumulative))
    }

    /// Signs `message` in this channel's domain with `key`, which must be `party`'s.
    pub(crate) fn sign<T: SolStruct>(
        &self,
        key: &SigningKey,
        party: Address,
        message: T,
    ) -> Result<Signed<T>> {
        if key.address() != party {
            return Err(Error::WrongKey {
                key: key.address(),
                expected: party,
            });
        }
        let signature = key.sign_digest(&message.eip712_signing_hash(&self.domain))?;
        Ok(Signed { message, signature })
    }

    /// [`Channel::sign`] for a receipt, the one message signed per piece: the digest comes from the
    /// separator hashed once per channel (two keccaks instead of seven), the same digest
    /// [`Channel::verify_receipt`] checks.
    pub(crate) fn sign_receipt(
        &self,
        key: &SigningKey,
        receipt: Receipt,
    ) -> Result<Signed<Receipt>> {
        if key.address() != self.payer {
            return Err(Error::WrongKey {
                key: key.address(),
                expected: self.payer,
            });
        }
        let signature = key.sign_digest(&receipt.signing_hash(&self.domain_separator))?;
        Ok(Signed {
            message: receipt,
            signature,
        })
    }
}

/// What payer and payee agreed: the price of one piece and the credit the payee extends.
///
/// Terms may be renegotiated on an open channel (a raised bid): receipts carry cumulative totals, so a
/// new price only changes what the next piece adds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Terms {
    price: Amount,
    credit: CreditWindow,
}

impl Terms {
    /// Terms at `price` per piece with `credit` extended.
    ///
    /// Fails with [`Error::InvalidTerms`] for a zero price, a price above [`MAX_AMOUNT`], or a credit
    /// window that does not cover one piece (no piece could ever be served, since payment follows it).
    pub fn new(price: Amount, credit: CreditWindow) -> Result<Self> {
        if price == 0 {
            return Err(Error::InvalidTerms("price must be positive"));
        }
        if price > MAX_AMOUNT {
            return Err(Error::InvalidTerms(
                "price exceeds the escrow's uint96 range",
            ));
        }
        let terms = Self { price, credit };
        if terms.credit_limit() < price {
            return Err(Error::InvalidTerms("credit window must cover one piece"));
        }
        Ok(terms)
    }

    /// Price of one piece, in token base units.
    pub const fn price(&self) -> Amount {
        self.price
    }

    /// The credit window as agreed.
    pub const fn credit(&self) -> CreditWindow {
        self.credit
    }

    /// The credit window in token base units: how much served value may be unpaid at once.
    pub const fn credit_limit(&self) -> Amount {
        self.credit.limit(self.price)
    }
}

/// A message with its signer's EIP-2098 signature; the signer is recovered, never sent.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Signed<T> {
    /// The signed EIP-712 message.
    pub message: T,
    /// The signature over the message's EIP-712 signing hash.
    pub signature: CompactSignature,
}

/// A payer-signed [`Receipt`]: what a payee holds and settles.
pub type SignedReceipt = Signed<Receipt>;

impl SignedReceipt {
    /// The receipt's cumulative amount.
    pub fn cumulative(&self) -> Amount {
        from_u96(self.message.cumulative)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use piecepay_protocol::domain;

    pub(crate) fn key(byte: u8) -> SigningKey {
        SigningKey::from_bytes(&B256::repeat_byte(byte)).unwrap()
    }

    pub(crate) fn channel_between(payer: &SigningKey, payee: &SigningKey, salt: u32) -> Channel {
        Channel::new(
            domain(31_337, Address::repeat_byte(0xe5)),
            payer.address(),
            payee.address(),
            salt,
        )
        .unwrap()
    }

    fn receipt(channel: &Channel, cumulative: u64) -> Receipt {
        Receipt {
            payee: channel.payee(),
            salt: channel.salt(),
            cumulative: U96::from(cumulative),
        }
    }

    #[test]
    fn channel_id_is_the_protocol_one() {
        let (payer, payee) = (key(1), key(2));
        let channel = channel_between(&payer, &payee, 9);
        assert_eq!(
            channel.id(),
            channel_id(payer.address(), payee.address(), 9)
        );
        assert_eq!(channel.payer(), payer.address());
        assert_eq!(channel.payee(), payee.address());
        assert_eq!(channel.salt(), 9);
        assert_eq!(
            channel.domain().chain_id,
            Some(31_337u64.try_into().unwrap())
        );
    }

    #[test]
    fn channel_rejects_what_the_escrow_rejects() {
        let d = domain(1, Address::repeat_byte(1));
        let a = Address::repeat_byte(0xaa);
        for (payer, payee) in [(Address::ZERO, a), (a, Address::ZERO), (a, a)] {
            assert_eq!(
                Channel::new(d.clone(), payer, payee, 0).unwrap_err().code(),
                "invalid_channel"
            );
        }
    }

    #[test]
    fn channel_rejects_a_domain_that_is_not_an_escrows() {
        let (a, b) = (Address::repeat_byte(0xaa), Address::repeat_byte(0xbb));
        let good = domain(1, Address::repeat_byte(1));
        assert!(Channel::new(good.clone(), a, b, 0).is_ok());
        let mut renamed = good.clone();
        renamed.name = Some("other".into());
        let mut salted = good.clone();
        salted.salt = Some(B256::repeat_byte(1));
        let mut chainless = good.clone();
        chainless.chain_id = None;
        let mut contractless = good;
        contractless.verifying_contract = None;
        for bad in [renamed, salted, chainless, contractless] {
            assert_eq!(
                Channel::new(bad, a, b, 0),
                Err(Error::InvalidChannel("not the escrow's EIP-712 domain"))
            );
        }
    }

    #[test]
    fn verify_receipt_accepts_the_payers_signature() {
        let (payer, payee) = (key(1), key(2));
        let channel = channel_between(&payer, &payee, 1);
        let signed = channel
            .sign(&payer, payer.address(), receipt(&channel, 500))
            .unwrap();
        assert_eq!(signed.cumulative(), 500);
        assert_eq!(
            channel.verify_receipt(&signed.message, &signed.signature),
            Ok(500)
        );
    }

    #[test]
    fn sign_receipt_is_sign_with_the_cached_separator() {
        let (payer, payee) = (key(1), key(2));
        let channel = channel_between(&payer, &payee, 1);
        for cumulative in [1, 500, u64::MAX] {
            let message = receipt(&channel, cumulative);
            // RFC 6979 nonces: equal digests give byte-equal signatures.
            assert_eq!(
                channel.sign_receipt(&payer, message.clone()),
                channel.sign(&payer, payer.address(), message)
            );
        }
        assert_eq!(
            channel.sign_receipt(&payee, receipt(&channel, 1)),
            Err(Error::WrongKey {
                key: payee.address(),
                expected: payer.address()
            })
        );
    }

    #[test]
    fn verify_receipt_rejects_another_signer() {
        let (payer, payee, other) = (key(1), key(2), key(3));
        let channel = channel_between(&payer, &payee, 1);
        let message = receipt(&channel, 500);
        let signature = other
            .sign_digest(&message.eip712_signing_hash(channel.domain()))
            .unwrap();
        assert_eq!(
            channel.verify_receipt(&message, &signature),
            Err(Error::WrongSigner {
                recovered: other.address(),
                expected: payer.address()
            })
        );
    }

    #[test]
    fn verify_receipt_rejects_another_channel() {
        let (payer, payee) = (key(1), key(2));
        let channel = channel_between(&payer, &payee, 1);
        let other_salt = channel_between(&payer, &payee, 2);
        let signed = other_salt
            .sign(&payer, payer.address(), receipt(&other_salt, 5))
            .unwrap();
        assert_eq!(
            channel.verify_receipt(&signed.message, &signed.signature),
            Err(Error::ChannelMismatch {
                expected: channel.id(),
                actual: other_salt.id()
            })
        );
    }

    #[test]
    fn verify_receipt_rejects_another_domain() {
        let (payer, payee) = (key(1), key(2));
        let channel = channel_between(&payer, &payee, 1);
        let elsewhere = Channel::new(
            domain(1, Address::repeat_byte(0xe5)),
            payer.address(),
            payee.address(),
            1,
        )
        .unwrap();
        let signed = elsewhere
            .sign(&payer, payer.address(), receipt(&elsewhere, 5))
            .unwrap();
        assert_eq!(
            channel
                .verify_receipt(&signed.message, &signed.signature)
                .unwrap_err()
                .code(),
            "wrong_signer"
        );
    }

    #[test]
    fn verify_receipt_rejects_a_broken_signature() {
        let (payer, payee) = (key(1), key(2));
        let channel = channel_between(&payer, &payee, 1);
        let broken = CompactSignature::new(B256::ZERO, B256::ZERO);
        assert_eq!(
            channel.verify_receipt(&receipt(&channel, 1), &broken),
            Err(Error::Protocol(piecepay_protocol::Error::InvalidSignature))
        );
    }

    #[test]
    fn sign_refuses_a_key_that_is_not_the_partys() {
        let (payer, payee) = (key(1), key(2));
        let channel = channel_between(&payer, &payee, 1);
        assert_eq!(
            channel.sign(&payee, payer.address(), receipt(&channel, 1)),
            Err(Error::WrongKey {
                key: payee.address(),
                expected: payer.address()
            })
        );
    }

    #[test]
    fn terms_validation() {
        assert_eq!(
            Terms::new(0, CreditWindow::Pieces(1)),
            Err(Error::InvalidTerms("price must be positive"))
        );
        assert!(Terms::new(MAX_AMOUNT + 1, CreditWindow::Pieces(1)).is_err());
        assert!(Terms::new(10, CreditWindow::Pieces(0)).is_err());
        assert!(Terms::new(10, CreditWindow::Amount(9)).is_err());
        let terms = Terms::new(10, CreditWindow::Amount(10)).unwrap();
        assert_eq!((terms.price(), terms.credit_limit()), (10, 10));
        let terms = Terms::new(10, CreditWindow::Pieces(4)).unwrap();
        assert_eq!(terms.credit(), CreditWindow::Pieces(4));
        assert_eq!(terms.credit_limit(), 40);
        let huge = Terms::new(MAX_AMOUNT, CreditWindow::Pieces(u32::MAX)).unwrap();
        assert_eq!(huge.credit_limit(), MAX_AMOUNT * u32::MAX as Amount);
    }

    #[test]
    fn amount_conversions_respect_the_escrow_ranges() {
        assert_eq!(from_u96(to_u96(MAX_AMOUNT).unwrap()), MAX_AMOUNT);
        assert_eq!(
            to_u96(MAX_AMOUNT + 1),
            Err(Error::AmountTooLarge {
                amount: MAX_AMOUNT + 1
            })
        );
        assert!(to_u40((1 << 40) - 1).is_ok());
        assert_eq!(
            to_u40(1 << 40),
            Err(Error::DeadlineOutOfRange { deadline: 1 << 40 })
        );
    }
}
