#!/usr/bin/env bash
# Every test of the workspace, as CI runs them, ending with an honest count.
#
# Starts what the integration tests need (.ci/services/*.sh: PostgreSQL, Redis and MariaDB
# if they are down, a Redis Cluster on 7000-7002, a MongoDB-compatible server, the Node
# apps' packages), runs `cargo test --workspace --all-features` and the extra suites
# (.ci/extra/*.sh: the browser test), and prints what ran, what failed and what skipped
# and why. A test that skips (a service it needs is missing) reports "ok" to cargo; here
# it is counted as skipped, never as passed. Under CI=true a skip is a failure.
#
# Plain `cargo test` still works: unit tests run, and integration tests whose service is
# missing skip with a printed reason.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

cleanup_fns=()
cleanup() { for f in "${cleanup_fns[@]}"; do "$f" || true; done; }
trap cleanup EXIT INT TERM
for f in .ci/services/*.sh; do
  # shellcheck source=/dev/null
  source "$f"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/tessera-test.XXXXXX")
cleanup_fns+=(rm_work)
rm_work() { rm -rf "$work"; }
# tessera::testkit::skip appends "<test>\t<reason>" here (and panics under CI=true).
export TESSERA_SKIP_LOG="$work/skipped"
: >"$TESSERA_SKIP_LOG"

status=0
cargo test --workspace --all-features --no-fail-fast 2>&1 | tee "$work/cargo.log" || status=$?
for f in .ci/extra/*.sh; do
  [ -e "$f" ] || continue
  echo "==> $f"
  bash "$f" 2>&1 | tee "$work/extra.log" || status=$?
  # An extra suite that cannot run says "SKIPPED: reason" (and fails under CI=true).
  { grep '^SKIPPED: ' "$work/extra.log" || true; } | sed "s|^SKIPPED: |$f\t|" >>"$work/extra-skipped"
  echo "$f" >>"$work/extras"
done

touch "$work/extras" "$work/extra-skipped"
python3 - "$work/cargo.log" "$TESSERA_SKIP_LOG" "${CI:-}" "$work/extras" "$work/extra-skipped" <<'PY'
import re, sys, collections
log, skips, ci = open(sys.argv[1], errors="replace").read(), sys.argv[2], sys.argv[3]
extras = [l.strip() for l in open(sys.argv[4]) if l.strip()]
extra_skips = [l.rstrip("\n").split("\t", 1) for l in open(sys.argv[5]) if l.strip()]
passed = failed = ignored = binaries = 0
for m in re.finditer(r"^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored", log, re.M):
    binaries += 1
    passed += int(m[1]); failed += int(m[2]); ignored += int(m[3])
lines = [l.rstrip("\n").split("\t", 1) for l in open(skips) if l.strip()]
reasons = collections.Counter(r[1] if len(r) > 1 else r[0] for r in lines)
# A test that skipped all or part of its checks counts as skipped, not passed.
skipped = len({r[0] for r in lines})
print("\n==> summary")
print(f"{binaries} test binaries: {passed - skipped} passed, {failed} failed, "
      f"{skipped} skipped, {ignored} ignored")
for reason, n in reasons.most_common():
    print(f"  skipped {n}x: {reason}")
skipped_extras = {r[0] for r in extra_skips}
print(f"extra suites: {len(extras) - len(skipped_extras)} ran, {len(skipped_extras)} skipped")
for r in extra_skips:
    print(f"  skipped {r[0]}: {r[1] if len(r) > 1 else ''}")
skipped += len(skipped_extras)
if skipped and ci in ("true", "1"):
    print("under CI=true nothing may skip")
    sys.exit(1)
PY
exit "$status"
