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

# make_model FILE [ZOO_MODEL]: a real model (the agent loads and gates every version it
# activates), made unique by a random doc_string appended as an extra protobuf field (ONNX
# ModelProto field 6; the last occurrence wins), so every call gives a blob never seen before.
make_model() {
  cp "$here/../models/zoo/${2:-mlp_anomaly.qdq}.onnx" "$1" || lf_die "zoo model ${2:-mlp_anomaly.qdq} missing"
  printf '\x32\x10%s' "$(tr -dc 'a-f0-9' </dev/urandom | head -c 16)" >>"$1"
}

all_online() { lf_fleet_online "$1"; }

# make_npy FILE SHAPE COUNT BYTES: a float32 .npy of COUNT copies of one little-endian value,
# e.g. make_npy x.npy "(1, 64)" 64 '\x00\x00\x80\x3f' (1.0). Written by hand: the test suite
# needs no Python.
make_npy() {
  local hdr="{'descr': '<f4', 'fortran_order': False, 'shape': $2, }"
  local pad=$(((64 - (10 + ${#hdr} + 1) % 64) % 64))
  hdr="$hdr$(printf '%*s' "$pad" '')"
  local len=$((${#hdr} + 1)) i
  {
    printf '\x93NUMPY\x01\x00'
    printf "\\x$(printf %02x $((len & 255)))\\x$(printf %02x $((len >> 8)))"
    printf '%s\n' "$hdr"
    for ((i = 0; i < $3; i++)); do printf "$4"; done
  } >"$1"
}

# infer_version AGENT MODEL [edgectl infer flags]: the version that answers a request now.
infer_version() {
  lf_edgectl infer "$2" --socket "$LF_DIR/$1/infer.sock" "${@:3}" -o json 2>/dev/null |
    tr ",{" "\n\n" | sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' | head -n 1
}

# device_state AGENT: the update state the controller shows for the agent (one model per agent
# in these tests): the STATE column of `edgectl get devices`.
device_state() { lf_edgectl get devices 2>/dev/null | awk -v d="$1" '$1 == d { print $5 }'; }
state_is() { [ "$(device_state "$1")" = "$2" ]; }

# one_agent_fleet [agent config JSON members]: a PKI, a controller, site plant-7 and its agent
# gw-1, online.
one_agent_fleet() {
  lf_pki
  lf_start_controller
  lf_edgectl create site plant-7 2>/dev/null || lf_die "create site"
  lf_add_agent gw-1 plant-7 "${1:-}"
  lf_wait_for 30 all_online 1 || lf_die "agent not online"
}

# mlp_selftest ZOO_MODEL OUT: self-test vectors of a zoo MLP for the input $LF_DIR/ok.npy (all
# 0.5), which it also writes.
mlp_selftest() {
  make_npy "$LF_DIR/ok.npy" "(1, 64)" 64 '\x00\x00\x00\x3f'
  lf_edgectl bundle selftest --model "$here/../models/zoo/$1.onnx" --input "$LF_DIR/ok.npy" --out "$2" 2>/dev/null ||
    lf_die "bundle selftest $1"
}

# context_file NAME KEY=VALUE...: a contexts file $LF_DIR/NAME.json made from the PKI's
# (lf_pki), its current context's keys replaced (a number stays a number); later pairs win.
context_file() {
  local name=$1; shift
  python3 - "$LF_DIR/pki/edgectl.json" "$LF_DIR/$name.json" "$@" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
context = config["contexts"][config["current_context"]]
for kv in sys.argv[3:]:
    key, value = kv.split("=", 1)
    context[key] = int(value) if value.isdigit() else value
json.dump(config, open(sys.argv[2], "w"))
PY
}
