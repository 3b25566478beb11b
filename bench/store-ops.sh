#!/usr/bin/env bash
# Store operations per request for each Tessera store, under the peer benchmark's load shape
# (32 connections on one session). Each SQL store operation is one statement (a conditional
# save that matches nothing adds one SELECT; see crates/tessera-sql/README.md).
# Usage: bench/store-ops.sh [stores...]   (default: memory sqlite postgres)
set -euo pipefail
top=$(git rev-parse --show-toplevel)
cargo build --release -q -p tessera-bench-server --manifest-path "$top/Cargo.toml"
bin="$top/target/release/tessera-bench-server"
port=8190
duration=${DURATION:-5s}
pg_url=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
printf '| store | endpoint | req/s | store ops/request | by operation |\n|---|---|--:|--:|---|\n'
for store in "${@:-memory sqlite postgres}"; do
  for s in $store; do
    DATABASE_URL="$pg_url" PORT=$port "$bin" --store "$s" --count-ops >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 100); do curl -s -o /dev/null "localhost:$port/none" && break; sleep 0.1; done
    cookie=$(curl -si "localhost:$port/login" | tr -d '\r' | awk -F': ' 'tolower($1)=="set-cookie"{split($2,a,";"); print a[1]}')
    for ep in read incr none; do
      curl -s -X DELETE "localhost:$port/_stats" >/dev/null
      out=$(wrk -t1 -c32 -d"$duration" -H "Cookie: $cookie" "http://127.0.0.1:$port/$ep")
      reqs=$(awk '/requests in/{print $1}' <<<"$out"); rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
      stats=$(curl -s "localhost:$port/_stats")
      python3 - "$s" "$ep" "$reqs" "$rps" "$stats" <<'PY'
import json, sys
store, ep, reqs, rps, stats = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), json.loads(sys.argv[5])
total = sum(stats.values())
per = ", ".join(f"{k} {v/reqs:.2f}" for k, v in stats.items() if v)
print(f"| {store} | /{ep} | {rps:.0f} | {total/reqs:.2f} | {per or '–'} |")
PY
    done
    kill $pid; wait $pid 2>/dev/null || true
  done
done
psql -q "$pg_url" -c "DROP TABLE IF EXISTS tessera_bench_sessions" >/dev/null
