#!/usr/bin/env bash
# Real-browser test of the demo site: headless Chromium from Debian driven by Playwright
# (playwright-core from npm). Register, log out, log in with remember me, welcome page,
# /sessions, log out; screenshots go to docs/screenshots/.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"

if [ ! -x /usr/bin/chromium ]; then
  if [ "${CI:-}" = "true" ]; then
    echo "installing chromium"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "SKIPPED: /usr/bin/chromium is missing (apt-get install -y chromium; CI installs it)"
    exit 0
  fi
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  if [ "${CI:-}" = "true" ]; then
    echo "node and npm are required for the browser test" >&2
    exit 1
  fi
  echo "SKIPPED: node/npm missing"
  exit 0
fi

(cd apps/demo/e2e && npm ci --no-audit --no-fund --loglevel=error)
# The same build as the README test command (a no-op right after it in .ci/run; a plain
# `cargo build -p tessera-demo` would recompile the workspace with other features).
cargo test --workspace --all-features --no-run -q
target_dir="${CARGO_TARGET_DIR:-target}"
DEMO_BIN="$target_dir/debug/tessera-demo" timeout 300 node apps/demo/e2e/browser.mjs
