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
        parse(&bytes).map(Self)
    }
}

/// `bytes` as a `T`: straight from the bytes (the fast path), else through a JSON value whose
/// integral numbers written with a fraction or exponent (`7.0`, `7e0`) are made integers — JSON does not
/// tell them apart and the OpenAPI schema allows them — else the error, as `invalid_json` or as
/// `invalid_request` saying where and what in JSON's terms.
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Failure> {
    use serde_json::error::Category;
    let error = match serde_json::from_slice(bytes) {
        Ok(value) => return Ok(value),
        Err(error) => error,
    };
    if !matches!(error.classify(), Category::Data) {
        return Err(Failure::new(ErrorCode::InvalidJson, error.to_string()));
    }
    if let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(bytes)
        && integral_floats_to_integers(&mut value)
        && let Ok(parsed) = serde_json::from_value(value)
    {
        return Ok(parsed);
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let message = match serde_path_to_error::deserialize::<_, T>(&mut deserializer) {
        Err(error) => {
            let path = error.path().to_string();
            let what = in_json_terms(&error.into_inner().to_string());
            if path == "." {
                what
            } else {
                // The path says where; serde's "at line 1 column 100" says it less well.
                let what = what
                    .rfind(" at line ")
                    .map_or(what.as_str(), |at| &what[..at])
                    .to_owned();
                format!("{path}: {what}")
            }
        }
        Ok(_) => in_json_terms(&error.to_string()),
    };
    Err(Failure::new(ErrorCode::InvalidRequest, message))
}

/// Turns every float in `value` that is an integer (`7.0`, `1e3`) into that integer; whether any was.
fn integral_floats_to_integers(value: &mut serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::Number(number) if number.is_f64() => {
            let float = number.as_f64().unwrap_or(f64::NAN);
            // Exactly representable integers only (below 2^53), non-negative or not.
            if float.fract() == 0.0 && float.abs() < 9_007_199_254_740_992.0 {
                *value = if float >= 0.0 {
                    Value::from(float as u64)
                } else {
                    Value::from(float as i64)
                };
                true
            } else {
                false
            }
        }
        // Every element is visited (no short circuit): all of them are fixed.
        Value::Array(items) => {
            items
                .iter_mut()
                .map(integral_floats_to_integers)
                .filter(|changed| *changed)
                .count()
                > 0
        }
        Value::Object(fields) => {
            fields
                .values_mut()
                .map(integral_floats_to_integers)
                .filter(|changed| *changed)
                .count()
                > 0
        }
        _ => false,
    }
}

/// serde's message with the Rust type names in it said the way the API documents JSON.
fn in_json_terms(message: &str) -> String {
    let mut text = message.to_owned();
    for (rust, json) in [
        ("u8", "an integer from 0 to 255"),
        ("u16", "an integer from 0 to 65535"),
        ("u32", "an integer from 0 to 4294967295"),
        ("u64", "an integer from 0 to 18446744073709551615"),
        ("i64", "an integer"),
    ] {
        text = text.replace(&format!("expected {rust}"), &format!("expected {json}"));
    }
    for (rust, json) in [
        ("struct ", "an object"),
        ("internally tagged enum ", "an object with a known \"type\""),
    ] {
        while let Some(at) = text.find(rust) {
            let name_end = text[at + rust.len()..]
                .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                .map_or(text.len(), |n| at + rust.len() + n);
            text.replace_range(at..name_end, json);
        }
    }
    text.replace("a sequence", "an array")
        .replace("expected a map", "expected an object")
        .replace("invalid type: map", "invalid type: object")
        .replace("invalid type: sequence", "invalid type: array")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Inner {
        #[allow(dead_code)]
        salt: u32,
    }

    #[derive(Debug, serde::Deserialize)]
    struct Outer {
        #[allow(dead_code)]
        receipts: Vec<Inner>,
    }

    fn message(body: &str) -> (ErrorCode, String) {
        let error = parse::<Outer>(body.as_bytes()).unwrap_err().0;
        (error.code, error.message)
    }

    #[test]
    fn integral_floats_are_integers() {
        for body in [
            r#"{"receipts": [{"salt": 7}]}"#,
            r#"{"receipts": [{"salt": 7.0}]}"#,
            r#"{"receipts": [{"salt": 2608505.0}]}"#,
            r#"{"receipts": [{"salt": 7e0}]}"#,
        ] {
            assert!(parse::<Outer>(body.as_bytes()).is_ok(), "{body}");
        }
        let (code, message) = message(r#"{"receipts": [{"salt": 7.5}]}"#);
        assert_eq!(code, ErrorCode::InvalidRequest);
        assert!(message.starts_with("receipts[0].salt: "), "{message}");
    }

    #[test]
    fn messages_say_where_and_what_in_json_terms() {
        for (body, expect) in [
            (
                r#"{"receipts": [{"salt": "x"}]}"#,
                "receipts[0].salt: invalid type: string \"x\", expected an integer from 0 to 4294967295",
            ),
            (
                r#"{"receipts": [{"salt": -1}]}"#,
                "receipts[0].salt: invalid value: integer `-1`, expected an integer from 0 to 4294967295",
            ),
            (
                r#"{"receipts": [5]}"#,
                "receipts[0]: invalid type: integer `5`, expected an object",
            ),
            (
                r#"{"receipts": {}}"#,
                "receipts: invalid type: object, expected an array",
            ),
            (r#"{}"#, "missing field `receipts`"),
        ] {
            let (code, message) = message(body);
            assert_eq!(code, ErrorCode::InvalidRequest);
            assert!(message.starts_with(expect), "{body}: {message}");
            for rust in ["u32", "struct", "Inner", "sequence"] {
                assert!(!message.contains(rust), "{body}: {message}");
            }
        }
        assert_eq!(message("{").0, ErrorCode::InvalidJson);
    }
}
