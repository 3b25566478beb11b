//! The JSON API: register, login, user, logout, sessions, cart.
//!
//! Bodies must be `application/json` (415), well-formed (400) and at most 16 KiB (413);
//! errors are `{"error": "…"}`. The session travels in the cookie or, for clients without
//! cookies, in the `X-Session-Id` header (returned on login).

use crate::auth::{self, ApiUser, CART_KEY, Client, LoginRefused};
use crate::error::ApiFail;
use crate::respond::json_error;
use crate::sessions_page::{self, Revoked};
use crate::state::AppState;
use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tessera::Session;

/// Most SKUs a cart holds.
pub const MAX_CART: usize = 500;

type ApiResult = Result<Response, ApiFail>;

/// A JSON body; rejections become `{"error": …}` with 415, 400 or 413.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Self(v)),
            Err(rejection) => Err(json_rejected(&rejection)),
        }
    }
}

fn json_rejected(r: &JsonRejection) -> Response {
    match r {
        JsonRejection::MissingJsonContentType(_) => json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected Content-Type: application/json",
        ),
        JsonRejection::JsonSyntaxError(_) | JsonRejection::JsonDataError(_) => json_error(
            StatusCode::BAD_REQUEST,
            format!("malformed JSON body: {}", r.body_text()),
        ),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "request body too large (at most {} bytes)",
                crate::config::MAX_BODY
            ),
        ),
        other => json_error(other.status(), "the request body could not be read"),
    }
}

fn is_json(content_type: Option<&HeaderValue>) -> bool {
    content_type
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .is_some_and(|m| {
            m.eq_ignore_ascii_case("application/json")
                || (m.len() > 5
                    && m.get(m.len() - 5..)
                        .is_some_and(|s| s.eq_ignore_ascii_case("+json"))
                    && m.get(..12)
                        .is_some_and(|s| s.eq_ignore_ascii_case("application/")))
        })
}

/// Middleware for `/api`: refuses state changes a page of another site could cause (403)
/// and bodies that are not JSON (415) on every route, including those that take no body.
///
/// A state-changing request must come from this site's own pages or from an API client:
/// `Sec-Fetch-Site`, when the browser sends it, must be `same-origin` or `none` (a sibling
/// subdomain is `same-site`, and SameSite=Lax cookies travel with its forms). And a request
/// carrying cookies must prove it is not a plain HTML form, which can only `POST` with no
/// content type, a form type or `text/plain`, never a custom header: it must be JSON
/// (which another origin cannot send without a CORS preflight this API never grants) or
/// carry the session header.
pub async fn guard(req: Request, next: Next) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let h = req.headers();
    if !safe {
        let foreign = h.get("sec-fetch-site").is_some_and(|v| {
            let v = v.as_bytes();
            !(v.eq_ignore_ascii_case(b"same-origin") || v.eq_ignore_ascii_case(b"none"))
        });
        if foreign {
            return json_error(StatusCode::FORBIDDEN, "cross-site request refused");
        }
        // Forms send only GET and POST; other methods need a preflight cross-origin.
        let form_like = *req.method() == Method::POST
            && h.contains_key(header::COOKIE)
            && !h.contains_key(crate::config::SESSION_HEADER)
            && !is_json(h.get(header::CONTENT_TYPE));
        if form_like {
            return json_error(
                StatusCode::FORBIDDEN,
                "a state-changing request with cookies needs Content-Type: application/json \
                 (or the X-Session-Id header)",
            );
        }
    }
    let has_body = h.contains_key(header::TRANSFER_ENCODING)
        || h.get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0");
    if has_body && !is_json(h.get(header::CONTENT_TYPE)) {
        return json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected Content-Type: application/json",
        );
    }
    next.run(req).await
}

/// Every error under `/api` is JSON (issue 11, point 11): an error response that is not
/// (axum's plain-text rejections such as an undecodable path parameter, a bare 405) is
/// rewritten as `{"error": …}` with the same status and headers, its text kept when it
/// is short plain text, else the status's reason.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    let is_json = is_json(res.headers().get(header::CONTENT_TYPE));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, 1024)
        .await
        .ok()
        .and_then(|b| String::from_utf8(b.to_vec()).ok())
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty() && !t.contains('<'));
    let message = text.unwrap_or_else(|| {
        status
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase()
    });
    parts.headers.remove(header::CONTENT_LENGTH);
    let mut rewritten = json_error(status, message);
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE {
            rewritten.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rewritten
}

fn user_json(email: &str) -> Value {
    json!({"user": {"email": email}})
}

/// `POST /api/register` body.
#[derive(Deserialize)]
pub struct Credentials {
    email: String,
    password: String,
}

/// `POST /api/register`: 201 and the session cookie; 409; 422.
pub async fn register(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    ApiJson(body): ApiJson<Credentials>,
) -> ApiResult {
    match auth::register(&state, &body.email, body.password, client.ip).await? {
        Ok(user) => {
            auth::log_in(&state, &session, &user, false, &client).await?;
            Ok((StatusCode::CREATED, Json(user_json(&user.email))).into_response())
        }
        Err(refused) => {
            let mut res = json_error(refused.status(), refused.message());
            if let Some(wait) = refused.retry_after() {
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs()));
            }
            Ok(res)
        }
    }
}

/// `POST /api/login` body.
#[derive(Deserialize)]
pub struct LoginBody {
    email: String,
    password: String,
    #[serde(default)]
    remember: bool,
}

/// `POST /api/login`: 200 and the session (cookie and `X-Session-Id`); 401; 429.
pub async fn login(
    State(state): State<AppState>,
    session: Session,
    client: Client,
    ApiJson(body): ApiJson<LoginBody>,
) -> ApiResult {
    match auth::check_login(&state, &body.email, body.password, client.ip).await? {
        Ok(user) => {
            auth::log_in(&state, &session, &user, body.remember, &client).await?;
            Ok(Json(user_json(&user.email)).into_response())
        }
        Err(LoginRefused::Invalid) => Ok(json_error(
            StatusCode::UNAUTHORIZED,
            "invalid email or password",
        )),
        Err(LoginRefused::Throttled(wait)) => {
            let mut res = json_error(
                StatusCode::TOO_MANY_REQUESTS,
                "too many failed logins; try again later",
            );
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs()));
            Ok(res)
        }
    }
}

/// `GET /api/user`: 200 or 401.
pub async fn user(ApiUser(u): ApiUser) -> ApiResult {
    Ok(Json(user_json(&u.email)).into_response())
}

/// `POST /api/logout`: 204; the session and its cart are destroyed, the cookie cleared.
pub async fn logout(session: Session) -> ApiResult {
    session.destroy().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/sessions`.
pub async fn list_sessions(
    State(state): State<AppState>,
    session: Session,
    ApiUser(u): ApiUser,
) -> ApiResult {
    let views = sessions_page::list(&state, &session, &u).await?;
    let list: Vec<Value> = views
        .into_iter()
        .map(|v| {
            json!({
                "handle": v.handle,
                "current": v.current,
                "created_at": tessera::store_support::iso_ms(v.created_at),
                "last_seen_at": v.last_seen_at.map(tessera::store_support::iso_ms),
                "user_agent": v.user_agent,
                "ip": v.ip,
            })
        })
        .collect();
    Ok(Json(json!({"sessions": list})).into_response())
}

/// `DELETE /api/sessions/{handle}`: 204, or 404 for an unknown handle.
pub async fn revoke(
    State(state): State<AppState>,
    session: Session,
    Path(handle): Path<String>,
    ApiUser(u): ApiUser,
) -> ApiResult {
    Ok(
        match sessions_page::revoke_handle(&state, &session, &u, &handle).await? {
            Revoked::NotFound => json_error(StatusCode::NOT_FOUND, "no such session"),
            Revoked::Other | Revoked::Current => StatusCode::NO_CONTENT.into_response(),
        },
    )
}

/// `?scope=` of `DELETE /api/sessions`.
#[derive(Deserialize)]
pub struct Scope {
    #[serde(default)]
    scope: Option<String>,
}

/// `DELETE /api/sessions?scope=others`: 204.
pub async fn revoke_scope(
    State(state): State<AppState>,
    session: Session,
    ApiUser(u): ApiUser,
    scope: Result<Query<Scope>, QueryRejection>,
) -> ApiResult {
    match scope {
        Ok(Query(Scope { scope: Some(s) })) if s == "others" => {
            sessions_page::revoke_others(&state, &session, &u).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        _ => Ok(json_error(
            StatusCode::BAD_REQUEST,
            "use DELETE /api/sessions?scope=others or DELETE /api/sessions/{handle}",
        )),
    }
}

/// The SKUs of a stored cart (anything else in it is ignored).
pub fn items(v: Option<Value>) -> Vec<Value> {
    match v {
        Some(Value::Array(a)) => a.into_iter().filter(Value::is_string).collect(),
        _ => Vec::new(),
    }
}

/// `GET /api/cart`.
pub async fn cart(session: Session) -> ApiResult {
    let list = items(session.get_value(CART_KEY).await?);
    Ok(Json(json!({"items": list})).into_response())
}

/// `POST /api/cart/items` body.
#[derive(Deserialize)]
pub struct AddItem {
    sku: String,
}

fn valid_sku(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// `POST /api/cart/items`: 201 with the cart; 422 when the cart is full. Concurrent adds
/// are never lost, and never reported as done when they were not: an add that found room
/// but lost the race for the last places is refused when Tessera replays it (409).
pub async fn add_to_cart(session: Session, ApiJson(body): ApiJson<AddItem>) -> ApiResult {
    let sku = body.sku.trim().to_owned();
    if !valid_sku(&sku) {
        return Ok(json_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "sku must be 1-64 letters, digits, '-', '_', '.' or ':'",
        ));
    }
    match add_item(&session, sku).await? {
        Ok(cart) => Ok((StatusCode::CREATED, Json(json!({"items": cart}))).into_response()),
        Err(full) => Ok(json_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            full.to_string(),
        )),
    }
}

/// The cart already holds [`MAX_CART`] items.
#[derive(Debug, Clone, Copy)]
pub struct CartFull;

impl std::fmt::Display for CartFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the cart is full ({MAX_CART} items)")
    }
}

/// Adds `sku` to the session's cart (shared by the API and the cart page).
pub async fn add_item(
    session: &Session,
    sku: String,
) -> Result<Result<Vec<Value>, CartFull>, tessera::Error> {
    let cart = session
        .try_update(CART_KEY, move |old: Option<Value>| {
            let mut list = items(old);
            if list.len() >= MAX_CART {
                return Err(CartFull);
            }
            list.push(Value::String(sku.clone()));
            Ok(Value::Array(list))
        })
        .await?;
    Ok(cart.map(|c| items(Some(c))))
}

/// `DELETE /api/cart`: 204.
pub async fn clear_cart(session: Session) -> ApiResult {
    session.remove::<Value>(CART_KEY).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Unknown API routes.
pub async fn not_found() -> Response {
    json_error(StatusCode::NOT_FOUND, "not found")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types() {
        let v = |s: &'static str| Some(HeaderValue::from_static(s));
        assert!(is_json(v("application/json").as_ref()));
        assert!(is_json(v("Application/JSON; charset=utf-8").as_ref()));
        assert!(is_json(v("application/merge-patch+json").as_ref()));
        assert!(!is_json(v("text/plain").as_ref()));
        assert!(!is_json(v("application/x-www-form-urlencoded").as_ref()));
        assert!(!is_json(v("text/json+json").as_ref()));
        assert!(!is_json(None));
    }

    #[test]
    fn skus() {
        assert!(valid_sku("SKU-1"));
        assert!(!valid_sku(""));
        assert!(!valid_sku("a b"));
        assert!(!valid_sku(&"x".repeat(65)));
    }
}
