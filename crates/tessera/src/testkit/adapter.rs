//! How the layer kit's requests reach an app: the kit's [`Routes`] (what the app under
//! test does), an [`Adapter`] that serves them behind one framework's session middleware,
//! and the [`Instance`]s it starts: in process through tessera's tower layer (the
//! default), or over real HTTP ([`HttpInstance`]) for any other framework.

use crate::{BoxedStore, Record, SessionConfig, SessionId, SessionLayer, SessionStore};
use http::{Request, Response, StatusCode};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::Notify;
use tower_layer::Layer as _;
use tower_service::Service as _;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Signals for the handler that holds a loaded session until told to go on.
#[derive(Default)]
pub(crate) struct Gate {
    pub(crate) reached: Notify,
    pub(crate) go: Notify,
}

/// The kit's request handler, for an [`Adapter`] to serve: every path goes to
/// [`Routes::respond`] with the request's session.
#[derive(Clone)]
pub struct Routes {
    gate: Arc<Gate>,
    foreign: Option<BoxedStore>,
}

impl Routes {
    /// Routes signalling through `gate`; `/foreign` writes through `foreign` (another
    /// instance's handle).
    pub(crate) fn new(gate: Arc<Gate>, foreign: Option<BoxedStore>) -> Self {
        Self { gate, foreign }
    }

    /// Answers a request for `path` (method ignored) with this session (`None` when the
    /// middleware gave the request none): the status and the body.
    pub async fn respond(
        &self,
        session: Option<crate::Session>,
        path: &str,
    ) -> (StatusCode, String) {
        match session {
            Some(s) => match handle(self, &s, path).await {
                Ok(r) => r,
                Err(e) => (e.status(), e.to_string()),
            },
            None => (StatusCode::INTERNAL_SERVER_ERROR, "no session".into()),
        }
    }
}

/// A response, reduced to what the checks read.
#[derive(Debug)]
pub struct Resp {
    /// The status.
    pub status: StatusCode,
    /// The body.
    pub body: String,
    /// `name=value` of the first `Set-Cookie`, if any.
    pub cookie: Option<String>,
}

/// One running app instance the kit sends requests to.
pub trait Instance: Send + Sync + 'static {
    /// Sends `method path` with the `Cookie` header `cookie` (`name=value`), if any.
    fn send(&self, method: &str, path: &str, cookie: Option<&str>) -> BoxFuture<Resp>;
}

/// Starts app instances for the kit: the session middleware of one framework around the
/// kit's [`Routes`], over `store` with `config`.
pub trait Adapter: Send + Sync + 'static {
    /// A new instance (a second call = a second app instance).
    fn instance(
        &self,
        store: BoxedStore,
        config: SessionConfig,
        routes: Routes,
    ) -> BoxFuture<Box<dyn Instance>>;
}

/// The default adapter: tessera's tower layer around the routes, in process.
pub(crate) struct TowerAdapter;

impl Adapter for TowerAdapter {
    fn instance(
        &self,
        store: BoxedStore,
        config: SessionConfig,
        routes: Routes,
    ) -> BoxFuture<Box<dyn Instance>> {
        let layer = SessionLayer::with_boxed(store, config);
        Box::pin(async move { Box::new(TowerInstance { layer, routes }) as Box<dyn Instance> })
    }
}

struct TowerInstance {
    layer: SessionLayer,
    routes: Routes,
}

impl Instance for TowerInstance {
    fn send(&self, method: &str, path: &str, cookie: Option<&str>) -> BoxFuture<Resp> {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        let req = req.body(String::new()).expect("request");
        let mut svc = self.layer.layer(Handler(self.routes.clone()));
        Box::pin(async move {
            std::future::poll_fn(|cx| svc.poll_ready(cx))
                .await
                .expect("ready");
            let res = svc.call(req).await.expect("infallible");
            let cookie = res
                .headers()
                .get("set-cookie")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(';').next())
                .map(str::to_owned);
            Resp {
                status: res.status(),
                body: res.into_body(),
                cookie,
            }
        })
    }
}

/// The routes as a tower service.
#[derive(Clone)]
struct Handler(Routes);

impl tower_service::Service<Request<String>> for Handler {
    type Response = Response<String>;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<Result<Response<String>, Self::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<String>) -> Self::Future {
        let routes = self.0.clone();
        Box::pin(async move {
            let session = req.extensions().get::<crate::Session>().cloned();
            let (status, body) = routes.respond(session, req.uri().path()).await;
            let mut res = Response::new(body);
            *res.status_mut() = status;
            Ok(res)
        })
    }
}

/// An [`Instance`] reached over HTTP/1.1 on a loopback port: what an adapter that serves
/// real HTTP returns. One connection per request.
#[derive(Debug, Clone, Copy)]
pub struct HttpInstance {
    /// The server's address.
    pub addr: std::net::SocketAddr,
}

impl Instance for HttpInstance {
    fn send(&self, method: &str, path: &str, cookie: Option<&str>) -> BoxFuture<Resp> {
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 0\r\n{}\r\n",
            cookie
                .map(|c| format!("Cookie: {c}\r\n"))
                .unwrap_or_default()
        );
        let addr = self.addr;
        Box::pin(async move { crate::testkit::wire::exchange(addr, &request).await })
    }
}

async fn handle(
    app: &Routes,
    s: &crate::Session,
    path: &str,
) -> Result<(StatusCode, String), crate::Error> {
    let ok = |body: String| Ok((StatusCode::OK, body));
    match path {
        "/none" => ok("none".into()),
        "/incr" => ok(s
            .update("n", |n: Option<u64>| n.unwrap_or(0) + 1)
            .await?
            .to_string()),
        "/login" => {
            s.cycle_id().await?;
            s.set_user("kit-user").await?;
            s.insert("user", "kit-user").await?;
            ok("ok".into())
        }
        "/logout" => {
            s.destroy().await?;
            ok("bye".into())
        }
        "/slow-set" => {
            s.get::<serde_json::Value>("user").await?;
            app.gate.reached.notify_one();
            app.gate.go.notified().await;
            s.insert("slow", true).await?;
            ok("ok".into())
        }
        "/foreign" => {
            // Another instance writes the session after this request loaded it.
            s.get::<serde_json::Value>("user").await?;
            let id = s.id().await?;
            if let Some(store) = &app.foreign {
                foreign_write(store, &id).await;
            }
            s.insert("mine", true).await?;
            ok("ok".into())
        }
        p => match p.strip_prefix("/get/") {
            Some(key) => match s.get_value(key).await? {
                Some(v) => ok(v.to_string()),
                None => Ok((StatusCode::NOT_FOUND, String::new())),
            },
            None => Ok((StatusCode::NOT_FOUND, String::new())),
        },
    }
}

async fn foreign_write(store: &BoxedStore, id: &SessionId) {
    for _ in 0..10 {
        let mut r: Record = store.load(id).await.expect("load").expect("session exists");
        r.data.insert("foreign".into(), serde_json::json!(true));
        if let Ok(crate::SaveOutcome::Saved(_)) = store.save(&r).await {
            return;
        }
    }
    panic!("the foreign write could not be saved");
}
