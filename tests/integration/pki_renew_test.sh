#!/usr/bin/env bash
# edgectl pki renew-operator / renew-controller as an operator runs them: exit codes, the
# files they leave, and clear errors for bad input. Offline: no controller is started.
source "$(dirname "$0")/lib.sh"
pki="$LF_DIR/pki"
lf_edgectl pki init --dir "$pki" --fleet acme --controller-host ctl.example --controller-host 10.0.0.5 2>/dev/null ||
  lf_die "pki init"
sans() { openssl x509 -in "$1" -noout -ext subjectAltName | tail -n +2 | tr -d ' '; }
serial() { openssl x509 -in "$1" -noout -serial; }
key_matches() {  # CERT KEY: same public key
  [ "$(openssl x509 -in "$1" -noout -pubkey)" = "$(openssl pkey -in "$2" -pubout)" ]
}

step "renew-operator: a new key and certificate for admin, the old pair kept"
cp "$pki/operators/admin.pem" "$LF_DIR/admin-before.pem"
out=$(lf_edgectl pki renew-operator --dir "$pki" --fleet acme admin --days 30 2>&1) || lf_die "renew-operator: $out"
expect_contains "renewed $pki/operators/admin" "$out"
cmp -s "$pki/operators/admin.pem.old" "$LF_DIR/admin-before.pem" || lf_die "admin.pem.old is not the old certificate"
[ "$(serial "$pki/operators/admin.pem")" != "$(serial "$LF_DIR/admin-before.pem")" ] || lf_die "serial unchanged"
key_matches "$pki/operators/admin.pem" "$pki/operators/admin.key" || lf_die "new key does not match new certificate"
key_matches "$pki/operators/admin.pem.old" "$pki/operators/admin.key.old" || lf_die "old pair does not match"
[ "$(stat -c %a "$pki/operators/admin.key")" = 600 ] || lf_die "admin.key is not 0600"
[ "$(sans "$pki/operators/admin.pem")" = "URI:spiffe://acme/operator/admin" ] || lf_die "identity changed"
openssl verify -CAfile "$pki/operator-ca.pem" "$pki/operators/admin.pem" >/dev/null || lf_die "does not verify"
ok "$(serial "$pki/operators/admin.pem"), same SPIFFE ID, 0600, .old kept"

step "renew-controller keeps the SANs"
before=$(sans "$pki/controller.pem")
out=$(lf_edgectl pki renew-controller --dir "$pki" 2>&1) || lf_die "renew-controller: $out"
[ "$(sans "$pki/controller.pem")" = "$before" ] || lf_die "SANs changed: $before → $(sans "$pki/controller.pem")"
key_matches "$pki/controller.pem" "$pki/controller.key" || lf_die "controller key does not match"
openssl verify -CAfile "$pki/fleet-ca.pem" "$pki/controller.pem" >/dev/null || lf_die "does not verify"
[ -e "$pki/controller.pem.old" ] && [ -e "$pki/controller.key.old" ] || lf_die "no .old pair"
ok "SANs $before"

step "bad input: clear errors and exit codes"
expect_fail 1 "no operator bob" lf_edgectl pki renew-operator --dir "$pki" --fleet acme bob
expect_fail 1 "does not carry spiffe://other/operator/admin" lf_edgectl pki renew-operator --dir "$pki" --fleet other admin
expect_fail 2 "days" lf_edgectl pki renew-operator --dir "$pki" --fleet acme admin --days 0
expect_fail 2 "days" lf_edgectl pki renew-controller --dir "$pki" --days 5000
expect_fail 2 "name" lf_edgectl pki renew-operator --dir "$pki" --fleet acme
mv "$pki/operator-ca.key" "$LF_DIR/offline-operator-ca.key"
expect_fail 1 "operator-ca.key" lf_edgectl pki renew-operator --dir "$pki" --fleet acme admin
mv "$pki/fleet-ca.key" "$LF_DIR/offline-fleet-ca.key"
expect_fail 1 "fleet-ca.key" lf_edgectl pki renew-controller --dir "$pki"
expect_fail 1 "cannot read" lf_edgectl pki renew-controller --dir "$LF_DIR/no-such-dir"
key_matches "$pki/operators/admin.pem" "$pki/operators/admin.key" || lf_die "a refused renewal changed the files"
echo "PASS"
