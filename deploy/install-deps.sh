#!/usr/bin/env bash
# Installs the Debian 12 packages edgefleet needs to build, test and run its demo.
# Idempotent: only missing packages are installed. Works as root or through sudo.
#   deploy/install-deps.sh               the native (host) build
#   deploy/install-deps.sh --arch arm64  also the arm64 cross toolchain, qemu-user and the
#                                        arm64 (multiarch) libraries: tests/run.sh --arch arm64
set -euo pipefail

cross=""
case "${1:-}" in
  "") ;;
  --arch)
    [ "${2:-}" = arm64 ] || { echo "install-deps: --arch takes arm64 (got '${2:-}')" >&2; exit 2; }
    cross=arm64 ;;
  *) echo "install-deps: unknown argument '$1' (usage: install-deps.sh [--arch arm64])" >&2; exit 2 ;;
esac

PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libboost-dev libssl-dev openssl libsqlite3-dev sqlite3
  nlohmann-json3-dev catch2 libsystemd-dev libexpected-dev libcli11-dev libfmt-dev
  libonnx-dev libonnx-testdata  # libonnx-testdata: tests/conformance (ONNX backend tests)
  clang-14 libclang-rt-14-dev  # tests/fuzz: libFuzzer and the sanitizer runtimes
  python3 python3-yaml  # integration tests read JSON (and edgectl's -o yaml) with it
  curl  # tests/integration/metrics_test.sh scrapes /metrics
  chromium libnss3-tools  # tests/integration/dashboard_test.sh: the dashboard in headless Chromium with an operator certificate
  strace  # tests/integration/backup_restore_test.sh stretches a restore's swap to start a controller inside it
  file systemd  # tests/packaging: CPack's dpkg-shlibdeps step needs file; systemd-analyze verify
  libpq-dev  # the controller's PostgreSQL store (libpq; cmake -DEDGE_POSTGRES=OFF builds without it)
  postgresql  # PostgreSQL 15 server: the store tests' throwaway server (tests/support/postgres.sh)
)
# The libraries the arm64 build links, as multiarch packages (they install beside the host's).
# Header-only and arch-independent files (nlohmann-json, tl-expected, CLI11, ONNX's
# onnx.proto: libonnx-dev:arm64 cannot be co-installed, its libonnxifi clashes) and the host's
# protoc/grpc_cpp_plugin serve both builds. Debian's catch2 is not co-installable (it is
# Multi-Arch: foreign), so the arm64 tests use their own main (tests/support/catch_main.cpp).
# libpq-dev:arm64 is not co-installable either (libpq-dev has no Multi-Arch field: installing it
# removes the host's), so the arm64 presets build without the PostgreSQL store (EDGE_POSTGRES=OFF).
CROSS_PACKAGES=(
  crossbuild-essential-arm64 qemu-user
  libgrpc++-dev:arm64 libprotobuf-dev:arm64 libssl-dev:arm64 libsqlite3-dev:arm64
  libsystemd-dev:arm64 libfmt-dev:arm64 libboost-dev:arm64
)

native="$(dpkg --print-architecture)"
# Installed for the right architecture: "p" means the host's (or an arch-independent package),
# "p:arm64" the foreign one. A foreign copy of a library must not count as the host's.
installed() {
  local name="${1%%:*}" want="${1#*:}"
  [ "$want" = "$1" ] && want="$native"
  dpkg-query -W -f='${Status} ${Architecture}\n' "$name" 2>/dev/null |
    grep -Eq "^install ok installed ($want|all)\$"
}

wanted=("${PACKAGES[@]}")
[ -n "$cross" ] && wanted+=("${CROSS_PACKAGES[@]}")
missing=()
for p in "${wanted[@]}"; do
  installed "$p" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#wanted[@]} packages present" >&2
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1
  fi
fi
if [ -n "$cross" ] && ! dpkg --print-foreign-architectures | grep -qx "$cross"; then
  echo "install-deps: adding the $cross architecture to dpkg" >&2
  $SUDO dpkg --add-architecture "$cross"
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done" >&2
