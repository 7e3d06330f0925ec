//! The one error type of the HTTP layer and its mapping to Bird's error body (spec §2.4):
//! `{"code": "...", "message": "...", "details": {...}}`, `details` omitted when empty.

use std::error::Error;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use warbler_model::ValidationError;
use warbler_store::StoreError;

use crate::control::ControlError;

/// Everything a request can fail with, each variant mapping to one status and one `code`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// No `Authorization` header, a malformed one, or an unknown key: 401.
    #[error("a valid access key is required: send `Authorization: AccessKey <key>`")]
    Unauthorized,
    /// The resource does not exist, or belongs to another workspace: 404.
    #[error("the requested resource was not found")]
    NotFound,
    /// The body is not JSON: 400.
    #[error("the request body is not valid JSON: {0}")]
    InvalidJson(String),
    /// The body could not be read (the connection failed mid-body): 400.
    #[error("the request body could not be read")]
    UnreadableBody,
    /// The body is longer than the configured limit: 413.
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The request is JSON (or a query) that breaks Bird's schema: 422.
    #[error("{0}")]
    Validation(ValidationError),
    /// The call has already ended: 422 `CallNotActive`.
    #[error("the call has already ended")]
    CallNotActive,
    /// The call cannot take this command in its current state: 422 `InvalidCallState`.
    #[error("{0}")]
    InvalidCallState(String),
    /// The channel has no trunk to place a call through: 422 `NoTrunk`.
    #[error("this channel has no trunk to place calls through")]
    NoTrunk,
    /// The route exists but not for this method: 405.
    #[error("this method is not allowed on this resource")]
    MethodNotAllowed,
    /// The change conflicts with the current state of a resource: 409.
    #[error("the request conflicts with the current state of the resource")]
    Conflict,
    /// The call runtime cannot take the request now (shutting down, overloaded): 503.
    #[error("the service is temporarily unavailable, retry later")]
    Unavailable,
    /// A fault on our side; the cause is logged, never shown: 500.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::InvalidJson(_) | Self::UnreadableBody => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Validation(_)
            | Self::CallNotActive
            | Self::InvalidCallState(_)
            | Self::NoTrunk => StatusCode::UNPROCESSABLE_ENTITY,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict => StatusCode::CONFLICT,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized => "Unauthorized",
            Self::NotFound => "NotFound",
            Self::InvalidJson(_) => "InvalidJson",
            Self::UnreadableBody => "InvalidBody",
            Self::PayloadTooLarge { .. } => "PayloadTooLarge",
            Self::Validation(error) => error.code,
            Self::CallNotActive => "CallNotActive",
            Self::InvalidCallState(_) => "InvalidCallState",
            Self::NoTrunk => "NoTrunk",
            Self::MethodNotAllowed => "MethodNotAllowed",
            Self::Conflict => "Conflict",
            Self::Unavailable => "ServiceUnavailable",
            Self::Internal(_) => "InternalError",
        }
    }

    /// A 422 for a query parameter or body field named `field`.
    pub(crate) fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(ValidationError::invalid(field, message))
    }
}

/// Bird's error body.
#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<ErrorDetails<'a>>,
}

#[derive(Serialize)]
struct ErrorDetails<'a> {
    field: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (message, details) = match &self {
            Self::Validation(error) => (
                error.message.clone(),
                (!error.path.is_empty()).then_some(ErrorDetails {
                    field: error.path.as_str(),
                }),
            ),
            Self::Internal(cause) => {
                tracing::error!(%cause, "request failed with an internal error");
                (
                    "an internal error occurred; it is safe to retry later".to_owned(),
                    None,
                )
            }
            other => (other.to_string(), None),
        };
        let body = ErrorBody {
            code: self.code(),
            message,
            details,
        };
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("AccessKey"),
            );
        }
        response
    }
}

impl From<ValidationError> for ApiError {
    fn from(error: ValidationError) -> Self {
        Self::Validation(error)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::NotFound,
            StoreError::Conflict => Self::Conflict,
            StoreError::InvalidPageToken => {
                Self::invalid_field("pageToken", "the page token is not valid")
            }
            other => Self::Internal(format!("store: {}", with_sources(&other))),
        }
    }
}

impl From<ControlError> for ApiError {
    fn from(error: ControlError) -> Self {
        match error {
            ControlError::NotFound => Self::NotFound,
            ControlError::CallNotActive => Self::CallNotActive,
            ControlError::WrongState { message } => Self::InvalidCallState(message),
            ControlError::NoTrunk => Self::NoTrunk,
            ControlError::Invalid(error) => Self::Validation(error),
            ControlError::Unavailable => Self::Unavailable,
        }
    }
}

/// An error's message followed by those of its sources, for the log.
fn with_sources(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;
    use serde_json::{Value, json};

    use super::*;

    async fn render(error: ApiError) -> (StatusCode, Value) {
        let response = error.into_response();
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, serde_json::from_slice(&bytes).expect("json"))
    }

    #[tokio::test]
    async fn internal_errors_never_show_their_cause() {
        let (status, body) =
            render(ApiError::Internal("disk /var/lib/warbler full".to_owned())).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["code"], "InternalError");
        assert!(!body.to_string().contains("warbler"));
        assert!(body.get("details").is_none());
    }

    #[tokio::test]
    async fn store_errors_are_mapped() {
        let (status, body) = render(StoreError::NotFound.into()).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["code"], "NotFound");
        let (status, body) = render(StoreError::InvalidPageToken.into()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["details"], json!({"field": "pageToken"}));
        let (status, _) = render(StoreError::Conflict.into()).await;
        assert_eq!(status, StatusCode::CONFLICT);
    }

    #[tokio::test]
    async fn control_errors_are_mapped() {
        let cases = [
            (ControlError::NotFound, StatusCode::NOT_FOUND, "NotFound"),
            (
                ControlError::CallNotActive,
                StatusCode::UNPROCESSABLE_ENTITY,
                "CallNotActive",
            ),
            (
                ControlError::WrongState {
                    message: "the call is not answered yet".to_owned(),
                },
                StatusCode::UNPROCESSABLE_ENTITY,
                "InvalidCallState",
            ),
            (
                ControlError::NoTrunk,
                StatusCode::UNPROCESSABLE_ENTITY,
                "NoTrunk",
            ),
            (
                ControlError::Invalid(ValidationError::invalid("locale", "no voice")),
                StatusCode::UNPROCESSABLE_ENTITY,
                "InvalidValue",
            ),
            (
                ControlError::Unavailable,
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
            ),
        ];
        for (error, status, code) in cases {
            let description = format!("{error:?}");
            let (rendered_status, body) = render(error.into()).await;
            assert_eq!(rendered_status, status, "{description}");
            assert_eq!(body["code"], code, "{description}");
        }
        let (_, body) = render(
            ControlError::WrongState {
                message: "the call is not answered yet".to_owned(),
            }
            .into(),
        )
        .await;
        assert_eq!(body["message"], "the call is not answered yet");
        assert!(body.get("details").is_none());
        let (_, body) = render(ControlError::NoTrunk.into()).await;
        assert_eq!(
            body["message"],
            "this channel has no trunk to place calls through"
        );
    }
}
