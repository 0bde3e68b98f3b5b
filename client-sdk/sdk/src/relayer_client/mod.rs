//! An async client for the relayer's HTTP API v1 (feature `relayer-client`).
//!
//! One method per endpoint of [`piecepay_protocol::relayer_api`] (`docs/relayer-api.md` is the
//! contract). Connection failures, timeouts and HTTP 5xx are retried with backoff ([`RetryPolicy`]):
//! that is safe because everything the API accepts is idempotent — a resubmitted receipt comes back
//! `duplicate`, an operation's id is its EIP-712 hash. An HTTP 4xx is never retried, since asking again
//! gets the same answer; it surfaces as [`Error::Relayer`] carrying the API's error code.
//!
//! A 2xx answer to a submission means the relayer has committed what it accepted: a payee that got
//! `accepted` or `duplicate` for its latest receipt may record it as handed over
//! ([`PayeeChannel::on_settlement_sent`](crate::PayeeChannel::on_settlement_sent)).

mod retry;

use std::time::Duration;

use piecepay_protocol::{
    alloy_primitives::{Address, B256, hex},
    relayer_api::{
        ApiError, ChannelStatus, ErrorCode, Health, MAX_OPERATIONS_PER_REQUEST,
        MAX_RECEIPTS_PER_REQUEST, Operation, OperationResult, OperationStatus, OperationSubmission,
        Readiness, ReceiptResult, ReceiptSubmission, RelayerInfo, SettlementStatus,
        SubmitOperationsRequest, SubmitOperationsResponse, SubmitReceiptsRequest,
        SubmitReceiptsResponse, paths,
    },
};
use reqwest::{Method, StatusCode, Url, header};
use serde::{Serialize, de::DeserializeOwned};

pub use retry::RetryPolicy;

use crate::{Error, Result, SignedReceipt};

const JSON: &str = "application/json";

/// Where the relayer is and how patiently to talk to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayerClientConfig {
    /// The relayer's base URL, e.g. `http://127.0.0.1:8080/` or `https://relayer.example/piecepay/`;
    /// API paths are resolved below it.
    pub base_url: String,
    /// Limit on one attempt, from connecting to the last byte of the answer.
    pub request_timeout: Duration,
    /// Limit on establishing the connection.
    pub connect_timeout: Duration,
    /// Retries of failed attempts.
    pub retry: RetryPolicy,
}

impl RelayerClientConfig {
    /// The defaults for the relayer at `base_url`: 10 s per attempt, 3 s to connect, 4 attempts.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            retry: RetryPolicy::default(),
        }
    }
}

/// An async client of one relayer. Cheap to clone (clones share a connection pool).
#[derive(Clone, Debug)]
pub struct RelayerClient {
    http: reqwest::Client,
    base: Url,
    retry: RetryPolicy,
}

impl RelayerClient {
    /// A client for `config`. Fails with [`Error::InvalidPolicy`] for a base URL that is not an absolute
    /// `http` or `https` URL.
    pub fn new(config: RelayerClientConfig) -> Result<Self> {
        let mut base = Url::parse(&config.base_url)
            .map_err(|_| Error::InvalidPolicy("relayer base URL does not parse"))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(Error::InvalidPolicy(
                "relayer base URL must be an http or https URL",
            ));
        }
        if !base.path().ends_with('/') {
            // Without the slash, `join` would replace the last path segment instead of going below it.
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("piecepay-sdk/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|_| Error::InvalidPolicy("relayer HTTP client cannot be built"))?;
        Ok(Self {
            http,
            base,
            retry: config.retry,
        })
    }

    /// `GET /v1/info`: the relayer's escrow, fees and limits.
    pub async fn info(&self) -> Result<RelayerInfo> {
        self.get(paths::INFO).await
    }

    /// `POST /v1/receipts` with `request` as it is; one result per receipt, in order.
    pub async fn submit_receipts(
        &self,
        request: &SubmitReceiptsRequest,
    ) -> Result<SubmitReceiptsResponse> {
        let response: SubmitReceiptsResponse = self.post(paths::RECEIPTS, request).await?;
        check_len("receipt", request.receipts.len(), response.results.len())?;
        Ok(response)
    }

    /// Submits `receipts`, signed for the escrow `escrow` on chain `chain_id`, in as many requests of at
    /// most [`MAX_RECEIPTS_PER_REQUEST`] as it takes; one result per receipt, in order. Stops at the
    /// first request that fails: the receipts of the requests before it are committed (resubmitting
    /// them is harmless).
    pub async fn submit_signed_receipts(
        &self,
        chain_id: u64,
        escrow: Address,
        receipts: &[SignedReceipt],
    ) -> Result<Vec<ReceiptResult>> {
        let mut results = Vec::with_capacity(receipts.len());
        for chunk in receipts.chunks(MAX_RECEIPTS_PER_REQUEST) {
            let submissions = chunk
                .iter()
                .map(|r| ReceiptSubmission::new(&r.message, &r.signature))
                .collect();
            let request = SubmitReceiptsRequest::new(chain_id, escrow, submissions);
            results.extend(self.submit_receipts(&request).await?.results);
        }
        Ok(results)
    }

    /// `POST /v1/operations` with `request` as it is; one result per operation, in order.
    pub async fn submit_operations(
        &self,
        request: &SubmitOperationsRequest,
    ) -> Result<SubmitOperationsResponse> {
        let response: SubmitOperationsResponse = self.post(paths::OPERATIONS, request).await?;
        check_len(
            "operation",
            request.operations.len(),
            response.results.len(),
        )?;
        Ok(response)
    }

    /// Submits signed `operations` for the escrow `escrow` on chain `chain_id`, in requests of at most
    /// [`MAX_OPERATIONS_PER_REQUEST`]; one result per operation, in order.
    pub async fn submit_signed_operations(
        &self,
        chain_id: u64,
        escrow: Address,
        operations: &[Operation],
    ) -> Result<Vec<OperationResult>> {
        let mut results = Vec::with_capacity(operations.len());
        for chunk in operations.chunks(MAX_OPERATIONS_PER_REQUEST) {
            let submissions = chunk.iter().map(OperationSubmission::from).collect();
            let request = SubmitOperationsRequest::new(chain_id, escrow, submissions);
            results.extend(self.submit_operations(&request).await?.results);
        }
        Ok(results)
    }

    /// `GET /v1/operations/{operation_id}`; `None` if the relayer never queued it.
    pub async fn operation(&self, operation_id: B256) -> Result<Option<OperationStatus>> {
        let path = paths::OPERATION.replace("{operation_id}", &hex::encode_prefixed(operation_id));
        self.get_unless(&path, ErrorCode::UnknownOperation).await
    }

    /// `GET /v1/channels/{channel_id}`; `None` if the relayer knows no such channel.
    pub async fn channel(&self, channel_id: B256) -> Result<Option<ChannelStatus>> {
        let path = paths::CHANNEL.replace("{channel_id}", &hex::encode_prefixed(channel_id));
        self.get_unless(&path, ErrorCode::UnknownChannel).await
    }

    /// `GET /v1/channels/{channel_id}/settlement`; `None` if the relayer knows no such channel.
    pub async fn settlement(&self, channel_id: B256) -> Result<Option<SettlementStatus>> {
        let path = paths::SETTLEMENT.replace("{channel_id}", &hex::encode_prefixed(channel_id));
        self.get_unless(&path, ErrorCode::UnknownChannel).await
    }

    /// `GET /healthz`.
    pub async fn health(&self) -> Result<Health> {
        self.get(paths::HEALTH).await
    }

    /// `GET /readyz`, once (no retry: the answer is the point): a relayer that is not ready answers 503
    /// with its checks, which is returned as `Ok` with [`ReadinessState::NotReady`](
    /// piecepay_protocol::relayer_api::ReadinessState::NotReady).
    pub async fn readiness(&self) -> Result<Readiness> {
        let (status, body) = self
            .send(Method::GET, paths::READY, None, JSON, false)
            .await?;
        if status == StatusCode::SERVICE_UNAVAILABLE
            && let Ok(readiness) = serde_json::from_slice(&body)
        {
            return Ok(readiness);
        }
        decode(status, &body)
    }

    /// `GET /metrics`: the Prometheus text exposition, as sent.
    pub async fn metrics(&self) -> Result<String> {
        let (status, body) = self
            .send(Method::GET, paths::METRICS, None, "text/plain", true)
            .await?;
        if !status.is_success() {
            return Err(api_error(status, &body));
        }
        String::from_utf8(body)
            .map_err(|_| Error::InvalidRelayerResponse("metrics are not UTF-8".to_owned()))
    }

    /// `GET /v1/openapi.json`: the API's OpenAPI document.
    pub async fn openapi(&self) -> Result<serde_json::Value> {
        self.get(paths::OPENAPI).await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let (status, body) = self.send(Method::GET, path, None, JSON, true).await?;
        decode(status, &body)
    }

    /// A GET whose 404 with code `missing` means "no such thing" rather than failure.
    async fn get_unless<T: DeserializeOwned>(
        &self,
        path: &str,
        missing: ErrorCode,
    ) -> Result<Option<T>> {
        match self.get(path).await {
            Err(Error::Relayer { code, .. }) if code == missing => Ok(None),
            other => other.map(Some),
        }
    }

    async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T> {
        let body = serde_json::to_vec(body).map_err(|e| {
            // Only a Serialize impl that fails could get here; the API's types never do.
            Error::InvalidRelayerResponse(format!("request does not encode: {e}"))
        })?;
        let (status, body) = self
            .send(Method::POST, path, Some(body), JSON, true)
            .await?;
        decode(status, &body)
    }

    /// Sends one request, retrying connection failures, timeouts and (when `retry`) HTTP 5xx, and
    /// returns the first other answer with its whole body.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        accept: &'static str,
        retry: bool,
    ) -> Result<(StatusCode, Vec<u8>)> {
        let url = self
            .base
            .join(path.trim_start_matches('/'))
            .map_err(|_| Error::InvalidPolicy("relayer URL cannot be joined with an API path"))?;
        let max_attempts = if retry {
            self.retry.max_attempts.max(1)
        } else {
            1
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .header(header::ACCEPT, accept);
            if let Some(body) = &body {
                request = request
                    .header(header::CONTENT_TYPE, JSON)
                    .body(body.clone());
            }
            let failure = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    match read_capped(response).await {
                        Ok(Some(bytes)) if retry && status.is_server_error() => {
                            describe_server_error(status, &bytes)
                        }
                        Ok(Some(bytes)) => return Ok((status, bytes)),
                        Ok(None) => {
                            return Err(Error::InvalidRelayerResponse(format!(
                                "{status} with a body over {MAX_RESPONSE_BYTES} bytes"
                            )));
                        }
                        Err(e) => describe(&e),
                    }
                }
                Err(e) => describe(&e),
            };
            if attempt >= max_attempts {
                return Err(Error::RelayerUnavailable {
                    attempts: attempt,
                    reason: failure,
                });
            }
            tokio::time::sleep(self.retry.backoff(attempt)).await;
        }
    }
}

/// The most a response body may hold: the largest legitimate one is a full submission's results (1,000
/// receipts) or the OpenAPI document, well under this. A broken or hostile relayer cannot make the client
/// buffer more.
const MAX_RESPONSE_BYTES: usize = 8 << 20;

/// The body of `response`, or `None` once it passes [`MAX_RESPONSE_BYTES`] (read no further).
async fn read_capped(mut response: reqwest::Response) -> reqwest::Result<Option<Vec<u8>>> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// A 2xx body as `T`, or the API error of any other status.
fn decode<T: DeserializeOwned>(status: StatusCode, body: &[u8]) -> Result<T> {
    if !status.is_success() {
        return Err(api_error(status, body));
    }
    serde_json::from_slice(body)
        .map_err(|e| Error::InvalidRelayerResponse(format!("HTTP {}: {e}", status.as_u16())))
}

/// [`Error::Relayer`] from an error response; a body that is not the API's (a proxy's page, say) gets
/// [`ErrorCode::Unknown`].
fn api_error(status: StatusCode, body: &[u8]) -> Error {
    let (code, message) = match serde_json::from_slice::<ApiError>(body) {
        Ok(error) => (error.code, error.message),
        Err(_) => (
            ErrorCode::Unknown,
            format!("HTTP {} without an API error body", status.as_u16()),
        ),
    };
    Error::Relayer {
        status: status.as_u16(),
        code,
        message,
    }
}

fn describe_server_error(status: StatusCode, body: &[u8]) -> String {
    match serde_json::from_slice::<ApiError>(body) {
        Ok(error) => format!("HTTP {}: {error}", status.as_u16()),
        Err(_) => format!("HTTP {}", status.as_u16()),
    }
}

/// An error with its chain of causes (reqwest's own message rarely says what happened).
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn check_len(what: &str, sent: usize, got: usize) -> Result<()> {
    if sent != got {
        return Err(Error::InvalidRelayerResponse(format!(
            "{got} results for {sent} {what}s"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_must_be_http_and_gain_a_trailing_slash() {
        for (given, base) in [
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080/"),
            (
                "http://relayer.test/piecepay",
                "http://relayer.test/piecepay/",
            ),
            (
                "https://relayer.test/piecepay/",
                "https://relayer.test/piecepay/",
            ),
        ] {
            let client = RelayerClient::new(RelayerClientConfig::new(given)).unwrap();
            assert_eq!(client.base.as_str(), base);
            let info = client
                .base
                .join(paths::INFO.trim_start_matches('/'))
                .unwrap();
            assert_eq!(info.as_str(), format!("{base}v1/info"));
        }
        for bad in [
            "relayer.test",
            "ftp://relayer.test/",
            "mailto:relayer@test",
            "",
        ] {
            assert_eq!(
                RelayerClient::new(RelayerClientConfig::new(bad))
                    .unwrap_err()
                    .code(),
                "invalid_policy",
                "{bad}"
            );
        }
    }

    #[test]
    fn error_bodies_map_to_the_api_code() {
        let body = br#"{"code":"wrong_domain","message":"chain_id and escrow do not match"}"#;
        let error = api_error(StatusCode::BAD_REQUEST, body);
        assert_eq!(error.code(), "wrong_domain");
        assert_eq!(
            error,
            Error::Relayer {
                status: 400,
                code: ErrorCode::WrongDomain,
                message: "chain_id and escrow do not match".to_owned()
            }
        );
        let proxy = api_error(StatusCode::NOT_FOUND, b"<html>nope</html>");
        assert_eq!(proxy.code(), "unknown");
        let newer = api_error(
            StatusCode::PAYMENT_REQUIRED,
            br#"{"code":"quota_exhausted","message":"buy more"}"#,
        );
        assert_eq!(newer.code(), "unknown");
        assert_eq!(
            describe_server_error(StatusCode::SERVICE_UNAVAILABLE, b""),
            "HTTP 503"
        );
    }
}
