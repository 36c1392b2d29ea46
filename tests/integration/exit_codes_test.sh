#!/usr/bin/env bash
# Walks docs/cli.md's exit-code table against a running controller: each documented code (0, 1,
# 2, 3, 69, 75, 77, 78) from several commands, a usage error (2) from every command family,
# and the common controller errors. Every check prints its row; a code that differs from the
# table is collected and the test fails at the end naming each one.
source "$(dirname "$0")/lib.sh"

E="$LF_BIN/controller/edgectl"
Z="$here/../models/zoo"
lf_pki
lf_start_controller
P="$LF_DIR/pki"
PORT=$LF_OPERATOR_PORT
MISMATCHES=()

# check ROW PHRASE cmd...: the command exits ROW and its output (stdout and stderr) contains
# PHRASE (a grep -i pattern; "" for any).
check() {
  local want=$1 phrase=$2; shift 2
  local out rc
  out=$("$@" 2>&1); rc=$?
  local shown="$*"
  shown=${shown#"$E "}
  shown=${shown//$LF_DIR/\$LF_DIR}
  if [ "$rc" -ne "$want" ]; then
    echo "   row $want: MISMATCH exit $rc: edgectl ${shown:0:140}: $(head -n 2 <<<"$out" | cut -c1-200)"
    MISMATCHES+=("row $want, got $rc: edgectl ${shown:0:140}")
  elif [ -n "$phrase" ] && ! grep -qi -- "$phrase" <<<"$out"; then
    echo "   row $want: MISSING '$phrase': edgectl ${shown:0:140}: $(head -n 2 <<<"$out" | cut -c1-200)"
    MISMATCHES+=("row $want, no '$phrase' in the output of: edgectl ${shown:0:140}")
  else
    echo "   row $want ok: edgectl ${shown:0:110} -> $(grep -v '^$' <<<"$out" | head -n 1 | cut -c1-110)"
  fi
}

# ctx NAME KEY=VALUE...: a contexts file $LF_DIR/NAME.json from the PKI's, some keys replaced.
ctx() {
  local name=$1; shift
  context_file "$name" "controller=127.0.0.1:$PORT" "$@"
}
# as CONTEXT cmd...: edgectl with that contexts file and no --controller override.
as() { local name=$1; shift; env -u EDGECTL_CONTROLLER EDGECTL_CONFIG="$LF_DIR/$name.json" "$E" "$@"; }

# Material: a site, a signed and an unsigned bundle, a pushed version, a paused rollout, a
# viewer and a revoked operator.
"$E" create site plant-1 2>/dev/null || lf_die "create site"
make_model "$LF_DIR/m.onnx"
signed=$(lf_bundle mlp v1 1 "$LF_DIR/m.onnx")
"$E" bundle build --name mlp --version v2 --security-version 2 --model "$LF_DIR/m.onnx" --out "$LF_DIR/unsigned" 2>/dev/null ||
  lf_die "bundle build"
"$E" model push "$signed" 2>/dev/null || lf_die "model push"
rollout=$("$E" deploy model mlp:v1 --site plant-1 --allow-empty -o json 2>/dev/null | sed -n 's/^ *"id": *\([0-9]*\).*/\1/p' | head -n 1)
[ -n "$rollout" ] || lf_die "deploy --allow-empty made no rollout"
"$E" rollout pause "$rollout" 2>/dev/null || lf_die "rollout pause"
for op in viewer1 gone; do "$E" pki operator --dir "$P" --fleet "$LF_FLEET" "$op" 2>/dev/null || lf_die "pki operator $op"; done
"$E" operator add viewer1 --role viewer 2>/dev/null || lf_die "operator add viewer1"
"$E" operator add gone --role admin 2>/dev/null || lf_die "operator add gone"
ctx good
ctx viewer "cert=$P/operators/viewer1.pem" "key=$P/operators/viewer1.key"
ctx gone "cert=$P/operators/gone.pem" "key=$P/operators/gone.key"
as gone get sites >/dev/null 2>&1 || lf_die "the operator gone cannot call before its revocation"
"$E" delete operator gone --reason "left" 2>/dev/null || lf_die "delete operator gone"
# Two ports held for the whole test, so that no other process can take them: one bound but not
# listening (connection refused), one listening but never accepting (a TCP connection, then
# nothing).
python3 -c '
import socket, time
closed = socket.socket(); closed.bind(("127.0.0.1", 0))
silent = socket.socket(); silent.bind(("127.0.0.1", 0)); silent.listen(16)
print(closed.getsockname()[1], silent.getsockname()[1], flush=True); time.sleep(300)' >"$LF_DIR/ports.held" &
LF_PIDS+=("$!")
lf_wait_for 5 test -s "$LF_DIR/ports.held" || lf_die "held ports"
read -r free_port SILENT <"$LF_DIR/ports.held"
# Calibration data for the quality bar (row 3).
Q="$LF_DIR/q.onnx"

step "row 0: success (also --help)"
check 0 "" "$E" --help
check 0 "" "$E" get --help
check 0 "^edgectl [0-9]" "$E" --version
check 0 "controller" "$E" version
check 0 "plant-1" "$E" get sites
check 0 "" "$E" get sites -o yaml
check 0 "mlp" "$E" get models -o json
check 0 "paused" "$E" rollout get "$rollout"
check 0 "\\* *demo" "$E" config get-contexts
check 0 "_edgectl" "$E" completion bash
check 0 "OK: mlp:v1" "$E" bundle verify "$signed" --trust-policy "$P/trust-policy.json" --root-key "$P/release-root.pub"
check 0 "plant-1" "$E" --controller "dns:///localhost:$PORT" get sites
check 0 "plant-1" "$E" --controller "ipv4:127.0.0.1:$PORT" get sites
check 0 "plant-1" as good get sites
check 0 "site plant-9 created" "$E" create site plant-9
check 0 "site plant-9 deleted" "$E" delete site plant-9 --reason "typo"

step "row 1: error (not found, already exists, failed precondition, refused input)"
check 1 "no device named 'nope'" "$E" describe device nope
check 1 "no device named 'nope'" "$E" delete device nope
check 1 "no device named 'nope'" "$E" revoke device nope
check 1 "no device named 'nope'" "$E" label device nope line=3
check 1 "site 'nope' does not exist" "$E" delete site nope
check 1 "site 'nope' does not exist" "$E" get devices --site nope
check 1 "no enrollment token with id 0000000000000000" "$E" delete token 0000000000000000
check 1 "no operator named 'nobody'" "$E" delete operator nobody
check 1 "no rollout 9999" "$E" rollout describe 9999
check 1 "site 'plant-1' already exists" "$E" create site plant-1
check 1 "has not been pushed" "$E" deploy model mlp:v9 --site plant-1
check 1 "0 devices match the target" "$E" deploy model mlp:v1 --site plant-1
check 1 "rollout $rollout is paused: cannot pause it" "$E" rollout pause "$rollout"
check 1 "is still in use: rollout $rollout" "$E" delete site plant-1
check 1 "last admin" "$E" operator set-role admin viewer
check 1 "token ttl must be between" "$E" token create --site plant-1 --ttl 8d
check 1 "already" "$E" pki init --dir "$P" --fleet "$LF_FLEET" --controller-host localhost
check 1 "already signed" "$E" bundle sign "$signed" --key "$P/release-1.key"
check 1 "not a valid ONNX model" "$E" model inspect "$P/trust-policy.json"
check 1 "not newer than the served" "$E" trust push "$P/trust-policy.json"

step "row 2: usage, in every command family"
check 2 "unknown command 'gett' for 'edgectl'; did you mean 'get'" "$E" gett devices
check 2 "--dir is required" "$E" pki init --fleet x --controller-host h
check 2 "required" "$E" bundle build --name x
check 2 "" "$E" bundle verify "$LF_DIR/nope" --trust-policy "$P/trust-policy.json" --root-key "$P/release-root.pub"
check 2 "" "$E" model push "$LF_DIR/nope"
check 2 "required" "$E" model quantize "$Z/mlp_anomaly.onnx"
check 2 "model is required" "$E" infer
check 2 "required" "$E" trust rotate
check 2 "name is required" "$E" create site
check 2 "--ttl" "$E" token create --site plant-1 --ttl 0s
check 2 "id is required" "$E" token revoke
check 2 "ref is required" "$E" deploy model
check 2 "unknown command 'modle' for 'edgectl deploy'; did you mean 'model'" "$E" deploy modle mlp:v1
check 2 "id is required" "$E" rollout watch
check 2 "" "$E" rollout watch "$rollout" --timeout 0s
check 2 "not in" "$E" get widgets
check 2 "give a device ID or -l SELECTOR" "$E" describe device
check 2 "give a device ID or -l SELECTOR" "$E" revoke device gw-1 -l line=3
check 2 "--yes and --confirm go with -l" "$E" delete device gw-1 --yes
check 2 "id is required" "$E" decommission device
check 2 "role: root not in" "$E" operator add bob --role root
check 2 "required" "$E" label device
check 2 "extra" "$E" version --client extra-word
check 2 "shell: fish not in" "$E" completion fish
check 2 "name is required" "$E" config use-context
check 2 "unknown command 'widget' for 'edgectl delete'" "$E" delete widget x
check 2 "rollouts are not deleted.*edgectl rollout abort $rollout" "$E" delete rollout "$rollout"
check 2 "A subcommand is required" "$E" delete
check 2 "" "$E" get sites -o xml
check 2 "" "$E" --connect-timeout-ms 5 get sites
check 2 "controller address 'localhost:70000': port 70000 is outside 1..65535" "$E" --controller localhost:70000 get sites
check 2 "controller address 'localhost': no port" "$E" --controller localhost get sites
check 2 "controller address 'dns:///localhost:0': port 0 is outside" "$E" --controller "dns:///localhost:0" version
check 2 "port 99999" env EDGECTL_CONTROLLER=localhost:99999 "$E" get sites
check 2 "must be a finite number" "$E" bundle build --name x --version v1 --security-version 1 --model "$Z/mlp_anomaly.qdq.onnx" \
  --eval-data "$Z/mlp_anomaly.eval.npy" --reference-model "$Z/mlp_anomaly.onnx" --min-snr nan --out "$LF_DIR/b"

step "row 3: quality below the bar (nothing written)"
check 3 "below" "$E" model quantize "$Z/mlp_anomaly.onnx" --calibration "$Z/mlp_anomaly.calib.npy" --out "$Q" --min-snr 300
[ ! -e "$Q" ] || MISMATCHES+=("row 3: model quantize below the bar wrote $Q")
check 3 "quality below the bar" "$E" bundle build --name q --version v1 --security-version 1 --model "$Z/mlp_anomaly.qdq.onnx" \
  --eval-data "$Z/mlp_anomaly.eval.npy" --reference-model "$Z/mlp_anomaly.onnx" --min-snr 300 --out "$LF_DIR/q-bundle"
[ ! -e "$LF_DIR/q-bundle" ] || MISMATCHES+=("row 3: bundle build below the bar wrote $LF_DIR/q-bundle")

step "row 69: unreachable"
check 69 "nothing listens at 127.0.0.1:$free_port (connection refused)" "$E" --controller "127.0.0.1:$free_port" get sites
check 69 "nothing listens at dns:///localhost:$free_port (connection refused)" "$E" --controller "dns:///localhost:$free_port" delete device gw-1
check 69 "" "$E" --controller "ipv6:[::1]:$free_port" rollout get
check 69 "^edgectl " "$E" --controller "127.0.0.1:$free_port" version
check 69 "cannot resolve the controller's host 'no-such-host.invalid'" "$E" --controller no-such-host.invalid:7445 delete site x
check 69 "" "$E" infer mlp --random --socket "$LF_DIR/no-agent.sock"

step "row 75: timed out, or gave up waiting"
check 75 "300 ms.*raise --connect-timeout-ms" "$E" --connect-timeout-ms 300 --controller "127.0.0.1:$SILENT" get sites
check 75 "300 ms.*raise --connect-timeout-ms" "$E" --connect-timeout-ms 300 --controller "127.0.0.1:$SILENT" delete token 0000000000000000
check 75 "timed out after 1s" "$E" rollout watch "$rollout" --timeout 1s

step "row 77: permission denied"
check 77 "DeleteSite needs the admin role; operator viewer1 is a viewer" as viewer delete site plant-1
check 77 "needs the admin role" as viewer create site plant-2
check 77 "needs the deployer role" as viewer deploy model mlp:v1 --site plant-1 --allow-empty
check 77 "needs the admin role" as viewer delete device gw-1
check 77 "of operator/gone is revoked" as gone get sites
check 77 "is not the controller's operator endpoint" "$E" --controller "127.0.0.1:$LF_ENROLL_PORT" get sites
check 77 "is not the controller's operator endpoint" "$E" --controller "127.0.0.1:$LF_ENROLL_PORT" delete site x
check 77 "the controller refused the operator certificate" "$E" --controller "127.0.0.1:$LF_AGENT_PORT" get sites
check 77 "is unsigned, and an agent refuses unsigned bundles" "$E" model push "$LF_DIR/unsigned"
check 77 "is unsigned" "$E" bundle verify "$LF_DIR/unsigned" --trust-policy "$P/trust-policy.json" --root-key "$P/release-root.pub"
check 77 "is unsigned" "$E" bundle export "$LF_DIR/unsigned" --out "$LF_DIR/unsigned.bundle"

step "row 78: bad configuration"
check 78 "does not exist" env -u EDGECTL_CONTROLLER "$E" --config "$LF_DIR/none.json" get sites
check 78 "has no context named 'nope'" "$E" --context nope get sites
check 78 "has no context named 'nope'" "$E" config use-context nope
ctx bad-port "controller=localhost:70000"
check 78 "context 'demo': controller address 'localhost:70000': port 70000 is outside 1..65535" as bad-port get sites
ctx no-port "controller=localhost"
check 78 "controller address 'localhost': no port" as no-port delete site x
ctx bad-timeout connect_timeout_ms=5
check 78 "connect_timeout_ms" as bad-timeout version
ctx no-cert "cert=$LF_DIR/nope.pem"
check 78 "context cert: cannot open" as no-cert delete operator x
ctx wrong-key "key=$P/operators/viewer1.key"
check 78 "is not the key of context cert" as wrong-key rollout get

echo
if [ "${#MISMATCHES[@]}" -gt 0 ]; then
  printf 'exit codes that differ from docs/cli.md:\n'
  printf '  %s\n' "${MISMATCHES[@]}"
  lf_die "${#MISMATCHES[@]} row(s) differ"
fi
echo "PASS"
