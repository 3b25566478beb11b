//! The account page and the password change (issue 11, point 16): `GET /account`,
//! `POST /account/password` and `POST /api/password`.
//!
//! A change needs the current password (checked under the login throttle, keyed by the
//! account's email, so a stolen session cannot guess it faster than a login could). On
//! success every *other* session of the account ends, and this one gets a new id and a new
//! CSRF token.

use crate::api::ApiJson;
use crate::auth::{ApiUser, CSRF_KEY, Client, PageUser, SessionUser};
use crate::csrf::{self, CsrfForm, Nonce};
use crate::error::{ApiFail, Fail};
use crate::passwords::Class;
use crate::state::AppState;
use crate::users;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use std::net::IpAddr;
use std::time::Duration;
use tessera::{Session, SessionStore as _};

/// Why a password change was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum ChangeRefused {
    /// The current password is wrong (403).
    WrongCurrent,
    /// The new password is too short (422).
    TooShort,
    /// The new password is too long (422).
    TooLong,
    /// Too many failed attempts for this account or address (429).
    Throttled(Duration),
}

impl ChangeRefused {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::WrongCurrent => StatusCode::FORBIDDEN,
            Self::TooShort | Self::TooLong => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// The message shown on the form / in the API.
    pub fn message(&self) -> String {
        match self {
            Self::WrongCurrent => "The current password is not correct.".into(),
            Self::TooShort => format!(
                "The new password must be at least {} characters.",
                users::MIN_PASSWORD
            ),
            Self::TooLong => format!(
                "The new password must be at most {} characters.",
                users::MAX_PASSWORD
            ),
            Self::Throttled(_) => "Too many failed attempts; please try again later.".into(),
        }
    }

    fn retry_after(&self, res: &mut Response) {
        if let Self::Throttled(wait) = self {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs()));
        }
    }
}

/// Changes the logged-in user's password; see the module documentation.
pub async fn change_password(
    state: &AppState,
    session: &Session,
    user: &SessionUser,
    current: String,
    new: String,
    ip: Option<IpAddr>,
) -> Result<Result<(), ChangeRefused>, Fail> {
    let len = new.chars().count();
    if len < users::MIN_PASSWORD {
        return Ok(Err(ChangeRefused::TooShort));
    }
    if len > users::MAX_PASSWORD {
        return Ok(Err(ChangeRefused::TooLong));
    }
    let ticket = match state.throttle.begin(&user.email, ip).await {
        Ok(t) => t,
        Err(wait) => return Ok(Err(ChangeRefused::Throttled(wait))),
    };
    let account = state.users.find_by_id(&user.id).await?;
    let ok = current.chars().count() <= users::MAX_PASSWORD
        && state
            .passwords
            .verify(
                Class::Login,
                current,
                account.as_ref().map(|a| a.password_hash.clone()),
            )
            .await?;
    if !ok {
        ticket.failed();
        tracing::info!(user = %user.id, "password change: wrong current password");
        return Ok(Err(ChangeRefused::WrongCurrent));
    }
    ticket.succeeded();
    let hash = state.passwords.hash(new).await?;
    state.users.set_password(&user.id, &hash).await?;
    let here = session.id().await?;
    let ended = state
        .store
        .delete_by_user(&user.id, Some(&here))
        .await
        .map_err(tessera::Error::from)?;
    session.cycle_id().await?;
    session
        .insert(CSRF_KEY, crate::random::random_token(32))
        .await?;
    tracing::info!(user = %user.id, other_sessions_ended = ended, "password changed");
    Ok(Ok(()))
}

async fn account_page(
    state: &AppState,
    session: &Session,
    nonce: &Nonce,
    user: &SessionUser,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<String>,
) -> Result<Response, Fail> {
    let ctx = json!({
        "csrf": csrf::token(state, session, nonce).await?,
        "nav_email": user.email,
        "min_password": users::MIN_PASSWORD,
        "notice": notice,
        "error": error,
    });
    Ok(state.templates.page(status, "account.html", ctx))
}

/// `GET /account`.
pub async fn page(
    State(state): State<AppState>,
    session: Session,
    PageUser(user): PageUser,
    nonce: Nonce,
    done: Result<Query<crate::sessions_page::Done>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Fail> {
    let notice = done
        .ok()
        .and_then(|Query(d)| d.done)
        .filter(|d| d == "password")
        .map(|_| "Your password was changed, and your other devices were signed out.");
    account_page(
        &state,
        &session,
        &nonce,
        &user,
        StatusCode::OK,
        notice,
        None,
    )
    .await
}

/// The password form's fields.
#[derive(Deserialize, Default)]
pub struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
}

/// `POST /account/password`: 303 to `/account?done=password`, or the page with the
/// reason (403, 422, 429).
pub async fn change_page(
    State(state): State<AppState>,
    session: Session,
    PageUser(user): PageUser,
    nonce: Nonce,
    client: Client,
    CsrfForm(f): CsrfForm<PasswordForm>,
) -> Result<Response, Fail> {
    match change_password(&state, &session, &user, f.current, f.new, client.ip).await? {
        Ok(()) => Ok(crate::respond::see_other("/account?done=password")),
        Err(refused) => {
            let mut res = account_page(
                &state,
                &session,
                &nonce,
                &user,
                refused.status(),
                None,
                Some(refused.message()),
            )
            .await?;
            refused.retry_after(&mut res);
            Ok(res)
        }
    }
}

/// `POST /api/password` body.
#[derive(Deserialize)]
pub struct PasswordBody {
    current: String,
    new: String,
}

/// `POST /api/password`: 204, 401, 403, 422 or 429.
pub async fn change_api(
    State(state): State<AppState>,
    session: Session,
    ApiUser(user): ApiUser,
    client: Client,
    ApiJson(body): ApiJson<PasswordBody>,
) -> Result<Response, ApiFail> {
    match change_password(&state, &session, &user, body.current, body.new, client.ip).await? {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(refused) => {
            let mut res = crate::respond::json_error(refused.status(), refused.message());
            refused.retry_after(&mut res);
            Ok(res)
        }
    }
}
