//! [`Engine`]: the framework-neutral session engine. An adapter (the tower layer in this
//! crate, `tessera-actix` for actix-web) hands it the request's parts and gets back what
//! to write into the response; all session logic lives behind it.

use crate::config::{SessionConfig, StoreFailure};
use crate::cookie;
use crate::core::Core;
use crate::error::{Error, StoreError};
use crate::session::{RequestToken, Session};
use crate::state::{self, CookieOut, HeaderOut, Incoming, Mode};
use crate::store::{BoxedStore, SessionStore};
use std::sync::Arc;

/// The session engine behind an adapter: one per application (cheap to clone).
///
/// Per request an adapter calls [`Engine::begin`] with the request's parts, gives the
/// [`Session`] to the handler, and after the handler calls [`Engine::finish`] with the
/// response status; it then applies the [`Finished`] to the response.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use tessera::{Engine, MemoryStore, RequestParts, SessionConfig};
///
/// let config = SessionConfig::builder()
///     .secret("a secret of at least thirty-two bytes, from the environment")
///     .build()
///     .unwrap();
/// let engine = Engine::new(MemoryStore::default(), config);
/// let session = engine.begin(RequestParts::new("/")).expect("inside the cookie path");
/// session.insert("user", "ana").await.unwrap();
/// let done = engine.finish(&session, 200).await;
/// assert!(done.error().is_none());
/// assert!(done.set_cookie().unwrap().starts_with("id=s%3A"));
/// # }
/// ```
#[derive(Clone)]
pub struct Engine {
    core: Arc<Core>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.core.config)
            .finish_non_exhaustive()
    }
}

/// What the engine needs to know about a request.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct RequestParts<'a> {
    path: &'a str,
    cookie: Option<&'a str>,
    header: Option<&'a str>,
    tls: bool,
}

impl<'a> RequestParts<'a> {
    /// A request for `path` (without the query), carrying no token yet.
    pub fn new(path: &'a str) -> Self {
        Self {
            path,
            cookie: None,
            header: None,
            tls: false,
        }
    }

    /// The value of the session cookie (find it with [`Engine::find_cookie`]).
    pub fn cookie(mut self, value: Option<&'a str>) -> Self {
        self.cookie = value;
        self
    }

    /// The value of the session header ([`Engine::header_name`]), if the request has one.
    pub fn header(mut self, value: Option<&'a str>) -> Self {
        self.header = value;
        self
    }

    /// Whether the request came over TLS (see [`Engine::is_tls`]).
    pub fn tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }
}

/// What to write into the response, from [`Engine::finish`].
#[derive(Debug)]
#[must_use]
pub struct Finished {
    error: Option<Error>,
    set_cookie: Option<String>,
    header: Option<String>,
    vary_cookie: bool,
}

impl Finished {
    /// If set, the response must be replaced by an error response with
    /// [`Error::status`] (and, for people, [`Error::public_message`]): the session could
    /// not be written, so a success would claim data was stored that was not.
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    /// Takes the error out (see [`Finished::error`]).
    pub fn take_error(&mut self) -> Option<Error> {
        self.error.take()
    }

    /// A `Set-Cookie` header value to append.
    pub fn set_cookie(&self) -> Option<&str> {
        self.set_cookie.as_deref()
    }

    /// A value for the session header ([`Engine::header_name`]) to set. An **empty** value
    /// tells a header-only client that the token it sent names no session any more.
    pub fn session_header(&self) -> Option<&str> {
        self.header.as_deref()
    }

    /// Whether `Vary: Cookie` belongs on the response (the cookie transport is on).
    pub fn vary_cookie(&self) -> bool {
        self.vary_cookie
    }
}

impl Engine {
    /// An engine storing sessions in `store`.
    pub fn new<S: SessionStore>(store: S, config: SessionConfig) -> Self {
        Self::with_boxed(BoxedStore::new(store), config)
    }

    /// An engine over an already type-erased store.
    pub fn with_boxed(store: BoxedStore, config: SessionConfig) -> Self {
        Self {
            core: Arc::new(Core::new(store, config)),
        }
    }

    /// The store, for administrative operations outside requests.
    pub fn store(&self) -> &BoxedStore {
        self.core.store.inner()
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.core.config
    }

    /// The first value of the session cookie in the request's `Cookie` header values
    /// (parsed as the `cookie` npm package does).
    pub fn find_cookie<'h>(
        &self,
        cookie_headers: impl IntoIterator<Item = &'h str>,
    ) -> Option<&'h str> {
        cookie::find_in(cookie_headers, &self.core.config.cookie_name)
    }

    /// The session header's name, if the header transport is on.
    pub fn header_name(&self) -> Option<&str> {
        self.core
            .config
            .transport
            .header
            .as_ref()
            .map(|h| h.as_str())
    }

    /// Whether a request counts as TLS: `https` itself, or (only with `trust_proxy`) a
    /// first `X-Forwarded-Proto` value of `https`.
    pub fn is_tls(&self, https: bool, forwarded_proto: Option<&str>) -> bool {
        https || (self.core.config.trust_proxy && cookie::forwarded_https(forwarded_proto))
    }

    /// Starts a request: its session, or `None` outside the cookie path (as in express,
    /// such requests have no session). Nothing is verified or loaded yet.
    pub fn begin(&self, req: RequestParts<'_>) -> Option<Session> {
        let config = &self.core.config;
        if !req.path.starts_with(config.path.as_str()) {
            return None;
        }
        let token = RequestToken {
            cookie: req
                .cookie
                .filter(|_| config.transport.cookie)
                .map(Into::into),
            header: req
                .header
                .filter(|_| config.transport.header.is_some())
                .map(Into::into),
        };
        Some(Session::new(Arc::clone(&self.core), token, req.tls))
    }

    /// Ends a request whose handler answered `status`: writes the session back (unless
    /// the status is 5xx) and decides the cookie. Runs once per request.
    pub async fn finish(&self, session: &Session, status: u16) -> Finished {
        let config = &self.core.config;
        let server_error = (500..600).contains(&status);
        let mut done = Finished {
            error: None,
            set_cookie: None,
            header: None,
            vary_cookie: config.transport.cookie,
        };
        let unloaded = session.state().ready().is_none() && !session.store_failed();
        if unloaded {
            let has_id = session.request_id().is_some();
            if !state::must_load_at_end(config, has_id, server_error) {
                return done;
            }
            if let Err(e) = session.ensure_loaded().await {
                done.error = Some(e);
                return done;
            }
        }
        if let Err(e) = session.persist(Mode::End { server_error }).await {
            done.error = Some(e);
            return done;
        }
        if session.store_failed() && config.on_store_failure == StoreFailure::ServiceUnavailable {
            done.error = Some(Error::Store(StoreError::unavailable(
                "a session store operation failed",
            )));
            return done;
        }
        let incoming = Incoming {
            verified: session.request_id(),
            header_token: session.carried_header(),
            server_error,
        };
        let (cookie_out, header_out) = state::outgoing(&session.state(), incoming, config);
        let secure = cookie::is_secure(config, session.tls());
        let now = config.clock.now();
        done.set_cookie = match cookie_out {
            CookieOut::Keep => None,
            CookieOut::Set { id, expires } => Some(cookie::set_cookie(
                config,
                &config.secrets.sign(&id),
                expires,
                now,
                secure,
            )),
            CookieOut::Clear => Some(cookie::removal_cookie(config, now, secure)),
        };
        done.header = match header_out {
            HeaderOut::Keep => None,
            HeaderOut::Send(id) => Some(config.secrets.sign(&id)),
            HeaderOut::Ended => Some(String::new()),
        };
        done
    }

    /// Sessions with a save in flight or queued in this engine (the write-combining table;
    /// empty when the engine is idle).
    #[doc(hidden)]
    pub fn saves_in_flight(&self) -> usize {
        self.core.writer.in_flight()
    }
}
