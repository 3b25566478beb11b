//! [`Error`]: tessera's session errors as actix-web responses.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};

/// A session error a handler can return with `?` (`tessera::Error` converts into it): the
/// store failed (503), the session ended meanwhile (409), … The response carries the
/// error's status and a message for people, never the details.
#[derive(Debug)]
pub struct Error(pub tessera::Error);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl From<tessera::Error> for Error {
    fn from(e: tessera::Error) -> Self {
        Self(e)
    }
}

impl actix_web::ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status().as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        failure_response(self.status_code(), self.0.public_message())
    }
}

/// The response for a session failure: its status, `Cache-Control: no-store`,
/// `Retry-After: 1` on a 503, and a plain-text message for people.
fn failure_response(status: StatusCode, message: &str) -> HttpResponse {
    let mut res = HttpResponse::build(status);
    res.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        res.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
    }
    res.content_type("text/plain; charset=utf-8")
        .body(format!("{message}\n"))
}
