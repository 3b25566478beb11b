//! [`SessionLayer`]: the tower adapter over the [`Engine`]. It reads the request's parts,
//! puts the [`Session`] into the request extensions, and after the inner service answered
//! writes what the engine decided into the response.

use crate::config::SessionConfig;
use crate::cookie;
use crate::engine::{Engine, Finished, RequestParts};
use crate::error::Error;
use crate::session::Session;
use crate::store::{BoxedStore, SessionStore};
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, header};
use std::future::Future;
use std::pin::Pin;
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
#[derive(Clone, Debug)]
pub struct SessionLayer {
    engine: Engine,
}

impl SessionLayer {
    /// A layer storing sessions in `store`.
    pub fn new<S: SessionStore>(store: S, config: SessionConfig) -> Self {
        Self::from_engine(Engine::new(store, config))
    }

    /// A layer over an already type-erased store.
    pub fn with_boxed(store: BoxedStore, config: SessionConfig) -> Self {
        Self::from_engine(Engine::with_boxed(store, config))
    }

    /// A layer over an engine (share one engine between adapters).
    pub fn from_engine(engine: Engine) -> Self {
        Self { engine }
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The store, for administrative operations outside requests.
    pub fn store(&self) -> &BoxedStore {
        self.engine.store()
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        self.engine.config()
    }
}

impl<S> tower_layer::Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService {
            inner,
            engine: self.engine.clone(),
        }
    }
}

/// The service [`SessionLayer`] wraps around the inner service.
#[derive(Clone)]
pub struct SessionService<S> {
    inner: S,
    engine: Engine,
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
    ResBody: Default + Send + 'static,
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
        let Some(session) = self.begin(&req) else {
            // As in express: no session outside the cookie's path.
            return Box::pin(inner.call(req));
        };
        req.extensions_mut().insert(session.clone());
        let engine = self.engine.clone();
        Box::pin(async move {
            let mut res = inner.call(req).await?;
            let done = engine.finish(&session, res.status().as_u16()).await;
            Ok(apply(&engine, done, &mut res).unwrap_or(res))
        })
    }
}

impl<S> SessionService<S> {
    fn begin<B>(&self, req: &Request<B>) -> Option<Session> {
        let engine = &self.engine;
        let headers = req.headers();
        let config = engine.config();
        let cookie = config
            .transport
            .cookie
            .then(|| cookie::find_cookie(headers, &config.cookie_name))
            .flatten();
        let header = config
            .transport
            .header
            .as_ref()
            .and_then(|name| headers.get(name)?.to_str().ok());
        let https = req.uri().scheme() == Some(&http::uri::Scheme::HTTPS);
        let forwarded = headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok());
        let parts = RequestParts::new(req.uri().path())
            .cookie(cookie)
            .header(header)
            .tls(engine.is_tls(https, forwarded));
        engine.begin(parts)
    }
}

/// Writes the engine's decision into the response, or returns the error response that
/// replaces it.
fn apply<B: Default>(
    engine: &Engine,
    mut done: Finished,
    res: &mut Response<B>,
) -> Option<Response<B>> {
    if let Some(err) = done.take_error() {
        return Some(error_response(err));
    }
    let headers = res.headers_mut();
    if let Some(v) = done
        .set_cookie()
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        headers.append(header::SET_COOKIE, v);
    }
    if let (Some(v), Some(name)) = (
        done.session_header(),
        engine.config().transport.header.as_ref(),
    ) {
        if let Ok(v) = HeaderValue::from_str(v) {
            headers.insert(HeaderName::clone(name), v);
        }
    }
    if done.vary_cookie()
        && !headers
            .get_all(header::VARY)
            .iter()
            .any(|v| v.as_bytes().eq_ignore_ascii_case(b"cookie"))
    {
        headers.append(header::VARY, HeaderValue::from_static("Cookie"));
    }
    None
}

/// The response that replaces the handler's when the session could not be written: the
/// error's status, `Cache-Control: no-store`, `Retry-After: 1` on a 503, an empty body
/// (any body type with `Default` works, as tower expects), and the error itself as a
/// [`SessionFailure`] extension so an outer layer can render a page or JSON for people.
fn error_response<B: Default>(err: Error) -> Response<B> {
    tracing::warn!(status = err.status().as_u16(), error = %err, "session could not be written; answering with an error");
    error_with_body(&err, B::default())
}

/// An error response for `err` with `body`.
pub(crate) fn error_with_body<B>(err: &Error, body: B) -> Response<B> {
    let status = err.status();
    let mut res = Response::new(body);
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    res.extensions_mut().insert(SessionFailure {
        status,
        message: err.public_message(),
    });
    res
}

/// Put into the extensions of a response the layer generated because the session could
/// not be written (store down, contention, the session ended meanwhile). Render it for
/// people in an outer layer (e.g. `axum::middleware::map_response`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionFailure {
    /// The status of the response.
    pub status: StatusCode,
    /// A message for people, with no detail of the failure.
    pub message: &'static str,
}
