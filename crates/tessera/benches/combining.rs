//! Write combining is per session: 1,000 concurrent updates spread over 1,000 sessions
//! against the same 1,000 updates made one at a time (where no save ever shares the
//! combining table with another), on the memory store and on a store whose saves take
//! 1 ms (a network store). `cargo bench -p tessera-sessions --bench combining`.

use std::time::{Duration, Instant};
use tessera::{
    BoxedStore, Engine, MemoryStore, Record, RequestParts, SaveOutcome, SessionConfig, SessionId,
    SessionStore, StoreError,
};
use time::OffsetDateTime;

/// The memory store with a fixed delay on every save.
#[derive(Clone)]
struct Slow(MemoryStore, Duration);

impl SessionStore for Slow {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        self.0.load(id).await
    }
    async fn create(&self, r: &Record) -> Result<u64, StoreError> {
        self.0.create(r).await
    }
    async fn save(&self, r: &Record) -> Result<SaveOutcome, StoreError> {
        tokio::time::sleep(self.1).await;
        self.0.save(r).await
    }
    async fn touch(&self, id: &SessionId, at: OffsetDateTime) -> Result<bool, StoreError> {
        self.0.touch(id, at).await
    }
    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        self.0.delete(id).await
    }
}

const SESSIONS: usize = 1_000;

async fn bump(engine: &Engine, cookie: &str) {
    let s = engine
        .begin(RequestParts::new("/").cookie(Some(cookie)))
        .unwrap();
    s.update("n", |n: Option<u64>| n.unwrap_or(0) + 1)
        .await
        .unwrap();
    assert!(engine.finish(&s, 200).await.error().is_none());
}

async fn setup(
    store: BoxedStore,
    memory: &MemoryStore,
    config: &SessionConfig,
) -> (Engine, Vec<String>) {
    let mut cookies = Vec::new();
    for _ in 0..SESSIONS {
        let now = OffsetDateTime::now_utc();
        let r = Record::new(SessionId::generate(), now, now + Duration::from_secs(3600));
        memory.create(&r).await.unwrap();
        cookies.push(config.sign(&r.id));
    }
    (Engine::with_boxed(store, config.clone()), cookies)
}

async fn concurrent(engine: &Engine, cookies: &[String]) -> Duration {
    let t = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in cookies {
        let (engine, c) = (engine.clone(), c.clone());
        tasks.spawn(async move { bump(&engine, &c).await });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    t.elapsed()
}

async fn one_at_a_time(engine: &Engine, cookies: &[String]) -> Duration {
    let t = Instant::now();
    for c in cookies {
        bump(engine, c).await;
    }
    t.elapsed()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("combining: benchmark");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let config = SessionConfig::builder()
            .secret("combining benchmark secret, at least thirty-two bytes")
            .build()
            .unwrap();
        println!("| store (1,000 updates, one per session) | concurrent | one at a time | concurrent ÷ one at a time |");
        println!("|---|--:|--:|--:|");
        for (name, delay) in [("memory", None), ("memory + 1 ms per save", Some(Duration::from_millis(1)))] {
            let memory = MemoryStore::default();
            let store = match delay {
                None => BoxedStore::new(memory.clone()),
                Some(d) => BoxedStore::new(Slow(memory.clone(), d)),
            };
            let (engine, cookies) = setup(store, &memory, &config).await;
            // Warm up, then the best of 5 of each.
            concurrent(&engine, &cookies).await;
            let mut c = Duration::MAX;
            let mut s = Duration::MAX;
            for _ in 0..5 {
                c = c.min(concurrent(&engine, &cookies).await);
                s = s.min(one_at_a_time(&engine, &cookies).await);
            }
            assert_eq!(engine.saves_in_flight(), 0);
            println!(
                "| {name} | {:.2} ms | {:.2} ms | {:.3} |",
                c.as_secs_f64() * 1e3,
                s.as_secs_f64() * 1e3,
                c.as_secs_f64() / s.as_secs_f64()
            );
        }
    });
}
