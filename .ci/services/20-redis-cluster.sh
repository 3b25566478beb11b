# A 3-master Redis Cluster on 127.0.0.1:7000-7002 for tessera-redis's cluster tests.
# Sourced by .ci/run under CI=true: installs redis-server/redis-tools if missing, starts
# the nodes in a temp dir, creates the cluster, waits for cluster_state:ok on every node,
# exports REDIS_CLUSTER_URLS and registers redis_cluster_cleanup (stops the nodes by PID).
# Skipped if REDIS_CLUSTER_URLS is already set.
if [ -z "${REDIS_CLUSTER_URLS:-}" ]; then
  if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    echo "installing redis-server redis-tools"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null
  fi
  redis_cluster_ports="7000 7001 7002"
  redis_cluster_dir=$(mktemp -d "${TMPDIR:-/tmp}/tessera-redis-cluster.XXXXXX")
  redis_cluster_pids=()
  redis_cluster_cleanup() {
    local pid
    for pid in "${redis_cluster_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${redis_cluster_pids[@]}"; do
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    done
    rm -rf "$redis_cluster_dir"
  }
  cleanup_fns+=(redis_cluster_cleanup)
  for p in $redis_cluster_ports; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "port $p is taken; cannot start the Redis Cluster" >&2; return 1
    fi
    mkdir -p "$redis_cluster_dir/node-$p"
    redis-server --port "$p" --bind 127.0.0.1 --cluster-enabled yes \
      --cluster-config-file "$redis_cluster_dir/node-$p/nodes.conf" --cluster-node-timeout 2000 \
      --appendonly no --save '' --dir "$redis_cluster_dir/node-$p" --daemonize yes \
      --pidfile "$redis_cluster_dir/node-$p/redis.pid" --logfile "$redis_cluster_dir/node-$p/redis.log"
  done
  for p in $redis_cluster_ports; do
    for _ in $(seq 1 100); do
      [ -s "$redis_cluster_dir/node-$p/redis.pid" ] && redis-cli -p "$p" ping >/dev/null 2>&1 && break
      sleep 0.05
    done
    # Saved now: Redis deletes its pidfile when it exits cleanly.
    redis_cluster_pids+=("$(cat "$redis_cluster_dir/node-$p/redis.pid")")
  done
  redis-cli --cluster create 127.0.0.1:7000 127.0.0.1:7001 127.0.0.1:7002 --cluster-replicas 0 --cluster-yes >/dev/null
  for p in $redis_cluster_ports; do
    redis_cluster_ok=0
    for _ in $(seq 1 300); do
      if redis-cli -p "$p" cluster info | grep -q 'cluster_state:ok'; then redis_cluster_ok=1; break; fi
      sleep 0.1
    done
    if [ "$redis_cluster_ok" != 1 ]; then
      echo "Redis Cluster node $p did not reach cluster_state:ok" >&2
      cat "$redis_cluster_dir/node-$p/redis.log" >&2; return 1
    fi
  done
  export REDIS_CLUSTER_URLS="redis://127.0.0.1:7000,redis://127.0.0.1:7001,redis://127.0.0.1:7002"
  echo "Redis Cluster (pids ${redis_cluster_pids[*]}) at $REDIS_CLUSTER_URLS"
fi
