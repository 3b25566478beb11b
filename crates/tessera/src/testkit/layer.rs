//! The layer test kit: behaviour of a store behind real [`SessionLayer`](crate::SessionLayer)s, the same checks
//! for every store crate (`tessera::layer_tests!`).
//!
//! ```ignore
//! tessera::layer_tests!(async {
//!     // Opens handles to one fresh namespace (each handle = one app instance), and
//!     // optionally a hook that takes the server away and brings it back.
//!     Some(tessera::testkit::layer::Kit::new(move || async move { BoxedStore::new(open().await) })
//!         .outage(my_outage_hook))
//! });
//! ```
//!
//! By default requests go through the tower layer around a small handler service (no
//! framework, in process). A framework adapter runs the same checks through its own
//! middleware with [`Kit::adapter`]: its [`Adapter`] serves the kit's [`Routes`] (usually
//! over real HTTP, see [`HttpInstance`]) and the kit drives it with requests.

use super::adapter::Gate;
pub use super::adapter::{Adapter, HttpInstance, Instance, Resp, Routes};
use crate::testkit::eventually;
use crate::{BoxedStore, Record, SessionConfig, SessionId, SessionStore};
use http::StatusCode;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Takes a store's server away and brings it back (a private server stopped and
/// restarted, or a [`TcpCut`](crate::testkit::proxy::TcpCut) in front of a shared one).
pub trait Outage: Send + Sync + 'static {
    /// The server stops answering; returns once it has.
    fn stop(&self) -> BoxFuture<()>;
    /// The server is back; returns once it accepts connections again.
    fn start(&self) -> BoxFuture<()>;
    /// Whether sessions written before the outage survive it (a durable server).
    fn durable(&self) -> bool {
        true
    }
}

/// What a store crate hands the kit.
pub struct Kit {
    open: Box<dyn Fn() -> BoxFuture<BoxedStore> + Send + Sync>,
    adapter: Arc<dyn Adapter>,
    outage: Option<Box<dyn Outage>>,
    cleanup: std::sync::Mutex<Option<BoxFuture<()>>>,
}

impl Kit {
    /// `open` returns a new handle to the same fresh namespace on every call (a second
    /// call = a second app instance on the same back end).
    pub fn new<F, Fut>(open: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = BoxedStore> + Send + 'static,
    {
        Self {
            open: Box::new(move || Box::pin(open())),
            adapter: Arc::new(super::adapter::TowerAdapter),
            outage: None,
            cleanup: std::sync::Mutex::new(None),
        }
    }

    /// Removes what the checks wrote (the namespace's keys, table or collection); run
    /// after the check by `layer_tests!`, also when it failed.
    pub fn cleanup(self, f: impl Future<Output = ()> + Send + 'static) -> Self {
        *self.cleanup.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::pin(f));
        self
    }

    /// Runs `check` on this kit, then the cleanup, then reports the check's failure.
    #[doc(hidden)]
    pub async fn run<F, Fut>(self, check: F)
    where
        F: FnOnce(Arc<Kit>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let cleanup = self
            .cleanup
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let outcome = tokio::spawn(check(Arc::new(self))).await;
        if let Some(c) = cleanup {
            c.await;
        }
        if let Err(e) = outcome {
            std::panic::resume_unwind(e.into_panic());
        }
    }

    /// Runs the checks through another framework's middleware (default: tessera's tower
    /// layer, in process).
    pub fn adapter(mut self, adapter: impl Adapter) -> Self {
        self.adapter = Arc::new(adapter);
        self
    }

    /// The hook for the outage check.
    pub fn outage(mut self, hook: impl Outage) -> Self {
        self.outage = Some(Box::new(hook));
        self
    }

    async fn open(&self) -> BoxedStore {
        (self.open)().await
    }
}

const SECRET: &str = "the layer test kit's secret, at least thirty-two bytes";

fn config() -> SessionConfig {
    SessionConfig::builder()
        .secret(SECRET)
        .store_timeout(Duration::from_secs(2))
        .build()
        .expect("valid config")
}

/// One app instance in a check: an adapter's instance and the routes' signals.
#[derive(Clone)]
struct App {
    instance: Arc<dyn Instance>,
    gate: Arc<Gate>,
}

impl App {
    /// A new instance over `store`; `foreign` is the store the `/foreign` route writes
    /// through (another instance's handle).
    async fn new(kit: &Kit, store: BoxedStore, foreign: Option<BoxedStore>) -> Self {
        let gate = Arc::new(Gate::default());
        let routes = Routes::new(Arc::clone(&gate), foreign);
        let instance = kit.adapter.instance(store, config(), routes).await;
        Self {
            instance: Arc::from(instance),
            gate,
        }
    }

    async fn send(&self, method: &str, path: &str, cookie: Option<&str>) -> Resp {
        self.instance.send(method, path, cookie).await
    }
}

/// 200 concurrent increments through two layers (two app instances) on one back end:
/// none is lost.
pub async fn two_layers_lose_no_update(kit: &Kit) {
    let a = App::new(kit, kit.open().await, None).await;
    let b = App::new(kit, kit.open().await, None).await;
    let first = a.send("POST", "/incr", None).await;
    assert_eq!(first.status, StatusCode::OK, "{first:?}");
    let cookie = first.cookie.expect("a new session sets its cookie");
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let app = if i % 2 == 0 { a.clone() } else { b.clone() };
            let cookie = cookie.clone();
            tokio::spawn(async move { app.send("POST", "/incr", Some(&cookie)).await })
        })
        .collect();
    for t in tasks {
        let r = t.await.expect("request task");
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
    }
    let n = a.send("GET", "/get/n", Some(&cookie)).await;
    assert_eq!(n.body, "201", "every increment is kept");
}

/// A write by another instance while a request holds the session is kept, and so is the
/// request's own change (the conditional save conflicts and replays).
pub async fn foreign_write_during_a_request_is_kept(kit: &Kit) {
    let app = App::new(kit, kit.open().await, Some(kit.open().await)).await;
    let login = app.send("POST", "/login", None).await;
    let cookie = login.cookie.expect("cookie");
    let r = app.send("POST", "/foreign", Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(
        app.send("GET", "/get/foreign", Some(&cookie)).await.body,
        "true"
    );
    assert_eq!(
        app.send("GET", "/get/mine", Some(&cookie)).await.body,
        "true"
    );
    assert_eq!(
        app.send("GET", "/get/user", Some(&cookie)).await.body,
        "\"kit-user\""
    );
}

/// A store wrapper counting the operations the layer makes.
#[derive(Clone)]
struct Counted {
    inner: BoxedStore,
    ops: Arc<AtomicUsize>,
}

impl SessionStore for Counted {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, crate::StoreError> {
        self.ops.fetch_add(1, Ordering::SeqCst);
        self.inner.load(id).await
    }
    async fn load_shared(&self, id: &SessionId) -> Result<Option<Arc<Record>>, crate::StoreError> {
        self.ops.fetch_add(1, Ordering::SeqCst);
        self.inner.load_shared(id).await
    }
    async fn create(&self, r: &Record) -> Result<u64, crate::StoreError> {
        self.ops.fetch_add(1, Ordering::SeqCst);
        self.inner.create(r).await
    }
    async fn save(&self, r: &Record) -> Result<crate::SaveOutcome, crate::StoreError> {
        self.ops.fetch_add(1, Ordering::SeqCst);
        self.inner.save(r).await
    }
    async fn touch(
        &self,
        id: &SessionId,
        at: time::OffsetDateTime,
    ) -> Result<bool, crate::StoreError> {
        self.ops.fetch_add(1, Ordering::SeqCst);
        self.inner.touch(id, at).await
    }
    async fn delete(&self, id: &SessionId) -> Result<bool, crate::StoreError> {
        self.ops.fetch_add(1, Ordering::SeqCst);
        self.inner.delete(id).await
    }
}

/// A request that never uses its session costs no store operation, even with a cookie;
/// a read costs exactly one.
pub async fn lazy_loading_costs_nothing(kit: &Kit) {
    let ops = Arc::new(AtomicUsize::new(0));
    let store = BoxedStore::new(Counted {
        inner: kit.open().await,
        ops: Arc::clone(&ops),
    });
    let app = App::new(kit, store, None).await;
    let cookie = app
        .send("POST", "/login", None)
        .await
        .cookie
        .expect("cookie");
    ops.store(0, Ordering::SeqCst);
    for _ in 0..5 {
        assert_eq!(app.send("GET", "/none", Some(&cookie)).await.body, "none");
    }
    assert_eq!(app.send("GET", "/none", None).await.status, StatusCode::OK);
    assert_eq!(
        ops.load(Ordering::SeqCst),
        0,
        "unused sessions are never loaded"
    );
    let r = app.send("GET", "/get/user", Some(&cookie)).await;
    assert_eq!(r.body, "\"kit-user\"");
    assert_eq!(
        ops.load(Ordering::SeqCst),
        1,
        "a read is one load (no touch inside touch_after)"
    );
    assert!(r.cookie.is_none(), "an unchanged session sends no cookie");
}

/// A request that loaded the session before another instance logged it out cannot bring
/// it back with its late save: it answers 409 and the session stays gone.
pub async fn no_resurrection_after_logout(kit: &Kit) {
    let a = App::new(kit, kit.open().await, None).await;
    let b = App::new(kit, kit.open().await, None).await;
    let cookie = a.send("POST", "/login", None).await.cookie.expect("cookie");
    let slow = tokio::spawn({
        let (a, cookie) = (a.clone(), cookie.clone());
        async move { a.send("POST", "/slow-set", Some(&cookie)).await }
    });
    a.gate.reached.notified().await;
    let out = b.send("POST", "/logout", Some(&cookie)).await;
    assert_eq!(out.status, StatusCode::OK, "{out:?}");
    a.gate.go.notify_one();
    let late = slow.await.expect("slow request");
    assert_eq!(late.status, StatusCode::CONFLICT, "{late:?}");
    assert!(late.cookie.is_none(), "no cookie for a session that ended");
    for app in [&a, &b] {
        let r = app.send("GET", "/get/user", Some(&cookie)).await;
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "the logged-out session stays gone"
        );
    }
}

/// With the server gone, requests that use the session answer 503 (bounded by the store
/// timeout) and the others are unaffected; once it is back the same app recovers without
/// a restart.
pub async fn outage_answers_503_then_recovers(kit: &Kit) {
    let Some(outage) = &kit.outage else {
        panic!("layer_tests!(…; outage) needs Kit::outage");
    };
    let app = App::new(kit, kit.open().await, None).await;
    let cookie = app
        .send("POST", "/login", None)
        .await
        .cookie
        .expect("cookie");
    assert_eq!(app.send("POST", "/incr", Some(&cookie)).await.body, "1");
    outage.stop().await;
    for (method, path, c) in [
        ("GET", "/get/user", Some(cookie.as_str())),
        ("POST", "/incr", Some(cookie.as_str())),
        ("POST", "/login", None),
    ] {
        let r = tokio::time::timeout(Duration::from_secs(30), app.send(method, path, c))
            .await
            .unwrap_or_else(|_| panic!("{path} hung during the outage"));
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{path}: {r:?}");
        assert!(
            r.cookie.is_none(),
            "{path}: no cookie for an unsaved session"
        );
    }
    assert_eq!(app.send("GET", "/none", Some(&cookie)).await.body, "none");
    outage.start().await;
    let back = eventually(Duration::from_secs(60), || async {
        app.send("POST", "/login", None).await.status == StatusCode::OK
    })
    .await;
    assert!(back, "new sessions work again once the server is back");
    if outage.durable() {
        let r = app.send("POST", "/incr", Some(&cookie)).await;
        assert_eq!(
            r.body, "2",
            "the session written before the outage is intact: {r:?}"
        );
    }
}

/// The one list of layer checks ([`run_all`] and `layer_tests!`).
#[doc(hidden)]
#[macro_export]
macro_rules! __tessera_layer_checks {
    ([$($cb:tt)*] $($args:tt)*) => {
        $($cb)*! {$($args)*;
            two_layers_lose_no_update, foreign_write_during_a_request_is_kept,
            lazy_loading_costs_nothing, no_resurrection_after_logout}
    };
}

/// Runs every layer check except the outage check, in sequence.
pub async fn run_all(kit: &Kit) {
    macro_rules! run {
        ($kit:ident; $($name:ident),*) => { $( $name($kit).await; )* };
    }
    crate::__tessera_layer_checks!([run] kit);
}

/// Generates one `#[tokio::test]` per layer check. `$make` is an async expression
/// evaluating to `Option<Kit>` (`None` to skip via [`skip`](crate::testkit::skip)). With
/// `; outage` the outage check is generated too (the kit must carry an [`Outage`] hook).
#[macro_export]
macro_rules! layer_tests {
    ($make:expr) => {
        $crate::__tessera_layer_checks!([$crate::__tessera_layer_each] $make);
    };
    ($make:expr; outage) => {
        $crate::layer_tests!($make);
        $crate::__tessera_layer_each!($make; outage_answers_503_then_recovers);
    };
    // Only the outage check (for a kit on a private server the other checks need not use).
    (outage only $make:expr) => {
        $crate::__tessera_layer_each!($make; outage_answers_503_then_recovers);
    };
}

/// One `#[tokio::test]` per check (used by `layer_tests!`).
#[doc(hidden)]
#[macro_export]
macro_rules! __tessera_layer_each {
    ($make:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(kit) = $make.await {
                    kit.run(|kit| async move { $crate::testkit::layer::$name(&kit).await })
                        .await;
                }
            }
        )*
    };
}
