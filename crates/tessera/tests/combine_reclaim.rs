//! The write-combining table holds only sessions with a save in flight: after 100,000
//! distinct sessions were saved (1,000 at a time), the heap is back where it was.
//! A counting global allocator measures live heap bytes; `harness = false` so the
//! allocator sees only this test.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;
use tessera::{Engine, MemoryStore, RequestParts, SessionConfig, SessionStore};

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: delegates to the system allocator, only counting sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::SeqCst)
}

const SESSIONS: usize = 100_000;
const CONCURRENT: usize = 1_000;

/// One request that increments `n` in the session behind `cookie`.
async fn bump(engine: Engine, cookie: String) {
    let session = engine
        .begin(RequestParts::new("/").cookie(Some(&cookie)))
        .expect("in path");
    let n = session
        .update("n", |n: Option<u64>| n.unwrap_or(0) + 1)
        .await
        .expect("update");
    assert_eq!(n, 1);
    let done = engine.finish(&session, 200).await;
    assert!(done.error().is_none(), "{:?}", done.error());
}

async fn bump_all(engine: &Engine, cookies: &[String]) {
    for chunk in cookies.chunks(CONCURRENT) {
        let mut tasks = tokio::task::JoinSet::new();
        for c in chunk {
            tasks.spawn(bump(engine.clone(), c.clone()));
        }
        while let Some(r) = tasks.join_next().await {
            r.expect("request task");
        }
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = MemoryStore::builder()
            .max_entries(SESSIONS + 1)
            .without_sweep()
            .build();
        let config = SessionConfig::builder()
            .secret("a secret of at least thirty-two bytes for this test")
            .build()
            .unwrap();
        let engine = Engine::new(store.clone(), config.clone());
        let mut cookies = Vec::with_capacity(SESSIONS);
        for _ in 0..SESSIONS {
            let r = tessera::testkit::record(None, Duration::from_secs(3600));
            store.create(&r).await.unwrap();
            cookies.push(config.sign(&r.id));
        }
        // Warm up (runtime, allocator caches, the table's shards at their working size).
        bump_all(&engine, &cookies[..CONCURRENT]).await;
        let baseline = live();
        bump_all(&engine, &cookies[CONCURRENT..]).await;
        let after = live();
        let grown = after - baseline;
        println!(
            "combine_reclaim: {} distinct sessions saved {CONCURRENT} at a time; heap {baseline} B before, {after} B after ({grown:+} B)",
            SESSIONS - CONCURRENT
        );
        assert_eq!(engine.saves_in_flight(), 0, "no entry outlives its save");
        // An entry per session would hold at least 99,000 × 48 bytes (4.7 MB).
        assert!(
            grown.abs() < 512 * 1024,
            "memory did not return to baseline: {grown:+} bytes"
        );
        for c in [&cookies[0], &cookies[SESSIONS / 2], &cookies[SESSIONS - 1]] {
            let s = engine.begin(RequestParts::new("/").cookie(Some(c))).unwrap();
            assert_eq!(s.get::<u64>("n").await.unwrap(), Some(1), "every save landed");
        }
    });
    println!("test combining_table_returns_to_baseline_after_100k_sessions ... ok");
}
