//! The store conformance suite on MemoryStore.

use tessera::MemoryStore;

tessera::conformance_tests!(async { Some(MemoryStore::default()) });

#[tokio::test]
async fn run_all_in_one_store() {
    tessera::testkit::run_all(&MemoryStore::default()).await;
}

mod layer {
    use tessera::testkit::layer::Kit;
    use tessera::{BoxedStore, MemoryStore};

    // One memory store shared by every handle: two layers over it are two app instances.
    tessera::layer_tests!(async {
        let store = MemoryStore::default();
        Some(Kit::new(move || {
            let store = store.clone();
            async move { BoxedStore::new(store) }
        }))
    });
}
