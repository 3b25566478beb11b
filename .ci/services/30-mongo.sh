# SecantusDB, a MongoDB wire-compatible server from PyPI, for tessera-mongo's tests.
# Sourced by .ci/run under CI=true: installs it into a venv (reused if present), starts it
# on a free loopback port with .ci/secantus_launcher.py, exports MONGO_URI and registers
# mongo_cleanup in cleanup_fns. Skipped if MONGO_URI is already set.
if [ -z "${MONGO_URI:-}" ]; then
  mongo_venv="${TMPDIR:-/tmp}/tessera-secantus-venv"
  if ! "$mongo_venv/bin/python" -c 'import secantus' 2>/dev/null; then
    echo "installing SecantusDB into $mongo_venv"
    python3 -m venv "$mongo_venv"
    "$mongo_venv/bin/pip" install --quiet --disable-pip-version-check "SecantusDB==0.7.0b3"
  fi
  mongo_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
  mongo_log="${TMPDIR:-/tmp}/tessera-secantus-$mongo_port.log"
  "$mongo_venv/bin/python" .ci/secantus_launcher.py "$mongo_port" >"$mongo_log" 2>&1 &
  mongo_pid=$!
  mongo_cleanup() {
    kill "$mongo_pid" 2>/dev/null || return 0
    for _ in $(seq 1 50); do kill -0 "$mongo_pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$mongo_pid" 2>/dev/null || true
  }
  cleanup_fns+=(mongo_cleanup)
  mongo_ready=0
  for _ in $(seq 1 300); do
    if grep -q '^ready' "$mongo_log" && (exec 3<>"/dev/tcp/127.0.0.1/$mongo_port") 2>/dev/null; then
      mongo_ready=1; break
    fi
    kill -0 "$mongo_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ "$mongo_ready" != 1 ]; then
    echo "SecantusDB did not start; log:" >&2; cat "$mongo_log" >&2; return 1
  fi
  export MONGO_URI="mongodb://127.0.0.1:$mongo_port/?directConnection=true"
  echo "SecantusDB (pid $mongo_pid) at $MONGO_URI"
fi
