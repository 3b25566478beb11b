//! CSRF tokens for the forms, without storing a session for anonymous visitors.
//!
//! - A session that holds a token (`_csrf`, set at login) uses it: the form's token is the
//!   stored one, compared in constant time.
//! - Otherwise (a logged-out visitor, an anonymous cart) the token is a signed double
//!   submit: the browser holds a random nonce in an HttpOnly cookie, and the form's token
//!   is an HMAC of that nonce under a key derived from the session secret. Rendering the
//!   login or registration form stores nothing (issue 11, point 2); another site can
//!   neither read the cookie nor compute the HMAC. On HTTPS the cookie is `__Host-csrf`,
//!   which a sibling subdomain cannot set.
//!
//! [`CsrfForm`] is the POST handlers' prologue as an extractor: the form is read (413,
//! 415, 400 pages on failure) and its token checked (403) before the handler runs.

use crate::auth::CSRF_KEY;
use crate::state::AppState;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::Sha256;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use subtle::ConstantTimeEq as _;
use tessera::Session;

/// The nonce cookie's name over plain HTTP.
pub const COOKIE: &str = "csrf";
/// The nonce cookie's name over HTTPS (host-only, `Secure`, `Path=/`).
pub const HOST_COOKIE: &str = "__Host-csrf";
/// Nonce bytes (before base64).
const NONCE_BYTES: usize = 32;

/// This request's double-submit nonce: the cookie's, or a fresh one that is sent as a
/// cookie if a form used it.
#[derive(Clone)]
pub struct Nonce {
    value: String,
    fresh: bool,
    used: Arc<AtomicBool>,
}

impl Nonce {
    fn use_value(&self) -> &str {
        self.used.store(true, Ordering::Relaxed);
        &self.value
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Nonce {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        parts.extensions.get::<Self>().cloned().ok_or_else(|| {
            tracing::error!("csrf::cookie middleware missing on this route");
            crate::respond::error_page(
                http::StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong on our side.",
            )
        })
    }
}

/// Whether cookies set on this request are `Secure` (`COOKIE_SECURE`, and with `auto`
/// whether the request came over HTTPS as the proxy says).
fn secure(state: &AppState, headers: &http::HeaderMap) -> bool {
    match state.config.cookie_secure {
        tessera::Secure::Always => true,
        tessera::Secure::Never => false,
        _ => {
            state.config.trust_proxy
                && headers
                    .get("x-forwarded-proto")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.split(',').next())
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
        }
    }
}

/// A cookie's value from the request's `Cookie` headers (the first one of that name).
fn cookie<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

fn well_formed(nonce: &str) -> bool {
    nonce.len() == NONCE_BYTES.div_ceil(3) * 4 - 1
        && nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Middleware for the pages: provides the [`Nonce`] and sets its cookie when a form used
/// a fresh one.
pub async fn cookie_layer(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let secure = secure(&state, req.headers());
    let name = if secure { HOST_COOKIE } else { COOKIE };
    let nonce = match cookie(req.headers(), name).filter(|v| well_formed(v)) {
        Some(v) => Nonce {
            value: v.to_owned(),
            fresh: false,
            used: Arc::default(),
        },
        None => Nonce {
            value: crate::random::random_token(NONCE_BYTES),
            fresh: true,
            used: Arc::default(),
        },
    };
    req.extensions_mut().insert(nonce.clone());
    let mut res = next.run(req).await;
    if nonce.fresh && nonce.used.load(Ordering::Relaxed) {
        let cookie = format!(
            "{name}={}; Path=/; HttpOnly; SameSite=Lax{}",
            nonce.value,
            if secure { "; Secure" } else { "" }
        );
        if let Ok(v) = http::HeaderValue::from_str(&cookie) {
            res.headers_mut().append(http::header::SET_COOKIE, v);
        }
    }
    res
}

fn signed(state: &AppState, nonce: &str) -> String {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(state.csrf_key()).expect("HMAC takes any key");
    mac.update(b"tessera-demo csrf v1\0");
    mac.update(nonce.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

async fn stored(session: &Session) -> Result<Option<String>, tessera::Error> {
    Ok(session
        .get_value(CSRF_KEY)
        .await?
        .and_then(|v| v.as_str().map(str::to_owned)))
}

/// The token to embed in this request's forms. Never creates a session.
pub async fn token(
    state: &AppState,
    session: &Session,
    nonce: &Nonce,
) -> Result<String, tessera::Error> {
    match stored(session).await? {
        Some(t) => Ok(t),
        None => Ok(signed(state, nonce.use_value())),
    }
}

/// Whether `submitted` is the right token for this request (see the module docs). Never
/// creates a session.
pub async fn verify(
    state: &AppState,
    session: &Session,
    nonce: &Nonce,
    submitted: Option<&str>,
) -> Result<bool, tessera::Error> {
    let Some(submitted) = submitted.filter(|s| !s.is_empty()) else {
        return Ok(false);
    };
    let expected = match stored(session).await? {
        Some(t) => t,
        // A nonce made for this request was never in a form.
        None if nonce.fresh => return Ok(false),
        None => signed(state, &nonce.value),
    };
    Ok(constant_time_eq(expected.as_bytes(), submitted.as_bytes()))
}

/// Compares without an early exit on the first differing byte.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[derive(Deserialize)]
struct WithToken<T> {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(flatten)]
    fields: T,
}

/// A form with no fields but its CSRF token.
#[derive(Deserialize, Default)]
pub struct NoFields {}

/// A form whose CSRF token checked out. Rejections are pages: the form's read error
/// (413, 415, 400) or 403 for a missing or wrong token.
pub struct CsrfForm<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let session = Session::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let nonce = Nonce::from_request_parts(&mut parts, state).await?;
        let req = Request::from_parts(parts, body);
        let form: Result<Form<WithToken<T>>, FormRejection> = Form::from_request(req, state).await;
        let form = match form {
            Ok(Form(f)) => f,
            Err(r) => return Err(crate::respond::form_rejected(r)),
        };
        match verify(state, &session, &nonce, form.csrf.as_deref()).await {
            Ok(true) => Ok(Self(form.fields)),
            Ok(false) => Err(crate::respond::csrf_failed()),
            Err(e) => Err(crate::error::Fail::from(e).into_response()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eq() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn nonces() {
        assert!(well_formed(&crate::random::random_token(NONCE_BYTES)));
        assert!(!well_formed("short"));
        assert!(!well_formed(&"a".repeat(42).replace('a', "!")));
        let mut h = http::HeaderMap::new();
        h.append(http::header::COOKIE, "a=1; csrf=xyz".parse().expect("v"));
        h.append(http::header::COOKIE, "csrf=second".parse().expect("v"));
        assert_eq!(cookie(&h, "csrf"), Some("xyz"));
        assert_eq!(cookie(&h, "b"), None);
    }
}
