#!/usr/bin/env bash
# The controller's server certificate is renewed with no downtime: after `edgectl pki
# renew-controller`, new handshakes on all three ports get the new certificate within the
# reload period, while the connected agent keeps its stream.
source "$(dirname "$0")/lib.sh"

one_agent_fleet
P="$LF_DIR/pki"
# served_serial PORT [client cert args]: the serial of the certificate the port presents.
served_serial() {
  local port=$1; shift
  openssl s_client -connect "127.0.0.1:$port" -servername localhost -alpn h2 "$@" </dev/null 2>/dev/null |
    openssl x509 -noout -serial 2>/dev/null | cut -d= -f2 | tr 'A-F' 'a-f'
}
op_cert=(-cert "$P/operators/admin.pem" -key "$P/operators/admin.key")
dev_cert=(-cert "$LF_DIR/gw-1/identity/cert.pem" -key "$LF_DIR/gw-1/identity/key.pem")

step "every port presents the controller certificate"
before=$(openssl x509 -in "$P/controller.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f')
for port in "$LF_OPERATOR_PORT" "$LF_ENROLL_PORT"; do
  [ "$(served_serial "$port" "${op_cert[@]}")" = "$before" ] || lf_die "port $port does not present $before"
done
[ "$(served_serial "$LF_AGENT_PORT" "${dev_cert[@]}")" = "$before" ] || lf_die "agent port does not present $before"
mark=$(wc -l <"$LF_DIR/gw-1.log")

step "renew-controller: the new certificate is served on every port, the agent stays connected"
lf_edgectl pki renew-controller --dir "$P" 2>/dev/null || lf_die "renew-controller"
after=$(openssl x509 -in "$P/controller.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f')
[ "$after" != "$before" ] || lf_die "the certificate was not renewed"
new_everywhere() {
  [ "$(served_serial "$LF_OPERATOR_PORT" "${op_cert[@]}")" = "$after" ] &&
    [ "$(served_serial "$LF_ENROLL_PORT")" = "$after" ] &&
    [ "$(served_serial "$LF_AGENT_PORT" "${dev_cert[@]}")" = "$after" ]
}
lf_wait_for 30 new_everywhere || lf_die "not every port serves the renewed certificate"
tail -n +"$((mark + 1))" "$LF_DIR/gw-1.log" | grep -q '"disconnected"' && lf_die "the agent's stream was dropped"
lf_edgectl get devices | grep -q ' online ' || lf_die "the agent is not online"
lf_add_agent gw-2 plant-7  # a new enrollment verifies the renewed certificate
lf_wait_for 30 all_online 2 || lf_die "a new gateway could not enroll after the renewal"
ok "serial $before → $after on all ports; gw-1 kept its stream; gw-2 enrolled"
echo "PASS"
