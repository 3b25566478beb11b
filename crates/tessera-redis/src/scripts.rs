//! The Lua scripts (in `src/lua/`). Each is loaded once per server: calls use `EVALSHA`
//! and fall back to loading the script on `NOSCRIPT` (after a restart or failover).

use redis::Script;
use std::sync::LazyLock;

/// Source of the conditional save.
pub(crate) const SAVE_SRC: &str = include_str!("lua/save.lua");
/// Source of the compare-and-delete used by `delete_by_user` (sent with `EVAL` in one
/// pipeline: revocation is rare and spans many keys, and `EVAL` needs no loaded script).
pub(crate) const CAS_DELETE_SRC: &str = include_str!("lua/cas_delete.lua");
/// Source of the user-index pruning.
pub(crate) const PRUNE_SRC: &str = include_str!("lua/prune.lua");

/// Conditional save: `1` saved, `0` missing, `-1` conflict, `2` index the user first.
pub(crate) static SAVE: LazyLock<Script> = LazyLock::new(|| Script::new(SAVE_SRC));
/// Removes index members whose score is unchanged; returns how many.
pub(crate) static PRUNE: LazyLock<Script> = LazyLock::new(|| Script::new(PRUNE_SRC));

/// Results of the save script.
pub(crate) mod save {
    pub const SAVED: i64 = 1;
    pub const MISSING: i64 = 0;
    pub const CONFLICT: i64 = -1;
    pub const NEEDS_INDEX: i64 = 2;
}
