//! The OpenAPI 3.1 document served at `GET /v1/openapi.json`: the routes, bodies, statuses and error
//! codes of `docs/relayer-api.md`, built from the same constants (`relayer_api::paths`, `ErrorCode::ALL`).

use std::sync::OnceLock;

use piecepay_protocol::relayer_api::{
    ErrorCode, MAX_OPERATIONS_PER_REQUEST, MAX_RECEIPTS_PER_REQUEST, paths,
};
use serde_json::{Value, json};

/// The document (built once).
pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(build)
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn json_content(schema: Value) -> Value {
    json!({"application/json": {"schema": schema}})
}

/// The error responses of `statuses`, each with the `ApiError` body.
fn errors(statuses: &[u16]) -> serde_json::Map<String, Value> {
    statuses
        .iter()
        .map(|status| {
            let codes: Vec<&str> = ErrorCode::ALL
                .iter()
                .filter(|c| c.http_status() == *status)
                .map(|c| c.as_str())
                .collect();
            (
                status.to_string(),
                json!({
                    "description": format!("error; codes with this status: {}", codes.join(", ")),
                    "content": json_content(reference("ApiError")),
                }),
            )
        })
        .collect()
}

fn responses(ok: Value, statuses: &[u16]) -> Value {
    let mut map = errors(statuses);
    map.insert("200".to_owned(), ok);
    Value::Object(map)
}

fn ok_json(description: &str, schema: &str) -> Value {
    json!({"description": description, "content": json_content(reference(schema))})
}

fn id_parameter(name: &str) -> Value {
    json!([{
        "name": name, "in": "path", "required": true,
        "schema": reference("Hash"),
    }])
}

fn build() -> Value {
    let submit_errors = [400, 413, 415, 429, 500, 503];
    let get_errors = [400, 404, 429, 500, 503];
    let decimal = |description: &str| json!({"type": "string", "pattern": "^(0|[1-9][0-9]*)$", "description": description});
    let signature = json!({
        "type": "object", "required": ["r", "vs"],
        "properties": {"r": reference("Word"), "vs": reference("Word")},
        "description": "EIP-2098 compact signature; high-s is rejected",
    });
    let operation = |name: &str, fields: Value, required: &[&str]| {
        let mut properties = fields.as_object().cloned().unwrap_or_default();
        properties.insert("type".to_owned(), json!({"const": name}));
        let mut required: Vec<&str> = required.to_vec();
        required.push("type");
        json!({"type": "object", "required": required, "properties": properties})
    };
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "piecepay relayer API",
            "version": "v1",
            "description": "Submit payer-signed receipts and signed gasless operations; query channels, \
                settlements and operations. Prose contract: docs/relayer-api.md. Amounts are canonical \
                decimal strings; a 2xx to a submission means committed.",
        },
        "paths": {
            paths::INFO: {"get": {
                "summary": "The escrow this relayer serves, its fees and limits",
                "responses": responses(ok_json("relayer info", "RelayerInfo"), &[429, 500, 503]),
            }},
            paths::RECEIPTS: {"post": {
                "summary": format!("Submit 1–{MAX_RECEIPTS_PER_REQUEST} signed receipts"),
                "requestBody": {"required": true, "content": json_content(reference("SubmitReceiptsRequest"))},
                "responses": responses(ok_json("one result per receipt", "SubmitReceiptsResponse"), &submit_errors),
            }},
            paths::OPERATIONS: {"post": {
                "summary": format!("Submit 1–{MAX_OPERATIONS_PER_REQUEST} signed gasless operations"),
                "requestBody": {"required": true, "content": json_content(reference("SubmitOperationsRequest"))},
                "responses": responses(ok_json("one result per operation", "SubmitOperationsResponse"), &submit_errors),
            }},
            paths::OPERATION: {"get": {
                "summary": "Where a queued operation is",
                "parameters": id_parameter("operation_id"),
                "responses": responses(ok_json("operation status", "OperationStatus"), &get_errors),
            }},
            paths::CHANNEL: {"get": {
                "summary": "A channel as indexed, and the highest receipt held for it",
                "parameters": id_parameter("channel_id"),
                "responses": responses(ok_json("channel status", "ChannelStatus"), &get_errors),
            }},
            paths::SETTLEMENT: {"get": {
                "summary": "How far the channel's settlement has got",
                "parameters": id_parameter("channel_id"),
                "responses": responses(ok_json("settlement status", "SettlementStatus"), &get_errors),
            }},
            paths::OPENAPI: {"get": {
                "summary": "This document",
                "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}},
            }},
            paths::HEALTH: {"get": {
                "summary": "Liveness",
                "responses": {"200": ok_json("alive", "Health")},
            }},
            paths::READY: {"get": {
                "summary": "Readiness, with the checks behind it",
                "responses": {
                    "200": ok_json("ready", "Readiness"),
                    "503": ok_json("not ready (the readiness body, not an error body)", "Readiness"),
                },
            }},
            paths::METRICS: {"get": {
                "summary": "Prometheus text exposition",
                "responses": {"200": {"description": "metrics", "content": {"text/plain; version=0.0.4": {}}}},
            }},
        },
        "components": {"schemas": {
            "ErrorCode": {"type": "string", "enum": ErrorCode::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>()},
            "ApiError": {
                "type": "object", "required": ["code", "message"],
                "properties": {"code": reference("ErrorCode"), "message": {"type": "string"}},
            },
            "Address": {"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$", "description": "EIP-55 in responses"},
            "Hash": {"type": "string", "pattern": "^0x[0-9a-fA-F]{64}$"},
            "Word": {"type": "string", "pattern": "^0x[0-9a-fA-F]{64}$"},
            "Amount": decimal("token base units, canonical decimal string"),
            "Signature": signature,
            "ReceiptSubmission": {
                "type": "object", "required": ["payee", "salt", "cumulative", "signature"],
                "properties": {
                    "payee": reference("Address"),
                    "salt": {"type": "integer", "minimum": 0, "maximum": u32::MAX},
                    "cumulative": reference("Amount"),
                    "signature": reference("Signature"),
                },
            },
            "SubmitReceiptsRequest": {
                "type": "object", "required": ["chain_id", "escrow", "receipts"],
                "properties": {
                    "chain_id": {"type": "integer"},
                    "escrow": reference("Address"),
                    "receipts": {"type": "array", "minItems": 1, "maxItems": MAX_RECEIPTS_PER_REQUEST,
                        "items": reference("ReceiptSubmission")},
                },
            },
            "ReceiptResult": {"oneOf": [
                {"type": "object", "required": ["status", "channel_id", "payer", "cumulative"], "properties": {
                    "status": {"enum": ["accepted", "duplicate"]},
                    "channel_id": reference("Hash"), "payer": reference("Address"), "cumulative": reference("Amount"),
                }},
                {"type": "object", "required": ["status", "code", "message"], "properties": {
                    "status": {"const": "rejected"}, "code": reference("ErrorCode"), "message": {"type": "string"},
                }},
            ]},
            "SubmitReceiptsResponse": {
                "type": "object", "required": ["results"],
                "properties": {"results": {"type": "array", "items": reference("ReceiptResult")}},
            },
            "OperationSubmission": {"oneOf": [
                operation("open", json!({"payer": reference("Address"), "payee": reference("Address"),
                    "salt": {"type": "integer"}, "deposit": reference("Amount"), "fee": reference("Amount"),
                    "deadline": {"type": "integer"}, "signature": reference("Signature")}),
                    &["payer", "payee", "salt", "deposit", "fee", "deadline", "signature"]),
                operation("top_up", json!({"payer": reference("Address"), "payee": reference("Address"),
                    "salt": {"type": "integer"}, "deposit": reference("Amount"), "fee": reference("Amount"),
                    "deadline": {"type": "integer"}, "signature": reference("Signature")}),
                    &["payer", "payee", "salt", "deposit", "fee", "deadline", "signature"]),
                operation("request_close", json!({"payer": reference("Address"), "payee": reference("Address"),
                    "salt": {"type": "integer"}, "fee": reference("Amount"), "deadline": {"type": "integer"},
                    "signature": reference("Signature")}),
                    &["payer", "payee", "salt", "fee", "deadline", "signature"]),
                operation("withdraw", json!({"owner": reference("Address"), "to": reference("Address"),
                    "amount": reference("Amount"), "fee": reference("Amount"), "nonce": reference("Amount"),
                    "deadline": {"type": "integer"}, "signature": reference("Signature")}),
                    &["owner", "to", "amount", "fee", "nonce", "deadline", "signature"]),
                operation("set_settle_fee_cap", json!({"payee": reference("Address"),
                    "bps": {"type": "integer", "maximum": 10_000}, "nonce": reference("Amount"),
                    "deadline": {"type": "integer"}, "signature": reference("Signature")}),
                    &["payee", "bps", "nonce", "deadline", "signature"]),
                operation("cooperative_close", json!({"payer": reference("Address"), "payee": reference("Address"),
                    "salt": {"type": "integer"}, "cumulative": reference("Amount"), "fee": reference("Amount"),
                    "deadline": {"type": "integer"}, "payer_signature": reference("Signature"),
                    "payee_signature": reference("Signature")}),
                    &["payer", "payee", "salt", "cumulative", "fee", "deadline", "payer_signature", "payee_signature"]),
            ]},
            "SubmitOperationsRequest": {
                "type": "object", "required": ["chain_id", "escrow", "operations"],
                "properties": {
                    "chain_id": {"type": "integer"},
                    "escrow": reference("Address"),
                    "operations": {"type": "array", "minItems": 1, "maxItems": MAX_OPERATIONS_PER_REQUEST,
                        "items": reference("OperationSubmission")},
                },
            },
            "OperationResult": {"oneOf": [
                {"type": "object", "required": ["status", "operation_id"], "properties": {
                    "status": {"enum": ["queued", "duplicate"]}, "operation_id": reference("Hash"),
                }},
                {"type": "object", "required": ["status", "code", "message"], "properties": {
                    "status": {"const": "rejected"}, "code": reference("ErrorCode"), "message": {"type": "string"},
                }},
            ]},
            "SubmitOperationsResponse": {
                "type": "object", "required": ["results"],
                "properties": {"results": {"type": "array", "items": reference("OperationResult")}},
            },
            "OperationStatus": {
                "type": "object",
                "required": ["operation_id", "type", "status", "transaction_hash", "block_number", "reason"],
                "properties": {
                    "operation_id": reference("Hash"),
                    "type": {"enum": ["open", "top_up", "request_close", "withdraw", "set_settle_fee_cap", "cooperative_close"]},
                    "status": {"enum": ["pending", "submitted", "applied", "failed", "expired"]},
                    "transaction_hash": {"oneOf": [reference("Hash"), {"type": "null"}]},
                    "block_number": {"type": ["integer", "null"]},
                    "reason": {"type": ["string", "null"], "description": "0x-hex ABI-encoded escrow error"},
                },
            },
            "HeldReceipt": {
                "type": "object", "required": ["cumulative", "signature"],
                "properties": {"cumulative": reference("Amount"), "signature": reference("Signature")},
            },
            "ChannelStatus": {
                "type": "object",
                "required": ["channel_id", "payer", "payee", "salt", "state", "deposit", "settled", "closes_at",
                    "latest_receipt", "indexed_block"],
                "properties": {
                    "channel_id": reference("Hash"), "payer": reference("Address"), "payee": reference("Address"),
                    "salt": {"type": "integer"},
                    "state": {"enum": ["open", "closing", "closed"]},
                    "deposit": reference("Amount"), "settled": reference("Amount"),
                    "closes_at": {"type": ["integer", "null"]},
                    "latest_receipt": {"oneOf": [reference("HeldReceipt"), {"type": "null"}]},
                    "indexed_block": {"type": "integer"},
                },
            },
            "SettlementStatus": {
                "type": "object", "required": ["channel_id", "status", "received", "settled", "transaction"],
                "properties": {
                    "channel_id": reference("Hash"),
                    "status": {"enum": ["up_to_date", "pending", "submitted", "expired"]},
                    "received": reference("Amount"), "settled": reference("Amount"),
                    "transaction": {"oneOf": [{"type": "object", "required": ["hash", "cumulative", "block_number"],
                        "properties": {"hash": reference("Hash"), "cumulative": reference("Amount"),
                            "block_number": {"type": ["integer", "null"]}}}, {"type": "null"}]},
                },
            },
            "RelayerInfo": {
                "type": "object",
                "required": ["api_version", "chain_id", "escrow", "token", "relayer", "settle_fee_bps", "min_fees", "limits"],
                "properties": {
                    "api_version": {"const": "v1"}, "chain_id": {"type": "integer"},
                    "escrow": reference("Address"), "token": reference("Address"), "relayer": reference("Address"),
                    "settle_fee_bps": {"type": "integer", "maximum": 10_000},
                    "min_fees": {"type": "object", "properties": {
                        "open": reference("Amount"), "top_up": reference("Amount"), "request_close": reference("Amount"),
                        "withdraw": reference("Amount"), "cooperative_close": reference("Amount")}},
                    "limits": {"type": "object", "properties": {
                        "max_body_bytes": {"type": "integer"}, "max_receipts_per_request": {"type": "integer"},
                        "max_operations_per_request": {"type": "integer"}}},
                },
            },
            "Health": {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}},
            "Readiness": {
                "type": "object", "required": ["status", "checks"],
                "properties": {
                    "status": {"enum": ["ready", "not_ready"]},
                    "checks": {"type": "array", "items": {"type": "object", "required": ["name", "ok", "detail"],
                        "properties": {"name": {"type": "string"}, "ok": {"type": "boolean"},
                            "detail": {"type": ["string", "null"]}}}},
                },
            },
        }},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_and_code_is_documented() {
        let doc = document();
        for path in [
            paths::INFO,
            paths::RECEIPTS,
            paths::OPERATIONS,
            paths::OPERATION,
            paths::CHANNEL,
            paths::SETTLEMENT,
            paths::OPENAPI,
            paths::HEALTH,
            paths::READY,
            paths::METRICS,
        ] {
            assert!(doc["paths"].get(path).is_some(), "{path}");
        }
        let codes = doc["components"]["schemas"]["ErrorCode"]["enum"]
            .as_array()
            .unwrap();
        assert_eq!(codes.len(), ErrorCode::ALL.len());
        // Every $ref resolves.
        let text = doc.to_string();
        for part in text.split("#/components/schemas/").skip(1) {
            let name: String = part
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            assert!(doc["components"]["schemas"].get(&name).is_some(), "{name}");
        }
    }
}
