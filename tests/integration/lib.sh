# shellcheck shell=bash
# Helpers for integration tests: a fresh work dir per test, cleanup on exit, assertions.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${LF_BIN:?run through ctest, or set LF_BIN to the build directory}"
LF_DIR="$(mktemp -d "${TMPDIR:-/tmp}/edgefleet-it.XXXXXX")"
export LF_BIN LF_DIR
# shellcheck source=../../deploy/lib/localfleet.sh
source "$here/../../deploy/lib/localfleet.sh"

it_finish() {
  local rc=$?
  lf_cleanup
  if [ $rc -ne 0 ]; then
    echo "--- test failed (rc=$rc); logs in $LF_DIR ---"
    for f in "$LF_DIR"/*.log; do echo "== $f (tail)"; tail -n 15 "$f"; done
  else
    rm -rf "$LF_DIR"
  fi
}
trap it_finish EXIT

step() { echo "== $*"; }
ok() { echo "   ok: $*"; }

# expect_fail EXPECTED_EXIT PHRASE cmd... : the command fails with that exit code and its
# output names the problem.
expect_fail() {
  local want=$1 phrase=$2; shift 2
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" -ne "$want" ]; then lf_die "expected exit $want from '$*', got $rc: $out"; fi
  if ! grep -qi -- "$phrase" <<<"$out"; then lf_die "expected '$phrase' in output of '$*': $out"; fi
  ok "rejected ($rc): $(head -n 1 <<<"$out" | cut -c1-160)"
}

expect_contains() {  # PHRASE TEXT
  grep -q -- "$1" <<<"$2" || lf_die "expected '$1' in: $2"
}

# Random bytes standing in for a model file (the engine is not involved in these tests).
make_model() { head -c "${2:-200000}" /dev/urandom >"$1"; }

all_online() { lf_fleet_online "$1"; }
