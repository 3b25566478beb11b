//! The server-rendered pages: login, register, welcome, logout.

use crate::auth::{self, CART_KEY, Client, LoginRefused, PageUser, SessionUser};
use crate::csrf::{self, CsrfForm, Nonce};
use crate::error::Fail;
use crate::format::{show_duration, show_time};
use crate::respond::see_other;
use crate::state::AppState;
use crate::users;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tessera::Session;

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
    Ok(state.templates.page(status, "login.html", view))
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
    Ok(state.templates.page(StatusCode::OK, "welcome.html", ctx))
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
    Ok(state.templates.page(status, "register.html", ctx))
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
    PageUser(user): PageUser,
    nonce: Nonce,
) -> Result<Response, Fail> {
    let ctx =
        json!({"csrf": csrf::token(&state, &session, &nonce).await?, "nav_email": user.email});
    Ok(state.templates.page(StatusCode::OK, "logout.html", ctx))
}

/// `POST /logout`: destroys the session server-side and clears the cookie.
pub async fn logout(
    session: Session,
    CsrfForm(csrf::NoFields {}): CsrfForm<csrf::NoFields>,
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
    crate::respond::error_page(StatusCode::NOT_FOUND, "There is no page at this address.")
}
