//! CSRF tokens for the forms: a random token kept in the session (`_csrf`), embedded in
//! every form, compared in constant time on every POST.

use crate::auth::CSRF_KEY;
use tessera::Session;

/// The session's token, creating it (and so the session) if needed.
pub async fn token(session: &Session) -> Result<String, tessera::Error> {
    if let Some(t) = session
        .get_value(CSRF_KEY)
        .await?
        .and_then(|v| v.as_str().map(str::to_owned))
    {
        return Ok(t);
    }
    let t = crate::random_token(32);
    session.insert(CSRF_KEY, &t).await?;
    Ok(t)
}

/// Whether `submitted` is the session's token. Never creates a session.
pub async fn verify(session: &Session, submitted: Option<&str>) -> Result<bool, tessera::Error> {
    let Some(submitted) = submitted.filter(|s| !s.is_empty()) else {
        return Ok(false);
    };
    let stored = session.get_value(CSRF_KEY).await?;
    Ok(stored
        .as_ref()
        .and_then(|v| v.as_str())
        .is_some_and(|t| constant_time_eq(t.as_bytes(), submitted.as_bytes())))
}

/// Compares without an early exit on the first differing byte.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn eq() {
        assert!(super::constant_time_eq(b"abc", b"abc"));
        assert!(!super::constant_time_eq(b"abc", b"abd"));
        assert!(!super::constant_time_eq(b"abc", b"ab"));
    }
}
