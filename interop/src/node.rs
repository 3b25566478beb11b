//! Starts `interop/node/server.js` (real express-session) as a child process.

use std::path::PathBuf;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running Node app; killed on drop.
pub struct NodeApp {
    child: Child,
    /// Its port.
    pub port: u16,
}

impl Drop for NodeApp {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

fn node_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("node")
}

/// Whether Node and the app's `node_modules` are there; otherwise the reason (tests skip
/// with it outside CI and fail under `CI=true`).
pub fn unavailable() -> Option<String> {
    if std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_err()
    {
        return Some("node is not installed".into());
    }
    if !node_dir().join("node_modules").exists() {
        return Some("interop/node/node_modules is missing (run `npm ci` in interop/node)".into());
    }
    None
}

impl NodeApp {
    /// Starts the app with `STORE` and the given environment; waits until it listens.
    pub async fn start(store: &str, secrets: &[&str], env: &[(&str, String)]) -> NodeApp {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut cmd = Command::new("node");
        cmd.arg("server.js")
            .current_dir(node_dir())
            .env("STORE", store)
            .env("PORT", port.to_string())
            .env("SECRETS", secrets.join(","))
            .env("COOKIE_NAME", "connect.sid")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn node");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(std::time::Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.starts_with("interop node app") {
                    return true;
                }
            }
            false
        })
        .await;
        assert!(matches!(ready, Ok(true)), "the Node app did not start");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        NodeApp { child, port }
    }
}
