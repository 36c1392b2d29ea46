#!/usr/bin/env bash
# Attacks on identity: every caller is who its certificate says, on the listener for its kind;
# enrollment tokens are one-time and expire; names are data, never SQL.
source "$(dirname "$0")/lib.sh"
probe() { "$LF_BIN/tests/integration/edge-probe" "$@"; }

lf_pki
lf_start_controller
P="$LF_DIR/pki"
lf_edgectl create site site-a 2>/dev/null || lf_die "create site"
lf_edgectl create site site-b 2>/dev/null || lf_die "create site"
lf_add_agent dev-a site-a
lf_add_agent dev-b site-b
lf_wait_for 30 all_online 2 || lf_die "agents not online"
make_model "$LF_DIR/m.onnx"
b=$(lf_bundle kws v1 1 "$LF_DIR/m.onnx")
lf_edgectl model push "$b" 2>/dev/null || lf_die "push"
lf_edgectl deploy model kws:v1 --all-at-once --site site-b --wait --timeout 60s 2>/dev/null || lf_die "deploy to site-b"
digest=$(ls "$b/blobs")
lf_edgectl pki init --dir "$LF_DIR/rogue" --fleet "$LF_FLEET" --controller-host 127.0.0.1 2>/dev/null
AGENT="127.0.0.1:$LF_AGENT_PORT"

step "client with no certificate"
expect_fail 1 "UNAVAILABLE" probe --addr "$AGENT" --ca "$P/fleet-ca.pem" fetch --digest "$digest"
expect_fail 1 "UNAVAILABLE" probe --addr "127.0.0.1:$LF_OPERATOR_PORT" --ca "$P/fleet-ca.pem" fetch --digest "$digest"
grep -q '"blob fetch"' "$LF_DIR/controller.log" && grep '"blob fetch"' "$LF_DIR/controller.log" | grep -qv '"device":"dev-b"' &&
  lf_die "a blob was served to someone other than dev-b"
ok "TLS handshake refused without a client certificate"

step "client certificate from another CA (same fleet name)"
expect_fail 1 "UNAVAILABLE" probe --addr "$AGENT" --ca "$P/fleet-ca.pem" --cert "$LF_DIR/rogue/controller.pem" \
  --key "$LF_DIR/rogue/controller.key" fetch --digest "$digest"
# An operator certificate from another operator CA, presented to a server this client trusts:
cat >"$LF_DIR/rogue-operator.json" <<JSON
{"current_context": "x", "contexts": {"x": {"controller": "127.0.0.1:$LF_OPERATOR_PORT",
 "ca": "$P/fleet-ca.pem", "cert": "$LF_DIR/rogue/operators/admin.pem", "key": "$LF_DIR/rogue/operators/admin.key"}}}
JSON
expect_fail 77 "the controller refused the operator certificate $LF_DIR/rogue/operators/admin.pem" \
  env EDGECTL_CONFIG="$LF_DIR/rogue-operator.json" "$LF_BIN/controller/edgectl" get devices

step "operator certificate on the agent port, device certificate on the operator port"
expect_fail 1 "UNAVAILABLE" probe --addr "$AGENT" --ca "$P/fleet-ca.pem" --cert "$P/operators/admin.pem" \
  --key "$P/operators/admin.key" hello --model kws --version v1
expect_fail 77 "the listener at $AGENT does not take certificates from its issuer" lf_edgectl --controller "$AGENT" get devices
cat >"$LF_DIR/device-as-operator.json" <<JSON
{"current_context": "x", "contexts": {"x": {"controller": "127.0.0.1:$LF_OPERATOR_PORT",
 "ca": "$P/fleet-ca.pem", "cert": "$LF_DIR/dev-a/identity/cert.pem", "key": "$LF_DIR/dev-a/identity/key.pem"}}}
JSON
expect_fail 77 "the controller refused the operator certificate $LF_DIR/dev-a/identity/cert.pem" \
  env EDGECTL_CONFIG="$LF_DIR/device-as-operator.json" "$LF_BIN/controller/edgectl" get devices

step "device A's certificate can only act as A"
A=(--addr "$AGENT" --ca "$P/fleet-ca.pem" --cert "$LF_DIR/dev-a/identity/cert.pem" --key "$LF_DIR/dev-a/identity/key.pem")
expect_fail 1 "PERMISSION_DENIED.*not part of any version desired for device dev-a" probe "${A[@]}" fetch --digest "$digest"
lf_kill_agent dev-a
# dev-b reports every 2 s, and each of its reports rightly rewrites its own health, health
# history, models' updated_at and last_seen: one landing between the two snapshots (a probe
# apart, longer on a slow CPU) failed this check under emulation. So dev-b is frozen (its stream
# stays open, it stays online) until its rows stop changing: from then on, a change to any of
# them, none excluded, can only come from dev-a's report. The second snapshot waits a second
# for what the report sets off (rollout planning runs within 100 ms of a report).
snapshot_b() { lf_edgectl describe device dev-b -o json; }
settled_b() { local first; first=$(snapshot_b) && sleep 0.5 && [ "$first" = "$(snapshot_b)" ]; }
kill -STOP "${LF_AGENT_PID[dev-b]}"
settled=0 probe_rc=1
if lf_wait_for 10 settled_b; then
  settled=1
  before_b=$(snapshot_b)
  out=$(probe "${A[@]}" hello --model kws --version v666)
  probe_rc=$?
  sleep 1
  after_b=$(snapshot_b)
fi
kill -CONT "${LF_AGENT_PID[dev-b]}"  # before any exit: a stopped agent would hang the clean-up
[ "$settled" -eq 1 ] || lf_die "dev-b's rows kept changing while dev-b was stopped"
[ "$probe_rc" -eq 0 ] || lf_die "probe as dev-a: $out"
[ "$before_b" = "$after_b" ] ||
  lf_die "dev-b's rows changed after dev-a's report: $(diff <(echo "$before_b") <(echo "$after_b"))"
expect_contains '"version": "v666"' "$(lf_edgectl describe device dev-a -o json)"
ok "the report landed on dev-a (its certificate), dev-b unchanged"

step "enrollment tokens: reuse and expiry"
used=$(sed -n 's/.*"enrollment_token": "\([^"]*\)".*/\1/p' "$LF_DIR/dev-a.json")
sed -e 's/"dev-a"/"dev-c"/' -e "s|$LF_DIR/dev-a|$LF_DIR/dev-c|" "$LF_DIR/dev-a.json" >"$LF_DIR/dev-c.json"
expect_fail 77 "already been used" "$LF_BIN/agent/edge-agent" --config "$LF_DIR/dev-c.json"
short=$(lf_edgectl token create --site site-a --ttl 1s 2>/dev/null)
sed -i "s|$used|$short|" "$LF_DIR/dev-c.json"
sleep 2
expect_fail 77 "expired" "$LF_BIN/agent/edge-agent" --config "$LF_DIR/dev-c.json"
[ ! -e "$LF_DIR/dev-c/identity/cert.pem" ] || lf_die "dev-c got a certificate"
ok "no device was created"

step "bad configuration exits 78"
echo '{"device_name": "x", "bogus": 1}' >"$LF_DIR/bad.json"
expect_fail 78 "unknown key 'bogus'" "$LF_BIN/agent/edge-agent" --config "$LF_DIR/bad.json"
expect_fail 78 "unknown key 'bogus'" "$LF_BIN/controller/edge-controller" --config "$LF_DIR/bad.json"

step "SQL metacharacters in site and model names are stored verbatim"
site="x'); DROP TABLE devices;--"
model="m\"; DELETE FROM models; --"
lf_edgectl create site "$site" 2>/dev/null || lf_die "create site with metacharacters"
make_model "$LF_DIR/q.onnx"
qb=$(lf_bundle "$model" v1 1 "$LF_DIR/q.onnx")
lf_edgectl model push "$qb" 2>/dev/null || lf_die "push model with metacharacters"
lf_add_agent dev-q "$site"
lf_wait_for 30 lf_edgectl describe device dev-q || lf_die "dev-q did not enroll"
lf_edgectl deploy model "$model:v1" --all-at-once --site "$site" --wait --timeout 60s 2>/dev/null || lf_die "deploy to metacharacter site"
expect_contains "\"name\": \"x'); DROP TABLE devices;--\"" "$(lf_edgectl get sites -o json)"
expect_contains "m\\\\\"; DELETE FROM models; --" "$(lf_edgectl get models -o json)"
[ "$(lf_edgectl get devices -o json | grep -c '"id"')" -eq 3 ] || lf_die "devices table damaged"
[ -e "$LF_DIR/dev-q/models/$model/current" ] || lf_die "model not installed under its verbatim name"
ok "names round-trip verbatim; tables intact"
echo "PASS"
