//! Reading the session cookie from `Cookie` headers and writing `Set-Cookie`.
//!
//! Parsing follows the `cookie` npm package used by express-session: pairs split on `;`,
//! spaces and tabs trimmed, the **first** cookie with the name wins, surrounding quotes
//! are stripped. Attributes are written in express's order: `Domain`, `Path`, `Expires`
//! (plus `Max-Age`), `HttpOnly`, `Secure`, `Partitioned`, `Priority`, `SameSite`.

use crate::config::{SameSite, SessionConfig};
use http::{HeaderMap, header};
use std::fmt::Write as _;
use time::OffsetDateTime;
use time::macros::format_description;

/// The first value of cookie `name` in a request's `Cookie` header values.
pub(crate) fn find_in<'a>(
    headers: impl IntoIterator<Item = &'a str>,
    name: &str,
) -> Option<&'a str> {
    for value in headers {
        for pair in value.split(';') {
            let Some((k, v)) = pair.split_once('=') else {
                continue;
            };
            if k.trim_matches([' ', '\t']) == name {
                let v = v.trim_matches([' ', '\t']);
                let v = v
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(v);
                return Some(v);
            }
        }
    }
    None
}

/// [`find_in`] over an `http` header map (values that are not visible ASCII are skipped).
pub(crate) fn find_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    find_in(
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok()),
        name,
    )
}

/// `Date#toUTCString` form: `Mon, 23 Nov 2026 10:44:48 GMT`.
pub(crate) fn http_date(t: OffsetDateTime) -> String {
    let fmt = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.to_offset(time::UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_default()
}

/// Whether the `Secure` attribute applies to a response to this request.
pub(crate) fn is_secure(config: &SessionConfig, request_is_tls: bool) -> bool {
    use crate::config::Secure;
    config.same_site == SameSite::None
        || match config.secure {
            Secure::Always => true,
            Secure::Never => false,
            Secure::Auto => request_is_tls,
        }
}

/// Whether the first `X-Forwarded-Proto` value is `https`.
pub(crate) fn forwarded_https(forwarded_proto: Option<&str>) -> bool {
    forwarded_proto
        .and_then(|v| v.split(',').next())
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
}

fn attributes(
    config: &SessionConfig,
    out: &mut String,
    expires: Option<OffsetDateTime>,
    now: OffsetDateTime,
    secure: bool,
) {
    if let Some(domain) = &config.domain {
        let _ = write!(out, "; Domain={domain}");
    }
    let _ = write!(out, "; Path={}", config.path);
    if let Some(exp) = expires {
        let max_age = ((exp - now).as_seconds_f64().round() as i64).max(0);
        let _ = write!(out, "; Expires={}; Max-Age={max_age}", http_date(exp));
    }
    if config.http_only {
        out.push_str("; HttpOnly");
    }
    if secure {
        out.push_str("; Secure");
    }
    if config.partitioned {
        out.push_str("; Partitioned");
    }
    if let Some(p) = config.priority {
        let _ = write!(out, "; Priority={}", p.attr());
    }
    if let Some(s) = config.same_site.attr() {
        let _ = write!(out, "; SameSite={s}");
    }
}

/// `Set-Cookie` carrying a signed value; `expires` = `None` for a browser-session cookie.
pub(crate) fn set_cookie(
    config: &SessionConfig,
    signed_value: &str,
    expires: Option<OffsetDateTime>,
    now: OffsetDateTime,
    secure: bool,
) -> String {
    let mut out = format!("{}={}", config.cookie_name, signed_value);
    attributes(config, &mut out, expires, now, secure);
    out
}

/// `Set-Cookie` that removes the session cookie: same name, `Domain`, `Path`, `Secure`,
/// `SameSite` and `Partitioned` as the cookie it clears (browsers ignore a removal whose
/// attributes differ), an empty value and an expiry in the past.
pub(crate) fn removal_cookie(config: &SessionConfig, now: OffsetDateTime, secure: bool) -> String {
    let mut out = format!("{}=", config.cookie_name);
    attributes(
        config,
        &mut out,
        Some(OffsetDateTime::UNIX_EPOCH),
        now,
        secure,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Priority, Secure};
    use http::HeaderValue;
    use time::macros::datetime;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(header::COOKIE, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn first_cookie_with_the_name_wins_across_headers() {
        let h = headers(&["a=1; id=first;id=second", "id=third"]);
        assert_eq!(find_cookie(&h, "id"), Some("first"));
        let h = headers(&["x=1", " \tid = \"quoted\" ", "id=later"]);
        assert_eq!(find_cookie(&h, "id"), Some("quoted"));
        assert_eq!(find_cookie(&headers(&["ida=1; xid=2"]), "id"), None);
    }

    #[test]
    fn http_date_matches_to_utc_string() {
        assert_eq!(
            http_date(datetime!(2026-11-23 10:44:48.157 UTC)),
            "Mon, 23 Nov 2026 10:44:48 GMT"
        );
    }

    #[test]
    fn express_capture_shape_and_every_attribute() {
        let now = datetime!(2026-11-22 10:44:48.157 UTC);
        let exp = datetime!(2026-11-23 10:44:48.157 UTC);
        let c = SessionConfig::express_compat()
            .secret("k".repeat(32))
            .build()
            .unwrap();
        let v = set_cookie(
            &c,
            "s%3AWLB00T5veRHhEVBeUTOOCDYhcTBlb7kS.G3f8989DbhDo36BjhHBS10K5LO4hatTw7pCNoo5ZtdU",
            Some(exp),
            now,
            false,
        );
        assert_eq!(
            v,
            "connect.sid=s%3AWLB00T5veRHhEVBeUTOOCDYhcTBlb7kS.G3f8989DbhDo36BjhHBS10K5LO4hatTw7pCNoo5ZtdU; Path=/; Expires=Mon, 23 Nov 2026 10:44:48 GMT; Max-Age=86400; HttpOnly"
        );
        let c = SessionConfig::builder()
            .secret("k".repeat(32))
            .cookie_name("sid")
            .domain("example.com")
            .path("/app")
            .secure(Secure::Always)
            .partitioned(true)
            .priority(Priority::High)
            .same_site(crate::SameSite::Strict)
            .build()
            .unwrap();
        let secure = is_secure(&c, false);
        assert_eq!(
            set_cookie(&c, "v", None, now, secure),
            "sid=v; Domain=example.com; Path=/app; HttpOnly; Secure; Partitioned; Priority=High; SameSite=Strict"
        );
        assert_eq!(
            removal_cookie(&c, now, secure),
            "sid=; Domain=example.com; Path=/app; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; HttpOnly; Secure; Partitioned; Priority=High; SameSite=Strict"
        );
    }

    #[test]
    fn same_site_none_forces_secure_and_auto_follows_tls() {
        let none = SessionConfig::builder()
            .secret("k".repeat(32))
            .same_site(SameSite::None)
            .build()
            .unwrap();
        assert!(is_secure(&none, false));
        let auto = SessionConfig::builder()
            .secret("k".repeat(32))
            .secure(Secure::Auto)
            .build()
            .unwrap();
        assert!(!is_secure(&auto, false));
        assert!(is_secure(&auto, true));
    }
}
