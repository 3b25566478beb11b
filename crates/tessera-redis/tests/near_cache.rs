//! The near cache against real Redis: what one process caches, another process's write,
//! delete or expiry change (or any other client's) takes away; a lost connection or a
//! restarted server empties it. (The conformance suite and the layer test kit also run
//! with the cache on: tests/conformance.rs, tests/layer_kit.rs.)

mod common;

use common::{Fresh, Server, Target, raw, unique_prefix};
use std::time::{Duration, Instant};
use tessera::{Record, SaveOutcome, SessionId, SessionStore};
use tessera_redis::{NearCacheStats, RedisStore};
use time::OffsetDateTime;

fn record(n: u64) -> Record {
    let now = OffsetDateTime::now_utc();
    let mut r = Record::new(SessionId::generate(), now, now + Duration::from_secs(600));
    r.data.insert("n".into(), n.into());
    r
}

fn n(r: &Option<Record>) -> Option<u64> {
    r.as_ref().and_then(|r| r.data.get("n")?.as_u64())
}

fn stats(store: &RedisStore) -> NearCacheStats {
    store.near_cache_stats().expect("near cache on")
}

/// Loads through `store` until `done` holds for what it returns; the time it took.
/// (Stale answers come from memory, so this is a tight loop of cache hits.)
async fn until(
    store: &RedisStore,
    id: &SessionId,
    what: &str,
    done: impl Fn(&Option<Record>) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        let r = store.load(id).await.expect("load");
        if done(&r) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{what}: still {:?} after 5 s",
            n(&r)
        );
        tokio::task::yield_now().await;
    }
}

/// Waits (bounded) for a counter of the cache to move: the signal that a push arrived.
async fn until_stats(store: &RedisStore, what: &str, done: impl Fn(NearCacheStats) -> bool) {
    let start = Instant::now();
    while !done(stats(store)) {
        assert!(start.elapsed() < Duration::from_secs(10), "{what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_instances_writes_are_seen_within_a_bounded_delay() {
    coherence(Target::single().await).await;
}

/// The same on a Redis Cluster (tracking on each node's connection).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_another_instances_writes_are_seen_within_a_bounded_delay() {
    coherence(Target::cluster()).await;
}

async fn coherence(target: Option<Target>) {
    let Some(target) = target else {
        return;
    };
    let fresh = Fresh::new(&target, |b| b.near_cache(100)).await;
    let a = fresh.store.clone();
    let b = fresh.twin_with(&target, |b| b.near_cache(100)).await;
    let r = record(0);
    a.create(&r).await.unwrap();
    assert_eq!(n(&a.load(&r.id).await.unwrap()), Some(0));
    assert_eq!(n(&a.load(&r.id).await.unwrap()), Some(0));
    assert_eq!(
        (stats(&a).misses, stats(&a).hits),
        (1, 1),
        "second load from memory"
    );

    let mut delays = Vec::with_capacity(1000);
    for i in 1..=1000u64 {
        let mut theirs = b.load(&r.id).await.unwrap().expect("exists");
        theirs.data.insert("n".into(), i.into());
        assert!(matches!(
            b.save(&theirs).await.unwrap(),
            SaveOutcome::Saved(_)
        ));
        delays.push(until(&a, &r.id, "a write by B", |x| n(x) == Some(i)).await);
    }
    delays.sort();
    let p = |q: f64| delays[((delays.len() as f64 * q) as usize).min(delays.len() - 1)];
    println!(
        "{target:?}: invalidation delay over 1000 writes by another instance: p50 {:?}, p99 {:?}, max {:?}",
        p(0.50),
        p(0.99),
        delays[delays.len() - 1]
    );
    let st = stats(&a);
    assert!(
        st.invalidations >= 1000,
        "one invalidation per write: {st:?}"
    );
    // B saved on top of its own cached copy after the first read: its own writes kept it
    // warm (a save updates the entry; Redis spares it the echo).
    assert!(
        stats(&b).hits >= 990,
        "B's own saves keep its entry: {:?}",
        stats(&b)
    );

    // A logout (delete) on B: the session is gone for A too.
    assert!(b.delete(&r.id).await.unwrap());
    until(&a, &r.id, "a delete by B", |x| x.is_none()).await;
    fresh.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_clients_writes_invalidate_node_style_set_pexpire_and_del() {
    let Some(target) = Target::single().await else {
        return;
    };
    let fresh = Fresh::new(&target, |b| b.near_cache(100)).await;
    let a = fresh.store.clone();
    let mut c = raw(&target).await;
    let r = record(1);
    a.create(&r).await.unwrap();
    a.load(&r.id).await.unwrap();
    let key = a.session_key(&r.id);

    // What connect-redis writes: the express-session JSON with a TTL.
    let node = r#"{"cookie":{"originalMaxAge":600000,"expires":"2099-01-01T00:00:00.000Z","httpOnly":true,"path":"/"},"n":7}"#;
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg(node)
        .arg("PX")
        .arg(600_000)
        .query_async(&mut c)
        .await
        .unwrap();
    until(&a, &r.id, "a Node-style SET", |x| n(x) == Some(7)).await;

    let before = stats(&a).invalidations;
    let _: () = redis::cmd("PEXPIRE")
        .arg(&key)
        .arg(900_000)
        .query_async(&mut c)
        .await
        .unwrap();
    until_stats(&a, "PEXPIRE by another client", |s| {
        s.invalidations > before
    })
    .await;
    let loaded = a.load(&r.id).await.unwrap().expect("still there");
    let left = loaded.expires_at - OffsetDateTime::now_utc();
    assert!(
        left > time::Duration::seconds(800),
        "the new expiry is read: {left}"
    );

    let _: () = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut c)
        .await
        .unwrap();
    until(&a, &r.id, "DEL by another client", |x| x.is_none()).await;
    fresh.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_connection_or_a_restarted_server_empties_the_cache() {
    let Some(mut server) = Server::start().await else {
        return;
    };
    let a = RedisStore::builder()
        .url(server.url())
        .prefix(unique_prefix())
        .near_cache(100)
        .command_timeout(Duration::from_millis(500))
        .build()
        .await
        .unwrap();
    let r = record(1);
    a.create(&r).await.unwrap();
    a.load(&r.id).await.unwrap();
    let key = a.session_key(&r.id);
    let mut c = server.conn().await;
    let set = |value: u64| {
        let mut cmd = redis::cmd("SET");
        cmd.arg(&key)
            .arg(format!(r#"{{"cookie":{{}},"n":{value}}}"#))
            .arg("PX")
            .arg(600_000);
        cmd
    };

    // The tracking connection is killed; another client writes while it is down (no
    // invalidation can reach this process). The cache must not survive.
    let _: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("normal")
        .arg("SKIPME")
        .arg("yes")
        .query_async(&mut c)
        .await
        .unwrap();
    let _: () = set(2).query_async(&mut c).await.unwrap();
    until_stats(&a, "a flush after the connection was killed", |s| {
        s.flushes >= 1
    })
    .await;
    assert_eq!(n(&a.load(&r.id).await.unwrap()), Some(2));
    assert_eq!(n(&a.load(&r.id).await.unwrap()), Some(2));
    let hits = stats(&a).hits;
    assert!(
        hits >= 1,
        "cached again after reconnecting: {:?}",
        stats(&a)
    );

    // The server dies (kill -9) and comes back; a client writes a newer value.
    server.kill();
    server.restart().await;
    let mut c = server.conn().await;
    let _: () = set(3).query_async(&mut c).await.unwrap();
    until_stats(&a, "a flush after the server restarted", |s| s.flushes >= 2).await;
    assert_eq!(n(&a.load(&r.id).await.unwrap()), Some(3));
    // ...and invalidation works on the new connection.
    let _: () = set(4).query_async(&mut c).await.unwrap();
    until(&a, &r.id, "a write after the restart", |x| n(x) == Some(4)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_is_bounded_by_entries_and_value_size() {
    let Some(target) = Target::single().await else {
        return;
    };
    let fresh = Fresh::new(&target, |b| b.near_cache(10)).await;
    let a = fresh.store.clone();
    let mut ids = Vec::new();
    for i in 0..100 {
        let r = record(i);
        a.create(&r).await.unwrap();
        a.load(&r.id).await.unwrap();
        ids.push(r.id);
    }
    assert_eq!(
        stats(&a).entries,
        10,
        "an attacker with many sessions cannot grow it"
    );

    let mut big = record(1);
    big.data.insert(
        "blob".into(),
        "x".repeat(tessera_redis::MAX_VALUE_BYTES).into(),
    );
    a.create(&big).await.unwrap();
    let hits = stats(&a).hits;
    for _ in 0..3 {
        assert!(a.load(&big.id).await.unwrap().is_some());
    }
    assert_eq!(
        stats(&a).hits,
        hits,
        "values over the limit are read from Redis"
    );
    fresh.cleanup().await;
}

/// Two cached instances and a plain client race on a few keys (loads, saves, foreign
/// `SET`s and `DEL`s, recreations); once everyone stops, both caches must converge to what
/// Redis holds. A fill that slipped past an invalidation would stay stale forever and
/// fail here.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn caches_converge_to_redis_after_racing_writers() {
    let Some(target) = Target::single().await else {
        return;
    };
    let fresh = Fresh::new(&target, |b| b.near_cache(8)).await;
    let a = fresh.store.clone();
    let b = fresh.twin_with(&target, |b| b.near_cache(8)).await;
    let ids: Vec<SessionId> = (0..12).map(|_| SessionId::generate()).collect();
    let template = record(0);
    // Rounds: a stale fill is only visible if nothing overwrites it before the check, so
    // check often (each round ends with every writer stopped).
    for round in 0..12u64 {
        let mut tasks = Vec::new();
        for t in 0..8u64 {
            let (a, b, ids, template) = (a.clone(), b.clone(), ids.clone(), template.clone());
            let mut c = raw(&target).await;
            tasks.push(tokio::spawn(async move {
                let mut x = (t + 8 * round).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                for _ in 0..120 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let id = &ids[(x % ids.len() as u64) as usize];
                    let store = if x & 0x100 == 0 { &a } else { &b };
                    match (x >> 9) % 8 {
                        0..=2 => {
                            store.load(id).await.unwrap();
                        }
                        3..=4 => {
                            if let Some(mut r) = store.load(id).await.unwrap() {
                                let n = r.data.get("n").and_then(|v| v.as_u64()).unwrap_or(0);
                                r.data.insert("n".into(), (n + 1).into());
                                store.save(&r).await.unwrap();
                            }
                        }
                        5 => {
                            let _: () = redis::cmd("SET")
                                .arg(store.session_key(id))
                                .arg(format!(r#"{{"cookie":{{}},"n":{}}}"#, x % 1000))
                                .arg("PX")
                                .arg(600_000)
                                .query_async(&mut c)
                                .await
                                .unwrap();
                        }
                        6 => {
                            store.delete(id).await.unwrap();
                        }
                        _ => {
                            let mut r = template.clone();
                            r.id = id.clone();
                            let _ = store.create(&r).await; // taken ids are fine
                        }
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let mut c = raw(&target).await;
        for id in &ids {
            let raw: Option<String> = redis::cmd("GET")
                .arg(a.session_key(id))
                .query_async(&mut c)
                .await
                .unwrap();
            let want: Option<u64> = raw.map(|j| {
                let v: serde_json::Value = serde_json::from_str(&j).unwrap();
                v["n"].as_u64().unwrap_or(0)
            });
            for (name, store) in [("A", &a), ("B", &b)] {
                until(store, id, &format!("{name} converging"), |r| {
                    r.as_ref()
                        .map(|r| r.data.get("n").and_then(|v| v.as_u64()).unwrap_or(0))
                        == want
                })
                .await;
            }
        }
    }
    fresh.cleanup().await;
}
