#!/usr/bin/env bash
# Air-gapped install: with the controller down for the whole update, `edge-agent install FILE`
# installs a single-file bundle with the same verification and health gate, the agent serves
# it, and the controller learns of it on reconnect.
source "$(dirname "$0")/lib.sh"

one_agent_fleet
mlp_selftest mlp_anomaly.qdq "$LF_DIR/selftest.json"

step "v1 from the controller"
make_model "$LF_DIR/v1.onnx"
b1=$(lf_bundle mlp v1 1 "$LF_DIR/v1.onnx" --selftest "$LF_DIR/selftest.json")
lf_edgectl model push "$b1" 2>/dev/null || lf_die "push v1"
lf_edgectl deploy model mlp:v1 --all-at-once --site plant-7 --wait --timeout 60s 2>/dev/null || lf_die "deploy v1"

step "the controller goes away; v2 is exported to one file"
lf_stop_controller
make_model "$LF_DIR/v2.onnx"
b2=$(lf_bundle mlp v2 2 "$LF_DIR/v2.onnx" --selftest "$LF_DIR/selftest.json")
lf_edgectl bundle export "$b2" --out "$LF_DIR/mlp-v2.bundle" 2>/dev/null || lf_die "bundle export"
[ -s "$LF_DIR/mlp-v2.bundle" ] || lf_die "no bundle file"
ok "exported $(stat -c %s "$LF_DIR/mlp-v2.bundle") bytes"

step "a tampered file is refused and changes nothing"
cp "$LF_DIR/mlp-v2.bundle" "$LF_DIR/bad.bundle"
size=$(stat -c %s "$LF_DIR/bad.bundle")
printf 'X' | dd of="$LF_DIR/bad.bundle" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
expect_fail 1 "sha256\|digest" "$LF_BIN/agent/edge-agent" install "$LF_DIR/bad.bundle" --config "$LF_DIR/gw-1.json"
[ -z "$(ls "$LF_DIR/gw-1/inbox")" ] || lf_die "a refused file reached the agent's inbox"
[ "$(infer_version gw-1 mlp --input "$LF_DIR/ok.npy")" = v1 ] || lf_die "v1 no longer serves"
step "a file signed by an unknown key is refused"
lf_edgectl pki init --dir "$LF_DIR/rogue" --fleet "$LF_FLEET" --controller-host 127.0.0.1 2>/dev/null
make_model "$LF_DIR/r.onnx"
lf_edgectl bundle build --name mlp --version v9 --security-version 9 --model "$LF_DIR/r.onnx" --out "$LF_DIR/rogue-b" 2>/dev/null
lf_edgectl bundle sign "$LF_DIR/rogue-b" --key "$LF_DIR/rogue/release-1.key" 2>/dev/null
lf_edgectl bundle export "$LF_DIR/rogue-b" --out "$LF_DIR/rogue.bundle" 2>/dev/null || lf_die "export rogue"
expect_fail 77 "trust policy" "$LF_BIN/agent/edge-agent" install "$LF_DIR/rogue.bundle" --config "$LF_DIR/gw-1.json"

step "edge-agent install: verified, gated and serving with the controller down"
"$LF_BIN/agent/edge-agent" install "$LF_DIR/mlp-v2.bundle" --config "$LF_DIR/gw-1.json" --timeout 60 ||
  lf_die "offline install failed"
[ "$(infer_version gw-1 mlp --input "$LF_DIR/ok.npy")" = v2 ] || lf_die "v2 does not serve"
grep -q '"health gate passed".*"version":"v2"' "$LF_DIR/gw-1.log" || lf_die "no health gate ran for v2"
ok "v2 serves"

step "an older version (below the anti-rollback floor v2 raised) is refused at the console"
lf_edgectl bundle export "$b1" --out "$LF_DIR/mlp-v1.bundle" 2>/dev/null || lf_die "export v1"
expect_fail 1 "floor" "$LF_BIN/agent/edge-agent" install "$LF_DIR/mlp-v1.bundle" --config "$LF_DIR/gw-1.json"
[ "$(infer_version gw-1 mlp --input "$LF_DIR/ok.npy")" = v2 ] || lf_die "v2 no longer serves"

step "the controller comes back and learns of v2"
lf_start_controller
lf_wait_for 30 all_online 1 || lf_die "agent did not reconnect"
# The device runs v2 while the controller still desires v1: get devices shows mlp:v2→v1.
runs_v2() { lf_edgectl get devices 2>/dev/null | grep -q "^gw-1 .* mlp:v2.* committed"; }
lf_wait_for 20 runs_v2 || lf_die "the controller does not show v2: $(lf_edgectl get devices 2>&1)"
desc=$(lf_edgectl describe device gw-1 2>&1)
expect_contains "offline install" "$desc"
sleep 3
[ "$(infer_version gw-1 mlp --input "$LF_DIR/ok.npy")" = v2 ] || lf_die "the controller's older desired state undid v2"
ok "controller shows v2 (offline install); the agent kept it"
echo "PASS"
