//! [`SessionConfig`]: every express-session option, plus Tessera's timeouts and policies.

use crate::clock::Clock;
use crate::error::ConfigError;
use crate::id::IdGenerator;
use crate::signing::Secrets;
use http::HeaderName;
use std::sync::Arc;
use std::time::Duration;

/// The cookie's `Secure` attribute (express `cookie.secure`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Secure {
    /// Never set `Secure` (express: unset / `false`).
    Never,
    /// Always set `Secure` (express: `true`).
    Always,
    /// Set `Secure` when the request came over TLS (an `https` URI, or with
    /// `trust_proxy` an `X-Forwarded-Proto: https`) (express: `'auto'`; Tessera's
    /// default: secure behind TLS, and plain-HTTP development still works).
    #[default]
    Auto,
}

/// What to do with secrets shorter than [`MIN_SECRET_LEN`](crate::MIN_SECRET_LEN) (32
/// bytes), such as the `'keyboard cat'` of a Node app whose live sessions Tessera must
/// share during a migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ShortSecrets {
    /// Refused: [`SessionConfigBuilder::build`] fails (the default of
    /// [`SessionConfig::builder`]).
    #[default]
    Refuse,
    /// Accepted to verify cookies, never to sign: the first (signing) secret must still be
    /// long (the default of [`SessionConfig::express_compat`]). This is the middle step of
    /// moving a Node app to a long secret; see [`SessionConfigBuilder::short_secrets`].
    VerifyOnly,
    /// Accepted to sign too, for as long as the Node app signs with the short secret and
    /// must read Tessera's cookies. A short secret can be guessed offline from any cookie;
    /// rotate away from it.
    Sign,
}

/// The cookie's `SameSite` attribute (express `cookie.sameSite`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SameSite {
    /// `SameSite=Lax` (the default).
    #[default]
    Lax,
    /// `SameSite=Strict`.
    Strict,
    /// `SameSite=None`; forces `Secure`.
    None,
    /// No `SameSite` attribute (express's default).
    Unset,
}

impl SameSite {
    pub(crate) fn attr(self) -> Option<&'static str> {
        match self {
            Self::Lax => Some("Lax"),
            Self::Strict => Some("Strict"),
            Self::None => Some("None"),
            Self::Unset => None,
        }
    }
    pub(crate) fn stored(self) -> Option<&'static str> {
        match self {
            Self::Lax => Some("lax"),
            Self::Strict => Some("strict"),
            Self::None => Some("none"),
            Self::Unset => None,
        }
    }
}

/// The cookie's `Priority` attribute (express `cookie.priority`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Priority {
    /// `Priority=Low`.
    Low,
    /// `Priority=Medium`.
    Medium,
    /// `Priority=High`.
    High,
}

impl Priority {
    pub(crate) fn attr(self) -> &'static str {
        match self {
            Self::Low => "Low",
            Self::Medium => "Medium",
            Self::High => "High",
        }
    }
    pub(crate) fn stored(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }
}

/// What happens to a session whose data was emptied (express `unset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Unset {
    /// Keep (save) the emptied session (express `'keep'`, the default).
    #[default]
    Keep,
    /// Destroy the session and clear the cookie when the request leaves it empty
    /// (express `'destroy'`).
    Destroy,
}

/// What the layer does when the session store fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StoreFailure {
    /// Answer `503 Service Unavailable` whenever a store operation of the request failed,
    /// whatever the handler returned (the default: fail closed).
    #[default]
    ServiceUnavailable,
    /// Let the handler decide about failed loads (it sees the error from `Session`
    /// methods); a failed end-of-request write still answers 503, since the response would
    /// otherwise claim data was stored.
    HandlerDecides,
}

/// How the session id travels between client and server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Transport {
    pub cookie: bool,
    pub header: Option<HeaderName>,
}

/// Session configuration. Build one with [`SessionConfig::builder`].
///
/// ```
/// use std::time::Duration;
/// use tessera::{SessionConfig, SameSite};
///
/// let config = SessionConfig::builder()
///     .secret("a secret of at least thirty-two bytes, from the environment")
///     .cookie_name("sid")
///     .same_site(SameSite::Strict)
///     .idle_timeout(Duration::from_secs(15 * 60))
///     .absolute_timeout(Duration::from_secs(12 * 3600))
///     .build()
///     .expect("valid config");
/// # let _ = config;
/// ```
#[derive(Clone)]
pub struct SessionConfig {
    pub(crate) cookie_name: String,
    pub(crate) secrets: Secrets,
    pub(crate) path: String,
    pub(crate) domain: Option<String>,
    pub(crate) http_only: bool,
    pub(crate) secure: Secure,
    pub(crate) same_site: SameSite,
    pub(crate) partitioned: bool,
    pub(crate) priority: Option<Priority>,
    pub(crate) max_age: Option<Duration>,
    pub(crate) resave: bool,
    pub(crate) save_uninitialized: bool,
    pub(crate) rolling: bool,
    pub(crate) genid: Option<IdGenerator>,
    pub(crate) trust_proxy: bool,
    pub(crate) unset: Unset,
    pub(crate) idle_timeout: Duration,
    pub(crate) absolute_timeout: Option<Duration>,
    pub(crate) touch_after: Duration,
    pub(crate) on_store_failure: StoreFailure,
    pub(crate) store_timeout: Duration,
    pub(crate) transport: Transport,
    pub(crate) clock: Clock,
    pub(crate) max_attempts: u32,
    pub(crate) resign: bool,
}

impl std::fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionConfig")
            .field("cookie_name", &self.cookie_name)
            .field("secrets", &self.secrets)
            .field("path", &self.path)
            .field("domain", &self.domain)
            .field("secure", &self.secure)
            .field("same_site", &self.same_site)
            .field("max_age", &self.max_age)
            .field("idle_timeout", &self.idle_timeout)
            .field("absolute_timeout", &self.absolute_timeout)
            .field("touch_after", &self.touch_after)
            .finish_non_exhaustive()
    }
}

impl SessionConfig {
    /// A builder with safe defaults (see the README's option table).
    pub fn builder() -> SessionConfigBuilder {
        SessionConfigBuilder::default()
    }

    /// A builder preset to share sessions with an express-session app: cookie name
    /// `connect.sid`, no `SameSite` attribute (express's default), cookies signed with an
    /// old secret re-signed only when a `Set-Cookie` is sent anyway (as express does, so a
    /// Node app that does not know the new secret yet keeps accepting them), secrets
    /// shorter than 32 bytes accepted to verify ([`ShortSecrets::VerifyOnly`]), everything
    /// else as [`SessionConfig::builder`]. Use the same secrets as the Node app.
    pub fn express_compat() -> SessionConfigBuilder {
        SessionConfigBuilder::default()
            .cookie_name("connect.sid")
            .same_site(SameSite::Unset)
            .resign_old_cookies(false)
            .short_secrets(ShortSecrets::VerifyOnly)
    }

    /// The cookie name.
    pub fn cookie_name(&self) -> &str {
        &self.cookie_name
    }

    /// The configured idle timeout.
    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }

    /// Signs an id as the cookie value (percent-encoded `s:<id>.<sig>`, as express-session).
    ///
    /// ```
    /// # use tessera::{SessionConfig, SessionId};
    /// let config = SessionConfig::builder().secret("k".repeat(32)).build().unwrap();
    /// let id = SessionId::generate();
    /// let value = config.sign(&id);
    /// assert_eq!(config.verify(&value), Some(id));
    /// assert_eq!(config.verify(&value.replace("s%3A", "s%3Ax")), None);
    /// ```
    pub fn sign(&self, id: &crate::SessionId) -> String {
        self.secrets.sign(id)
    }

    /// Verifies a cookie or header value against every configured secret (constant-time)
    /// and returns the session id it carries.
    pub fn verify(&self, value: &str) -> Option<crate::SessionId> {
        self.secrets.verify(value).map(|v| v.id)
    }
}

/// Builder for [`SessionConfig`].
#[derive(Clone)]
pub struct SessionConfigBuilder {
    cookie_name: String,
    secrets: Vec<Vec<u8>>,
    path: String,
    domain: Option<String>,
    http_only: bool,
    secure: Secure,
    same_site: SameSite,
    partitioned: bool,
    priority: Option<Priority>,
    max_age: Option<Duration>,
    resave: bool,
    save_uninitialized: bool,
    rolling: bool,
    genid: Option<IdGenerator>,
    trust_proxy: bool,
    unset: Unset,
    idle_timeout: Duration,
    absolute_timeout: Option<Duration>,
    touch_after: Duration,
    on_store_failure: StoreFailure,
    store_timeout: Duration,
    cookie_transport: bool,
    header: Option<HeaderName>,
    clock: Clock,
    max_attempts: u32,
    resign: bool,
    short_secrets: ShortSecrets,
}

impl Default for SessionConfigBuilder {
    fn default() -> Self {
        Self {
            cookie_name: "id".into(),
            secrets: Vec::new(),
            path: "/".into(),
            domain: None,
            http_only: true,
            secure: Secure::Auto,
            same_site: SameSite::Lax,
            partitioned: false,
            priority: None,
            max_age: None,
            resave: false,
            save_uninitialized: false,
            rolling: false,
            genid: None,
            trust_proxy: false,
            unset: Unset::Keep,
            idle_timeout: Duration::from_secs(24 * 3600),
            absolute_timeout: None,
            touch_after: Duration::from_secs(60),
            on_store_failure: StoreFailure::ServiceUnavailable,
            store_timeout: Duration::from_secs(5),
            cookie_transport: true,
            header: None,
            clock: Clock::System,
            max_attempts: 20,
            resign: true,
            short_secrets: ShortSecrets::Refuse,
        }
    }
}

fn valid_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
}

fn valid_attr(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_graphic() && b != b';')
}

impl SessionConfigBuilder {
    /// Adds a secret (express `secret`). The first one added signs; all verify. Add the new
    /// secret first and keep old ones after it to rotate. Each must be at least 32 bytes.
    pub fn secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.secrets.push(secret.as_ref().to_vec());
        self
    }

    /// Replaces the secret list (express `secret: [...]`).
    pub fn secrets<S: AsRef<[u8]>>(mut self, secrets: impl IntoIterator<Item = S>) -> Self {
        self.secrets = secrets.into_iter().map(|s| s.as_ref().to_vec()).collect();
        self
    }

    /// Cookie name (express `name`; default `id`).
    pub fn cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_name = name.into();
        self
    }

    /// Cookie `Path` (default `/`). Requests outside it get no session (as in express).
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Cookie `Domain` (default none: host-only).
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// Cookie `HttpOnly` (default `true`).
    pub fn http_only(mut self, on: bool) -> Self {
        self.http_only = on;
        self
    }

    /// Cookie `Secure` (default [`Secure::Auto`]: set when the request came over TLS, or
    /// with [`trust_proxy`](Self::trust_proxy) through a TLS-terminating proxy).
    pub fn secure(mut self, secure: Secure) -> Self {
        self.secure = secure;
        self
    }

    /// Cookie `SameSite` (default [`SameSite::Lax`]). `None` forces `Secure`.
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = same_site;
        self
    }

    /// Cookie `Partitioned` (CHIPS; default off).
    pub fn partitioned(mut self, on: bool) -> Self {
        self.partitioned = on;
        self
    }

    /// Cookie `Priority` (default none).
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = Some(priority);
        self
    }

    /// Persistent cookie lifetime for new sessions (express `cookie.maxAge`; default none,
    /// a browser-session cookie). A session with a max age slides by it on activity: it is
    /// that session's idle window, replacing `idle_timeout`. Per session:
    /// `Session::set_max_age`.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// Write the session back on every request that loaded it, even unchanged (express
    /// `resave`; default `false`).
    pub fn resave(mut self, on: bool) -> Self {
        self.resave = on;
        self
    }

    /// Store new sessions and send their cookie even when nothing was set (express
    /// `saveUninitialized`; default `false`, so bots and first visits cost nothing).
    pub fn save_uninitialized(mut self, on: bool) -> Self {
        self.save_uninitialized = on;
        self
    }

    /// Send `Set-Cookie` on every response of an existing session (express `rolling`;
    /// default `false`). Each such request loads the session.
    pub fn rolling(mut self, on: bool) -> Self {
        self.rolling = on;
        self
    }

    /// A custom id generator (express `genid`). Ids it returns that are empty, longer than
    /// 256 bytes or not cookie-safe are replaced by a random id, with a warning.
    pub fn genid(mut self, f: impl Fn() -> String + Send + Sync + 'static) -> Self {
        self.genid = Some(Arc::new(f));
        self
    }

    /// Trust `X-Forwarded-Proto` for [`Secure::Auto`] (express `proxy: true`; default off).
    pub fn trust_proxy(mut self, on: bool) -> Self {
        self.trust_proxy = on;
        self
    }

    /// What to do with a session the request emptied (express `unset`; default keep).
    pub fn unset(mut self, unset: Unset) -> Self {
        self.unset = unset;
        self
    }

    /// Server-side idle timeout for sessions without a max age (default 24 h): a session
    /// unused for this long is gone. Slides with activity (throttled by `touch_after`).
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.idle_timeout = d;
        self
    }

    /// Absolute lifetime from creation, never extended (default none).
    pub fn absolute_timeout(mut self, d: Duration) -> Self {
        self.absolute_timeout = Some(d);
        self
    }

    /// Refresh an unchanged session's expiry at most once per this interval (default
    /// 60 s; capped at half the session's idle window). Reads inside it cost no write.
    /// `Duration::ZERO` touches on every request, like express-session.
    pub fn touch_after(mut self, d: Duration) -> Self {
        self.touch_after = d;
        self
    }

    /// The policy for store failures (default [`StoreFailure::ServiceUnavailable`]).
    pub fn on_store_failure(mut self, policy: StoreFailure) -> Self {
        self.on_store_failure = policy;
        self
    }

    /// Upper bound for every store call made by the layer (default 5 s).
    pub fn store_timeout(mut self, d: Duration) -> Self {
        self.store_timeout = d;
        self
    }

    /// Also accept and return the signed session token in this header (e.g.
    /// `X-Session-Id`), for API clients without cookies.
    pub fn header(mut self, name: HeaderName) -> Self {
        self.header = Some(name);
        self
    }

    /// Disable the cookie transport (header only). Requires [`header`](Self::header).
    pub fn without_cookie(mut self) -> Self {
        self.cookie_transport = false;
        self
    }

    /// The time source (tests: [`Clock::tokio`]).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// How many times a conflicting save is retried (reload + replay) before the request
    /// fails with 503 (default 20).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// Re-sign a cookie that verified with an older secret as soon as its session is used
    /// (default `true`, so rotation completes on its own). Turn it off while another app
    /// that only knows the old secret shares the cookie.
    pub fn resign_old_cookies(mut self, on: bool) -> Self {
        self.resign = on;
        self
    }

    /// Whether secrets shorter than 32 bytes are refused (default), accepted to verify
    /// only (the default of [`SessionConfig::express_compat`]), or to sign too. Every short
    /// secret accepted is logged as a warning when the configuration is built.
    ///
    /// Moving a Node app from `secret: 'keyboard cat'` to a long secret without logging
    /// anyone out:
    /// 1. Share sessions as they are: Tessera with `.secret("keyboard cat")` and
    ///    `.short_secrets(ShortSecrets::Sign)`.
    /// 2. Give both apps a new long secret first: Node `secret: [LONG, 'keyboard cat']`,
    ///    Tessera `.secret(LONG).secret("keyboard cat")` (now `VerifyOnly` suffices). New
    ///    cookies are signed with the long secret; old ones still verify.
    /// 3. Once old cookies have expired (or been re-signed: see
    ///    [`SessionConfigBuilder::resign_old_cookies`]), drop the short secret on both.
    ///
    /// ```
    /// use tessera::{SessionConfig, ShortSecrets};
    /// // Verify-only: the signing secret is long.
    /// let long = "a new secret of at least thirty-two bytes";
    /// assert!(SessionConfig::express_compat().secret(long).secret("keyboard cat").build().is_ok());
    /// // Signing with a short secret needs saying so.
    /// assert!(SessionConfig::express_compat().secret("keyboard cat").build().is_err());
    /// assert!(SessionConfig::express_compat()
    ///     .secret("keyboard cat")
    ///     .short_secrets(ShortSecrets::Sign)
    ///     .build()
    ///     .is_ok());
    /// // The default builder refuses short secrets altogether.
    /// assert!(SessionConfig::builder().secret(long).secret("keyboard cat").build().is_err());
    /// ```
    pub fn short_secrets(mut self, policy: ShortSecrets) -> Self {
        self.short_secrets = policy;
        self
    }

    /// Validates and builds the configuration.
    pub fn build(self) -> Result<SessionConfig, ConfigError> {
        let secrets = Secrets::with_policy(&self.secrets, self.short_secrets)?;
        if !valid_token(&self.cookie_name) {
            return Err(ConfigError::InvalidCookieName(self.cookie_name));
        }
        if !self.cookie_transport && self.header.is_none() {
            return Err(ConfigError::NoTransport);
        }
        if !valid_attr(&self.path) || !self.path.starts_with('/') {
            return Err(ConfigError::InvalidAttribute("path"));
        }
        if self
            .domain
            .as_deref()
            .is_some_and(|d| !valid_attr(d) || d.is_empty())
        {
            return Err(ConfigError::InvalidAttribute("domain"));
        }
        if self.idle_timeout.is_zero() {
            return Err(ConfigError::InvalidDuration("idle_timeout"));
        }
        if self.absolute_timeout.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::InvalidDuration("absolute_timeout"));
        }
        if self.max_age.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::InvalidDuration("max_age"));
        }
        if self.store_timeout.is_zero() {
            return Err(ConfigError::InvalidDuration("store_timeout"));
        }
        Ok(SessionConfig {
            cookie_name: self.cookie_name,
            secrets,
            path: self.path,
            domain: self.domain,
            http_only: self.http_only,
            secure: self.secure,
            same_site: self.same_site,
            partitioned: self.partitioned,
            priority: self.priority,
            max_age: self.max_age,
            resave: self.resave,
            save_uninitialized: self.save_uninitialized,
            rolling: self.rolling,
            genid: self.genid,
            trust_proxy: self.trust_proxy,
            unset: self.unset,
            idle_timeout: self.idle_timeout,
            absolute_timeout: self.absolute_timeout,
            touch_after: self.touch_after,
            on_store_failure: self.on_store_failure,
            store_timeout: self.store_timeout,
            transport: Transport {
                cookie: self.cookie_transport,
                header: self.header,
            },
            clock: self.clock,
            max_attempts: self.max_attempts,
            resign: self.resign,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn defaults_are_safe() {
        let c = SessionConfig::builder().secret(SECRET).build().unwrap();
        assert_eq!(c.cookie_name, "id");
        assert!(c.http_only);
        assert_eq!(c.same_site, SameSite::Lax);
        assert!(!c.save_uninitialized);
        assert!(!c.resave);
        assert_eq!(c.on_store_failure, StoreFailure::ServiceUnavailable);
        assert_eq!(c.secure, Secure::Auto);
        assert!(c.max_age.is_none(), "a browser-session cookie unless asked");
    }

    #[test]
    fn rejects_bad_values() {
        assert_eq!(
            SessionConfig::builder().build().unwrap_err(),
            ConfigError::NoSecret
        );
        assert!(matches!(
            SessionConfig::builder().secret("short").build(),
            Err(ConfigError::SecretTooShort { index: 0, len: 5 })
        ));
        assert!(matches!(
            SessionConfig::builder().secret(SECRET).secret("x").build(),
            Err(ConfigError::SecretTooShort { index: 1, .. })
        ));
        let b = || SessionConfig::builder().secret(SECRET);
        assert!(matches!(
            b().cookie_name("a b").build(),
            Err(ConfigError::InvalidCookieName(_))
        ));
        assert!(matches!(
            b().without_cookie().build(),
            Err(ConfigError::NoTransport)
        ));
        assert!(matches!(
            b().path("no-slash").build(),
            Err(ConfigError::InvalidAttribute("path"))
        ));
        assert!(matches!(
            b().domain("a;b").build(),
            Err(ConfigError::InvalidAttribute("domain"))
        ));
        assert!(matches!(
            b().idle_timeout(Duration::ZERO).build(),
            Err(ConfigError::InvalidDuration(_))
        ));
    }

    #[test]
    fn express_compat_uses_connect_sid() {
        let c = SessionConfig::express_compat()
            .secret(SECRET)
            .build()
            .unwrap();
        assert_eq!(c.cookie_name(), "connect.sid");
        assert_eq!(c.same_site, SameSite::Unset);
    }
}
