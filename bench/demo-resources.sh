#!/usr/bin/env bash
# The demo site's resource figures (issue 11, points 1, 3, 4): RSS after registrations
# and logins, login latency during a registration flood, and 300 half-sent requests.
# Builds the release binary unless DEMO_BIN is given (e.g. an older build to compare).
# Usage: bench/demo-resources.sh
set -euo pipefail
top=$(git rev-parse --show-toplevel)
if [ -z "${DEMO_BIN:-}" ]; then
  cargo build --release -q -p tessera-demo --manifest-path "$top/Cargo.toml"
  DEMO_BIN="${CARGO_TARGET_DIR:-$top/target}/release/tessera-demo"
fi
echo "binary: $DEMO_BIN ($(git -C "$top" rev-parse --short HEAD), $(date -u +%Y-%m-%d))"
DEMO_BIN="$DEMO_BIN" node "$top/bench/demo-resources.mjs"
