//! The store conformance suite on MemoryStore.

use tessera::MemoryStore;

tessera::conformance_tests!(async { Some(MemoryStore::default()) });

#[tokio::test]
async fn run_all_in_one_store() {
    tessera::testkit::run_all(&MemoryStore::default()).await;
}
