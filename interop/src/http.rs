//! A minimal HTTP/1.1 client with a one-cookie jar, enough to play a browser against both
//! apps (no dependency on a full client library).

use serde_json::Value;
use time::OffsetDateTime;
use time::macros::format_description;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A response.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// `Set-Cookie` headers.
    pub set_cookies: Vec<String>,
    /// The body parsed as JSON (`Null` when empty or not JSON).
    pub json: Value,
}

impl Reply {
    /// The `Expires` attribute of the first `Set-Cookie`, if any.
    pub fn cookie_expires(&self) -> Option<OffsetDateTime> {
        let fmt = format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        );
        let c = self.set_cookies.first()?;
        let v = c.split("; ").find_map(|a| a.strip_prefix("Expires="))?;
        time::PrimitiveDateTime::parse(v, &fmt)
            .ok()
            .map(|t| t.assume_utc())
    }
}

/// Sends one request to `127.0.0.1:port`.
pub async fn request(
    port: u16,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    body: Option<&Value>,
) -> Reply {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let body = body.map(Value::to_string).unwrap_or_default();
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{cookie}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.expect("read");
    let raw = String::from_utf8_lossy(&raw);
    let (head, rest) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let set_cookies = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.trim().to_owned())
        .collect();
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let text = if chunked {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    Reply {
        status,
        set_cookies,
        json: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// A browser: one session cookie, updated from `Set-Cookie`.
#[derive(Debug, Clone, Default)]
pub struct Browser {
    /// `name=value` of the session cookie.
    pub cookie: Option<String>,
}

impl Browser {
    /// Sends a request with the cookie and keeps what the server sets.
    pub async fn send(
        &mut self,
        port: u16,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        let r = request(port, method, path, self.cookie.as_deref(), body.as_ref()).await;
        for c in &r.set_cookies {
            let pair = c.split(';').next().unwrap_or_default();
            let cleared = pair.ends_with('=') || c.contains("Expires=Thu, 01 Jan 1970");
            self.cookie = if cleared { None } else { Some(pair.to_owned()) };
        }
        r
    }
}
