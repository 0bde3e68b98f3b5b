//! piecepay's EIP-712 domain and signed messages.
//!
//! The type strings mirror `contracts/src/libraries/PaymentHash.sol` exactly (field names, types and
//! order), and `contracts/test/fixtures/eip712.json` pins both sides to the same hashes. Signed structs
//! never carry their signer: the contract recovers it from the signature.
//!
//! Hash a message with [`SolStruct`](alloy_sol_types::SolStruct): `msg.eip712_hash_struct()` for the
//! struct hash, `msg.eip712_signing_hash(&domain)` for the digest to sign.

use std::borrow::Cow;

use alloy_primitives::{Address, B256, U256, b256, keccak256};
use alloy_sol_types::{Eip712Domain, sol};

/// `name` of the escrow's EIP-712 domain.
pub const DOMAIN_NAME: &str = "piecepay";

/// `version` of the escrow's EIP-712 domain.
pub const DOMAIN_VERSION: &str = "1";

/// The EIP-712 domain of the escrow deployed at `verifying_contract` on chain `chain_id`.
///
/// Its separator equals the escrow's `DOMAIN_SEPARATOR()`.
pub const fn domain(chain_id: u64, verifying_contract: Address) -> Eip712Domain {
    Eip712Domain::new(
        Some(Cow::Borrowed(DOMAIN_NAME)),
        Some(Cow::Borrowed(DOMAIN_VERSION)),
        Some(U256::from_limbs([chain_id, 0, 0, 0])),
        Some(verifying_contract),
        None,
    )
}

/// The id of the channel from `payer` to `payee` with `salt`: `keccak256(abi.encode(payer, payee, salt))`,
/// as `PaymentHash.channelId` computes it.
pub fn channel_id(payer: Address, payee: Address, salt: u32) -> B256 {
    // abi.encode of three static values: each left-padded to a 32-byte word.
    let mut words = [0u8; 96];
    words[12..32].copy_from_slice(payer.as_slice());
    words[44..64].copy_from_slice(payee.as_slice());
    words[92..96].copy_from_slice(&salt.to_be_bytes());
    keccak256(words)
}

sol! {
    /// A payer's promise that `payee` may settle up to `cumulative` from their channel `salt`.
    ///
    /// Amounts are cumulative: a receipt supersedes every lower one of the same channel. The payer is
    /// recovered from the signature; with `payee` and `salt` it yields the [`channel_id`].
    #[derive(Debug, PartialEq, Eq, Hash)]
    struct Receipt {
        /// The channel's payee.
        address payee;
        /// The payer's salt that, with payer and payee, identifies the channel.
        uint32 salt;
        /// Total amount owed to the payee over the channel's life, in token base units.
        uint96 cumulative;
    }

    /// The payer's authorisation to open channel (payer, `payee`, `salt`) funded with `deposit` from
    /// its free balance, paying the relayer `fee`. Replay-safe without a nonce: a channel id can be opened
    /// only once.
    #[derive(Debug, PartialEq, Eq, Hash)]
    struct OpenChannel {
        /// The channel's payee.
        address payee;
        /// The payer's salt for the new channel.
        uint32 salt;
        /// Amount moved from the payer's free balance into the channel.
        uint96 deposit;
        /// What the submitting relayer takes from the payer's free balance.
        uint96 fee;
        /// The only account that may submit it (and collect `fee`); zero: anyone.
        address relayer;
        /// The channel's nonce (0 unless advanced): advancing it voids this open.
        uint16 channelNonce;
        /// Unix time after which the authorisation is void.
        uint40 deadline;
    }

    /// The payer's authorisation to raise an open channel's deposit to the new total `deposit`, paying
    /// the relayer `fee`.
    #[derive(Debug, PartialEq, Eq, Hash)]
    struct TopUp {
        /// The channel's payee.
        address payee;
        /// The channel's salt.
        uint32 salt;
        /// The new total deposit (a replay finds it already there).
        uint96 deposit;
        /// What the submitting relayer takes from the payer's free balance.
        uint96 fee;
        /// The only account that may submit it (and collect `fee`); zero: anyone.
        address relayer;
        /// The channel's nonce: advancing it voids this top-up.
        uint16 channelNonce;
        /// Unix time after which the authorisation is void.
        uint40 deadline;
    }

    /// The payer's authorisation to start the unilateral close (and its challenge window) of a channel,
    /// paying the relayer `fee`. No nonce: it is the payer's way out, which nobody may block.
    #[derive(Debug, PartialEq, Eq, Hash)]
    struct RequestClose {
        /// The channel's payee.
        address payee;
        /// The channel's salt.
        uint32 salt;
        /// What the submitting relayer takes from the payer's free balance.
        uint96 fee;
        /// The only account that may submit it (and collect `fee`); zero: anyone.
        address relayer;
        /// Unix time after which the authorisation is void.
        uint40 deadline;
    }

    /// The signer's authorisation to withdraw `amount` of its free balance to `to`, paying the relayer
    /// `fee`.
    #[derive(Debug, PartialEq, Eq, Hash)]
    struct Withdrawal {
        /// Recipient of the tokens.
        address to;
        /// Amount withdrawn from the signer's free balance.
        uint128 amount;
        /// What the submitting relayer takes from the signer's free balance.
        uint128 fee;
        /// The only account that may submit it (and collect `fee`); zero: anyone.
        address relayer;
        /// The signer's next account nonce; a withdrawal uses it up.
        uint64 nonce;
        /// Unix time after which the authorisation is void.
        uint40 deadline;
    }

    /// The payee's settlement fee setting: `relayer`, and no one else, may keep up to `bps` of each
    /// amount it settles for the payee. Anyone may submit it (it pays no fee).
    #[derive(Debug, PartialEq, Eq, Hash)]
    struct SettleFeeCap {
        /// Fee cap in basis points (1/10,000) of the settled amount.
        uint16 bps;
        /// The one relayer that may take the fee; zero: none.
        address relayer;
        /// The signer's next account nonce.
        uint64 nonce;
        /// Unix time after which the authorisation is void.
        uint40 deadline;
    }

    /// Both parties' agreement to close a channel at once: the payee ends with at least `cumulative`
    /// (capped at the deposit), the rest goes back to the payer, who pays the relayer `fee`. Signed by
    /// payer and payee alike; either voids it by advancing the channel's nonce.
    #[derive(Debug, PartialEq, Eq, Hash)]
    struct CooperativeClose {
        /// The channel's payer.
        address payer;
        /// The channel's payee.
        address payee;
        /// The channel's salt.
        uint32 salt;
        /// Final total owed to the payee.
        uint96 cumulative;
        /// What the submitting relayer takes from the payer.
        uint96 fee;
        /// The only account that may submit it (and collect `fee`); zero: anyone.
        address relayer;
        /// The channel's nonce: advancing it voids this close.
        uint16 channelNonce;
        /// Unix time after which the agreement is void.
        uint40 deadline;
    }
}

/// `keccak256("Receipt(address payee,uint32 salt,uint96 cumulative)")`, as a constant: receipts are the
/// hot path and `SolStruct` hashes the type string on every call. Pinned by the EIP-712 fixture test.
pub const RECEIPT_TYPEHASH: B256 =
    b256!("0xcb94042996b0f55c8170d1f022df52f6af9f0b192ae2777da06c62206beeab6c");

/// The EIP-712 digest of a struct: `keccak256(0x1901 ‖ domain separator ‖ struct hash)`.
///
/// With the separator computed once per escrow ([`Eip712Domain::separator`] hashes the domain's strings
/// on every call), this is the cheap form of `SolStruct::eip712_signing_hash`.
pub fn signing_hash(domain_separator: &B256, struct_hash: &B256) -> B256 {
    let mut bytes = [0u8; 66];
    bytes[..2].copy_from_slice(&[0x19, 0x01]);
    bytes[2..34].copy_from_slice(domain_separator.as_slice());
    bytes[34..].copy_from_slice(struct_hash.as_slice());
    keccak256(bytes)
}

impl Receipt {
    /// The id of the channel this receipt pays on, given the payer recovered from its signature.
    pub fn channel_id(&self, payer: Address) -> B256 {
        channel_id(payer, self.payee, self.salt)
    }

    /// The digest the payer signs, given the escrow's domain separator: equal to
    /// `self.eip712_signing_hash(&domain)` with two keccaks instead of seven.
    pub fn signing_hash(&self, domain_separator: &B256) -> B256 {
        // hashStruct = keccak256(typehash ‖ payee ‖ salt ‖ cumulative), each field a left-padded word.
        let mut words = [0u8; 128];
        words[..32].copy_from_slice(RECEIPT_TYPEHASH.as_slice());
        words[44..64].copy_from_slice(self.payee.as_slice());
        words[92..96].copy_from_slice(&self.salt.to_be_bytes());
        words[116..].copy_from_slice(&self.cumulative.to_be_bytes::<12>());
        signing_hash(domain_separator, &keccak256(words))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::address;
    use alloy_sol_types::SolValue;

    #[test]
    fn channel_id_is_abi_encode_of_its_parts() {
        let payer = address!("0x512e29b5e7ACf77698a4C92EA035Fcc27DEBc7D8");
        let payee = address!("0xFa8c09FEE139fc656d27D2F2fE34c625E9bF4b31");
        for salt in [0, 1, 0xC0FFEE, u32::MAX] {
            let expected = keccak256((payer, payee, salt).abi_encode_params());
            assert_eq!(channel_id(payer, payee, salt), expected);
        }
    }

    #[test]
    fn channel_id_depends_on_order_and_salt() {
        let a = Address::repeat_byte(0xaa);
        let b = Address::repeat_byte(0xbb);
        assert_ne!(channel_id(a, b, 1), channel_id(b, a, 1));
        assert_ne!(channel_id(a, b, 1), channel_id(a, b, 2));
    }

    #[test]
    fn receipt_channel_id_uses_its_payee_and_salt() {
        let payer = Address::repeat_byte(1);
        let receipt = Receipt {
            payee: Address::repeat_byte(2),
            salt: 7,
            cumulative: alloy_primitives::aliases::U96::from(1u8),
        };
        assert_eq!(
            receipt.channel_id(payer),
            channel_id(payer, receipt.payee, 7)
        );
    }

    #[test]
    fn receipt_signing_hash_is_the_eip712_digest() {
        use alloy_sol_types::SolStruct;
        let d = domain(31_337, Address::repeat_byte(0xe5));
        for (salt, cumulative) in [(0, 1u128), (7, 10), (u32::MAX, (1 << 96) - 1)] {
            let receipt = Receipt {
                payee: Address::repeat_byte(0xbb),
                salt,
                cumulative: alloy_primitives::aliases::U96::from(cumulative),
            };
            assert_eq!(receipt.eip712_type_hash(), RECEIPT_TYPEHASH);
            assert_eq!(
                receipt.signing_hash(&d.separator()),
                receipt.eip712_signing_hash(&d)
            );
        }
    }

    #[test]
    fn domain_fields() {
        let contract = Address::repeat_byte(3);
        let d = domain(31_337, contract);
        assert_eq!(d.name.as_deref(), Some("piecepay"));
        assert_eq!(d.version.as_deref(), Some("1"));
        assert_eq!(d.chain_id, Some(alloy_primitives::U256::from(31_337u64)));
        assert_eq!(d.verifying_contract, Some(contract));
        assert_eq!(d.salt, None);
        assert_eq!(
            d.encode_type(),
            "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
        );
    }
}
