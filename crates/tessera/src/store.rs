//! The [`SessionStore`] trait every back end implements, and [`BoxedStore`] for choosing a
//! store at run time.

use crate::error::StoreError;
use crate::id::SessionId;
use crate::record::Record;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use time::OffsetDateTime;

/// Result of a conditional [`SessionStore::save`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SaveOutcome {
    /// Written; the record's new version token.
    Saved(u64),
    /// The stored record is not the version that was loaded (a concurrent write won).
    Conflict,
    /// No record with this id is stored any more (destroyed or expired): nothing was written.
    Missing,
}

/// One page of [`SessionStore::scan`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ScanPage {
    /// Live records of this page (possibly none, even when more pages follow).
    pub records: Vec<Record>,
    /// The cursor of the next page; `None` once the scan is complete.
    pub next: Option<String>,
}

impl ScanPage {
    /// A page of `records`, followed by the page at `next` (`None`: the last page).
    pub fn new(records: Vec<Record>, next: Option<String>) -> Self {
        Self { records, next }
    }
}

/// A session back end.
///
/// **Required core** (every store): `load`, `create`, `save` (conditional), `touch`,
/// `delete`. **Capabilities** (default methods answering [`StoreError::Unsupported`]; every
/// store in the Tessera workspace implements all of them): the per-user index
/// (`list_by_user`, `delete_by_user`), administration (`count`, `delete_expired`, `scan`).
///
/// The contract (checked by the `testkit` conformance suite):
/// - `load` never returns a record whose `expires_at` has passed;
/// - `create` writes only if no record with that id exists ([`StoreError::IdCollision`]);
/// - `save` writes only if the stored version equals `record.version`, and never recreates
///   a record that is gone ([`SaveOutcome::Missing`]): a late write cannot resurrect a
///   destroyed session;
/// - `touch` only moves the expiry (no data write) and never recreates a record;
/// - `expires_at` of each written record is its server-side expiry (the store's TTL);
/// - `scan` returns every record that is live for the whole scan at least once, never an
///   expired one; records created or deleted during the scan may or may not appear.
///
/// Methods use native `async fn` in traits; [`BoxedStore`] erases the type when a store is
/// chosen at run time.
pub trait SessionStore: Send + Sync + 'static {
    /// Loads a live record, or `None` if it is absent or expired.
    fn load(
        &self,
        id: &SessionId,
    ) -> impl Future<Output = Result<Option<Record>, StoreError>> + Send;

    /// [`load`](Self::load), with the record behind an `Arc`: the layer loads through this.
    /// The default wraps `load`; an in-process store that keeps its records in `Arc`s
    /// overrides it to hand one out without copying the record.
    fn load_shared(
        &self,
        id: &SessionId,
    ) -> impl Future<Output = Result<Option<Arc<Record>>, StoreError>> + Send {
        async move { Ok(self.load(id).await?.map(Arc::new)) }
    }

    /// [`save`](Self::save), with the record behind an `Arc`: the engine saves through
    /// this. Returns the outcome and the record as saved (with its new version on
    /// success). The default calls `save` and moves the record out of the `Arc` (no copy
    /// when the caller holds the only reference); an in-process store overrides it to keep
    /// the `Arc` itself.
    fn save_shared(
        &self,
        record: Arc<Record>,
    ) -> impl Future<Output = Result<(SaveOutcome, Arc<Record>), StoreError>> + Send {
        async move {
            let outcome = self.save(&record).await?;
            match outcome {
                SaveOutcome::Saved(version) => {
                    let mut record = Arc::unwrap_or_clone(record);
                    record.version = version;
                    Ok((outcome, Arc::new(record)))
                }
                _ => Ok((outcome, record)),
            }
        }
    }

    /// Stores a new record; fails with [`StoreError::IdCollision`] if the id exists.
    /// Returns the stored version token.
    fn create(&self, record: &Record) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Replaces the record if its stored version still equals `record.version`.
    fn save(&self, record: &Record)
    -> impl Future<Output = Result<SaveOutcome, StoreError>> + Send;

    /// Moves the expiry of a stored record without rewriting it. Returns `false` if it is gone.
    fn touch(
        &self,
        id: &SessionId,
        expires_at: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Deletes a record. Returns `false` if there was none.
    fn delete(&self, id: &SessionId) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Capability (per-user index): the live records bound to `user` (see
    /// `Session::set_user`).
    fn list_by_user(
        &self,
        user: &str,
    ) -> impl Future<Output = Result<Vec<Record>, StoreError>> + Send {
        let _ = user;
        async { Err(StoreError::Unsupported("list_by_user")) }
    }

    /// Capability (per-user index): deletes every record bound to `user` except `except`.
    /// Returns how many were deleted.
    fn delete_by_user(
        &self,
        user: &str,
        except: Option<&SessionId>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        let _ = (user, except);
        async { Err(StoreError::Unsupported("delete_by_user")) }
    }

    /// Capability (administration): the number of live records (may include expired ones
    /// not yet reclaimed where the back end cannot tell cheaply; see each store's docs).
    fn count(&self) -> impl Future<Output = Result<u64, StoreError>> + Send {
        async { Err(StoreError::Unsupported("count")) }
    }

    /// Capability (administration): removes expired records, for back ends without native
    /// expiry. Returns how many. The default does nothing (native expiry).
    fn delete_expired(&self) -> impl Future<Output = Result<u64, StoreError>> + Send {
        async { Ok(0) }
    }

    /// Capability (administration): one page of a cursor-paged iteration over the live
    /// records, for admin tools and store-to-store migration. Start with `cursor = None`
    /// and pass each page's [`ScanPage::next`] until it is `None`. `limit` is a hint for
    /// the page size (a page may hold fewer records, or none, before the end). A cursor is
    /// opaque and valid only for the store that issued it.
    fn scan(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = Result<ScanPage, StoreError>> + Send {
        let _ = (cursor, limit);
        async { Err(StoreError::Unsupported("scan")) }
    }
}

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Object-safe mirror of [`SessionStore`], implemented for every store.
pub(crate) trait DynStore: Send + Sync + 'static {
    fn load<'a>(&'a self, id: &'a SessionId) -> BoxFut<'a, Option<Record>>;
    fn load_shared<'a>(&'a self, id: &'a SessionId) -> BoxFut<'a, Option<Arc<Record>>>;
    fn create<'a>(&'a self, record: &'a Record) -> BoxFut<'a, u64>;
    fn save<'a>(&'a self, record: &'a Record) -> BoxFut<'a, SaveOutcome>;
    fn save_shared(&self, record: Arc<Record>) -> BoxFut<'_, (SaveOutcome, Arc<Record>)>;
    fn touch<'a>(&'a self, id: &'a SessionId, expires_at: OffsetDateTime) -> BoxFut<'a, bool>;
    fn delete<'a>(&'a self, id: &'a SessionId) -> BoxFut<'a, bool>;
    fn list_by_user<'a>(&'a self, user: &'a str) -> BoxFut<'a, Vec<Record>>;
    fn delete_by_user<'a>(
        &'a self,
        user: &'a str,
        except: Option<&'a SessionId>,
    ) -> BoxFut<'a, u64>;
    fn count(&self) -> BoxFut<'_, u64>;
    fn delete_expired(&self) -> BoxFut<'_, u64>;
    fn scan<'a>(&'a self, cursor: Option<&'a str>, limit: usize) -> BoxFut<'a, ScanPage>;
}

impl<S: SessionStore> DynStore for S {
    fn load<'a>(&'a self, id: &'a SessionId) -> BoxFut<'a, Option<Record>> {
        Box::pin(SessionStore::load(self, id))
    }
    fn load_shared<'a>(&'a self, id: &'a SessionId) -> BoxFut<'a, Option<Arc<Record>>> {
        Box::pin(SessionStore::load_shared(self, id))
    }
    fn create<'a>(&'a self, record: &'a Record) -> BoxFut<'a, u64> {
        Box::pin(SessionStore::create(self, record))
    }
    fn save<'a>(&'a self, record: &'a Record) -> BoxFut<'a, SaveOutcome> {
        Box::pin(SessionStore::save(self, record))
    }
    fn save_shared(&self, record: Arc<Record>) -> BoxFut<'_, (SaveOutcome, Arc<Record>)> {
        Box::pin(SessionStore::save_shared(self, record))
    }
    fn touch<'a>(&'a self, id: &'a SessionId, expires_at: OffsetDateTime) -> BoxFut<'a, bool> {
        Box::pin(SessionStore::touch(self, id, expires_at))
    }
    fn delete<'a>(&'a self, id: &'a SessionId) -> BoxFut<'a, bool> {
        Box::pin(SessionStore::delete(self, id))
    }
    fn list_by_user<'a>(&'a self, user: &'a str) -> BoxFut<'a, Vec<Record>> {
        Box::pin(SessionStore::list_by_user(self, user))
    }
    fn delete_by_user<'a>(
        &'a self,
        user: &'a str,
        except: Option<&'a SessionId>,
    ) -> BoxFut<'a, u64> {
        Box::pin(SessionStore::delete_by_user(self, user, except))
    }
    fn count(&self) -> BoxFut<'_, u64> {
        Box::pin(SessionStore::count(self))
    }
    fn delete_expired(&self) -> BoxFut<'_, u64> {
        Box::pin(SessionStore::delete_expired(self))
    }
    fn scan<'a>(&'a self, cursor: Option<&'a str>, limit: usize) -> BoxFut<'a, ScanPage> {
        Box::pin(SessionStore::scan(self, cursor, limit))
    }
}

/// A type-erased store, for choosing the back end at run time.
///
/// ```
/// # use tessera::{BoxedStore, MemoryStore};
/// let store = BoxedStore::new(MemoryStore::default());
/// let _clone = store.clone();
/// ```
#[derive(Clone)]
pub struct BoxedStore(pub(crate) Arc<dyn DynStore>);

impl BoxedStore {
    /// Erases a store's type.
    pub fn new<S: SessionStore>(store: S) -> Self {
        Self(Arc::new(store))
    }
}

impl std::fmt::Debug for BoxedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BoxedStore")
    }
}

impl SessionStore for BoxedStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        self.0.load(id).await
    }
    async fn load_shared(&self, id: &SessionId) -> Result<Option<Arc<Record>>, StoreError> {
        self.0.load_shared(id).await
    }
    async fn create(&self, record: &Record) -> Result<u64, StoreError> {
        self.0.create(record).await
    }
    async fn save(&self, record: &Record) -> Result<SaveOutcome, StoreError> {
        self.0.save(record).await
    }
    async fn save_shared(
        &self,
        record: Arc<Record>,
    ) -> Result<(SaveOutcome, Arc<Record>), StoreError> {
        self.0.save_shared(record).await
    }
    async fn touch(&self, id: &SessionId, expires_at: OffsetDateTime) -> Result<bool, StoreError> {
        self.0.touch(id, expires_at).await
    }
    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        self.0.delete(id).await
    }
    async fn list_by_user(&self, user: &str) -> Result<Vec<Record>, StoreError> {
        self.0.list_by_user(user).await
    }
    async fn delete_by_user(
        &self,
        user: &str,
        except: Option<&SessionId>,
    ) -> Result<u64, StoreError> {
        self.0.delete_by_user(user, except).await
    }
    async fn count(&self) -> Result<u64, StoreError> {
        self.0.count().await
    }
    async fn delete_expired(&self) -> Result<u64, StoreError> {
        self.0.delete_expired().await
    }
    async fn scan(&self, cursor: Option<&str>, limit: usize) -> Result<ScanPage, StoreError> {
        self.0.scan(cursor, limit).await
    }
}

impl<S: SessionStore> SessionStore for Arc<S> {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        (**self).load(id).await
    }
    async fn load_shared(&self, id: &SessionId) -> Result<Option<Arc<Record>>, StoreError> {
        (**self).load_shared(id).await
    }
    async fn create(&self, record: &Record) -> Result<u64, StoreError> {
        (**self).create(record).await
    }
    async fn save(&self, record: &Record) -> Result<SaveOutcome, StoreError> {
        (**self).save(record).await
    }
    async fn save_shared(
        &self,
        record: Arc<Record>,
    ) -> Result<(SaveOutcome, Arc<Record>), StoreError> {
        (**self).save_shared(record).await
    }
    async fn touch(&self, id: &SessionId, expires_at: OffsetDateTime) -> Result<bool, StoreError> {
        (**self).touch(id, expires_at).await
    }
    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        (**self).delete(id).await
    }
    async fn list_by_user(&self, user: &str) -> Result<Vec<Record>, StoreError> {
        (**self).list_by_user(user).await
    }
    async fn delete_by_user(
        &self,
        user: &str,
        except: Option<&SessionId>,
    ) -> Result<u64, StoreError> {
        (**self).delete_by_user(user, except).await
    }
    async fn count(&self) -> Result<u64, StoreError> {
        (**self).count().await
    }
    async fn delete_expired(&self) -> Result<u64, StoreError> {
        (**self).delete_expired().await
    }
    async fn scan(&self, cursor: Option<&str>, limit: usize) -> Result<ScanPage, StoreError> {
        (**self).scan(cursor, limit).await
    }
}
