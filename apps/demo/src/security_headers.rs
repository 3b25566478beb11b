//! Security headers on every response (tower-http's `SetResponseHeaderLayer`), plus
//! `Vary: Cookie` and the rule that `X-Session-Id` only leaves through `/api`.

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::set_header::SetResponseHeaderLayer;

/// The Content-Security-Policy: only our own stylesheet, no scripts at all, forms only to
/// this site, no framing.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
                       form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Adds `X-Content-Type-Options`, `Referrer-Policy`, CSP, `X-Frame-Options`,
/// `Cross-Origin-Opener-Policy`, `Cache-Control: no-store` (unless the handler chose a
/// policy, as the stylesheet does) and [`vary_and_session_header`] to `router`.
pub fn apply<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    let fixed: [(HeaderName, &'static str); 5] = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ];
    let mut router = router.layer(axum::middleware::from_fn(vary_and_session_header));
    for (name, value) in fixed {
        router = router.layer(SetResponseHeaderLayer::overriding(
            name,
            HeaderValue::from_static(value),
        ));
    }
    router.layer(SetResponseHeaderLayer::if_not_present(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    ))
}

/// Middleware: `Vary: Cookie` unless already there; the `X-Session-Id` header removed
/// from responses outside `/api`.
pub async fn vary_and_session_header(req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let api = path == "/api" || path.starts_with("/api/");
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let has_vary_cookie = h.get_all(header::VARY).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|p| p.trim().eq_ignore_ascii_case("cookie"))
        })
    });
    if !has_vary_cookie {
        h.append(header::VARY, HeaderValue::from_static("Cookie"));
    }
    if !api {
        h.remove(crate::config::SESSION_HEADER);
    }
    res
}
