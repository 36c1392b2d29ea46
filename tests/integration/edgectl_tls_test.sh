#!/usr/bin/env bash
# edgectl names what is wrong with an operator's connection instead of "Socket closed": each
# certificate problem, unreadable file, unreachable and slow controller gets its own message and
# exit code (docs/cli.md, "Exit codes"): 78 a context file that is unreadable or unusable, 77 a
# certificate refused (expired, not yet valid, another CA's, the controller's not naming the
# address), 69 nothing listens, 75 timed out.
source "$(dirname "$0")/lib.sh"

# The controller's certificate names only "localhost", so 127.0.0.1 is an address it does not name.
lf_edgectl pki init --dir "$LF_DIR/pki" --fleet "$LF_FLEET" --controller-host localhost >/dev/null 2>&1 || lf_die "pki init"
lf_start_controller
P="$LF_DIR/pki"
PORT=$LF_OPERATOR_PORT
unset EDGECTL_CONTROLLER
# ctx NAME KEY=VALUE...: a contexts file $LF_DIR/NAME.json from the PKI's, some keys replaced.
ctx() {
  local name=$1; shift
  context_file "$name" "controller=localhost:$PORT" "$@"
}
as() { local name=$1; shift; EDGECTL_CONFIG="$LF_DIR/$name.json" "$LF_BIN/controller/edgectl" "$@"; }

step "the PKI's own context works; edgectl version names both ends"
ctx good
as good get devices >/dev/null || lf_die "the good context failed: $(as good get devices 2>&1)"
out=$(as good version) || lf_die "edgectl version: $out"
grep -qE "^edgectl +[0-9]+\.[0-9]+\.[0-9]+$" <<<"$out" && grep -qE "^controller +[0-9.]+ \(fleet $LF_FLEET, at localhost:$PORT\)$" <<<"$out" ||
  lf_die "edgectl version printed: $out"
as good version -o json | grep -q "\"server\": *{" || lf_die "edgectl version -o json has no server: $(as good version -o json)"
ok "$(tr '\n' ';' <<<"$out")"
# -o yaml is the JSON's data: both parse to the same value.
for cmd in "get sites" "get devices" "config get-contexts" "version"; do
  # shellcheck disable=SC2086 # the command's words
  as good $cmd -o json >"$LF_DIR/out.json" && as good $cmd -o yaml >"$LF_DIR/out.yaml" || lf_die "$cmd -o json|yaml failed"
  python3 -c 'import json, sys, yaml; sys.exit(json.load(open(sys.argv[1])) != yaml.safe_load(open(sys.argv[2])))' \
    "$LF_DIR/out.json" "$LF_DIR/out.yaml" || lf_die "$cmd: -o yaml differs from -o json: $(cat "$LF_DIR/out.yaml")"
done
ok "-o yaml and -o json give the same data (get sites, get devices, config get-contexts, version)"

# Operator certificates with chosen dates, from the PKI's operator CA (openssl ca takes dates).
mkdir -p "$LF_DIR/ca" && cd "$LF_DIR/ca" || lf_die "ca dir"
touch index.txt && echo 1000 >serial
cat >ca.cnf <<CNF
[ca]
default_ca = d
[d]
dir = .
database = index.txt
serial = serial
new_certs_dir = .
default_md = sha256
policy = p
unique_subject = no
[p]
commonName = supplied
[ext]
subjectAltName = URI:spiffe://$LF_FLEET/operator/admin
extendedKeyUsage = clientAuth
CNF
openssl ecparam -name prime256v1 -genkey -noout -out op.key 2>/dev/null && chmod 0600 op.key
openssl req -new -key op.key -subj /CN=admin -out op.csr 2>/dev/null || lf_die "csr"
issue() {  # OUT CA_STEM START END
  openssl ca -batch -config ca.cnf -cert "$2.pem" -keyfile "$2.key" -in op.csr -out "$1" \
    -startdate "$3" -enddate "$4" -extensions ext -notext >/dev/null 2>&1 || lf_die "openssl ca $1"
}
issue expired.pem "$P/operator-ca" 20250101000000Z 20250201000000Z
issue future.pem "$P/operator-ca" 20400101000000Z 20410101000000Z
issue fleet-ca-issued.pem "$P/fleet-ca" 20250101000000Z 20400101000000Z
cd - >/dev/null || exit 1

step "certificate problems found before dialing"
ctx expired "cert=$LF_DIR/ca/expired.pem" "key=$LF_DIR/ca/op.key"
expect_fail 77 "the operator certificate $LF_DIR/ca/expired.pem expired at 2025-02-01 00:00:00 UTC; get a new one: edgectl pki renew-operator" \
  as expired get devices
ctx future "cert=$LF_DIR/ca/future.pem" "key=$LF_DIR/ca/op.key"
expect_fail 77 "is not valid until 2040-01-01 00:00:00 UTC (is this machine's clock right?" as future get devices
ctx mismatch "key=$LF_DIR/ca/op.key"
expect_fail 78 "context key $LF_DIR/ca/op.key is not the key of context cert $P/operators/admin.pem" as mismatch get devices

step "unreadable and unusable context files"
ctx missing "cert=$LF_DIR/nope.pem"
expect_fail 78 "context cert: cannot open $LF_DIR/nope.pem: No such file" as missing get devices
echo "garbage" >"$LF_DIR/garbage.pem"
ctx garbage-cert "cert=$LF_DIR/garbage.pem"
expect_fail 78 "context cert $LF_DIR/garbage.pem: not a certificate" as garbage-cert get devices
ctx garbage-key "key=$LF_DIR/garbage.pem"
expect_fail 78 "context key $LF_DIR/garbage.pem: not a usable private key" as garbage-key get devices
ctx garbage-ca "ca=$LF_DIR/garbage.pem"
expect_fail 78 "context ca $LF_DIR/garbage.pem: not a certificate" as garbage-ca get devices
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  chmod 0755 "$LF_DIR"
  cp "$LF_DIR/good.json" "$LF_DIR/nobody.json" && chmod 0644 "$LF_DIR/nobody.json"
  expect_fail 78 "cannot open $P/.*: Permission denied" \
    setpriv --reuid=nobody --regid=nogroup --clear-groups env EDGECTL_CONFIG="$LF_DIR/nobody.json" "$LF_BIN/controller/edgectl" get devices
else
  echo "   (not root: the unreadable-file case needs another user; skipped)"
fi

step "certificate problems found in the handshake"
ctx other-ca "cert=$LF_DIR/ca/fleet-ca-issued.pem" "key=$LF_DIR/ca/op.key"
expect_fail 77 "the controller refused the operator certificate $LF_DIR/ca/fleet-ca-issued.pem (TLS alert: .*): the listener at localhost:$PORT does not take certificates from its issuer" \
  as other-ca get devices
ctx by-ip "controller=127.0.0.1:$PORT"
expect_fail 77 "the controller's certificate does not name '127.0.0.1' (it names localhost)" as by-ip get devices
# gRPC's target forms are retraced too: the same step is named whatever the spelling.
for target in "dns:///127.0.0.1:$PORT" "ipv4:127.0.0.1:$PORT"; do
  ctx by-ip-target "controller=$target"
  expect_fail 77 "the controller's certificate does not name '127.0.0.1' (it names localhost)" as by-ip-target get devices
done
ctx port-out-of-range "controller=localhost:65536"
expect_fail 78 "context 'demo': controller address 'localhost:65536': port 65536 is outside 1..65535" as port-out-of-range get devices
expect_fail 2 "--controller: controller address 'localhost:0': port 0 is outside 1..65535" as good --controller localhost:0 get devices
lf_edgectl pki init --dir "$LF_DIR/other" --fleet other --controller-host localhost >/dev/null 2>&1 || lf_die "other pki"
ctx wrong-ca "ca=$LF_DIR/other/fleet-ca.pem"
expect_fail 77 "the controller's certificate at localhost:$PORT does not verify against the context's ca $LF_DIR/other/fleet-ca.pem" \
  as wrong-ca get devices

step "unreachable and timed out are told apart"
free_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ctx closed "controller=localhost:$free_port"
expect_fail 69 "nothing listens at localhost:$free_port (connection refused)" as closed get devices
# The client's version is printed even when the controller cannot be reached; the exit says why.
out=$(as closed version 2>/dev/null); rc=$?
[ $rc = 69 ] && grep -qE "^edgectl +[0-9.]+$" <<<"$out" || lf_die "version with no controller: exit $rc, printed: $out"
ctx nowhere "controller=no-such-host.invalid:7445"
expect_fail 69 "cannot resolve the controller's host 'no-such-host.invalid'" as nowhere get devices
# A port that takes TCP connections and never answers: listen() without accept().
python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
print(s.getsockname()[1], flush=True); time.sleep(60)' >"$LF_DIR/silent.port" &
silent=$!
lf_wait_for 5 test -s "$LF_DIR/silent.port" || lf_die "silent listener"
ctx silent "controller=localhost:$(cat "$LF_DIR/silent.port")" connect_timeout_ms=500
start=$(date +%s%N)
expect_fail 75 "within the connect timeout of 500 ms: too short for this link?.*raise --connect-timeout-ms" as silent get devices
took=$((($(date +%s%N) - start) / 1000000))
kill "$silent" 2>/dev/null
[ "$took" -lt $((5000 * LF_TS)) ] || lf_die "edgectl took $took ms to give up on a 500 ms connect timeout"
ok "gave up after $took ms"

step "get --watch prints the list again when it changes"
as good get sites --watch --interval 1s >"$LF_DIR/watch.out" 2>&1 &
watcher=$!
lf_wait_for 10 grep -q "^SITE " "$LF_DIR/watch.out" || lf_die "no first list: $(cat "$LF_DIR/watch.out")"
as good create site plant-42 2>/dev/null || lf_die "create site"
lf_wait_for 10 grep -q "^plant-42 " "$LF_DIR/watch.out" || lf_die "the new site never showed: $(cat "$LF_DIR/watch.out")"
kill "$watcher" 2>/dev/null; wait "$watcher" 2>/dev/null
[ "$(grep -c "^SITE " "$LF_DIR/watch.out")" = 2 ] || lf_die "expected the list twice (before and after), got: $(cat "$LF_DIR/watch.out")"
grep -q "^-- .*(every 1s; Ctrl-C ends)$" "$LF_DIR/watch.out" || lf_die "no timestamp line before the new list: $(cat "$LF_DIR/watch.out")"
expect_fail 2 "bad duration" as good get sites --watch --interval 0s
ok "two lists, the second with plant-42"
echo "PASS"
