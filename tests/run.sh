#!/usr/bin/env bash
# The one test command: install what is missing, configure, build, run every test.
# Exits non-zero on any failure.
#
#   tests/run.sh [ctest args...]
#       The native (x86-64) suite, the fuzz smoke run, then the arm64 check: the engine and
#       unit tests cross-built for arm64 and run under qemu-aarch64 (EDGE_SKIP_ARM64=1 skips it).
#   tests/run.sh --arch arm64 [--cpu cortex-a72|cortex-a76|max] [ctest args...]
#       The whole suite (integration tests included) cross-built for arm64 and run under
#       qemu-aarch64 with the given emulated CPU (default max). Scripts start the arm64 binaries
#       through binfmt_misc, which this registers for qemu-aarch64 if it is not (root or sudo).
# EDGE_JOBS sets the build jobs (default nproc), EDGE_TEST_JOBS the native tests run at once
# (default twice EDGE_JOBS: the integration scripts mostly wait).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

arch=native
cpu=max
while [ $# -gt 0 ]; do
  case "$1" in
    --arch)
      [ "${2:-}" = arm64 ] || { echo "run.sh: --arch takes arm64 (got '${2:-}')" >&2; exit 2; }
      arch=arm64; shift 2 ;;
    --cpu)
      case "${2:-}" in cortex-a72|cortex-a76|max) cpu="$2" ;;
        *) echo "run.sh: --cpu takes cortex-a72, cortex-a76 or max (got '${2:-}')" >&2; exit 2 ;; esac
      shift 2 ;;
    *) break ;;
  esac
done

# Paths relative to the checkout in ccache keys (and not the directory itself), so a fresh
# clone reuses earlier builds.
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
jobs="${EDGE_JOBS:-$(nproc)}"

# What every run checks on arm64: the engine's tests (every kernel tier against the scalar
# reference, the zoo against the x86-64 recording, tier detection per emulated CPU) and the unit
# tests of the pure libraries under them (core, bundle verification, crypto, the self-test and
# health gate). The agent's, controller's and network unit tests and the integration suites
# run in the full arm64 run (--arch arm64): their cross build alone would double the suite's
# time on two cores.
arm64_ci_targets=(edge_engine_tests edge_engine_alloc_tests test_core test_crypto test_bundle test_runtime)

# Lets the kernel run arm64 executables through qemu-aarch64 (the integration scripts start
# the agent and controller themselves). QEMU_CPU, exported below, picks the emulated CPU.
register_binfmt() {
  local dir=/proc/sys/fs/binfmt_misc sudo=""
  [ -e "$dir/qemu-aarch64" ] && return 0
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  [ -e "$dir/register" ] || $sudo mount -t binfmt_misc binfmt_misc "$dir"
  # ELF64, little-endian, e_machine 0xb7 (AArch64), executables and shared objects (PIE).
  echo ':qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64:' |
    $sudo tee "$dir/register" >/dev/null
  echo "run.sh: registered qemu-aarch64 with binfmt_misc" >&2
}

run_arm64() {  # scope: ci (engine and unit tests) or full
  local scope="$1"
  shift
  export QEMU_CPU="$cpu"
  cmake --preset arm64 >/dev/null
  if [ "$scope" = ci ]; then
    cmake --build --preset arm64 -j "$jobs" --target "${arm64_ci_targets[@]}"
    echo "run.sh: arm64 engine and unit tests under qemu-aarch64 -cpu $cpu" >&2
    # Left to the full run: end-to-end cases whose logic has no architecture-specific code
    # (the quantizer over the zoo, batch-8 and four-thread equality, top-1 agreement, a 1000-input
    # Sum) and that take minutes under emulation; the zoo's numbers on arm64 are checked bit for
    # bit by the cross-architecture case.
    ctest --preset arm64 -j "$jobs" --timeout 900 -R '^(engine|engine alloc|core|crypto|bundle|runtime)[:.]' \
      -E '^engine\.|held-out SNR|at batch 8 equals|keep top-1 agreement|variadic Sum of 1000|shared by four threads|--min-snr' "$@"
  else
    register_binfmt
    cmake --build --preset arm64 -j "$jobs"
    # The integration tests' waits, soak windows and latency bounds are sized for a native
    # CPU; an emulated one runs 10-30x slower. deploy/lib/localfleet.sh multiplies them all.
    export EDGE_TIME_SCALE="${EDGE_TIME_SCALE:-5}"
    echo "run.sh: the whole suite for arm64 under qemu-aarch64 -cpu $cpu (EDGE_TIME_SCALE=$EDGE_TIME_SCALE)" >&2
    ctest --preset arm64 -j "$jobs" --timeout 900 "$@"
  fi
}

if [ "$arch" = arm64 ]; then
  deploy/install-deps.sh --arch arm64
  run_arm64 full "$@"
  exit 0
fi

if [ "${EDGE_SKIP_ARM64:-0}" = 1 ]; then deploy/install-deps.sh; else deploy/install-deps.sh --arch arm64; fi
preset="${EDGE_PRESET:-ci}"
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$jobs"
# Twice as many tests at once as CPUs: the integration scripts wait about half of their time
# (at -j nproc the CPUs were half idle: 309 s wall for 311 s of CPU on two; at -j4, 191 s).
ctest --preset "$preset" -j "${EDGE_TEST_JOBS:-$((jobs * 2))}" --timeout 300 "$@"
# A short fuzz smoke run of every parser that takes hostile input (tests/fuzz/run.sh builds
# its own clang preset). EDGE_SKIP_FUZZ=1 skips it; EDGE_FUZZ_SECONDS sets the time per target.
if [ "${EDGE_SKIP_FUZZ:-0}" != 1 ]; then
  tests/fuzz/run.sh "${EDGE_FUZZ_SECONDS:-5}"
fi
if [ "${EDGE_SKIP_ARM64:-0}" != 1 ]; then
  run_arm64 ci
fi
