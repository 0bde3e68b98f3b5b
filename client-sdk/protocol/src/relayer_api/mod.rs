//! The relayer's HTTP API, version 1: request and response bodies, error codes, limits, and the pure
//! validation the relayer runs on what it is sent. `docs/relayer-api.md` is the prose contract.
//!
//! JSON conventions, the same everywhere:
//! - amounts, fees and nonces are **decimal strings** (`"1000000000000000000"`): they exceed 2^53, past
//!   which JavaScript and many JSON parsers lose precision. Canonical form only: digits, no sign, no
//!   leading zeros.
//! - addresses are `0x` + 40 hex digits (all lower, all upper, or EIP-55 mixed case, which must then
//!   check out); the relayer answers with EIP-55 checksummed addresses.
//! - hashes and ids are `0x` + 64 hex digits; the relayer answers in lower case.
//! - signatures are EIP-2098 compact, `{"r": "0x…", "vs": "0x…"}`.
//! - salts, deadlines, block numbers, basis points and the chain id are JSON numbers (all below 2^53).
//!
//! Request bodies keep their fields as the strings that were sent, so that one malformed receipt in a
//! batch is rejected with its own [`ErrorCode`] while the others go through: `serde` only fails a whole
//! request for JSON of the wrong *shape* (a missing field, a number where a string belongs). The
//! `parse`/`verify` methods turn a submission into protocol types; they do no IO, keep no clock and
//! hold no state, so the relayer and its tests share them.
//!
//! Response bodies carry typed values (serialized in the forms above), so a client gets protocol types.

pub use crate::admission::Admission;

/// The API version, also the first segment of every versioned path.
pub const API_VERSION: &str = "v1";

/// Most receipts one `POST /v1/receipts` may carry.
pub const MAX_RECEIPTS_PER_REQUEST: usize = 1_000;

/// Most gasless operations one `POST /v1/operations` may carry.
pub const MAX_OPERATIONS_PER_REQUEST: usize = 100;

/// Largest request body the relayer reads, in bytes (1 MiB). A full batch of receipts takes about a
/// quarter of it.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// Largest `uint40`: the escrow's bound on timestamps (deadlines, `closesAt`).
pub const MAX_UINT40: u64 = (1 << 40) - 1;

/// Largest settlement fee cap, in basis points (100%).
pub const MAX_FEE_CAP_BPS: u16 = 10_000;

#[cfg(feature = "schemars")]
pub mod schema;

/// Every route of the API, in axum 0.8's path syntax (`{param}`).
pub mod paths {
    /// `GET`: [`RelayerInfo`](super::RelayerInfo).
    pub const INFO: &str = "/v1/info";
    /// `POST`: [`SubmitReceiptsRequest`](super::SubmitReceiptsRequest) →
    /// [`SubmitReceiptsResponse`](super::SubmitReceiptsResponse).
    pub const RECEIPTS: &str = "/v1/receipts";
    /// `POST`: [`SubmitOperationsRequest`](super::SubmitOperationsRequest) →
    /// [`SubmitOperationsResponse`](super::SubmitOperationsResponse).
    pub const OPERATIONS: &str = "/v1/operations";
    /// `GET`: [`OperationStatus`](super::OperationStatus).
    pub const OPERATION: &str = "/v1/operations/{operation_id}";
    /// `GET`: [`ChannelStatus`](super::ChannelStatus).
    pub const CHANNEL: &str = "/v1/channels/{channel_id}";
    /// `GET`: [`SettlementStatus`](super::SettlementStatus).
    pub const SETTLEMENT: &str = "/v1/channels/{channel_id}/settlement";
    /// `GET`: the OpenAPI 3.1 document of this API.
    pub const OPENAPI: &str = "/v1/openapi.json";
    /// `GET`: [`Health`](super::Health), liveness (unversioned).
    pub const HEALTH: &str = "/healthz";
    /// `GET`: [`Readiness`](super::Readiness) (unversioned).
    pub const READY: &str = "/readyz";
    /// `GET`: Prometheus text exposition (unversioned).
    pub const METRICS: &str = "/metrics";

    /// Every route under the API version, for the checks that all of them are served and documented.
    pub const VERSIONED: [&str; 7] = [
        INFO, RECEIPTS, OPERATIONS, OPERATION, CHANNEL, SETTLEMENT, OPENAPI,
    ];
    /// The operational routes outside the version.
    pub const UNVERSIONED: [&str; 3] = [HEALTH, READY, METRICS];
}

mod errors;
mod fields;
mod info;
mod operations;
mod receipts;
mod status;
#[cfg(test)]
mod testing;
mod wire;

pub use errors::*;
pub use fields::*;
pub use info::*;
pub use operations::*;
pub use receipts::*;
pub use status::*;

#[cfg(test)]
mod tests {

    use serde::{Deserialize, Serialize};
    use serde_json::Value;

    use super::*;
    use crate::relayer_api::testing::*;

    /// Every JSON example of `docs/relayer-api.md` is a value of one of the API's types, re-encodes to the
    /// very same JSON, and — for requests — passes the relayer's checks (its signatures are real).
    #[test]
    fn the_documented_examples_are_valid() {
        fn same<T: Serialize + for<'de> Deserialize<'de>>(value: &Value) -> Option<T> {
            let typed: T = serde_json::from_value(value.clone()).ok()?;
            (serde_json::to_value(&typed).ok()? == *value).then_some(typed)
        }
        let doc = include_str!("../../../../docs/relayer-api.md");
        let blocks: Vec<&str> = doc
            .split("```json\n")
            .skip(1)
            .map(|rest| rest.split("```").next().unwrap())
            .collect();
        assert!(blocks.len() >= 10, "{} examples", blocks.len());
        let d = test_domain();
        for block in blocks {
            let value: Value = serde_json::from_str(block).unwrap();
            if let Some(request) = same::<SubmitReceiptsRequest>(&value) {
                request.check(&d).unwrap();
                for receipt in &request.receipts {
                    assert_eq!(receipt.verify(&d).unwrap().payer, PAYER);
                }
            } else if let Some(request) = same::<SubmitOperationsRequest>(&value) {
                request.check(&d).unwrap();
                for operation in &request.operations {
                    operation.verify(&d, DEADLINE).unwrap();
                }
            } else {
                let known = same::<SubmitReceiptsResponse>(&value).is_some()
                    || same::<SubmitOperationsResponse>(&value).is_some()
                    || same::<OperationStatus>(&value).is_some()
                    || same::<ChannelStatus>(&value).is_some()
                    || same::<SettlementStatus>(&value).is_some()
                    || same::<RelayerInfo>(&value).is_some()
                    || same::<Readiness>(&value).is_some()
                    || same::<ApiError>(&value).is_some();
                assert!(known, "not an API value: {value}");
            }
        }
    }

    #[test]
    fn paths_are_versioned() {
        for path in paths::VERSIONED {
            assert!(path.starts_with(&format!("/{API_VERSION}/")), "{path}");
        }
    }
}
