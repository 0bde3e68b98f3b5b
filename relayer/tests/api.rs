//! The router through `oneshot`: every rejection of docs/relayer-api.md, on both engines.

mod common;

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use common::*;
use piecepay_protocol::{
    CooperativeClose, OpenChannel, SolStruct, Withdrawal,
    alloy_primitives::{
        Address, B256, U256,
        aliases::{U40, U96},
    },
    relayer_api::{
        ChannelState, ErrorCode, Operation, OperationSubmission, SubmitOperationsRequest,
        SubmitReceiptsRequest, paths,
    },
};
use piecepay_relayer::{
    Store,
    api::{AppState, Metrics, router},
    ingest::unix_now,
    store::ChannelRecord,
};
use serde_json::{Value, json};
use tower::ServiceExt as _;

struct Node {
    app: Router,
    state: AppState,
}

fn node(store: Store, extra: &str) -> Node {
    // The store's URL is only used by leader election, which these tests do not start.
    let state = AppState::new(
        settings("sqlite://unused.db", extra),
        store,
        Arc::new(Metrics::default()),
    );
    Node {
        app: router(state.clone()),
        state,
    }
}

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, Value, axum::http::HeaderMap) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, body, headers)
}

async fn post(app: &Router, path: &str, body: impl Into<Body>) -> (StatusCode, Value) {
    let request = Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .unwrap();
    let (status, body, _) = send(app, request).await;
    (status, body)
}

async fn get(app: &Router, path: &str) -> (StatusCode, Value) {
    let (status, body, _) = send(app, Request::get(path).body(Body::empty()).unwrap()).await;
    (status, body)
}

fn code(body: &Value) -> &str {
    body["code"].as_str().unwrap_or_default()
}

/// The request was refused with `refusal`: an HTTP status and the stable error code in the body.
#[track_caller]
fn assert_refused(status: StatusCode, body: &Value, refusal: (StatusCode, &str)) {
    assert_eq!((status, code(body)), refusal, "{body}");
}

fn receipts_request(receipts: Vec<piecepay_protocol::relayer_api::ReceiptSubmission>) -> String {
    serde_json::to_string(&SubmitReceiptsRequest::new(CHAIN_ID, ESCROW, receipts)).unwrap()
}

fn results(body: &Value) -> Vec<String> {
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| match r["status"].as_str().unwrap() {
            "rejected" => r["code"].as_str().unwrap().to_owned(),
            status => status.to_owned(),
        })
        .collect()
}

async fn seed(
    store: &Store,
    salt: u32,
    state: ChannelState,
    closes_at: Option<u64>,
    settled: u128,
) -> ChannelRecord {
    let mut channel = open_channel(payer().address(), payee().address(), salt, 1_000);
    channel.state = state;
    channel.closes_at = closes_at;
    channel.settled = settled;
    store.upsert_channels(&[channel]).await.unwrap();
    channel
}

both_engines!(
    receipts_lifecycle_and_state_rejections,
    |store: Store| async move {
        let node = node(store.clone(), "");
        let channel = seed(&store, 7, ChannelState::Open, None, 100).await;
        seed(&store, 8, ChannelState::Closed, None, 0).await;
        seed(&store, 9, ChannelState::Closing, Some(unix_now() - 10), 0).await;
        let payee = payee().address();
        let receipts = vec![
            submission(&payer(), payee, 7, 500),   // accepted
            submission(&payer(), payee, 7, 500),   // duplicate of the one before
            submission(&payer(), payee, 7, 400),   // below held
            submission(&payer(), payee, 7, 50),    // not above settled
            submission(&payer(), payee, 7, 5_000), // above deposit
            submission(&payer(), payee, 8, 10),    // closed
            submission(&payer(), payee, 9, 10),    // closing, window over
            submission(&key(3), payee, 7, 10),     // another payer: no such channel
        ];
        let (status, body) = post(&node.app, paths::RECEIPTS, receipts_request(receipts)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            results(&body),
            [
                "accepted",
                "duplicate",
                "stale_receipt",
                "stale_receipt",
                "exceeds_deposit",
                "channel_closed",
                "challenge_expired",
                "unknown_channel"
            ]
        );
        assert_eq!(
            body["results"][0]["payer"],
            json!(payer().address().to_checksum(None))
        );
        assert_eq!(
            body["results"][0]["channel_id"],
            json!(channel.channel_id.to_string())
        );

        // Committed: the channel shows it, and a resubmission is a duplicate.
        let (status, body) = get(&node.app, &format!("/v1/channels/{}", channel.channel_id)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["latest_receipt"]["cumulative"], json!("500"));
        assert_eq!(body["state"], json!("open"));
        let again = receipts_request(vec![submission(&payer(), payee, 7, 500)]);
        assert_eq!(
            results(&post(&node.app, paths::RECEIPTS, again).await.1),
            ["duplicate"]
        );

        let (status, body) = get(
            &node.app,
            &format!("/v1/channels/{}/settlement", channel.channel_id),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["status"], json!("pending"));
        assert_eq!(body["received"], json!("500"));
        assert_eq!(body["settled"], json!("100"));

        // Metrics saw them.
        let response = node
            .app
            .clone()
            .oneshot(Request::get(paths::METRICS).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let text = String::from_utf8(
            axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap()
                .to_vec(),
        )
        .unwrap();
        assert!(
            text.contains("piecepay_receipts_total{outcome=\"accepted\"} 1"),
            "{text}"
        );
        assert!(text.contains("piecepay_receipts_total{outcome=\"stale_receipt\"} 2"));
    }
);

both_engines!(receipt_value_rejections, |store: Store| async move {
    let node = node(store.clone(), "");
    seed(&store, 7, ChannelState::Open, None, 0).await;
    let good = submission(&payer(), payee().address(), 7, 10);
    let mut cases: Vec<(serde_json::Value, &str)> = Vec::new();
    let base = serde_json::to_value(&good).unwrap();
    let with = |field: &str, value: Value| {
        let mut v = base.clone();
        v[field] = value;
        v
    };
    cases.push((with("payee", json!("0x1234")), "invalid_address"));
    cases.push((
        with("payee", json!("0x5050a4f4b3f9338c3472dcc01a87c76a144b3C9c")),
        "invalid_address",
    ));
    cases.push((
        with("payee", json!(Address::ZERO.to_string())),
        "invalid_channel",
    ));
    cases.push((with("cumulative", json!("01")), "invalid_amount"));
    cases.push((with("cumulative", json!("1e3")), "invalid_amount"));
    cases.push((
        with("cumulative", json!((1u128 << 96).to_string())),
        "amount_too_large",
    ));
    cases.push((with("cumulative", json!("0")), "zero_amount"));
    cases.push((
        with(
            "signature",
            json!({"r": "0x12", "vs": base["signature"]["vs"]}),
        ),
        "malformed_signature",
    ));
    cases.push((
        with(
            "signature",
            json!({"r": B256::ZERO.to_string(), "vs": base["signature"]["vs"]}),
        ),
        "invalid_signature",
    ));
    let half_order_plus_one = U256::from_str_radix(
        "7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a1",
        16,
    )
    .unwrap();
    cases.push((
        with(
            "signature",
            json!({"r": base["signature"]["r"], "vs": B256::from(half_order_plus_one).to_string()}),
        ),
        "signature_high_s",
    ));
    let receipts: Vec<Value> = cases
        .iter()
        .map(|(v, _)| v.clone())
        .chain([base.clone()])
        .collect();
    let body = json!({"chain_id": CHAIN_ID, "escrow": ESCROW.to_string(), "receipts": receipts});
    let (status, response) = post(&node.app, paths::RECEIPTS, body.to_string()).await;
    assert_eq!(status, StatusCode::OK);
    let mut expected: Vec<&str> = cases.iter().map(|(_, code)| *code).collect();
    expected.push("accepted");
    assert_eq!(results(&response), expected);
});

both_engines!(whole_request_rejections, |store: Store| async move {
    let node = node(
        store.clone(),
        "[api]\nmax_body_bytes = 4096\nmax_receipts_per_request = 3\n",
    );
    let app = &node.app;
    let one = || submission(&payer(), payee().address(), 7, 10);

    let (status, body) = post(app, paths::RECEIPTS, "{not json").await;
    assert_refused(status, &body, (StatusCode::BAD_REQUEST, "invalid_json"));
    let (status, body) = post(app, paths::RECEIPTS, r#"{"chain_id": 1}"#).await;
    assert_refused(status, &body, (StatusCode::BAD_REQUEST, "invalid_request"));
    let mut wrong_shape =
        serde_json::to_value(SubmitReceiptsRequest::new(CHAIN_ID, ESCROW, vec![one()])).unwrap();
    wrong_shape["receipts"][0]["cumulative"] = json!(10);
    let (status, body) = post(app, paths::RECEIPTS, wrong_shape.to_string()).await;
    assert_refused(status, &body, (StatusCode::BAD_REQUEST, "invalid_request"));
    // The message says where, in JSON's words.
    assert_eq!(
        body["message"],
        "receipts[0].cumulative: invalid type: integer `10`, expected a string"
    );
    // An integral number written as a float is the integer (the OpenAPI schema's "integer" allows it).
    let mut float_salt =
        serde_json::to_value(SubmitReceiptsRequest::new(CHAIN_ID, ESCROW, vec![one()])).unwrap();
    float_salt["receipts"][0]["salt"] = json!(7.0);
    let (status, body) = post(app, paths::RECEIPTS, float_salt.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    float_salt["receipts"][0]["salt"] = json!(7.5);
    let (status, body) = post(app, paths::RECEIPTS, float_salt.to_string()).await;
    assert_refused(status, &body, (StatusCode::BAD_REQUEST, "invalid_request"));

    let request = Request::post(paths::RECEIPTS)
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from(receipts_request(vec![one()])))
        .unwrap();
    let (status, body, _) = send(app, request).await;
    assert_refused(
        status,
        &body,
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
    );

    let (status, body) = post(app, paths::RECEIPTS, " ".repeat(5_000)).await;
    assert_refused(
        status,
        &body,
        (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
    );
    let (status, body) = post(app, paths::RECEIPTS, receipts_request(vec![one(); 4])).await;
    assert_refused(
        status,
        &body,
        (StatusCode::PAYLOAD_TOO_LARGE, "batch_too_large"),
    );
    let (status, body) = post(app, paths::RECEIPTS, receipts_request(vec![])).await;
    assert_refused(status, &body, (StatusCode::BAD_REQUEST, "empty_batch"));

    let other_chain =
        serde_json::to_string(&SubmitReceiptsRequest::new(1, ESCROW, vec![one()])).unwrap();
    let (status, body) = post(app, paths::RECEIPTS, other_chain).await;
    assert_refused(status, &body, (StatusCode::BAD_REQUEST, "wrong_domain"));
    let bad_escrow = json!({"chain_id": CHAIN_ID, "escrow": "0x12", "receipts": [one()]});
    let (status, body) = post(app, paths::RECEIPTS, bad_escrow.to_string()).await;
    assert_refused(status, &body, (StatusCode::BAD_REQUEST, "invalid_address"));

    let (status, body) = get(app, "/v1/nothing-here").await;
    assert_refused(status, &body, (StatusCode::NOT_FOUND, "not_found"));
    let request = Request::builder()
        .method(Method::DELETE)
        .uri(paths::RECEIPTS)
        .body(Body::empty())
        .unwrap();
    let (status, body, _) = send(app, request).await;
    assert_refused(
        status,
        &body,
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
    );

    let (status, body) = get(app, "/v1/channels/0x1234").await;
    assert_refused(status, &body, (StatusCode::BAD_REQUEST, "invalid_hash"));
    let (status, body) = get(app, &format!("/v1/channels/{}", B256::ZERO)).await;
    assert_refused(status, &body, (StatusCode::NOT_FOUND, "unknown_channel"));
    let (status, body) = get(app, &format!("/v1/channels/{}/settlement", B256::ZERO)).await;
    assert_refused(status, &body, (StatusCode::NOT_FOUND, "unknown_channel"));
    let (status, body) = get(app, &format!("/v1/operations/{}", B256::ZERO)).await;
    assert_refused(status, &body, (StatusCode::NOT_FOUND, "unknown_operation"));
    let (status, body) = get(app, "/v1/operations/zz").await;
    assert_refused(status, &body, (StatusCode::BAD_REQUEST, "invalid_hash"));

    // Info reports the limits in force.
    let (status, body) = get(app, paths::INFO).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["limits"]["max_receipts_per_request"], json!(3));
    assert_eq!(body["escrow"], json!(ESCROW.to_checksum(None)));
    assert_eq!(body["min_fees"]["withdraw"], json!("2000"));
    let (status, body) = get(app, paths::OPENAPI).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["openapi"], json!("3.1.0"));
    let (status, body) = get(app, paths::HEALTH).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
    // Ready only while the indexer (no chain here: marked by hand) was seen caught up lately.
    let not_ready_for = |body: &Value| {
        body["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["ok"] == json!(false))
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let (status, body) = get(app, paths::READY).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(not_ready_for(&body), ["indexer"]);
    let stale = unix_now() - node.state.settings.config.api.ready_indexer_max_age_s - 5;
    store.set_indexer_caught_up_at(stale).await.unwrap();
    let (status, body) = get(app, paths::READY).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(not_ready_for(&body), ["indexer"]);
    assert!(
        body["checks"][1]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("last caught up")),
        "{body}"
    );
    store.set_indexer_caught_up_at(unix_now()).await.unwrap();
    let (status, body) = get(app, paths::READY).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], json!("ready"));

    // Shutting down, then database gone: not ready, and submissions are unavailable.
    node.state.begin_shutdown();
    let (status, body) = get(app, paths::READY).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("not_ready"))
    );
    store.close().await;
    let (status, body) = post(app, paths::RECEIPTS, receipts_request(vec![one()])).await;
    assert_refused(
        status,
        &body,
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
    );
    let (status, body) = get(app, &format!("/v1/channels/{}", B256::ZERO)).await;
    assert_refused(
        status,
        &body,
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
    );
});

both_engines!(
    rate_limit_answers_429_with_retry_after,
    |store: Store| async move {
        let node = node(
            store,
            "[api]\nrate_limit_per_second = 1\nrate_limit_burst = 2\n",
        );
        for _ in 0..2 {
            assert_eq!(get(&node.app, paths::INFO).await.0, StatusCode::OK);
        }
        let (status, body, headers) = send(
            &node.app,
            Request::get(paths::INFO).body(Body::empty()).unwrap(),
        )
        .await;
        assert_refused(
            status,
            &body,
            (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        );
        assert_eq!(headers[header::RETRY_AFTER], "1");
        // Probes are not limited.
        assert_eq!(get(&node.app, paths::HEALTH).await.0, StatusCode::OK);
    }
);

fn sign_open(
    payer_key: &piecepay_protocol::SigningKey,
    salt: u32,
    fee: u64,
    deadline: u64,
) -> Operation {
    let message = OpenChannel {
        payee: payee().address(),
        salt,
        deposit: U96::from(5_000u64),
        fee: U96::from(fee),
        relayer: Address::ZERO,
        channelNonce: 0,
        deadline: U40::from(deadline),
    };
    let signature = payer_key
        .sign_digest(&message.eip712_signing_hash(&test_domain()))
        .unwrap();
    Operation::Open {
        payer: payer().address(),
        message,
        signature,
    }
}

fn operations_body(operations: Vec<OperationSubmission>) -> String {
    serde_json::to_string(&SubmitOperationsRequest::new(CHAIN_ID, ESCROW, operations)).unwrap()
}

both_engines!(operations_queue_and_rejections, |store: Store| async move {
    let node = node(store, "[api]\nmax_operations_per_request = 20\n");
    let app = &node.app;
    let deadline = unix_now() + 3_600;
    let open = sign_open(&payer(), 7, 1_000, deadline);
    let id = open.id(&test_domain());
    let mut operations = vec![
        OperationSubmission::from(&open),
        OperationSubmission::from(&open),
        OperationSubmission::from(&sign_open(&payer(), 8, 999, deadline)), // fee below 1000
        OperationSubmission::from(&sign_open(&payer(), 9, 1_000, unix_now() + 5)), // within the inclusion margin
        OperationSubmission::from(&sign_open(&key(3), 10, 1_000, deadline)), // signed by someone else
    ];
    let withdrawal = Withdrawal {
        to: payee().address(),
        amount: 5,
        fee: 2_000,
        // Names another relayer as its only submitter: this one would be skipped by the escrow.
        relayer: Address::repeat_byte(0x99),
        nonce: 0,
        deadline: U40::from(deadline),
    };
    let signature = payer()
        .sign_digest(&withdrawal.eip712_signing_hash(&test_domain()))
        .unwrap();
    operations.push(OperationSubmission::from(&Operation::Withdraw {
        owner: payer().address(),
        message: withdrawal,
        signature,
    }));
    let close = CooperativeClose {
        payer: payer().address(),
        payee: payee().address(),
        salt: 7,
        cumulative: U96::from(10u64),
        fee: U96::ZERO,
        relayer: Address::ZERO,
        channelNonce: 0,
        deadline: U40::from(deadline),
    };
    let hash = close.eip712_signing_hash(&test_domain());
    operations.push(OperationSubmission::from(&Operation::CooperativeClose {
        message: close,
        payer_signature: payer().sign_digest(&hash).unwrap(),
        payee_signature: payee().sign_digest(&hash).unwrap(),
    }));
    let mut json_ops: Vec<Value> = operations
        .iter()
        .map(|o| serde_json::to_value(o).unwrap())
        .collect();
    let mut bad = json_ops[0].clone();
    bad["deadline"] = json!(1u64 << 41);
    json_ops.push(bad);
    let mut bad = json_ops[0].clone();
    bad["deposit"] = json!("0");
    json_ops.push(bad);
    let mut bad = json_ops[0].clone();
    bad["payee"] = bad["payer"].clone();
    json_ops.push(bad);
    json_ops.push(json!({
        "type": "set_settle_fee_cap", "payee": payee().address().to_string(), "bps": 10_001,
        "relayer": Address::ZERO.to_string(), "nonce": "0", "deadline": deadline, "signature": json_ops[0]["signature"].clone()
    }));
    let body = json!({"chain_id": CHAIN_ID, "escrow": ESCROW.to_string(), "operations": json_ops});
    let (status, response) = post(app, paths::OPERATIONS, body.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{response}");
    assert_eq!(
        results(&response),
        [
            "queued",
            "duplicate",
            "fee_too_low",
            "signature_expired",
            "wrong_signer",
            "wrong_relayer",
            "queued",
            "deadline_out_of_range",
            "zero_amount",
            "invalid_channel",
            "fee_cap_too_high"
        ]
    );
    assert_eq!(
        response["results"][0]["operation_id"],
        json!(id.to_string())
    );
    let (status, body) = get(app, &format!("/v1/operations/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (body["status"].as_str(), body["type"].as_str()),
        (Some("pending"), Some("open"))
    );

    let unknown_type = json!({"chain_id": CHAIN_ID, "escrow": ESCROW.to_string(), "operations": [{"type": "mint"}]});
    let (status, body) = post(app, paths::OPERATIONS, unknown_type.to_string()).await;
    assert_refused(status, &body, (StatusCode::BAD_REQUEST, "invalid_request"));
    let (status, body) = post(app, paths::OPERATIONS, operations_body(vec![])).await;
    assert_refused(status, &body, (StatusCode::BAD_REQUEST, "empty_batch"));
    let many = vec![OperationSubmission::from(&open); 21];
    let (status, body) = post(app, paths::OPERATIONS, operations_body(many)).await;
    assert_refused(
        status,
        &body,
        (StatusCode::PAYLOAD_TOO_LARGE, "batch_too_large"),
    );
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_outlasting_the_timeout_is_503_timeout() {
    let (store, guard) = sqlite_store().await;
    seed(&store, 7, ChannelState::Open, None, 0).await;
    let node = node(store, "[api]\nrequest_timeout_ms = 300\n");
    // Another writer holds SQLite's write lock, so the commit cannot finish in time.
    let mut blocker = guard.sqlite_connection().await;
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut blocker)
        .await
        .unwrap();
    let (status, body) = post(
        &node.app,
        paths::RECEIPTS,
        receipts_request(vec![submission(&payer(), payee().address(), 7, 10)]),
    )
    .await;
    assert_refused(status, &body, (StatusCode::SERVICE_UNAVAILABLE, "timeout"));
    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
    // Retrying is safe: accepted or, if the first commit went through after all, duplicate.
    let (status, body) = post(
        &node.app,
        paths::RECEIPTS,
        receipts_request(vec![submission(&payer(), payee().address(), 7, 10)]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(matches!(
        results(&body)[0].as_str(),
        "accepted" | "duplicate"
    ));
    let _ = Duration::ZERO;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_row_is_500_internal_without_internals() {
    let (store, guard) = sqlite_store().await;
    let channel = seed(&store, 7, ChannelState::Open, None, 0).await;
    let mut connection = guard.sqlite_connection().await;
    sqlx::query("UPDATE channels SET deposit = 'lots'")
        .execute(&mut connection)
        .await
        .unwrap();
    let node = node(store, "");
    let (status, body) = get(&node.app, &format!("/v1/channels/{}", channel.channel_id)).await;
    assert_refused(
        status,
        &body,
        (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    );
    assert!(!body["message"].as_str().unwrap().contains("deposit"));
    let _ = ErrorCode::Internal;
}

/// `instance` is valid against `schema`, a schema of the OpenAPI document (its `$ref`s resolved there).
fn assert_fits(document: &Value, schema: &Value, instance: &Value, what: &str) {
    let mut root = schema.clone();
    root["components"] = document["components"].clone();
    let validator = jsonschema::draft202012::new(&root)
        .unwrap_or_else(|e| panic!("{what}: the document's schema does not compile: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}: {errors:?}\n{instance}");
}

/// The schema of `path`'s `method` response with `status`, or of its request body.
fn schema_of(document: &Value, path: &str, method: &str, status: Option<u16>) -> Value {
    let operation = &document["paths"][path][method];
    let content = match status {
        Some(status) => &operation["responses"][status.to_string()]["content"],
        None => &operation["requestBody"]["content"],
    };
    let schema = content["application/json"]["schema"].clone();
    assert!(
        schema.is_object(),
        "{method} {path} {status:?}: no JSON schema"
    );
    schema
}

/// Every body this test exchanges with the router fits the schema the OpenAPI document gives for it:
/// requests built from the API's types, and responses of every kind (results, statuses, errors).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_match_the_openapi_schemas() {
    let (store, _guard) = common::sqlite_store().await;
    let node = node(store.clone(), "[api]\nmax_body_bytes = 4096\n");
    let app = &node.app;
    let (status, document) = get(app, paths::OPENAPI).await;
    assert_eq!(status, StatusCode::OK);
    let channel = seed(&store, 7, ChannelState::Open, None, 100).await;
    let payee = payee().address();
    let deadline = unix_now() + 3_600;
    let open = sign_open(&payer(), 11, 1_000, deadline);

    let receipts = receipts_request(vec![
        submission(&payer(), payee, 7, 500),
        submission(&payer(), payee, 7, 500),
        submission(&payer(), payee, 7, 5_000),
    ]);
    let operations = operations_body(vec![
        OperationSubmission::from(&open),
        OperationSubmission::from(&sign_open(&payer(), 12, 1, deadline)),
    ]);
    let posts: [(&str, String, u16); 6] = [
        (paths::RECEIPTS, receipts, 200),
        (paths::OPERATIONS, operations, 200),
        (paths::RECEIPTS, "{not json".into(), 400),
        (paths::RECEIPTS, r#"{"chain_id": 1}"#.into(), 400),
        (paths::RECEIPTS, " ".repeat(5_000), 413),
        (paths::OPERATIONS, operations_body(vec![]), 400),
    ];
    for (path, body, expected) in posts {
        if let Ok(request) = serde_json::from_str::<Value>(&body)
            && expected == 200
        {
            assert_fits(
                &document,
                &schema_of(&document, path, "post", None),
                &request,
                path,
            );
        }
        let (status, response) = post(app, path, body).await;
        assert_eq!(status.as_u16(), expected, "{path}: {response}");
        let schema = schema_of(&document, path, "post", Some(expected));
        assert_fits(
            &document,
            &schema,
            &response,
            &format!("POST {path} {expected}"),
        );
    }
    let id = open.id(&test_domain());
    let unknown = B256::repeat_byte(0x99);
    let gets: [(String, &str, u16); 10] = [
        (paths::INFO.into(), paths::INFO, 200),
        (format!("/v1/operations/{id}"), paths::OPERATION, 200),
        (format!("/v1/operations/{unknown}"), paths::OPERATION, 404),
        (
            format!("/v1/channels/{}", channel.channel_id),
            paths::CHANNEL,
            200,
        ),
        (format!("/v1/channels/{unknown}"), paths::CHANNEL, 404),
        ("/v1/channels/0x12".into(), paths::CHANNEL, 400),
        (
            format!("/v1/channels/{}/settlement", channel.channel_id),
            paths::SETTLEMENT,
            200,
        ),
        (paths::HEALTH.into(), paths::HEALTH, 200),
        // No indexer has run: not ready, with the readiness as the body.
        (paths::READY.into(), paths::READY, 503),
        (paths::INFO.into(), paths::INFO, 200),
    ];
    for (uri, path, expected) in gets {
        let (status, response) = get(app, &uri).await;
        assert_eq!(status.as_u16(), expected, "{uri}: {response}");
        let schema = schema_of(&document, path, "get", Some(expected));
        assert_fits(
            &document,
            &schema,
            &response,
            &format!("GET {uri} {expected}"),
        );
    }
    // A method the route does not take.
    let request = Request::delete(paths::INFO).body(Body::empty()).unwrap();
    let (status, response, _) = send(app, request).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let schema = schema_of(&document, paths::INFO, "get", Some(405));
    assert_fits(&document, &schema, &response, "DELETE /v1/info");
    // And the schemas are not vacuous: a wrong body does not fit.
    let schema = schema_of(&document, paths::INFO, "get", Some(200));
    let root = {
        let mut root = schema.clone();
        root["components"] = document["components"].clone();
        root
    };
    assert!(!jsonschema::draft202012::is_valid(
        &root,
        &json!({"api_version": 1})
    ));
}
