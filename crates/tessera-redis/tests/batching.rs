//! Command batching on the single-server connection (see `src/batch.rs`): concurrent
//! commands share round trips, every caller still gets exactly its own reply (errors
//! included), and callers that give up do not disturb the others.

mod common;

use common::*;
use std::future::Future as _;
use std::time::Duration;
use tessera::{Record, SessionId, SessionStore};
use time::OffsetDateTime;

/// Redis's count of read events it processed (one per `read` of a client socket), and
/// of `GET` commands it ran.
async fn reads_and_gets(c: &mut redis::aio::MultiplexedConnection) -> (u64, u64) {
    let info: String = redis::cmd("INFO").arg("all").query_async(c).await.unwrap();
    let reads = info
        .lines()
        .find_map(|l| l.strip_prefix("total_reads_processed:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("INFO stats has total_reads_processed");
    let gets = info
        .lines()
        .find_map(|l| l.strip_prefix("cmdstat_get:calls="))
        .and_then(|rest| rest.split(',').next()?.parse().ok())
        .unwrap_or(0);
    (reads, gets)
}

async fn stored_record(store: &tessera_redis::RedisStore, n: u64) -> SessionId {
    let now = OffsetDateTime::now_utc();
    let mut r = Record::new(SessionId::generate(), now, now + Duration::from_secs(600));
    r.data.insert("n".into(), n.into());
    store.create(&r).await.unwrap();
    r.id
}

/// Redis socket reads and `GET`s for 200 loads of one session that become ready at the
/// same moment on the one worker thread (spawned from a task on that worker, so all are
/// queued before any runs).
async fn reads_for_200_concurrent_loads(batch: bool) -> (u64, u64) {
    let server = Server::start().await.expect("redis-server");
    let store = tessera_redis::RedisStore::builder()
        .url(server.url())
        .batch_commands(batch)
        .build()
        .await
        .unwrap();
    let id = stored_record(&store, 7).await;
    store.load(&id).await.unwrap(); // notes the expiry: later loads are one GET each
    let mut stats = server.conn().await;
    let before = reads_and_gets(&mut stats).await;
    let loads = tokio::spawn(async move {
        let tasks: Vec<_> = (0..200)
            .map(|_| {
                let (store, id) = (store.clone(), id.clone());
                tokio::spawn(async move { store.load(&id).await })
            })
            .collect();
        for t in tasks {
            let r = t.await.unwrap().unwrap().expect("record");
            assert_eq!(r.data["n"], 7);
        }
    });
    loads.await.unwrap();
    let after = reads_and_gets(&mut stats).await;
    // Minus the INFO call itself.
    (after.0 - before.0 - 1, after.1 - before.1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn concurrent_commands_share_round_trips() {
    if Server::start().await.is_none() {
        return;
    }
    let (batched, gets) = reads_for_200_concurrent_loads(true).await;
    // For comparison only: how much redis-rs coalesces on its own depends on scheduling.
    let (unbatched, unbatched_gets) = reads_for_200_concurrent_loads(false).await;
    eprintln!(
        "200 concurrent loads of one session: batched {batched} reads, {gets} GETs; \
         unbatched {unbatched} reads, {unbatched_gets} GETs"
    );
    assert!(batched <= 10, "batched: {batched} reads for 200 loads");
    // Loads of one session in one batch share one GET.
    assert!(
        gets <= 10,
        "batched: {gets} GETs for 200 loads of one session"
    );
    assert_eq!(
        unbatched_gets, 200,
        "without batching every load sends its GET"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_caller_gets_its_own_reply_in_a_mixed_batch() {
    let Some(target) = Target::single().await else {
        return;
    };
    let fresh = Fresh::new(&target, |b| b).await;
    let store = &fresh.store;
    let mut raw = raw(&target).await;
    let mut ids = Vec::new();
    for n in 0..60 {
        let id = stored_record(store, n).await;
        if n % 3 == 0 {
            // A key of the wrong type: GET answers WRONGTYPE for this caller only.
            let key = store.session_key(&id);
            redis::pipe()
                .del(&key)
                .hset(&key, "f", "v")
                .query_async::<()>(&mut raw)
                .await
                .unwrap();
        }
        ids.push((n, id));
    }
    let missing = SessionId::generate();
    // Every session twice: the second load of a session shares the first one's GET.
    let tasks: Vec<_> = ids
        .iter()
        .chain(ids.iter())
        .cloned()
        .map(|(n, id)| {
            let store = store.clone();
            tokio::spawn(async move { (n, store.load(&id).await) })
        })
        .chain(std::iter::once({
            let (store, id) = (store.clone(), missing.clone());
            tokio::spawn(async move { (u64::MAX, store.load(&id).await) })
        }))
        .collect();
    for t in tasks {
        match t.await.unwrap() {
            (u64::MAX, r) => assert!(r.unwrap().is_none(), "unknown id loads as absent"),
            (n, r) if n % 3 == 0 => assert!(r.is_err(), "session {n}: {r:?}"),
            (n, r) => assert_eq!(r.unwrap().expect("record").data["n"], n),
        }
    }
    fresh.cleanup().await;
}

// One thread: the flush task cannot run (and answer) between queueing and the poll below.
#[tokio::test(flavor = "current_thread")]
async fn callers_that_give_up_do_not_disturb_the_batch() {
    let Some(target) = Target::single().await else {
        return;
    };
    let fresh = Fresh::new(&target, |b| b).await;
    let store = &fresh.store;
    let id = stored_record(store, 1).await;
    // Polled once (so the command is queued), then dropped before the batch goes out.
    for _ in 0..10 {
        let mut load = std::pin::pin!(store.load(&id));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(load.as_mut().poll(&mut cx).is_pending());
    }
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (store, id) = (store.clone(), id.clone());
            tokio::spawn(async move { store.load(&id).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().expect("record").data["n"], 1);
    }
    fresh.cleanup().await;
}
