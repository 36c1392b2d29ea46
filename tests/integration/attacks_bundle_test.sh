#!/usr/bin/env bash
# Attacks on what runs: each bundle below is rejected with an error that names the problem,
# and nothing changes (the controller's versions, the agents' active model).
source "$(dirname "$0")/lib.sh"

lf_pki
lf_start_controller
lf_edgectl create site plant-7 2>/dev/null || lf_die "create site"
lf_edgectl create site plant-9 2>/dev/null || lf_die "create site"
lf_add_agent gw-7a plant-7
lf_add_agent gw-9a plant-9
lf_wait_for 30 all_online 2 || lf_die "agents not online"
make_model "$LF_DIR/m.onnx"
b3=$(lf_bundle kws v3 3 "$LF_DIR/m.onnx")
lf_edgectl model push "$b3" 2>/dev/null || lf_die "push v3"
lf_edgectl deploy model kws:v3 --all-at-once --site plant-7 --wait --timeout 60s 2>/dev/null || lf_die "deploy v3"
models_before=$(lf_edgectl get models -o json)

unsigned_bundle() {  # NAME VERSION SV → built, not signed
  local dir="$LF_DIR/bundles/$1-$2"
  make_model "$LF_DIR/$1-$2.onnx"
  lf_edgectl bundle build --name "$1" --version "$2" --security-version "$3" --model "$LF_DIR/$1-$2.onnx" --out "$dir" 2>/dev/null
  echo "$dir"
}

step "bad signature (a valid signature over different bytes)"
d=$(unsigned_bundle kws v90 9)
sed "s|\"payload\":\"[^\"]*\"|\"payload\":\"$(base64 -w0 "$d/manifest.json")\"|" "$b3/envelope.json" >"$d/envelope.json"
expect_fail 77 "does not verify" lf_edgectl model push "$d"

step "signed by a key that is not in the trust policy"
lf_edgectl pki init --dir "$LF_DIR/rogue" --fleet "$LF_FLEET" --controller-host 127.0.0.1 2>/dev/null
d=$(unsigned_bundle kws v91 9)
lf_edgectl bundle sign "$d" --key "$LF_DIR/rogue/release-1.key" 2>/dev/null
expect_fail 77 "not in trust policy" lf_edgectl model push "$d"
expect_fail 77 "not in trust policy" lf_edgectl bundle verify "$d" --trust-policy "$LF_DIR/pki/trust-policy.json" \
  --root-key "$LF_DIR/pki/release-root.pub"

step "unsigned bundle (envelope with no signatures)"
d=$(unsigned_bundle kws v92 9)
printf '{"payload":"%s","payloadType":"application/vnd.edgefleet.manifest.v1+json","signatures":[]}' \
  "$(base64 -w0 "$d/manifest.json")" >"$d/envelope.json"
expect_fail 77 "unsigned" lf_edgectl model push "$d"
rm "$d/envelope.json"
expect_fail 77 "is unsigned, and an agent refuses unsigned bundles" lf_edgectl model push "$d"

step "tampered, truncated and over-long blobs are refused at push"
# A model the controller has never seen (a known blob would not be sent at all).
make_model "$LF_DIR/m93.onnx"
d=$(lf_bundle kws v93 9 "$LF_DIR/m93.onnx")
blob="$d/blobs/$(ls "$d/blobs")"
printf 'X' | dd of="$blob" bs=1 seek=100 conv=notrunc 2>/dev/null
expect_fail 1 "does not match its digest" lf_edgectl model push "$d"
make_model "$LF_DIR/m94.onnx"
d=$(lf_bundle kws v94 9 "$LF_DIR/m94.onnx")
blob="$d/blobs/$(ls "$d/blobs")"
truncate -s 1000 "$blob"
expect_fail 1 "truncated" lf_edgectl model push "$d"
make_model "$LF_DIR/m95.onnx"
d=$(lf_bundle kws v95 9 "$LF_DIR/m95.onnx")
blob="$d/blobs/$(ls "$d/blobs")"
printf 'extra' >>"$blob"
expect_fail 1 "longer than" lf_edgectl model push "$d"

step "envelope JSON nested 100,000 deep"
d=$(unsigned_bundle kws v96 9)
{ head -c 100000 /dev/zero | tr '\0' '['; head -c 100000 /dev/zero | tr '\0' ']'; } >"$d/envelope.json"
expect_fail 1 "nested deeper than" lf_edgectl model push "$d"
# The same bytes sent straight to the controller, past edgectl's own check:
expect_fail 1 "INVALID_ARGUMENT.*nested deeper than" "$LF_BIN/tests/integration/edge-probe" \
  --addr "127.0.0.1:$LF_OPERATOR_PORT" --ca "$LF_DIR/pki/fleet-ca.pem" --cert "$LF_DIR/pki/operators/admin.pem" \
  --key "$LF_DIR/pki/operators/admin.key" push-envelope --file "$d/envelope.json"

step "nothing was stored by the rejected pushes"
[ "$(lf_edgectl get models -o json)" = "$models_before" ] || lf_die "model list changed"
ok "model list unchanged"

step "a rollout below a device's anti-rollback floor skips it and says why (exit 1: nothing converged)"
make_model "$LF_DIR/m1.onnx"
b1=$(lf_bundle kws v1 1 "$LF_DIR/m1.onnx")
lf_edgectl model push "$b1" 2>/dev/null || lf_die "push v1"
expect_fail 1 "anti-rollback floor" lf_edgectl deploy model kws:v1 --all-at-once --site plant-7 --wait --timeout 30s

step "a blob tampered inside the controller's store is refused by the agent"
make_model "$LF_DIR/m4.onnx"
b4=$(lf_bundle kws v4 4 "$LF_DIR/m4.onnx")
lf_edgectl model push "$b4" 2>/dev/null || lf_die "push v4"
stored="$LF_DIR/controller/blobs/sha256/$(ls "$b4/blobs")"
printf 'X' | dd of="$stored" bs=1 seek=10 conv=notrunc 2>/dev/null
expect_fail 1 "failed to install" lf_edgectl deploy model kws:v4 --all-at-once --site plant-7 --wait --timeout 60s
expect_contains "sha256 mismatch" "$(lf_edgectl describe device gw-7a)"
[ "$(readlink "$LF_DIR/gw-7a/models/kws/current")" = v3 ] || lf_die "gw-7a no longer runs v3"
ok "gw-7a still runs v3"

step "a compromised controller pointing a device below its floor is refused by the agent"
lf_edgectl deploy model kws:v3 --all-at-once --site plant-9 --wait --timeout 60s 2>/dev/null || lf_die "deploy v3 to plant-9"
lf_stop_controller
sqlite3 "$LF_DIR/controller/controller.db" \
  "UPDATE desired_models SET version = 'v1' WHERE device_id = 'gw-9a';
   UPDATE devices SET desired_generation = desired_generation + 1 WHERE id = 'gw-9a';
   UPDATE reported_models SET security_floor = 0 WHERE device_id = 'gw-9a';"
lf_start_controller
refused() { lf_edgectl describe device gw-9a | grep -q "below this device's anti-rollback floor 3"; }
lf_wait_for 30 refused || lf_die "agent did not refuse v1: $(lf_edgectl describe device gw-9a)"
[ "$(readlink "$LF_DIR/gw-9a/models/kws/current")" = v3 ] || lf_die "gw-9a no longer runs v3"
ok "gw-9a refused v1 and still runs v3"
echo "PASS"
