//! express-session + connect-mongo and Tessera's MongoStore on one collection.

mod common;

use tessera::BoxedStore;
use tessera_interop::node::NodeApp;
use tessera_interop::scenarios::Pair;
use tessera_interop::{SECRET, unique};
use tessera_mongo::MongoStore;

struct Env {
    pair: Pair,
    store: MongoStore,
    _node: NodeApp,
}

impl Env {
    async fn cleanup(self) {
        let _ = self.store.collection().drop().await;
    }
}

async fn setup() -> Option<Env> {
    let Ok(uri) = std::env::var("MONGO_URI") else {
        return tessera::testkit::skip("MONGO_URI is not set (CI starts SecantusDB)");
    };
    let collection = unique("interop");
    let store = match MongoStore::builder()
        .uri(uri.clone())
        .database("tessera_interop")
        .collection(collection.clone())
        .build()
        .await
    {
        Ok(s) => s,
        Err(e) => return tessera::testkit::skip(&format!("MongoDB unavailable at {uri}: {e}")),
    };
    let node = NodeApp::start(
        "mongo",
        &[SECRET],
        &[
            ("MONGO_URI", uri),
            ("MONGO_DB", "tessera_interop".into()),
            ("MONGO_COLLECTION", collection),
        ],
    )
    .await;
    let boxed = BoxedStore::new(store.clone());
    let pair = Pair::serve(boxed, node.port).await;
    Some(Env {
        pair,
        store,
        _node: node,
    })
}

interop_tests!(setup);
