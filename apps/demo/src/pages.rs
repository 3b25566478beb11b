//! The server-rendered pages: login, register, welcome, logout.

use crate::auth::{self, CART_KEY, Client, LoginRefused, SessionUser};
use crate::csrf::{self, CsrfForm, Nonce};
use crate::error::Fail;
use crate::{AppState, users};
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Duration;
use tessera::Session;
use time::OffsetDateTime;

/// `2026-01-02 10:44 UTC`.
pub fn show_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// `30 days`, `15 minutes`, `2 seconds`.
pub fn show_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (n, unit) = if s >= 86_400 && s % 86_400 == 0 {
        (s / 86_400, "day")
    } else if s >= 3600 && s % 3600 == 0 {
        (s / 3600, "hour")
    } else if s >= 60 && s % 60 == 0 {
        (s / 60, "minute")
    } else {
        (s, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// Renders a template as a response with `status`.
pub fn page(state: &AppState, status: StatusCode, name: &str, ctx: impl Serialize) -> Response {
    match state.templates.render(name, ctx) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => Fail::Other(e).into_response(),
    }
}

/// A minimal error page (no template state needed; `message` is trusted text).
pub fn error_page(status: StatusCode, message: &str) -> Response {
    let title = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    let html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{title} · Tessera demo</title>\n<link rel=\"stylesheet\" href=\"/static/style.css\">\n</head>\n<body>\n<header class=\"top\"><a class=\"brand\" href=\"/\">Tessera demo</a></header>\n<main class=\"card\">\n<h1>{title}</h1>\n<p>{message}</p>\n<p class=\"alt\"><a href=\"/\">Home</a></p>\n</main>\n</body>\n</html>\n"
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

#[derive(Serialize, Default)]
struct LoginView<'a> {
    csrf: String,
    email: &'a str,
    error: Option<String>,
    remember: bool,
    remember_for: String,
    nav_email: Option<String>,
}

async fn login_form(
    state: &AppState,
    session: &Session,
    nonce: &Nonce,
    status: StatusCode,
    email: &str,
    error: Option<String>,
    remember: bool,
) -> Result<Response, Fail> {
    let view = LoginView {
        csrf: csrf::token(state, session, nonce).await?,
        email: truncate(email, 254),
        error,
        remember,
        remember_for: show_duration(state.config.remember_me),
        nav_email: None,
    };
    Ok(page(state, status, "login.html", view))
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

async fn welcome(
    state: &AppState,
    session: &Session,
    nonce: &Nonce,
    user: &SessionUser,
) -> Result<Response, Fail> {
    let device: auth::Device = session
        .get_value(auth::DEVICE_KEY)
        .await?
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    let cart_count = session
        .get_value(CART_KEY)
        .await?
        .and_then(|v| v.as_array().map(Vec::len))
        .unwrap_or(0);
    let created = session.created_at().await?;
    let lifetime = if device.remember {
        state.config.remember_me
    } else {
        state.config.session_absolute_timeout
    };
    let ctx = json!({
        "email": user.email,
        "nav_email": user.email,
        "csrf": csrf::token(state, session, nonce).await?,
        "cart_count": cart_count,
        "remembered": device.remember,
        "idle": show_duration(state.config.session_idle_timeout),
        "expires": show_time(created + lifetime),
    });
    Ok(page(state, StatusCode::OK, "welcome.html", ctx))
}

/// `GET /`: the welcome page, or the login page when logged out.
pub async fn home(
    State(state): State<AppState>,
    session: Session,
    nonce: Nonce,
    client: Client,
) -> Result<Response, Fail> {
    match auth::current_user(&session, &client).await? {
        Some(user) => welcome(&state, &session, &nonce, &user).await,
        None => login_form(&state, &session, &nonce, StatusCode::OK, "", None, false).await,
    }
}

/// `GET /login`.
pub async fn login_page(
    State(state): State<AppState>,
    session: Session,
    nonce: Nonce,
    client: Client,
) -> Result<Response, Fail> {
    if auth::current_user(&session, &client).await?.is_some() {
        return Ok(see_other("/"));
    }
    login_form(&state, &session, &nonce, StatusCode::OK, "", None, false).await
}

/// The login form's fields (all optional, so a missing CSRF token is a 403, not a 422).
#[derive(Deserialize, Default)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    remember: Option<String>,
}

fn checked(v: Option<&str>) -> bool {
    v.is_some_and(|v| !matches!(v, "" | "0" | "false" | "off"))
}

/// `POST /login`.
pub async fn login(
    State(state): State<AppState>,
    session: Session,
    nonce: Nonce,
    client: Client,
    CsrfForm(f): CsrfForm<LoginForm>,
) -> Result<Response, Fail> {
    let remember = checked(f.remember.as_deref());
    let email = f.email.trim().to_owned();
    match auth::check_login(&state, &email, f.password, client.ip).await? {
        Ok(user) => {
            auth::log_in(&state, &session, &user, remember, &client).await?;
            Ok(see_other("/"))
        }
        Err(LoginRefused::Invalid) => {
            login_form(
                &state,
                &session,
                &nonce,
                StatusCode::UNAUTHORIZED,
                &email,
                Some("Invalid email or password.".into()),
                remember,
            )
            .await
        }
        Err(LoginRefused::Throttled(wait)) => {
            let minutes = wait.as_secs().div_ceil(60);
            let mut res = login_form(
                &state,
                &session,
                &nonce,
                StatusCode::TOO_MANY_REQUESTS,
                &email,
                Some(format!(
                    "Too many failed logins. Try again in {minutes} minute{}.",
                    if minutes == 1 { "" } else { "s" }
                )),
                remember,
            )
            .await?;
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs()));
            Ok(res)
        }
    }
}

async fn register_form(
    state: &AppState,
    session: &Session,
    nonce: &Nonce,
    status: StatusCode,
    email: &str,
    error: Option<String>,
) -> Result<Response, Fail> {
    let ctx = json!({
        "csrf": csrf::token(state, session, nonce).await?,
        "email": truncate(email, 254),
        "error": error,
        "min_password": users::MIN_PASSWORD,
    });
    Ok(page(state, status, "register.html", ctx))
}

/// `GET /register`.
pub async fn register_page(
    State(state): State<AppState>,
    session: Session,
    nonce: Nonce,
    client: Client,
) -> Result<Response, Fail> {
    if auth::current_user(&session, &client).await?.is_some() {
        return Ok(see_other("/"));
    }
    register_form(&state, &session, &nonce, StatusCode::OK, "", None).await
}

/// The registration form's fields.
#[derive(Deserialize, Default)]
pub struct RegisterForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

/// `POST /register`.
pub async fn register(
    State(state): State<AppState>,
    session: Session,
    nonce: Nonce,
    client: Client,
    CsrfForm(f): CsrfForm<RegisterForm>,
) -> Result<Response, Fail> {
    let email = f.email.trim().to_owned();
    match auth::register(&state, &email, f.password, client.ip).await? {
        Ok(user) => {
            auth::log_in(&state, &session, &user, false, &client).await?;
            Ok(see_other("/"))
        }
        Err(refused) => {
            let mut page = register_form(
                &state,
                &session,
                &nonce,
                refused.status(),
                &email,
                Some(refused.message()),
            )
            .await?;
            if let Some(wait) = refused.retry_after() {
                page.headers_mut().insert(
                    http::header::RETRY_AFTER,
                    http::HeaderValue::from(wait.as_secs()),
                );
            }
            Ok(page)
        }
    }
}

/// `GET /logout`: a confirmation page with the logout button.
pub async fn logout_page(
    State(state): State<AppState>,
    session: Session,
    nonce: Nonce,
    client: Client,
) -> Result<Response, Fail> {
    let Some(user) = auth::current_user(&session, &client).await? else {
        return Ok(see_other("/login"));
    };
    let ctx =
        json!({"csrf": csrf::token(&state, &session, &nonce).await?, "nav_email": user.email});
    Ok(page(&state, StatusCode::OK, "logout.html", ctx))
}

/// A form with no fields but its CSRF token.
#[derive(Deserialize, Default)]
pub struct NoFields {}

/// `POST /logout`: destroys the session server-side and clears the cookie.
pub async fn logout(
    session: Session,
    CsrfForm(NoFields {}): CsrfForm<NoFields>,
) -> Result<Response, Fail> {
    session.destroy().await?;
    Ok(see_other("/login"))
}

/// `GET /static/style.css`.
pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        crate::templates::STYLESHEET,
    )
        .into_response()
}

/// `GET /favicon.ico`: none (204), so browsers stop asking and logs stay clean.
pub async fn favicon() -> Response {
    (
        StatusCode::NO_CONTENT,
        [(header::CACHE_CONTROL, "public, max-age=86400")],
    )
        .into_response()
}

/// Unknown pages.
pub async fn not_found() -> Response {
    error_page(StatusCode::NOT_FOUND, "There is no page at this address.")
}
