//! Handler errors: a session-store error keeps Tessera's status (503), a user-database
//! error is 503, anything else 500. Details go to the log, never to the client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// What a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Fail {
    /// The session (store) failed.
    #[error(transparent)]
    Session(#[from] tessera::Error),
    /// The user database failed.
    #[error("user database: {0}")]
    Db(#[from] sqlx::Error),
    /// Password hashing is busy (503) or failed (500).
    #[error(transparent)]
    Hash(#[from] crate::passwords::HashError),
    /// Anything else.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl Fail {
    /// The response status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Session(e) => e.status(),
            Self::Db(_) | Self::Hash(crate::passwords::HashError::Busy) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Hash(_) | Self::Other(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A message safe to show.
    pub fn public_message(&self) -> &'static str {
        match self.status() {
            StatusCode::SERVICE_UNAVAILABLE => "Service unavailable, please try again shortly.",
            StatusCode::CONFLICT => "Your session ended while this request was running.",
            _ => "Something went wrong on our side.",
        }
    }

    fn log(&self) {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(%status, error = %self, "request failed");
        } else {
            tracing::info!(%status, error = %self, "request failed");
        }
    }

    /// As a JSON response (`{"error": …}`).
    pub fn into_json(self) -> Response {
        self.log();
        let status = self.status();
        let mut res = (
            status,
            axum::Json(serde_json::json!({"error": self.public_message()})),
        )
            .into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            res.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from_static("1"),
            );
        }
        res
    }
}

impl IntoResponse for Fail {
    /// As a plain page.
    fn into_response(self) -> Response {
        self.log();
        let status = self.status();
        crate::respond::error_page(status, self.public_message())
    }
}

/// Errors of JSON handlers: always answered as JSON.
#[derive(Debug)]
pub enum ApiFail {
    /// 401 `{"error":"not logged in"}`.
    NotLoggedIn,
    /// Anything else.
    Fail(Fail),
}

impl<E: Into<Fail>> From<E> for ApiFail {
    fn from(e: E) -> Self {
        Self::Fail(e.into())
    }
}

impl IntoResponse for ApiFail {
    fn into_response(self) -> Response {
        match self {
            Self::NotLoggedIn => {
                crate::respond::json_error(StatusCode::UNAUTHORIZED, "not logged in")
            }
            Self::Fail(f) => f.into_json(),
        }
    }
}

/// Renders responses the session layer replaced (store down: 503; session ended during the
/// request: 409) and the request timeout's bare 408, which arrive with an empty body and a `tessera::SessionFailure`: JSON
/// under `/api`, a page elsewhere, with the layer's headers (`Retry-After`, `no-store`).
pub async fn render_session_failures(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let api = req.uri().path().starts_with("/api");
    let res = next.run(req).await;
    let status = match res.extensions().get::<tessera::SessionFailure>() {
        Some(failure) => failure.status,
        // REQUEST_TIMEOUT's layer answers with a bare 408.
        None if res.status() == StatusCode::REQUEST_TIMEOUT
            && !res.headers().contains_key(http::header::CONTENT_TYPE) =>
        {
            tracing::info!("request timed out (REQUEST_TIMEOUT)");
            StatusCode::REQUEST_TIMEOUT
        }
        None => return res,
    };
    let message = match status {
        StatusCode::SERVICE_UNAVAILABLE => "Service unavailable, please try again shortly.",
        StatusCode::REQUEST_TIMEOUT => "The request took too long and was stopped.",
        // The session ended meanwhile, or a change was refused on replay (Tessera's
        // messages say which, and that nothing was saved).
        StatusCode::CONFLICT => res
            .extensions()
            .get::<tessera::SessionFailure>()
            .map_or("Your session ended while this request was running.", |f| {
                f.message
            }),
        _ => "Something went wrong on our side.",
    };
    let mut page = if api {
        crate::respond::json_error(status, message)
    } else {
        crate::respond::error_page(status, message)
    };
    for name in [http::header::RETRY_AFTER, http::header::CACHE_CONTROL] {
        if let Some(v) = res.headers().get(&name) {
            page.headers_mut().insert(name, v.clone());
        }
    }
    page
}
