//! Scale benchmark: read latency and memory per live session with 1,000 … 1,000,000 live
//! sessions, through the engine (no HTTP: the network would hide the store's own cost).
//!
//! `scale [--store memory|redis] [--sizes 1000,100000,1000000] [--requests 200000]
//! [--concurrency 1]` (`REDIS_URL`, default `redis://127.0.0.1:6379`; keys under a prefix
//! of the run's own, deleted at the end).
//!
//! Per size: the sessions are created directly in the store (expiring 40 s later), then
//! `--requests` reads (`get::<String>("user")` and the end-of-request decision) on random
//! sessions from `--concurrency` tasks (default 1: with more, the latency of a request
//! includes waiting for the others on the one thread); latency per request from
//! `std::time::Instant`.
//! Memory per session: live heap bytes (a counting global allocator) for the memory
//! store, `INFO memory` `used_memory` for Redis. After the largest size the run waits for
//! the sessions to expire and reports memory again (the memory store's sweep; Redis's
//! own expiry).

use anyhow::{Context as _, bail};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tessera::{BoxedStore, Engine, MemoryStore, RequestParts, SessionConfig, SessionStore};

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

const TTL: Duration = Duration::from_secs(40);

fn arg<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

/// A tiny xorshift for picking sessions (no dependency; not for security).
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

enum Kind {
    Memory,
    Redis { url: String, prefix: String },
}

impl Kind {
    async fn store(&self, size: usize) -> anyhow::Result<BoxedStore> {
        Ok(match self {
            Kind::Memory => BoxedStore::new(
                MemoryStore::builder()
                    .max_entries(size + 1)
                    .sweep_interval(Duration::from_secs(5))
                    .build(),
            ),
            Kind::Redis { url, prefix } => BoxedStore::new(
                tessera_redis::RedisStore::builder()
                    .url(url)
                    .prefix(prefix)
                    .build()
                    .await?,
            ),
        })
    }

    /// Bytes in use: live heap (memory) or Redis `used_memory`.
    async fn bytes(&self) -> anyhow::Result<i64> {
        match self {
            Kind::Memory => Ok(LIVE.load(Ordering::SeqCst) as i64),
            Kind::Redis { url, .. } => {
                let mut c = tessera_redis::redis::Client::open(url.as_str())?
                    .get_multiplexed_async_connection()
                    .await?;
                let info: String = tessera_redis::redis::cmd("INFO")
                    .arg("memory")
                    .query_async(&mut c)
                    .await?;
                info.lines()
                    .find_map(|l| l.strip_prefix("used_memory:"))
                    .and_then(|v| v.trim().parse().ok())
                    .context("used_memory in INFO")
            }
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let sizes: Vec<usize> = arg(&args, "--sizes")
        .unwrap_or("1000,100000,1000000")
        .split(',')
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()
        .context("--sizes")?;
    let requests: usize = arg(&args, "--requests").unwrap_or("200000").parse()?;
    let concurrency: usize = arg(&args, "--concurrency").unwrap_or("1").parse()?;
    let kind = match arg(&args, "--store").unwrap_or("memory") {
        "memory" => Kind::Memory,
        "redis" => Kind::Redis {
            url: std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
            prefix: format!("tessera-scale-{}:", std::process::id()),
        },
        other => bail!("unknown store {other:?}"),
    };
    let config = SessionConfig::builder()
        .secret("scale benchmark secret of at least thirty-two bytes")
        .idle_timeout(TTL)
        .build()?;
    println!("| sessions | bytes per session | reads/s | p50 µs | p99 µs | p99.9 µs |");
    println!("|--:|--:|--:|--:|--:|--:|");
    let mut last = None;
    for &size in &sizes {
        drop(last.take()); // the previous size's store goes first
        let base = kind.bytes().await?;
        let store = kind.store(size).await?;
        // Ids and cookies first, so the byte count below is the store's alone.
        let mut records = Vec::with_capacity(size);
        let mut cookies = Vec::with_capacity(size);
        let now = time::OffsetDateTime::now_utc();
        for _ in 0..size {
            let mut r = tessera::Record::new(tessera::SessionId::generate(), now, now + TTL);
            r.cookie.http_only = Some(true);
            r.cookie.path = Some("/".into());
            r.data.insert("user".into(), "bench".into());
            r.data.insert("n".into(), 0.into());
            cookies.push(config.sign(&r.id));
            records.push(r);
        }
        let before = kind.bytes().await?;
        for chunk in records.chunks(1000) {
            let mut tasks = tokio::task::JoinSet::new();
            for r in chunk {
                let (store, r) = (store.clone(), r.clone());
                tasks.spawn(async move { store.create(&r).await });
            }
            while let Some(r) = tasks.join_next().await {
                r??;
            }
        }
        let per_session = (kind.bytes().await? - before) / size as i64;
        drop(records);
        let engine = Engine::with_boxed(store.clone(), config.clone());
        let cookies = std::sync::Arc::new(cookies);
        let done = std::sync::Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for t in 0..concurrency {
            let (engine, cookies) = (engine.clone(), std::sync::Arc::clone(&cookies));
            let each = requests / concurrency;
            let done = std::sync::Arc::clone(&done);
            tasks.spawn(async move {
                let mut rng = 0x9E37_79B9_7F4A_7C15u64 ^ (t as u64 + 1);
                let mut lat = Vec::with_capacity(each);
                for _ in 0..each {
                    let cookie = &cookies[(next(&mut rng) % cookies.len() as u64) as usize];
                    let t0 = Instant::now();
                    let s = engine
                        .begin(RequestParts::new("/read").cookie(Some(cookie)))
                        .expect("in path");
                    let user: Option<String> = s.get("user").await.expect("read");
                    assert_eq!(user.as_deref(), Some("bench"));
                    let fin = engine.finish(&s, 200).await;
                    assert!(fin.error().is_none());
                    lat.push(t0.elapsed().as_nanos() as u64);
                    done.fetch_add(1, Ordering::Relaxed);
                }
                lat
            });
        }
        let mut lat = Vec::with_capacity(requests);
        while let Some(l) = tasks.join_next().await {
            lat.extend(l?);
        }
        let secs = started.elapsed().as_secs_f64();
        lat.sort_unstable();
        let pct =
            |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)] as f64 / 1000.0;
        println!(
            "| {size} | {per_session} | {:.0} | {:.1} | {:.1} | {:.1} |",
            lat.len() as f64 / secs,
            pct(0.50),
            pct(0.99),
            pct(0.999)
        );
        drop((engine, cookies));
        last = Some((store, base));
    }
    if let Some((store, before)) = last {
        // Wait for the largest size to expire, then let expiry reclaim it.
        tokio::time::sleep(TTL + Duration::from_secs(1)).await;
        let mut after = kind.bytes().await?;
        for _ in 0..120 {
            if let Kind::Memory = kind {
                store.delete_expired().await?; // what the sweep does every interval
            }
            after = kind.bytes().await?;
            if after - before < 1_000_000 {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        println!();
        println!(
            "after expiry: {:+} bytes against the level before the largest size's store was built ({} live)",
            after - before,
            store.count().await?
        );
    }
    Ok(())
}
