#!/usr/bin/env bash
# A throwaway PostgreSQL 15 server for the store tests' PostgreSQL run (the ctest fixture
# edge_postgres, tests/CMakeLists.txt; nothing to start by hand).
#
#   tests/support/postgres.sh start DIR   initdb in DIR/data; serve on a unix socket in DIR only
#                                         (no TCP port), with trust authentication for the role
#                                         `edge`, the database `edge_test`; write the URL to DIR/url
#   tests/support/postgres.sh stop DIR    stop the server and remove DIR
#
# PostgreSQL refuses to run as root: as root the server runs as the unprivileged user `nobody`
# (DIR is made theirs; the tests, as root, still reach the socket). Durability is off (fsync,
# full-page writes): the data is thrown away. The database's default collation is ICU en-US, not
# C, so that a listing ordered by the server's locale instead of by bytes shows in the tests.
# Without PostgreSQL's binaries `start` writes why to DIR/unavailable and says the fixture is
# skipped; the tests that need the server then report skipped too (tests/support/
# postgres_test_db.cpp), never passed. EDGE_PG_BIN overrides where the binaries are.
set -euo pipefail

usage() { echo "usage: postgres.sh start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
command="$1"
dir="$2"
case "$dir" in /*) ;; *) echo "postgres.sh: DIR must be an absolute path (got '$dir')" >&2; exit 2 ;; esac
bin="${EDGE_PG_BIN:-/usr/lib/postgresql/15/bin}"

as_server=()
if [ "$(id -u)" -eq 0 ]; then
  as_server=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
fi

stop_server() {
  if [ -f "$dir/data/postmaster.pid" ] && [ -x "$bin/pg_ctl" ]; then
    (cd "$dir" && "${as_server[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null) ||
      echo "postgres.sh: pg_ctl stop failed; the server log is $dir/server.log" >&2
  fi
}

case "$command" in
  start)
    stop_server  # one an interrupted run left behind
    rm -rf "$dir"
    mkdir -p "$dir"
    if [ ! -x "$bin/initdb" ] || [ ! -x "$bin/pg_ctl" ]; then
      echo "PostgreSQL 15 is not installed ($bin/initdb is missing): deploy/install-deps.sh installs it" >"$dir/unavailable"
      echo "EDGE-TEST-SKIPPED: $(cat "$dir/unavailable")"
      exit 0
    fi
    [ ${#as_server[@]} -eq 0 ] || chown nobody:nogroup "$dir"
    chmod 0755 "$dir"
    cd "$dir"  # the server's user may not be able to enter the caller's directory
    "${as_server[@]}" "$bin/initdb" -D "$dir/data" -U edge --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
      --locale-provider=icu --icu-locale=en-US --no-sync >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; echo "postgres.sh: initdb failed" >&2; exit 1; }
    "${as_server[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses='' -k $dir -c fsync=off -c full_page_writes=off -c synchronous_commit=off -c max_connections=200" \
      start >/dev/null ||
      { cat "$dir/server.log" >&2; echo "postgres.sh: the server did not start" >&2; exit 1; }
    "$bin/createdb" -h "$dir" -U edge edge_test
    echo "postgresql:///edge_test?host=$dir&user=edge" >"$dir/url"
    echo "postgres.sh: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') serves $(cat "$dir/url")"
    ;;
  stop)
    stop_server
    rm -rf "$dir"
    ;;
  *) usage ;;
esac
