//! [`Session`]: the per-request handle handlers use.

use crate::error::{Error, StoreError};
use crate::id::SessionId;
use crate::record::{COOKIE_KEY, META_KEY, Record};
use crate::shared::{Shared, names};
use crate::signing::Verified;
use crate::state::{Op, PendingCycle, Phase, State, Timing};
use crate::store::BoxedStore;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use time::OffsetDateTime;

/// The session of the current request.
///
/// Cheap to clone (`Arc`), `Send + Sync`, and lazy: nothing is read from the store until a
/// method needs the data, and a request that never uses it costs no store operation.
/// Changes are written once, when the response leaves the layer (or at [`Session::save`]),
/// with a conditional save: if another request changed the session meanwhile, this
/// request's changes are replayed on the fresh copy, so concurrent requests never lose each
/// other's writes.
///
/// Get it as an axum extractor, or from the request extensions in plain tower.
///
/// ```
/// use tessera::Session;
///
/// async fn handler(session: Session) -> Result<String, tessera::Error> {
///     let visits = session.update("visits", |n: Option<u64>| n.unwrap_or(0) + 1).await?;
///     Ok(format!("visit #{visits}"))
/// }
/// ```
#[derive(Clone)]
pub struct Session {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub shared: Arc<Shared>,
    /// The raw token(s) the request carried; verified on first need, so a request that
    /// never uses its session does not even pay for the HMAC.
    pub token: RequestToken,
    pub verified: std::sync::OnceLock<Option<Verified>>,
    pub tls: bool,
    pub io_lock: tokio::sync::Mutex<()>,
    pub state: Mutex<State>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("request_id", &self.request_id().map(|v| &v.id))
            .finish_non_exhaustive()
    }
}

/// The unverified session token(s) a request carried.
#[derive(Debug, Default)]
pub(crate) struct RequestToken {
    pub cookie: Option<Box<str>>,
    pub header: Option<Box<str>>,
}

fn check_key(key: &str) -> Result<(), Error> {
    if key == COOKIE_KEY || key == META_KEY {
        Err(Error::ReservedKey(key.to_owned()))
    } else {
        Ok(())
    }
}

impl Session {
    pub(crate) fn new(shared: Arc<Shared>, token: RequestToken, tls: bool) -> Self {
        Self {
            inner: Arc::new(Inner {
                shared,
                token,
                verified: std::sync::OnceLock::new(),
                tls,
                io_lock: tokio::sync::Mutex::new(()),
                state: Mutex::new(State::new()),
            }),
        }
    }

    /// The request's verified token: the cookie if it verifies, else the header.
    pub(crate) fn request_id(&self) -> Option<&Verified> {
        self.inner
            .verified
            .get_or_init(|| {
                let secrets = &self.inner.shared.config.secrets;
                let from_cookie = self.inner.token.cookie.as_deref().and_then(|v| {
                    let verified = secrets.verify(v);
                    if verified.is_none() {
                        tracing::debug!("session cookie failed verification; treated as absent");
                    }
                    verified
                });
                from_cookie.or_else(|| {
                    self.inner
                        .token
                        .header
                        .as_deref()
                        .and_then(|v| secrets.verify(v.trim()))
                })
            })
            .as_ref()
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn timing(&self) -> Timing<'_> {
        Timing {
            config: &self.inner.shared.config,
        }
    }

    pub(crate) fn now(&self) -> OffsetDateTime {
        self.inner.shared.config.clock.now()
    }

    /// Loads the session on first use.
    /// `Some` once loading has finished: `Ok` if the session is ready, the error if the
    /// load failed (reported again on every later access).
    fn loaded(&self) -> Option<Result<(), Error>> {
        match self.state().phase {
            Phase::Ready => Some(Ok(())),
            Phase::Failed => Some(Err(Error::Store(StoreError::unavailable(
                "the session store failed earlier in this request",
            )))),
            Phase::Unloaded => None,
        }
    }

    pub(crate) async fn ensure_loaded(&self) -> Result<(), Error> {
        if let Some(done) = self.loaded() {
            return done;
        }
        let _io = self.inner.io_lock.lock().await;
        // Another task of this request may have loaded it while this one waited.
        if let Some(done) = self.loaded() {
            return done;
        }
        let shared = &self.inner.shared;
        let now = self.now();
        let timing = self.timing();
        let mut loaded = None;
        if let Some(v) = self.request_id() {
            match shared
                .call("load", Some(&v.id), shared.store.0.load_shared(&v.id))
                .await
            {
                Ok(Some(r)) if timing.is_dead(&r, now) => {
                    // Expired (idle or absolute): treat as absent and remove it.
                    if shared
                        .call("delete", Some(&v.id), shared.store.0.delete(&v.id))
                        .await
                        .unwrap_or(false)
                    {
                        metrics::counter!(names::DESTROYED, "reason" => "expired").increment(1);
                    }
                }
                Ok(r) => loaded = r,
                Err(e) => {
                    let mut st = self.state();
                    st.phase = Phase::Failed;
                    st.store_failed = true;
                    return Err(e.into());
                }
            }
        }
        let mut st = self.state();
        match loaded {
            Some(r) => {
                metrics::counter!(names::LOADED).increment(1);
                st.stored = Some(Arc::clone(&r));
                st.working = Some(r);
            }
            None => {
                st.working = Some(Arc::new(timing.new_record(
                    timing.new_id(),
                    now,
                    self.inner.tls,
                )))
            }
        }
        st.phase = Phase::Ready;
        Ok(())
    }

    /// Runs `f` on the loaded state.
    async fn with_state<R>(
        &self,
        f: impl FnOnce(&mut State) -> Result<R, Error>,
    ) -> Result<R, Error> {
        self.ensure_loaded().await?;
        let mut st = self.state();
        f(&mut st)
    }

    fn working(st: &State) -> &Record {
        st.working
            .as_ref()
            .expect("working record exists once loaded")
    }

    /// The value of `key`, deserialized as `T`; `None` if absent.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        self.with_state(|st| {
            Self::working(st)
                .data
                .get(key)
                .map(|v| T::deserialize(v).map_err(Error::from))
                .transpose()
        })
        .await
    }

    /// The raw JSON value of `key`.
    pub async fn get_value(&self, key: &str) -> Result<Option<Value>, Error> {
        self.with_state(|st| Ok(Self::working(st).data.get(key).cloned()))
            .await
    }

    /// Sets `key` to `value`. Setting a key to the value it already has changes nothing.
    /// `cookie` and `__tessera` are reserved.
    pub async fn insert<T: Serialize>(&self, key: &str, value: T) -> Result<(), Error> {
        check_key(key)?;
        let value = serde_json::to_value(value)?;
        self.with_state(|st| {
            if Self::working(st).data.get(key) == Some(&value) {
                return Ok(());
            }
            Ok(st.push(Op::Insert(key.to_owned(), value))?)
        })
        .await
    }

    /// Removes `key`, returning its old value.
    pub async fn remove<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        self.with_state(|st| {
            let Some(old) = Self::working(st).data.get(key).cloned() else {
                return Ok(None);
            };
            st.push(Op::Remove(key.to_owned()))?;
            Ok(Some(T::deserialize(old)?))
        })
        .await
    }

    /// Whether `key` is set.
    pub async fn contains(&self, key: &str) -> Result<bool, Error> {
        self.with_state(|st| Ok(Self::working(st).data.contains_key(key)))
            .await
    }

    /// The keys set, in insertion order.
    pub async fn keys(&self) -> Result<Vec<String>, Error> {
        self.with_state(|st| Ok(Self::working(st).data.keys().cloned().collect()))
            .await
    }

    /// Removes every key (the session itself, its id and user stay).
    pub async fn clear(&self) -> Result<(), Error> {
        self.with_state(|st| {
            if !Self::working(st).data.is_empty() {
                st.push(Op::Clear)?;
            }
            Ok(())
        })
        .await
    }

    /// Atomic read-modify-write of one key: `f` gets the current value (or `None`) and
    /// returns the new one, which is also returned here.
    ///
    /// If another request writes the session before this one saves, `f` runs again on the
    /// fresh value, so no increment or append is lost (bounded retries). The returned value
    /// is the one computed against the session as this request saw it; call
    /// [`Session::save`] and then [`Session::get`] if you need the value as finally stored.
    pub async fn update<T, F>(&self, key: &str, f: F) -> Result<T, Error>
    where
        T: Serialize + DeserializeOwned,
        F: Fn(Option<T>) -> T + Send + Sync + 'static,
    {
        check_key(key)?;
        let f = Arc::new(f);
        let replay = {
            let f = Arc::clone(&f);
            Arc::new(move |old: Option<&Value>| {
                let old = old.map(T::deserialize).transpose()?;
                serde_json::to_value(f(old))
            })
        };
        self.with_state(|st| {
            let old = Self::working(st)
                .data
                .get(key)
                .map(T::deserialize)
                .transpose()?;
            let new = f(old);
            let value = serde_json::to_value(&new)?;
            let w = Arc::make_mut(st.working.as_mut().expect("loaded"));
            w.data.insert(key.to_owned(), value);
            st.ops.push(Op::Update(key.to_owned(), replay));
            Ok(new)
        })
        .await
    }

    /// express `regenerate()`: a new id and an **empty** session. The old record is deleted
    /// once the new one is stored (at the end of the request), so a failure or a 5xx
    /// response keeps the old session valid.
    pub async fn regenerate(&self) -> Result<(), Error> {
        self.with_state(|st| {
            self.start_cycle(st);
            let timing = self.timing();
            let id = Self::working(st).id.clone();
            let fresh = timing.new_record(id, self.now(), self.inner.tls);
            st.working = Some(Arc::new(fresh));
            st.ops.clear();
            st.ops.push(Op::Clear);
            Ok(())
        })
        .await
    }

    /// A new id for the same data (call it at login against session fixation). The new
    /// record is created before the old one is deleted; a 5xx response or a store failure
    /// leaves the old session intact.
    pub async fn cycle_id(&self) -> Result<(), Error> {
        self.with_state(|st| {
            self.start_cycle(st);
            Ok(())
        })
        .await
    }

    fn start_cycle(&self, st: &mut State) {
        let new_id = self.timing().new_id();
        if let Some(stored) = &st.stored {
            if st.cycle.is_none() {
                st.cycle = Some(PendingCycle {
                    old: stored.id.clone(),
                });
            }
        }
        if let Some(w) = st.working.as_mut().map(Arc::make_mut) {
            w.id = new_id;
        }
    }

    /// Deletes the session from the store now and clears the cookie in the response
    /// (with the same attributes, so browsers accept the removal). Later changes in this
    /// request start a new, empty session.
    pub async fn destroy(&self) -> Result<(), Error> {
        let shared = &self.inner.shared;
        // Without loading: delete the id the request carried (one store operation).
        let target = {
            let st = self.state();
            match st.phase {
                Phase::Ready => st.stored.as_ref().map(|r| r.id.clone()),
                _ => self.request_id().map(|v| v.id.clone()),
            }
        };
        let _io = self.inner.io_lock.lock().await;
        if let Some(id) = &target {
            match shared
                .call("delete", Some(id), shared.store.0.delete(id))
                .await
            {
                Ok(_) => metrics::counter!(names::DESTROYED, "reason" => "destroy").increment(1),
                Err(e) => {
                    self.state().store_failed = true;
                    return Err(e.into());
                }
            }
        }
        let timing = self.timing();
        let mut st = self.state();
        st.stored = None;
        st.working = Some(Arc::new(timing.new_record(
            timing.new_id(),
            self.now(),
            self.inner.tls,
        )));
        st.ops.clear();
        st.cycle = None;
        st.destroyed = true;
        st.cookie_pending = false;
        st.phase = Phase::Ready;
        Ok(())
    }

    /// Discards this request's changes and reads the session again from the store.
    /// Fails with [`Error::NotFound`] if it no longer exists.
    pub async fn reload(&self) -> Result<(), Error> {
        self.ensure_loaded().await?;
        let Some(id) = self.state().stored.as_ref().map(|r| r.id.clone()) else {
            return Err(Error::NotFound);
        };
        let shared = &self.inner.shared;
        let _io = self.inner.io_lock.lock().await;
        let fresh = match shared
            .call("load", Some(&id), shared.store.0.load_shared(&id))
            .await
        {
            Ok(r) => r,
            Err(e) => {
                self.state().store_failed = true;
                return Err(e.into());
            }
        };
        let now = self.now();
        let mut st = self.state();
        match fresh.filter(|r| !self.timing().is_dead(r, now)) {
            Some(r) => {
                st.stored = Some(Arc::clone(&r));
                st.working = Some(r);
                st.ops.clear();
                st.cycle = None;
                Ok(())
            }
            None => Err(Error::NotFound),
        }
    }

    /// Writes the session now (creating it, or carrying out a pending id change) instead of
    /// at the end of the request. The response then carries the cookie even if it is a 5xx.
    pub async fn save(&self) -> Result<(), Error> {
        self.ensure_loaded().await?;
        self.persist(crate::persist::Mode::Explicit).await
    }

    /// Refreshes the session's expiry at the end of this request even inside `touch_after`.
    pub async fn touch(&self) -> Result<(), Error> {
        self.with_state(|st| {
            st.force_touch = true;
            Ok(())
        })
        .await
    }

    /// Makes this session persistent for `max_age` ("remember me"), or a browser-session
    /// cookie with `None`. The session's idle window becomes `max_age`, and the new expiry
    /// reaches the browser in this same response.
    pub async fn set_max_age(&self, max_age: Option<Duration>) -> Result<(), Error> {
        let ms = max_age.map(|d| d.as_millis().min(i64::MAX as u128) as i64);
        self.with_state(|st| {
            if Self::working(st).cookie.original_max_age != ms {
                st.push(Op::SetMaxAge(ms))?;
            }
            Ok(())
        })
        .await
    }

    /// Overrides the absolute timeout (counted from creation) for this session only.
    pub async fn set_absolute_timeout(&self, timeout: Option<Duration>) -> Result<(), Error> {
        let ms = timeout.map(|d| d.as_millis().min(i64::MAX as u128) as i64);
        self.with_state(|st| {
            if Self::working(st).absolute_timeout_ms != ms {
                st.push(Op::SetAbsolute(ms))?;
            }
            Ok(())
        })
        .await
    }

    /// Binds the session to a user, for [`SessionStore::list_by_user`](crate::SessionStore::list_by_user)
    /// and revocation.
    pub async fn set_user(&self, user: impl Into<String>) -> Result<(), Error> {
        let user = Some(user.into());
        self.with_state(|st| {
            if Self::working(st).user != user {
                st.push(Op::SetUser(user))?;
            }
            Ok(())
        })
        .await
    }

    /// Unbinds the session from its user.
    pub async fn clear_user(&self) -> Result<(), Error> {
        self.with_state(|st| {
            if Self::working(st).user.is_some() {
                st.push(Op::SetUser(None))?;
            }
            Ok(())
        })
        .await
    }

    /// The user the session is bound to.
    pub async fn user(&self) -> Result<Option<String>, Error> {
        self.with_state(|st| Ok(Self::working(st).user.clone()))
            .await
    }

    /// The session id (for a new session, the id it will be stored under). A bearer
    /// secret: never log or display it.
    pub async fn id(&self) -> Result<SessionId, Error> {
        self.with_state(|st| Ok(Self::working(st).id.clone())).await
    }

    /// Whether the session is not (yet) in the store.
    pub async fn is_new(&self) -> Result<bool, Error> {
        self.with_state(|st| Ok(st.stored.is_none())).await
    }

    /// When the session was created.
    pub async fn created_at(&self) -> Result<OffsetDateTime, Error> {
        self.with_state(|st| Ok(Self::working(st).created_at)).await
    }

    /// When the session expires on the server, as of its last write or touch.
    pub async fn expires_at(&self) -> Result<OffsetDateTime, Error> {
        self.with_state(|st| Ok(Self::working(st).expires_at)).await
    }

    /// The store behind this session, e.g. to list or revoke a user's other sessions.
    pub fn store(&self) -> &BoxedStore {
        &self.inner.shared.store
    }
}
