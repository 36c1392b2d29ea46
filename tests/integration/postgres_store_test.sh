#!/usr/bin/env bash
# The controller with its store on PostgreSQL (docs/operations.md#postgresql-store), against the
# throwaway server of the ctest fixture edge_postgres: agents enroll and converge on a deployed
# version, a restarted controller keeps everything (its data dir holds only blobs), backup and
# restore refuse and say what to use instead, and a bad URL, an unreachable server and a schema
# newer than the binary stop the start with a line that says so, never showing the password.
source "$(dirname "$0")/lib.sh"

pg_dir=${EDGE_TEST_POSTGRES:-}
[ -n "$pg_dir" ] || { echo "EDGE-TEST-SKIPPED: no PostgreSQL test server (ctest starts one)"; exit 0; }
[ ! -f "$pg_dir/unavailable" ] || { echo "EDGE-TEST-SKIPPED: $(cat "$pg_dir/unavailable")"; exit 0; }
pg_bin=${EDGE_PG_BIN:-/usr/lib/postgresql/15/bin}
# A database of this test's own on the server (the fixture removes the server, and it, after).
new_database() {
  local name
  name="edge_it_$(tr -dc 'a-z0-9' </dev/urandom | head -c 10)"
  "$pg_bin/createdb" -h "$pg_dir" -U edge "$name" || lf_die "createdb $name"
  echo "postgresql:///$name?host=$pg_dir&user=edge"
}
sql() { "$pg_bin/psql" -X -q -At "$1" -c "$2"; }
C="$LF_BIN/controller/edge-controller"
url=$(new_database)
export LF_CONTROLLER_EXTRA="\"store\": {\"backend\": \"postgresql\", \"url\": \"$url\"}"

step "a controller on PostgreSQL: an agent enrolls and converges on a deployed version"
one_agent_fleet
make_model "$LF_DIR/model-v1.onnx"
lf_edgectl model push "$(lf_bundle kws v1 1 "$LF_DIR/model-v1.onnx")" || lf_die "push v1"
out=$(lf_edgectl deploy model kws:v1 --all-at-once --site plant-7 --wait --timeout 60s 2>&1) || lf_die "deploy: $out"
expect_contains "converged: 1/1" "$out"
lf_site_on plant-7 kws v1 || lf_die "plant-7 not on v1"
[ ! -e "$LF_DIR/controller/controller.db" ] || lf_die "a SQLite store was made in the data dir"
[ "$(sql "$url" "SELECT count(*) FROM devices WHERE id = 'gw-1'")" = 1 ] || lf_die "gw-1 is not in PostgreSQL"
[ "$(sql "$url" "SELECT version FROM desired_models WHERE device_id = 'gw-1'")" = v1 ] || lf_die "desired state not in PostgreSQL"
grep -q '"database":"PostgreSQL edge@[^"]*","level":"info","msg":"store on PostgreSQL"' "$LF_DIR/controller.log" ||
  lf_die "no line naming the store in the log"
ok "converged; the device and its desired state are rows in PostgreSQL, no controller.db"

step "restart: everything is still there, and a new version reaches the agent"
lf_stop_controller TERM
lf_start_controller
lf_wait_for 30 all_online 1 || lf_die "agent did not reconnect"
make_model "$LF_DIR/model-v2.onnx"
lf_edgectl model push "$(lf_bundle kws v2 2 "$LF_DIR/model-v2.onnx")" || lf_die "push v2"
lf_edgectl deploy model kws:v2 --all-at-once --site plant-7 2>/dev/null || lf_die "deploy v2"
lf_wait_for 60 lf_site_on plant-7 kws v2 || lf_die "plant-7 did not converge on v2 after the restart"
audit=$(lf_edgectl get audit 2>/dev/null) || lf_die "get audit"
expect_contains "model.push" "$audit"
expect_contains "rollout.create" "$audit"
ok "state kept across the restart; v2 deployed through it"

step "backup and restore refuse a PostgreSQL store and name what to use"
expect_fail 1 "back the database up with PostgreSQL's tools (pg_dump" "$C" backup --config "$LF_DIR/controller.json" --to "$LF_DIR/backup"
[ ! -e "$LF_DIR/backup" ] || lf_die "backup wrote something"
expect_fail 1 "the store is on PostgreSQL" "$C" restore --config "$LF_DIR/controller.json" --from "$LF_DIR/backup" --dry-run

# variant NAME URL: the running controller's config with its own data dir, ports and store URL.
variant() {
  python3 - "$LF_DIR/controller.json" "$LF_DIR/$1.json" "$LF_DIR/$1-data" "$2" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
config.update(data_dir=sys.argv[3], agent_listen="127.0.0.1:0", enroll_listen="127.0.0.1:0",
              operator_listen="127.0.0.1:0", ports_file=sys.argv[3] + "/ports.json")
config["store"] = {"backend": "postgresql", "url": sys.argv[4]}
json.dump(config, open(sys.argv[2], "w"), indent=2)
PY
  echo "$LF_DIR/$1.json"
}

step "what stops a start: a bad URL (78), a server that does not answer (1), a newer schema (1)"
expect_fail 78 "store: url: sslmode 'on' is not one of" "$C" --config "$(variant bad-url "$url&sslmode=on")"
out=$("$C" --config "$(variant unreachable "postgresql://edge:s3cret-pw@127.0.0.1:1/fleet")" 2>&1); rc=$?
[ "$rc" = 1 ] || lf_die "an unreachable server exited $rc, not 1: $out"
expect_contains "cannot connect to PostgreSQL edge@127.0.0.1:1/fleet" "$out"
! grep -q "s3cret-pw" <<<"$out" || lf_die "the password is in the output: $out"
ok "unreachable: exit 1, the server named, the password not"
newer=$(new_database)
config=$(variant newer "$newer")
# A controller migrates it and stops; then a newer binary's next migration lands.
"$C" --config "$config" 2>"$LF_DIR/newer.log" &
pid=$!
lf_wait_for 20 test -s "$LF_DIR/newer-data/ports.json" || lf_die "the controller on the second database did not start"
kill -TERM "$pid" && wait "$pid"
known=$(sql "$newer" "SELECT max(number) FROM schema_migrations")
sql "$newer" "INSERT INTO schema_migrations(number, name) VALUES ($((known + 1)), 'from_a_newer_controller')" ||
  lf_die "cannot add a newer migration"
expect_fail 1 "has schema version $((known + 1)), newer than this program knows ($known); refusing to run an older binary" "$C" --config "$config"
[ "$(sql "$newer" "SELECT count(*) FROM operators")" = 1 ] || lf_die "the refused start changed the database"
ok "the newer database was left as it was"
