#!/usr/bin/env bash
# Checks the three .debs in DIR without installing them:
#   tests/packaging/check_debs.sh DIR ARCH VERSION
# names and versions, Architecture, the exact file list with owners and modes, conffiles, the
# maintainer scripts, and Depends: every shared library a binary needs (ELF NEEDED) is found
# in ARCH's multiarch directory, its Debian package (`dpkg -S`) is named in Depends, and every
# name in Depends exists for ARCH in apt's package lists. Used by packaging_test.sh (amd64) and
# arm64_packages.sh. Exits 1 on the first failure, naming it.
set -euo pipefail
dir=${1:?usage: check_debs.sh DIR ARCH VERSION} arch=${2:?ARCH} version=${3:?VERSION}
debver="$version-1"

fail() { echo "FAILED: $*" >&2; exit 1; }
ok() { echo "   ok: $*"; }

case "$arch" in
  amd64) triplet=x86_64-linux-gnu ;;
  arm64) triplet=aarch64-linux-gnu ;;
  *) fail "no multiarch triplet known for $arch" ;;
esac

# The expected contents: "mode owner/group path" for every file (not directories).
expect_files() {
  case "$1" in
    edge-controller) cat <<EOF
-rw-r--r-- root/root ./etc/edgefleet/controller.json
-rw-r--r-- root/root ./lib/systemd/system/edge-controller.service
-rwxr-xr-x root/root ./usr/bin/edge-controller
-rw-r--r-- root/root ./usr/share/doc/edge-controller/operations.md
EOF
    ;;
    edge-agent) cat <<EOF
-rw-r--r-- root/root ./etc/edgefleet/agent.json
-rw-r--r-- root/root ./lib/systemd/system/edge-agent.service
-rwxr-xr-x root/root ./usr/bin/edge-agent
-rw-r--r-- root/root ./usr/share/doc/edge-agent/operations.md
EOF
    ;;
    edgectl) echo "-rwxr-xr-x root/root ./usr/bin/edgectl" ;;
  esac
}

work=$(mktemp -d "${TMPDIR:-/tmp}/edgefleet-debs.XXXXXX")
trap 'rm -rf "$work"' EXIT

for pkg in edge-controller edge-agent edgectl; do
  deb="$dir/${pkg}_${debver}_${arch}.deb"
  [ -f "$deb" ] || fail "$deb missing (have: $(ls "$dir" | tr '\n' ' '))"
  echo "== $pkg ($(basename "$deb"))"
  [ "$(dpkg-deb -f "$deb" Package)" = "$pkg" ] || fail "$deb: Package is not $pkg"
  [ "$(dpkg-deb -f "$deb" Version)" = "$debver" ] || fail "$deb: Version $(dpkg-deb -f "$deb" Version) is not $debver"
  [ "$(dpkg-deb -f "$deb" Architecture)" = "$arch" ] || fail "$deb: Architecture $(dpkg-deb -f "$deb" Architecture) is not $arch"
  ok "Package $pkg, Version $debver, Architecture $arch"

  # File list: owners and modes exactly, nothing more, nothing less.
  dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { print $1, $2, $6 }' | sort >"$work/$pkg.files"
  expect_files "$pkg" | sort >"$work/$pkg.want"
  diff -u "$work/$pkg.want" "$work/$pkg.files" >&2 || fail "$deb: file list differs from the expected one (above)"
  # Directories root-owned and 0755: the postinst tightens /etc/edgefleet itself.
  bad=$(dpkg-deb -c "$deb" | awk '$1 ~ /^d/ && ($1 != "drwxr-xr-x" || $2 != "root/root") { print $1, $2, $6 }')
  [ -z "$bad" ] || fail "$deb: directories not root/root 0755: $bad"
  ok "files: $(wc -l <"$work/$pkg.files") with the expected owners and modes"

  rm -rf "$work/ctl" && mkdir "$work/ctl" && dpkg-deb -e "$deb" "$work/ctl"
  if [ "$pkg" = edgectl ]; then
    [ ! -e "$work/ctl/conffiles" ] && [ ! -e "$work/ctl/postinst" ] || fail "$deb: edgectl has maintainer scripts or conffiles"
  else
    cfg=agent.json; [ "$pkg" = edge-controller ] && cfg=controller.json
    [ "$(cat "$work/ctl/conffiles")" = "/etc/edgefleet/$cfg" ] || fail "$deb: conffiles is '$(cat "$work/ctl/conffiles")'"
    for s in postinst prerm postrm; do
      [ -x "$work/ctl/$s" ] || fail "$deb: $s missing or not executable"
      sh -n "$work/ctl/$s" || fail "$deb: $s is not valid sh"
      grep -q '@' "$work/ctl/$s" && fail "$deb: $s has an unsubstituted @VAR@"
    done
    ok "conffiles /etc/edgefleet/$cfg; postinst, prerm, postrm valid sh"
  fi

  # Depends, as bare names, and the binary's NEEDED libraries: checked together below.
  depends=$(dpkg-deb -f "$deb" Depends)
  tr ',' '\n' <<<"$depends" | sed 's/([^)]*)//; s/|.*//; s/ //g' | { grep . || true; } | sort -u >"$work/$pkg.names"
  if [ "$pkg" != edgectl ]; then grep -qx adduser "$work/$pkg.names" || fail "$deb: Depends lacks adduser: $depends"; fi
  dpkg-deb -x "$deb" "$work/x-$pkg"
  bin="$work/x-$pkg/usr/bin/$pkg"
  machine=$(LC_ALL=C readelf -h "$bin" | sed -n 's/ *Machine: *//p')
  case "$arch" in
    amd64) [[ "$machine" == *X86-64* ]] || fail "$bin is for '$machine', not amd64" ;;
    arm64) [[ "$machine" == *AArch64* ]] || fail "$bin is for '$machine', not arm64" ;;
  esac
  LC_ALL=C readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' >"$work/$pkg.needed"
  [ -s "$work/$pkg.needed" ] || fail "$bin: no NEEDED entries"
done

# Which package owns each needed library for ARCH (one dpkg -S for all: it is slow).
paths=()
for lib in $(sort -u "$work"/*.needed); do
  found=""
  for d in "/usr/lib/$triplet" "/lib/$triplet"; do
    if [ -e "$d/$lib" ]; then paths+=("$d/$lib"); found=1; fi
  done
  [ -n "$found" ] || fail "a binary needs $lib: not in /usr/lib/$triplet or /lib/$triplet (deploy/install-deps.sh --arch $arch?)"
done
# "libssl3:arm64: /usr/lib/aarch64-linux-gnu/libssl.so.3" -> "libssl.so.3 libssl3"
{ dpkg -S "${paths[@]}" 2>/dev/null || true; } | sed -n 's|^\([^:,]*\)[^ ]* /.*/\([^/]*\)$|\2 \1|p' | sort -u >"$work/owners"
# Every Depends name as apt knows it for ARCH (one apt-cache call; unknown names print nothing).
query=()
for n in $(sort -u "$work"/*.names); do query+=("$n:$arch" "$n"); done
apt-cache show --no-all-versions "${query[@]}" 2>/dev/null |
  awk '/^Package: /{p=$2} /^Architecture: /{print p, $2}' | sort -u >"$work/apt"

for pkg in edge-controller edge-agent edgectl; do
  for lib in $(cat "$work/$pkg.needed"); do
    owner=$(awk -v l="$lib" '$1 == l { print $2; exit }' "$work/owners")
    [ -n "$owner" ] || fail "$pkg needs $lib: dpkg -S knows no $arch package for it"
    grep -Fqx "$owner" "$work/$pkg.names" || fail "$pkg: $lib comes from $owner, which Depends does not name: $(tr '\n' ' ' <"$work/$pkg.names")"
  done
  # A bare name in an ARCH package means name:ARCH; arch-independent packages count.
  for n in $(cat "$work/$pkg.names"); do
    awk -v n="$n" -v a="$arch" '$1 == n && ($2 == a || $2 == "all") { f = 1 } END { exit !f }' "$work/apt" || fail "$pkg: Depends names $n, which apt-cache does not know for $arch"
  done
  ok "$pkg: Depends covers its $(wc -l <"$work/$pkg.needed") NEEDED libraries; its $(wc -l <"$work/$pkg.names") names exist for $arch"
done
echo "check_debs: $arch packages in $dir are correct"
