//! Usage errors, bad URLs and unreachable stores: one line on standard error, nothing on
//! standard output, the documented exit code, and never a credential.

mod common;

use common::{Out, cli};

/// Asserts a failed run: `code`, nothing on stdout, one line on stderr containing `needle`
/// (clap's usage errors print a usage block, so only ours are checked for one line).
fn failed(out: &Out, code: i32, needle: &str) {
    assert_eq!(out.code, code, "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "not one line: {out:?}");
    assert!(out.stderr.starts_with("tessera: error: "), "{out:?}");
    assert!(out.stderr.contains(needle), "{out:?}");
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

#[test]
fn help_and_version() {
    let help = cli(&["--help"]);
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("Examples:") && help.stdout.contains("migrate"));
    let sub = cli(&["migrate", "--help"]);
    assert_eq!(sub.code, 0);
    assert!(sub.stdout.contains("--dry-run"));
    assert_eq!(cli(&["--version"]).code, 0);
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(cli(&[]).code, 2);
    assert_eq!(cli(&["frobnicate"]).code, 2);
    let revoke = cli(&["--store", "sqlite:///nonexistent/x.db", "revoke"]);
    assert_eq!(revoke.code, 2, "revoke needs --user or --id: {revoke:?}");
    assert_eq!(cli(&["migrate", "--from", "x"]).code, 2);
    failed(
        &cli(&["count"]),
        2,
        "--store URL (or SESSION_STORE) is required",
    );
}

#[test]
fn bad_urls_exit_2() {
    failed(&cli(&["--store", "ftp://h/x", "count"]), 2, "unknown store");
    failed(&cli(&["--store", "nonsense", "list"]), 2, "not a store URL");
    failed(&cli(&["--store", "memory", "count"]), 2, "memory store");
    failed(
        &cli(&["--store", "redis+cluster://", "count"]),
        2,
        "expected redis+cluster://",
    );
    // A SQLite file that is not there is an error, not a new empty store.
    let path = common::temp_path("missing.db");
    let url = format!("sqlite://{}", path.display());
    failed(&cli(&["--store", &url, "count"]), 2, "no such file");
    assert!(!path.exists());
    failed(
        &cli(&["migrate", "--from", &url, "--to", "sqlite:///tmp/x.db"]),
        2,
        "no such file",
    );
}

#[test]
fn unreachable_stores_exit_1_without_credentials() {
    let port = closed_port();
    for url in [
        format!("postgres://app:pa/ss@127.0.0.1:{port}/db"),
        format!("postgres://app:s3cr3t-pw@127.0.0.1:{port}/db"),
        format!("mysql://app:s3cr3t-pw@127.0.0.1:{port}/db"),
        format!("redis://:s3cr3t-pw@127.0.0.1:{port}"),
        format!("redis://:hunter/2@127.0.0.1:{port}"),
        format!("mongodb://u:s3cr3t-pw@127.0.0.1:{port}/app?serverSelectionTimeoutMS=500"),
    ] {
        let out = cli(&["--store", &url, "count"]);
        assert_ne!(out.code, 0, "{out:?}");
        assert!(out.stdout.is_empty(), "{out:?}");
        assert_eq!(out.stderr.lines().count(), 1, "not one line: {out:?}");
        for secret in ["s3cr3t-pw", "pa/ss", "hunter"] {
            assert!(!out.stderr.contains(secret), "credential printed: {out:?}");
        }
        assert!(
            out.stderr.contains("cannot connect to the session store"),
            "{out:?}"
        );
    }
    // A reachable URL shape with a closed port is a failure (1), not a usage error.
    let out = cli(&[
        "--store",
        &format!("postgres://127.0.0.1:{port}/db"),
        "count",
    ]);
    failed(
        &out,
        1,
        "cannot connect to the session store postgres://127.0.0.1:",
    );
}
