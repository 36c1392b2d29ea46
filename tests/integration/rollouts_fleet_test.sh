#!/usr/bin/env bash
# Rollouts against a changing fleet, with real agents over 3 sites: a device whose anti-rollback
# floor is above the version is skipped while the rest converge; a gateway that enrolls after
# the rollout gets the version (a standing target); the controller killed -9 mid-wave finishes
# the rollout with every device dispatched once; two rollouts that overlap (the newer one takes
# the shared devices, and reverting the older leaves them alone); an empty target is refused
# unless allowed, and then a device labelled into it converges.
source "$(dirname "$0")/lib.sh"
json() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
rq() { lf_edgectl rollout get "$1" -o json 2>/dev/null | json "$2"; }
created_id() { json 'd["id"]' <"$1"; }
sites=(plant-a plant-b plant-c)
push() {  # VERSION SECURITY_VERSION
  make_model "$LF_DIR/$1.onnx"
  lf_edgectl model push "$(lf_bundle mlp "$1" "$2" "$LF_DIR/$1.onnx")" 2>/dev/null || lf_die "push $1"
}
on() { [ "$(infer_version "$1" mlp --random)" = "$2" ]; }  # AGENT VERSION: it serves VERSION

step "controller, 3 sites, 6 agents; mlp:v1 everywhere"
lf_pki
lf_start_controller
for s in "${sites[@]}"; do lf_edgectl create site "$s" 2>/dev/null || lf_die "create site $s"; done
for i in 1 2 3 4 5 6; do lf_add_agent "gw-$i" "${sites[$(((i - 1) % 3))]}"; done
lf_wait_for 60 all_online 6 || lf_die "6 agents not online"
push v1 1
lf_edgectl deploy model mlp:v1 --site plant-a,plant-b,plant-c --all-at-once --wait --timeout 90s 2>/dev/null ||
  lf_die "v1 did not converge"
ok "6/6 on v1"

step "a device whose floor is above the version is skipped and reported; the rest converge"
push v5 5
lf_edgectl deploy model mlp:v5 --device gw-1 --all-at-once --wait --timeout 60s 2>/dev/null || lf_die "v5 to gw-1"
push v2 2
lf_edgectl deploy model mlp:v2 --site plant-a,plant-b,plant-c --canary 2 --waves 100% --soak 0s --no-health-gates \
  --wait --timeout 90s -o json >"$LF_DIR/v2.json" 2>"$LF_DIR/v2.txt" || lf_die "v2: $(cat "$LF_DIR/v2.txt")"
out=$(cat "$LF_DIR/v2.txt")
expect_contains "gw-1 skipped: anti-rollback floor 5 is above v2's security_version 2" "$out"
expect_contains "converged: 5/6 devices run mlp:v2" "$out"
V2=$(tail -n 1 "$LF_DIR/v2.json" | json 'd["id"]')
[ "$(rq "$V2" '[x["dispatches"] for x in d["devices"] if x["id"] == "gw-1"][0]')" = 0 ] || lf_die "gw-1 was dispatched"
on gw-1 v5 || lf_die "gw-1 does not serve v5 any more"
for i in 2 3 4 5 6; do on "gw-$i" v2 || lf_die "gw-$i not on v2"; done
ok "gw-1 skipped (floor 5), 5/6 on v2"

step "a gateway that enrolls at a site after the rollout gets its version"
lf_add_agent gw-7 plant-a
lf_wait_for 60 on gw-7 v2 || lf_die "gw-7 did not get v2: $(lf_edgectl rollout describe "$V2" 2>&1)"
# Serving comes first; the row turns updated when the agent's commit report arrives.
gw7_updated() { [ "$(rq "$V2" '[(x["state"], x["dispatches"]) for x in d["devices"] if x["id"] == "gw-7"][0]')" = "('updated', 1)" ]; }
lf_wait_for 20 gw7_updated || lf_die "gw-7's row: $(lf_edgectl rollout get "$V2" -o json)"
expect_contains "joined gw-7: entered the target at site plant-a" "$(lf_edgectl rollout describe "$V2")"
ok "gw-7 enrolled at plant-a and converged to v2 (standing target)"

step "the controller killed -9 mid-wave finishes the rollout, each device dispatched once"
push v3 2
# The canary's soak must outlast seeing it updated and freezing the others (scaled: a loaded host).
lf_edgectl deploy model mlp:v3 --site plant-a,plant-b,plant-c --canary 1 --waves 50%,100% --soak $((6 * LF_TS))s --no-health-gates \
  -o json >"$LF_DIR/v3.json" 2>/dev/null || lf_die "deploy v3"
V3=$(created_id "$LF_DIR/v3.json")
canary_up() { [ "$(rq "$V3" '[x["state"] for x in d["devices"] if x["wave"] == 0]')" = "['updated']" ]; }
lf_wait_for 60 canary_up || lf_die "v3's canary did not update: $(lf_edgectl rollout describe "$V3" 2>&1)"
# While the canary soaks, freeze the other agents (connected, silent), so wave 1's devices are
# still in flight when the controller dies.
canary=$(rq "$V3" '[x["id"] for x in d["devices"] if x["wave"] == 0][0]')
frozen=()
for i in 2 3 4 5 6 7; do
  [ "gw-$i" = "$canary" ] || { kill -STOP "${LF_AGENT_PID[gw-$i]}"; frozen+=("gw-$i"); }
done
in_flight() { [ "$(rq "$V3" 'len([x for x in d["devices"] if x["wave"] == 1 and x["state"] == "dispatched"])')" -ge 1 ]; }
lf_wait_for 30 in_flight || lf_die "no wave-1 device in flight: $(lf_edgectl rollout describe "$V3" 2>&1)"
n=$(rq "$V3" 'len([x for x in d["devices"] if x["state"] == "dispatched"])')
lf_stop_controller KILL
for a in "${frozen[@]}"; do kill -CONT "${LF_AGENT_PID[$a]}"; done
ok "killed in wave 1 with $n device(s) in flight"
lf_start_controller
lf_edgectl rollout watch "$V3" --timeout 120s >/dev/null 2>"$LF_DIR/v3.txt" || lf_die "v3 after restart: $(cat "$LF_DIR/v3.txt")"
r=$(lf_edgectl rollout get "$V3" -o json)
[ "$(json 'd["state"]' <<<"$r")" = completed ] || lf_die "v3 not completed: $r"
[ "$(json 'sorted((x["id"], x["dispatches"]) for x in d["devices"])' <<<"$r")" = \
  "[('gw-1', 0), ('gw-2', 1), ('gw-3', 1), ('gw-4', 1), ('gw-5', 1), ('gw-6', 1), ('gw-7', 1)]" ] ||
  lf_die "dispatches after the restart: $r"
[ "$(json 'len(d["waves"])' <<<"$r")" = 3 ] || lf_die "a wave was lost: $r"
for i in 2 3 4 5 6 7; do on "gw-$i" v3 || lf_die "gw-$i not on v3"; done
ok "completed after kill -9: 3 waves, each device dispatched once"

step "overlapping rollouts: the newer takes the shared devices; reverting the older leaves them"
push v4 2
# A: all of plant-a, its canary soaking for 10 minutes (so it is still running).
lf_edgectl deploy model mlp:v4 --site plant-a --canary 1 --waves 100% --soak 10m --no-health-gates -o json \
  >"$LF_DIR/a.json" 2>/dev/null || lf_die "deploy A"
A=$(created_id "$LF_DIR/a.json")
canary_done() { [ "$(rq "$A" '[x["state"] for x in d["devices"] if x["wave"] == 0]')" = "['updated']" ]; }
lf_wait_for 60 canary_done || lf_die "A's canary did not update: $(lf_edgectl rollout describe "$A" 2>&1)"
canary=$(rq "$A" '[x["id"] for x in d["devices"] if x["wave"] == 0][0]')
push v6 2
# B: the canary and another plant-a device, at once.
other=$( [ "$canary" = gw-4 ] && echo gw-7 || echo gw-4)
lf_edgectl deploy model mlp:v6 --device "$canary,$other" --all-at-once --wait --timeout 60s 2>/dev/null || lf_die "deploy B"
r=$(lf_edgectl rollout get "$A" -o json)
[ "$(json 'sorted(x["id"] for x in d["devices"] if x["state"] == "superseded")' <<<"$r")" = \
  "$(printf "%s\n" "$canary" "$other" | sort | sed "s/.*/'&'/" | paste -sd, | sed 's/^/[/; s/$/]/; s/,/, /g')" ] ||
  lf_die "A's rows of the shared devices are not superseded: $r"
lf_edgectl rollout abort "$A" --revert 2>/dev/null || lf_die "abort --revert A"
aborted() { [ "$(rq "$A" 'd["state"]')" = reverted ]; }
lf_wait_for 30 aborted || lf_die "A not reverted: $(lf_edgectl rollout get "$A" -o json)"
sleep 3
on "$canary" v6 && on "$other" v6 || lf_die "reverting A touched B's devices"
on gw-1 v5 || lf_die "gw-1 changed"
ok "B (newer) superseded A on $canary and $other; A reverted without touching them"

step "an empty target is refused unless allowed; a device labelled into it converges"
expect_fail 1 "0 devices match the target" lf_edgectl deploy model mlp:v6 -l ring=blue
lf_edgectl deploy model mlp:v6 -l ring=blue --all-at-once --allow-empty -o json >"$LF_DIR/e.json" 2>/dev/null ||
  lf_die "deploy --allow-empty"
E=$(created_id "$LF_DIR/e.json")
lf_edgectl label device gw-5 ring=blue tier=2 >/dev/null 2>&1 || lf_die "label gw-5"
expect_contains "ring=blue" "$(lf_edgectl get devices -l ring=blue)"
[ "$(lf_edgectl get devices -l ring=blue,tier=2 | tail -n +2 | awk '{print $1}')" = gw-5 ] || lf_die "selector lists more than gw-5"
lf_wait_for 60 on gw-5 v6 || lf_die "gw-5 did not get v6: $(lf_edgectl rollout describe "$E" 2>&1)"
e_rows() { [ "$(rq "$E" '[(x["id"], x["state"]) for x in d["devices"]]')" = "[('gw-5', 'updated')]" ]; }
lf_wait_for 30 e_rows || lf_die "E's rows: $(lf_edgectl rollout get "$E" -o json)"
expect_fail 1 "label" lf_edgectl label device gw-5 "bad key=x"
ok "refused with '0 devices'; --allow-empty + label ring=blue → gw-5 on v6"
echo "PASS"
