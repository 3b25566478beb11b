//! The classic move, end to end: sessions written by express-session + connect-redis are
//! migrated by `tessera migrate` to PostgreSQL, where the demo site (same secret, same
//! cookie name) and a Node app on connect-pg-simple both still use them.

mod common;

use serde_json::json;
use tessera::SessionStore;
use tessera_cli::{MigrateOptions, Target};
use tessera_interop::http::{Browser, request};
use tessera_interop::node::NodeApp;
use tessera_interop::{SECRET, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn node_sessions_migrated_from_redis_to_postgres_stay_usable() {
    if let Some(reason) = tessera_interop::node::unavailable() {
        let _ = tessera::testkit::skip::<()>(&reason);
        return;
    }
    let redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let pg_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let namespace = unique("tessera_interop_cli");
    let prefix = format!("{namespace}:sess:");
    let from_url = format!("{}/?prefix={prefix}", redis_url.trim_end_matches('/'));
    let to_url = format!("{pg_url}?table={namespace}");
    let from = match tessera_connect::open(&from_url, &Default::default()).await {
        Ok(o) => o,
        Err(e) => return tessera::testkit::skip(&format!("Redis unavailable: {e}")).unwrap_or(()),
    };
    let to = match tessera_connect::open(&to_url, &Default::default()).await {
        Ok(o) => o,
        Err(e) => {
            return tessera::testkit::skip(&format!("PostgreSQL unavailable: {e}")).unwrap_or(());
        }
    };

    // Two users log in on the Node app (connect-redis); one puts something in the cart.
    let node = NodeApp::start(
        "redis",
        &[SECRET],
        &[("REDIS_URL", redis_url.clone()), ("REDIS_PREFIX", prefix)],
    )
    .await;
    let mut ana = Browser::default();
    let r = ana
        .send(
            node.port,
            "POST",
            "/login",
            Some(json!({"email": "ana@example.com"})),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = ana
        .send(
            node.port,
            "POST",
            "/set",
            Some(json!({"key": "cart", "value": ["SKU-1"]})),
        )
        .await;
    assert_eq!(r.status, 200);
    let mut bo = Browser::default();
    let r = bo
        .send(
            node.port,
            "POST",
            "/login",
            Some(json!({"email": "bo@example.com"})),
        )
        .await;
    assert_eq!(r.status, 200);
    drop(node);

    // The migration.
    let summary = tessera_cli::migrate(
        &Target {
            store: &from.store,
            description: &from.description,
        },
        &Target {
            store: &to.store,
            description: &to.description,
        },
        MigrateOptions::default(),
        indicatif::ProgressBar::hidden(),
    )
    .await
    .expect("migrate");
    assert_eq!(
        (summary.migrated, summary.present, summary.failed),
        (2, 0, 0)
    );

    // The demo site on PostgreSQL, with the Node app's secret and cookie name.
    let dir = std::env::temp_dir().join(&namespace);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = tessera_demo::Config {
        port: 0,
        session_store: to_url.clone(),
        user_db: format!("sqlite://{}/users.db", dir.display()),
        session_secret: Some(SECRET.into()),
        session_cookie_name: "connect.sid".into(),
        data_dir: dir.join("data"),
        ..tessera_demo::Config::default()
    };
    let router = tessera_demo::build_app(config).await.expect("demo starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let demo_port = listener.local_addr().expect("addr").port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let demo = tokio::spawn(tessera_demo::serve(
        listener,
        router,
        tessera_demo::Limits::default(),
        async move {
            let _ = stopped.await;
        },
    ));
    let me = request(demo_port, "GET", "/api/user", ana.cookie.as_deref(), None).await;
    assert_eq!(
        me.status, 200,
        "the demo does not see the migrated login: {me:?}"
    );
    assert_eq!(me.json["user"]["email"], "ana@example.com");
    let cart = request(demo_port, "GET", "/api/cart", ana.cookie.as_deref(), None).await;
    assert_eq!(cart.status, 200, "{cart:?}");
    assert_eq!(cart.json["items"], json!(["SKU-1"]), "{cart:?}");
    let me = request(demo_port, "GET", "/api/user", bo.cookie.as_deref(), None).await;
    assert_eq!(me.json["user"]["email"], "bo@example.com");
    let nobody = request(demo_port, "GET", "/api/user", None, None).await;
    assert_eq!(nobody.status, 401);

    // Node on connect-pg-simple reads the migrated (and since used) sessions too.
    let node_pg = NodeApp::start(
        "postgres",
        &[SECRET],
        &[
            ("DATABASE_URL", pg_url.clone()),
            ("PG_TABLE", namespace.clone()),
        ],
    )
    .await;
    let who = request(node_pg.port, "GET", "/whoami", ana.cookie.as_deref(), None).await;
    assert_eq!(who.status, 200, "{who:?}");
    assert_eq!(who.json["user"]["email"], "ana@example.com");
    let cart = request(
        node_pg.port,
        "GET",
        "/get/cart",
        ana.cookie.as_deref(),
        None,
    )
    .await;
    assert_eq!(cart.json["value"], json!(["SKU-1"]));
    drop(node_pg);

    let _ = stop.send(());
    let _ = demo.await;
    assert!(to.store.count().await.expect("count") >= 2);
    common::delete_redis_namespace(&redis_url, &namespace).await;
    if let Some(pool) = postgres_pool(&pg_url).await {
        let _ = tessera_sql::sqlx::query(&format!("DROP TABLE IF EXISTS {namespace}"))
            .execute(&pool)
            .await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}

async fn postgres_pool(url: &str) -> Option<tessera_sql::sqlx::PgPool> {
    tessera_sql::sqlx::PgPool::connect(url).await.ok()
}
