#!/usr/bin/env bash
# The identity lifecycle: operator roles (viewer, deployer, admin) checked on every call and
# refusals audited; enrollment tokens listed by id and revocable; a revoked device loses its
# live stream at once and cannot renew; a stolen device key is cut off by revocation; a
# decommissioned device's name enrolls again.
source "$(dirname "$0")/lib.sh"
probe() { "$LF_BIN/tests/integration/edge-probe" "$@"; }

lf_pki
lf_start_controller
P="$LF_DIR/pki"
lf_edgectl create site plant-7 2>/dev/null || lf_die "create site"
lf_add_agent gw-1 plant-7
lf_add_agent gw-2 plant-7
lf_wait_for 30 all_online 2 || lf_die "agents not online"
make_model "$LF_DIR/m.onnx"
b=$(lf_bundle kws v1 1 "$LF_DIR/m.onnx")

# as NAME edgectl-args...: edgectl with operator NAME's certificate.
as() {
  local name=$1; shift
  cat >"$LF_DIR/$name.ctx.json" <<JSON
{"current_context": "x", "contexts": {"x": {"controller": "127.0.0.1:$LF_OPERATOR_PORT",
 "ca": "$P/fleet-ca.pem", "cert": "$P/operators/$name.pem", "key": "$P/operators/$name.key"}}}
JSON
  EDGECTL_CONFIG="$LF_DIR/$name.ctx.json" "$LF_BIN/controller/edgectl" "$@"
}

step "an operator certificate with no role is refused"
lf_edgectl pki operator --dir "$P" --fleet "$LF_FLEET" alice 2>/dev/null || lf_die "pki operator alice"
expect_fail 77 "has no role.*edgectl operator add alice" as alice get devices

step "a viewer reads but cannot change anything"
lf_edgectl operator add alice --role viewer 2>/dev/null || lf_die "operator add"
as alice get devices >/dev/null || lf_die "viewer cannot list devices"
expect_fail 77 "CreateSite needs the admin role" as alice create site x
expect_fail 77 "needs the deployer role" as alice model push "$b"
expect_fail 77 "needs the admin role" as alice token create --site plant-7
expect_fail 77 "needs the admin role" as alice revoke device gw-1
denied=$(lf_edgectl get audit --result permission_denied -o json | grep -c '"actor": "operator/alice"')
[ "$denied" -ge 1 ] || lf_die "refused calls not audited ($denied rows)"
# Five refusals within 10 s: at most five rows (a burst of 5 per operator, then one every 10 s,
# so a refused operator cannot flush the bounded audit log; audit_test.sh floods it).
[ "$denied" -le 5 ] || lf_die "$denied audit rows for 5 refusals within 10 s"
ok "refused calls audited ($denied rows)"

step "a deployer pushes and deploys, but cannot create tokens or operators"
lf_edgectl operator set-role alice deployer 2>/dev/null || lf_die "set-role"
as alice model push "$b" 2>/dev/null || lf_die "deployer cannot push"
as alice deploy model kws:v1 --all-at-once --site plant-7 --wait --timeout 60s 2>/dev/null || lf_die "deployer cannot deploy"
expect_fail 77 "needs the admin role" as alice operator add bob --role admin
expect_contains '"role": "deployer"' "$(lf_edgectl operator list -o json)"
expect_contains '"actor": "operator/alice"' "$(lf_edgectl get audit -o json)"
[ "$(lf_edgectl get audit --actor operator/alice --action rollout.create --limit 5 -o json | grep -c '"action": "rollout.create"')" -eq 1 ] ||
  lf_die "get audit --actor --action does not select alice's deploy"

step "a revoked operator is refused; the last admin cannot be removed"
lf_edgectl revoke operator alice --reason "left the team" 2>/dev/null || lf_die "revoke operator"
expect_fail 77 "is revoked" as alice get devices
expect_fail 1 "last admin" lf_edgectl revoke operator admin
expect_fail 1 "last admin" lf_edgectl operator set-role admin viewer

step "tokens are listed by id only and can be revoked"
token=$(lf_edgectl token create --site plant-7 --ttl 10m 2>/dev/null) || lf_die "token create"
list=$(lf_edgectl token list -o json)
grep -q "${token#edt_}" <<<"$list" && lf_die "token list shows the token"
id=$(python3 -c 'import json,sys; print([t["id"] for t in json.load(sys.stdin) if t["state"]=="unused"][-1])' <<<"$list")
lf_edgectl token revoke "$id" 2>/dev/null || lf_die "token revoke"
sed -e 's/"gw-1"/"gw-3"/' -e "s|$LF_DIR/gw-1|$LF_DIR/gw-3|g" "$LF_DIR/gw-1.json" >"$LF_DIR/gw-3.json"
sed -i "s|\"enrollment_token\": \"[^\"]*\"|\"enrollment_token\": \"$token\"|" "$LF_DIR/gw-3.json"
expect_fail 77 "not valid" "$LF_BIN/agent/edge-agent" --config "$LF_DIR/gw-3.json"
expect_contains '"state": "revoked"' "$(lf_edgectl token list --all -o json)"

step "revoking a device ends its stream at once; it can neither reconnect nor renew"
cp "$LF_DIR/gw-1/identity/cert.pem" "$LF_DIR/gw-1-old.pem"
cp "$LF_DIR/gw-1/identity/key.pem" "$LF_DIR/gw-1-old.key"
G1=(--addr "127.0.0.1:$LF_AGENT_PORT" --ca "$P/fleet-ca.pem" --cert "$LF_DIR/gw-1-old.pem" --key "$LF_DIR/gw-1-old.key")
lf_edgectl revoke device gw-1 --reason "test" 2>/dev/null || lf_die "revoke device"
dropped() { grep -q 'revoked by operator/admin' "$LF_DIR/gw-1.log"; }
lf_wait_for 5 dropped || lf_die "gw-1's stream was not ended"
lf_wait_for 5 all_online 1 || lf_die "gw-1 still online"
expect_fail 1 "PERMISSION_DENIED.*is revoked" probe "${G1[@]}" hello --model kws --version v1
expect_fail 1 "PERMISSION_DENIED.*is revoked" probe "${G1[@]}" renew --out-cert "$LF_DIR/t.pem" --out-key "$LF_DIR/t.key"
[ "$(infer_version gw-1 kws --random)" = v1 ] || lf_die "the revoked gateway stopped serving its committed model"
ok "gw-1 is cut off and still serves locally"

step "a stolen device key: the thief is cut off by revoking the device"
# The real gw-2 is stopped first: its reconnecting stream would replace the thief's (a newer
# connection of a device ends the older one), which made the thief's hello fail at random.
lf_kill_agent gw-2
cp "$LF_DIR/gw-2/identity/cert.pem" "$LF_DIR/stolen.pem"
cp "$LF_DIR/gw-2/identity/key.pem" "$LF_DIR/stolen.key"
T=(--addr "127.0.0.1:$LF_AGENT_PORT" --ca "$P/fleet-ca.pem" --cert "$LF_DIR/stolen.pem" --key "$LF_DIR/stolen.key")
probe "${T[@]}" hello --model kws --version v1 >/dev/null || lf_die "the copied key did not connect (test setup)"
lf_edgectl revoke device gw-2 --reason "key copied" 2>/dev/null || lf_die "revoke gw-2"
expect_fail 1 "PERMISSION_DENIED" probe "${T[@]}" hello --model kws --version v1
expect_fail 1 "PERMISSION_DENIED" probe "${T[@]}" renew --out-cert "$LF_DIR/t.pem" --out-key "$LF_DIR/t.key"

step "decommissioning frees the name: a replacement gateway enrolls as gw-1"
lf_edgectl decommission device gw-1 --reason "replaced" 2>/dev/null || lf_die "decommission"
lf_edgectl get devices -o json | grep -q '"id": "gw-1"' && lf_die "gw-1 still in the inventory"
lf_kill_agent gw-1
rm -rf "$LF_DIR/gw-1"
token=$(lf_edgectl token create --site plant-7 --ttl 10m 2>/dev/null) || lf_die "token create"
sed -i "s|\"enrollment_token\": \"[^\"]*\"|\"enrollment_token\": \"$token\"|" "$LF_DIR/gw-1.json"
lf_start_agent gw-1
lf_wait_for 30 all_online 1 || lf_die "the replacement gw-1 did not come online"
expect_fail 1 "PERMISSION_DENIED.*gw-1 is revoked" probe "${G1[@]}" hello --model kws --version v1
expect_contains '"action": "device.decommission"' "$(lf_edgectl get audit -o json)"
ok "the old certificates stay denied; the new gw-1 is online"
echo "PASS"
