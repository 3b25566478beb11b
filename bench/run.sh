#!/usr/bin/env bash
# Runs the shared peer load benchmark (../shared/bench-peers) with Tessera's contestants
# added, once per sessions mode, and writes one report per mode:
#   SESSIONS=1     (all connections on one session: contention)  -> BENCHMARKS-peers.md
#   SESSIONS=10000 (many users, the realistic case)               -> BENCHMARKS-peers-10000.md
# Usage: bench/run.sh [run.sh knobs as env]; MODES="1 10000" (default) picks the modes.
set -euo pipefail
top=$(git rev-parse --show-toplevel)
peers="${PEERS_DIR:-$top/../shared/bench-peers}"
cargo build --release -p tessera-bench-server --manifest-path "$top/Cargo.toml"
list=$(mktemp)
trap 'rm -f "$list"' EXIT
sed "s|@TOP@|$top|g" "$top/bench/contestants.txt" > "$list"
cd "$peers"
for mode in ${MODES:-1 10000}; do
  if [ "$mode" = 1 ]; then out="$top/BENCHMARKS-peers.md"; else out="$top/BENCHMARKS-peers-$mode.md"; fi
  CONTESTANTS="$list" SESSIONS="$mode" OUT="${OUT:-$out}" ./run.sh
done
