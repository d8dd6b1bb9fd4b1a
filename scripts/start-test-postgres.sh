#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster for the tests (Debian's postgresql package) and
# print the URL to export as PARLEY_TEST_POSTGRES_URL. Idempotent: reuses a running one.
# `start-test-postgres.sh status` exits 0 if it runs; `start-test-postgres.sh stop` stops
# it. PARLEY_TEST_PG_PORT (55432) and PARLEY_TEST_PG_DIR (/tmp/parley-test-pg) choose it.
set -euo pipefail
PORT="${PARLEY_TEST_PG_PORT:-55432}"
DIR="${PARLEY_TEST_PG_DIR:-/tmp/parley-test-pg}"
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$BIN" ]; then
  echo "PostgreSQL is not installed (apt-get install -y postgresql)" >&2
  exit 1
fi
RUN_AS=()
if [ "$(id -u)" = "0" ]; then RUN_AS=(runuser -u postgres --); fi
case "${1:-start}" in
  status)
    [ -s "$DIR/PG_VERSION" ] && exec "${RUN_AS[@]}" "$BIN/pg_ctl" -D "$DIR" status >/dev/null 2>&1
    exit 3
    ;;
  stop)
    if [ -s "$DIR/PG_VERSION" ] && "${RUN_AS[@]}" "$BIN/pg_ctl" -D "$DIR" status >/dev/null 2>&1; then
      "${RUN_AS[@]}" "$BIN/pg_ctl" -D "$DIR" -m fast -w stop >/dev/null
    fi
    exit 0
    ;;
  start) ;;
  *)
    echo "usage: $0 [start|status|stop]" >&2
    exit 2
    ;;
esac
if [ ! -s "$DIR/PG_VERSION" ]; then
  mkdir -p "$DIR"
  [ "$(id -u)" = "0" ] && chown postgres:postgres "$DIR"
  "${RUN_AS[@]}" "$BIN/initdb" -D "$DIR" -U postgres -A trust >/dev/null
fi
if ! "${RUN_AS[@]}" "$BIN/pg_ctl" -D "$DIR" status >/dev/null 2>&1; then
  "${RUN_AS[@]}" "$BIN/pg_ctl" -D "$DIR" -l "$DIR/server.log" -w \
    -o "-p $PORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
fi
echo "postgresql://postgres@127.0.0.1:$PORT/postgres"
