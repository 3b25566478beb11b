//! Store operations per request: a counting wrapper around the store, read at `GET /_stats`
//! and reset with `DELETE /_stats` (used by `bench/store-ops.sh`).

use std::sync::atomic::{AtomicU64, Ordering};
use tessera::{BoxedStore, Record, SaveOutcome, SessionId, SessionStore, StoreError};
use time::OffsetDateTime;

static OPS: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];
const NAMES: [&str; 5] = ["load", "create", "save", "touch", "delete"];

fn count(i: usize) {
    OPS[i].fetch_add(1, Ordering::Relaxed);
}

pub async fn report() -> String {
    let parts: Vec<String> = NAMES
        .iter()
        .zip(&OPS)
        .map(|(n, c)| format!("\"{n}\":{}", c.load(Ordering::Relaxed)))
        .collect();
    format!("{{{}}}", parts.join(","))
}

pub async fn reset() -> &'static str {
    OPS.iter().for_each(|c| c.store(0, Ordering::Relaxed));
    "reset"
}

/// Counts each store operation, then delegates.
pub struct Counted(pub BoxedStore);

impl SessionStore for Counted {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        count(0);
        self.0.load(id).await
    }
    async fn create(&self, r: &Record) -> Result<u64, StoreError> {
        count(1);
        self.0.create(r).await
    }
    async fn save(&self, r: &Record) -> Result<SaveOutcome, StoreError> {
        count(2);
        self.0.save(r).await
    }
    async fn touch(&self, id: &SessionId, e: OffsetDateTime) -> Result<bool, StoreError> {
        count(3);
        self.0.touch(id, e).await
    }
    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        count(4);
        self.0.delete(id).await
    }
    async fn list_by_user(&self, u: &str) -> Result<Vec<Record>, StoreError> {
        self.0.list_by_user(u).await
    }
    async fn delete_by_user(&self, u: &str, e: Option<&SessionId>) -> Result<u64, StoreError> {
        self.0.delete_by_user(u, e).await
    }
    async fn count(&self) -> Result<u64, StoreError> {
        self.0.count().await
    }
    async fn delete_expired(&self) -> Result<u64, StoreError> {
        self.0.delete_expired().await
    }
    async fn scan(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<tessera::ScanPage, StoreError> {
        self.0.scan(cursor, limit).await
    }
}
