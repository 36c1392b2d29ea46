#!/usr/bin/env bash
# Zero failed requests across swaps: four clients call ModelInfer in tight loops on the agent's
# unix socket while the controller moves the model through 20 versions (each a real
# activation: download, verify, install, health gate, switch). Every answer names one of the
# deployed versions. (tests/unit/serve/swap_test.cpp checks the same under threads, output by
# output.)
source "$(dirname "$0")/lib.sh"

one_agent_fleet
mlp_selftest mlp_anomaly.qdq "$LF_DIR/st-int8.json"
mlp_selftest mlp_anomaly "$LF_DIR/st-fp32.json"
deploy_version() {  # N: odd versions are the int8 model, even ones the fp32 model
  local zoo=mlp_anomaly.qdq st="$LF_DIR/st-int8.json" b
  [ $(($1 % 2)) -eq 0 ] && zoo=mlp_anomaly st="$LF_DIR/st-fp32.json"
  make_model "$LF_DIR/v$1.onnx" "$zoo"
  b=$(lf_bundle mlp "v$1" "$1" "$LF_DIR/v$1.onnx" --selftest "$st")
  lf_edgectl model push "$b" 2>/dev/null || lf_die "push v$1"
  lf_edgectl deploy model "mlp:v$1" --all-at-once --site plant-7 --wait --timeout 60s 2>/dev/null || lf_die "deploy v$1"
}
deploy_version 0

step "4 clients in tight loops; 20 swaps"
rm -f "$LF_DIR/stop"
client() {  # N: one line per request: the answering version, or FAIL and the error
  local out rc
  while [ ! -e "$LF_DIR/stop" ]; do
    out=$(lf_edgectl infer mlp --socket "$LF_DIR/gw-1/infer.sock" --input "$LF_DIR/ok.npy" -o json 2>&1)
    rc=$?
    if [ "$rc" -eq 0 ]; then
      tr ",{" "\n\n" <<<"$out" | sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' | head -n 1
    else
      echo "FAIL (exit $rc) $out" | tr '\n' ' '
      echo
    fi
  done >"$LF_DIR/client-$1.log"
}
pids=()
for c in 1 2 3 4; do client "$c" & pids+=("$!"); done
sleep 1
for n in $(seq 1 20); do deploy_version "$n"; done
sleep 1
touch "$LF_DIR/stop"
wait "${pids[@]}"

total=$(cat "$LF_DIR"/client-*.log | wc -l)
fails=$(cat "$LF_DIR"/client-*.log | grep -c '^FAIL' || true)
[ "$fails" -eq 0 ] || lf_die "$fails of $total requests failed: $(grep -h '^FAIL' "$LF_DIR"/client-*.log | head -n 3)"
bad=$(cat "$LF_DIR"/client-*.log | grep -vxE 'v([0-9]|1[0-9]|20)' | head -n 3)
[ -z "$bad" ] || lf_die "answers from no deployed version: $bad"
seen=$(sort -u "$LF_DIR"/client-*.log | wc -l)
[ "$seen" -ge 10 ] || lf_die "only $seen versions answered during 20 swaps; the load did not overlap the swaps"
[ "$(infer_version gw-1 mlp --input "$LF_DIR/ok.npy")" = v20 ] || lf_die "v20 does not serve at the end"
ok "$total requests, 0 failed, $seen versions answered, v20 serves"
echo "PASS"
