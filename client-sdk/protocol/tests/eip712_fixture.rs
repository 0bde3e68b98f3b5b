//! Checks this crate against `contracts/test/fixtures/eip712.json`, which the forge side writes
//! (`script/WriteEip712Fixture.s.sol`) and checks (`test/unit/Eip712Fixture.t.sol`). If the contracts
//! change a type, a field or the domain, this test fails until both sides agree again.
//!
//! The message values are those of `contracts/test/utils/Eip712FixtureInputs.sol`, written out here and
//! checked against the fixture's `encodedData`, so a changed input is caught rather than followed.

use core::{fmt::Display, str::FromStr};

use piecepay_protocol::{
    CompactSignature, CooperativeClose, OpenChannel, RECEIPT_TYPEHASH, Receipt, RequestClose,
    SettleFeeCap, SigningKey, SolStruct, TopUp, Withdrawal,
    alloy_primitives::{
        Address, B256, Bytes, address,
        aliases::{U40, U96},
        keccak256,
    },
    alloy_sol_types::SolType,
    channel_id, domain,
    eip712::{DOMAIN_NAME, DOMAIN_VERSION},
};
use serde::{Deserialize, Deserializer};

const FIXTURE_JSON: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../contracts/test/fixtures/eip712.json"
));

// Eip712FixtureInputs.sol
const CHAIN_ID: u64 = 31_337;
const ESCROW: Address = address!("0x1000000000000000000000000000000000000001");
const PAYER_KEY: &str = "0x7061796572000000000000000000000000000000000000000000000000000001";
const PAYEE_KEY: &str = "0x7061796565000000000000000000000000000000000000000000000000000002";
const SALT: u32 = 0xC0FFEE;
const DEADLINE: u64 = 1_900_000_000;
/// The relayer every message but the withdrawal names.
const RELAYER: Address = address!("0x3000000000000000000000000000000000000003");

/// The fixture file; unknown fields fail the parse, so a message added on the forge side is noticed.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Fixture {
    #[allow(dead_code)]
    note: String,
    domain_name: String,
    domain_version: String,
    chain_id: u64,
    #[serde(deserialize_with = "parse")]
    verifying_contract: Address,
    #[serde(deserialize_with = "parse")]
    domain_separator: B256,
    #[serde(deserialize_with = "parse")]
    payer_key: B256,
    #[serde(deserialize_with = "parse")]
    payer: Address,
    #[serde(deserialize_with = "parse")]
    payee_key: B256,
    #[serde(deserialize_with = "parse")]
    payee: Address,
    salt: u32,
    #[serde(deserialize_with = "parse")]
    channel_id: B256,
    receipt: Message,
    open_channel: Message,
    top_up: Message,
    request_close: Message,
    withdrawal: Message,
    settle_fee_cap: Message,
    cooperative_close: Message,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Message {
    #[serde(rename = "type")]
    type_string: String,
    #[serde(deserialize_with = "parse")]
    typehash: B256,
    #[serde(deserialize_with = "parse")]
    encoded_data: Bytes,
    #[serde(deserialize_with = "parse")]
    struct_hash: B256,
    #[serde(deserialize_with = "parse")]
    digest: B256,
    #[serde(deserialize_with = "parse")]
    signer: Address,
    #[serde(deserialize_with = "parse")]
    r: B256,
    #[serde(deserialize_with = "parse")]
    vs: B256,
}

fn parse<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: Display,
{
    let text = String::deserialize(deserializer)?;
    text.parse().map_err(serde::de::Error::custom)
}

fn fixture() -> Fixture {
    serde_json::from_str(FIXTURE_JSON).expect("eip712.json parses")
}

fn payer() -> SigningKey {
    SigningKey::from_bytes(&PAYER_KEY.parse().unwrap()).unwrap()
}

fn payee() -> SigningKey {
    SigningKey::from_bytes(&PAYEE_KEY.parse().unwrap()).unwrap()
}

/// Every check the fixture allows on one message, `value` built from the fixture's inputs.
fn check<T>(name: &str, value: &T, fixture: &Message, signer: &SigningKey)
where
    T: SolStruct + PartialEq + core::fmt::Debug,
{
    assert_eq!(
        T::eip712_encode_type(),
        fixture.type_string,
        "{name}: type string"
    );
    assert_eq!(
        keccak256(&fixture.type_string),
        fixture.typehash,
        "{name}: typehash of the string"
    );
    assert_eq!(
        value.eip712_type_hash(),
        fixture.typehash,
        "{name}: typehash"
    );

    // The fixture's encodedData is abi.encode of the fields: decode it, and encode ours.
    let decoded = <T as SolType>::abi_decode_validate(&fixture.encoded_data)
        .unwrap_or_else(|e| panic!("{name}: encodedData decodes: {e}"));
    assert_eq!(&decoded, value, "{name}: fixture inputs");
    assert_eq!(
        value.eip712_encode_data(),
        fixture.encoded_data,
        "{name}: encodeData"
    );

    assert_eq!(
        value.eip712_hash_struct(),
        fixture.struct_hash,
        "{name}: struct hash"
    );
    let digest = value.eip712_signing_hash(&domain(CHAIN_ID, ESCROW));
    assert_eq!(digest, fixture.digest, "{name}: digest");

    assert_eq!(signer.address(), fixture.signer, "{name}: signer");
    let expected = CompactSignature::new(fixture.r, fixture.vs);
    assert_eq!(
        signer.sign_digest(&digest),
        Ok(expected),
        "{name}: signature (r, vs)"
    );
    assert_eq!(
        expected.recover(&digest),
        Ok(fixture.signer),
        "{name}: recovered signer"
    );
}

#[test]
fn domain_matches() {
    let f = fixture();
    assert_eq!(f.domain_name, DOMAIN_NAME);
    assert_eq!(f.domain_version, DOMAIN_VERSION);
    assert_eq!(f.chain_id, CHAIN_ID);
    assert_eq!(f.verifying_contract, ESCROW);
    assert_eq!(
        domain(f.chain_id, f.verifying_contract).separator(),
        f.domain_separator
    );
}

#[test]
fn parties_and_channel_id_match() {
    let f = fixture();
    assert_eq!(f.payer_key, PAYER_KEY.parse::<B256>().unwrap());
    assert_eq!(f.payee_key, PAYEE_KEY.parse::<B256>().unwrap());
    assert_eq!(payer().address(), f.payer);
    assert_eq!(payee().address(), f.payee);
    assert_eq!(f.salt, SALT);
    assert_eq!(channel_id(f.payer, f.payee, f.salt), f.channel_id);
}

#[test]
fn receipt() {
    let value = Receipt {
        payee: payee().address(),
        salt: SALT,
        cumulative: U96::from(1_500_000_000_000_000_000u128),
    };
    let f = fixture();
    check("receipt", &value, &f.receipt, &payer());
    assert_eq!(value.channel_id(payer().address()), f.channel_id);
    // The hot path's digest (constant typehash, separator computed once) is the same digest.
    assert_eq!(RECEIPT_TYPEHASH, f.receipt.typehash);
    assert_eq!(value.signing_hash(&f.domain_separator), f.receipt.digest);
}

#[test]
fn open_channel() {
    let value = OpenChannel {
        payee: payee().address(),
        salt: SALT,
        deposit: U96::from(5_000_000_000_000_000_000u128),
        fee: U96::from(1_000_000_000_000_000u128),
        relayer: RELAYER,
        channelNonce: 3,
        deadline: U40::from(DEADLINE),
    };
    check("openChannel", &value, &fixture().open_channel, &payer());
}

#[test]
fn top_up() {
    let value = TopUp {
        payee: payee().address(),
        salt: SALT,
        deposit: U96::from(8_000_000_000_000_000_000u128),
        fee: U96::from(2_000_000_000_000_000u128),
        relayer: RELAYER,
        channelNonce: 4,
        deadline: U40::from(DEADLINE),
    };
    check("topUp", &value, &fixture().top_up, &payer());
}

#[test]
fn request_close() {
    let value = RequestClose {
        payee: payee().address(),
        salt: SALT,
        fee: U96::from(3_000_000_000_000_000u128),
        relayer: RELAYER,
        deadline: U40::from(DEADLINE),
    };
    check("requestClose", &value, &fixture().request_close, &payer());
}

#[test]
fn withdrawal() {
    // Signed by the payee, withdrawing to the payer's address.
    let value = Withdrawal {
        to: payer().address(),
        amount: 4_000_000_000_000_000_000,
        fee: 4_000_000_000_000_000,
        relayer: Address::ZERO,
        nonce: 9,
        deadline: U40::from(DEADLINE),
    };
    check("withdrawal", &value, &fixture().withdrawal, &payee());
}

#[test]
fn settle_fee_cap() {
    let value = SettleFeeCap {
        bps: 125,
        relayer: RELAYER,
        nonce: 3,
        deadline: U40::from(DEADLINE),
    };
    check("settleFeeCap", &value, &fixture().settle_fee_cap, &payee());
}

#[test]
fn cooperative_close() {
    let value = CooperativeClose {
        payer: payer().address(),
        payee: payee().address(),
        salt: SALT,
        cumulative: U96::from(2_000_000_000_000_000_000u128),
        fee: U96::from(5_000_000_000_000_000u128),
        relayer: RELAYER,
        channelNonce: 6,
        deadline: U40::from(DEADLINE),
    };
    check(
        "cooperativeClose",
        &value,
        &fixture().cooperative_close,
        &payer(),
    );
}
