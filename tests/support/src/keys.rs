//! Keys for devnets only: anvil's well-known dev accounts and the relayer's test key. Never for real funds.

use alloy::primitives::{Address, B256, b256};
use piecepay_protocol::{Eip712Domain, SigningKey, domain};

/// anvil's dev account 0 (its default mnemonic): deploys the contracts and holds the token supply.
pub const DEPLOYER_KEY: B256 =
    b256!("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80");

/// anvil's dev account 1.
pub const SECOND_KEY: B256 =
    b256!("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");

/// The relayer's submitting key in tests (not an anvil account: tests fund it with `set_balance`).
pub const RELAYER_KEY: B256 = B256::repeat_byte(0x77);

/// The chain id of tests that need no chain: anvil's.
pub const TEST_CHAIN_ID: u64 = 31_337;

/// The escrow address of tests that need no chain (nothing is deployed there).
pub const TEST_ESCROW: Address = Address::repeat_byte(0xe5);

/// The EIP-712 domain of [`TEST_ESCROW`] on [`TEST_CHAIN_ID`]: what receipts are signed under in tests
/// that need no chain.
pub fn test_domain() -> Eip712Domain {
    domain(TEST_CHAIN_ID, TEST_ESCROW)
}

/// The signing key whose 32 bytes are all `byte` (by the tests' convention, 1 is the payer, 2 the payee).
pub fn key(byte: u8) -> SigningKey {
    SigningKey::from_bytes(&B256::repeat_byte(byte)).expect("a valid secret key")
}
