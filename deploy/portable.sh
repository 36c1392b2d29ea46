#!/usr/bin/env bash
# Packs edge-agent and edgectl from a build tree into one self-contained directory and tarball
# with every shared library they load, glibc and its dynamic loader included:
#   edgefleet-agent-VERSION-ARCH/
#     bin/edge-agent, bin/edgectl   launchers: exec the bundled loader on libexec/PROGRAM
#     libexec/                      the programs as built, without debug info
#     lib/                          every library they need, resolved by the loader itself
#     edge-agent.service            the unit, for an install at /opt/edgefleet
# For gateways whose distribution is not Debian 12 (Jetson's JetPack 6 is Ubuntu 22.04, whose
# gRPC, protobuf and glibc are older): nothing is taken from the host but the kernel
# (Linux >= 3.2). docs/install.md says how to install it.
#   deploy/portable.sh BUILD_DIR [OUT_DIR]    (OUT_DIR defaults to BUILD_DIR/portable)
# Works for a native build and for the arm64 cross build (the arm64 loader runs under
# qemu-aarch64). Exit 1 with the reason if a library cannot be resolved or the result does
# not start.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
die() { echo "portable.sh: $*" >&2; exit 1; }
[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: deploy/portable.sh BUILD_DIR [OUT_DIR]" >&2; exit 2; }
build="$(cd "$1" && pwd)" || die "no build directory '$1'"
out="${2:-$build/portable}"

programs=("$build/agent/edge-agent" "$build/controller/edgectl")
for p in "${programs[@]}"; do [ -x "$p" ] || die "$p is missing: build the edge-agent and edgectl targets first"; done

machine="$(LC_ALL=C readelf -h "${programs[0]}" 2>/dev/null | sed -n 's/^ *Machine: *//p')" ||
  die "${programs[0]} is not an ELF executable"
case "$machine" in
  AArch64) arch=arm64; loader=/lib/ld-linux-aarch64.so.1; run=(qemu-aarch64); strip=aarch64-linux-gnu-strip ;;
  "Advanced Micro Devices X86-64") arch=amd64; loader=/lib64/ld-linux-x86-64.so.2; run=(); strip=strip ;;
  *) die "unsupported machine '$machine'" ;;
esac
if [ "$arch" = arm64 ] && [ "$(uname -m)" = aarch64 ]; then run=(); strip=strip; fi
[ -e "$loader" ] || die "$loader is missing (for arm64: deploy/install-deps.sh --arch arm64)"
version="$(sed -n 's/^project(edgefleet VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")"
name="edgefleet-agent-$version-$arch"
dest="$out/$name"
rm -rf "$dest"
mkdir -p "$dest/bin" "$dest/libexec" "$dest/lib"

# The loader's own resolution (--list) is the truth of what gets loaded: unlike ldd it works
# for a foreign architecture under qemu, and it follows the same search path as at run time.
for p in "${programs[@]}"; do
  listing="$("${run[@]}" "$loader" --list "$p" 2>&1)" || die "cannot resolve the libraries of $p: $listing"
  if grep -q 'not found' <<<"$listing"; then die "$p: $(grep 'not found' <<<"$listing" | head -3)"; fi
  while read -r lib; do
    cp -L "$lib" "$dest/lib/"
  done < <(sed -n 's/.*=> \(\/[^ ]*\) (0x.*/\1/p' <<<"$listing")
  prog="$(basename "$p")"
  install -m 0755 "$p" "$dest/libexec/"
  "$strip" --strip-debug "$dest/libexec/$prog"  # a build tree's debug info is most of its size
  cat >"$dest/bin/$prog" <<LAUNCH
#!/bin/sh
# Runs $prog with the libraries next to it, not the host's (deploy/portable.sh).
here="\$(cd "\$(dirname "\$(readlink -f "\$0")")/.." && pwd)"  # through symlinks (/usr/local/bin/edgectl)
exec "\$here/lib/$(basename "$loader")" --library-path "\$here/lib" --argv0 "\$0" "\$here/libexec/$prog" "\$@"
LAUNCH
  chmod 0755 "$dest/bin/$prog"
done
cp -L "$loader" "$dest/lib/"
chmod 0644 "$dest/lib/"*
chmod 0755 "$dest/lib/$(basename "$loader")"
sed -e 's|^ExecStart=/usr/bin/edge-agent|ExecStart=/opt/edgefleet/bin/edge-agent|' \
    -e 's|^Documentation=.*|Documentation=https://example.invalid/edgefleet/docs/install.md|' \
    "$root/deploy/systemd/edge-agent.service" >"$dest/edge-agent.service"
grep -q '^ExecStart=/opt/edgefleet/bin/edge-agent' "$dest/edge-agent.service" ||
  die "deploy/systemd/edge-agent.service has no ExecStart=/usr/bin/edge-agent line to rewrite"

# Self-check: every library the bundled loader resolves with the bundled path is in lib/, and
# both programs start from the bundle with an empty environment.
for prog in edge-agent edgectl; do
  listing="$(env -i "${run[@]}" "$dest/lib/$(basename "$loader")" --library-path "$dest/lib" --list "$dest/libexec/$prog")"
  outside="$(sed -n 's/.*=> \(\/[^ ]*\) (0x.*/\1/p' <<<"$listing" | grep -v "^$dest/lib/" || true)"
  [ -z "$outside" ] || die "$prog would load from outside the bundle: $outside"
done
if [ ${#run[@]} -eq 0 ] || command -v "${run[0]}" >/dev/null; then
  # a launcher is a shell script: under emulation the loader it execs is started by qemu
  for prog in edge-agent edgectl; do
    if [ ${#run[@]} -eq 0 ]; then
      env -i "$dest/bin/$prog" --help >/dev/null || die "$dest/bin/$prog --help failed"
    else
      env -i "${run[@]}" "$dest/lib/$(basename "$loader")" --library-path "$dest/lib" "$dest/libexec/$prog" --help \
        >/dev/null || die "$prog --help failed from the bundle"
    fi
  done
fi
tar -C "$out" -czf "$out/$name.tar.gz" "$name"
echo "$out/$name.tar.gz ($(du -sh "$dest" | cut -f1) unpacked, $(ls "$dest/lib" | wc -l) libraries)"
