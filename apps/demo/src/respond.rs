//! Plain responses every layer of the site uses: JSON errors, the minimal error page,
//! redirects, and the answers to unreadable or forged forms. A leaf module: it depends on
//! nothing else in the site.

use axum::Json;
use axum::extract::rejection::FormRejection;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde_json::json;

/// `{"error": message}` with `status`.
pub fn json_error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

/// A minimal error page (no template state needed; `message` is trusted text).
pub fn error_page(status: StatusCode, message: &str) -> Response {
    let title = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    let html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{title} · Tessera demo</title>\n<link rel=\"stylesheet\" href=\"/static/style.css\">\n</head>\n<body>\n<header class=\"top\"><a class=\"brand\" href=\"/\">Tessera demo</a></header>\n<main class=\"card\">\n<h1>{title}</h1>\n<p>{message}</p>\n<p class=\"alt\"><a href=\"/\">Home</a></p>\n</main>\n<footer>Server-side sessions with Tessera · no JavaScript on this site</footer>\n</body>\n</html>\n"
    );
    (status, Html(html)).into_response()
}

/// 403 for a missing or wrong CSRF token.
pub fn csrf_failed() -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        "The form expired or did not come from this site. Go back, reload the page and try again.",
    )
}

/// The status of a form that could not be read (415, 413, 400…).
pub fn form_rejected(r: FormRejection) -> Response {
    let status = r.status();
    let message = match status {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            "Forms must be sent as application/x-www-form-urlencoded."
        }
        StatusCode::PAYLOAD_TOO_LARGE => "The form is too large.",
        _ => "The form could not be read.",
    };
    error_page(status, message)
}

/// 303 to `to`.
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}
