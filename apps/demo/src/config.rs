//! Configuration: command-line flags override environment variables, which override a
//! `.env` file (loaded by `main` before parsing), which overrides the defaults below.

use clap::Parser;
use clap::builder::BoolishValueParser;
use std::path::PathBuf;
use std::time::Duration;

/// Largest request body accepted (larger ones get 413).
pub const MAX_BODY: usize = 16 * 1024;

/// The header API clients without cookies send (and receive at login) the session in.
pub const SESSION_HEADER: &str = "x-session-id";

/// Default for `SESSION_STORE` and `USER_DB`.
pub const DEFAULT_DB: &str = "sqlite://data/tessera-demo.db";

/// The site's configuration.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "tessera-demo",
    version,
    about = "The tutorials' login site on Tessera (register, log in, remember me, sessions page, JSON API)",
    after_help = "Flags override environment variables, which override a .env file. Durations: 2s, 15m, 12h, 30d."
)]
pub struct Config {
    /// Listen address.
    #[arg(long, env = "HOST", default_value = "127.0.0.1")]
    pub host: String,
    /// Listen port (0: any free port).
    #[arg(long, env = "PORT", default_value_t = 3000)]
    pub port: u16,
    /// Session store: memory, sqlite://…, postgres://…, mysql://…, redis://…, redis+cluster://…,
    /// redis+sentinel://…/MASTER, mongodb://…
    #[arg(long, env = "SESSION_STORE", default_value = DEFAULT_DB)]
    pub session_store: String,
    /// Where accounts live: sqlite://… or postgres://…
    #[arg(long, env = "USER_DB", default_value = DEFAULT_DB)]
    pub user_db: String,
    /// Comma-separated secrets (32+ bytes each); the first signs. Generated into
    /// DATA_DIR/secret if unset.
    #[arg(long, env = "SESSION_SECRET", hide_env_values = true)]
    pub session_secret: Option<String>,
    /// Session cookie name.
    #[arg(long, env = "SESSION_COOKIE_NAME", default_value = "id")]
    pub session_cookie_name: String,
    /// Sliding idle timeout, enforced server-side.
    #[arg(long, env = "SESSION_IDLE_TIMEOUT", default_value = "15m", value_parser = parse_duration)]
    pub session_idle_timeout: Duration,
    /// Absolute timeout from login, never extended.
    #[arg(long, env = "SESSION_ABSOLUTE_TIMEOUT", default_value = "12h", value_parser = parse_duration)]
    pub session_absolute_timeout: Duration,
    /// Lifetime of a "remember me" session and its persistent cookie.
    #[arg(long, env = "REMEMBER_ME", default_value = "30d", value_parser = parse_duration)]
    pub remember_me: Duration,
    /// The cookie's Secure attribute: auto, true or false.
    #[arg(long, env = "COOKIE_SECURE", default_value = "auto", value_parser = parse_secure)]
    pub cookie_secure: tessera::Secure,
    /// Trust X-Forwarded-Proto and X-Forwarded-For (only behind a reverse proxy).
    #[arg(long, env = "TRUST_PROXY", default_value = "false", value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub trust_proxy: bool,
    /// Folder for the generated secret.
    #[arg(long, env = "DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Bearer token `GET /metrics` requires (unset or empty: no token, for a private
    /// monitoring network).
    #[arg(long, env = "METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Live sessions one account may have; a new login beyond it logs out the oldest.
    #[arg(long, env = "MAX_SESSIONS_PER_USER", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_sessions_per_user: u32,
    /// Registrations one client address may attempt per hour (pages and API together).
    #[arg(long, env = "REGISTER_LIMIT", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub register_limit: u32,
    /// On SIGTERM or Ctrl-C: how long in-flight requests get to finish before the
    /// remaining connections are closed.
    #[arg(long, env = "SHUTDOWN_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,
    /// A connection must send a complete request head within this long of opening (or
    /// of its previous response), or it is closed.
    #[arg(long, env = "HEADER_READ_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_read_timeout: Duration,
    /// A request (reading its body included) must be answered within this long, else 408.
    #[arg(long, env = "REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: Duration,
    /// Open connections at most; beyond it new connections wait until one closes.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,
}

impl Default for Config {
    /// The documented defaults (without reading the environment).
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 3000,
            session_store: DEFAULT_DB.into(),
            user_db: DEFAULT_DB.into(),
            session_secret: None,
            session_cookie_name: "id".into(),
            session_idle_timeout: Duration::from_secs(15 * 60),
            session_absolute_timeout: Duration::from_secs(12 * 3600),
            remember_me: Duration::from_secs(30 * 86_400),
            cookie_secure: tessera::Secure::Auto,
            trust_proxy: false,
            data_dir: PathBuf::from("data"),
            metrics_token: None,
            max_sessions_per_user: 10,
            register_limit: 10,
            shutdown_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 10_000,
        }
    }
}

impl Config {
    /// The server's connection limits.
    pub fn limits(&self) -> crate::Limits {
        crate::Limits {
            header_read_timeout: self.header_read_timeout,
            max_connections: self.max_connections as usize,
            drain: self.shutdown_timeout,
        }
    }
}

/// Parses a duration with `humantime` (`2s`, `15m`, `12h`, `30d`, `500ms`, `1h30m`),
/// refusing zero and anything over ten years (which keeps date arithmetic in range).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let d = humantime::parse_duration(s).map_err(|e| {
        format!("invalid duration {s:?} ({e}): use a number with a unit, e.g. 2s, 15m, 12h, 30d")
    })?;
    if d.is_zero() {
        return Err(format!("invalid duration {s:?}: must be greater than zero"));
    }
    if d > Duration::from_secs(10 * 365 * 86_400) {
        return Err(format!("invalid duration {s:?}: at most 3650d"));
    }
    Ok(d)
}

/// `auto`, or a boolean (`true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0`).
fn parse_secure(s: &str) -> Result<tessera::Secure, String> {
    if s.trim().eq_ignore_ascii_case("auto") {
        return Ok(tessera::Secure::Auto);
    }
    let boolish = clap::builder::TypedValueParser::parse_ref(
        &BoolishValueParser::new(),
        &clap::Command::new("tessera-demo"),
        None,
        std::ffi::OsStr::new(s.trim()),
    );
    match boolish {
        Ok(true) => Ok(tessera::Secure::Always),
        Ok(false) => Ok(tessera::Secure::Never),
        Err(_) => Err(format!("invalid value {s:?}: use auto, true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        for bad in [
            "",
            "0s",
            "5",
            "s",
            "2x",
            "-1s",
            "99999999999999999999d",
            "3651d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn flags_override_defaults() {
        let c = Config::try_parse_from([
            "tessera-demo",
            "--port",
            "0",
            "--session-store",
            "memory",
            "--session-idle-timeout",
            "2s",
            "--cookie-secure",
            "true",
            "--trust-proxy",
            "true",
        ])
        .expect("valid flags");
        assert_eq!(c.port, 0);
        assert_eq!(c.session_store, "memory");
        assert_eq!(c.session_idle_timeout, Duration::from_secs(2));
        assert_eq!(c.cookie_secure, tessera::Secure::Always);
        assert!(c.trust_proxy);
        assert!(Config::try_parse_from(["tessera-demo", "--remember-me", "forever"]).is_err());
    }
}
