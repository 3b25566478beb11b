//! Concurrent requests on one session never lose each other's writes.

mod common;

use axum::Router;
use axum::routing::post;
use common::*;
use http::StatusCode;
use std::sync::Arc;
use tessera::{MemoryStore, Session, SessionLayer, SessionStore};
use tokio::sync::Notify;

async fn hammer(apps: &[Router], cookie: &str, paths: Vec<String>) -> Vec<Resp> {
    let tasks: Vec<_> = paths
        .into_iter()
        .enumerate()
        .map(|(i, path)| {
            let app = apps[i % apps.len()].clone();
            let cookie = cookie.to_owned();
            tokio::spawn(async move { send(&app, "POST", &path, Some(&cookie)).await })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_updates_through_two_layers_end_at_200() {
    let store = MemoryStore::default();
    let a = app(store.clone(), config().build().unwrap());
    let b = app(store.clone(), config().build().unwrap());
    let mut c = Client::new(a.clone());
    c.req("POST", "/set/start/1").await;
    let cookie = c.cookie.clone().unwrap();
    let results = hammer(&[a, b], &cookie, vec!["/incr".into(); 200]).await;
    assert!(
        results.iter().all(|r| r.status == StatusCode::OK),
        "{:?}",
        results.iter().find(|r| r.status != StatusCode::OK)
    );
    assert_eq!(c.req("GET", "/get/n").await.body, "200");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_inserts_of_fifty_keys_all_survive() {
    let store = MemoryStore::default();
    let a = app(store.clone(), config().build().unwrap());
    let b = app(store.clone(), config().build().unwrap());
    let mut c = Client::new(a.clone());
    c.req("POST", "/set/start/1").await;
    let cookie = c.cookie.clone().unwrap();
    let paths = (0..50).map(|i| format!("/set/k{i}/v{i}")).collect();
    let results = hammer(&[a, b], &cookie, paths).await;
    assert!(results.iter().all(|r| r.status == StatusCode::OK));
    for i in 0..50 {
        assert_eq!(
            c.req("GET", &format!("/get/k{i}")).await.body,
            format!("\"v{i}\""),
            "key k{i} lost"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_save_after_a_concurrent_destroy_does_not_resurrect_the_session() {
    let store = MemoryStore::default();
    let loaded = Arc::new(Notify::new());
    let proceed = Arc::new(Notify::new());
    let (l, p) = (loaded.clone(), proceed.clone());
    let slow = Router::new()
        .route(
            "/slow",
            post(move |s: Session| {
                let (l, p) = (l.clone(), p.clone());
                async move {
                    s.insert("late", true).await?;
                    l.notify_one();
                    p.notified().await;
                    Ok::<_, tessera::Error>("slow done")
                }
            }),
        )
        .merge(routes())
        .layer(SessionLayer::new(store.clone(), config().build().unwrap()));
    let mut c = Client::new(slow.clone());
    c.req("POST", "/login/zoe").await;
    let cookie = c.cookie.clone().unwrap();
    let app = slow.clone();
    let ck = cookie.clone();
    let pending = tokio::spawn(async move { send(&app, "POST", "/slow", Some(&ck)).await });
    loaded.notified().await;
    let logout = c.req("POST", "/destroy").await;
    assert_eq!(logout.status, StatusCode::OK);
    proceed.notify_one();
    let late = pending.await.unwrap();
    assert_eq!(
        late.status,
        StatusCode::CONFLICT,
        "the late write is refused, not silently claimed"
    );
    assert!(late.set_cookies.is_empty());
    assert!(
        store.load(&id_of(&cookie)).await.unwrap().is_none(),
        "the logged-out session stays gone"
    );
    assert!(store.list_by_user("zoe").await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_saves_of_one_session_are_combined_and_none_is_lost() {
    let store = Counting::default();
    store
        .save_delay_ms
        .store(5, std::sync::atomic::Ordering::SeqCst);
    let a = app(store.clone(), config().build().unwrap());
    let mut c = Client::new(a.clone());
    c.req("POST", "/set/start/1").await;
    let cookie = c.cookie.clone().unwrap();
    let mut paths: Vec<String> = vec!["/incr".into(); 200];
    paths.extend((0..20).map(|i| format!("/set/k{i}/v{i}")));
    let results = hammer(&[a], &cookie, paths).await;
    assert!(results.iter().all(|r| r.status == StatusCode::OK));
    let saves = store.counts.get(&store.counts.save);
    assert!(
        saves < 110,
        "220 writes of one session while each save takes 5 ms should be combined, took {saves} saves"
    );
    assert_eq!(
        c.req("GET", "/get/n").await.body,
        "200",
        "every increment is kept"
    );
    for i in 0..20 {
        assert_eq!(
            c.req("GET", &format!("/get/k{i}")).await.body,
            format!("\"v{i}\"")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancelled_requests_never_leave_a_session_stuck() {
    // Clients that go away mid-save (wrk at the end of a run, a closed tab) drop their
    // request futures, leaders and queued writers alike. The next write must still go through.
    let store = Counting::default();
    store
        .save_delay_ms
        .store(10, std::sync::atomic::Ordering::SeqCst);
    let a = app(store.clone(), config().build().unwrap());
    let mut c = Client::new(a.clone());
    c.req("POST", "/set/start/1").await;
    let cookie = c.cookie.clone().unwrap();
    for round in 0..8u64 {
        let tasks: Vec<_> = (0..40)
            .map(|_| {
                let (app, cookie) = (a.clone(), cookie.clone());
                tokio::spawn(async move { send(&app, "POST", "/incr", Some(&cookie)).await })
            })
            .collect();
        // Cancel them while saves are in flight and others are queued behind them.
        tokio::time::sleep(std::time::Duration::from_millis(5 + round * 3)).await;
        for t in &tasks {
            t.abort();
        }
        for t in tasks {
            let _ = t.await;
        }
        let next = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            send(&a, "POST", "/incr", Some(&cookie)),
        )
        .await
        .unwrap_or_else(|_| panic!("round {round}: a write after cancelled writes hung"));
        assert_eq!(next.status, StatusCode::OK);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_replay_fails_only_its_own_request() {
    // Writes combined into one save are independent: an `update` whose closure cannot read
    // the fresher value (here `n` became a string) fails its own request, and the writes it
    // was combined with are saved anyway.
    let store = Counting::default();
    let a = app(store.clone(), config().build().unwrap());
    let mut c = Client::new(a.clone());
    c.req("POST", "/set/start/1").await;
    assert_eq!(c.req("POST", "/incr").await.body, "1");
    let cookie = c.cookie.clone().unwrap();
    store
        .save_delay_ms
        .store(100, std::sync::atomic::Ordering::SeqCst);
    // The leader turns n into a string; its save takes 100 ms, so the writes below queue
    // behind it and are then saved together on top of its record.
    let started = store.save_started.notified();
    tokio::pin!(started);
    started.as_mut().enable();
    let leader = {
        let (app, cookie) = (a.clone(), cookie.clone());
        tokio::spawn(async move { send(&app, "POST", "/set/n/text", Some(&cookie)).await })
    };
    started.await;
    let paths: Vec<String> = (0..10)
        .flat_map(|i| ["/incr".to_owned(), format!("/set/k{i}/v{i}")])
        .collect();
    let results = hammer(std::slice::from_ref(&a), &cookie, paths.clone()).await;
    assert_eq!(leader.await.unwrap().status, StatusCode::OK);
    for (path, r) in paths.iter().zip(&results) {
        let expected = if path == "/incr" {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::OK
        };
        assert_eq!(r.status, expected, "{path}: {r:?}");
    }
    store
        .save_delay_ms
        .store(0, std::sync::atomic::Ordering::SeqCst);
    for i in 0..10 {
        assert_eq!(
            c.req("GET", &format!("/get/k{i}")).await.body,
            format!("\"v{i}\""),
            "k{i} was combined with a failing update and must still be saved"
        );
    }
    assert_eq!(c.req("GET", "/get/n").await.body, "\"text\"");
}

/// `try_update`: concurrent pushes onto a list capped at 5, through two layers sharing a
/// store. Every push the handler answered 201 is kept, and every other one was told so
/// (409, whether refused at once or on replay against a fresher list).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refused_updates_are_never_reported_as_done() {
    const CAP: usize = 5;
    async fn push(s: Session) -> Result<(StatusCode, String), tessera::Error> {
        let pushed = s
            .try_update("items", |old: Option<Vec<u32>>| {
                let mut items = old.unwrap_or_default();
                if items.len() >= CAP {
                    return Err("full");
                }
                items.push(1);
                Ok(items)
            })
            .await?;
        Ok(match pushed {
            Ok(items) => (StatusCode::CREATED, items.len().to_string()),
            Err(e) => (StatusCode::CONFLICT, e.to_owned()),
        })
    }
    let store = MemoryStore::default();
    let app = |store: MemoryStore| {
        routes()
            .route("/push", post(push))
            .layer(SessionLayer::new(store, config().build().unwrap()))
    };
    let (a, b) = (app(store.clone()), app(store.clone()));
    let mut c = Client::new(a.clone());
    c.req("POST", "/set/start/1").await;
    let cookie = c.cookie.clone().unwrap();
    let results = hammer(&[a, b], &cookie, vec!["/push".into(); 40]).await;
    let created = results
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    let refused_on_replay = results
        .iter()
        .filter(|r| r.failure.is_some_and(|f| f.status == StatusCode::CONFLICT))
        .count();
    assert!(
        results
            .iter()
            .all(|r| matches!(r.status, StatusCode::CREATED | StatusCode::CONFLICT)),
        "{results:?}"
    );
    let kept: Vec<u32> = serde_json::from_str(&c.req("GET", "/get/items").await.body).unwrap();
    assert_eq!(kept.len(), CAP);
    assert_eq!(created, kept.len(), "201 answers vs items kept");
    eprintln!("{created} created, {refused_on_replay} refused on replay");
}
