#!/usr/bin/env bash
# The Debian packages, end to end (ctest: packaging.debs, label packaging; run by tests/run.sh,
# and for arm64 by tests/run.sh --arch arm64):
#   1. cpack builds edge-controller, edge-agent and edgectl .debs from the build tree
#      (EDGE_BUILD_DIR) into a temporary directory;
#   2. check_debs.sh checks them without installing (names, version, architecture, file list
#      with owners and modes, conffiles, maintainer scripts, Depends);
#   3. for packages of this machine's architecture, in_root.sh installs them with dpkg into a
#      throwaway root and runs both daemons as their units would. The throwaway root is an
#      overlay of this machine's / (changes go to a tmpfs) in a private mount namespace,
#      chrooted: dpkg, adduser and the postinst run for real and the machine itself is not
#      touched. Needs root; reported skipped without it.
# Packages for another architecture (EDGE_DEB_ARCH, set by ctest in a cross tree: arm64) get
# step 3 as well when this machine can run them under qemu (binfmt_misc), else steps 1 and 2.
# By hand: EDGE_BUILD_DIR=build/ci EDGE_VERSION=0.1.0 tests/packaging/packaging_test.sh
#          (or: ctest --preset ci -L packaging; ctest --preset arm64 -L packaging)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$(cd "$here/../.." && pwd)"

if [ "${1:-}" = --namespace ]; then
  # Inside `unshare --mount`: the overlay root, then in_root.sh chrooted in it.
  t=$2; shift 2
  mount -t tmpfs -o mode=0755 edgefleet-pkg "$t/ns"
  mkdir -p "$t/ns/upper" "$t/ns/work" "$t/ns/root"
  mount -t overlay overlay -o "lowerdir=/,upperdir=$t/ns/upper,workdir=$t/ns/work" "$t/ns/root"
  r=$t/ns/root
  mount -t proc proc "$r/proc"
  mount --rbind /dev "$r/dev"
  mount -t tmpfs -o mode=0755 run "$r/run"  # no /run/systemd/system: the postinst calls no systemctl
  # The packages and the checkout at the same paths inside (the overlay shows only the root
  # file system's files, not other mounts).
  for d in "$t/debs" "$src"; do mkdir -p "$r$d" && mount --bind -o ro "$d" "$r$d"; done
  exec chroot "$r" /bin/bash "$src/tests/packaging/in_root.sh" "$t/debs" "$@" "$src"
fi

skip() { echo "EDGE-TEST-SKIPPED: $*"; exit 0; }
build=${EDGE_BUILD_DIR:?set EDGE_BUILD_DIR to a configured and built build tree}
version=${EDGE_VERSION:?set EDGE_VERSION to the project version}
host_arch=$(dpkg --print-architecture)
arch=${EDGE_DEB_ARCH:-$host_arch}
[ "$(id -u)" = 0 ] || [ "$arch" != "$host_arch" ] || skip "needs root (dpkg and adduser in a private mount namespace)"
for tool in cpack dpkg-deb dpkg-shlibdeps file unshare setpriv systemd-analyze python3; do
  command -v "$tool" >/dev/null || { echo "FAILED: $tool missing (deploy/install-deps.sh installs it)" >&2; exit 1; }
done

t=$(mktemp -d "${TMPDIR:-/tmp}/edgefleet-packaging.XXXXXX")
trap 'rm -rf "$t"' EXIT
mkdir -p "$t/ns"

start=$SECONDS
echo "== cpack: packages from $build"
(cd "$t" && cpack --config "$build/CPackConfig.cmake" -B "$t/debs" >"$t/cpack.log" 2>&1) ||
  { cat "$t/cpack.log" >&2; echo "FAILED: cpack" >&2; exit 1; }
rm -rf "$t/debs/_CPack_Packages"
ls -l "$t/debs"
echo "   ok: built in $((SECONDS - start)) s"

bash "$here/check_debs.sh" "$t/debs" "$arch" "$version"
# Another architecture's packages are installed too when this machine can run them: dpkg
# knows the architecture (its libraries are installed, so Depends can be met) and binfmt_misc
# hands its executables to qemu (tests/run.sh --arch arm64 sets both up).
if [ "$arch" != "$host_arch" ]; then
  why=""
  dpkg --print-foreign-architectures | grep -qx "$arch" || why="dpkg does not know $arch"
  [ "$arch" != arm64 ] || [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || why="no binfmt_misc entry for qemu-aarch64"
  [ "$(id -u)" = 0 ] || why="installing needs root"
  if [ -n "$why" ]; then
    echo "packaging: $arch packages built and checked in $((SECONDS - start)) s (not installed: $why)"
    exit 0
  fi
fi

unshare --mount --propagation private true 2>/dev/null || skip "cannot make a mount namespace here"
unshare --mount --propagation private "$here/packaging_test.sh" --namespace "$t" "$arch" "$version"
echo "packaging: all checks passed in $((SECONDS - start)) s"
