//! The route handlers.

use std::sync::atomic::Ordering;

use axum::{
    extract::{Path, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use piecepay_protocol::{
    alloy_primitives::B256,
    relayer_api::{
        API_VERSION, ApiError, ErrorCode, Health, OperationResult, OperationSubmission,
        QueuedOperation, Readiness, ReadinessCheck, ReceiptResult, RelayerInfo,
        SubmitOperationsRequest, SubmitOperationsResponse, SubmitReceiptsRequest,
        SubmitReceiptsResponse, parse_b256,
    },
};

use super::{AppState, Failure, JsonBody, json_response, openapi};
use crate::{ingest::unix_now, store::OperationRow};

type Answer = Result<Response, Failure>;

fn ok<T: serde::Serialize>(value: &T) -> Answer {
    Ok(json_response(StatusCode::OK, value))
}

pub(super) async fn info(State(state): State<AppState>) -> Answer {
    let settings = &state.settings;
    ok(&RelayerInfo {
        api_version: API_VERSION.to_owned(),
        chain_id: settings.chain_id,
        escrow: settings.escrow,
        token: settings.token,
        relayer: settings
            .signer
            .as_ref()
            .map(|s| s.address())
            .unwrap_or_default(),
        settle_fee_bps: settings.config.fees.settle_fee_bps,
        min_fees: settings.min_fees,
        limits: settings.config.api.limits(),
    })
}

/// Batch size against the configured limit (which may be below v1's); `check` then covers v1's and
/// the domain.
fn check_batch(what: &str, len: usize, max: usize) -> Result<(), Failure> {
    if len > max {
        return Err(Failure::new(
            ErrorCode::BatchTooLarge,
            format!("{what}: {len} given, at most {max} per request"),
        ));
    }
    Ok(())
}

pub(super) async fn submit_receipts(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<SubmitReceiptsRequest>,
) -> Answer {
    let max = state.settings.config.api.max_receipts_per_request;
    check_batch("receipts", request.receipts.len(), max)?;
    request.check(&state.domain)?;
    let verified = state.ingest.verify(request.receipts).await;
    let results = state.ingest.submit(verified).await?;
    state.metrics.count_receipts(results.iter().map(outcome));
    ok(&SubmitReceiptsResponse { results })
}

fn outcome(result: &ReceiptResult) -> &'static str {
    match result {
        ReceiptResult::Accepted(_) => "accepted",
        ReceiptResult::Duplicate(_) => "duplicate",
        ReceiptResult::Rejected(error) => error.code.as_str(),
    }
}

pub(super) async fn submit_operations(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<SubmitOperationsRequest>,
) -> Answer {
    let max = state.settings.config.api.max_operations_per_request;
    check_batch("operations", request.operations.len(), max)?;
    request.check(&state.domain)?;
    // The relayer pays every operation's gas: refused whole while it cannot (rather than queued to wait
    // for funds in silence).
    if let Some(chain) = &state.chain {
        chain
            .can_pay()
            .map_err(|why| Failure::new(ErrorCode::RelayerUnfunded, why))?;
    }
    let now = unix_now();
    let earliest_inclusion = now + state.settings.config.fees.inclusion_margin_s;
    // The account that submits the batches: an operation naming another relayer would be skipped by the
    // escrow (`WrongRelayer`), so it is refused here.
    let relayer = state
        .settings
        .signer
        .as_ref()
        .map(|s| s.address())
        .unwrap_or_default();
    let checked: Vec<Result<OperationRow, ApiError>> = request
        .operations
        .iter()
        .map(|submission| {
            let (operation, id) = submission.verify(&state.domain, earliest_inclusion)?;
            operation.check_submitter(relayer)?;
            let minimum = state.settings.min_fees.for_kind(operation.kind());
            if operation.fee() < minimum {
                return Err(ApiError::new(
                    ErrorCode::FeeTooLow,
                    format!("fee {} is below the minimum {minimum}", operation.fee()),
                ));
            }
            Ok(OperationRow {
                operation_id: id,
                submission: OperationSubmission::from(&operation),
                channel_id: operation.channel_id(),
                fee: operation.fee(),
                deadline: operation.deadline(),
            })
        })
        .collect();
    let rows: Vec<OperationRow> = checked
        .iter()
        .filter_map(|r| r.as_ref().ok().cloned())
        .collect();
    let mut queued = state
        .store
        .queue_operations(&rows, now)
        .await
        .map_err(|e| Failure::from_error(&e))?
        .into_iter();
    let results: Vec<OperationResult> = checked
        .into_iter()
        .map(|checked| match checked {
            Err(error) => OperationResult::Rejected(error),
            Ok(row) => {
                let id = QueuedOperation {
                    operation_id: row.operation_id,
                };
                if queued.next().unwrap_or(false) {
                    OperationResult::Queued(id)
                } else {
                    OperationResult::Duplicate(id)
                }
            }
        })
        .collect();
    state
        .metrics
        .count_operations(results.iter().map(|r| match r {
            OperationResult::Queued(_) => "queued",
            OperationResult::Duplicate(_) => "duplicate",
            OperationResult::Rejected(error) => error.code.as_str(),
        }));
    ok(&SubmitOperationsResponse { results })
}

fn path_id(name: &str, value: &str) -> Result<B256, Failure> {
    parse_b256(name, value).map_err(Failure::from)
}

pub(super) async fn operation(
    State(state): State<AppState>,
    Path(operation_id): Path<String>,
) -> Answer {
    let id = path_id("operation_id", &operation_id)?;
    match state.store.operation_status(&id).await {
        Ok(Some(status)) => ok(&status),
        Ok(None) => Err(Failure::new(
            ErrorCode::UnknownOperation,
            format!("no operation {id} was queued here"),
        )),
        Err(e) => Err(Failure::from_error(&e)),
    }
}

fn unknown_channel(id: &B256) -> Failure {
    Failure::new(
        ErrorCode::UnknownChannel,
        format!("no channel {id} on the escrow, as far as this relayer has indexed"),
    )
}

pub(super) async fn channel(
    State(state): State<AppState>,
    Path(channel_id): Path<String>,
) -> Answer {
    let id = path_id("channel_id", &channel_id)?;
    match state.store.channel_status(&id).await {
        Ok(Some(status)) => ok(&status),
        Ok(None) => Err(unknown_channel(&id)),
        Err(e) => Err(Failure::from_error(&e)),
    }
}

pub(super) async fn settlement(
    State(state): State<AppState>,
    Path(channel_id): Path<String>,
) -> Answer {
    let id = path_id("channel_id", &channel_id)?;
    match state.store.settlement_status(&id, unix_now()).await {
        Ok(Some(status)) => ok(&status),
        Ok(None) => Err(unknown_channel(&id)),
        Err(e) => Err(Failure::from_error(&e)),
    }
}

pub(super) async fn openapi() -> Answer {
    ok(openapi::document())
}

pub(super) async fn health() -> Answer {
    ok(&Health::OK)
}

pub(super) async fn ready(State(state): State<AppState>) -> Response {
    let readiness = readiness(&state).await;
    let status = StatusCode::from_u16(readiness.http_status()).unwrap_or(StatusCode::OK);
    json_response(status, &readiness)
}

/// The checks behind `/readyz` (and `piecepay_ready` in the metrics): database, chain and signer (on a
/// node with the chain), indexer, serving.
async fn readiness(state: &AppState) -> Readiness {
    let mut checks = Vec::new();
    let database = state.store.ping().await;
    checks.push(ReadinessCheck {
        name: "database".to_owned(),
        ok: database.is_ok(),
        detail: database
            .err()
            .map(|_| "the database does not answer".to_owned()),
    });
    if let Some(chain) = &state.chain {
        let every = crate::service::monitor_interval(&state.settings);
        checks.extend(chain.readiness(every * 3 + piecepay_relayer_chain::rpc::REQUEST_TIMEOUT));
    }
    checks.push(indexer_check(state, unix_now()).await);
    let stopping = state.shutting_down.load(Ordering::SeqCst);
    checks.push(ReadinessCheck {
        name: "serving".to_owned(),
        ok: !stopping,
        detail: stopping.then(|| "shutting down".to_owned()),
    });
    Readiness::from_checks(checks)
}

/// Whether the channels receipts are checked against are current: the leader's indexer (on this node or
/// another on the same database) was seen caught up with the chain within `api.ready_indexer_max_age_s`.
async fn indexer_check(state: &AppState, now: u64) -> ReadinessCheck {
    let max_age = state.settings.config.api.ready_indexer_max_age_s;
    let detail = match state.store.indexer_caught_up_at().await {
        Ok(Some(at)) if now.saturating_sub(at) <= max_age => None,
        Ok(Some(at)) => Some(format!(
            "the indexer was last caught up with the chain {} s ago",
            now.saturating_sub(at)
        )),
        Ok(None) => Some("the indexer has not caught up with the chain yet".to_owned()),
        Err(_) => Some("the database does not answer".to_owned()),
    };
    ReadinessCheck {
        name: "indexer".to_owned(),
        ok: detail.is_none(),
        detail,
    }
}

pub(super) async fn metrics(State(state): State<AppState>) -> Response {
    let mut text = state.metrics.render();
    super::metrics::render_readiness(&mut text, &readiness(&state).await);
    // Without the database the rest still answers; the gauges are left out rather than made up.
    match state.store.unsettled().await {
        Ok(unsettled) => super::metrics::render_unsettled(&mut text, &unsettled, unix_now()),
        Err(error) => tracing::warn!(error = %error, "metrics: the unsettled value is unavailable"),
    }
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}

pub(super) async fn not_found() -> Failure {
    Failure::new(ErrorCode::NotFound, "no such route")
}

pub(super) async fn method_not_allowed() -> Failure {
    Failure::new(
        ErrorCode::MethodNotAllowed,
        "the route exists, not with this method",
    )
}
