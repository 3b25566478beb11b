//! What the near cache costs in memory: fills a cache with 10,000 sessions shaped like the
//! load benchmark's (`{user: "bench", n: 0}` plus the cookie) and prints the growth of the
//! live heap (counted by a wrapping global allocator), per 10,000 sessions and per session.
//!
//! `cargo run --release -p tessera-redis --example near-cache-memory` (Redis at
//! `REDIS_URL`, default `redis://127.0.0.1:6379`; the keys go under a prefix of their own
//! and are deleted afterwards).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tessera::{Record, SessionId, SessionStore};
use tessera_redis::RedisStore;
use time::OffsetDateTime;

const SESSIONS: usize = 10_000;

/// The system allocator, counting the bytes currently allocated.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; only a counter is
// added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live_bytes() -> u64 {
    LIVE.load(Ordering::Relaxed) as u64
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("near-mem-{}:sess:", std::process::id());
    let store = RedisStore::builder()
        .url(&url)
        .prefix(&prefix)
        .near_cache(SESSIONS)
        .build()
        .await?;
    let now = OffsetDateTime::now_utc();
    let mut ids: Vec<SessionId> = Vec::with_capacity(SESSIONS);
    for _ in 0..SESSIONS {
        let mut r = Record::new(
            SessionId::generate(),
            now,
            now + Duration::from_secs(86_400),
        );
        r.cookie.original_max_age = Some(86_400_000);
        r.cookie.expires = Some(now + Duration::from_secs(86_400));
        r.cookie.http_only = Some(true);
        r.cookie.path = Some("/".into());
        r.data.insert("user".into(), "bench".into());
        r.data.insert("n".into(), 0.into());
        store.create(&r).await?;
        ids.push(r.id);
    }
    // The ids are kept either way; the expiry notes were made by `create`.
    let before = live_bytes();
    for id in &ids {
        store.load(id).await?;
    }
    let after = live_bytes();
    let stats = store.near_cache_stats().unwrap_or_default();
    let grown = after.saturating_sub(before);
    println!(
        "near cache with {} entries: live heap +{:.2} MiB per {SESSIONS} sessions ({} bytes per session)",
        stats.entries,
        grown as f64 / (1024.0 * 1024.0),
        grown / SESSIONS as u64
    );
    store.clear().await?;
    Ok(())
}
