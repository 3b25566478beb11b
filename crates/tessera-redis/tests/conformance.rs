//! The `tessera::testkit` conformance suite against a real Redis (`REDIS_URL`) and a real
//! 3-master Redis Cluster (`REDIS_CLUSTER_URLS`), each test on a prefix of its own whose
//! keys are deleted afterwards.

mod common;

use common::{Fresh, Target};

/// One `#[tokio::test]` per conformance check, for one target.
macro_rules! suite {
    ($module:ident, $target:expr, $configure:expr) => {
        mod $module {
            use super::*;
            // The core's one list of checks.
            tessera::__tessera_conformance_checks!([suite] @each $target, $configure);
        }
    };
    // With ids hashed at rest, `list_by_user` and `scan` report marked hashes instead of
    // the ids (tests/at_rest.rs checks them there); every other check applies unchanged.
    (hashed $module:ident, $target:expr, $configure:expr) => {
        mod $module {
            use super::*;
            suite!(@each $target, $configure;
                create_then_load, create_rejects_duplicate_id, load_missing_is_none,
                save_with_current_version, save_with_stale_version_conflicts,
                no_resurrection_after_delete, touch_moves_expiry_only,
                delete_removes, count_counts, concurrent_conditional_updates);
        }
    };
    (@each $target:expr, $configure:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(target) = $target else { return };
                let fresh = Fresh::new(&target, $configure).await;
                let store = fresh.store.clone();
                // Clean up even when the check fails, then report the failure.
                let run = tokio::spawn(async move { tessera::testkit::$name(&store).await }).await;
                fresh.cleanup().await;
                if let Err(e) = run {
                    std::panic::resume_unwind(e.into_panic());
                }
            }
        )*
    };
}

suite!(single, Target::single().await, |b| b);
suite!(cluster, Target::cluster(), |b| b);
suite!(single_near_cache, Target::single().await, |b| b
    .near_cache(1000));
suite!(cluster_near_cache, Target::cluster(), |b| b
    .near_cache(1000));
suite!(hashed single_hashed_ids, Target::single().await, |b| b.hash_ids(true));
#[cfg(feature = "encryption")]
suite!(single_encrypted, Target::single().await, |b| b.encryption(
    tessera_redis::Keyring::new("k1", [7; 32]).unwrap()
));
#[cfg(feature = "encryption")]
suite!(hashed cluster_encrypted_hashed, Target::cluster(), |b| b
    .hash_ids(true)
    .encryption(tessera_redis::Keyring::new("k1", [7; 32]).unwrap()));
