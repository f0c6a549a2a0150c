#!/bin/sh
# pg-cluster.sh -- a throwaway PostgreSQL cluster for the `pg` test label:
# Debian's postgresql binaries (initdb, pg_ctl), a data directory and socket
# directory inside DIR, listening on 127.0.0.1:PORT only. No system service,
# no Docker.
#
#   pg-cluster.sh start DIR PORT   initdb (trust auth) and start; prints the conninfo
#                                  (PG_LISTEN= for no TCP listener at all)
#   pg-cluster.sh stop DIR         pg_ctl stop -m fast, then removes DIR
#   pg-cluster.sh createdb DIR PORT NAME   (re)creates database NAME
#   pg-cluster.sh down DIR [MODE]  pg_ctl stop -m MODE (fast; immediate: a crash),
#                                  keeping DIR (test_pg_restart)
#   pg-cluster.sh up DIR           starts a cluster stopped by `down` again
#
# initdb refuses to run as root (CI runs as root): there everything runs as
# the postgres user (runuser -u postgres --) and DIR is owned by it.
# fsync stays on: durability is what the tests check.
set -eu

bindir=${PG_BINDIR:-}
if [ -z "$bindir" ]; then
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && bindir=$d
    done
fi
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
    echo "pg-cluster.sh: no initdb found (install Debian package postgresql)" >&2
    exit 1
fi

as_pg() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

cmd=${1:-}
dir=${2:-}
[ -n "$dir" ] || { echo "usage: $0 start|stop|createdb|down|up DIR [PORT [NAME]|MODE]" >&2; exit 2; }

# PG_LISTEN: TCP addresses (default 127.0.0.1; empty: Unix socket only).
# PG_EXTRA_OPTS: more server options for `start` (e.g. "-c wal_writer_delay=10s").
listen=${PG_LISTEN-127.0.0.1}

case "$cmd" in
start)
    port=$3
    # A cluster left behind by an interrupted run is stopped and replaced.
    if [ -e "$dir" ]; then
        "$0" stop "$dir"
    fi
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then
        chown postgres: "$dir"
    fi
    as_pg "$bindir/initdb" -D "$dir/data" --auth=trust -U postgres -E UTF8 --locale=C.UTF-8 \
        >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    as_pg mkdir -p "$dir/sock"
    # The server's options, kept for `up`.
    echo "-c listen_addresses='$listen' -p $port -c unix_socket_directories=$dir/sock \
            -c fsync=on -c synchronous_commit=on -c shared_buffers=64MB -c max_connections=200 \
            -c log_min_messages=warning ${PG_EXTRA_OPTS:-}" | as_pg tee "$dir/server.opts" >/dev/null
    "$0" up "$dir"
    echo "host=$dir/sock port=$port user=postgres"
    ;;
up)
    as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "$(cat "$dir/server.opts")" start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    ;;
down)
    as_pg "$bindir/pg_ctl" -D "$dir/data" -m "${3:-fast}" -w stop >/dev/null
    ;;
createdb)
    port=$3
    name=$4
    as_pg "$bindir/psql" -h "$dir/sock" -p "$port" -U postgres -d postgres -q -v ON_ERROR_STOP=1 \
        -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" -c "CREATE DATABASE \"$name\"" >/dev/null
    ;;
stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    fi
    rm -rf "$dir"
    ;;
*)
    echo "usage: $0 start|stop|createdb|down|up DIR [PORT [NAME]|MODE]" >&2
    exit 2
    ;;
esac
