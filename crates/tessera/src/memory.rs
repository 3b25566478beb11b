//! [`MemoryStore`]: the in-process default store, bounded and expiring.

use crate::clock::Clock;
use crate::error::StoreError;
use crate::id::SessionId;
use crate::record::Record;
use crate::store::{SaveOutcome, ScanPage, SessionStore};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;
use time::OffsetDateTime;

/// An in-memory session store.
///
/// - One short critical section per operation (a `std` mutex never held across an
///   `.await`), so it is safe under any number of concurrent requests.
/// - Expired records are reclaimed by a background sweep (every minute by default) and
///   the maps shrink when they empty, so memory returns to its baseline after a burst.
/// - An optional entry bound: when full, expired records are reclaimed first, then the
///   record closest to expiry is evicted.
/// - Keeps a per-user index for listing and revoking a user's sessions.
///
/// Sessions live only as long as the process: use it for development, tests and
/// single-instance apps.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::time::Duration;
/// let store = tessera::MemoryStore::builder()
///     .max_entries(100_000)
///     .sweep_interval(Duration::from_secs(30))
///     .build();
/// # let _ = store; }
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    clock: Clock,
    max_entries: Option<usize>,
    sweep_every: Option<Duration>,
    /// Whether the sweep task runs (started at build inside a runtime, else on first use).
    sweep_started: AtomicBool,
}

/// The entry bound of [`MemoryStore::default`] and [`MemoryStore::builder`].
pub const DEFAULT_MAX_ENTRIES: usize = 100_000;

#[derive(Default)]
struct State {
    /// Shared with the sessions that loaded them (copy-on-write on both sides).
    records: HashMap<SessionId, Arc<Record>>,
    by_user: HashMap<String, HashSet<SessionId>>,
    next_version: u64,
}

/// Builder for [`MemoryStore`].
#[derive(Debug, Clone)]
pub struct MemoryStoreBuilder {
    max_entries: Option<usize>,
    sweep_interval: Option<Duration>,
    clock: Clock,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("len", &self.len())
            .finish()
    }
}

impl Default for MemoryStore {
    /// A store bounded to [`DEFAULT_MAX_ENTRIES`] sessions (when full: expired ones are
    /// reclaimed first, then the one closest to expiry is evicted), with a one-minute sweep
    /// (started at once inside a tokio runtime, else on first use inside one).
    fn default() -> Self {
        Self::builder().build()
    }
}

impl MemoryStoreBuilder {
    /// Bounds the number of stored sessions (default [`DEFAULT_MAX_ENTRIES`]).
    pub fn max_entries(mut self, n: usize) -> Self {
        self.max_entries = Some(n.max(1));
        self
    }

    /// No entry bound: memory grows with the number of live sessions (a flood of new
    /// sessions is then limited only by their idle timeout).
    pub fn unbounded(mut self) -> Self {
        self.max_entries = None;
        self
    }

    /// How often the background task reclaims expired sessions (default one minute).
    pub fn sweep_interval(mut self, every: Duration) -> Self {
        self.sweep_interval = Some(every);
        self
    }

    /// No background sweep: expired records are still never returned, and are reclaimed by
    /// [`SessionStore::delete_expired`] or when the bound is reached.
    pub fn without_sweep(mut self) -> Self {
        self.sweep_interval = None;
        self
    }

    /// The time source (use [`Clock::tokio`] in tests with paused time).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Builds the store and starts its sweep task: at once inside a tokio runtime, else
    /// on the first operation made inside one. The task holds only a weak reference and
    /// ends when the last clone of the store is dropped.
    pub fn build(self) -> MemoryStore {
        let store = MemoryStore {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                clock: self.clock,
                max_entries: self.max_entries,
                sweep_every: self.sweep_interval,
                sweep_started: AtomicBool::new(false),
            }),
        };
        store.ensure_sweep();
        store
    }
}

async fn sweep_task(inner: Weak<Inner>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let now = inner.clock.now();
        let removed = inner.lock().remove_expired(now);
        if removed > 0 {
            tracing::debug!(removed, "memory store swept expired sessions");
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // breaks later operations (each operation re-checks), so recover from poisoning.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl State {
    fn live(&self, id: &SessionId, now: OffsetDateTime) -> Option<&Arc<Record>> {
        self.records.get(id).filter(|r| !r.is_expired(now))
    }

    /// Stores `record` under a new version (no copy: the `Arc` is kept). The caller holds
    /// no other reference, so the version is set in place.
    fn insert(&mut self, mut record: Arc<Record>) -> (u64, Arc<Record>) {
        self.next_version += 1;
        let version = self.next_version;
        Arc::make_mut(&mut record).version = version;
        let old = self.records.insert(record.id.clone(), Arc::clone(&record));
        let same_user = old.as_ref().is_some_and(|o| o.user == record.user);
        if !same_user {
            if let Some(user) = &record.user {
                self.by_user
                    .entry(user.clone())
                    .or_default()
                    .insert(record.id.clone());
            }
            if let Some(old) = old {
                self.unindex(&old);
            }
        }
        (version, record)
    }

    /// Removes an old record's user-index entry (the record itself is already replaced or
    /// removed).
    fn unindex(&mut self, old: &Record) {
        let current = self.records.get(&old.id);
        if let Some(user) = &old.user {
            if current.and_then(|r| r.user.as_ref()) != Some(user) {
                if let Some(set) = self.by_user.get_mut(user) {
                    set.remove(&old.id);
                    if set.is_empty() {
                        self.by_user.remove(user);
                    }
                }
            }
        }
    }

    fn remove(&mut self, id: &SessionId) -> bool {
        match self.records.remove(id) {
            Some(old) => {
                self.unindex(&old);
                true
            }
            None => false,
        }
    }

    /// One pass over the map (no expiry index to keep up on every write: a write costs
    /// one map insert). 100,000 sessions take well under a millisecond.
    fn remove_expired(&mut self, now: OffsetDateTime) -> u64 {
        let expired: Vec<SessionId> = self
            .records
            .iter()
            .filter(|(_, r)| r.is_expired(now))
            .map(|(id, _)| id.clone())
            .collect();
        for id in &expired {
            self.remove(id);
        }
        if !expired.is_empty() {
            self.shrink();
        }
        expired.len() as u64
    }

    /// Makes room under the bound `max`: expired records first, then the 1 % (at least
    /// one) closest to expiry, so a flood of new sessions costs O(1) amortised per create.
    fn make_room(&mut self, max: usize, now: OffsetDateTime) {
        self.remove_expired(now);
        if self.records.len() < max {
            return;
        }
        // Here records.len() >= max >= 1, so at least one record goes.
        let evict = (max / 100).max(1).min(self.records.len());
        let mut by_expiry: Vec<(OffsetDateTime, SessionId)> = self
            .records
            .values()
            .map(|r| (r.expires_at, r.id.clone()))
            .collect();
        by_expiry.select_nth_unstable_by(evict - 1, |a, b| a.0.cmp(&b.0));
        for (_, id) in by_expiry.into_iter().take(evict) {
            self.remove(&id);
        }
        tracing::warn!(
            max,
            evicted = evict,
            "memory store full: evicted the sessions closest to expiry"
        );
    }

    fn shrink(&mut self) {
        if self.records.capacity() > 64 && self.records.len() < self.records.capacity() / 4 {
            self.records.shrink_to_fit();
        }
        if self.by_user.capacity() > 64 && self.by_user.len() < self.by_user.capacity() / 4 {
            self.by_user.shrink_to_fit();
        }
    }
}

impl MemoryStore {
    /// A builder with the [`DEFAULT_MAX_ENTRIES`] bound, a one-minute sweep and the system
    /// clock.
    pub fn builder() -> MemoryStoreBuilder {
        MemoryStoreBuilder {
            max_entries: Some(DEFAULT_MAX_ENTRIES),
            sweep_interval: Some(Duration::from_secs(60)),
            clock: Clock::System,
        }
    }

    /// Starts the sweep task if it should run and does not yet (one relaxed atomic load
    /// once it runs).
    fn ensure_sweep(&self) {
        let Some(every) = self.inner.sweep_every else {
            return;
        };
        if self.inner.sweep_started.load(Ordering::Relaxed) {
            return;
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            if !self.inner.sweep_started.swap(true, Ordering::AcqRel) {
                handle.spawn(sweep_task(Arc::downgrade(&self.inner), every));
            }
        }
    }

    /// Whether the background sweep runs.
    pub fn sweeping(&self) -> bool {
        self.inner.sweep_started.load(Ordering::Relaxed)
    }

    /// The number of stored records, including expired ones not yet reclaimed.
    pub fn len(&self) -> usize {
        self.inner.lock().records.len()
    }

    /// Whether no record is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl SessionStore for MemoryStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        Ok(self.load_shared(id).await?.map(Arc::unwrap_or_clone))
    }

    /// The stored record itself, shared: no copy.
    async fn load_shared(&self, id: &SessionId) -> Result<Option<Arc<Record>>, StoreError> {
        let now = self.inner.clock.now();
        let mut state = self.inner.lock();
        match state.records.get(id) {
            Some(r) if r.is_expired(now) => {
                // Reclaim on access, not only in the sweep.
                state.remove(id);
                Ok(None)
            }
            r => Ok(r.cloned()),
        }
    }

    async fn create(&self, record: &Record) -> Result<u64, StoreError> {
        self.ensure_sweep();
        let now = self.inner.clock.now();
        let mut state = self.inner.lock();
        if state.live(&record.id, now).is_some() {
            return Err(StoreError::IdCollision);
        }
        if let Some(max) = self.inner.max_entries {
            if state.records.len() >= max && !state.records.contains_key(&record.id) {
                state.make_room(max, now);
            }
        }
        Ok(state.insert(Arc::new(record.clone())).0)
    }

    async fn save(&self, record: &Record) -> Result<SaveOutcome, StoreError> {
        let (outcome, _) = self.save_shared(Arc::new(record.clone())).await?;
        Ok(outcome)
    }

    /// Keeps the given record itself (no copy).
    async fn save_shared(
        &self,
        record: Arc<Record>,
    ) -> Result<(SaveOutcome, Arc<Record>), StoreError> {
        let now = self.inner.clock.now();
        let mut state = self.inner.lock();
        let outcome = match state.live(&record.id, now) {
            None => SaveOutcome::Missing,
            Some(current) if current.version != record.version => SaveOutcome::Conflict,
            Some(_) => {
                let (version, stored) = state.insert(record);
                return Ok((SaveOutcome::Saved(version), stored));
            }
        };
        Ok((outcome, record))
    }

    async fn touch(&self, id: &SessionId, expires_at: OffsetDateTime) -> Result<bool, StoreError> {
        let now = self.inner.clock.now();
        let mut state = self.inner.lock();
        if state.live(id, now).is_none() {
            return Ok(false);
        }
        if let Some(r) = state.records.get_mut(id) {
            Arc::make_mut(r).expires_at = expires_at;
        }
        Ok(true)
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        let now = self.inner.clock.now();
        let mut state = self.inner.lock();
        let was_live = state.live(id, now).is_some();
        state.remove(id);
        Ok(was_live)
    }

    async fn list_by_user(&self, user: &str) -> Result<Vec<Record>, StoreError> {
        let now = self.inner.clock.now();
        let state = self.inner.lock();
        let Some(ids) = state.by_user.get(user) else {
            return Ok(Vec::new());
        };
        let mut out: Vec<Record> = ids
            .iter()
            .filter_map(|id| state.live(id, now))
            .map(|r| Record::clone(r))
            .collect();
        out.sort_by_key(|r| r.created_at);
        Ok(out)
    }

    async fn delete_by_user(
        &self,
        user: &str,
        except: Option<&SessionId>,
    ) -> Result<u64, StoreError> {
        let now = self.inner.clock.now();
        let mut state = self.inner.lock();
        let ids: Vec<SessionId> = state
            .by_user
            .get(user)
            .map(|ids| {
                ids.iter()
                    .filter(|id| Some(*id) != except)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let mut n = 0;
        for id in ids {
            let live = state.live(&id, now).is_some();
            if state.remove(&id) && live {
                n += 1;
            }
        }
        Ok(n)
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let now = self.inner.clock.now();
        let state = self.inner.lock();
        Ok(state
            .records
            .values()
            .filter(|r| !r.is_expired(now))
            .count() as u64)
    }

    async fn delete_expired(&self) -> Result<u64, StoreError> {
        let now = self.inner.clock.now();
        Ok(self.inner.lock().remove_expired(now))
    }

    /// Pages in id order; the cursor is the last id of the previous page. Each page costs
    /// one pass over the map under the lock (O(n log limit)).
    async fn scan(&self, cursor: Option<&str>, limit: usize) -> Result<ScanPage, StoreError> {
        let limit = limit.max(1);
        let now = self.inner.clock.now();
        let page: Vec<Arc<Record>> = {
            let state = self.inner.lock();
            // A max-heap of the `limit` smallest ids after the cursor.
            let mut heap = std::collections::BinaryHeap::with_capacity(limit + 1);
            for (id, r) in &state.records {
                if cursor.is_some_and(|c| id.as_str() <= c) || r.is_expired(now) {
                    continue;
                }
                heap.push(ById(Arc::clone(r)));
                if heap.len() > limit {
                    heap.pop();
                }
            }
            heap.into_sorted_vec().into_iter().map(|r| r.0).collect()
        };
        let next = (page.len() == limit)
            .then(|| page.last().map(|r| r.id.as_str().to_owned()))
            .flatten();
        let records = page.into_iter().map(Arc::unwrap_or_clone).collect();
        Ok(ScanPage::new(records, next))
    }
}

/// Orders records by id, for [`MemoryStore::scan`].
struct ById(Arc<Record>);

impl PartialEq for ById {
    fn eq(&self, other: &Self) -> bool {
        self.0.id == other.0.id
    }
}
impl Eq for ById {}
impl PartialOrd for ById {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ById {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.id.as_str().cmp(other.0.id.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_bounded_and_its_sweep_starts_on_first_use_in_a_runtime() {
        // Built outside any runtime (a `static`, a `main` before the runtime, …).
        let store = MemoryStore::default();
        assert_eq!(store.inner.max_entries, Some(DEFAULT_MAX_ENTRIES));
        assert!(!store.sweeping());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let now = store.inner.clock.now();
            let r = Record::new(SessionId::generate(), now, now + TDuration::seconds(60));
            store.create(&r).await.unwrap();
        });
        assert!(
            store.sweeping(),
            "the first write inside a runtime starts the sweep"
        );
    }
    use time::Duration as TDuration;

    fn rec(now: OffsetDateTime, ttl_s: i64, user: Option<&str>) -> Record {
        let mut r = Record::new(SessionId::generate(), now, now + TDuration::seconds(ttl_s));
        r.user = user.map(str::to_owned);
        r
    }

    #[tokio::test]
    async fn a_flood_of_new_sessions_never_passes_the_bound() {
        let store = MemoryStore::builder()
            .max_entries(1_000)
            .without_sweep()
            .build();
        let now = Clock::System.now();
        for i in 0..10_000 {
            store.create(&rec(now, 60 + i, None)).await.unwrap();
            assert!(store.len() <= 1_000, "bound passed at create #{i}");
        }
        assert!(store.len() >= 990, "eviction takes 1 % at a time, not more");
    }

    #[tokio::test]
    async fn bound_evicts_expired_first_then_the_closest_to_expiry() {
        let store = MemoryStore::builder()
            .max_entries(3)
            .without_sweep()
            .build();
        let now = Clock::System.now();
        let soon = rec(now, 100, Some("u"));
        let later = rec(now, 1000, None);
        let latest = rec(now, 5000, None);
        for r in [&soon, &later, &latest] {
            store.create(r).await.unwrap();
        }
        let extra = rec(now, 3000, None);
        store.create(&extra).await.unwrap();
        assert_eq!(store.len(), 3, "the bound holds");
        assert!(
            store.load(&soon.id).await.unwrap().is_none(),
            "the session closest to expiry was evicted"
        );
        assert!(
            store.list_by_user("u").await.unwrap().is_empty(),
            "and left the user index"
        );
        for r in [&later, &latest, &extra] {
            assert!(store.load(&r.id).await.unwrap().is_some());
        }
    }

    #[test]
    fn session_handle_and_stores_are_send_sync_clone() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<MemoryStore>();
        check::<crate::Session>();
        check::<crate::SessionLayer>();
        check::<crate::BoxedStore>();
    }
}
