//! Logging in and registering (shared by the pages and the API), the login throttle,
//! and the client address and device details kept with each session.

use crate::AppState;
use crate::error::Fail;
use crate::users::{self, Created, User};
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};
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
    session.insert(CSRF_KEY, crate::random_token(32)).await?;
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
    let key = email.trim().to_lowercase();
    let ticket = match state.throttle.begin(&key, ip) {
        Ok(t) => t,
        Err(wait) => {
            ::metrics::counter!(crate::metrics::LOGINS, "result" => "throttled").increment(1);
            return Ok(Err(LoginRefused::Throttled(wait)));
        }
    };
    let user = match users::normalize_email(&key) {
        Some(e) if password.chars().count() <= users::MAX_PASSWORD => {
            state.users.find_by_email(&e).await?
        }
        _ => None,
    };
    let ok = state
        .passwords
        .verify(password, user.as_ref().map(|u| u.password_hash.clone()))
        .await?;
    match user {
        Some(user) if ok => {
            state.throttle.succeeded(&key, ticket);
            ::metrics::counter!(crate::metrics::LOGINS, "result" => "success").increment(1);
            Ok(Ok(user))
        }
        _ => {
            ::metrics::counter!(crate::metrics::LOGINS, "result" => "failure").increment(1);
            tracing::info!(ip = ?ip, "failed login");
            Ok(Err(LoginRefused::Invalid))
        }
    }
}

/// Why a registration was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum RegisterRefused {
    /// Not an email address.
    InvalidEmail,
    /// Shorter than [`users::MIN_PASSWORD`] characters.
    PasswordTooShort,
    /// Longer than [`users::MAX_PASSWORD`] characters.
    PasswordTooLong,
    /// The email is taken.
    Duplicate,
}

impl RegisterRefused {
    /// The message shown on the form / in the API.
    pub fn message(&self) -> String {
        match self {
            Self::InvalidEmail => "Please enter a valid email address.".into(),
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
        }
    }

    /// The HTTP status (409 for a taken email, 422 otherwise).
    pub fn status(&self) -> http::StatusCode {
        match self {
            Self::Duplicate => http::StatusCode::CONFLICT,
            _ => http::StatusCode::UNPROCESSABLE_ENTITY,
        }
    }
}

/// Validates and stores a new account.
pub async fn register(
    state: &AppState,
    email: &str,
    password: String,
) -> Result<Result<User, RegisterRefused>, Fail> {
    let Some(email) = users::normalize_email(email) else {
        return Ok(Err(RegisterRefused::InvalidEmail));
    };
    let len = password.chars().count();
    if len < users::MIN_PASSWORD {
        return Ok(Err(RegisterRefused::PasswordTooShort));
    }
    if len > users::MAX_PASSWORD {
        return Ok(Err(RegisterRefused::PasswordTooLong));
    }
    if state.users.find_by_email(&email).await?.is_some() {
        return Ok(Err(RegisterRefused::Duplicate));
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

/// Failed logins within the window: 5 per email, 20 per client address.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Failures allowed per email within [`WINDOW`].
pub const EMAIL_LIMIT: usize = 5;
/// Failures allowed per client address within [`WINDOW`].
pub const IP_LIMIT: usize = 20;
/// Keys kept before expired ones are swept.
const SWEEP_AT: usize = 10_000;
/// Emails are counted by their first 254 characters (no longer address is valid).
const MAX_KEY: usize = 254;

/// Sliding-window login throttle, in memory (per process).
///
/// Each attempt is counted as a failure when it starts ([`Throttle::begin`]) and
/// un-counted if it succeeds, so concurrent attempts cannot slip past the limit. A
/// correct password while locked is refused too: the lock reveals nothing.
#[derive(Default)]
pub struct Throttle {
    inner: Mutex<Counters>,
}

#[derive(Default)]
struct Counters {
    email: HashMap<String, VecDeque<Instant>>,
    ip: HashMap<Option<IpAddr>, VecDeque<Instant>>,
}

/// An attempt in progress (see [`Throttle::begin`]).
#[derive(Debug)]
pub struct Ticket {
    at: Instant,
    ip: Option<IpAddr>,
}

fn prune(q: &mut VecDeque<Instant>, now: Instant) {
    while q.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
        q.pop_front();
    }
}

fn wait(q: &VecDeque<Instant>, now: Instant) -> Duration {
    q.front()
        .map_or(Duration::ZERO, |t| {
            WINDOW.saturating_sub(now.duration_since(*t))
        })
        .max(Duration::from_secs(1))
}

impl Throttle {
    /// Starts an attempt: `Err(retry_after)` if the email or the address is locked.
    pub fn begin(&self, email: &str, ip: Option<IpAddr>) -> Result<Ticket, Duration> {
        let now = Instant::now();
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let c = &mut *guard;
        if c.email.len() + c.ip.len() > SWEEP_AT {
            c.email.retain(|_, q| {
                prune(q, now);
                !q.is_empty()
            });
            c.ip.retain(|_, q| {
                prune(q, now);
                !q.is_empty()
            });
        }
        // Check both without creating entries, so refused attempts cost no memory.
        if let Some(q) = c.ip.get_mut(&ip) {
            prune(q, now);
            if q.len() >= IP_LIMIT {
                return Err(wait(q, now));
            }
        }
        let key: String = email.chars().take(MAX_KEY).collect();
        if let Some(q) = c.email.get_mut(&key) {
            prune(q, now);
            if q.len() >= EMAIL_LIMIT {
                return Err(wait(q, now));
            }
        }
        c.ip.entry(ip).or_default().push_back(now);
        c.email.entry(key).or_default().push_back(now);
        Ok(Ticket { at: now, ip })
    }

    /// The attempt succeeded: clears the email's counter and un-counts it for the address.
    pub fn succeeded(&self, email: &str, ticket: Ticket) {
        let mut c = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let key: String = email.chars().take(MAX_KEY).collect();
        c.email.remove(&key);
        if let Some(q) = c.ip.get_mut(&ticket.ip) {
            if let Some(pos) = q.iter().position(|t| *t == ticket.at) {
                q.remove(pos);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixth_failure_for_an_email_is_locked() {
        let t = Throttle::default();
        let ip = Some(IpAddr::from([10, 0, 0, 1]));
        for _ in 0..EMAIL_LIMIT {
            assert!(t.begin("a@x.io", ip).is_ok());
        }
        let wait = t.begin("a@x.io", ip).expect_err("locked");
        assert!(wait > Duration::from_secs(14 * 60) && wait <= WINDOW);
        assert!(t.begin("b@x.io", ip).is_ok(), "other emails are not locked");
    }

    #[test]
    fn success_clears_the_email_counter() {
        let t = Throttle::default();
        for _ in 0..EMAIL_LIMIT - 1 {
            assert!(t.begin("a@x.io", None).is_ok());
        }
        let ticket = t.begin("a@x.io", None).expect("fifth attempt");
        t.succeeded("a@x.io", ticket);
        for _ in 0..EMAIL_LIMIT {
            assert!(t.begin("a@x.io", None).is_ok());
        }
    }

    #[test]
    fn twenty_first_failure_from_an_address_is_locked() {
        let t = Throttle::default();
        let ip = Some(IpAddr::from([10, 0, 0, 2]));
        for i in 0..IP_LIMIT {
            assert!(t.begin(&format!("u{i}@x.io"), ip).is_ok());
        }
        assert!(t.begin("new@x.io", ip).is_err());
        assert!(
            t.begin("new@x.io", Some(IpAddr::from([10, 0, 0, 3])))
                .is_ok()
        );
    }

    #[test]
    fn refused_attempts_store_nothing() {
        let t = Throttle::default();
        for i in 0..IP_LIMIT {
            assert!(t.begin(&format!("u{i}@x.io"), None).is_ok());
        }
        for i in 0..100 {
            assert!(t.begin(&format!("flood{i}@x.io"), None).is_err());
        }
        let c = t.inner.lock().unwrap_or_else(|e| e.into_inner());
        assert_eq!(c.email.len(), IP_LIMIT);
    }
}
