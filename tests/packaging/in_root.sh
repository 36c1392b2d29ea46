#!/usr/bin/env bash
# Runs as root inside the throwaway root that packaging_test.sh makes (an overlay of this
# machine's / in a private mount namespace, chrooted): every change here, dpkg's database and
# /etc/passwd included, vanishes with the namespace.
#   in_root.sh DEBS_DIR ARCH VERSION SOURCE_DIR
# Installs the three packages with dpkg, checks users, owners and modes, verifies the installed
# units, follows docs/operations.md to put a PKI in place, runs edge-controller and edge-agent
# as their units would (user, groups, umask, runtime directory, clean environment, a notify
# socket) until each says READY=1 and the agent is online; then reinstalls, removes and purges.
set -euo pipefail
debs=$1 arch=$2 version=$3 src=$4
debver="$version-1"
units=/lib/systemd/system
work=/root/packaging-test
mkdir -p "$work"
pids=()

fail() {
  echo "FAILED: $*" >&2
  for f in "$work"/*.log; do [ -f "$f" ] && { echo "== $f (tail)" >&2; tail -n 15 "$f" >&2; }; done
  exit 1
}
ok() { echo "   ok: $*"; }
step() { echo "== $*"; }
cleanup() { local p; for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

wait_for() {  # SECONDS cmd...: true once cmd succeeds
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt "$deadline" ] || return 1
    sleep 0.1
  done
}
mode_of() { stat -c '%U:%G %a' "$1"; }
expect_mode() {  # PATH "owner:group mode"
  [ -e "$1" ] || fail "$1 missing"
  [ "$(mode_of "$1")" = "$2" ] || fail "$1 is $(mode_of "$1"), want $2"
}

# The ```sh block after the marker <!-- packaging-test: NAME --> in docs/operations.md.
doc_block() {
  local block
  block=$(awk -v m="<!-- packaging-test: $1 " '
    index($0, m) { f = 1; next }
    f && /^```/ && !g { g = 1; next }
    g && /^```/ { exit }
    g { print }' "$src/docs/operations.md")
  [ -n "$block" ] || fail "docs/operations.md has no block marked 'packaging-test: $1'"
  printf '%s\n' "$block"
}
run_doc_block() {  # NAME: runs it with set -e, PKI and TOKEN_FILE set
  echo "   docs/operations.md ($1):"; doc_block "$1" | sed 's/^/     | /'
  (set -e; eval "$(doc_block "$1")") || fail "the docs' '$1' steps failed"
}

# ---- the unit, as systemd would run it ---------------------------------------------------
unit_prop() { sed -n "s/^$2=//p" "$units/$1.service" | tail -n 1; }
# unit_command UNIT NOTIFY_SOCKET: sets CMD to run the unit's ExecStart as its User=, Group=,
# SupplementaryGroups=, UMask=, LimitNOFILE=, NoNewPrivileges= and an empty
# CapabilityBoundingSet=, in systemd's clean environment, after making RuntimeDirectory= and
# checking that StateDirectory= already has the unit's owner and mode (the postinst makes it).
unit_command() {
  local unit=$1 sock=$2 user group supp um nofile exec rdir rmode sdir smode
  user=$(unit_prop "$unit" User) group=$(unit_prop "$unit" Group)
  supp=$(unit_prop "$unit" SupplementaryGroups) um=$(unit_prop "$unit" UMask)
  nofile=$(unit_prop "$unit" LimitNOFILE) exec=$(unit_prop "$unit" ExecStart)
  rdir=$(unit_prop "$unit" RuntimeDirectory) rmode=$(unit_prop "$unit" RuntimeDirectoryMode)
  sdir=$(unit_prop "$unit" StateDirectory) smode=$(unit_prop "$unit" StateDirectoryMode)
  [ -n "$user" ] && [ -n "$group" ] && [ -n "$exec" ] || fail "$unit: no User=, Group= or ExecStart="
  grep -q '^DynamicUser=yes' "$units/$unit.service" && fail "$unit: DynamicUser= is back"
  [ "$(unit_prop "$unit" NoNewPrivileges)" = yes ] || fail "$unit: NoNewPrivileges= is not yes"
  if [ -n "$rdir" ]; then install -d -o "$user" -g "$group" -m "${rmode:-0755}" "/run/$rdir"; fi
  if [ -n "$sdir" ]; then expect_mode "/var/lib/$sdir" "$user:$group $(printf '%o' $((8#${smode:-0755})))"; fi
  local home
  home=$(getent passwd "$user" | cut -d: -f6)
  # shellcheck disable=SC2206
  CMD=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8
       USER="$user" LOGNAME="$user" HOME="$home" SHELL=/usr/sbin/nologin NOTIFY_SOCKET="$sock"
       bash -c 'umask "$1"; [ -z "$2" ] || ulimit -n "$2"; shift 2; exec "$@"' unit "${um:-0022}" "$nofile"
       setpriv --reuid="$user" --regid="$group" ${supp:+--groups="${supp// /,}"} --inh-caps=-all
       --bounding-set=-all --no-new-privs -- $exec)
}
# A notify socket (like systemd's) that writes every datagram to FILE, one per line.
notify_listener() {  # SOCKET FILE
  python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o666)
with open(sys.argv[2], "ab", 0) as f:
    while True:
        f.write(s.recv(4096).replace(b"\n", b" ") + b"\n")
' "$1" "$2" &
  pids+=($!)
  wait_for 5 test -S "$1" || fail "notify socket $1 not made"
}
ready() { grep -q 'READY=1' "$1"; }

# ---- install --------------------------------------------------------------------------------
step "dpkg -i the $arch packages"
cd "$debs"
dpkg -i "edgectl_${debver}_$arch.deb" "edge-controller_${debver}_$arch.deb" "edge-agent_${debver}_$arch.deb" \
  >"$work/dpkg-install.log" 2>&1 || { cat "$work/dpkg-install.log" >&2; fail "dpkg -i"; }
for p in edgectl edge-controller edge-agent; do
  [ "$(dpkg-query -W -f='${Status} ${Version}' "$p")" = "install ok installed $debver" ] || fail "$p not installed"
done
ok "installed: edgectl edge-controller edge-agent $debver"

step "users, groups, owners and modes"
for u in edge-controller edge-agent; do
  IFS=: read -r _ _ uid gid _ home shell < <(getent passwd "$u") || fail "no user $u"
  [ "$uid" -lt 1000 ] || fail "$u is not a system user (uid $uid)"
  [ "$(getent group "$gid" | cut -d: -f1)" = "$u" ] || fail "$u's primary group is not $u"
  [ "$home" = "/var/lib/$u" ] && [ "$shell" = /usr/sbin/nologin ] || fail "$u: home $home, shell $shell"
  id -nG "$u" | tr ' ' '\n' | grep -qx edgefleet || fail "$u is not in the group edgefleet"
  expect_mode "/var/lib/$u" "$u:$u 750"
done
ok "system users edge-controller, edge-agent (nologin, in group edgefleet); their state dirs 0750"
expect_mode /etc/edgefleet "root:edgefleet 750"
expect_mode /etc/edgefleet/controller.json "root:root 644"
expect_mode /etc/edgefleet/agent.json "root:root 644"
for f in /usr/bin/edge-controller /usr/bin/edge-agent /usr/bin/edgectl; do expect_mode "$f" "root:root 755"; done
for u in edge-controller edge-agent; do expect_mode "$units/$u.service" "root:root 644"; done
ok "/etc/edgefleet root:edgefleet 0750, configs 0644, programs 0755, units 0644"
[ "$(dpkg-query -W -f='${Conffiles}' edge-agent | awk '{print $1}' | grep .)" = /etc/edgefleet/agent.json ] ||
  fail "dpkg does not list agent.json as edge-agent's conffile"
[ "$(dpkg-query -W -f='${Conffiles}' edge-controller | awk '{print $1}' | grep .)" = /etc/edgefleet/controller.json ] ||
  fail "dpkg does not list controller.json as edge-controller's conffile"
ok "dpkg lists the configs as conffiles"

step "systemd-analyze verify the installed units"
out=$(systemd-analyze verify "$units/edge-controller.service" "$units/edge-agent.service" 2>&1) ||
  fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify warned: $out"
ok "edge-controller.service, edge-agent.service: no findings"

# ---- the controller host, as docs/operations.md says ------------------------------------------
step "controller host: PKI and config per docs/operations.md"
PKI=$work/pki
edgectl pki init --dir "$PKI" --fleet acme --controller-host 127.0.0.1 --controller-host localhost 2>/dev/null ||
  fail "edgectl pki init"
run_doc_block controller-files
expect_mode /etc/edgefleet/controller.key "root:edge-controller 640"
expect_mode /etc/edgefleet/fleet-ca.key "root:edge-controller 640"
setpriv --reuid=edge-agent --regid=edge-agent --init-groups cat /etc/edgefleet/controller.key >/dev/null 2>&1 &&
  fail "edge-agent can read the controller's key"
setpriv --reuid=nobody --regid=nogroup --clear-groups ls /etc/edgefleet >/dev/null 2>&1 &&
  fail "nobody can list /etc/edgefleet"
ok "keys root:edge-controller 0640; edge-agent cannot read them; the user nobody cannot list /etc/edgefleet"
# What an administrator edits in the conffile: loopback, kernel-chosen ports (other tests run
# on this machine), the ports written where the service may write.
python3 - <<'PY'
import json
p = "/etc/edgefleet/controller.json"
c = json.load(open(p))
c.update(agent_listen="127.0.0.1:0", enroll_listen="127.0.0.1:0", operator_listen="127.0.0.1:0",
         metrics_listen="127.0.0.1:0", ports_file="/run/edge-controller/ports.json")
json.dump(c, open(p, "w"), indent=2)
PY

step "edge-controller as its unit runs it"
mkdir -p /run/notify && chmod 0755 /run/notify
notify_listener /run/notify/controller "$work/controller.notify"
unit_command edge-controller /run/notify/controller
"${CMD[@]}" >>"$work/controller.log" 2>&1 &
controller_pid=$!
pids+=("$controller_pid")
wait_for 30 ready "$work/controller.notify" || fail "edge-controller sent no READY=1"
[ "$(stat -c %U /proc/$controller_pid)" = edge-controller ] || fail "edge-controller runs as $(stat -c %U /proc/$controller_pid)"
grep -q 'controller ready' "$work/controller.log" || fail "no 'controller ready' in its log"
ok "READY=1 from pid $controller_pid (user edge-controller); 'controller ready' logged"
expect_mode /var/lib/edge-controller/controller.db "edge-controller:edge-controller 640"
ok "controller.db edge-controller 0640 (UMask=0027)"
port() { sed -n "s/.*\"$1\": *\([0-9]*\).*/\1/p" /run/edge-controller/ports.json; }
export EDGECTL_CONFIG=$PKI/edgectl.json EDGECTL_CONTROLLER="127.0.0.1:$(port operator)"
edgectl create site plant-7 >/dev/null 2>&1 || fail "edgectl create site"
edgectl token create --site plant-7 --ttl 10m >"$work/token" 2>/dev/null || fail "edgectl token create"

# ---- the gateway ------------------------------------------------------------------------------
step "gateway: files and config per docs/operations.md"
TOKEN_FILE=$work/token
run_doc_block gateway-files
expect_mode /etc/edgefleet/enrollment-token "root:edge-agent 640"
setpriv --reuid=edge-controller --regid=edge-controller --init-groups cat /etc/edgefleet/enrollment-token \
  >/dev/null 2>&1 && fail "edge-controller can read the agent's token"
ok "token root:edge-agent 0640; edge-controller cannot read it"
python3 - "$(port agent)" "$(port enroll)" <<'PY'
import json, sys
p = "/etc/edgefleet/agent.json"
c = json.load(open(p))
c.update(device_name="gw-pkg-1", controller="127.0.0.1:" + sys.argv[1], enroll_endpoint="127.0.0.1:" + sys.argv[2],
         metrics_listen="127.0.0.1:0")
json.dump(c, open(p, "w"), indent=2)
PY

step "edge-agent with a token only root can read (the layout this package fixes): exit 78"
chmod 0600 /etc/edgefleet/enrollment-token
unit_command edge-agent /run/notify/none
rc=0
timeout 30 "${CMD[@]}" >"$work/agent-denied.log" 2>&1 || rc=$?
[ "$rc" = 78 ] || fail "edge-agent exited $rc, want 78 (bad config) for an unreadable token: $(tail -n 3 "$work/agent-denied.log")"
grep -qi 'permission denied' "$work/agent-denied.log" || fail "exit 78 without 'Permission denied': $(tail -n 3 "$work/agent-denied.log")"
ok "exit 78, 'Permission denied'"
chmod 0640 /etc/edgefleet/enrollment-token

step "edge-agent as its unit runs it"
notify_listener /run/notify/agent "$work/agent.notify"
unit_command edge-agent /run/notify/agent
"${CMD[@]}" >>"$work/agent.log" 2>&1 &
agent_pid=$!
pids+=("$agent_pid")
wait_for 30 ready "$work/agent.notify" || fail "edge-agent sent no READY=1"
[ "$(stat -c %U /proc/$agent_pid)" = edge-agent ] || fail "edge-agent runs as $(stat -c %U /proc/$agent_pid)"
online() { edgectl get devices 2>/dev/null | grep -q '^gw-pkg-1 .* online '; }
wait_for 20 online || fail "gw-pkg-1 not online: $(edgectl get devices 2>&1)"
ok "READY=1 from pid $agent_pid (user edge-agent); enrolled, gw-pkg-1 online"
expect_mode /run/edge-agent "edge-agent:edge-agent 750"
expect_mode /run/edge-agent/infer.sock "edge-agent:edge-agent 660"
expect_mode /var/lib/edge-agent/identity "edge-agent:edge-agent 700"
expect_mode /var/lib/edge-agent/identity/key.pem "edge-agent:edge-agent 600"
ok "/run/edge-agent/infer.sock 0660, identity 0700, key 0600, all edge-agent's"

step "renewing the controller certificate in place keeps the key readable by edge-controller"
edgectl pki renew-controller --dir /etc/edgefleet >/dev/null 2>&1 || fail "edgectl pki renew-controller --dir /etc/edgefleet"
expect_mode /etc/edgefleet/controller.key "root:edge-controller 640"
setpriv --reuid=edge-controller --regid=edge-controller --init-groups cat /etc/edgefleet/controller.key >/dev/null ||
  fail "edge-controller cannot read the renewed key"
ok "renewed controller.key root:edge-controller 0640"

step "SIGTERM: both stop cleanly"
for p in "$agent_pid" "$controller_pid"; do
  kill -TERM "$p"; rc=0; wait "$p" || rc=$?
  [ "$rc" = 0 ] || fail "pid $p exited $rc on SIGTERM"
done
ok "exit 0"

# ---- upgrade (reinstall), remove, purge --------------------------------------------------------
step "reinstall over the running layout (postinst configure with the old version)"
dpkg -i "edgectl_${debver}_$arch.deb" "edge-controller_${debver}_$arch.deb" "edge-agent_${debver}_$arch.deb" \
  >"$work/dpkg-reinstall.log" 2>&1 || { cat "$work/dpkg-reinstall.log" >&2; fail "dpkg -i again"; }
grep -q gw-pkg-1 /etc/edgefleet/agent.json || fail "the reinstall replaced the edited agent.json"
grep -q '127.0.0.1:0' /etc/edgefleet/controller.json || fail "the reinstall replaced the edited controller.json"
expect_mode /etc/edgefleet "root:edgefleet 750"
expect_mode /etc/edgefleet/controller.key "root:edge-controller 640"
expect_mode /var/lib/edge-agent/identity/key.pem "edge-agent:edge-agent 600"
ok "edited conffiles kept, modes and state unchanged"

step "dpkg -r keeps config, keys and state; --purge deletes the packages' config and state"
dpkg -r edge-agent >"$work/dpkg-remove.log" 2>&1 || fail "dpkg -r edge-agent"
[ ! -e /usr/bin/edge-agent ] || fail "/usr/bin/edge-agent left after remove"
[ -f /etc/edgefleet/agent.json ] && [ -f /var/lib/edge-agent/identity/key.pem ] || fail "remove deleted config or state"
ok "after remove: program gone, agent.json and /var/lib/edge-agent kept"
dpkg --purge edge-agent edge-controller edgectl >"$work/dpkg-purge.log" 2>&1 || fail "dpkg --purge"
for f in /etc/edgefleet/agent.json /etc/edgefleet/controller.json /var/lib/edge-agent /var/lib/edge-controller \
  /usr/bin/edgectl /usr/bin/edge-controller "$units/edge-agent.service"; do
  [ ! -e "$f" ] || fail "$f left after purge"
done
getent passwd edge-agent >/dev/null && getent passwd edge-controller >/dev/null || fail "purge removed a system user"
[ -f /etc/edgefleet/controller.key ] || fail "purge deleted the administrator's keys"
ok "after purge: configs, state and programs gone; users and copied keys kept"
