#!/usr/bin/env bash
# Runs the shared peer load benchmark (../shared/bench-peers) with Tessera's contestants
# added, and writes the report to BENCHMARKS-peers.md. Usage: bench/run.sh [run.sh knobs as env]
set -euo pipefail
top=$(git rev-parse --show-toplevel)
peers="${PEERS_DIR:-$top/../shared/bench-peers}"
cargo build --release -p tessera-bench-server --manifest-path "$top/Cargo.toml"
list=$(mktemp)
trap 'rm -f "$list"' EXIT
sed "s|@TOP@|$top|g" "$top/bench/contestants.txt" > "$list"
cd "$peers"
CONTESTANTS="$list" OUT="${OUT:-$top/BENCHMARKS-peers.md}" ./run.sh
