#!/usr/bin/env bash
# Audit of refused calls: a viewer's refused deploy, an invalid argument, an unknown rollout and
# a precondition that fails are audit rows with the operator's name, the RPC and the gRPC code
# (`get audit` RESULT column, `result` in JSON, --refused / --result filters); a reason that
# quotes the request holds no control bytes; one operator's flood of refusals writes a handful
# of rows and does not slow anyone's calls.
source "$(dirname "$0")/lib.sh"

lf_pki
lf_start_controller
P="$LF_DIR/pki"
lf_edgectl create site plant-7 2>/dev/null || lf_die "create site"
make_model "$LF_DIR/m.onnx"
b=$(lf_bundle kws v1 1 "$LF_DIR/m.onnx")
lf_edgectl model push "$b" >/dev/null 2>&1 || lf_die "model push"

# as NAME edgectl-args...: edgectl with operator NAME's certificate.
as() {
  local name=$1; shift
  [ -f "$P/operators/$name.pem" ] || lf_edgectl pki operator --dir "$P" --fleet "$LF_FLEET" "$name" 2>/dev/null ||
    lf_die "pki operator $name"
  cat >"$LF_DIR/$name.ctx.json" <<JSON
{"current_context": "x", "contexts": {"x": {"controller": "127.0.0.1:$LF_OPERATOR_PORT",
 "ca": "$P/fleet-ca.pem", "cert": "$P/operators/$name.pem", "key": "$P/operators/$name.key"}}}
JSON
  EDGECTL_CONFIG="$LF_DIR/$name.ctx.json" "$LF_BIN/controller/edgectl" "$@"
}
# field JSON KEY: the values of KEY in edgectl's indented JSON, one a line.
field() { sed -n "s/^ *\"$2\": \"\\(.*\\)\",\\{0,1\\}\$/\\1/p" <<<"$1"; }

step "a viewer's refused deploy is audited as permission_denied, with who and what"
lf_edgectl operator add alice --role viewer 2>/dev/null || lf_die "operator add alice"
expect_fail 77 "needs the deployer role" as alice deploy model kws:v1 --site plant-7 --all-at-once
out=$(lf_edgectl get audit --refused -o json)
[ "$(field "$out" actor)" = "operator/alice" ] || lf_die "refused row's actor: $out"
[ "$(field "$out" result)" = "permission_denied" ] || lf_die "refused row's result: $out"
[ "$(field "$out" action)" = "CreateRollout" ] || lf_die "refused row's action: $out"
expect_contains "needs the deployer role" "$(field "$out" detail)"
table=$(lf_edgectl get audit --actor operator/alice)
head -n 1 <<<"$table" | grep -q "ACTOR *RESULT *ACTION" || lf_die "no RESULT column: $table"
grep -q "operator/alice *permission_denied *CreateRollout *rpc/CreateRollout" <<<"$table" || lf_die "table row: $table"
ok "$(sed -n 2p <<<"$table" | cut -c1-160)"

step "an invalid argument, an unknown rollout and a failed precondition are audited likewise"
lf_edgectl operator add bob --role deployer 2>/dev/null || lf_die "operator add bob"
esc=$'\e[31m'
expect_fail 1 "version must be" as bob deploy model "kws:v1$esc" --site plant-7 --all-at-once
expect_fail 1 "not found\|no rollout\|does not exist" as bob rollout pause 4242
as bob deploy model kws:v1 --site plant-7 --all-at-once --allow-empty >/dev/null 2>&1 || lf_die "bob's deploy"
expect_fail 1 "" as bob rollout resume 1
out=$(lf_edgectl get audit --actor operator/bob --refused -o json)
results=$(field "$out" result | tr '\n' ' ')
[ "$results" = "failed_precondition not_found invalid_argument " ] || lf_die "bob's refused rows: $results ($out)"
out=$(lf_edgectl get audit --result invalid_argument -o json)
[ "$(field "$out" actor)" = "operator/bob" ] || lf_die "--result invalid_argument: $out"
[ "$(field "$out" action)" = "CreateRollout" ] || lf_die "--result invalid_argument: $out"
ok "bob: $results"
# The successful deploy is an ok row, and --refused leaves it out.
expect_contains '"result": "ok"' "$(lf_edgectl get audit --actor operator/bob --action rollout.create -o json)"

step "a reason never carries control bytes"
for f in "" "-o json"; do
  # shellcheck disable=SC2086
  out=$(lf_edgectl get audit --refused $f) || lf_die "get audit"
  grep -q $'\e' <<<"$out" && lf_die "an escape byte in get audit $f"
done
[ -n "$(sqlite3 "$LF_DIR/controller/controller.db" "SELECT count(*) FROM audit WHERE result <> 'ok'")" ] || lf_die "sqlite3 cannot read the audit table"
sqlite3 "$LF_DIR/controller/controller.db" "SELECT detail FROM audit" | grep -q $'\e' && lf_die "an escape byte stored"
ok "no escape byte in get audit (table, JSON) or in the audit table"

# now_ms: milliseconds since the epoch.
now_ms() { date +%s%3N; }
# calls_ms N: the median time of N `get sites` calls by the admin.
calls_ms() {
  local i t
  for ((i = 0; i < $1; i++)); do
    t=$(now_ms); lf_edgectl get sites >/dev/null 2>&1 || lf_die "get sites"; echo $(($(now_ms) - t))
  done | sort -n | sed -n "$((($1 + 1) / 2))p"
}

step "a flood of refused calls writes a handful of rows and does not hold up other calls"
# flood CMD...: 3 loops of 40 calls of alice's in the background; their pids in flood_pids.
flood() {
  local loop
  flood_pids=()
  for loop in 1 2 3; do
    (for i in $(seq 40); do as alice "$@" >/dev/null 2>&1; done) &
    flood_pids+=($!)
  done
}
alone=$(calls_ms 10)
# The same number of calls that are allowed (reads, not audited): what the edgectl processes
# alone cost the admin's calls on these 2 CPUs.
flood get sites
reads=$(calls_ms 10)
wait "${flood_pids[@]}"
before_rows=$(lf_edgectl get audit --actor operator/alice --limit 1000 -o json | grep -c '"result"')
start=$(now_ms)
flood create site flood
during=$(calls_ms 10)
wait "${flood_pids[@]}"
elapsed_s=$(((($(now_ms) - start) + 999) / 1000))
rows=$(($(lf_edgectl get audit --actor operator/alice --limit 1000 -o json | grep -c '"result"') - before_rows))
# 5 rows in a burst (the refused deploy spent one), then one per 10 s.
[ "$rows" -le $((4 + elapsed_s / 10 + 1)) ] || lf_die "$rows audit rows for 120 refusals in ${elapsed_s}s"
ok "120 refused calls in ${elapsed_s}s: $rows audit rows; admin's get sites median ${alone} ms alone, ${reads} ms beside 120 allowed reads, ${during} ms beside the 120 refusals"
sleep 10
expect_fail 77 "needs the admin role" as alice create site after-the-flood
expect_contains "more refused calls since the previous row" "$(lf_edgectl get audit --actor operator/alice --limit 1 -o json)"
ok "the next row counts the refusals that were not written"
