#!/usr/bin/env bash
# edge-controller refuses, at start and before it opens any listener or touches its data
# directory, a configuration that could only fail later or share what it must own: each case
# exits 78 with one line naming the key and the file, and the running controller is untouched.
source "$(dirname "$0")/lib.sh"

one_agent_fleet
C="$LF_BIN/controller/edge-controller"
P="$LF_DIR/pki"
# variant FILE KEY=VALUE...: the running controller's config with some keys replaced, and its
# own data directory, ports file and listen ports (nothing a refused start could write or bind
# is shared unless a case says so).
variant() {
  local out=$1; shift
  python3 - "$LF_DIR/controller.json" "$out" "data_dir=$LF_DIR/variant-data" "ports_file=$LF_DIR/variant-ports.json" \
    agent_listen=127.0.0.1:0 enroll_listen=127.0.0.1:0 operator_listen=127.0.0.1:0 "$@" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
for kv in sys.argv[3:]:
    key, value = kv.split("=", 1)
    config[key] = value
json.dump(config, open(sys.argv[2], "w"), indent=2)
PY
}
refused() {  # PHRASE KEY=VALUE...: the variant exits 78 and says PHRASE; nothing was created
  local phrase=$1; shift
  rm -rf "$LF_DIR/variant-data"
  variant "$LF_DIR/variant.json" "$@"
  expect_fail 78 "$phrase" "$C" --config "$LF_DIR/variant.json"
  [ "$(grep -c . <<<"$(lf_edgectl get devices 2>/dev/null)")" -ge 2 ] || lf_die "the running controller stopped answering"
}

step "listen addresses: out of range, taken by the running controller, not this host's"
refused "agent_listen: listen address '127.0.0.1:99999': the port must be a number from 0 to 65535" \
  agent_listen=127.0.0.1:99999
refused "cannot listen on 127.0.0.1:$LF_AGENT_PORT: the address is in use by another process" \
  "agent_listen=127.0.0.1:$LF_AGENT_PORT"
refused "cannot listen on 127.0.0.1:$LF_OPERATOR_PORT: the address is in use" \
  "operator_listen=127.0.0.1:$LF_OPERATOR_PORT"
refused "cannot listen on 192.0.2.1:7443: not an address of this host" agent_listen=192.0.2.1:7443
# Two keys of one config on one address: named both, before anything is bound (the running
# controller's own port is not involved).
refused "agent_listen 127.0.0.1:7443 and operator_listen 127.0.0.1:7443 collide (the same address)" \
  agent_listen=127.0.0.1:7443 operator_listen=127.0.0.1:7443
refused "agent_listen 0.0.0.0:7443 and enroll_listen 127.0.0.1:7443 collide (0.0.0.0 takes the port on every IPv4 address" \
  agent_listen=0.0.0.0:7443 enroll_listen=127.0.0.1:7443
refused "operator_listen 127.0.0.1:7445 and metrics_listen 127.0.0.1:7445 collide" \
  operator_listen=127.0.0.1:7445 metrics_listen=127.0.0.1:7445
refused "another edge-controller is running on the data dir $LF_DIR/controller" "data_dir=$LF_DIR/controller"
# The running controller still holds its ports alone: every call reaches it, none a second one.
for _ in 1 2 3 4 5 6; do lf_edgectl get devices 2>/dev/null | grep -q '^gw-1 ' || lf_die "a call missed the running controller"; done
ok "the running controller answered every call after the refused starts"

step "key material that cannot work"
lf_edgectl pki init --dir "$LF_DIR/other" --fleet other --controller-host 127.0.0.1 >/dev/null 2>&1 || lf_die "second pki init"
refused "fleet_ca_key $LF_DIR/other/fleet-ca.key is not the key of fleet_ca_cert $P/fleet-ca.pem" \
  "fleet_ca_key=$LF_DIR/other/fleet-ca.key"
refused "server_cert $LF_DIR/other/controller.pem is not a valid certificate from fleet_ca_cert $P/fleet-ca.pem" \
  "server_cert=$LF_DIR/other/controller.pem" "server_key=$LF_DIR/other/controller.key"
refused "server_key $LF_DIR/other/controller.key is not the key of server_cert $P/controller.pem" \
  "server_key=$LF_DIR/other/controller.key"
echo "not a certificate" >"$LF_DIR/garbage.pem"
refused "fleet_ca_cert: $LF_DIR/garbage.pem is not a PEM file" "fleet_ca_cert=$LF_DIR/garbage.pem"

step "key files others can read, or that the service cannot"
cp "$P/controller.key" "$LF_DIR/loose.key"
chmod 0644 "$LF_DIR/loose.key"
refused "server_key $LF_DIR/loose.key has mode 0644: a private key must give other users no access" \
  "server_key=$LF_DIR/loose.key"
chmod 0660 "$LF_DIR/loose.key"
refused "has mode 0660" "server_key=$LF_DIR/loose.key"
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  # As a user the key is not for (root:root 0640): the read fails and says so.
  mkdir -p "$LF_DIR/as-nobody" && chmod 0755 "$LF_DIR" "$LF_DIR/as-nobody"
  for f in fleet-ca.pem fleet-ca.key controller.pem controller.key operator-ca.pem trust-policy.json release-root.pub; do
    cp "$P/$f" "$LF_DIR/as-nobody/$f"
  done
  chmod 0644 "$LF_DIR/as-nobody"/*.pem "$LF_DIR/as-nobody"/*.json "$LF_DIR/as-nobody"/*.pub
  chmod 0640 "$LF_DIR/as-nobody"/*.key
  N="$LF_DIR/as-nobody"
  variant "$N/controller.json" "fleet_ca_cert=$N/fleet-ca.pem" "fleet_ca_key=$N/fleet-ca.key" \
    "server_cert=$N/controller.pem" "server_key=$N/controller.key" "operator_ca_cert=$N/operator-ca.pem" \
    "trust_policy=$N/trust-policy.json" "release_root_public_key=$N/release-root.pub" "data_dir=$N/data"
  chmod 0644 "$N/controller.json"
  expect_fail 78 "fleet_ca_key: cannot open $N/fleet-ca.key: Permission denied" \
    setpriv --reuid=nobody --regid=nogroup --clear-groups "$C" --config "$N/controller.json"
else
  echo "   (not root: the unreadable-key case needs another user; skipped)"
fi
step "files that are not regular files: refused at once, never waited on"
mkfifo "$LF_DIR/ca.fifo"
# Nothing ever writes to the FIFO: a blocking open would hang until the timeout kills it (124).
for key in fleet_ca_cert server_key trust_policy; do
  variant "$LF_DIR/variant.json" "$key=$LF_DIR/ca.fifo"
  expect_fail 78 "$key: $LF_DIR/ca.fifo is a FIFO (named pipe), not a regular file" \
    timeout 20 "$C" --config "$LF_DIR/variant.json"
done
rm -rf "$LF_DIR/variant-data"  # trust_policy is read once the store is open (stored policies count too)
refused "operator_ca_cert: $LF_DIR is a directory, not a regular file" "operator_ca_cert=$LF_DIR"
refused "fleet_ca_key: /dev/zero is a character device, not a regular file" "fleet_ca_key=/dev/zero"

step "keys that someone else could replace or read: another owner, another group, a directory others can write"
mkdir -m 0777 "$LF_DIR/open"
cp "$P/controller.key" "$LF_DIR/open/controller.key"
refused "server_key $LF_DIR/open/controller.key is reached through the directory $LF_DIR/open (mode 0777" \
  "server_key=$LF_DIR/open/controller.key"
ln -s "$LF_DIR/open/controller.key" "$LF_DIR/open-link.key"
refused "is reached through the directory $LF_DIR/open (mode 0777" "server_key=$LF_DIR/open-link.key"
if [ "$(id -u)" = 0 ]; then
  cp -p "$P/controller.key" "$LF_DIR/nobodys.key" && chown nobody "$LF_DIR/nobodys.key"
  refused "server_key $LF_DIR/nobodys.key is owned by uid $(id -u nobody) (nobody), neither root nor the user the controller runs as" \
    "server_key=$LF_DIR/nobodys.key"
  cp -p "$P/controller.key" "$LF_DIR/group.key" && chgrp nogroup "$LF_DIR/group.key" && chmod 0640 "$LF_DIR/group.key"
  refused "server_key $LF_DIR/group.key is readable by the group gid $(getent group nogroup | cut -d: -f3) (nogroup), which is not the controller's group" \
    "server_key=$LF_DIR/group.key"
  # A symlink someone else made in a shared sticky directory (as /tmp) is theirs to re-point.
  mkdir -m 1777 "$LF_DIR/shared"
  ln -s "$P/controller.key" "$LF_DIR/shared/controller.key" && chown -h nobody "$LF_DIR/shared/controller.key"
  refused "is reached through $LF_DIR/shared/controller.key, owned by uid $(id -u nobody) (nobody) in the shared directory" \
    "server_key=$LF_DIR/shared/controller.key"
  chown -h root "$LF_DIR/shared/controller.key"
  variant "$LF_DIR/variant.json" "server_key=$LF_DIR/shared/controller.key" "data_dir=$LF_DIR/variant-ok"
  "$C" --config "$LF_DIR/variant.json" >"$LF_DIR/variant-ok.log" 2>&1 &
  ok_pid=$!
  LF_PIDS+=("$ok_pid")
  lf_wait_for 20 grep -q "controller ready" "$LF_DIR/variant-ok.log" ||
    lf_die "the controller did not start with root's own symlink in a sticky directory: $(tail -n 3 "$LF_DIR/variant-ok.log")"
  kill "$ok_pid" && wait "$ok_pid"
  rm -rf "$LF_DIR/variant-ok"
  ok "root's own symlink in a sticky shared directory is accepted"
else
  echo "   (not root: the other-owner and other-group cases need another user; skipped)"
fi
[ ! -e "$LF_DIR/variant-data" ] || lf_die "a refused start created its data directory"
ok "no refused start created its data directory"
echo "PASS"
