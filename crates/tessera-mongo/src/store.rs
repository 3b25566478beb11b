//! [`MongoStore`]: the [`SessionStore`] implementation.

use crate::bson_json::bson_date;
use crate::builder::MongoStoreBuilder;
use crate::document::{Codec, Stored, field, new_version};
use crate::error::{is_duplicate_key, timed};
use mongodb::bson::{Document, doc};
use mongodb::{Client, Collection};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tessera::{Record, SaveOutcome, ScanPage, SessionId, SessionStore, StoreError};
use time::OffsetDateTime;

/// A session store on MongoDB, document-compatible with connect-mongo.
///
/// One document per session in the `sessions` collection (see the crate docs for its
/// shape), a TTL index on `expires`, and never an upsert: a deleted session cannot be
/// brought back by a late write. Saves are conditional on the exact `session` value and
/// `version` field that were loaded, so a concurrent write by Tessera or by connect-mongo
/// (which leaves `version` alone) is a conflict; the version token is a hash of both.
///
/// Cloning is cheap (the driver's client and pool are shared).
#[derive(Clone)]
pub struct MongoStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    coll: Collection<Document>,
    codec: Codec,
    timeout: Duration,
    /// The last state this store loaded or wrote per session, so a save can filter on it
    /// without reading the document again (bounded; a miss costs one `findOne`).
    seen: Mutex<HashMap<SessionId, Stored>>,
}

/// How many sessions' last states are remembered for saves.
const SEEN_CAPACITY: usize = 4096;

impl std::fmt::Debug for MongoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MongoStore")
            .field("database", &self.inner.coll.namespace().db)
            .field("collection", &self.inner.coll.name())
            .field("format", &self.inner.codec.format)
            .field("encrypted", &self.inner.codec.crypto.is_some())
            .field("operation_timeout", &self.inner.timeout)
            .finish()
    }
}

/// `expires` is in the future, or absent (connect-mongo's liveness condition).
fn live(now: OffsetDateTime) -> Document {
    doc! { "$or": [
        { field::EXPIRES: { "$exists": false } },
        { field::EXPIRES: { "$gt": bson_date(now) } },
    ] }
}

fn live_id(id: &SessionId, now: OffsetDateTime) -> Document {
    let mut f = doc! { field::ID: id.as_str() };
    f.extend(live(now));
    f
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

impl MongoStore {
    /// A builder (a URI or a client is required).
    pub fn builder() -> MongoStoreBuilder {
        MongoStoreBuilder::default()
    }

    /// Connects with default options (collection `sessions`, connect-mongo's format, 2 s
    /// server selection timeout) and creates the indexes.
    pub async fn connect(uri: &str) -> Result<Self, crate::BuildError> {
        Self::builder().uri(uri).build().await
    }

    pub(crate) fn from_parts(
        client: Client,
        coll: Collection<Document>,
        codec: Codec,
        timeout: Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                coll,
                codec,
                timeout,
                seen: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The underlying collection, for administration.
    pub fn collection(&self) -> &Collection<Document> {
        &self.inner.coll
    }

    /// The driver's client (shared pool).
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// Creates the TTL index on `expires` and the index on `user` (idempotent; safe to run
    /// concurrently from several instances). [`MongoStoreBuilder::build`] calls it unless
    /// told not to.
    pub async fn ensure_indexes(&self) -> Result<(), StoreError> {
        crate::indexes::ensure(&self.inner.coll, self.inner.timeout).await
    }

    /// The collection's index names.
    pub async fn index_names(&self) -> Result<Vec<String>, StoreError> {
        crate::indexes::names(&self.inner.coll, self.inner.timeout).await
    }

    /// Deletes every session in the collection (connect-mongo's `clear`). Returns how many.
    pub async fn clear(&self) -> Result<u64, StoreError> {
        let r = timed(self.inner.timeout, self.inner.coll.delete_many(doc! {})).await?;
        Ok(r.deleted_count)
    }

    fn decode(&self, doc: &Document, now: OffsetDateTime) -> Result<Option<Record>, StoreError> {
        let Some(raw_id) = doc.get_str(field::ID).ok() else {
            return Err(StoreError::decode("session document _id is not a string"));
        };
        let Some(id) = SessionId::parse(raw_id) else {
            return Err(StoreError::decode(
                "session document _id is not a valid session id",
            ));
        };
        let record = self.inner.codec.decode(id, doc, now)?;
        Ok((!record.is_expired(now)).then_some(record))
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, Stored>> {
        self.inner.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn remember(&self, id: &SessionId, state: Stored) {
        let mut seen = self.seen();
        if seen.len() >= SEEN_CAPACITY && !seen.contains_key(id) {
            // Any entry will do: a forgotten one only costs its next save a read.
            if let Some(k) = seen.keys().next().cloned() {
                seen.remove(&k);
            }
        }
        seen.insert(id.clone(), state);
    }

    fn forget(&self, id: &SessionId) {
        self.seen().remove(id);
    }

    /// The stored state `record.version` stands for: remembered, or read from the server.
    /// `Err` is the outcome when the stored document is not that state.
    async fn expected(
        &self,
        record: &Record,
        now: OffsetDateTime,
    ) -> Result<Result<Stored, SaveOutcome>, StoreError> {
        let remembered = self
            .seen()
            .get(&record.id)
            .filter(|s| s.token == record.version)
            .cloned();
        if let Some(state) = remembered {
            return Ok(Ok(state));
        }
        let found = timed(
            self.inner.timeout,
            self.inner
                .coll
                .find_one(live_id(&record.id, now))
                .projection(doc! { field::SESSION: 1, field::VERSION: 1 }),
        )
        .await?;
        Ok(match found.map(|d| Stored::of(&d)) {
            None => Err(SaveOutcome::Missing),
            Some(state) if state.token != record.version => Err(SaveOutcome::Conflict),
            Some(state) => Ok(state),
        })
    }

    async fn insert(&self, doc: Document) -> Result<Result<(), ()>, StoreError> {
        match tokio::time::timeout(self.inner.timeout, self.inner.coll.insert_one(doc)).await {
            Err(_) => Err(StoreError::Timeout(self.inner.timeout)),
            Ok(Ok(_)) => Ok(Ok(())),
            Ok(Err(e)) if is_duplicate_key(&e) => Ok(Err(())),
            Ok(Err(e)) => Err(crate::error::map(e)),
        }
    }
}

impl SessionStore for MongoStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        let now = now();
        let found = timed(
            self.inner.timeout,
            self.inner.coll.find_one(live_id(id, now)),
        )
        .await?;
        let Some(doc) = found else {
            return Ok(None);
        };
        let record = self.decode(&doc, now)?;
        if record.is_some() {
            self.remember(id, Stored::of(&doc));
        }
        Ok(record)
    }

    async fn create(&self, record: &Record) -> Result<u64, StoreError> {
        let version = new_version()?;
        let doc = self.inner.codec.new_document(record, version)?;
        let state = Stored::of(&doc);
        let token = state.token;
        if self.insert(doc.clone()).await?.is_ok() {
            self.remember(&record.id, state);
            return Ok(token);
        }
        // The id exists. An expired document the TTL monitor has not removed yet does not
        // count: remove exactly that one and try once more.
        let stale = doc! {
            field::ID: record.id.as_str(),
            field::EXPIRES: { "$lte": bson_date(now()) },
        };
        let removed = timed(self.inner.timeout, self.inner.coll.delete_one(stale)).await?;
        if removed.deleted_count == 1 && self.insert(doc).await?.is_ok() {
            self.remember(&record.id, state);
            return Ok(token);
        }
        Err(StoreError::IdCollision)
    }

    async fn save(&self, record: &Record) -> Result<SaveOutcome, StoreError> {
        let now = now();
        let expected = match self.expected(record, now).await? {
            Ok(state) => state,
            Err(outcome) => return Ok(outcome),
        };
        let version = new_version()?;
        let update = self.inner.codec.save_update(record, version)?;
        let written = update
            .get_document("$set")
            .map(Stored::of)
            .map_err(StoreError::decode)?;
        let mut filter = live_id(&record.id, now);
        filter.extend(expected.filter());
        let r = timed(
            self.inner.timeout,
            self.inner.coll.update_one(filter, update),
        )
        .await?;
        if r.matched_count > 0 {
            let token = written.token;
            self.remember(&record.id, written);
            return Ok(SaveOutcome::Saved(token));
        }
        self.forget(&record.id);
        // Nothing matched: tell a concurrent write from a session that is gone.
        let exists = timed(
            self.inner.timeout,
            self.inner
                .coll
                .find_one(live_id(&record.id, now))
                .projection(doc! { field::ID: 1 }),
        )
        .await?;
        Ok(if exists.is_some() {
            SaveOutcome::Conflict
        } else {
            SaveOutcome::Missing
        })
    }

    async fn touch(&self, id: &SessionId, expires_at: OffsetDateTime) -> Result<bool, StoreError> {
        let update = doc! { "$set": { field::EXPIRES: bson_date(expires_at) } };
        let r = timed(
            self.inner.timeout,
            self.inner.coll.update_one(live_id(id, now()), update),
        )
        .await?;
        Ok(r.matched_count > 0)
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        self.forget(id);
        let gone = timed(
            self.inner.timeout,
            self.inner
                .coll
                .find_one_and_delete(doc! { field::ID: id.as_str() })
                .projection(doc! { field::EXPIRES: 1 }),
        )
        .await?;
        let now = now();
        Ok(gone.is_some_and(|d| match d.get_datetime(field::EXPIRES) {
            Ok(exp) => *exp > bson_date(now),
            Err(_) => true,
        }))
    }

    async fn list_by_user(&self, user: &str) -> Result<Vec<Record>, StoreError> {
        let now = now();
        let mut filter = doc! { field::USER: user };
        filter.extend(live(now));
        let coll = &self.inner.coll;
        let docs = timed(self.inner.timeout, async {
            let mut cursor = coll.find(filter).await?;
            let mut docs = Vec::new();
            while cursor.advance().await? {
                docs.push(cursor.deserialize_current()?);
            }
            Ok(docs)
        })
        .await?;
        let mut out = Vec::with_capacity(docs.len());
        for doc in &docs {
            match self.decode(doc, now) {
                Ok(Some(r)) => out.push(r),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "skipping an unreadable session of a user"),
            }
        }
        out.sort_by_key(|r| r.created_at);
        Ok(out)
    }

    /// Pages in `_id` order (the primary index); the cursor is the last `_id` of the page.
    async fn scan(&self, cursor: Option<&str>, limit: usize) -> Result<ScanPage, StoreError> {
        let now = now();
        let limit = limit.clamp(1, 10_000);
        let mut filter = match cursor {
            Some(c) => doc! { field::ID: { "$gt": c } },
            None => Document::new(),
        };
        filter.extend(live(now));
        let coll = &self.inner.coll;
        let docs: Vec<Document> = timed(self.inner.timeout, async {
            let mut found = coll
                .find(filter)
                .sort(doc! { field::ID: 1 })
                .limit(limit as i64)
                .await?;
            let mut docs = Vec::new();
            while found.advance().await? {
                docs.push(found.deserialize_current()?);
            }
            Ok(docs)
        })
        .await?;
        let next = (docs.len() == limit)
            .then(|| {
                docs.last()
                    .and_then(|d| d.get_str(field::ID).ok().map(str::to_owned))
            })
            .flatten();
        let mut records = Vec::with_capacity(docs.len());
        for doc in &docs {
            match self.decode(doc, now) {
                Ok(Some(r)) => records.push(r),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "skipping an unreadable session in a scan"),
            }
        }
        Ok(ScanPage::new(records, next))
    }

    async fn delete_by_user(
        &self,
        user: &str,
        except: Option<&SessionId>,
    ) -> Result<u64, StoreError> {
        let mut filter = doc! { field::USER: user };
        if let Some(keep) = except {
            filter.insert(field::ID, doc! { "$ne": keep.as_str() });
        }
        let r = timed(self.inner.timeout, self.inner.coll.delete_many(filter)).await?;
        Ok(r.deleted_count)
    }

    /// Live sessions only (`expires` in the future or absent), unlike connect-mongo's
    /// `length`, which also counts expired documents the TTL monitor has not removed yet.
    async fn count(&self) -> Result<u64, StoreError> {
        timed(
            self.inner.timeout,
            self.inner.coll.count_documents(live(now())),
        )
        .await
    }

    /// Removes documents whose `expires` has passed. The TTL index does this on the
    /// server (every 60 s on MongoDB), so calling it is optional.
    async fn delete_expired(&self) -> Result<u64, StoreError> {
        let filter = doc! { field::EXPIRES: { "$lte": bson_date(now()) } };
        let r = timed(self.inner.timeout, self.inner.coll.delete_many(filter)).await?;
        Ok(r.deleted_count)
    }
}
