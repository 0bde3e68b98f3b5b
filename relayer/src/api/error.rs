//! How the API answers with errors, and how it reads JSON bodies with the API's codes.

use axum::{
    body::Body,
    extract::{FromRequest, Request},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use piecepay_protocol::relayer_api::{ApiError, ErrorCode};
use serde::de::DeserializeOwned;

use super::AppState;

/// An [`ApiError`] as an HTTP response: the code's status and `{code, message}`.
#[derive(Debug)]
pub struct Failure(pub ApiError);

impl Failure {
    /// A failure with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self(ApiError::new(code, message))
    }

    /// 503 `unavailable` or 500 `internal` for a relayer-side error; the details go to the log only.
    pub fn from_error(error: &crate::Error) -> Self {
        tracing::error!(error = %error, code = error.code(), "request failed inside the relayer");
        match error {
            crate::Error::Database(_)
            | crate::Error::DatabaseUnreachable { .. }
            | crate::Error::Unavailable(_) => Self::new(
                ErrorCode::Unavailable,
                "the relayer's database is unavailable; retry",
            ),
            _ => Self::new(
                ErrorCode::Internal,
                "unexpected failure inside the relayer; retry later",
            ),
        }
    }
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Self {
        Self(error)
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        json_response(status, &self.0)
    }
}

/// `value` as a JSON response with `status`.
pub fn json_response<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => {
            let mut response = Response::new(Body::from(body));
            *response.status_mut() = status;
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// A JSON request body, read with the API's rules: `Content-Type: application/json` (else 415), at most
/// the configured body size (else 413 `body_too_large`), valid JSON (else 400 `invalid_json`) of the
/// right shape (else 400 `invalid_request`).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = Failure;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Failure> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(Failure::new(
                ErrorCode::UnsupportedMediaType,
                "expected Content-Type: application/json",
            ));
        }
        let limit = state.settings.config.api.max_body_bytes;
        let too_large = || {
            Failure::new(
                ErrorCode::BodyTooLarge,
                format!("the body exceeds {limit} bytes"),
            )
        };
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Err(too_large());
        }
        // The only read error with a length limit is exceeding it; a client that hangs up mid-body gets
        // no answer anyway.
        let bytes = axum::body::to_bytes(request.into_body(), limit)
            .await
            .map_err(|_| too_large())?;
        serde_json::from_slice(&bytes).map(Self).map_err(|e| {
            use serde_json::error::Category;
            match e.classify() {
                Category::Data => Failure::new(ErrorCode::InvalidRequest, e.to_string()),
                Category::Syntax | Category::Eof | Category::Io => {
                    Failure::new(ErrorCode::InvalidJson, e.to_string())
                }
            }
        })
    }
}
