//! express-session + connect-pg-simple and Tessera's PostgresStore on one table.

mod common;

use tessera::BoxedStore;
use tessera_interop::node::NodeApp;
use tessera_interop::scenarios::Pair;
use tessera_interop::{SECRET, unique};
use tessera_sql::PostgresStore;

struct Env {
    pair: Pair,
    store: PostgresStore,
    table: String,
    _node: NodeApp,
}

impl Env {
    async fn cleanup(self) {
        let sql = format!("DROP TABLE IF EXISTS {}", self.table);
        let _ = tessera_sql::sqlx::query(&sql)
            .execute(self.store.pool())
            .await;
    }
}

async fn setup() -> Option<Env> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let table = unique("tessera_interop");
    let store = match PostgresStore::builder(url.clone())
        .table(table.clone())
        .connect()
        .await
    {
        Ok(s) => s,
        Err(e) => return tessera::testkit::skip(&format!("PostgreSQL unavailable at {url}: {e}")),
    };
    let node = NodeApp::start(
        "postgres",
        &[SECRET],
        &[("DATABASE_URL", url), ("PG_TABLE", table.clone())],
    )
    .await;
    let boxed = BoxedStore::new(store.clone());
    let pair = Pair::serve(boxed, node.port).await;
    Some(Env {
        pair,
        store,
        table,
        _node: node,
    })
}

interop_tests!(setup);
