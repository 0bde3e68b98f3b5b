//! The relayer client against a canned HTTP server on 127.0.0.1: what it sends, how it decodes what it
//! gets, and when it retries. The server answers from a script and records every request; it is not a
//! relayer.
#![cfg(feature = "relayer-client")]

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::{Body, to_bytes},
    extract::{Request, State},
    http::header,
    response::Response,
};
use piecepay_sdk::{
    Error, Signed, SignedReceipt,
    protocol::{
        OpenChannel, Receipt, SolStruct,
        alloy_primitives::{
            Address, B256,
            aliases::{U40, U96},
            b256,
        },
        domain,
        relayer_api::{
            ApiError, ChannelState, ErrorCode, Health, HealthState, MAX_RECEIPTS_PER_REQUEST,
            Operation, OperationKind, OperationResult, OperationState, QueuedOperation,
            ReadinessState, ReceiptResult, ReceiptSubmission, SettlementState,
            SubmitReceiptsRequest,
        },
    },
    relayer_client::{RelayerClient, RelayerClientConfig, RetryPolicy},
};
use piecepay_test_support::keys::{golden_receipt, key};
use serde_json::{Value, json};

const CHAIN_ID: u64 = 31_337;
const ESCROW: Address = Address::repeat_byte(0xe5);
const CHANNEL: B256 = b256!("0xf26689e6d6b24fa28e41abc2dc678ea392367fe09febe13473d8c464f767d793");
const OPEN_ID: B256 = b256!("0x45e49c6b166356a1cc27e71206e0bab9f748968e625046aa71a7848be7b01b07");
const ONE_TOKEN: u128 = 1_000_000_000_000_000_000;

// --- the canned server ---------------------------------------------------------------------------

/// One scripted answer.
struct Canned {
    status: u16,
    content_type: &'static str,
    body: String,
    delay: Duration,
}

fn reply(status: u16, body: Value) -> Canned {
    Canned {
        status,
        content_type: "application/json",
        body: body.to_string(),
        delay: Duration::ZERO,
    }
}

fn error_reply(status: u16, code: &str, message: &str) -> Canned {
    reply(status, json!({"code": code, "message": message}))
}

/// One request as the server saw it.
#[derive(Clone, Debug, PartialEq)]
struct Seen {
    method: String,
    path: String,
    accept: Option<String>,
    content_type: Option<String>,
    body: Option<Value>,
}

impl Seen {
    fn get(path: &str) -> Self {
        Self {
            method: "GET".to_owned(),
            path: path.to_owned(),
            accept: Some("application/json".to_owned()),
            content_type: None,
            body: None,
        }
    }

    fn post(path: &str, body: Value) -> Self {
        Self {
            method: "POST".to_owned(),
            path: path.to_owned(),
            accept: Some("application/json".to_owned()),
            content_type: Some("application/json".to_owned()),
            body: Some(body),
        }
    }
}

#[derive(Default)]
struct Script {
    replies: Mutex<VecDeque<Canned>>,
    seen: Mutex<Vec<Seen>>,
}

struct Server {
    url: String,
    script: Arc<Script>,
}

impl Server {
    /// Serves `replies` in order on a fresh port, under the URL prefix `prefix`.
    async fn start_at(prefix: &str, replies: Vec<Canned>) -> Self {
        let script = Arc::new(Script {
            replies: Mutex::new(replies.into()),
            seen: Mutex::default(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}{prefix}", listener.local_addr().unwrap());
        let app = Router::new().fallback(answer).with_state(script.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, script }
    }

    async fn start(replies: Vec<Canned>) -> Self {
        Self::start_at("", replies).await
    }

    fn client(&self) -> RelayerClient {
        client_for(&self.url)
    }

    fn seen(&self) -> Vec<Seen> {
        self.script.seen.lock().unwrap().clone()
    }

    fn unanswered(&self) -> usize {
        self.script.replies.lock().unwrap().len()
    }
}

async fn answer(State(script): State<Arc<Script>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let header = |name| {
        parts
            .headers
            .get(name)
            .map(|v: &header::HeaderValue| v.to_str().unwrap().to_owned())
    };
    let bytes = to_bytes(body, usize::MAX).await.unwrap();
    script.seen.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        accept: header(header::ACCEPT),
        content_type: header(header::CONTENT_TYPE),
        body: (!bytes.is_empty()).then(|| serde_json::from_slice(&bytes).unwrap()),
    });
    let next = script.replies.lock().unwrap().pop_front();
    // A request beyond the script gets a status no test expects.
    let canned = next.unwrap_or_else(|| error_reply(418, "unscripted", "no canned reply left"));
    if !canned.delay.is_zero() {
        tokio::time::sleep(canned.delay).await;
    }
    Response::builder()
        .status(canned.status)
        .header(header::CONTENT_TYPE, canned.content_type)
        .body(Body::from(canned.body))
        .unwrap()
}

/// A client with quick retries, so the tests that exhaust them stay fast.
fn client_for(url: &str) -> RelayerClient {
    RelayerClient::new(RelayerClientConfig {
        request_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(1),
        retry: RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(40),
        },
        ..RelayerClientConfig::new(url)
    })
    .unwrap()
}

// --- fixtures (the same keys and values as the protocol crate's golden JSON) ---------------------

fn signed_receipt(cumulative: u128) -> SignedReceipt {
    let message = Receipt {
        payee: key(2).address(),
        salt: 7,
        cumulative: U96::from(cumulative),
    };
    let digest = message.eip712_signing_hash(&domain(CHAIN_ID, ESCROW));
    Signed {
        signature: key(1).sign_digest(&digest).unwrap(),
        message,
    }
}

fn receipts_body(receipts: Vec<Value>) -> Value {
    json!({
        "chain_id": 31337,
        "escrow": "0xE5e5E5E5e5e5E5E5E5E5e5E5e5e5e5E5e5e5e5e5",
        "receipts": receipts
    })
}

fn accepted_json(status: &str) -> Value {
    json!({
        "status": status,
        "channel_id": "0xf26689e6d6b24fa28e41abc2dc678ea392367fe09febe13473d8c464f767d793",
        "payer": "0x1a642f0E3c3aF545E7AcBD38b07251B3990914F1",
        "cumulative": "1000000000000000000"
    })
}

fn open_operation() -> Operation {
    let message = OpenChannel {
        payee: key(2).address(),
        salt: 7,
        deposit: U96::from(5 * ONE_TOKEN),
        fee: U96::from(ONE_TOKEN / 1_000),
        relayer: Address::ZERO,
        channelNonce: 0,
        deadline: U40::from(1_700_003_600u64),
    };
    let digest = message.eip712_signing_hash(&domain(CHAIN_ID, ESCROW));
    Operation::Open {
        payer: key(1).address(),
        signature: key(1).sign_digest(&digest).unwrap(),
        message,
    }
}

fn open_json() -> Value {
    json!({
        "type": "open",
        "payer": "0x1a642f0E3c3aF545E7AcBD38b07251B3990914F1",
        "payee": "0x5050A4F4b3f9338C3472dcC01A87C76A144b3c9c",
        "salt": 7,
        "deposit": "5000000000000000000",
        "fee": "1000000000000000",
        "deadline": 1700003600,
        "signature": {
            "r": "0x586431e6ba06dbf7d9ac777edca2f8707b0c3dc09ef13b0a2043b969ec507ee2",
            "vs": "0xabb2c23f2cfd0a3f6c95d8e079a0169ec7b0835c5df990d159456ddc960824c8"
        }
    })
}

// --- encoding and decoding, endpoint by endpoint --------------------------------------------------

#[tokio::test]
async fn info_is_decoded() {
    let server = Server::start(vec![reply(
        200,
        json!({
            "api_version": "v1",
            "chain_id": 31337,
            "escrow": "0xE5e5E5E5e5e5E5E5E5E5e5E5e5e5e5E5e5e5e5e5",
            "token": "0x7070707070707070707070707070707070707070",
            "relayer": "0x4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e4e",
            "settle_fee_bps": 25,
            "min_fees": {"open": "1000", "top_up": "1000", "request_close": "1000",
                         "withdraw": "2000", "cooperative_close": "0"},
            "limits": {"max_body_bytes": 1048576, "max_receipts_per_request": 1000,
                       "max_operations_per_request": 100}
        }),
    )])
    .await;
    let info = server.client().info().await.unwrap();
    assert_eq!((info.chain_id, info.escrow), (CHAIN_ID, ESCROW));
    assert_eq!(info.relayer, Address::repeat_byte(0x4e));
    assert_eq!((info.settle_fee_bps, info.min_fees.withdraw), (25, 2_000));
    assert_eq!(info.limits.max_receipts_per_request, 1_000);
    assert_eq!(server.seen(), [Seen::get("/v1/info")]);
}

#[tokio::test]
async fn receipts_are_sent_as_the_api_says_and_results_decoded() {
    let server = Server::start(vec![reply(
        200,
        json!({"results": [
            accepted_json("accepted"),
            {"status": "rejected", "code": "stale_receipt", "message": "below the 2 already held"},
        ]}),
    )])
    .await;
    let receipts = [signed_receipt(ONE_TOKEN), signed_receipt(1)];
    let results = server
        .client()
        .submit_signed_receipts(CHAIN_ID, ESCROW, &receipts)
        .await
        .unwrap();

    let ReceiptResult::Accepted(accepted) = &results[0] else {
        panic!("{results:?}")
    };
    assert_eq!(accepted.channel_id, CHANNEL);
    assert_eq!(accepted.payer, key(1).address());
    assert_eq!(accepted.cumulative, ONE_TOKEN);
    assert_eq!(
        results[1],
        ReceiptResult::Rejected(ApiError::new(
            ErrorCode::StaleReceipt,
            "below the 2 already held"
        ))
    );

    let mut second = golden_receipt();
    second["cumulative"] = json!("1");
    second["signature"] = json!({
        "r": format!("{}", receipts[1].signature.r),
        "vs": format!("{}", receipts[1].signature.vs),
    });
    assert_eq!(
        server.seen(),
        [Seen::post(
            "/v1/receipts",
            receipts_body(vec![golden_receipt(), second])
        )]
    );
}

#[tokio::test]
async fn a_long_list_of_receipts_goes_in_full_requests() {
    let total = MAX_RECEIPTS_PER_REQUEST + 1;
    let full = vec![accepted_json("duplicate"); MAX_RECEIPTS_PER_REQUEST];
    let server = Server::start(vec![
        reply(200, json!({ "results": full })),
        reply(200, json!({"results": [accepted_json("accepted")]})),
    ])
    .await;
    let receipts = vec![signed_receipt(ONE_TOKEN); total];
    let results = server
        .client()
        .submit_signed_receipts(CHAIN_ID, ESCROW, &receipts)
        .await
        .unwrap();
    assert_eq!(results.len(), total);
    assert!(matches!(results[0], ReceiptResult::Duplicate(_)));
    assert!(matches!(results[total - 1], ReceiptResult::Accepted(_)));
    let seen = server.seen();
    let sizes: Vec<_> = seen
        .iter()
        .map(|s| {
            s.body.as_ref().unwrap()["receipts"]
                .as_array()
                .unwrap()
                .len()
        })
        .collect();
    assert_eq!(sizes, [MAX_RECEIPTS_PER_REQUEST, 1]);
    assert_eq!(
        seen[1],
        Seen::post("/v1/receipts", receipts_body(vec![golden_receipt()]))
    );

    // Nothing to send, nothing sent.
    let none = server
        .client()
        .submit_signed_receipts(CHAIN_ID, ESCROW, &[])
        .await
        .unwrap();
    assert!(none.is_empty());
    assert_eq!(server.seen().len(), 2);
}

#[tokio::test]
async fn a_result_count_that_does_not_match_is_an_invalid_response() {
    let server = Server::start(vec![reply(200, json!({"results": []}))]).await;
    let request = SubmitReceiptsRequest::new(
        CHAIN_ID,
        ESCROW,
        vec![serde_json::from_value::<ReceiptSubmission>(golden_receipt()).unwrap()],
    );
    let error = server.client().submit_receipts(&request).await.unwrap_err();
    assert_eq!(error.code(), "invalid_relayer_response");
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn operations_are_sent_as_the_api_says_and_results_decoded() {
    let server = Server::start(vec![reply(
        200,
        json!({"results": [
            {"status": "queued", "operation_id": "0x45e49c6b166356a1cc27e71206e0bab9f748968e625046aa71a7848be7b01b07"},
            {"status": "rejected", "code": "fee_too_low", "message": "fee below 2000000000000000"},
        ]}),
    )])
    .await;
    let operation = open_operation();
    assert_eq!(operation.id(&domain(CHAIN_ID, ESCROW)), OPEN_ID);
    let results = server
        .client()
        .submit_signed_operations(CHAIN_ID, ESCROW, &[operation.clone(), operation])
        .await
        .unwrap();
    assert_eq!(
        results,
        [
            OperationResult::Queued(QueuedOperation {
                operation_id: OPEN_ID
            }),
            OperationResult::Rejected(ApiError::new(
                ErrorCode::FeeTooLow,
                "fee below 2000000000000000"
            )),
        ]
    );
    assert_eq!(
        server.seen(),
        [Seen::post(
            "/v1/operations",
            json!({
                "chain_id": 31337,
                "escrow": "0xE5e5E5E5e5e5E5E5E5E5e5E5e5e5e5E5e5e5e5e5",
                "operations": [open_json(), open_json()]
            })
        )]
    );
}

#[tokio::test]
async fn operation_status_and_unknown_operations() {
    let server = Server::start(vec![
        reply(
            200,
            json!({
                "operation_id": "0x45e49c6b166356a1cc27e71206e0bab9f748968e625046aa71a7848be7b01b07",
                "type": "open",
                "status": "applied",
                "transaction_hash": format!("0x{}", "ab".repeat(32)),
                "block_number": 77,
                "reason": null
            }),
        ),
        error_reply(404, "unknown_operation", "no such operation"),
    ])
    .await;
    let client = server.client();
    let status = client.operation(OPEN_ID).await.unwrap().unwrap();
    assert_eq!(status.kind, OperationKind::Open);
    assert_eq!(status.status, OperationState::Applied);
    assert_eq!(status.transaction_hash, Some(B256::repeat_byte(0xab)));
    assert_eq!((status.block_number, status.reason), (Some(77), None));
    assert_eq!(client.operation(B256::ZERO).await.unwrap(), None);
    assert_eq!(
        server.seen(),
        [
            Seen::get(&format!("/v1/operations/{OPEN_ID}")),
            Seen::get(&format!("/v1/operations/{}", B256::ZERO)),
        ]
    );
}

#[tokio::test]
async fn channel_and_settlement_status() {
    let server = Server::start(vec![
        reply(
            200,
            json!({
                "channel_id": "0xf26689e6d6b24fa28e41abc2dc678ea392367fe09febe13473d8c464f767d793",
                "payer": "0x1a642f0E3c3aF545E7AcBD38b07251B3990914F1",
                "payee": "0x5050A4F4b3f9338C3472dcC01A87C76A144b3c9c",
                "salt": 7,
                "state": "open",
                "deposit": "5000000000000000000",
                "settled": "0",
                "closes_at": null,
                "latest_receipt": {
                    "cumulative": "1000000000000000000",
                    "signature": golden_receipt()["signature"].clone()
                },
                "indexed_block": 1234
            }),
        ),
        reply(
            200,
            json!({
                "channel_id": "0xf26689e6d6b24fa28e41abc2dc678ea392367fe09febe13473d8c464f767d793",
                "status": "pending",
                "received": "1000000000000000000",
                "settled": "0",
                "transaction": null
            }),
        ),
        error_reply(404, "unknown_channel", "no such channel"),
        error_reply(404, "unknown_channel", "no such channel"),
    ])
    .await;
    let client = server.client();

    let channel = client.channel(CHANNEL).await.unwrap().unwrap();
    assert_eq!(
        (channel.payer, channel.payee),
        (key(1).address(), key(2).address())
    );
    assert_eq!(
        (channel.state, channel.deposit),
        (ChannelState::Open, 5 * ONE_TOKEN)
    );
    let held = channel.latest_receipt.unwrap();
    assert_eq!(held.cumulative, ONE_TOKEN);
    assert_eq!(held.signature, signed_receipt(ONE_TOKEN).signature);

    let settlement = client.settlement(CHANNEL).await.unwrap().unwrap();
    assert_eq!(settlement.status, SettlementState::Pending);
    assert_eq!((settlement.received, settlement.settled), (ONE_TOKEN, 0));
    assert_eq!(settlement.transaction, None);

    assert_eq!(client.channel(B256::ZERO).await.unwrap(), None);
    assert_eq!(client.settlement(B256::ZERO).await.unwrap(), None);

    assert_eq!(
        server.seen(),
        [
            Seen::get(&format!("/v1/channels/{CHANNEL}")),
            Seen::get(&format!("/v1/channels/{CHANNEL}/settlement")),
            Seen::get(&format!("/v1/channels/{}", B256::ZERO)),
            Seen::get(&format!("/v1/channels/{}/settlement", B256::ZERO)),
        ]
    );
}

#[tokio::test]
async fn health_readiness_metrics_and_openapi() {
    let metrics =
        "# TYPE piecepay_receipts_accepted_total counter\npiecepay_receipts_accepted_total 3\n";
    let server = Server::start(vec![
        reply(200, json!({"status": "ok"})),
        reply(
            200,
            json!({"status": "ready", "checks": [{"name": "database", "ok": true, "detail": null}]}),
        ),
        reply(
            503,
            json!({"status": "not_ready", "checks": [
                {"name": "database", "ok": true, "detail": null},
                {"name": "chain", "ok": false, "detail": "no new block for 60 s"}
            ]}),
        ),
        Canned {
            status: 200,
            content_type: "text/plain; version=0.0.4",
            body: metrics.to_owned(),
            delay: Duration::ZERO,
        },
        reply(200, json!({"openapi": "3.1.0", "info": {"title": "piecepay relayer", "version": "v1"}})),
    ])
    .await;
    let client = server.client();
    assert_eq!(
        client.health().await.unwrap(),
        Health {
            status: HealthState::Ok
        }
    );
    assert_eq!(
        client.readiness().await.unwrap().status,
        ReadinessState::Ready
    );
    let not_ready = client.readiness().await.unwrap();
    assert_eq!(not_ready.status, ReadinessState::NotReady);
    assert_eq!(
        not_ready.checks[1].detail.as_deref(),
        Some("no new block for 60 s")
    );
    assert_eq!(client.metrics().await.unwrap(), metrics);
    assert_eq!(client.openapi().await.unwrap()["openapi"], "3.1.0");

    let mut metrics_request = Seen::get("/metrics");
    metrics_request.accept = Some("text/plain".to_owned());
    assert_eq!(
        server.seen(),
        [
            Seen::get("/healthz"),
            Seen::get("/readyz"),
            Seen::get("/readyz"), // a 503 from /readyz is an answer, not retried
            metrics_request,
            Seen::get("/v1/openapi.json"),
        ]
    );
}

#[tokio::test]
async fn paths_go_below_a_base_url_with_a_prefix() {
    let server = Server::start_at("/piecepay", vec![reply(200, json!({"status": "ok"}))]).await;
    server.client().health().await.unwrap();
    assert_eq!(server.seen(), [Seen::get("/piecepay/healthz")]);
}

// --- errors and retries ---------------------------------------------------------------------------

#[tokio::test]
async fn client_errors_are_never_retried() {
    for (status, code) in [
        (400, ErrorCode::WrongDomain),
        (413, ErrorCode::BatchTooLarge),
        (415, ErrorCode::UnsupportedMediaType),
        (429, ErrorCode::RateLimited),
    ] {
        let server = Server::start(vec![
            error_reply(status, code.as_str(), "refused"),
            reply(200, json!({"results": [accepted_json("accepted")]})),
        ])
        .await;
        let error = server
            .client()
            .submit_signed_receipts(CHAIN_ID, ESCROW, &[signed_receipt(ONE_TOKEN)])
            .await
            .unwrap_err();
        assert_eq!(
            error,
            Error::Relayer {
                status,
                code,
                message: "refused".to_owned()
            }
        );
        assert_eq!(error.code(), code.as_str());
        assert_eq!(server.seen().len(), 1, "{code}");
        assert_eq!(server.unanswered(), 1);
    }
}

#[tokio::test]
async fn server_errors_are_retried_with_the_same_request() {
    let server = Server::start(vec![
        error_reply(503, "unavailable", "database unreachable"),
        reply(502, json!("bad gateway")),
        reply(200, json!({"results": [accepted_json("duplicate")]})),
    ])
    .await;
    let results = server
        .client()
        .submit_signed_receipts(CHAIN_ID, ESCROW, &[signed_receipt(ONE_TOKEN)])
        .await
        .unwrap();
    assert!(matches!(results[..], [ReceiptResult::Duplicate(_)]));
    let expected = Seen::post("/v1/receipts", receipts_body(vec![golden_receipt()]));
    assert_eq!(
        server.seen(),
        [expected.clone(), expected.clone(), expected]
    );
}

#[tokio::test]
async fn server_errors_through_every_retry_mean_unavailable() {
    let server = Server::start(vec![
        error_reply(500, "internal", "oops"),
        error_reply(503, "timeout", "took too long"),
        error_reply(503, "unavailable", "shutting down"),
        reply(200, json!({"status": "ok"})),
    ])
    .await;
    let error = server.client().health().await.unwrap_err();
    assert_eq!(
        error,
        Error::RelayerUnavailable {
            attempts: 3,
            reason: "HTTP 503: unavailable: shutting down".to_owned()
        }
    );
    assert_eq!(error.code(), "relayer_unavailable");
    assert_eq!(server.seen().len(), 3);
    assert_eq!(server.unanswered(), 1);
}

#[tokio::test]
async fn refused_connections_are_retried_then_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let error = client_for(&url).info().await.unwrap_err();
    let Error::RelayerUnavailable { attempts, reason } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(*attempts, 3);
    assert!(!reason.is_empty());
}

#[tokio::test]
async fn a_slow_answer_times_out_and_is_retried() {
    let mut slow = reply(200, json!({"status": "ok"}));
    slow.delay = Duration::from_secs(30);
    let server = Server::start(vec![slow, reply(200, json!({"status": "ok"}))]).await;
    let client = RelayerClient::new(RelayerClientConfig {
        request_timeout: Duration::from_millis(200),
        retry: RetryPolicy {
            max_attempts: 2,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(10),
        },
        ..RelayerClientConfig::new(&server.url)
    })
    .unwrap();
    assert_eq!(client.health().await.unwrap(), Health::OK);
    assert_eq!(
        server.seen(),
        [Seen::get("/healthz"), Seen::get("/healthz")]
    );
}

#[tokio::test]
async fn undecodable_answers_are_invalid_responses_and_not_retried() {
    let server = Server::start(vec![
        Canned {
            status: 200,
            content_type: "text/html",
            body: "<html>hello</html>".to_owned(),
            delay: Duration::ZERO,
        },
        reply(200, json!({"status": "ok"})),
    ])
    .await;
    let error = server.client().info().await.unwrap_err();
    assert_eq!(error.code(), "invalid_relayer_response");
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn an_oversized_answer_is_refused_without_buffering_it() {
    let server = Server::start(vec![Canned {
        status: 200,
        content_type: "application/json",
        body: format!("\"{}\"", "a".repeat(9 << 20)),
        delay: Duration::ZERO,
    }])
    .await;
    let error = server.client().info().await.unwrap_err();
    assert_eq!(error.code(), "invalid_relayer_response");
    assert!(error.to_string().contains("over 8388608 bytes"), "{error}");
    assert_eq!(server.seen().len(), 1, "not retried");
}

#[tokio::test]
async fn error_bodies_that_are_not_the_apis_keep_their_status() {
    let server = Server::start(vec![
        Canned {
            status: 404,
            content_type: "text/plain",
            body: "404 page not found".to_owned(),
            delay: Duration::ZERO,
        },
        error_reply(404, "not_found", "no route GET /v1/nothing"),
        error_reply(402, "payment_required_someday", "a newer relayer's code"),
    ])
    .await;
    let client = server.client();
    // A 404 that is not the API's "unknown_channel" is an error, not "no such channel".
    for expected in [ErrorCode::Unknown, ErrorCode::NotFound] {
        let Error::Relayer { status, code, .. } = client.channel(CHANNEL).await.unwrap_err() else {
            panic!("expected a relayer error")
        };
        assert_eq!((status, code), (404, expected));
    }
    let error = client.health().await.unwrap_err();
    assert_eq!(error.code(), "unknown");
    assert_eq!(server.seen().len(), 3);
}
