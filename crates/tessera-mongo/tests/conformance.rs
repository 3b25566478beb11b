//! Tessera's store conformance suite against a MongoDB wire-protocol server (`MONGO_URI`),
//! in the three storage variants: connect-mongo's JSON string, the embedded document, and
//! WebCrypto-encrypted strings. Each test uses its own collection and drops it.

mod common;

use common::*;
use tessera_mongo::SessionFormat;

macro_rules! suite {
    ($variant:ident, $configure:expr; $($check:ident),* $(,)?) => {
        mod $variant {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    let Some(fresh) = fresh_with(stringify!($check), $configure).await else {
                        return;
                    };
                    tessera::testkit::$check(&fresh.store).await;
                    fresh.drop_collection().await;
                }
            )*
        }
    };
}

macro_rules! all_checks {
    ($variant:ident, $configure:expr) => {
        // The core's one list of checks.
        tessera::__tessera_conformance_checks!([suite] $variant, $configure);
    };
}

all_checks!(json, with_format(SessionFormat::Json));
all_checks!(embedded, with_format(SessionFormat::Embedded));
all_checks!(encrypted, |b: tessera_mongo::MongoStoreBuilder| b
    .encryption(fast_crypto()));

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_all_in_one_store() {
    let Some(fresh) = fresh("run_all").await else {
        return;
    };
    tessera::testkit::run_all(&fresh.store).await;
    fresh.drop_collection().await;
}
