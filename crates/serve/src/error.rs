//! Errors as the client sees them: `{"error": "..."}` with the status that says whose fault it was.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// A failed request: its status and a message that says what to change.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }

    /// 400: the request is malformed or does not fit the model.
    pub fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
}

impl From<mlp::Error> for ApiError {
    fn from(e: mlp::Error) -> Self {
        match e {
            // Reading the request's rows, encoding them or a non-finite output: the request's values.
            mlp::Error::Data(_) | mlp::Error::Parse { .. } | mlp::Error::Format { .. } | mlp::Error::Config { .. } => {
                Self::bad(e.to_string())
            }
            other => Self::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
        }
    }
}

/// A JSON body with its content type.
pub fn json_response(status: StatusCode, body: impl Into<axum::body::Body>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.into()).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.status, serde_json::json!({ "error": self.message }).to_string())
    }
}
