#!/usr/bin/env bash
# Installs the Debian 12 packages edgefleet needs to build, test and run its demo.
# Idempotent: only missing packages are installed. Works as root or through sudo.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libboost-dev libssl-dev openssl libsqlite3-dev sqlite3
  nlohmann-json3-dev catch2 libsystemd-dev libexpected-dev libcli11-dev libfmt-dev
  libonnx-dev libonnx-testdata  # libonnx-testdata: tests/conformance (ONNX backend tests)
  clang-14 libclang-rt-14-dev  # tests/fuzz: libFuzzer and the sanitizer runtimes
  python3  # integration tests read JSON with it
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present" >&2
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1
  fi
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done" >&2
