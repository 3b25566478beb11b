//! `migrate`, `export` and `import` against the real servers.

mod common;

use axum::Router;
use axum::routing::get;
use common::{Backend, all, cli, cli_async, cli_with_input, ok, place, record, seed};
use http_body_util::BodyExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tessera::{Record, Session, SessionConfig, SessionId, SessionLayer, SessionStore};
use tessera_cli::{MigrateOptions, Target};
use tower::ServiceExt;

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

/// `n` sessions with varied users, lifetimes and cookies: a third bound to one of 50
/// users, every seventh with a persistent ("remember me") cookie.
fn sessions(n: u64) -> Vec<Record> {
    (0..n)
        .map(|i| {
            let user = (i % 3 == 0).then(|| format!("user-{}", i % 50));
            let ttl = HOUR + Duration::from_secs(i * 37 % (30 * 86_400));
            let mut r = record(user.as_deref(), i, ttl);
            if i % 7 == 0 {
                r.cookie.original_max_age = Some((30 * DAY).as_millis() as i64);
                r.cookie.expires = Some(r.expires_at);
            }
            r.absolute_timeout_ms = (i % 11 == 0).then_some(12 * 3600 * 1000);
            r
        })
        .collect()
}

/// Asserts `store` holds exactly `expected`: same ids, data, user binding, creation time,
/// cookie and (within a second: Redis keeps a relative TTL) expiry.
async fn assert_holds(store: &tessera::BoxedStore, expected: &[Record], what: &str) {
    let found: HashMap<SessionId, Record> = all(store)
        .await
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
    assert_eq!(found.len(), expected.len(), "{what}: number of sessions");
    for e in expected {
        let f = found
            .get(&e.id)
            .unwrap_or_else(|| panic!("{what}: session {} missing", e.id.log_tag()));
        assert_eq!(f.data, e.data, "{what}: data");
        assert_eq!(f.user, e.user, "{what}: user");
        assert_eq!(f.created_at, e.created_at, "{what}: created_at");
        assert_eq!(
            f.absolute_timeout_ms, e.absolute_timeout_ms,
            "{what}: absolute timeout"
        );
        assert_eq!(f.cookie, e.cookie, "{what}: cookie");
        let drift = (f.expires_at - e.expires_at).abs();
        assert!(
            drift <= time::Duration::seconds(1),
            "{what}: expiry moved by {drift}"
        );
    }
}

fn summary(migrated: u64, present: u64) -> String {
    format!("migrated {migrated}, already present {present}, expired 0, failed 0")
}

/// 10,000 sessions around four kinds of store, each hop run twice: the second run copies
/// nothing, and every record arrives intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_sessions_around_four_stores() {
    let Some(redis) = place(Backend::Redis).await else {
        return;
    };
    let Some(postgres) = place(Backend::Postgres).await else {
        return;
    };
    let Some(sqlite) = place(Backend::Sqlite).await else {
        return;
    };
    let Some(mongo) = place(Backend::Mongo).await else {
        return;
    };
    let Some(back) = place(Backend::Redis).await else {
        return;
    };
    let originals = sessions(10_000);
    seed(&redis.store, originals.clone(), 64).await;

    for (from, to) in [
        (&redis, &postgres),
        (&postgres, &sqlite),
        (&sqlite, &mongo),
        (&mongo, &back),
    ] {
        let hop = format!("{:?} → {:?}", from.backend, to.backend);
        let args = vec![
            "migrate".to_owned(),
            "--from".to_owned(),
            from.url.clone(),
            "--to".to_owned(),
            to.url.clone(),
        ];
        let t = std::time::Instant::now();
        let first = ok(cli_async(args.clone()).await);
        eprintln!("{hop}: first run {:?}", t.elapsed());
        let t = std::time::Instant::now();
        assert_eq!(first.trim(), summary(10_000, 0), "{hop}, first run");
        let again = ok(cli_async(args).await);
        eprintln!("{hop}: second run {:?}", t.elapsed());
        assert_eq!(again.trim(), summary(0, 10_000), "{hop}, second run");
        assert_holds(&to.store, &originals, &hop).await;
    }
    // The per-user index of the last store works: user-3 has every third of i ≡ 3 (mod 50).
    let expected = originals
        .iter()
        .filter(|r| r.user.as_deref() == Some("user-3"))
        .count();
    assert!(expected > 0);
    let listed = back
        .store
        .list_by_user("user-3")
        .await
        .expect("list_by_user");
    assert_eq!(listed.len(), expected);
}

/// A dry run writes nothing and counts what a real run would do; expired sessions are
/// skipped and counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_writes_nothing_and_expired_sessions_are_skipped() {
    let Some(from) = place(Backend::Postgres).await else {
        return;
    };
    let Some(to) = place(Backend::Sqlite).await else {
        return;
    };
    let live = sessions(20);
    seed(&from.store, live.clone(), 4).await;
    seed(&to.store, live[..5].to_vec(), 4).await;
    // SQL stores keep expired rows until purged; scan never returns them, so an expired
    // row is not even seen. A row that expires during the copy counts as expired.
    let mut old = record(None, 99, HOUR);
    old.expires_at = tessera::testkit::now() - Duration::from_secs(5);
    from.store.create(&old).await.expect("expired row");

    let dry = ok(cli(&[
        "migrate",
        "--from",
        &from.url,
        "--to",
        &to.url,
        "--dry-run",
    ]));
    assert_eq!(
        dry.trim(),
        "dry run: would migrate 15, already present 5, expired 0, failed 0"
    );
    assert_eq!(all(&to.store).await.len(), 5, "a dry run wrote something");
    let real = ok(cli(&[
        "migrate", "--from", &from.url, "--to", &to.url, "--batch", "3",
    ]));
    assert_eq!(real.trim(), summary(15, 5));
    assert_holds(&to.store, &live, "after the real run").await;
    assert!(to.store.load(&old.id).await.expect("load").is_none());
}

/// Records about to expire are counted as expired, not copied (library level: the binary
/// cannot be timed against a record's expiry).
#[tokio::test]
async fn sessions_about_to_expire_are_counted_as_expired() {
    let from = tessera::MemoryStore::default();
    let to = tessera::MemoryStore::default();
    let mut short = record(None, 1, HOUR);
    short.expires_at = tessera::testkit::now() + Duration::from_millis(300);
    from.create(&short).await.expect("create");
    from.create(&record(None, 2, HOUR)).await.expect("create");
    let s = tessera_cli::migrate(
        &Target {
            store: &from,
            description: "memory",
        },
        &Target {
            store: &to,
            description: "memory",
        },
        MigrateOptions::default(),
        indicatif::ProgressBar::hidden(),
    )
    .await
    .expect("migrate");
    assert_eq!((s.migrated, s.expired, s.present, s.failed), (1, 1, 0, 0));
    assert!(to.load(&short.id).await.expect("load").is_none());
}

const SECRET: &str = "the tessera-cli test secret, at least 32 bytes long";

async fn incr(app: &Router, cookie: &str) -> Option<u64> {
    let req = axum::http::Request::get("/incr")
        .header("cookie", cookie)
        .body(axum::body::Body::empty())
        .expect("request");
    let res = app.clone().oneshot(req).await.expect("infallible");
    if !res.status().is_success() {
        return None;
    }
    let body = res.into_body().collect().await.ok()?.to_bytes();
    std::str::from_utf8(&body).ok()?.parse().ok()
}

/// An application keeps writing to the target while the migration runs: every write it
/// acknowledged is still there afterwards (the migration never replaces a record).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrating_while_the_app_writes_to_the_target_loses_nothing() {
    let Some(from) = place(Backend::Redis).await else {
        return;
    };
    let Some(to) = place(Backend::Postgres).await else {
        return;
    };
    let originals = sessions(2_000);
    seed(&from.store, originals.clone(), 64).await;
    // These users already use the new app: their sessions are on the target too.
    let moved: Vec<Record> = originals[..100].to_vec();
    seed(&to.store, moved.clone(), 16).await;

    let config = SessionConfig::builder()
        .secret(SECRET)
        .build()
        .expect("config");
    let app = Router::new()
        .route(
            "/incr",
            get(|s: Session| async move {
                let n = s.update("n", |n: Option<u64>| n.unwrap_or(0) + 1).await?;
                Ok::<_, tessera::Error>(n.to_string())
            }),
        )
        .layer(SessionLayer::with_boxed(to.store.clone(), config.clone()));
    let done = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicU64::new(0));
    let started = Arc::new(tokio::sync::Notify::new());
    let mut writers = tokio::task::JoinSet::new();
    for chunk in moved.chunks(25) {
        let (app, done, writes, started) =
            (app.clone(), done.clone(), writes.clone(), started.clone());
        let cookies: Vec<(SessionId, String)> = chunk
            .iter()
            .map(|r| (r.id.clone(), format!("id={}", config.sign(&r.id))))
            .collect();
        writers.spawn(async move {
            let mut acknowledged: HashMap<SessionId, u64> = HashMap::new();
            while !done.load(Ordering::Acquire) {
                for (id, cookie) in &cookies {
                    if incr(&app, cookie).await.is_some() {
                        *acknowledged.entry(id.clone()).or_default() += 1;
                        if writes.fetch_add(1, Ordering::AcqRel) == 50 {
                            started.notify_one();
                        }
                    }
                }
            }
            acknowledged
        });
    }
    started.notified().await;
    let before = writes.load(Ordering::Acquire);
    let s = tessera_cli::migrate(
        &Target {
            store: &from.store,
            description: "redis",
        },
        &Target {
            store: &to.store,
            description: "postgres",
        },
        MigrateOptions {
            batch: 50,
            concurrency: 4,
            ..MigrateOptions::default()
        },
        indicatif::ProgressBar::hidden(),
    )
    .await
    .expect("migrate");
    let during = writes.load(Ordering::Acquire) - before;
    done.store(true, Ordering::Release);
    let mut acknowledged: HashMap<SessionId, u64> = HashMap::new();
    while let Some(part) = writers.join_next().await {
        acknowledged.extend(part.expect("writer"));
    }
    assert!(during > 0, "no write overlapped the migration");
    assert_eq!((s.migrated, s.present, s.failed), (1_900, 100, 0));
    for r in &moved {
        let stored = to.store.load(&r.id).await.expect("load").expect("present");
        let expected =
            acknowledged.get(&r.id).copied().unwrap_or(0) + r.data["n"].as_u64().unwrap_or(0);
        assert_eq!(
            stored.data["n"].as_u64(),
            Some(expected),
            "acknowledged increments of session {} were lost",
            r.id.log_tag()
        );
    }
}

/// `export` then `import` round-trips every record; importing again adds nothing; a line
/// that is not a record is reported and fails the run without stopping it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_import_round_trip() {
    let Some(from) = place(Backend::Redis).await else {
        return;
    };
    let Some(to) = place(Backend::Sqlite).await else {
        return;
    };
    let originals = sessions(300);
    seed(&from.store, originals.clone(), 16).await;

    let exported = cli(&["--store", &from.url, "export"]);
    assert_eq!(exported.code, 0, "{exported:?}");
    assert_eq!(exported.stdout.lines().count(), 300);
    assert_eq!(exported.stderr.trim(), "exported 300");
    let first: serde_json::Value =
        serde_json::from_str(exported.stdout.lines().next().unwrap_or_default()).expect("JSON");
    assert!(first["id"].is_string() && first["expires_at"].is_string());
    assert!(first["session"]["cookie"].is_object());

    let imported = cli_with_input(&["--store", &to.url, "import"], exported.stdout.as_bytes());
    assert_eq!(
        imported.stdout.trim(),
        "imported 300, already present 0, expired 0, failed 0"
    );
    assert_eq!(imported.code, 0, "{imported:?}");
    assert_holds(&to.store, &originals, "after import").await;

    let mut input = exported.stdout.clone();
    input.push_str("{\"not\": \"a record\"}\n");
    let again = cli_with_input(&["--store", &to.url, "import"], input.as_bytes());
    assert_eq!(
        again.stdout.trim(),
        "imported 0, already present 300, expired 0, failed 1"
    );
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("line 301"), "{again:?}");
}
