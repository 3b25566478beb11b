//! One HTTP/1.1 exchange over a fresh loopback connection, for [`HttpInstance`]
//! (the kit needs status, first `Set-Cookie` and body only; a client library would be a
//! heavy dependency of every store crate's tests for that).
//!
//! [`HttpInstance`]: crate::testkit::adapter::HttpInstance

use crate::testkit::adapter::Resp;
use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends `request` (a complete request with `Connection: close`) and reads the response
/// to the end of the connection.
///
/// # Panics
/// When the server cannot be reached or answers something that is not HTTP: a failed
/// check, in a test kit.
pub(crate) async fn exchange(addr: std::net::SocketAddr, request: &str) -> Resp {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the app under test at {addr}: {e}"));
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send the request");
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .await
        .expect("read the response");
    parse(&raw)
}

fn parse(raw: &[u8]) -> Resp {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {head:?}"));
    let mut cookie = None;
    let mut chunked = false;
    for line in head.lines().skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("set-cookie") && cookie.is_none() {
            cookie = value.split(';').next().map(str::to_owned);
        }
        if name.eq_ignore_ascii_case("transfer-encoding") && value.eq_ignore_ascii_case("chunked") {
            chunked = true;
        }
    }
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Resp {
        status,
        body,
        cookie,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_length_and_chunked_bodies() {
        let r = parse(b"HTTP/1.1 201 Created\r\nset-cookie: id=abc; Path=/\r\nset-cookie: x=1\r\ncontent-length: 2\r\n\r\nok");
        assert_eq!((r.status, r.body.as_str()), (StatusCode::CREATED, "ok"));
        assert_eq!(r.cookie.as_deref(), Some("id=abc"));
        let r = parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
        assert_eq!(r.body, "abcde");
        assert!(r.cookie.is_none());
    }
}
