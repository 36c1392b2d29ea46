#!/usr/bin/env bash
# deploy/portable.sh: the self-contained agent bundle for gateways that are not Debian 12
# (docs/install.md, Jetson). Builds it from this build tree, then proves that nothing but the
# kernel comes from the host: the programs start inside an empty chroot holding only the
# bundle (root only; without root that part is skipped and said so).
set -euo pipefail
: "${LF_BIN:?run through ctest, or set LF_BIN to the build directory}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/edge-portable.XXXXXX")"
trap 'rm -rf "$work"' EXIT

line="$("$root/deploy/portable.sh" "$LF_BIN" "$work/out" | tail -1)"
echo "$line"
tarball="${line%% *}"
[ -f "$tarball" ] || { echo "FAIL: no tarball at '$tarball'" >&2; exit 1; }

# Unpacked where docs/install.md puts it, inside an otherwise empty root.
mkdir -p "$work/root/opt"
tar -C "$work/root/opt" -xzf "$tarball"
mv "$work/root/opt/$(basename "$tarball" .tar.gz)" "$work/root/opt/edgefleet"
bundle="$work/root/opt/edgefleet"
for f in bin/edge-agent bin/edgectl libexec/edge-agent libexec/edgectl edge-agent.service; do
  [ -e "$bundle/$f" ] || { echo "FAIL: the bundle has no $f" >&2; exit 1; }
done
grep -q '^ExecStart=/opt/edgefleet/bin/edge-agent --config /etc/edgefleet/agent.json$' "$bundle/edge-agent.service" ||
  { echo "FAIL: the bundled unit does not start /opt/edgefleet/bin/edge-agent" >&2; exit 1; }
loader="$(cd "$bundle/lib" && ls ld-linux-*)"

if [ "$(id -u)" -ne 0 ]; then
  echo "EDGE-TEST-SKIPPED: the empty-chroot check needs root"
  exit 0
fi
machine="$(LC_ALL=C readelf -h "$bundle/libexec/edgectl" | sed -n 's/^ *Machine: *//p')"
if [ "$machine" = AArch64 ] && [ "$(uname -m)" != aarch64 ]; then
  # In a chroot the kernel starts the interpreter that binfmt_misc names at its path inside the
  # chroot: qemu-aarch64 and its own (host-architecture) libraries go in at the host's paths.
  # None of them is an arm64 library, so every arm64 library still has to come from the bundle.
  qemu="$(sed -n 's/^interpreter //p' /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null || true)"
  if [ -z "$qemu" ]; then
    echo "arm64 bundle on $(uname -m): contents checked; no binfmt_misc entry for qemu-aarch64, not started"
    exit 0
  fi
  # shellcheck disable=SC2046 # ldd's paths have no spaces
  cp --parents -L "$qemu" $(ldd "$qemu" | grep -o '/[^ ]*') "$work/root/"
  echo "arm64 bundle on $(uname -m): started in the empty root through $qemu"
fi
mkdir -p "$work/root/etc/edgefleet" "$work/root/tmp"
run() { chroot "$work/root" "/opt/edgefleet/lib/$loader" --library-path /opt/edgefleet/lib "$@"; }
run /opt/edgefleet/libexec/edgectl --help >/dev/null
run /opt/edgefleet/libexec/edge-agent --help >/dev/null
# Real work inside the empty root: a fleet PKI (keys, certificates, signed trust policy).
run /opt/edgefleet/libexec/edgectl pki init --dir /tmp/pki --fleet portable --controller-host ctl.example >/dev/null 2>&1
[ -s "$work/root/tmp/pki/fleet-ca.pem" ] || { echo "FAIL: pki init inside the chroot made no fleet CA" >&2; exit 1; }
# The example config with a CA file that is not there: refused as anywhere (exit 78, the path named).
sed -e 's|"/etc/edgefleet/fleet-ca.pem"|"/etc/edgefleet/none.pem"|' \
    -e 's|"/etc/edgefleet/release-root.pub"|"/tmp/pki/release-root.pub"|' \
    "$root/deploy/config/agent.json" >"$work/root/etc/edgefleet/agent.json"
set +e
run /opt/edgefleet/libexec/edge-agent --config /etc/edgefleet/agent.json 2>"$work/agent.err"
rc=$?
set -e
{ [ "$rc" = 78 ] && grep -q "none.pem" "$work/agent.err"; } || { echo "FAIL: the agent in the chroot exited $rc, expected 78 naming none.pem; stderr:" >&2; cat "$work/agent.err" >&2; exit 1; }
echo "PASS: the bundle runs in an empty root"
