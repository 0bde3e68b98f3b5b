//! Values the API's unit tests share: parties, a domain, golden JSON and assertion helpers.

use core::fmt;

use alloy_primitives::{Address, B256, address, b256};
use serde::{Deserialize, Serialize};

use super::*;
use crate::SigningKey;
pub(crate) use piecepay_test_support::keys::{golden_receipt, test_domain};
use serde_json::{Value, json};

pub(crate) const PAYER: Address = address!("0x1a642f0E3c3aF545E7AcBD38b07251B3990914F1");
pub(crate) const PAYEE: Address = address!("0x5050A4F4b3f9338C3472dcC01A87C76A144b3c9c");
pub(crate) const ESCROW: Address = Address::repeat_byte(0xe5);
pub(crate) const CHANNEL: B256 =
    b256!("0xf26689e6d6b24fa28e41abc2dc678ea392367fe09febe13473d8c464f767d793");
pub(crate) const ONE_TOKEN: u128 = 1_000_000_000_000_000_000;
pub(crate) const DEADLINE: u64 = 1_700_003_600;

pub(crate) fn key(byte: u8) -> SigningKey {
    SigningKey::from_bytes(&B256::repeat_byte(byte)).unwrap()
}

pub(crate) fn golden_open() -> Value {
    json!({
        "type": "open",
        "payer": "0x1a642f0E3c3aF545E7AcBD38b07251B3990914F1",
        "payee": "0x5050A4F4b3f9338C3472dcC01A87C76A144b3c9c",
        "salt": 7,
        "deposit": "5000000000000000000",
        "fee": "1000000000000000",
        "relayer": "0x7e7e7e7E7e7E7e7e7e7E7e7e7e7E7e7e7e7e7e7E",
        "deadline": 1700003600,
        "signature": {
            "r": "0x0246537e4fd0c75d354513e5726721e6d29a6945cbd7ea4871424f54649cb68a",
            "vs": "0xfa883ca570f6e5eb990631c04b9234b425344e78a6eecd52cb08c087c92d47e6"
        }
    })
}

pub(crate) fn golden_cooperative_close() -> Value {
    json!({
        "type": "cooperative_close",
        "payer": "0x1a642f0E3c3aF545E7AcBD38b07251B3990914F1",
        "payee": "0x5050A4F4b3f9338C3472dcC01A87C76A144b3c9c",
        "salt": 7,
        "cumulative": "1000000000000000000",
        "fee": "1000000000000000",
        "relayer": "0x7e7e7e7E7e7E7e7e7e7E7e7e7e7E7e7e7e7e7e7E",
        "channel_nonce": 1,
        "deadline": 1700003600,
        "payer_signature": {
            "r": "0xab469a4c23e56431534c6ae7a5c9582256651c51d9590e1fd2a2c521a0fd87e2",
            "vs": "0x13f70c0b0ad8ba99b6720fc04be98785e35acaf619e0c7363370020d931ed22e"
        },
        "payee_signature": {
            "r": "0xc8434503887727438c04a2a1a6fdd2c3dbe92b9080056d776fb0472ed642cf93",
            "vs": "0x5902379aae23bf840ab8206b41a73a58a1027960c290fbfdcc1d08c9eef1992b"
        }
    })
}

pub(crate) fn receipt_with(field: &str, value: Value) -> ReceiptSubmission {
    let mut json = golden_receipt();
    json[field] = value;
    serde_json::from_value(json).unwrap()
}

pub(crate) fn code<T: fmt::Debug>(result: Result<T, ApiError>) -> ErrorCode {
    result.unwrap_err().code
}

/// `value` serializes to exactly `golden`, and `golden` deserializes back to `value`.
pub(crate) fn assert_golden<T>(value: &T, golden: Value)
where
    T: Serialize + for<'de> Deserialize<'de> + PartialEq + fmt::Debug,
{
    assert_eq!(serde_json::to_value(value).unwrap(), golden);
    assert_eq!(&serde_json::from_value::<T>(golden).unwrap(), value);
    let text = serde_json::to_string(value).unwrap();
    assert_eq!(&serde_json::from_str::<T>(&text).unwrap(), value);
}
