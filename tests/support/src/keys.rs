//! Keys for devnets only: anvil's well-known dev accounts and the relayer's test key. Never for real funds.

use alloy::primitives::{Address, B256, b256};
use piecepay_protocol::{Eip712Domain, SigningKey, domain};
use serde_json::{Value, json};

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

/// The golden receipt of the relayer API (`POST /v1/receipts`): [`key`]`(1)` paying one token (10^18) to
/// [`key`]`(2)`'s address on salt 7, signed under [`test_domain`]. Both sides of the API check their JSON
/// against this one value.
pub fn golden_receipt() -> Value {
    json!({
        "payee": "0x5050A4F4b3f9338C3472dcC01A87C76A144b3c9c",
        "salt": 7,
        "cumulative": "1000000000000000000",
        "signature": {
            "r": "0x0699f75294ad1011346408d3420b85a4aec67ab2640aba38c4ab97b1465919a5",
            "vs": "0x142c117351996d6ec9613c715326d36e96376c18b1cee1da256c570edc0188e4"
        }
    })
}
