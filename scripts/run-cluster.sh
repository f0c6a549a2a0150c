#!/usr/bin/env bash
# run-cluster.sh -- a whole Parley cluster on this machine, on loopback:
# Redis (the cross-node bus), two parleyd nodes, HAProxy in front
# (conf/haproxy.cfg.in). Data in ./data-cluster (DATA=...). Ctrl-C stops
# everything this script started, by PID.
#
# PostgreSQL (a cluster of its own in ./data-cluster/pg, kept across runs)
# is the nodes' shared store; media stay on local disk, shared on this host.
set -euo pipefail

BUILD=${BUILD:-build}
DATA=${DATA:-./data-cluster}
FRONT=${FRONT:-8080}       # HAProxy: open http://127.0.0.1:$FRONT/
NODE_A=${NODE_A:-8081}
NODE_B=${NODE_B:-8082}
REDIS_PORT=${REDIS_PORT:-6390}
PG_PORT=${PG_PORT:-5433}

mkdir -p "$DATA/db" "$DATA/redis" "$DATA/log"
pids=()
stop() {
  trap - INT TERM EXIT
  echo "run-cluster: stopping"
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[$i]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if declare -F pg_stop >/dev/null; then pg_stop; fi
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

# --- PostgreSQL (the nodes' shared store): a cluster of its own in
# --- $DATA/pg, made on the first run (initdb) and kept across runs, on
# --- 127.0.0.1:$PG_PORT and a socket in $DATA/pg/sock. initdb refuses root:
# --- as root it runs as the postgres user, which owns $DATA/pg.
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$PG_BIN/initdb" ] || { echo "run-cluster: PostgreSQL missing (scripts/install-deps.sh --cluster)" >&2; exit 1; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
PGDIR=$(cd "$DATA" && pwd)/pg
if [ ! -d "$PGDIR/data" ]; then
  mkdir -p "$PGDIR"
  [ "$(id -u)" = 0 ] && chown postgres: "$PGDIR"
  as_pg "$PG_BIN/initdb" -D "$PGDIR/data" --auth=trust -U postgres -E UTF8 --locale=C.UTF-8 \
    >"$DATA/log/initdb.log" 2>&1 || { cat "$DATA/log/initdb.log" >&2; exit 1; }
fi
as_pg mkdir -p "$PGDIR/sock"
as_pg "$PG_BIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -c unix_socket_directories=$PGDIR/sock" start >/dev/null
pg_stop() { as_pg "$PG_BIN/pg_ctl" -D "$PGDIR/data" -m fast stop >/dev/null 2>&1 || true; }
PG_CI="host=127.0.0.1 port=$PG_PORT user=postgres"
psql "$PG_CI dbname=postgres" -tAc "SELECT 1 FROM pg_database WHERE datname = 'parley'" | grep -q 1 ||
  psql "$PG_CI dbname=postgres" -qc "CREATE DATABASE parley" >/dev/null
# Media stay on local disk in $DATA/db, shared by the two nodes (one host).
STORE=(--data "$DATA/db" --set store=postgres --set "pg_conninfo=$PG_CI dbname=parley")

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

echo "Parley cluster: http://127.0.0.1:$FRONT/ (nodes :$NODE_A :$NODE_B, redis :$REDIS_PORT,"
echo "postgres :$PG_PORT;"
echo "logs in $DATA/log). Ctrl-C stops it."
wait -n "${pids[@]}" || true
echo "run-cluster: a process exited (or Ctrl-C); logs in $DATA/log" >&2
