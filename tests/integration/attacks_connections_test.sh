#!/usr/bin/env bash
# Connection floods (issue "Anyone can switch the controller off"): under the fd limit systemd
# gives a service by default (1024), idle TCP connections, connect bursts and TLS handshakes
# that stop after the ClientHello, from one source and from many, must not stop any listener.
# The connection front (controller/net) caps them; the honest agent keeps reporting, edgectl
# keeps working, gRPC never logs "Too many open files". Last, the self-check backstop: a
# flood of an internal gRPC port (the operator's: the front cannot protect it from local
# users; the agent listener has none, its connections are handed to gRPC) kills that gRPC
# listener, and the controller exits non-zero instead of looking healthy.
source "$(dirname "$0")/lib.sh"
FLOOD="$LF_BIN/tests/attack/edge-connflood"
[ -x "$FLOOD" ] || lf_die "$FLOOD is not built"
flood() { "$FLOOD" "$@"; }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$LF_CONTROLLER_PID/status"; }
fd_count() { ls "/proc/$LF_CONTROLLER_PID/fd" | wc -l; }
measure() { echo "   controller $1: RSS $(rss_kb) kB, $(fd_count) open fds"; }
json_int() { sed -n "s/.*\"$1\":\(-\{0,1\}[0-9]*\).*/\1/p" <<<"$2"; }
last_seen() { lf_edgectl describe device gw-1 -o json 2>/dev/null | sed -n 's/.*"last_seen": *"\{0,1\}\([^",]*\).*/\1/p' | head -n 1; }
reports_after() { [ "$(last_seen)" != "$1" ]; }

# 256 reserved + 90 enroll/operator connections × 3 fds + 150 agent connections × 1 (handed to
# gRPC) = 676 ≤ 1024. The listener caps add up to the global cap, so a flood of one listener
# cannot take another's connections.
export LF_CONTROLLER_EXTRA='"connection_limits": {"max_connections": 240, "agent_max_connections": 150,
    "enroll_max_connections": 50, "operator_max_connections": 40, "max_connections_per_source": 20,
    "accepts_per_second_per_source": 500, "accept_burst_per_source": 500, "first_bytes_timeout_ms": 2000,
    "self_check_interval_ms": 1000, "self_check_timeout_ms": 800, "self_check_failures": 3}'

lf_pki
step "caps set in the config that cannot fit the fd limit: exit 78"
LF_CONTROLLER_EXTRA='"connection_limits": {"max_connections": 5000}' lf_controller_config
expect_fail 78 "needs 8280 file descriptors.*RLIMIT_NOFILE is 1024" \
  bash -c "ulimit -n 1024 && exec '$LF_BIN/controller/edge-controller' --config '$LF_DIR/controller.json'"

step "controller under 'ulimit -n 1024', gRPC logging errors; one agent"
lf_controller_config
( ulimit -n 1024 && GRPC_VERBOSITY=ERROR exec "$LF_BIN/controller/edge-controller" --config "$LF_DIR/controller.json" \
  2>>"$LF_DIR/controller.log" ) &
LF_CONTROLLER_PID=$!
LF_PIDS+=("$LF_CONTROLLER_PID")
lf_wait_for 20 test -s "$LF_DIR/ports.json" || lf_die "controller did not start"
LF_AGENT_PORT=$(lf_json_field "$LF_DIR/ports.json" agent)
LF_ENROLL_PORT=$(lf_json_field "$LF_DIR/ports.json" enroll)
LF_OPERATOR_PORT=$(lf_json_field "$LF_DIR/ports.json" operator)
export EDGECTL_CONTROLLER="127.0.0.1:$LF_OPERATOR_PORT"
grep -q '^Max open files *1024 *1024' "/proc/$LF_CONTROLLER_PID/limits" || lf_die "fd limit not in force"
grep -q '"fds_needed":676' "$LF_DIR/controller.log" || lf_die "the controller did not log its fd budget"
lf_edgectl create site plant-7 2>/dev/null || lf_die "create site"
lf_add_agent gw-1 plant-7
lf_wait_for 30 all_online 1 || lf_die "agent not online"
measure "before"
AGENT="127.0.0.1:$LF_AGENT_PORT" ENROLL="127.0.0.1:$LF_ENROLL_PORT" OPERATOR="127.0.0.1:$LF_OPERATOR_PORT"

# check_service_during: the agent's report lands and edgectl answers while a flood runs.
check_service_during() {
  local seen
  seen=$(last_seen)
  lf_edgectl get devices >/dev/null 2>&1 || lf_die "edgectl get devices failed during the flood"
  lf_wait_for 6 reports_after "$seen" || lf_die "no report from gw-1 during the flood (last_seen stuck at $seen)"
  ok "during the flood: edgectl answers, gw-1 reported (last_seen $(last_seen))"
}

step "one source per listener: 1000 idle TCP (agent), 1100 connects (enroll), 1000 idle TLS (operator)"
flood --mode idle --target "$AGENT" --count 1000 --sources 127.0.0.2 --hold-ms 6000 >"$LF_DIR/f1.json" &
p1=$!
flood --mode burst --target "$ENROLL" --count 1100 --sources 127.0.0.3 --hold-ms 6000 >"$LF_DIR/f2.json" &
p2=$!
flood --mode tls-idle --target "$OPERATOR" --count 1000 --sources 127.0.0.4 --hold-ms 6000 >"$LF_DIR/f3.json" &
p3=$!
sleep 1.5
measure "during (one source)"
check_service_during
wait $p1 $p2 $p3
idle=$(cat "$LF_DIR/f1.json") burst=$(cat "$LF_DIR/f2.json") tls=$(cat "$LF_DIR/f3.json")
echo "   idle:  $idle"; echo "   burst: $burst"; echo "   tls:   $tls"
[ "$(json_int open_at_end "$idle")" -eq 0 ] || lf_die "idle connections outlived the first-bytes limit: $idle"
# A connection the front resets before the tool saw it established counts as connect_failed.
cut_count() { echo $(($(json_int closed_by_server "$1") + $(json_int connect_failed "$1"))); }
[ "$(cut_count "$idle")" -eq 1000 ] || lf_die "not every idle connection was cut: $idle"
[ $(($(json_int connected "$burst") + $(json_int connect_failed "$burst"))) -eq 1100 ] ||
  lf_die "the connect burst was not answered: $burst"
[ "$(json_int open_at_end "$tls")" -le 20 ] || lf_die "more idle TLS handshakes held than the per-source cap: $tls"
[ "$(json_int server_bytes "$tls")" -gt 0 ] || lf_die "no ServerHello came back through the front: $tls"
ok "per-source cap 20 held; idle TCP cut at the 2 s first-bytes limit; the ClientHellos reached gRPC"

step "many sources (100): 1000 idle TCP on agent, 1000 idle TLS on enroll, past the listener caps"
flood --mode idle --target "$AGENT" --count 1000 --sources 127.0.1.1-127.0.1.100 --hold-ms 5000 >"$LF_DIR/f4.json" &
p1=$!
flood --mode tls-idle --target "$ENROLL" --count 1000 --sources 127.0.2.1-127.0.2.100 --hold-ms 5000 >"$LF_DIR/f5.json" &
p2=$!
sleep 1.5
measure "during (many sources)"
check_service_during
wait $p1 $p2
idle=$(cat "$LF_DIR/f4.json") tls=$(cat "$LF_DIR/f5.json")
echo "   idle: $idle"; echo "   tls:  $tls"
[ "$(json_int open_at_end "$idle")" -eq 0 ] || lf_die "idle connections outlived the first-bytes limit: $idle"
[ "$(json_int open_at_end "$tls")" -le 50 ] || lf_die "more TLS handshakes held than the enroll cap: $tls"
ok "listener caps held (agent 150, enroll 50); operator unaffected"

step "after the floods: the agent reconnects, a new agent enrolls, edgectl works"
lf_wait_for 15 sh -c "[ \$(ls /proc/$LF_CONTROLLER_PID/fd | wc -l) -lt 150 ]" || lf_die "fds not released: $(fd_count)"
measure "after"
lf_kill_agent gw-1
lf_start_agent gw-1
seen=$(last_seen)
lf_wait_for 20 reports_after "$seen" || lf_die "gw-1 did not reconnect after the flood"
lf_add_agent gw-2 plant-7
lf_wait_for 30 all_online 2 || lf_die "gw-2 did not enroll after the flood"
lf_edgectl get devices >/dev/null 2>&1 || lf_die "edgectl after the flood"
ok "gw-1 reconnected, gw-2 enrolled"
if grep -E 'Too many open files|Failed accept4' "$LF_DIR/controller.log"; then
  lf_die "gRPC ran out of descriptors"
fi
ok "no 'Too many open files' in the controller's log"
grep -q 'self-check: probe failed' "$LF_DIR/controller.log" &&
  lf_die "the self-check failed a probe during the floods: $(grep 'self-check' "$LF_DIR/controller.log" | head -n 3)"
ok "the self-check probed every second through the floods (limits do not apply to it) and never failed"
lines=$(grep -c 'connections refused or cut' "$LF_DIR/controller.log")
[ "$lines" -ge 1 ] && [ "$lines" -le 6 ] || lf_die "expected 1-6 rate-limited rejection log lines, got $lines"
grep 'connections refused or cut' "$LF_DIR/controller.log" | head -n 1 | cut -c1-400
ok "$lines log lines for thousands of refused connections"
kill -0 "$LF_CONTROLLER_PID" || lf_die "the controller died"

step "backstop: a local flood of the internal operator port (no front there) kills gRPC's listener; the controller exits 1"
grep '"msg":"listening"' "$LF_DIR/controller.log" | grep '"listener":"agent"' | grep -q '"handoff":true' ||
  lf_die "the agent listener does not hand its connections to gRPC"
internal=$(grep '"msg":"listening"' "$LF_DIR/controller.log" | grep '"listener":"operator"' |
  sed -n 's/.*"internal_port":\([0-9]*\).*/\1/p' | head -n 1)
[ -n "$internal" ] || lf_die "no internal operator port in the log"
flood --mode idle --target "127.0.0.1:$internal" --count 1100 --sources 127.0.0.9 --hold-ms 4000 >"$LF_DIR/f6.json"
echo "   internal: $(cat "$LF_DIR/f6.json")"
start=$SECONDS
wait "$LF_CONTROLLER_PID"
rc=$?
[ "$rc" -eq 1 ] || lf_die "the controller exited $rc, expected 1 (self-check failure)"
grep -q 'listener self-check failed' "$LF_DIR/controller.log" || lf_die "no self-check failure logged"
grep -q 'Failed accept4' "$LF_DIR/controller.log" || echo "   (gRPC logged no accept failure)"
ok "the controller exited 1 $((SECONDS - start)) s after the flood: $(grep 'listener self-check failed' "$LF_DIR/controller.log" | cut -c1-200)"
