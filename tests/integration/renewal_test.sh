#!/usr/bin/env bash
# Short-lived device certificates: the agent renews with a new key once two thirds of the
# lifetime have passed, keeps working, and the old certificate stops being accepted.
source "$(dirname "$0")/lib.sh"
probe() { "$LF_BIN/tests/integration/edge-probe" "$@"; }

# 30 s certificates (scaled with EDGE_TIME_SCALE, as every wait below is: the first-half check
# must land within half the lifetime on a slow host too)
LF_CONTROLLER_EXTRA="\"device_cert_ttl_seconds\": $((30 * LF_TS))"
lf_pki
lf_start_controller
lf_edgectl create site plant-7 2>/dev/null || lf_die "create site"
lf_add_agent gw-1 plant-7
lf_wait_for 30 all_online 1 || lf_die "agent not online"
cp "$LF_DIR/gw-1/identity/cert.pem" "$LF_DIR/old-cert.pem"
cp "$LF_DIR/gw-1/identity/key.pem" "$LF_DIR/old-key.pem"
serial_before=$(lf_edgectl describe device gw-1 -o json | sed -n 's/.*"cert_serial": "\([0-9a-f]*\)".*/\1/p')
OLD=(--addr "127.0.0.1:$LF_AGENT_PORT" --ca "$LF_DIR/pki/fleet-ca.pem" --cert "$LF_DIR/old-cert.pem" --key "$LF_DIR/old-key.pem")

step "a certificate cannot be renewed in the first half of its lifetime"
expect_fail 1 "FAILED_PRECONDITION.*half its lifetime" probe "${OLD[@]}" renew --out-cert "$LF_DIR/t.pem" --out-key "$LF_DIR/t.key"
[ ! -e "$LF_DIR/t.pem" ] || lf_die "a certificate was issued"

step "wait for the renewal (30 s certificates renew after about 20 s, both scaled)"
renewed() { grep -q '"certificate renewed"' "$LF_DIR/gw-1.log"; }
lf_wait_for 45 renewed || lf_die "agent did not renew its certificate"
serial_after=$(lf_edgectl describe device gw-1 -o json | sed -n 's/.*"cert_serial": "\([0-9a-f]*\)".*/\1/p')
[ -n "$serial_after" ] && [ "$serial_after" != "$serial_before" ] || lf_die "serial unchanged ($serial_before)"
cmp -s "$LF_DIR/old-key.pem" "$LF_DIR/gw-1/identity/key.pem" && lf_die "the key was not rotated"
[ "$(stat -c %a "$LF_DIR/gw-1/identity/key.pem")" = 600 ] || lf_die "new key is not 0600"
[ ! -e "$LF_DIR/gw-1/identity/key.pem.next" ] || lf_die "key.pem.next left behind"
ok "serial $serial_before → $serial_after, new key, 0600"

step "the agent keeps working on its new certificate"
lf_wait_for 10 all_online 1 || lf_die "agent offline after renewal"
make_model "$LF_DIR/m.onnx"
b=$(lf_bundle kws v1 1 "$LF_DIR/m.onnx")
lf_edgectl model push "$b" 2>/dev/null || lf_die "push"
lf_edgectl deploy model kws:v1 --all-at-once --site plant-7 --wait --timeout 30s 2>/dev/null || lf_die "deploy after renewal"
ok "deploy converged after renewal"

step "the replaced certificate is refused, and a copy of the old key cannot renew"
expect_fail 1 "UNAUTHENTICATED.*replaced by a renewal.*revoke it" probe "${OLD[@]}" hello --model kws --version v1
expect_fail 1 "UNAUTHENTICATED.*replaced by a renewal" probe "${OLD[@]}" renew --out-cert "$LF_DIR/t.pem" --out-key "$LF_DIR/t.key"
[ ! -e "$LF_DIR/t.pem" ] || lf_die "a certificate was issued to the old key's holder"
lf_wait_for 10 all_online 1 || lf_die "the device went offline"
ok "the device keeps its identity" 
echo "PASS"
