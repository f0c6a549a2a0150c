#!/usr/bin/env bash
# run-cluster.sh -- a whole Parley cluster on this machine, on loopback:
# Redis (the cross-node bus), two parleyd nodes, HAProxy in front
# (conf/haproxy.cfg.in). Data in ./data-cluster (DATA=...). Ctrl-C stops
# everything this script started, by PID.
#
# Single-host setup: both nodes share one SQLite data directory (WAL lets
# several processes use it on one host). With the PostgreSQL store each node
# gets `store postgres` and `pg_conninfo` instead (see STORE below) and
# PostgreSQL starts here too.
set -euo pipefail

BUILD=${BUILD:-build}
DATA=${DATA:-./data-cluster}
FRONT=${FRONT:-8080}       # HAProxy: open http://127.0.0.1:$FRONT/
NODE_A=${NODE_A:-8081}
NODE_B=${NODE_B:-8082}
REDIS_PORT=${REDIS_PORT:-6390}

mkdir -p "$DATA/db" "$DATA/redis" "$DATA/log"
pids=()
stop() {
  trap - INT TERM EXIT
  echo "run-cluster: stopping"
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[$i]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

wait_port() {
  for _ in $(seq 100); do
    (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "run-cluster: nothing listens on $1 ($2); logs in $DATA/log" >&2
  exit 1
}

# --- PostgreSQL: start it here once the PostgreSQL store has landed, and set
# --- STORE to the nodes' settings, e.g.
# ---   STORE=(--set store=postgres --set "pg_conninfo=host=127.0.0.1 port=5433 dbname=parley")
STORE=(--data "$DATA/db")

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
  --daemonize no --dir "$DATA/redis" >"$DATA/log/redis.log" 2>&1 &
pids+=($!)
wait_port "$REDIS_PORT" redis

for n in a b; do
  port=$NODE_A
  [ "$n" = b ] && port=$NODE_B
  "$BUILD/parleyd" --listen "127.0.0.1:$port" "${STORE[@]}" \
    --set "redis=127.0.0.1:$REDIS_PORT" --set "node_id=$n" \
    --set trusted_proxies=127.0.0.2/32 --set drain_ms=2000 \
    >"$DATA/log/parleyd-$n.log" 2>&1 &
  pids+=($!)
  wait_port "$port" "parleyd $n"
done

sed -e "s/@FRONT_PORT@/$FRONT/" -e "s/@NODE_A_PORT@/$NODE_A/" -e "s/@NODE_B_PORT@/$NODE_B/" \
  -e "s/@SERVER_OPTS@/source 127.0.0.2/" conf/haproxy.cfg.in >"$DATA/haproxy.cfg"
haproxy -db -f "$DATA/haproxy.cfg" >"$DATA/log/haproxy.log" 2>&1 &
pids+=($!)
wait_port "$FRONT" haproxy

echo "Parley cluster: http://127.0.0.1:$FRONT/ (nodes :$NODE_A :$NODE_B, redis :$REDIS_PORT;"
echo "logs in $DATA/log). Ctrl-C stops it."
wait -n "${pids[@]}" || true
echo "run-cluster: a process exited (or Ctrl-C); logs in $DATA/log" >&2
