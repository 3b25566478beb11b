//! Logging in and registering (shared by the pages and the API) under the login throttle,
//! and the client address and device details kept with each session.

use crate::error::{ApiFail, Fail};
use crate::state::AppState;
use crate::users::{self, Created, User};
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tessera::Session;
use time::OffsetDateTime;

/// Session key of the logged-in user: `{"id": "<string>", "email": "<string>"}`.
pub const USER_KEY: &str = "user";
/// Session key of the shopping cart: an array of SKU strings.
pub const CART_KEY: &str = "cart";
/// Session key of the CSRF token (site-private).
pub const CSRF_KEY: &str = "_csrf";
/// Session key of the device details shown on the sessions page (site-private).
pub const DEVICE_KEY: &str = "_device";

/// How often `last_seen` is written back (at most).
const LAST_SEEN_EVERY: Duration = Duration::from_secs(60);

/// The logged-in user as stored in the session.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionUser {
    /// Account id.
    pub id: String,
    /// Email address.
    pub email: String,
}

/// Device details of a logged-in session.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Device {
    /// The User-Agent at login (truncated).
    #[serde(default)]
    pub user_agent: String,
    /// The client address last seen.
    #[serde(default)]
    pub ip: String,
    /// When the session was last used (ISO 8601), updated at most once a minute.
    #[serde(default)]
    pub last_seen: String,
    /// Logged in with "remember me".
    #[serde(default)]
    pub remember: bool,
}

/// The client's address: the peer, or with `TRUST_PROXY` the address the proxy appended
/// to `X-Forwarded-For` (the rightmost entry; entries to its left are client-supplied,
/// so an unparsable rightmost entry falls back to the peer, never to them).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

/// Middleware: works out [`ClientIp`] for each request.
pub async fn client_ip(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let forwarded = state
        .config
        .trust_proxy
        .then(|| {
            req.headers()
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .next_back()
                .and_then(|s| s.trim().parse::<IpAddr>().ok())
        })
        .flatten();
    req.extensions_mut().insert(ClientIp(forwarded.or(peer)));
    next.run(req).await
}

/// The client's address and User-Agent, for handlers.
#[derive(Debug, Clone)]
pub struct Client {
    /// The address (see [`ClientIp`]).
    pub ip: Option<IpAddr>,
    /// The User-Agent header, at most 256 characters.
    pub user_agent: String,
}

impl Client {
    /// The address as text (`unknown` when there is none).
    pub fn ip_text(&self) -> String {
        self.ip
            .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        let ip = parts.extensions.get::<ClientIp>().and_then(|c| c.0);
        let user_agent = parts
            .headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_control())
            .take(256)
            .collect();
        Ok(Self { ip, user_agent })
    }
}

fn now_iso() -> String {
    tessera::store_support::iso_ms(OffsetDateTime::now_utc())
}

/// The logged-in user, if any. A malformed `user` value (e.g. written by another app)
/// counts as logged out. Refreshes the device's `last_seen` at most once a minute.
pub async fn current_user(
    session: &Session,
    client: &Client,
) -> Result<Option<SessionUser>, tessera::Error> {
    let Some(user) = session
        .get_value(USER_KEY)
        .await?
        .and_then(|v| serde_json::from_value::<SessionUser>(v).ok())
    else {
        return Ok(None);
    };
    let device: Device = session
        .get_value(DEVICE_KEY)
        .await?
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    let stale = OffsetDateTime::parse(
        &device.last_seen,
        &time::format_description::well_known::Rfc3339,
    )
    .map_or(true, |t| OffsetDateTime::now_utc() - t >= LAST_SEEN_EVERY);
    let ip = client.ip_text();
    if stale || device.ip != ip {
        let now = now_iso();
        session
            .update(DEVICE_KEY, move |old: Option<Value>| {
                let mut d: Device = old
                    .and_then(|v| serde_json::from_value(v).ok())
                    .unwrap_or_default();
                d.last_seen = now.clone();
                d.ip = ip.clone();
                serde_json::to_value(d).unwrap_or(Value::Null)
            })
            .await?;
    }
    Ok(Some(user))
}

/// The logged-in user of a page request (the handler's prologue as an extractor); a
/// visitor who is not logged in is sent to `/login` (303).
#[derive(Debug, Clone)]
pub struct PageUser(pub SessionUser);

/// The logged-in user of an API request; otherwise 401 `{"error":"not logged in"}`.
#[derive(Debug, Clone)]
pub struct ApiUser(pub SessionUser);

async fn user_of(parts: &mut Parts) -> Result<Option<SessionUser>, Fail> {
    let session = parts
        .extensions
        .get::<Session>()
        .cloned()
        .ok_or_else(|| Fail::Other(anyhow::anyhow!("no session layer on this route")))?;
    let client = match Client::from_request_parts(parts, &()).await {
        Ok(c) => c,
        Err(never) => match never {},
    };
    Ok(current_user(&session, &client).await?)
}

impl<S: Send + Sync> FromRequestParts<S> for PageUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        match user_of(parts).await {
            Ok(Some(user)) => Ok(Self(user)),
            Ok(None) => Err(crate::respond::see_other("/login")),
            Err(e) => Err(e.into_response()),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ApiUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        match user_of(parts).await {
            Ok(Some(user)) => Ok(Self(user)),
            Ok(None) => Err(ApiFail::NotLoggedIn.into_response()),
            Err(e) => Err(e.into_json()),
        }
    }
}

/// Starts the logged-in session: a new id and a fresh record (so the absolute timeout
/// counts from login), keeping only the anonymous visitor's cart; binds it to the user;
/// a new CSRF token; device details; and for "remember me" a persistent cookie and a
/// lifetime of `REMEMBER_ME` instead of the idle and absolute timeouts.
pub async fn log_in(
    state: &AppState,
    session: &Session,
    user: &User,
    remember: bool,
    client: &Client,
) -> Result<(), tessera::Error> {
    let cart = session.get_value(CART_KEY).await?;
    session.regenerate().await?;
    if let Some(cart) = cart {
        session.insert(CART_KEY, cart).await?;
    }
    session
        .insert(
            USER_KEY,
            SessionUser {
                id: user.id.clone(),
                email: user.email.clone(),
            },
        )
        .await?;
    session.set_user(user.id.clone()).await?;
    evict_beyond_cap(state, &user.id).await?;
    session
        .insert(CSRF_KEY, crate::random::random_token(32))
        .await?;
    session
        .insert(
            DEVICE_KEY,
            Device {
                user_agent: client.user_agent.clone(),
                ip: client.ip_text(),
                last_seen: now_iso(),
                remember,
            },
        )
        .await?;
    if remember {
        let lifetime = state.config.remember_me;
        session.set_max_age(Some(lifetime)).await?;
        session.set_absolute_timeout(Some(lifetime)).await?;
    }
    tracing::info!(user = %user.id, remember, "logged in");
    Ok(())
}

/// Why a login was refused.
#[derive(Debug)]
pub enum LoginRefused {
    /// Wrong email or password (the two are not told apart).
    Invalid,
    /// Too many failures; retry after this long.
    Throttled(Duration),
}

/// Checks credentials under the throttle. On success the email's failure counter is
/// cleared.
pub async fn check_login(
    state: &AppState,
    email: &str,
    password: String,
    ip: Option<IpAddr>,
) -> Result<Result<User, LoginRefused>, Fail> {
    let normalized = crate::email::normalize(email).ok();
    // Lookalike spellings of one address share its failure counter.
    let key = normalized
        .clone()
        .unwrap_or_else(|| email.trim().to_lowercase());
    // Dropped on an error below (user database, hasher): that attempt counts as nothing.
    let ticket = match state.throttle.begin(&key, ip).await {
        Ok(t) => t,
        Err(wait) => {
            ::metrics::counter!(crate::metrics::LOGINS, "result" => "throttled").increment(1);
            return Ok(Err(LoginRefused::Throttled(wait)));
        }
    };
    let user = match normalized {
        Some(e) if password.chars().count() <= users::MAX_PASSWORD => {
            state.users.find_by_email(&e).await?
        }
        _ => None,
    };
    let ok = state
        .passwords
        .verify(
            crate::passwords::Class::Login,
            password,
            user.as_ref().map(|u| u.password_hash.clone()),
        )
        .await?;
    match user {
        Some(user) if ok => {
            ticket.succeeded();
            ::metrics::counter!(crate::metrics::LOGINS, "result" => "success").increment(1);
            Ok(Ok(user))
        }
        _ => {
            ticket.failed();
            ::metrics::counter!(crate::metrics::LOGINS, "result" => "failure").increment(1);
            tracing::info!(ip = ?ip, "failed login");
            Ok(Err(LoginRefused::Invalid))
        }
    }
}

/// Makes room for the session being logged in: when the account already has
/// `MAX_SESSIONS_PER_USER` live sessions, the oldest are deleted (those devices are logged
/// out). The new session is stored at the end of the request, so it is not among those
/// listed. Not atomic: logins of one account racing each other can leave a few more for a
/// while; the next login trims them again.
async fn evict_beyond_cap(state: &AppState, user: &str) -> Result<(), tessera::Error> {
    use tessera::SessionStore as _;
    let cap = state.config.max_sessions_per_user.max(1) as usize;
    let mut live = state.store.list_by_user(user).await?;
    if live.len() < cap {
        return Ok(());
    }
    live.sort_by_key(|r| r.created_at);
    let excess = live.len() + 1 - cap;
    for r in live.iter().take(excess) {
        state.store.delete(&r.id).await?;
    }
    tracing::info!(
        user,
        evicted = excess,
        "logged out the oldest sessions (MAX_SESSIONS_PER_USER)"
    );
    Ok(())
}

/// Why a registration was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum RegisterRefused {
    /// Not an email address.
    InvalidEmail,
    /// The address holds invisible or direction-changing characters.
    InvisibleCharacters,
    /// The address looks like an existing account's (same confusable skeleton).
    Lookalike,
    /// Shorter than [`users::MIN_PASSWORD`] characters.
    PasswordTooShort,
    /// Longer than [`users::MAX_PASSWORD`] characters.
    PasswordTooLong,
    /// The email is taken.
    Duplicate,
    /// Too many registrations from this client address (`REGISTER_LIMIT`); retry after.
    Throttled(Duration),
    /// Both the email and the password are invalid: each reason, so the form shows all.
    Several(Vec<RegisterRefused>),
}

impl RegisterRefused {
    /// The message shown on the form / in the API.
    pub fn message(&self) -> String {
        match self {
            Self::InvalidEmail => "Please enter a valid email address.".into(),
            Self::InvisibleCharacters => {
                "The email address contains invisible or text-direction characters.".into()
            }
            Self::Lookalike => {
                "An account with an email address that looks the same already exists.".into()
            }
            Self::PasswordTooShort => {
                format!(
                    "The password must be at least {} characters.",
                    users::MIN_PASSWORD
                )
            }
            Self::PasswordTooLong => {
                format!(
                    "The password must be at most {} characters.",
                    users::MAX_PASSWORD
                )
            }
            Self::Duplicate => "An account with this email already exists.".into(),
            Self::Throttled(_) => {
                "Too many registrations from this address; please try again later.".into()
            }
            Self::Several(all) => all.iter().map(Self::message).collect::<Vec<_>>().join(" "),
        }
    }

    /// How long to wait before trying again (`Retry-After`), when throttled.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Throttled(wait) => Some(*wait),
            _ => None,
        }
    }

    /// The HTTP status (409 for a taken or lookalike email, 429 when throttled, 422
    /// otherwise).
    pub fn status(&self) -> http::StatusCode {
        match self {
            Self::Duplicate | Self::Lookalike => http::StatusCode::CONFLICT,
            Self::Throttled(_) => http::StatusCode::TOO_MANY_REQUESTS,
            _ => http::StatusCode::UNPROCESSABLE_ENTITY,
        }
    }
}

/// Validates and stores a new account.
pub async fn register(
    state: &AppState,
    email: &str,
    password: String,
    ip: Option<IpAddr>,
) -> Result<Result<User, RegisterRefused>, Fail> {
    let email = crate::email::normalize(email).map_err(|p| match p {
        crate::email::Problem::Invalid => RegisterRefused::InvalidEmail,
        crate::email::Problem::Invisible => RegisterRefused::InvisibleCharacters,
    });
    let len = password.chars().count();
    let password_problem = if len < users::MIN_PASSWORD {
        Some(RegisterRefused::PasswordTooShort)
    } else if len > users::MAX_PASSWORD {
        Some(RegisterRefused::PasswordTooLong)
    } else {
        None
    };
    let email = match (email, password_problem) {
        (Ok(email), None) => email,
        (Ok(_), Some(p)) | (Err(p), None) => return Ok(Err(p)),
        (Err(e), Some(p)) => return Ok(Err(RegisterRefused::Several(vec![e, p]))),
    };
    if let Err(wait) = state.registrations.attempt(ip) {
        tracing::info!(ip = ?ip, "registration throttled");
        return Ok(Err(RegisterRefused::Throttled(wait)));
    }
    if state.users.find_by_email(&email).await?.is_some() {
        return Ok(Err(RegisterRefused::Duplicate));
    }
    if state.users.find_lookalike(&email).await?.is_some() {
        tracing::info!("registration refused: lookalike of an existing account");
        return Ok(Err(RegisterRefused::Lookalike));
    }
    let user = User {
        id: users::new_id(),
        email,
        password_hash: state.passwords.hash(password).await?,
    };
    match state.users.create(&user).await? {
        Created::Ok => {
            tracing::info!(user = %user.id, "registered");
            Ok(Ok(user))
        }
        Created::Duplicate => Ok(Err(RegisterRefused::Duplicate)),
    }
}
