//! The user's sessions: listing (with device details), revoking one, revoking the others.
//! Sessions are named by opaque handles ([`AppState::handle_of`]), never by their ids.

use crate::auth::{DEVICE_KEY, Device, PageUser, SessionUser};
use crate::csrf::{self, CsrfForm, Nonce};
use crate::error::Fail;
use crate::format::show_time;
use crate::respond::see_other;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tessera::{Session, SessionStore};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// One of the user's sessions, as shown.
#[derive(Debug, Clone)]
pub struct SessionView {
    /// Opaque handle for revocation.
    pub handle: String,
    /// The session of this request.
    pub current: bool,
    /// When it was created (at login).
    pub created_at: OffsetDateTime,
    /// When it was last used, if known.
    pub last_seen_at: Option<OffsetDateTime>,
    /// User-Agent at login.
    pub user_agent: String,
    /// Client address last seen.
    pub ip: String,
}

/// "Firefox on Linux" from a User-Agent.
pub fn describe_agent(ua: &str) -> String {
    if ua.trim().is_empty() {
        return "Unknown device".into();
    }
    let browser = if ua.contains("Edg/") {
        "Edge"
    } else if ua.contains("OPR/") || ua.contains("Opera") {
        "Opera"
    } else if ua.contains("Firefox/") {
        "Firefox"
    } else if ua.contains("HeadlessChrome") {
        "Headless Chrome"
    } else if ua.contains("Chrome/") || ua.contains("Chromium/") || ua.contains("CriOS/") {
        "Chrome"
    } else if ua.contains("Safari/") {
        "Safari"
    } else if ua.starts_with("curl/") {
        "curl"
    } else {
        "Unknown browser"
    };
    let os = if ua.contains("Windows") {
        Some("Windows")
    } else if ua.contains("iPhone") || ua.contains("iPad") {
        Some("iOS")
    } else if ua.contains("Android") {
        Some("Android")
    } else if ua.contains("Mac OS X") || ua.contains("Macintosh") {
        Some("macOS")
    } else if ua.contains("CrOS") {
        Some("ChromeOS")
    } else if ua.contains("Linux") {
        Some("Linux")
    } else {
        None
    };
    match os {
        Some(os) => format!("{browser} on {os}"),
        None => browser.to_owned(),
    }
}

/// The user's live sessions, this one first, then by last use.
pub async fn list(
    state: &AppState,
    session: &Session,
    user: &SessionUser,
) -> Result<Vec<SessionView>, Fail> {
    let current = session.id().await?;
    let records = state
        .store
        .list_by_user(&user.id)
        .await
        .map_err(tessera::Error::from)?;
    let mut views: Vec<SessionView> = records
        .into_iter()
        .map(|r| {
            let device: Device = r
                .data
                .get(DEVICE_KEY)
                .cloned()
                .and_then(|v| serde_json::from_value(v).ok())
                .unwrap_or_default();
            let is_current = r.id == current;
            SessionView {
                handle: state.handle_of(&r.id),
                current: is_current,
                created_at: r.created_at,
                last_seen_at: if is_current {
                    Some(OffsetDateTime::now_utc())
                } else {
                    OffsetDateTime::parse(&device.last_seen, &Rfc3339).ok()
                },
                user_agent: device.user_agent,
                ip: device.ip,
            }
        })
        .collect();
    views.sort_by(|a, b| {
        b.current
            .cmp(&a.current)
            .then(b.last_seen_at.cmp(&a.last_seen_at))
    });
    Ok(views)
}

/// What revoking a handle did.
#[derive(Debug, PartialEq, Eq)]
pub enum Revoked {
    /// No session of this user has that handle.
    NotFound,
    /// Another session was deleted.
    Other,
    /// It was this session: it is destroyed and its cookie cleared.
    Current,
}

/// Revokes the user's session with `handle`.
pub async fn revoke_handle(
    state: &AppState,
    session: &Session,
    user: &SessionUser,
    handle: &str,
) -> Result<Revoked, Fail> {
    let current = session.id().await?;
    let records = state
        .store
        .list_by_user(&user.id)
        .await
        .map_err(tessera::Error::from)?;
    let Some(record) = records
        .into_iter()
        .find(|r| csrf::constant_time_eq(state.handle_of(&r.id).as_bytes(), handle.as_bytes()))
    else {
        return Ok(Revoked::NotFound);
    };
    if record.id == current {
        session.destroy().await?;
        return Ok(Revoked::Current);
    }
    if state
        .store
        .delete(&record.id)
        .await
        .map_err(tessera::Error::from)?
    {
        metrics::counter!(tessera::metric_names::DESTROYED, "reason" => "revoked").increment(1);
    }
    tracing::info!(user = %user.id, "session revoked");
    Ok(Revoked::Other)
}

/// Deletes every session of the user but this one; returns how many.
pub async fn revoke_others(
    state: &AppState,
    session: &Session,
    user: &SessionUser,
) -> Result<u64, Fail> {
    let current = session.id().await?;
    let n = state
        .store
        .delete_by_user(&user.id, Some(&current))
        .await
        .map_err(tessera::Error::from)?;
    metrics::counter!(tessera::metric_names::DESTROYED, "reason" => "revoked").increment(n);
    tracing::info!(user = %user.id, n, "other sessions revoked");
    Ok(n)
}

#[derive(Serialize)]
struct Row {
    handle: String,
    current: bool,
    device: String,
    ip: String,
    created: String,
    last_seen: String,
}

/// `?done=` after a revocation or a password change (also read by the account page).
#[derive(Deserialize, Default)]
pub struct Done {
    /// What was done (`revoked`, `others`, `password`).
    #[serde(default)]
    pub done: Option<String>,
}

/// `GET /sessions`.
pub async fn list_page(
    State(state): State<AppState>,
    session: Session,
    PageUser(user): PageUser,
    nonce: Nonce,
    done: Result<Query<Done>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Fail> {
    let views = list(&state, &session, &user).await?;
    let others = views.iter().any(|v| !v.current);
    let rows: Vec<Row> = views
        .into_iter()
        .map(|v| Row {
            handle: v.handle,
            current: v.current,
            device: describe_agent(&v.user_agent),
            ip: if v.ip.is_empty() {
                "unknown".into()
            } else {
                v.ip
            },
            created: show_time(v.created_at),
            last_seen: if v.current {
                "now".into()
            } else {
                v.last_seen_at.map_or_else(|| "unknown".into(), show_time)
            },
        })
        .collect();
    let notice = match done.ok().and_then(|Query(d)| d.done).as_deref() {
        Some("revoked") => Some("The session was revoked."),
        Some("others") => Some("All other devices were signed out."),
        _ => None,
    };
    let ctx = serde_json::json!({
        "sessions": rows,
        "others": others,
        "notice": notice,
        "csrf": csrf::token(&state, &session, &nonce).await?,
        "nav_email": user.email,
    });
    Ok(state.templates.page(StatusCode::OK, "sessions.html", ctx))
}

/// `POST /sessions/{handle}/revoke`.
pub async fn revoke(
    State(state): State<AppState>,
    session: Session,
    Path(handle): Path<String>,
    PageUser(user): PageUser,
    CsrfForm(csrf::NoFields {}): CsrfForm<csrf::NoFields>,
) -> Result<Response, Fail> {
    Ok(
        match revoke_handle(&state, &session, &user, &handle).await? {
            Revoked::NotFound => crate::respond::error_page(
                StatusCode::NOT_FOUND,
                "That session does not exist any more.",
            ),
            Revoked::Other => see_other("/sessions?done=revoked"),
            Revoked::Current => see_other("/login"),
        },
    )
}

/// `POST /sessions/revoke-others`.
pub async fn revoke_others_page(
    State(state): State<AppState>,
    session: Session,
    PageUser(user): PageUser,
    CsrfForm(csrf::NoFields {}): CsrfForm<csrf::NoFields>,
) -> Result<Response, Fail> {
    revoke_others(&state, &session, &user).await?;
    Ok(see_other("/sessions?done=others"))
}

#[cfg(test)]
mod tests {
    use super::describe_agent;

    #[test]
    fn agents() {
        assert_eq!(
            describe_agent(
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
            ),
            "Firefox on Linux"
        );
        assert_eq!(
            describe_agent(
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0"
            ),
            "Edge on Windows"
        );
        assert_eq!(
            describe_agent(
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
            ),
            "Safari on iOS"
        );
        assert_eq!(
            describe_agent(
                "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36"
            ),
            "Chrome on Android"
        );
        assert_eq!(describe_agent("curl/8.5.0"), "curl");
        assert_eq!(describe_agent(""), "Unknown device");
    }
}
