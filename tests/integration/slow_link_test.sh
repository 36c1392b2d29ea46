#!/usr/bin/env bash
# Slow devices and links (arm64 gateways on cellular links): a gateway and edgectl reach the
# controller through edge-delay-proxy, which delays every chunk 150 ms each way (a 300 ms round
# trip). With the default connect timeouts the gateway enrolls, connects, reports and installs
# a deploy, and edgectl's calls work. A connect timeout too short for the link fails at once and
# names the key to raise; out-of-range values are bad configuration (78). Meanwhile the
# controller still cuts a client that stalls its TLS handshake, at its handshake deadline.
source "$(dirname "$0")/lib.sh"
PROXY="$LF_BIN/tests/integration/edge-delay-proxy"
FLOOD="$LF_BIN/tests/attack/edge-connflood"
[ -x "$PROXY" ] || lf_die "$PROXY is not built"
[ -x "$FLOOD" ] || lf_die "$FLOOD is not built"
now_ms() { echo $(($(date +%s%N) / 1000000)); }
json_int() { sed -n "s/.*\"$1\":\(-\{0,1\}[0-9]*\).*/\1/p" <<<"$2"; }

# slow_link NAME PORT: a 150 ms each-way proxy in front of 127.0.0.1:PORT; its port is in
# $LF_DIR/NAME.port.
slow_link() {
  "$PROXY" --target "127.0.0.1:$2" --delay-ms 150 --port-file "$LF_DIR/$1.port" >/dev/null 2>>"$LF_DIR/proxy.log" &
  LF_PIDS+=("$!")
  lf_wait_for 10 test -s "$LF_DIR/$1.port" || lf_die "proxy $1 did not start"
}

step "controller on loopback; a 300 ms round-trip link in front of each of its listeners"
lf_pki
lf_start_controller
lf_edgectl create site plant-7 2>/dev/null || lf_die "create site"
slow_link agent "$LF_AGENT_PORT"
slow_link enroll "$LF_ENROLL_PORT"
slow_link operator "$LF_OPERATOR_PORT"
SLOW_AGENT=$(cat "$LF_DIR/agent.port") SLOW_ENROLL=$(cat "$LF_DIR/enroll.port") SLOW_OPERATOR=$(cat "$LF_DIR/operator.port")

# In the background while the rest runs: TLS handshakes that stop after the ClientHello, on
# the agent listener directly. The controller must cut them at its 10 s handshake deadline:
# not before (a slow client may need 5 s), and not never (slow loris).
"$FLOOD" --mode tls-idle --target "127.0.0.1:$LF_AGENT_PORT" --count 4 --sources 127.0.0.5 --hold-ms 13000 \
  >"$LF_DIR/stall.json" &
stall=$!

export EDGECTL_CONTROLLER="127.0.0.1:$SLOW_OPERATOR"
start=$(now_ms)
lf_edgectl get sites >/dev/null 2>&1 || lf_die "edgectl get sites over the slow link"
took=$(($(now_ms) - start))
# TCP + TLS + HTTP/2 set-up and one call: at least 4 round trips.
[ "$took" -ge 1200 ] || lf_die "edgectl took only $took ms: the link is not slow"
ok "edgectl over the slow link with its default connect timeout: $took ms for one call"

step "a gateway enrolls and connects over the slow link, with the default connect timeout"
LF_AGENT_PORT=$SLOW_AGENT LF_ENROLL_PORT=$SLOW_ENROLL lf_add_agent gw-1 plant-7
lf_wait_for 40 all_online 1 || lf_die "gw-1 did not come online over the slow link"
grep -q '"connect_timeout_ms"' "$LF_DIR/gw-1.json" && lf_die "the test meant to use the default"
has_health() { lf_edgectl describe device gw-1 -o json 2>/dev/null | grep -q '"rss_bytes"'; }
lf_wait_for 20 has_health || lf_die "no health report from gw-1"
ok "gw-1 enrolled, online, reporting health"

step "a deploy reaches it over the slow link"
make_model "$LF_DIR/m.onnx"
b=$(lf_bundle kws v1 1 "$LF_DIR/m.onnx")
lf_edgectl model push "$b" 2>/dev/null || lf_die "push over the slow link"
out=$(lf_edgectl deploy model kws:v1 --all-at-once --site plant-7 --wait --timeout 60s 2>&1) || lf_die "deploy: $out"
expect_contains "converged: 1/1" "$out"
[ "$(readlink "$LF_DIR/gw-1/models/kws/current")" = v1 ] || lf_die "gw-1 does not run kws:v1"
cmp -s "$LF_DIR/m.onnx" "$LF_DIR/gw-1/models/kws/v1/model" || lf_die "installed model differs"
lf_edgectl get devices | grep -q 'gw-1 .*kws:v1 .*committed' || lf_die "controller does not show kws:v1 committed"
ok "kws:v1 downloaded over the link, installed and committed"

step "a connect timeout too short for the link fails at once, naming the key"
start=$(now_ms)
expect_fail 75 "within the connect timeout of 100 ms: too short for this link?.*raise --connect-timeout-ms" \
  lf_edgectl --connect-timeout-ms 100 get devices
took=$(($(now_ms) - start))
[ "$took" -lt 5000 ] || lf_die "edgectl took $took ms to give up"
ok "edgectl gave up after $took ms"
lf_kill_agent gw-1
sed -i 's/"report_interval_seconds": 2,/"report_interval_seconds": 2, "connect_timeout_ms": 100,/' "$LF_DIR/gw-1.json"
lf_start_agent gw-1
hinted() { grep '"controller link down, retrying"' "$LF_DIR/gw-1.log" | grep -q 'no connection within connect_timeout_ms = 100 ms'; }
lf_wait_for 15 hinted || lf_die "gw-1's log does not say which timeout ended its connection attempts"
kill -0 "${LF_AGENT_PID[gw-1]}" 2>/dev/null || lf_die "gw-1 exited instead of retrying"
lf_fleet_online 0 || lf_die "gw-1 connected within 100 ms over a 300 ms link?"
ok "gw-1 keeps retrying (and serving) and logs: $(grep '"controller link down, retrying"' "$LF_DIR/gw-1.log" | tail -n 1 | grep -o 'connect_timeout_ms = [^)]*')"
token=$(EDGECTL_CONTROLLER="127.0.0.1:$LF_OPERATOR_PORT" lf_edgectl token create --site plant-7 2>/dev/null)
sed -e 's/"gw-1"/"gw-2"/' -e "s|$LF_DIR/gw-1|$LF_DIR/gw-2|" \
  -e "s/\"enrollment_token\": \"[^\"]*\"/\"enrollment_token\": \"$token\"/" "$LF_DIR/gw-1.json" >"$LF_DIR/gw-2.json"
start=$(now_ms)
expect_fail 69 "enrolling at .*no connection within connect_timeout_ms = 100 ms" "$LF_BIN/agent/edge-agent" --config "$LF_DIR/gw-2.json"
ok "an enrollment over the link with 100 ms exits 69 after $(($(now_ms) - start)) ms"

step "out-of-range connect timeouts are bad configuration"
sed -e 's/"connect_timeout_ms": 100/"connect_timeout_ms": 50/' "$LF_DIR/gw-2.json" >"$LF_DIR/gw-3.json"
expect_fail 78 "key 'connect_timeout_ms' = 50 is out of range \[100, 60000\]" \
  "$LF_BIN/agent/edge-agent" --config "$LF_DIR/gw-3.json"
sed -e 's/"key": "\([^"]*\)"/"key": "\1", "connect_timeout_ms": 50/' "$LF_DIR/pki/edgectl.json" >"$LF_DIR/edgectl-bad.json"
grep -q '"connect_timeout_ms": 50' "$LF_DIR/edgectl-bad.json" || lf_die "could not write the bad edgectl config"
expect_fail 78 "connect_timeout_ms' = 50 is out of range" env EDGECTL_CONFIG="$LF_DIR/edgectl-bad.json" \
  "$LF_BIN/controller/edgectl" get devices
expect_fail 2 "connect-timeout-ms" lf_edgectl --connect-timeout-ms 50 get devices

step "the controller's handshake deadline still cuts stalled handshakes"
wait "$stall"
stalled=$(cat "$LF_DIR/stall.json")
echo "   $stalled"
[ "$(json_int connected "$stalled")" -eq 4 ] || lf_die "stalled handshakes were not even accepted: $stalled"
[ "$(json_int open_at_end "$stalled")" -eq 0 ] || lf_die "stalled handshakes outlived the 10 s deadline: $stalled"
first=$(json_int first_close_ms "$stalled")
[ "$first" -ge 9000 ] || lf_die "a stalled handshake was cut after $first ms, before the 10 s deadline: $stalled"
ok "stalled handshakes cut after $first ms (deadline 10 s; a slow client needs up to 5 s)"
echo "PASS"
