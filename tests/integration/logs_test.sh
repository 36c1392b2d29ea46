#!/usr/bin/env bash
# Logs: every line a daemon writes to stderr is one of our JSON lines, gRPC's own lines
# included (component "grpc", with file and line). journald does not run on the test machines:
# the journal entry and the JOURNAL_STREAM check are unit-tested (tests/unit/core/journal_test.cpp).
source "$(dirname "$0")/lib.sh"
check() { "$LF_BIN/tests/integration/edge-jsonl-check" "$@"; }

step "gRPC's lines come out as JSON, at GRPC_VERBOSITY=INFO and at log_level debug"
lf_pki
# INFO: gRPC says what it set up ("Callback server.", epoll).
GRPC_VERBOSITY=INFO lf_start_controller
lf_edgectl create site plant-7 2>/dev/null || lf_die "create site"
# No GRPC_VERBOSITY: the agent's log_level debug lets gRPC's debug lines through too.
unset GRPC_VERBOSITY
lf_add_agent gw-1 plant-7 '"log_level": "debug"'
export GRPC_VERBOSITY=NONE
lf_wait_for 30 all_online 1 || lf_die "agent not online"

step "a plain-text client on the TLS ports makes gRPC log handshake failures"
for port in "$LF_AGENT_PORT" "$LF_OPERATOR_PORT"; do
  # The server may close before the request is written: no SIGPIPE for the test.
  (trap '' PIPE; exec 3<>"/dev/tcp/127.0.0.1/$port" && printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' >&3
   timeout 5 cat <&3 >/dev/null) 2>/dev/null
done
lf_wait_for 10 grep -q '"msg":"Handshake failed' "$LF_DIR/controller.log" || lf_die "no handshake failure logged"
ok "$(grep -m1 '"msg":"Handshake failed' "$LF_DIR/controller.log" | cut -c1-200)"

step "every line of both logs is JSON"
lf_cleanup
out=$(check "$LF_DIR/controller.log" "$LF_DIR/gw-1.log") || lf_die "plain text in a log: $out"
echo "$out" | sed 's/^/   /'
grep -q "controller.log: .* grpc=[1-9]" <<<"$out" || lf_die "no gRPC lines in the controller's log"
grep -q "gw-1.log: .* grpc=[1-9]" <<<"$out" || lf_die "no gRPC lines in the agent's log"
# One grep each: with pipefail, `grep | grep -q` fails when -q stops reading early (SIGPIPE).
grep -q '"component":"grpc".*"file":"[^"]*\.cc","level":"error","line":[0-9]' "$LF_DIR/controller.log" ||
  lf_die "gRPC error lines lack file, line or level"
grep -q '"component":"grpc".*"level":"debug"' "$LF_DIR/gw-1.log" ||
  lf_die "log_level debug without GRPC_VERBOSITY: no gRPC debug lines in the agent's log"
ok "gRPC lines are JSON, with file and line; log_level debug brings gRPC's debug lines"
