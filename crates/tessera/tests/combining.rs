//! Write combining is per session: a save of one session that hangs in the store never
//! holds up a save of another session, and combining still merges saves of one session.

mod common;

use common::*;
use http::StatusCode;
use std::sync::Arc;
use tessera::{MemoryStore, Record, SaveOutcome, SessionId, SessionStore, StoreError};
use time::OffsetDateTime;
use tokio::sync::{Notify, Semaphore};

/// A memory store whose saves of one chosen session wait for a permit.
#[derive(Clone)]
struct Gated {
    inner: MemoryStore,
    blocked: Arc<std::sync::Mutex<Option<SessionId>>>,
    /// Signalled when a save of the blocked session reached the store.
    reached: Arc<Notify>,
    release: Arc<Semaphore>,
}

impl SessionStore for Gated {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        self.inner.load(id).await
    }
    async fn create(&self, r: &Record) -> Result<u64, StoreError> {
        self.inner.create(r).await
    }
    async fn save(&self, r: &Record) -> Result<SaveOutcome, StoreError> {
        let blocked = self.blocked.lock().unwrap().as_ref() == Some(&r.id);
        if blocked {
            self.reached.notify_one();
            let _permit = self.release.acquire().await.unwrap();
        }
        self.inner.save(r).await
    }
    async fn touch(&self, id: &SessionId, e: OffsetDateTime) -> Result<bool, StoreError> {
        self.inner.touch(id, e).await
    }
    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        self.inner.delete(id).await
    }
    async fn list_by_user(&self, u: &str) -> Result<Vec<Record>, StoreError> {
        self.inner.list_by_user(u).await
    }
    async fn delete_by_user(&self, u: &str, e: Option<&SessionId>) -> Result<u64, StoreError> {
        self.inner.delete_by_user(u, e).await
    }
    async fn count(&self) -> Result<u64, StoreError> {
        self.inner.count().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_save_of_one_session_does_not_delay_another_session() {
    let store = Gated {
        inner: MemoryStore::default(),
        blocked: Default::default(),
        reached: Default::default(),
        release: Arc::new(Semaphore::new(0)),
    };
    // A long store timeout: if B waited behind A, this test would hang (and fail below).
    let layer = tessera::SessionLayer::new(
        store.clone(),
        config()
            .store_timeout(std::time::Duration::from_secs(600))
            .build()
            .unwrap(),
    );
    let app = routes().layer(layer.clone());
    // 2,000 sessions: with the old design's 256 write stripes, some of them would share A's
    // stripe (all but with probability (255/256)^1999 < 0.1 %) and wait behind it.
    let mut cookies = Vec::new();
    for _ in 0..2_000 {
        let r = send(&app, "POST", "/incr", None).await;
        cookies.push(pair(r.cookie().expect("cookie")));
    }
    let a = cookies[0].clone();
    *store.blocked.lock().unwrap() = Some(id_of(&a));
    let blocked = tokio::spawn({
        let app = app.clone();
        let a = a.clone();
        async move { send(&app, "POST", "/incr", Some(&a)).await }
    });
    store.reached.notified().await;
    // A's save is now held inside the store. Every other session saves at once.
    for (i, b) in cookies[1..].iter().enumerate() {
        let r = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            send(&app, "POST", "/incr", Some(b)),
        )
        .await
        .unwrap_or_else(|_| panic!("session #{} waited behind the blocked session", i + 1));
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body, "2");
    }
    assert!(!blocked.is_finished(), "A is still blocked in the store");
    // A second request of A queues behind A's save and is combined with it.
    let queued = tokio::spawn({
        let app = app.clone();
        async move { send(&app, "POST", "/incr", Some(&a)).await }
    });
    while layer.engine().saves_in_flight() != 1 {
        tokio::task::yield_now().await;
    }
    store.release.add_permits(1_000);
    assert_eq!(blocked.await.unwrap().status, StatusCode::OK);
    assert_eq!(queued.await.unwrap().status, StatusCode::OK);
    let c = cookies[0].clone();
    assert_eq!(send(&app, "GET", "/get/n", Some(&c)).await.body, "3");
    assert_eq!(
        layer.engine().saves_in_flight(),
        0,
        "the combining table is empty once no save is in flight"
    );
}
