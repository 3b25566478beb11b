//! [`TesseraSession`]: the actix-web middleware around tessera's [`Engine`].
//!
//! Per request: read the cookie, the session header and the TLS facts into
//! [`RequestParts`], `Engine::begin` a lazy session and put it into the request's
//! extensions, run the handler, `Engine::finish` with the response status, and write the
//! cookie, the header and `Vary` into the response, or replace it with the error response
//! when the session could not be written. All session logic is the engine's.

use actix_web::HttpMessage;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;
use tessera::{Engine, Finished, RequestParts, SessionConfig, SessionStore};

/// The session middleware: `App::new().wrap(TesseraSession::new(store, config))`.
///
/// Cheap to clone: `HttpServer::new` calls its factory once per worker, and every worker
/// shares the one engine (its write combining and stores are `Send + Sync`).
#[derive(Clone)]
pub struct TesseraSession {
    engine: Engine,
}

impl std::fmt::Debug for TesseraSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TesseraSession")
    }
}

impl TesseraSession {
    /// Sessions kept in `store` with `config`.
    pub fn new<S: SessionStore>(store: S, config: SessionConfig) -> Self {
        Self::from_engine(Engine::new(store, config))
    }

    /// Over an existing engine (e.g. one shared with a tower/axum app in the same process).
    pub fn from_engine(engine: Engine) -> Self {
        Self { engine }
    }

    /// The engine, for administrative operations (`engine().store()`).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

impl<S, B> Transform<S, ServiceRequest> for TesseraSession
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = SessionMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(SessionMiddleware {
            service: Rc::new(service),
            engine: self.engine.clone(),
        }))
    }
}

/// The service [`TesseraSession`] wraps around the app's.
pub struct SessionMiddleware<S> {
    service: Rc<S>,
    engine: Engine,
}

type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

impl<S, B> Service<ServiceRequest> for SessionMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let Some(session) = begin(&self.engine, &req) else {
            // As in express: no session outside the cookie's path.
            return Box::pin(async move { Ok(service.call(req).await?.map_into_left_body()) });
        };
        req.extensions_mut().insert(session.clone());
        let engine = self.engine.clone();
        Box::pin(async move {
            // actix renders a handler's or an extractor's error into a response before it
            // gets here; an `Err` comes only from a middleware inside this one. Its
            // request is gone, so no cookie can be attached: the engine still finishes
            // (with the error's status) so nothing is left half done.
            let res = match service.call(req).await {
                Ok(res) => res,
                Err(e) => {
                    let status = e.as_response_error().status_code().as_u16();
                    let _ = engine.finish(&session, status).await;
                    return Err(e);
                }
            };
            let done = engine.finish(&session, res.status().as_u16()).await;
            Ok(apply(&engine, done, res.map_into_left_body()))
        })
    }
}

/// The request's session, or `None` outside the cookie path.
fn begin(engine: &Engine, req: &ServiceRequest) -> Option<tessera::Session> {
    let headers = req.headers();
    let cookie_headers = headers
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok());
    let cookie = engine.find_cookie(cookie_headers);
    let token_header = engine
        .header_name()
        .and_then(|name| headers.get(name)?.to_str().ok());
    // Whether this server accepted the connection over TLS; a proxy's X-Forwarded-Proto
    // counts only with `trust_proxy` (the engine decides). actix's `connection_info()`
    // would trust the header always.
    let https = req.app_config().secure();
    let forwarded = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok());
    let parts = RequestParts::new(req.path())
        .cookie(cookie)
        .header(token_header)
        .tls(engine.is_tls(https, forwarded));
    engine.begin(parts)
}

/// Writes the engine's decision into the response, or replaces the response with the
/// error response when the session could not be written.
fn apply<B>(
    engine: &Engine,
    mut done: Finished,
    mut res: ServiceResponse<EitherBody<B>>,
) -> ServiceResponse<EitherBody<B>> {
    if let Some(err) = done.take_error() {
        tracing::warn!(status = err.status().as_u16(), error = %err, "session could not be written; answering with an error");
        let (req, _) = res.into_parts();
        let response = actix_web::ResponseError::error_response(&crate::Error(err));
        return ServiceResponse::new(req, response).map_into_right_body();
    }
    let headers = res.headers_mut();
    if let Some(v) = done
        .set_cookie()
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        headers.append(header::SET_COOKIE, v);
    }
    if let (Some(v), Some(name)) = (done.session_header(), engine.header_name()) {
        if let (Ok(name), Ok(v)) = (HeaderName::try_from(name), HeaderValue::from_str(v)) {
            headers.insert(name, v);
        }
    }
    if done.vary_cookie()
        && !headers
            .get_all(header::VARY)
            .any(|v| v.as_bytes().eq_ignore_ascii_case(b"cookie"))
    {
        headers.append(header::VARY, HeaderValue::from_static("Cookie"));
    }
    res
}
