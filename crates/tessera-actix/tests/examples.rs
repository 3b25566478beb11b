//! The crate's examples as real servers, driven over HTTP: `json-api` keeps the root
//! `axum-json-api` example's contract; `redis-counter` keeps every concurrent increment.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use tessera::testkit::layer::{HttpInstance, Instance};

struct Example {
    child: Child,
    app: HttpInstance,
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `target/<profile>/examples/<name>` on a free port; waits for its "listening"
/// line. `None` (skip; a failure under `CI=true`) when the binary was not built.
fn start(name: &str, env: &[(&str, String)]) -> Option<Example> {
    let exe = std::env::current_exe().expect("test binary path");
    let path: PathBuf = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join("examples").join(name))
        .expect("target directory");
    if !path.exists() {
        return tessera::testkit::skip(&format!(
            "example binary {} not built (cargo test builds examples)",
            path.display()
        ));
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut cmd = Command::new(path);
    cmd.env("PORT", port.to_string())
        .env(
            "SESSION_SECRET",
            "the actix examples' test secret, 32+ bytes",
        )
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start the example");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the example's output");
    assert!(line.contains("listening"), "{name} did not start: {line:?}");
    Some(Example {
        child,
        app: HttpInstance {
            addr: ([127, 0, 0, 1], port).into(),
        },
    })
}

#[tokio::test]
async fn json_api_logs_in_reads_and_logs_out() {
    let Some(ex) = start("json-api", &[]) else {
        return;
    };
    let r = ex.app.send("GET", "/user", None).await;
    assert_eq!(
        (r.status.as_u16(), r.body.as_str()),
        (200, r#"{"info":"No data present in session"}"#)
    );
    let r = ex.app.send("POST", "/login?name=", None).await;
    assert_eq!(r.status.as_u16(), 422, "{r:?}");
    let r = ex.app.send("POST", "/login?name=ada", None).await;
    assert_eq!(
        (r.status.as_u16(), r.body.as_str()),
        (201, r#"{"info":"User logged in"}"#)
    );
    let cookie = r.cookie.expect("a session cookie");
    assert!(cookie.starts_with("id=s%3A"), "{cookie}");
    let r = ex.app.send("GET", "/user", Some(&cookie)).await;
    assert_eq!(
        r.body,
        r#"{"info":"User profile info","data":{"name":"ada"}}"#
    );
    let r = ex.app.send("POST", "/logout", Some(&cookie)).await;
    assert_eq!(r.status.as_u16(), 204);
    assert_eq!(r.cookie.as_deref(), Some("id="), "the cookie is cleared");
    let r = ex.app.send("GET", "/user", Some(&cookie)).await;
    assert_eq!(r.body, r#"{"info":"No data present in session"}"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_counter_keeps_every_concurrent_increment() {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    if let Err(e) = tessera_redis::RedisStore::builder()
        .url(url.clone())
        .build()
        .await
    {
        return tessera::testkit::skip(&format!("Redis unavailable at {url}: {e}")).unwrap_or(());
    }
    let prefix = format!("tessera_actix_{}:sess:", common::token());
    let Some(ex) = start(
        "redis-counter",
        &[("REDIS_URL", url.clone()), ("REDIS_PREFIX", prefix.clone())],
    ) else {
        return;
    };
    let first = ex.app.send("GET", "/", None).await;
    assert_eq!(first.body, "visit #1\n");
    let cookie = first.cookie.expect("cookie");
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (app, cookie) = (ex.app, cookie.clone());
            tokio::spawn(async move { app.send("GET", "/", Some(&cookie)).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.expect("request").status.as_u16(), 200);
    }
    let last = ex.app.send("GET", "/", Some(&cookie)).await;
    assert_eq!(last.body, "visit #102\n", "no increment lost");
    common::delete_redis_namespace(&url, &prefix).await;
}
