//! What the CLI shows of a session: [`SessionView`], as a table row or a JSON object.
//!
//! The JSON field names and meanings are a stable interface (documented in the README):
//! scripts parse them.

use serde::Serialize;
use std::time::Duration;
use tessera::Record;
use tessera::store_support::iso_ms;
use time::OffsetDateTime;

/// One session as `list` and `show` describe it.
#[derive(Debug, Clone, Serialize)]
pub struct SessionView {
    /// A short, non-reversible tag of the id (the first 8 hex digits of its SHA-256, as in
    /// Tessera's logs).
    pub tag: String,
    /// The session id itself: only with `--show-ids` (it is a bearer secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The user the session is bound to, if any.
    pub user: Option<String>,
    /// When the session was created (ISO 8601, milliseconds, UTC).
    pub created_at: String,
    /// About when the session was last used (see [`last_seen`]).
    pub last_seen_at: String,
    /// When the store expires it unless it is used again.
    pub expires_at: String,
    /// Size of the stored JSON in bytes.
    pub bytes: usize,
}

/// About when a session was last used: the last time its expiry was moved (a write, or a
/// touch, which Tessera throttles to one per `touch_after`), worked back from the expiry
/// through its idle window (its cookie's `maxAge` if it has one, else `idle_timeout`).
/// Never before creation nor after `now`. A session whose expiry an absolute timeout has
/// capped shows an earlier time than its real last use.
pub fn last_seen(r: &Record, idle_timeout: Duration, now: OffsetDateTime) -> OffsetDateTime {
    let window = match r.cookie.original_max_age {
        Some(ms) if ms > 0 => Duration::from_millis(ms.unsigned_abs()),
        _ => idle_timeout,
    };
    (r.expires_at - window).max(r.created_at).min(now)
}

impl SessionView {
    /// Describes `r`; the id is included only when `show_id`.
    pub fn new(r: &Record, show_id: bool, idle_timeout: Duration, now: OffsetDateTime) -> Self {
        Self {
            tag: r.id.log_tag(),
            id: show_id.then(|| r.id.as_str().to_owned()),
            user: r.user.clone(),
            created_at: iso_ms(r.created_at),
            last_seen_at: iso_ms(last_seen(r, idle_timeout, now)),
            expires_at: iso_ms(r.expires_at),
            bytes: r.to_json().len(),
        }
    }

    /// The table header matching [`SessionView::row`].
    pub fn header(show_id: bool) -> String {
        let mut line = format!(
            "{:<8}  {:<20}  {:<24}  {:<24}  {:<24}  {:>7}",
            "TAG", "USER", "CREATED", "LAST SEEN", "EXPIRES", "BYTES"
        );
        if show_id {
            line.push_str("  ID");
        }
        line
    }

    /// One table row.
    pub fn row(&self) -> String {
        let mut line = format!(
            "{:<8}  {:<20}  {:<24}  {:<24}  {:<24}  {:>7}",
            self.tag,
            shorten(self.user.as_deref().unwrap_or("-"), 20),
            self.created_at,
            self.last_seen_at,
            self.expires_at,
            self.bytes
        );
        if let Some(id) = &self.id {
            line.push_str("  ");
            line.push_str(id);
        }
        line
    }
}

/// `s` cut to `max` characters, the last one an ellipsis when it was cut.
fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera::SessionId;

    fn record(created: OffsetDateTime, expires: OffsetDateTime) -> Record {
        Record::new(SessionId::generate(), created, expires)
    }

    #[test]
    fn last_seen_works_back_from_the_expiry() {
        let now = OffsetDateTime::now_utc();
        let created = now - Duration::from_secs(3600);
        let r = record(created, now + Duration::from_secs(600));
        // Idle window 15 min, expiry in 10 min: last used 5 min ago.
        let seen = last_seen(&r, Duration::from_secs(900), now);
        assert_eq!(seen, now - Duration::from_secs(300));
        // Never before creation, never in the future.
        assert_eq!(last_seen(&r, Duration::from_secs(86_400), now), created);
        assert_eq!(last_seen(&r, Duration::from_secs(60), now), now);
        // A persistent cookie's own max age is its idle window.
        let mut r = r;
        r.cookie.original_max_age = Some(1_200_000);
        assert_eq!(
            last_seen(&r, Duration::from_secs(60), now),
            now - Duration::from_secs(600)
        );
    }

    #[test]
    fn ids_only_when_asked() {
        let now = OffsetDateTime::now_utc();
        let r = record(now, now + Duration::from_secs(60));
        let hidden =
            serde_json::to_value(SessionView::new(&r, false, Duration::ZERO, now)).unwrap();
        assert!(hidden.get("id").is_none());
        assert!(
            !SessionView::new(&r, false, Duration::ZERO, now)
                .row()
                .contains(r.id.as_str())
        );
        let shown = SessionView::new(&r, true, Duration::ZERO, now);
        assert_eq!(shown.id.as_deref(), Some(r.id.as_str()));
        assert!(shown.row().ends_with(r.id.as_str()));
        assert_eq!(hidden["tag"], r.id.log_tag());
        assert_eq!(hidden["user"], serde_json::Value::Null);
        assert_eq!(hidden["bytes"], r.to_json().len());
    }

    #[test]
    fn long_users_are_shortened() {
        assert_eq!(shorten("abc", 5), "abc");
        assert_eq!(shorten("abcdefgh", 5), "abcd…");
    }
}
