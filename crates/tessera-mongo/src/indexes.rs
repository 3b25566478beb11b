//! The indexes the store relies on, created idempotently at start-up.

use crate::document::field;
use crate::error::{server_code, timed};
use mongodb::bson::{Document, doc};
use mongodb::options::IndexOptions;
use mongodb::{Collection, IndexModel};
use std::time::Duration;
use tessera::StoreError;

/// Name of the TTL index: the server's default name for `{expires: 1}`, which is what
/// connect-mongo and connect-mongodb-session create, so the index is shared with them.
pub const EXPIRES_INDEX: &str = "expires_1";
/// Name of the index on `user`.
pub const USER_INDEX: &str = "user_1";

/// Errors meaning "an equivalent or conflicting index is already there": IndexAlreadyExists
/// (68), IndexOptionsConflict (85), IndexKeySpecsConflict (86). The store works with any
/// index on these keys, so these are logged and accepted.
const EXISTING_INDEX_CODES: [i32; 3] = [68, 85, 86];

fn models() -> [IndexModel; 2] {
    [
        IndexModel::builder()
            .keys(doc! { field::EXPIRES: 1 })
            .options(
                IndexOptions::builder()
                    .name(EXPIRES_INDEX.to_owned())
                    .expire_after(Duration::ZERO)
                    // Exactly connect-mongo's options: servers that compare `background`
                    // (older MongoDB, SecantusDB) otherwise refuse Node's createIndex with
                    // IndexOptionsConflict and the Node app fails at start.
                    .background(true)
                    .build(),
            )
            .build(),
        // Sparse: connect-mongo's documents have no `user` and need no entry.
        IndexModel::builder()
            .keys(doc! { field::USER: 1 })
            .options(
                IndexOptions::builder()
                    .name(USER_INDEX.to_owned())
                    .sparse(true)
                    .build(),
            )
            .build(),
    ]
}

/// Creates the TTL index `{expires: 1}` (`expireAfterSeconds: 0`) and the index on `user`.
///
/// `createIndexes` with the same keys and options is a no-op on the server, so this is
/// safe to run from every instance at every start, concurrently. An existing index with
/// other options (for example one created with another name) is kept, with a warning.
pub(crate) async fn ensure(coll: &Collection<Document>, limit: Duration) -> Result<(), StoreError> {
    for model in models() {
        let name = model
            .options
            .as_ref()
            .and_then(|o| o.name.clone())
            .unwrap_or_default();
        match tokio::time::timeout(limit, coll.create_index(model)).await {
            Err(_) => return Err(StoreError::Timeout(limit)),
            Ok(Ok(_)) => {}
            Ok(Err(e)) if server_code(&e).is_some_and(|c| EXISTING_INDEX_CODES.contains(&c)) => {
                tracing::warn!(index = %name, error = %e, "an index on the same key already exists with other options; keeping it");
            }
            Ok(Err(e)) => return Err(crate::error::map(e)),
        }
    }
    Ok(())
}

/// Lists the collection's index names (used by tests and diagnostics).
pub(crate) async fn names(
    coll: &Collection<Document>,
    limit: Duration,
) -> Result<Vec<String>, StoreError> {
    timed(limit, coll.list_index_names()).await
}
