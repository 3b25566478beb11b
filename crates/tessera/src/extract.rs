//! axum integration: [`Session`] as an extractor, [`Error`] as a response.

use crate::error::Error;
use crate::session::Session;
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;

/// Rejection when the [`SessionLayer`](crate::SessionLayer) is not installed for a route
/// (or the path is outside the configured cookie path).
#[derive(Debug, Clone, Copy)]
pub struct MissingSessionLayer;

impl std::fmt::Display for MissingSessionLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "the session middleware (tessera::SessionLayer) is not installed for this route",
        )
    }
}

impl std::error::Error for MissingSessionLayer {}

impl IntoResponse for MissingSessionLayer {
    fn into_response(self) -> Response {
        tracing::error!("Session extractor used on a route without SessionLayer");
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal server error: session middleware is not installed for this route.\n",
        )
            .into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = MissingSessionLayer;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Session>()
            .cloned()
            .ok_or(MissingSessionLayer)
    }
}

impl<S: Send + Sync> axum::extract::OptionalFromRequestParts<S> for Session {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Session>().cloned())
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let body = axum::body::Body::from(format!("{}\n", self.public_message()));
        let mut res = crate::layer::error_with_body(&self, body);
        res.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        res
    }
}
