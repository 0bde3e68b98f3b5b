//! `GET /v1/info`, `/healthz`, `/readyz`: the relayer's terms, limits and health.

use alloy_primitives::Address;
use serde::{Deserialize, Serialize};

use crate::amount::{self};

use super::*;

/// `GET /v1/info`: which escrow this relayer serves, what it charges and what it accepts.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct RelayerInfo {
    /// [`API_VERSION`].
    pub api_version: String,
    /// The chain id of the escrow's EIP-712 domain.
    pub chain_id: u64,
    /// The escrow (EIP-712 `verifyingContract`).
    #[serde(with = "wire::address")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Address"))]
    pub escrow: Address,
    /// The escrow's ERC-20 token.
    #[serde(with = "wire::address")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Address"))]
    pub token: Address,
    /// The relayer's submitting account: where fees are credited.
    #[serde(with = "wire::address")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Address"))]
    pub relayer: Address,
    /// The settlement fee the relayer claims, in basis points of what it credits a payee; it settles a
    /// payee's receipts only if the payee's on-chain cap allows it.
    pub settle_fee_bps: u16,
    /// The lowest fee it accepts per gasless operation.
    pub min_fees: MinFees,
    /// Its request limits.
    pub limits: Limits,
}

/// The lowest fee a relayer accepts per kind of gasless operation, in token base units. A settlement
/// fee cap (`set_settle_fee_cap`) carries no fee.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct MinFees {
    /// For an `open`.
    #[serde(with = "amount::decimal")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Amount"))]
    pub open: u128,
    /// For a `top_up`.
    #[serde(with = "amount::decimal")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Amount"))]
    pub top_up: u128,
    /// For a `request_close`.
    #[serde(with = "amount::decimal")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Amount"))]
    pub request_close: u128,
    /// For a `withdraw`.
    #[serde(with = "amount::decimal")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Amount"))]
    pub withdraw: u128,
    /// For a `cooperative_close`.
    #[serde(with = "amount::decimal")]
    #[cfg_attr(feature = "schemars", schemars(with = "schema::Amount"))]
    pub cooperative_close: u128,
}

impl MinFees {
    /// The minimum fee for `kind`.
    pub const fn for_kind(&self, kind: OperationKind) -> u128 {
        match kind {
            OperationKind::Open => self.open,
            OperationKind::TopUp => self.top_up,
            OperationKind::RequestClose => self.request_close,
            OperationKind::Withdraw => self.withdraw,
            OperationKind::SetSettleFeeCap => 0,
            OperationKind::CooperativeClose => self.cooperative_close,
        }
    }
}

/// Request limits a relayer enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Limits {
    /// Largest request body, in bytes.
    pub max_body_bytes: u64,
    /// Most receipts per `POST /v1/receipts`.
    pub max_receipts_per_request: u32,
    /// Most operations per `POST /v1/operations`.
    pub max_operations_per_request: u32,
}

impl Limits {
    /// The v1 limits: [`MAX_BODY_BYTES`], [`MAX_RECEIPTS_PER_REQUEST`], [`MAX_OPERATIONS_PER_REQUEST`].
    pub const V1: Self = Self {
        max_body_bytes: MAX_BODY_BYTES as u64,
        max_receipts_per_request: MAX_RECEIPTS_PER_REQUEST as u32,
        max_operations_per_request: MAX_OPERATIONS_PER_REQUEST as u32,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::V1
    }
}

/// `GET /healthz` (HTTP 200): the process is alive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Health {
    /// Always `ok`.
    pub status: HealthState,
}

/// The only liveness state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    /// Alive.
    Ok,
}

impl Health {
    /// `{"status": "ok"}`.
    pub const OK: Self = Self {
        status: HealthState::Ok,
    };
}

/// `GET /readyz`: HTTP 200 with `ready`, or 503 with `not_ready`, and the checks behind it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Readiness {
    /// Whether every check passed.
    pub status: ReadinessState,
    /// The individual checks (database, chain, indexer lag, …).
    pub checks: Vec<ReadinessCheck>,
}

impl Readiness {
    /// Readiness from `checks`: ready when all are ok.
    pub fn from_checks(checks: Vec<ReadinessCheck>) -> Self {
        let status = if checks.iter().all(|c| c.ok) {
            ReadinessState::Ready
        } else {
            ReadinessState::NotReady
        };
        Self { status, checks }
    }

    /// The HTTP status that goes with it: 200 or 503.
    pub const fn http_status(&self) -> u16 {
        match self.status {
            ReadinessState::Ready => 200,
            ReadinessState::NotReady => 503,
        }
    }
}

/// Whether the relayer takes traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReadinessState {
    /// Every check passed.
    Ready,
    /// At least one check failed.
    NotReady,
}

/// One readiness check.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ReadinessCheck {
    /// What was checked: `database`, `chain`, `indexer`, …
    pub name: String,
    /// Whether it passed.
    pub ok: bool,
    /// A short reason when it failed (no internals), else `null`.
    pub detail: Option<String>,
}

#[cfg(test)]
mod tests {

    use alloy_primitives::Address;

    use serde_json::json;

    use super::*;
    use crate::relayer_api::testing::*;

    #[test]
    fn info_golden() {
        let info = RelayerInfo {
            api_version: API_VERSION.to_owned(),
            chain_id: 31_337,
            escrow: ESCROW,
            token: Address::repeat_byte(0x70),
            relayer: Address::repeat_byte(0x4e),
            settle_fee_bps: 25,
            min_fees: MinFees {
                open: 1_000,
                top_up: 1_000,
                request_close: 1_000,
                withdraw: 2_000,
                cooperative_close: 0,
            },
            limits: Limits::default(),
        };
        assert_golden(
            &info,
            json!({
                "api_version": "v1",
                "chain_id": 31337,
                "escrow": "0xE5e5E5E5e5e5E5E5E5E5e5E5e5e5e5E5e5e5e5e5",
                "token": Address::repeat_byte(0x70).to_checksum(None),
                "relayer": Address::repeat_byte(0x4e).to_checksum(None),
                "settle_fee_bps": 25,
                "min_fees": {
                    "open": "1000",
                    "top_up": "1000",
                    "request_close": "1000",
                    "withdraw": "2000",
                    "cooperative_close": "0"
                },
                "limits": {
                    "max_body_bytes": 1048576,
                    "max_receipts_per_request": 1000,
                    "max_operations_per_request": 100
                }
            }),
        );
        assert_eq!(info.min_fees.for_kind(OperationKind::Withdraw), 2_000);
        assert_eq!(info.min_fees.for_kind(OperationKind::SetSettleFeeCap), 0);
    }

    #[test]
    fn health_and_readiness_golden() {
        assert_golden(&Health::OK, json!({"status": "ok"}));
        let ready = Readiness::from_checks(vec![ReadinessCheck {
            name: "database".to_owned(),
            ok: true,
            detail: None,
        }]);
        assert_eq!(ready.http_status(), 200);
        assert_golden(
            &ready,
            json!({"status": "ready", "checks": [{"name": "database", "ok": true, "detail": null}]}),
        );
        let not_ready = Readiness::from_checks(vec![
            ReadinessCheck {
                name: "database".to_owned(),
                ok: true,
                detail: None,
            },
            ReadinessCheck {
                name: "chain".to_owned(),
                ok: false,
                detail: Some("no block for 60 s".to_owned()),
            },
        ]);
        assert_eq!(not_ready.status, ReadinessState::NotReady);
        assert_eq!(not_ready.http_status(), 503);
        assert_eq!(
            serde_json::to_value(&not_ready).unwrap()["status"],
            "not_ready"
        );
    }
}
