#!/usr/bin/env bash
# /read at 1,000, 100,000 and 1,000,000 live sessions through the shared peer harness
# (SESSIONS=N), one report per size in /tmp; the in-process figures (bytes per session,
# memory after expiry) come from `target/release/scale` (bench/server/src/bin/scale.rs).
# Usage: bench/scale.sh [SIZES="1000 100000 1000000"]
set -euo pipefail
top=$(git rev-parse --show-toplevel)
peers="${PEERS_DIR:-$top/../shared/bench-peers}"
cargo build --release -p tessera-bench-server --manifest-path "$top/Cargo.toml"
list=$(mktemp)
trap 'rm -f "$list"' EXIT
sed "s|@TOP@|$top|g" "$top/bench/scale-contestants.txt" > "$list"
cd "$peers"
for n in ${SIZES:-1000 100000 1000000}; do
  CONTESTANTS="$list" SESSIONS="$n" ENDPOINTS=read RUNS=1 DURATION=${DURATION:-6s} BUILD=0 \
    OUT="/tmp/tessera-scale-$n.md" ./run.sh
done
