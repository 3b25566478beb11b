//! [`Session`]: the per-request handle handlers use. It owns the request's [`State`],
//! loads lazily through the store, and hands every write to the [`Writer`] as a [`Plan`].

use crate::core::Core;
use crate::error::{Error, StoreError};
use crate::id::SessionId;
use crate::log::{ApplyError, Op};
use crate::metrics::names;
use crate::record::{COOKIE_KEY, META_KEY, Record};
use crate::signing::Verified;
use crate::state::{Mode, Ready, State};
use crate::store::BoxedStore;
use crate::writer::{DeleteReason, Plan};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
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
    ctx: Arc<Context>,
}

/// One request's session: the engine it belongs to, what the request carried, and the state.
struct Context {
    core: Arc<Core>,
    /// The raw token(s) the request carried; verified on first need, so a request that
    /// never uses its session does not even pay for the HMAC.
    token: RequestToken,
    verified: OnceLock<Option<Verified>>,
    tls: bool,
    /// Serialises this request's store calls (loads, writes) between its own tasks.
    io: tokio::sync::Mutex<()>,
    state: Mutex<State>,
    /// A store operation failed during the request.
    store_failed: AtomicBool,
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

fn not_ready() -> Error {
    Error::Store(StoreError::unavailable(
        "the session store failed earlier in this request",
    ))
}

impl Session {
    pub(crate) fn new(core: Arc<Core>, token: RequestToken, tls: bool) -> Self {
        Self {
            ctx: Arc::new(Context {
                core,
                token,
                verified: OnceLock::new(),
                tls,
                io: tokio::sync::Mutex::new(()),
                state: Mutex::new(State::Unloaded),
                store_failed: AtomicBool::new(false),
            }),
        }
    }

    /// The request's verified token: the cookie if it verifies, else the header.
    pub(crate) fn request_id(&self) -> Option<&Verified> {
        self.ctx
            .verified
            .get_or_init(|| {
                let secrets = &self.ctx.core.config.secrets;
                let from_cookie = self.ctx.token.cookie.as_deref().and_then(|v| {
                    let verified = secrets.verify(v);
                    if verified.is_none() {
                        tracing::debug!("session cookie failed verification; treated as absent");
                    }
                    verified
                });
                from_cookie.or_else(|| {
                    self.ctx
                        .token
                        .header
                        .as_deref()
                        .and_then(|v| secrets.verify(v.trim()))
                })
            })
            .as_ref()
    }

    /// Whether the request carried a session header (verified or not).
    pub(crate) fn carried_header(&self) -> bool {
        self.ctx.token.header.is_some()
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.ctx.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the request came over TLS.
    pub(crate) fn tls(&self) -> bool {
        self.ctx.tls
    }

    pub(crate) fn store_failed(&self) -> bool {
        self.ctx.store_failed.load(Ordering::Relaxed)
    }

    fn mark_failed(&self) {
        self.ctx.store_failed.store(true, Ordering::Relaxed);
    }

    fn now(&self) -> OffsetDateTime {
        self.ctx.core.config.clock.now()
    }

    /// A new, empty, unsaved record under a new id.
    fn fresh_record(&self) -> Record {
        let lifetime = self.ctx.core.lifetime();
        lifetime.new_record(lifetime.new_id(), self.now(), self.ctx.tls)
    }

    /// `Some` once loading has finished: `Ok` if the session is ready, the error if the
    /// load failed (reported again on every later access).
    fn loaded(&self) -> Option<Result<(), Error>> {
        match &*self.state() {
            State::Ready(_) => Some(Ok(())),
            State::Failed => Some(Err(not_ready())),
            State::Unloaded => None,
        }
    }

    /// Loads the session on first use.
    pub(crate) async fn ensure_loaded(&self) -> Result<(), Error> {
        if let Some(done) = self.loaded() {
            return done;
        }
        let _io = self.ctx.io.lock().await;
        // Another task of this request may have loaded it while this one waited.
        if let Some(done) = self.loaded() {
            return done;
        }
        let core = &self.ctx.core;
        let mut loaded = None;
        if let Some(v) = self.request_id() {
            match core.store.load(&v.id).await {
                Ok(Some(r)) if core.lifetime().is_dead(&r, self.now()) => {
                    // Expired (idle or absolute): treat as absent and remove it. A failed
                    // delete is harmless: the store never returns it again.
                    let plan = Plan::Delete {
                        id: v.id.clone(),
                        reason: DeleteReason::Expired,
                    };
                    let _ = core.writer.execute(plan).await;
                }
                Ok(r) => loaded = r,
                Err(e) => {
                    *self.state() = State::Failed;
                    self.mark_failed();
                    return Err(e.into());
                }
            }
        }
        let ready = match loaded {
            Some(r) => {
                metrics::counter!(names::LOADED).increment(1);
                Ready::stored(r)
            }
            None => Ready::new_session(self.fresh_record()),
        };
        *self.state() = State::Ready(ready);
        Ok(())
    }

    /// Runs `f` on the loaded session.
    async fn with_ready<R>(
        &self,
        f: impl FnOnce(&mut Ready) -> Result<R, Error>,
    ) -> Result<R, Error> {
        self.ensure_loaded().await?;
        match self.state().ready_mut() {
            Some(ready) => f(ready),
            None => Err(not_ready()),
        }
    }

    /// Plans and carries out a write of the session. On success the state reflects what
    /// is stored.
    pub(crate) async fn persist(&self, mode: Mode) -> Result<(), Error> {
        let _io = self.ctx.io.lock().await;
        let core = &self.ctx.core;
        let plan = match self.state().ready() {
            Some(ready) => ready.plan(mode, core.lifetime(), self.now()),
            None => return Ok(()),
        };
        let taken = plan.taken();
        match core.writer.execute(plan).await {
            Ok(written) => {
                let fresh = || self.fresh_record();
                match self.state().ready_mut() {
                    Some(ready) => Ok(ready.apply(written, taken, fresh)?),
                    None => Ok(()),
                }
            }
            Err(e) => {
                if let Error::Store(_) | Error::Contention(_) = &e {
                    self.mark_failed();
                }
                Err(e)
            }
        }
    }

    /// The value of `key`, deserialized as `T`; `None` if absent.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        self.with_ready(|st| {
            st.working()
                .data
                .get(key)
                .map(|v| T::deserialize(v).map_err(Error::from))
                .transpose()
        })
        .await
    }

    /// The raw JSON value of `key`.
    pub async fn get_value(&self, key: &str) -> Result<Option<Value>, Error> {
        self.with_ready(|st| Ok(st.working().data.get(key).cloned()))
            .await
    }

    /// Sets `key` to `value`. Setting a key to the value it already has changes nothing.
    /// `cookie` and `__tessera` are reserved.
    pub async fn insert<T: Serialize>(&self, key: &str, value: T) -> Result<(), Error> {
        check_key(key)?;
        let value = serde_json::to_value(value)?;
        self.with_ready(|st| {
            if st.working().data.get(key) == Some(&value) {
                return Ok(());
            }
            Ok(st.push(Op::Insert(key.to_owned(), value))?)
        })
        .await
    }

    /// Removes `key`, returning its old value.
    pub async fn remove<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        self.with_ready(|st| {
            let Some(old) = st.working().data.get(key).cloned() else {
                return Ok(None);
            };
            st.push(Op::Remove(key.to_owned()))?;
            Ok(Some(T::deserialize(old)?))
        })
        .await
    }

    /// Whether `key` is set.
    pub async fn contains(&self, key: &str) -> Result<bool, Error> {
        self.with_ready(|st| Ok(st.working().data.contains_key(key)))
            .await
    }

    /// The keys set, in insertion order.
    pub async fn keys(&self) -> Result<Vec<String>, Error> {
        self.with_ready(|st| Ok(st.working().data.keys().cloned().collect()))
            .await
    }

    /// Removes every key (the session itself, its id and user stay).
    pub async fn clear(&self) -> Result<(), Error> {
        self.with_ready(|st| {
            if !st.working().data.is_empty() {
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
        match self
            .try_update(key, move |old| Ok::<T, Infallible>(f(old)))
            .await?
        {
            Ok(v) => Ok(v),
            Err(never) => match never {},
        }
    }

    /// [`Session::update`] for a change that may not apply, such as adding to a cart that
    /// holds at most 500 items: `f` returns `Err` to refuse.
    ///
    /// Refused now, nothing is recorded and the error comes back as `Ok(Err(e))`. When the
    /// change was accepted but a concurrent request changed the session first and `f`
    /// refuses the fresher value on replay, none of this request's changes are saved and
    /// the request fails with [`Error::Refused`] (the layer answers 409 instead of the
    /// handler's response), so a handler never reports a change that did not happen.
    ///
    /// ```no_run
    /// # async fn f(session: tessera::Session) -> Result<(), tessera::Error> {
    /// let added = session
    ///     .try_update("cart", |cart: Option<Vec<String>>| {
    ///         let mut cart = cart.unwrap_or_default();
    ///         if cart.len() >= 500 {
    ///             return Err("the cart is full");
    ///         }
    ///         cart.push("SKU-1".into());
    ///         Ok(cart)
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn try_update<T, E, F>(&self, key: &str, f: F) -> Result<Result<T, E>, Error>
    where
        T: Serialize + DeserializeOwned,
        E: std::fmt::Display,
        F: Fn(Option<T>) -> Result<T, E> + Send + Sync + 'static,
    {
        check_key(key)?;
        let f = Arc::new(f);
        let replay = {
            let f = Arc::clone(&f);
            Arc::new(move |old: Option<&Value>| {
                let old = old.map(T::deserialize).transpose()?;
                match f(old) {
                    Ok(new) => Ok(serde_json::to_value(new)?),
                    Err(e) => Err(ApplyError::Refused(e.to_string())),
                }
            })
        };
        self.with_ready(|st| {
            let old = st.working().data.get(key).map(T::deserialize).transpose()?;
            let new = match f(old) {
                Ok(new) => new,
                Err(e) => return Ok(Err(e)),
            };
            let value = serde_json::to_value(&new)?;
            st.push_updated(key, value, Op::Update(key.to_owned(), replay));
            Ok(Ok(new))
        })
        .await
    }

    /// express `regenerate()`: a new id and an **empty** session. The old record is deleted
    /// once the new one is stored (at the end of the request), so a failure or a 5xx
    /// response keeps the old session valid.
    pub async fn regenerate(&self) -> Result<(), Error> {
        let fresh = self.fresh_record();
        self.with_ready(|st| {
            st.regenerate(fresh);
            Ok(())
        })
        .await
    }

    /// A new id for the same data (call it at login against session fixation). The new
    /// record is created before the old one is deleted; a 5xx response or a store failure
    /// leaves the old session intact.
    pub async fn cycle_id(&self) -> Result<(), Error> {
        let new_id = self.ctx.core.lifetime().new_id();
        self.with_ready(|st| {
            st.cycle_id(new_id);
            Ok(())
        })
        .await
    }

    /// Deletes the session from the store now and clears the cookie in the response
    /// (with the same attributes, so browsers accept the removal). Later changes in this
    /// request start a new, empty session.
    pub async fn destroy(&self) -> Result<(), Error> {
        // Without loading: delete the id the request carried (one store operation).
        let target = match self.state().ready() {
            Some(ready) => ready.stored_record().map(|r| r.id.clone()),
            None => self.request_id().map(|v| v.id.clone()),
        };
        let _io = self.ctx.io.lock().await;
        if let Some(id) = target {
            let plan = Plan::Delete {
                id,
                reason: DeleteReason::Destroy,
            };
            if let Err(e) = self.ctx.core.writer.execute(plan).await {
                self.mark_failed();
                return Err(e);
            }
        }
        let fresh = self.fresh_record();
        let mut st = self.state();
        match st.ready_mut() {
            Some(ready) => ready.destroyed(fresh),
            None => *st = State::Ready(Ready::after_destroy(fresh)),
        }
        Ok(())
    }

    /// Discards this request's changes and reads the session again from the store.
    /// Fails with [`Error::NotFound`] if it no longer exists (the request's changes are
    /// kept then).
    pub async fn reload(&self) -> Result<(), Error> {
        self.ensure_loaded().await?;
        let id = self
            .state()
            .ready()
            .and_then(|r| r.stored_record().map(|r| r.id.clone()));
        let Some(id) = id else {
            return Err(Error::NotFound);
        };
        let _io = self.ctx.io.lock().await;
        let fresh = match self.ctx.core.store.load(&id).await {
            Ok(r) => r,
            Err(e) => {
                self.mark_failed();
                return Err(e.into());
            }
        };
        let now = self.now();
        match fresh.filter(|r| !self.ctx.core.lifetime().is_dead(r, now)) {
            Some(r) => {
                if let Some(ready) = self.state().ready_mut() {
                    ready.reloaded(r);
                }
                Ok(())
            }
            None => Err(Error::NotFound),
        }
    }

    /// Writes the session now (creating it, or carrying out a pending id change) instead of
    /// at the end of the request. The response then carries the cookie even if it is a 5xx.
    pub async fn save(&self) -> Result<(), Error> {
        self.ensure_loaded().await?;
        self.persist(Mode::Explicit).await
    }

    /// Refreshes the session's expiry at the end of this request even inside `touch_after`.
    pub async fn touch(&self) -> Result<(), Error> {
        self.with_ready(|st| {
            st.force_touch();
            Ok(())
        })
        .await
    }

    /// Makes this session persistent for `max_age` ("remember me"), or a browser-session
    /// cookie with `None`. The session's idle window becomes `max_age`, and the new expiry
    /// reaches the browser in this same response.
    pub async fn set_max_age(&self, max_age: Option<Duration>) -> Result<(), Error> {
        let ms = max_age.map(|d| d.as_millis().min(i64::MAX as u128) as i64);
        self.with_ready(|st| {
            if st.working().cookie.original_max_age != ms {
                st.push(Op::SetMaxAge(ms))?;
            }
            Ok(())
        })
        .await
    }

    /// Overrides the absolute timeout (counted from creation) for this session only.
    pub async fn set_absolute_timeout(&self, timeout: Option<Duration>) -> Result<(), Error> {
        let ms = timeout.map(|d| d.as_millis().min(i64::MAX as u128) as i64);
        self.with_ready(|st| {
            if st.working().absolute_timeout_ms != ms {
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
        self.with_ready(|st| {
            if st.working().user != user {
                st.push(Op::SetUser(user))?;
            }
            Ok(())
        })
        .await
    }

    /// Unbinds the session from its user.
    pub async fn clear_user(&self) -> Result<(), Error> {
        self.with_ready(|st| {
            if st.working().user.is_some() {
                st.push(Op::SetUser(None))?;
            }
            Ok(())
        })
        .await
    }

    /// The user the session is bound to.
    pub async fn user(&self) -> Result<Option<String>, Error> {
        self.with_ready(|st| Ok(st.working().user.clone())).await
    }

    /// The session id (for a new session, the id it will be stored under). A bearer
    /// secret: never log or display it.
    pub async fn id(&self) -> Result<SessionId, Error> {
        self.with_ready(|st| Ok(st.working().id.clone())).await
    }

    /// Whether the session is not (yet) in the store.
    pub async fn is_new(&self) -> Result<bool, Error> {
        self.with_ready(|st| Ok(st.stored_record().is_none())).await
    }

    /// When the session was created.
    pub async fn created_at(&self) -> Result<OffsetDateTime, Error> {
        self.with_ready(|st| Ok(st.working().created_at)).await
    }

    /// When the session expires on the server, as of its last write or touch.
    pub async fn expires_at(&self) -> Result<OffsetDateTime, Error> {
        self.with_ready(|st| Ok(st.working().expires_at)).await
    }

    /// The store behind this session, e.g. to list or revoke a user's other sessions.
    pub fn store(&self) -> &BoxedStore {
        self.ctx.core.store.inner()
    }
}
