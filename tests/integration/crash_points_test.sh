#!/usr/bin/env bash
# kill -9 at every named crash point of the update path, then restart: the agent serves a
# verified version (old or new, never a mix), finishes or rolls back by itself, reports the
# outcome exactly once, and leaves no temporary files behind.
source "$(dirname "$0")/lib.sh"

points=$("$LF_BIN/agent/edge-agent" --list-crash-points 2>/dev/null) ||
  { echo "EDGE-TEST-SKIPPED: this build has no crash points (EDGE_CRASH_POINTS=OFF)"; exit 0; }

one_agent_fleet

mlp_selftest mlp_anomaly.qdq "$LF_DIR/good.json"
# Expected outputs of another model: the gate fails, so the rollback path runs. (bundle build
# refuses such a bundle; --skip-model-checks below gets it to the device.)
mlp_selftest mlp_anomaly "$LF_DIR/bad.json"

# Outcomes the controller stored for VERSION (it keeps each agent event once).
outcomes_for() {
  lf_edgectl describe device gw-1 -o json 2>/dev/null | tr -d ' \n' | tr '{' '\n' | grep '"outcome"' |
    grep -c "\"version\":\"$1\""
}
has_outcome() { [ "$(outcomes_for "$1")" -ge 1 ]; }
final_state() { state_is gw-1 committed || state_is gw-1 rolled_back; }

sv=1
prev=""
deploy() {  # VERSION SELFTEST
  make_model "$LF_DIR/$1.onnx"
  local b skip=()
  [ "$2" = "$LF_DIR/bad.json" ] && skip=(--skip-model-checks)
  b=$(lf_bundle mlp "$1" "$sv" "$LF_DIR/$1.onnx" --selftest "$2" --soak-seconds 1 "${skip[@]}")
  sv=$((sv + 1))
  lf_edgectl model push "$b" 2>/dev/null || lf_die "push $1"
  lf_edgectl deploy model "mlp:$1" --all-at-once --site plant-7 2>/dev/null || lf_die "deploy $1"
}

step "baseline v0"
deploy v0 "$LF_DIR/good.json"
lf_wait_for 30 has_outcome v0 || lf_die "v0 did not commit"
prev=v0

n=0
for point in $points; do
  n=$((n + 1))
  version="c$n"
  selftest="$LF_DIR/good.json"
  case "$point" in rollback.*) selftest="$LF_DIR/bad.json" ;; esac
  step "kill -9 at $point (deploying $version)"
  lf_kill_agent gw-1
  EDGE_CRASH_AT="$point" lf_start_agent gw-1
  deploy "$version" "$selftest"
  agent_dead() { ! kill -0 "${LF_AGENT_PID[gw-1]}" 2>/dev/null; }
  lf_wait_for 40 agent_dead || lf_die "the agent never reached crash point $point"
  grep -q "\"point\":\"$point\"" "$LF_DIR/gw-1.log" || lf_die "the agent died, but not at $point"
  lf_start_agent gw-1
  lf_wait_for 40 has_outcome "$version" ||
    lf_die "after $point: the controller has no outcome for $version (state: $(device_state gw-1))"
  final_state || lf_die "after $point: state $(device_state gw-1)"
  # Serves a verified version, old or new, and the files agree.
  serving=$(infer_version gw-1 mlp --input "$LF_DIR/ok.npy")
  current=$(readlink "$LF_DIR/gw-1/models/mlp/current")
  [ "$serving" = "$current" ] || lf_die "after $point: serving '$serving' but current is '$current'"
  case "$serving" in "$version" | "$prev") ;; *) lf_die "after $point: serving '$serving', neither $prev nor $version" ;; esac
  cmp -s "$LF_DIR/$serving.onnx" "$LF_DIR/gw-1/models/mlp/$serving/model" || lf_die "after $point: installed model differs"
  # Exactly one outcome reported for this version, even if it was sent again.
  sleep 1
  [ "$(outcomes_for "$version")" -eq 1 ] || lf_die "after $point: $(outcomes_for "$version") outcomes for $version"
  # No temporary files left.
  left=$(find "$LF_DIR/gw-1" \( -name '*.partial' -o -name '*.tmp' -o -name '*.tmp.*' \) | head -n 3)
  [ -z "$left" ] || lf_die "after $point: temporary files left: $left"
  ok "$point: serves $serving ($(device_state gw-1)), one outcome, no temporary files"
  prev=$serving
done
echo "PASS"
