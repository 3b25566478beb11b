//! The server's limits over real TCP (issue 11, points 3 and 17): half-sent requests are
//! closed, the connection cap holds, slow requests get 408, and a shutdown lets requests
//! in flight finish without waiting forever for the ones that never will.

mod common;

use common::{Backend, eventually, start};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

fn addr_of(srv: &common::Server) -> String {
    srv.base.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection (or resets it); `None` if it is still
/// open after `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(limit, read).await.ok().map(|()| got)
}

/// Issue 11, point 3: 300 half-sent requests are closed after `HEADER_READ_TIMEOUT`,
/// and the site answers everyone else meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_are_closed_while_the_site_keeps_answering() {
    let Some(srv) = start(Backend::Memory, |c| {
        c.header_read_timeout = Duration::from_secs(1)
    })
    .await
    else {
        return;
    };
    let addr = addr_of(&srv);
    let mut half = Vec::new();
    for _ in 0..300 {
        let mut s = TcpStream::connect(&addr).await.expect("connect");
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .expect("write");
        half.push(s);
    }
    let c = srv.client();
    assert_eq!(c.get("/healthz").await.status, 200);
    assert_eq!(c.get("/login").await.status, 200);
    let t0 = Instant::now();
    for s in &mut half {
        assert!(
            closed_within(s, Duration::from_secs(10)).await.is_some(),
            "a half-sent request is still open after {:?}",
            t0.elapsed()
        );
    }
    assert_eq!(c.get("/healthz").await.status, 200);
}

/// Issue 11, point 3: at `MAX_CONNECTIONS` a new connection is not served until an
/// open one closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_cap_holds() {
    let Some(srv) = start(Backend::Memory, |c| c.max_connections = 2).await else {
        return;
    };
    let addr = addr_of(&srv);
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(&addr).await.expect("connect");
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
            .await
            .expect("write");
        held.push(s);
    }
    let mut third = TcpStream::connect(&addr).await.expect("connect (backlog)");
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut first = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(500), third.read(&mut first)).await;
    assert!(
        early.is_err(),
        "a third connection was served with the cap at 2"
    );
    drop(held.pop());
    let answer = closed_within(&mut third, Duration::from_secs(5))
        .await
        .expect("served once a slot is free");
    let mut all = first[..0].to_vec();
    all.extend_from_slice(&answer);
    assert!(
        String::from_utf8_lossy(&all).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&all)
    );
}

/// Issue 11, point 3: a request whose body never finishes gets 408 after
/// `REQUEST_TIMEOUT`: JSON under `/api`, a page elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_never_finishes_gets_408() {
    let Some(srv) = start(Backend::Memory, |c| {
        c.request_timeout = Duration::from_secs(1)
    })
    .await
    else {
        return;
    };
    let addr = addr_of(&srv);
    for (path, ctype, want) in [
        ("/api/login", "application/json", "application/json"),
        ("/login", "application/x-www-form-urlencoded", "text/html"),
    ] {
        let mut s = TcpStream::connect(&addr).await.expect("connect");
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {ctype}\r\nContent-Length: 100\r\n\r\n{{\"em"
        );
        s.write_all(head.as_bytes()).await.expect("write");
        let answer = closed_within(&mut s, Duration::from_secs(10))
            .await
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&answer).to_ascii_lowercase();
        assert!(text.starts_with("http/1.1 408"), "{path}: {text}");
        assert!(
            text.contains(&format!("content-type: {want}")),
            "{path}: {text}"
        );
    }
}

/// Issue 11, point 17: after the signal the server stops accepting, and a request in
/// flight (here: its body still arriving) gets its real answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_requests_in_flight_finish() {
    let Some(srv) = start(Backend::Memory, |c| {
        c.shutdown_timeout = Duration::from_secs(5)
    })
    .await
    else {
        return;
    };
    let addr = addr_of(&srv);
    let body = br#"{"email":"nobody@example.com","password":"not the password"}"#;
    let mut s = TcpStream::connect(&addr).await.expect("connect");
    let head = format!(
        "POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.expect("write");
    s.write_all(&body[..10]).await.expect("write");
    // Connections are accepted in order: once a later one is answered, this one is in.
    assert_eq!(srv.client().get("/healthz").await.status, 200);
    let stopping = tokio::spawn(srv.stop());
    eventually(Duration::from_secs(5), "the listener to close", || {
        let addr = addr.clone();
        async move { TcpStream::connect(&addr).await.is_err().then_some(()) }
    })
    .await;
    s.write_all(&body[10..]).await.expect("write the rest");
    let answer = closed_within(&mut s, Duration::from_secs(5))
        .await
        .expect("answered and closed");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 401"), "{text}");
    assert!(text.contains("invalid email or password"), "{text}");
    stopping.await.expect("stopped");
}

/// Issue 11, point 17: on shutdown a client that sent half a request does not hold the
/// process: after `SHUTDOWN_TIMEOUT` the remaining connections are closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_does_not_wait_forever_for_half_sent_requests() {
    let Some(srv) = start(Backend::Memory, |c| {
        c.shutdown_timeout = Duration::from_millis(500)
    })
    .await
    else {
        return;
    };
    let addr = addr_of(&srv);
    let mut half = TcpStream::connect(&addr).await.expect("connect");
    half.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    // Connections are accepted in order: once a later one is answered, the half-sent
    // one is being served.
    assert_eq!(srv.client().get("/healthz").await.status, 200);
    let t0 = Instant::now();
    srv.stop().await; // panics after 10 s
    let took = t0.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "stopped after {took:?} with a half-sent request open"
    );
    drop(half);
}
