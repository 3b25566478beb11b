//! [`SessionLayer`]: the tower middleware that gives each request a [`Session`] and writes
//! it back before the response leaves.

use crate::SessionConfig;
use crate::config::StoreFailure;
use crate::cookie;
use crate::error::Error;
use crate::persist::Mode;
use crate::session::{RequestToken, Session};
use crate::shared::Shared;
use crate::state::Phase;
use crate::store::{BoxedStore, SessionStore};
use http::{HeaderValue, Request, Response, StatusCode, header};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// The session middleware.
///
/// ```
/// use axum::{Router, routing::get};
/// use tessera::{MemoryStore, Session, SessionConfig, SessionLayer};
///
/// let config = SessionConfig::builder()
///     .secret("a secret of at least thirty-two bytes, from the environment")
///     .build()
///     .unwrap();
/// let app: Router = Router::new()
///     .route("/", get(|s: Session| async move { s.get::<String>("name").await.ok().flatten().unwrap_or_default() }))
///     .layer(SessionLayer::new(MemoryStore::default(), config));
/// ```
#[derive(Clone)]
pub struct SessionLayer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SessionLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionLayer")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl SessionLayer {
    /// A layer storing sessions in `store`.
    pub fn new<S: SessionStore>(store: S, config: SessionConfig) -> Self {
        Self::with_boxed(BoxedStore::new(store), config)
    }

    /// A layer over an already type-erased store.
    pub fn with_boxed(store: BoxedStore, config: SessionConfig) -> Self {
        Self {
            shared: Arc::new(Shared::new(config, store)),
        }
    }

    /// The store, for administrative operations outside requests.
    pub fn store(&self) -> &BoxedStore {
        &self.shared.store
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.shared.config
    }
}

impl<S> tower_layer::Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The service [`SessionLayer`] wraps around the inner service.
#[derive(Clone)]
pub struct SessionService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> std::fmt::Debug for SessionService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionService")
    }
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, ReqBody, ResBody> tower_service::Service<Request<ReqBody>> for SessionService<S>
where
    S: tower_service::Service<Request<ReqBody>, Response = Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<String> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        // The clone that was polled ready is the one that must be called.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let config = &self.shared.config;
        if !req.uri().path().starts_with(config.path.as_str()) {
            // As in express: no session outside the cookie's path.
            return Box::pin(inner.call(req));
        }
        let verified = request_token(config, req.headers());
        let tls = cookie::request_is_tls(config, req.uri(), req.headers());
        let session = Session::new(Arc::clone(&self.shared), verified, tls);
        req.extensions_mut().insert(session.clone());
        Box::pin(async move {
            let res = inner.call(req).await?;
            Ok(session.finalize(res).await)
        })
    }
}

/// The raw token(s) of the request, verified later only if the session is used.
fn request_token(config: &SessionConfig, headers: &http::HeaderMap) -> RequestToken {
    RequestToken {
        cookie: config
            .transport
            .cookie
            .then(|| cookie::find_cookie(headers, &config.cookie_name))
            .flatten()
            .map(Into::into),
        header: config
            .transport
            .header
            .as_ref()
            .and_then(|name| headers.get(name)?.to_str().ok())
            .map(Into::into),
    }
}

fn plain_response<B: From<String>>(status: StatusCode, msg: &str) -> Response<B> {
    let mut res = Response::new(B::from(format!("{msg}\n")));
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    res
}

pub(crate) fn error_response<B: From<String>>(err: &Error) -> Response<B> {
    let status = err.status();
    let msg = match err {
        Error::Store(_) => {
            "Service unavailable: the session store could not be reached. Please try again."
        }
        Error::Contention(_) => {
            "Service unavailable: this session is busy with other requests. Please try again."
        }
        Error::Ended => {
            "Conflict: your session ended while this request was running; nothing was saved."
        }
        _ => "Internal server error: the session could not be processed.",
    };
    plain_response(status, msg)
}

impl Session {
    /// Writes the session back and sets the cookie; runs once per request.
    pub(crate) async fn finalize<B: From<String>>(&self, mut res: Response<B>) -> Response<B> {
        let config = &self.inner.shared.config;
        let server_error = res.status().is_server_error();
        if self.state().phase == Phase::Unloaded {
            let has_id = self.request_id().is_some();
            let must_load =
                !server_error && ((config.rolling && has_id) || config.save_uninitialized);
            if !must_load {
                return res;
            }
            if let Err(e) = self.ensure_loaded().await {
                return error_response(&e);
            }
        }
        if !server_error {
            if let Err(e) = self.persist(Mode::End).await {
                return error_response(&e);
            }
        }
        let st = self.state();
        if st.store_failed && config.on_store_failure == StoreFailure::ServiceUnavailable {
            return error_response(&Error::Store(crate::StoreError::unavailable(
                "a session store operation failed",
            )));
        }
        let now = config.clock.now();
        let request_id = self.request_id();
        let set = st.stored.as_ref().filter(|stored| {
            st.cookie_pending
                || (!server_error
                    && (config.rolling
                        || request_id.is_none_or(|v| {
                            v.id != stored.id || (config.resign && v.secret_index > 0)
                        })))
        });
        let secure = cookie::is_secure(config, self.inner.tls);
        let headers = res.headers_mut();
        if let Some(stored) = set {
            let value = config.secrets.sign(&stored.id);
            if config.transport.cookie {
                headers.append(
                    header::SET_COOKIE,
                    cookie::set_cookie(config, &value, stored.cookie.expires, now, secure),
                );
            }
            if let Some(name) = &config.transport.header {
                if request_id.is_none_or(|v| v.id != stored.id) {
                    if let Ok(v) = HeaderValue::from_str(&value) {
                        headers.insert(name.clone(), v);
                    }
                }
            }
        } else if st.destroyed && request_id.is_some() && config.transport.cookie {
            headers.append(
                header::SET_COOKIE,
                cookie::removal_cookie(config, now, secure),
            );
        }
        if config.transport.cookie
            && !headers
                .get_all(header::VARY)
                .iter()
                .any(|v| v.as_bytes().eq_ignore_ascii_case(b"cookie"))
        {
            headers.append(header::VARY, HeaderValue::from_static("Cookie"));
        }
        res
    }
}
