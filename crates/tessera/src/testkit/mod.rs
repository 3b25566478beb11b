//! The store conformance suite (feature `testkit`).
//!
//! Every store crate runs the same checks against its real back end:
//!
//! ```ignore
//! tessera::conformance_tests!(async {
//!     // Return a fresh, isolated store (own prefix/table), or skip:
//!     match std::env::var("REDIS_URL") {
//!         Ok(url) => Some(MyStore::connect(&url).await.unwrap()),
//!         Err(_) => tessera::testkit::skip("REDIS_URL not set"),
//!     }
//! });
//! ```
//!
//! Each check is also a public `async fn` taking the store, for custom harnesses.
//! The store given to a check must be empty (its own namespace): `count` is checked.

mod adapter;
pub mod layer;
pub mod proxy;
mod wire;

use crate::{Record, SaveOutcome, ScanPage, SessionId, SessionStore, StoreError};
use serde_json::json;
use std::collections::HashSet;
use std::time::Duration;
use time::OffsetDateTime;

/// Skips a test whose service is unavailable: prints the reason and returns `None`; under
/// `CI=true` it panics instead, so CI cannot pass by skipping.
pub fn skip<T>(reason: &str) -> Option<T> {
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("required test service unavailable under CI=true: {reason}");
    }
    eprintln!("SKIPPED: {reason}");
    // scripts/test.sh counts skips from this file, so a skipped test never reads as passed.
    if let Some(path) = std::env::var_os("TESSERA_SKIP_LOG") {
        use std::io::Write as _;
        let test = std::thread::current().name().unwrap_or("a test").to_owned();
        let line = format!("{test}\t{}\n", reason.replace(['\n', '\t'], " "));
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = f.write_all(line.as_bytes());
        }
    }
    None
}

/// Now, truncated to milliseconds.
pub fn now() -> OffsetDateTime {
    crate::Clock::System.now()
}

/// A new record with some data, expiring after `ttl`.
pub fn record(user: Option<&str>, ttl: Duration) -> Record {
    let now = now();
    let mut r = Record::new(SessionId::generate(), now, now + ttl);
    r.cookie.http_only = Some(true);
    r.cookie.path = Some("/".into());
    r.user = user.map(str::to_owned);
    r.data.insert(
        "user".into(),
        json!({"id": "7", "email": "ana@example.com"}),
    );
    r.data.insert("n".into(), json!(0));
    r
}

const HOUR: Duration = Duration::from_secs(3600);

fn close(a: OffsetDateTime, b: OffsetDateTime) -> bool {
    (a - b).abs() <= time::Duration::seconds(1)
}

/// Polls `cond` every 50 ms until it holds or `limit` passes.
pub async fn eventually<F, Fut>(limit: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if cond().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `create` then `load` returns the same data, cookie, user, creation time and expiry.
pub async fn create_then_load<S: SessionStore>(store: &S) {
    let mut r = record(Some("u-create"), HOUR);
    r.data
        .insert("unicode".into(), json!("żółć 🚀 \"quoted\" \\ back"));
    r.data.insert(
        "numbers".into(),
        json!([0, -1, 1.5, 9007199254740991_i64, 1e300]),
    );
    r.data
        .insert("nested".into(), json!({"a": {"b": [true, false, null]}}));
    r.cookie.original_max_age = Some(3_600_000);
    r.cookie.expires = Some(r.expires_at);
    let v = store.create(&r).await.expect("create");
    let got = store
        .load(&r.id)
        .await
        .expect("load")
        .expect("record exists");
    assert_eq!(got.version, v, "load returns the version create returned");
    let shared = store
        .load_shared(&r.id)
        .await
        .expect("load_shared")
        .expect("record exists");
    assert_eq!(*shared, got, "load_shared returns what load returns");
    assert_eq!(got.id, r.id);
    assert_eq!(got.data, r.data, "data round-trips with types and order");
    assert_eq!(got.cookie, r.cookie, "cookie object round-trips");
    assert_eq!(got.user, r.user);
    assert_eq!(got.created_at, r.created_at);
    assert!(
        close(got.expires_at, r.expires_at),
        "expires_at {} vs {}",
        got.expires_at,
        r.expires_at
    );
}

/// `create` fails with `IdCollision` for an existing id and leaves the record unchanged.
pub async fn create_rejects_duplicate_id<S: SessionStore>(store: &S) {
    let r = record(None, HOUR);
    store.create(&r).await.expect("first create");
    let mut dup = r.clone();
    dup.data.insert("n".into(), json!(99));
    assert!(
        matches!(store.create(&dup).await, Err(StoreError::IdCollision)),
        "duplicate create must fail"
    );
    let got = store.load(&r.id).await.unwrap().unwrap();
    assert_eq!(got.data["n"], json!(0), "the original record is untouched");
}

/// Unknown ids load as `None`.
pub async fn load_missing_is_none<S: SessionStore>(store: &S) {
    assert!(store.load(&SessionId::generate()).await.unwrap().is_none());
}

/// A save with the current version writes and returns a new version.
pub async fn save_with_current_version<S: SessionStore>(store: &S) {
    let mut r = record(Some("u-save"), HOUR);
    r.version = store.create(&r).await.unwrap();
    let mut loaded = store.load(&r.id).await.unwrap().unwrap();
    loaded.data.insert("n".into(), json!(1));
    loaded.data.insert("added".into(), json!("yes"));
    let SaveOutcome::Saved(v2) = store.save(&loaded).await.unwrap() else {
        panic!("save must succeed")
    };
    assert_ne!(v2, loaded.version, "a save produces a new version");
    let got = store.load(&r.id).await.unwrap().unwrap();
    assert_eq!(got.data["n"], json!(1));
    assert_eq!(got.data["added"], json!("yes"));
    assert_eq!(got.version, v2);
    // Saving again with the new version works too.
    let mut again = got.clone();
    again.data.insert("n".into(), json!(2));
    assert!(matches!(
        store.save(&again).await.unwrap(),
        SaveOutcome::Saved(_)
    ));
}

/// A save with a stale version is a `Conflict` and writes nothing.
pub async fn save_with_stale_version_conflicts<S: SessionStore>(store: &S) {
    let r = record(None, HOUR);
    store.create(&r).await.unwrap();
    let a = store.load(&r.id).await.unwrap().unwrap();
    let mut b = a.clone();
    let mut a2 = a.clone();
    a2.data.insert("n".into(), json!("a"));
    assert!(matches!(
        store.save(&a2).await.unwrap(),
        SaveOutcome::Saved(_)
    ));
    b.data.insert("n".into(), json!("b"));
    assert_eq!(
        store.save(&b).await.unwrap(),
        SaveOutcome::Conflict,
        "stale version must conflict"
    );
    assert_eq!(
        store.load(&r.id).await.unwrap().unwrap().data["n"],
        json!("a"),
        "the conflicting write changed nothing"
    );
}

/// A save or touch after `delete` does not bring the record back.
pub async fn no_resurrection_after_delete<S: SessionStore>(store: &S) {
    let r = record(Some("u-resurrect"), HOUR);
    store.create(&r).await.unwrap();
    let loaded = store.load(&r.id).await.unwrap().unwrap();
    assert!(
        store.delete(&r.id).await.unwrap(),
        "delete reports the record existed"
    );
    let mut late = loaded.clone();
    late.data.insert("n".into(), json!(5));
    assert_eq!(
        store.save(&late).await.unwrap(),
        SaveOutcome::Missing,
        "save after delete must report Missing"
    );
    assert!(
        !store.touch(&r.id, now() + HOUR).await.unwrap(),
        "touch after delete must report false"
    );
    assert!(
        store.load(&r.id).await.unwrap().is_none(),
        "the deleted session stays deleted"
    );
    assert!(store.list_by_user("u-resurrect").await.unwrap().is_empty());
}

/// `touch` moves the expiry and keeps the data; touching a missing id creates nothing.
pub async fn touch_moves_expiry_only<S: SessionStore>(store: &S) {
    let r = record(None, Duration::from_secs(600));
    let v = store.create(&r).await.unwrap();
    let later = now() + Duration::from_secs(7200);
    assert!(store.touch(&r.id, later).await.unwrap());
    let got = store.load(&r.id).await.unwrap().unwrap();
    assert!(
        close(got.expires_at, later),
        "expiry moved: {} vs {later}",
        got.expires_at
    );
    assert_eq!(got.data, r.data);
    // A touch is not a data write: a save with the pre-touch version still succeeds.
    let mut w = got.clone();
    w.version = v;
    w.data.insert("n".into(), json!(3));
    assert!(
        matches!(store.save(&w).await.unwrap(), SaveOutcome::Saved(_)),
        "touch must not invalidate the version"
    );
    let missing = SessionId::generate();
    assert!(!store.touch(&missing, later).await.unwrap());
    assert!(store.load(&missing).await.unwrap().is_none());
}

/// Expired records are never loaded, listed or counted once reclaimed.
pub async fn expired_records_disappear<S: SessionStore>(store: &S) {
    let base = store.count().await.unwrap();
    let short = record(Some("u-expiry"), Duration::from_millis(1200));
    let long = record(Some("u-expiry"), HOUR);
    store.create(&short).await.unwrap();
    store.create(&long).await.unwrap();
    assert!(
        store.load(&short.id).await.unwrap().is_some(),
        "alive before its expiry"
    );
    let gone = eventually(Duration::from_secs(6), || async {
        store.load(&short.id).await.unwrap().is_none()
    })
    .await;
    assert!(gone, "an expired record must not load");
    store.delete_expired().await.unwrap();
    let listed = store.list_by_user("u-expiry").await.unwrap();
    assert_eq!(
        listed.iter().map(|r| &r.id).collect::<Vec<_>>(),
        vec![&long.id],
        "only the live session is listed"
    );
    let counted = eventually(Duration::from_secs(6), || async {
        store.count().await.unwrap() == base + 1
    })
    .await;
    assert!(
        counted,
        "count must drop the expired record after delete_expired / native expiry"
    );
    assert!(
        store.load(&long.id).await.unwrap().is_some(),
        "the live session is kept"
    );
}

/// `delete` removes a record and reports whether it existed.
pub async fn delete_removes<S: SessionStore>(store: &S) {
    let r = record(None, HOUR);
    store.create(&r).await.unwrap();
    assert!(store.delete(&r.id).await.unwrap());
    assert!(store.load(&r.id).await.unwrap().is_none());
    assert!(
        !store.delete(&r.id).await.unwrap(),
        "second delete finds nothing"
    );
}

/// Per-user listing follows create, save (user changes) and delete; `delete_by_user` keeps
/// the excepted session and other users' sessions.
pub async fn per_user_list_and_delete<S: SessionStore>(store: &S) {
    let a1 = record(Some("alice"), HOUR);
    let a2 = record(Some("alice"), HOUR);
    let a3 = record(Some("alice"), HOUR);
    let b1 = record(Some("bob"), HOUR);
    let anon = record(None, HOUR);
    for r in [&a1, &a2, &a3, &b1, &anon] {
        store.create(r).await.unwrap();
    }
    let mut ids: Vec<_> = store
        .list_by_user("alice")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    ids.sort();
    let mut want = vec![a1.id.clone(), a2.id.clone(), a3.id.clone()];
    want.sort();
    assert_eq!(ids, want);
    // Binding the anonymous session to alice by a save puts it in her list.
    let mut bound = store.load(&anon.id).await.unwrap().unwrap();
    bound.user = Some("alice".into());
    assert!(matches!(
        store.save(&bound).await.unwrap(),
        SaveOutcome::Saved(_)
    ));
    assert_eq!(store.list_by_user("alice").await.unwrap().len(), 4);
    // Rebinding a1 to bob moves it.
    let mut moved = store.load(&a1.id).await.unwrap().unwrap();
    moved.user = Some("bob".into());
    assert!(matches!(
        store.save(&moved).await.unwrap(),
        SaveOutcome::Saved(_)
    ));
    assert_eq!(store.list_by_user("alice").await.unwrap().len(), 3);
    assert_eq!(store.list_by_user("bob").await.unwrap().len(), 2);
    // Revoke all of alice's sessions except a2.
    assert_eq!(
        store.delete_by_user("alice", Some(&a2.id)).await.unwrap(),
        2
    );
    let left: Vec<_> = store
        .list_by_user("alice")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(left, vec![a2.id.clone()]);
    assert!(store.load(&a3.id).await.unwrap().is_none());
    assert!(store.load(&anon.id).await.unwrap().is_none());
    assert!(
        store.load(&b1.id).await.unwrap().is_some(),
        "other users are untouched"
    );
    assert_eq!(store.delete_by_user("alice", None).await.unwrap(), 1);
    assert!(store.list_by_user("alice").await.unwrap().is_empty());
    assert!(store.list_by_user("nobody").await.unwrap().is_empty());
}

/// `count` counts live records of this store.
pub async fn count_counts<S: SessionStore>(store: &S) {
    let base = store.count().await.unwrap();
    assert_eq!(base, 0, "the suite needs a fresh, empty store");
    let rs: Vec<_> = (0..3).map(|_| record(None, HOUR)).collect();
    for r in &rs {
        store.create(r).await.unwrap();
    }
    assert_eq!(store.count().await.unwrap(), 3);
    store.delete(&rs[0].id).await.unwrap();
    assert_eq!(store.count().await.unwrap(), 2);
}

/// 50 concurrent read-modify-write loops on one record (load, +1, conditional save, retry
/// on conflict) end at exactly 50.
pub async fn concurrent_conditional_updates<S: SessionStore + Clone>(store: &S) {
    let r = record(None, HOUR);
    store.create(&r).await.unwrap();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let store = store.clone();
            let id = r.id.clone();
            tokio::spawn(async move {
                for _ in 0..10_000 {
                    let mut cur = store.load(&id).await.unwrap().expect("exists");
                    let n = cur.data["n"].as_i64().unwrap();
                    cur.data.insert("n".into(), json!(n + 1));
                    match store.save(&cur).await.unwrap() {
                        SaveOutcome::Saved(_) => return,
                        SaveOutcome::Conflict => tokio::task::yield_now().await,
                        SaveOutcome::Missing => panic!("record vanished"),
                    }
                }
                panic!("no progress after 10000 attempts");
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        store.load(&r.id).await.unwrap().unwrap().data["n"],
        json!(50)
    );
}

/// Every page of a full scan with page size `limit`, bounded (a store whose cursor never
/// ends fails here instead of looping).
pub async fn scan_all<S: SessionStore>(store: &S, limit: usize) -> Vec<Record> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100_000 {
        let ScanPage { records, next } = store.scan(cursor.as_deref(), limit).await.expect("scan");
        out.extend(records);
        match next {
            Some(n) => {
                assert_ne!(
                    cursor.as_deref(),
                    Some(n.as_str()),
                    "the cursor must advance"
                );
                cursor = Some(n);
            }
            None => return out,
        }
    }
    panic!("scan did not finish within 100,000 pages");
}

/// A paged `scan` returns every live record (with its data), and nothing else.
pub async fn scan_returns_every_live_record<S: SessionStore>(store: &S) {
    // Records of earlier checks (in `run_all`) may be there already.
    let before: HashSet<SessionId> = scan_all(store, 1000)
        .await
        .into_iter()
        .map(|r| r.id)
        .collect();
    let mut made = HashSet::new();
    for i in 0..23 {
        let mut r = record(Some(if i % 2 == 0 { "u-scan-a" } else { "u-scan-b" }), HOUR);
        r.data.insert("i".into(), json!(i));
        store.create(&r).await.unwrap();
        made.insert(r.id.clone());
    }
    let short = record(None, Duration::from_millis(1200));
    store.create(&short).await.unwrap();
    let gone = eventually(Duration::from_secs(6), || async {
        store.load(&short.id).await.unwrap().is_none()
    })
    .await;
    assert!(gone, "the short record expires");
    let all = scan_all(store, 5).await;
    let seen: HashSet<SessionId> = all.iter().map(|r| r.id.clone()).collect();
    assert!(
        !seen.contains(&short.id),
        "an expired record is never scanned"
    );
    assert!(made.is_subset(&seen), "every live record is scanned");
    assert!(
        seen.iter()
            .all(|id| made.contains(id) || before.contains(id)),
        "scan returned a record that was never created"
    );
    for r in &all {
        let loaded = store
            .load(&r.id)
            .await
            .unwrap()
            .expect("scanned record loads");
        assert_eq!(r.data, loaded.data, "scan returns the stored data");
        assert_eq!(r.user, loaded.user);
    }
    // One big page works too.
    let one: HashSet<SessionId> = scan_all(store, 1000)
        .await
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert!(made.is_subset(&one));
}

/// A scan running while other tasks save, create and delete records still returns every
/// record that stayed live throughout, and nothing that never existed.
pub async fn scan_under_concurrent_writes<S: SessionStore + Clone>(store: &S) {
    let before = scan_all(store, 1000).await.into_iter().map(|r| r.id);
    let mut kept = Vec::new();
    let mut doomed = Vec::new();
    for i in 0..40 {
        let mut r = record(None, HOUR);
        r.version = store.create(&r).await.unwrap();
        if i < 30 { kept.push(r) } else { doomed.push(r) }
    }
    let writer = {
        let store = store.clone();
        let kept = kept.clone();
        let doomed = doomed.clone();
        tokio::spawn(async move {
            let mut created = Vec::new();
            for round in 0..3 {
                for r in &kept[..20] {
                    let mut cur = store.load(&r.id).await.unwrap().expect("kept record");
                    cur.data.insert("round".into(), json!(round));
                    store.save(&cur).await.unwrap();
                }
                for _ in 0..7 {
                    let n = record(None, HOUR);
                    store.create(&n).await.unwrap();
                    created.push(n.id);
                }
                tokio::task::yield_now().await;
            }
            for r in &doomed {
                store.delete(&r.id).await.unwrap();
            }
            created
        })
    };
    let scanned = scan_all(store, 4).await;
    let created = writer.await.expect("writer task");
    let seen: HashSet<SessionId> = scanned.into_iter().map(|r| r.id).collect();
    for r in &kept {
        assert!(
            seen.contains(&r.id),
            "a record live throughout the scan was missed"
        );
    }
    let known: HashSet<SessionId> = kept
        .iter()
        .chain(&doomed)
        .map(|r| r.id.clone())
        .chain(created)
        .chain(before)
        .collect();
    assert!(
        seen.is_subset(&known),
        "scan returned a record that never existed"
    );
}

/// The one list of checks: [`run_all`] and [`conformance_tests!`](crate::conformance_tests)
/// both expand it, so they can never drift apart.
#[doc(hidden)]
#[macro_export]
macro_rules! __tessera_conformance_checks {
    ([$($cb:tt)*] $($args:tt)*) => {
        $($cb)*! {$($args)*;
            count_counts, create_then_load, create_rejects_duplicate_id, load_missing_is_none,
            save_with_current_version, save_with_stale_version_conflicts,
            no_resurrection_after_delete, touch_moves_expiry_only, delete_removes,
            per_user_list_and_delete, concurrent_conditional_updates,
            scan_returns_every_live_record, scan_under_concurrent_writes,
            expired_records_disappear}
    };
}

/// Runs every check in sequence on one fresh store.
pub async fn run_all<S: SessionStore + Clone>(store: &S) {
    macro_rules! run {
        ($store:ident; $($name:ident),*) => { $( $name($store).await; )* };
    }
    crate::__tessera_conformance_checks!([run] store);
}

/// Generates one `#[tokio::test]` per conformance check. `$make` is an async expression
/// evaluating to `Option<Store>` (a fresh, empty store, or `None` to skip via [`skip`]).
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::__tessera_conformance_checks!([$crate::__tessera_conformance_each] $make);
    };
}

/// One `#[tokio::test]` per check (used by [`conformance_tests!`](crate::conformance_tests)).
#[doc(hidden)]
#[macro_export]
macro_rules! __tessera_conformance_each {
    ($make:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(store) = $make.await {
                    $crate::testkit::$name(&store).await;
                }
            }
        )*
    };
}
