//! The store URL syntax: schemes, the parameters Tessera reads itself, and the redacted form
//! for logs and error messages.
//!
//! Written by hand on purpose: the store URLs are not all URLs a parser accepts
//! (`redis+cluster://a:1,b:2`, a password containing `/`), and redaction must hold for
//! every string a user may type, parsable or not.

use std::path::PathBuf;

/// A store URL without user info, password, query or fragment, for logs and messages.
///
/// Nothing before the last `@` of the URL is ever printed, so a password never is,
/// whatever it contains (`/`, `?`, `#`, even an unescaped `@`), and whether or not the
/// rest of the URL parses. A query may carry credentials (`?password=`), so it is dropped
/// too.
///
/// ```
/// use tessera_connect::redact;
/// assert_eq!(redact("postgres://app:pa/ss@db:5432/app?sslmode=disable"), "postgres://db:5432/app");
/// assert_eq!(redact("redis://:hunter/2@127.0.0.1:6379"), "redis://127.0.0.1:6379");
/// ```
pub fn redact(url: &str) -> String {
    let url = url.trim();
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let rest = rest.rsplit_once('@').map_or(rest, |(_, after)| after);
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    match scheme {
        Some(scheme) => format!("{scheme}://{rest}"),
        // `sqlite:path` or `memory`: no authority, but still no user info.
        None => rest.to_owned(),
    }
}

/// The scheme of a store URL (`memory` for the bare word `memory`), lowercased.
pub(crate) fn scheme(url: &str) -> String {
    if url.eq_ignore_ascii_case("memory") {
        return "memory".to_owned();
    }
    url.split_once(':')
        .map_or("", |(s, _)| s)
        .to_ascii_lowercase()
}

/// The file path of a `sqlite://path` (or `sqlite:path`) URL.
///
/// ```
/// # use std::path::PathBuf;
/// assert_eq!(tessera_connect::sqlite_path("sqlite://data/x.db"), Some(PathBuf::from("data/x.db")));
/// ```
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty()).then(|| PathBuf::from(path))
}

/// `redis+cluster://[user:pass@]h1:p1,h2:p2` as seed-node URLs `redis://[user:pass@]h:p`.
pub(crate) fn cluster_nodes(url: &str) -> Option<Vec<String>> {
    let rest = url.strip_prefix("redis+cluster://")?;
    node_urls(rest.split(['/', '?']).next().unwrap_or_default())
}

/// `[user:pass@]h1:p1,h2:p2` as `redis://[user:pass@]h:p` URLs (`None` if there are none).
fn node_urls(rest: &str) -> Option<Vec<String>> {
    let (auth, hosts) = match rest.rsplit_once('@') {
        Some((a, h)) => (format!("{a}@"), h),
        None => (String::new(), rest),
    };
    let nodes: Vec<String> = hosts
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| format!("redis://{auth}{h}"))
        .collect();
    (!nodes.is_empty()).then_some(nodes)
}

/// `redis+sentinel://[user:pass@]h1:p1,h2:p2/MASTER` as Sentinel URLs `redis://h:p` and the
/// monitored master's name.
pub(crate) fn sentinel_nodes(url: &str) -> Option<(Vec<String>, String)> {
    let rest = url.strip_prefix("redis+sentinel://")?;
    let (hosts, master) = rest.split_once('/')?;
    let master = master
        .split('?')
        .next()
        .unwrap_or_default()
        .trim_matches('/');
    if master.is_empty() {
        return None;
    }
    let hosts = hosts.split('?').next().unwrap_or_default();
    Some((node_urls(hosts)?, master.to_owned()))
}

/// Takes the query parameter `name` out of `url` (`redis://h/?prefix=app:` → `redis://h/`
/// and `app:`), so the driver never sees a parameter that is Tessera's own. An empty
/// value counts as absent.
pub(crate) fn take_param(url: &str, name: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), None);
    };
    let mut value = None;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|kv| match kv.split_once('=') {
            Some((k, v)) if k == name => {
                if !v.is_empty() {
                    value = Some(v.to_owned());
                }
                false
            }
            _ => !kv.is_empty(),
        })
        .collect();
    let url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    (url, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_credentials() {
        for (url, shown) in [
            (
                "postgres://user:p%40ss@db.local:5432/app?sslmode=disable&password=x",
                "postgres://db.local:5432/app",
            ),
            ("redis://:pw@127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
            (
                "sqlite://data/tessera-demo.db",
                "sqlite://data/tessera-demo.db",
            ),
            ("memory", "memory"),
            // Passwords a URL parser would misread as a path, a query or a fragment.
            (
                "postgres://app:pa/ss@127.0.0.1:1/db",
                "postgres://127.0.0.1:1/db",
            ),
            ("postgres://app:12/ss@h/db", "postgres://h/db"),
            ("redis://:hunter/2@h:6379", "redis://h:6379"),
            ("mongodb://u:pw/x@h:27017/app", "mongodb://h:27017/app"),
            ("mysql://u:a?b#c@h/db", "mysql://h/db"),
            ("mysql://u:a@b@h/db", "mysql://h/db"),
            ("redis+cluster://:pw@a:1,b:2", "redis+cluster://a:1,b:2"),
            ("redis://h/?password=secret", "redis://h/"),
            ("not a url :pw@x", "x"),
        ] {
            assert_eq!(redact(url), shown, "{url}");
        }
    }

    #[test]
    fn sentinel_urls() {
        assert_eq!(
            sentinel_nodes("redis+sentinel://a:26379,b:26380/mymaster"),
            Some((
                vec!["redis://a:26379".to_owned(), "redis://b:26380".to_owned()],
                "mymaster".to_owned()
            ))
        );
        assert_eq!(
            sentinel_nodes("redis+sentinel://u:p@a:26379/m?x=1").map(|(n, m)| (n[0].clone(), m)),
            Some(("redis://u:p@a:26379".to_owned(), "m".to_owned()))
        );
        assert_eq!(sentinel_nodes("redis+sentinel://a:26379"), None);
        assert_eq!(sentinel_nodes("redis+sentinel://a:26379/"), None);
    }

    #[test]
    fn own_parameters() {
        assert_eq!(
            take_param("redis://h:6379", "prefix"),
            ("redis://h:6379".into(), None)
        );
        assert_eq!(
            take_param("redis://h:6379/?prefix=app:sess:", "prefix"),
            ("redis://h:6379/".into(), Some("app:sess:".into()))
        );
        assert_eq!(
            take_param("redis://h/?a=1&prefix=p:&b=2", "prefix"),
            ("redis://h/?a=1&b=2".into(), Some("p:".into()))
        );
        assert_eq!(
            take_param("postgres://h/db?table=", "table"),
            ("postgres://h/db".into(), None)
        );
        assert_eq!(
            take_param("postgres://h/db?tablex=1", "table"),
            ("postgres://h/db?tablex=1".into(), None)
        );
    }

    #[test]
    fn cluster_urls() {
        assert_eq!(
            cluster_nodes("redis+cluster://127.0.0.1:7000,127.0.0.1:7001"),
            Some(vec![
                "redis://127.0.0.1:7000".to_owned(),
                "redis://127.0.0.1:7001".to_owned()
            ])
        );
        assert_eq!(
            cluster_nodes("redis+cluster://:pw@a:1,b:2"),
            Some(vec![
                "redis://:pw@a:1".to_owned(),
                "redis://:pw@b:2".to_owned()
            ])
        );
        assert_eq!(cluster_nodes("redis+cluster://"), None);
    }

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            sqlite_path("sqlite://data/x.db"),
            Some(PathBuf::from("data/x.db"))
        );
        assert_eq!(
            sqlite_path("sqlite:///tmp/x.db?mode=rwc"),
            Some(PathBuf::from("/tmp/x.db"))
        );
        assert_eq!(sqlite_path("sqlite://"), None);
        assert_eq!(sqlite_path("postgres://x"), None);
    }

    #[test]
    fn schemes() {
        assert_eq!(scheme("memory"), "memory");
        assert_eq!(scheme("Redis://h"), "redis");
        assert_eq!(scheme("nothing"), "");
    }
}
