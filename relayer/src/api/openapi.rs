//! The OpenAPI 3.1 document served at `GET /v1/openapi.json` (and committed as `relayer/openapi.json`,
//! which `make lint` regenerates and compares). The body schemas are derived from the API's Rust types
//! (`piecepay-protocol`'s `schemars` feature); the routes, statuses and error codes come from the same
//! constants the router and the handlers use (`relayer_api::paths`, `ErrorCode::ALL`).

use std::sync::OnceLock;

use piecepay_protocol::relayer_api::ChannelStatus;
use piecepay_protocol::relayer_api::{
    ApiError, ErrorCode, Health, MAX_OPERATIONS_PER_REQUEST, MAX_RECEIPTS_PER_REQUEST,
    OperationStatus, Readiness, RelayerInfo, SettlementStatus, SubmitOperationsRequest,
    SubmitOperationsResponse, SubmitReceiptsRequest, SubmitReceiptsResponse, paths, schema::Hash,
};
use schemars::{JsonSchema, SchemaGenerator, generate::SchemaSettings};
use serde_json::{Map, Value, json};

/// The document (built once).
pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(build)
}

/// Statuses any route may answer on its own behalf: the HTTP edge's (a URI or headers it will not read,
/// its connection cap), a method the route does not take, the rate limit's and the request timeout's.
const EDGE: [u16; 5] = [405, 414, 429, 431, 503];

/// Schemas referenced from the paths, collected into `components.schemas`.
struct Schemas(SchemaGenerator);

impl Schemas {
    /// A reference to `T`'s schema (added to the components).
    fn of<T: JsonSchema>(&mut self) -> Value {
        self.0.subschema_for::<T>().to_value()
    }

    /// `application/json` content of `T`.
    fn json<T: JsonSchema>(&mut self) -> Value {
        json!({"application/json": {"schema": self.of::<T>()}})
    }

    /// The responses: 200 with `T`, and an `ApiError` body for each of `statuses` (and the edge's).
    fn responses<T: JsonSchema>(&mut self, description: &str, statuses: &[u16]) -> Value {
        let mut map = Map::new();
        map.insert(
            "200".to_owned(),
            json!({"description": description, "content": self.json::<T>()}),
        );
        let mut statuses: Vec<u16> = statuses.iter().chain(&EDGE).copied().collect();
        statuses.sort_unstable();
        statuses.dedup();
        for status in statuses {
            let codes: Vec<&str> = ErrorCode::ALL
                .iter()
                .filter(|c| c.http_status() == status)
                .map(|c| c.as_str())
                .collect();
            map.insert(
                status.to_string(),
                json!({
                    "description": format!("error; codes with this status: {}", codes.join(", ")),
                    "content": self.json::<ApiError>(),
                }),
            );
        }
        Value::Object(map)
    }

    fn id_parameter(&mut self, name: &str) -> Value {
        json!([{"name": name, "in": "path", "required": true, "schema": self.of::<Hash>()}])
    }
}

fn build() -> Value {
    let settings = SchemaSettings::draft2020_12().with(|s| {
        s.definitions_path = "/components/schemas".into();
        s.meta_schema = None;
    });
    let mut s = Schemas(settings.into_generator());
    let submit = [400, 413, 415, 500];
    let get = [400, 404, 500];
    let paths = json!({
        paths::INFO: {"get": {
            "summary": "The escrow this relayer serves, its fees and limits",
            "responses": s.responses::<RelayerInfo>("relayer info", &[500]),
        }},
        paths::RECEIPTS: {"post": {
            "summary": format!("Submit 1–{MAX_RECEIPTS_PER_REQUEST} signed receipts"),
            "requestBody": {"required": true, "content": s.json::<SubmitReceiptsRequest>()},
            "responses": s.responses::<SubmitReceiptsResponse>("one result per receipt", &submit),
        }},
        paths::OPERATIONS: {"post": {
            "summary": format!("Submit 1–{MAX_OPERATIONS_PER_REQUEST} signed gasless operations"),
            "requestBody": {"required": true, "content": s.json::<SubmitOperationsRequest>()},
            "responses": s.responses::<SubmitOperationsResponse>("one result per operation", &submit),
        }},
        paths::OPERATION: {"get": {
            "summary": "Where a queued operation is",
            "parameters": s.id_parameter("operation_id"),
            "responses": s.responses::<OperationStatus>("operation status", &get),
        }},
        paths::CHANNEL: {"get": {
            "summary": "A channel as indexed, and the highest receipt held for it",
            "parameters": s.id_parameter("channel_id"),
            "responses": s.responses::<ChannelStatus>("channel status", &get),
        }},
        paths::SETTLEMENT: {"get": {
            "summary": "How far the channel's settlement has got",
            "parameters": s.id_parameter("channel_id"),
            "responses": s.responses::<SettlementStatus>("settlement status", &get),
        }},
        paths::OPENAPI: {"get": {
            "summary": "This document",
            "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}},
        }},
        paths::HEALTH: {"get": {
            "summary": "Liveness",
            "responses": {"200": {"description": "alive", "content": s.json::<Health>()}},
        }},
        paths::READY: {"get": {
            "summary": "Readiness, with the checks behind it",
            "responses": {
                "200": {"description": "ready", "content": s.json::<Readiness>()},
                "503": {"description": "not ready (the readiness body, not an error body)", "content": s.json::<Readiness>()},
            },
        }},
        paths::METRICS: {"get": {
            "summary": "Prometheus text exposition",
            "responses": {"200": {"description": "metrics", "content": {"text/plain; version=0.0.4": {}}}},
        }},
    });
    let schemas = s.0.take_definitions(true);
    json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "piecepay relayer API",
            "version": "v1",
            "description": "Submit payer-signed receipts and signed gasless operations; query channels, \
                settlements and operations. Prose contract: docs/relayer-api.md. Amounts are canonical \
                decimal strings; a 2xx to a submission means committed. Every non-2xx has an ApiError \
                body, {code, message}, except /readyz's 503, which has the readiness.",
        },
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

/// The document as `relayer/openapi.json` holds it: pretty JSON with a final newline.
pub fn pretty() -> String {
    let mut text = serde_json::to_string_pretty(document()).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_code_and_reference_is_there() {
        let doc = document();
        for path in paths::VERSIONED.into_iter().chain(paths::UNVERSIONED) {
            assert!(doc["paths"].get(path).is_some(), "{path}");
        }
        let codes = doc["components"]["schemas"]["ErrorCode"]["enum"]
            .as_array()
            .unwrap();
        assert_eq!(codes.len(), ErrorCode::ALL.len());
        // The edge's own answers are documented on every route, and every $ref resolves.
        for (path, methods) in doc["paths"].as_object().unwrap() {
            let responses = &methods.as_object().unwrap().values().next().unwrap()["responses"];
            if responses.get("400").is_some() {
                for status in ["414", "431"] {
                    assert!(responses.get(status).is_some(), "{path} {status}");
                }
            }
        }
        let text = doc.to_string();
        for part in text.split("#/components/schemas/").skip(1) {
            let name: String = part
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            assert!(doc["components"]["schemas"].get(&name).is_some(), "{name}");
        }
    }

    #[test]
    fn the_committed_document_is_the_generated_one() {
        let committed = include_str!("../../openapi.json");
        assert!(
            committed == pretty(),
            "relayer/openapi.json is out of date: run `make openapi`"
        );
    }
}
