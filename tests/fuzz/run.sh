#!/usr/bin/env bash
# Builds the fuzz preset (the libFuzzer targets only) and runs every target for SECONDS
# (default 5): the smoke run of tests/run.sh, or a longer campaign with a bigger SECONDS.
# Fails if any target finds a crash, a leak, a timeout or an out-of-memory; the input is kept
# in build/fuzz/crashes/<target>-{crash,leak,timeout,oom}-<sha1>. Reproduce with
#   build/fuzz/tests/fuzz/fuzz_<target> build/fuzz/crashes/<file>
# The corpus each target grows stays in build/fuzz/corpus/<target> and seeds the next run.
# Usage: tests/fuzz/run.sh [SECONDS]   env: EDGE_FUZZ_JOBS (parallel targets, default nproc),
#        EDGE_FUZZ_TARGETS (space-separated subset, e.g. "manifest config")
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

seconds="${1:-5}"
[[ "$seconds" =~ ^[0-9]+$ && "$seconds" -gt 0 ]] || { echo "usage: $0 [SECONDS]" >&2; exit 2; }
jobs="${EDGE_FUZZ_JOBS:-$(nproc)}"
targets=(${EDGE_FUZZ_TARGETS:-envelope manifest trust_policy json_depth config bundle_file health_report onnx_load selector client_hello})

export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
# UBSan findings come with a stack (libFuzzer prints one for ASan and signals itself).
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"
t0=$SECONDS
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "${EDGE_JOBS:-$(nproc)}"
build_s=$((SECONDS - t0))

out=build/fuzz
bin="$out/tests/fuzz"
rm -rf "$out/seeds" "$out/logs"
mkdir -p "$out/seeds" "$out/logs" "$out/crashes"
"$bin/fuzz_make_seeds" "$out/seeds"
mkdir -p "$out/seeds/config" "$out/seeds/onnx_load" "$out/seeds/selector"
cp deploy/config/*.json "$out/seeds/config/"
printf 'line=3,camera!=ir,gpu,!retired' >"$out/seeds/selector/selector"
printf 'line=3 camera- tier=' >"$out/seeds/selector/edits"
printf '25.5%%' >"$out/seeds/selector/amount"

# Per-target limits: -max_len (bytes), -timeout (seconds per input). The ONNX loader compiles
# and runs a whole model per input, so it gets longer inputs and more time each; the zoo
# models that fit its max_len are its seeds.
onnx_max_len=65536
find tests/models/zoo -name '*.onnx' -size -$((onnx_max_len + 1))c -exec cp {} "$out/seeds/onnx_load/" \;
declare -A max_len=([bundle_file]=16384 [onnx_load]=$onnx_max_len)
declare -A timeout=([onnx_load]=20)
declare -A dict=([envelope]=1 [manifest]=1 [trust_policy]=1 [json_depth]=1 [config]=1 [bundle_file]=1)

run_target() {
  local t="$1"
  local args=(-max_total_time="$seconds" -timeout="${timeout[$t]:-5}" -rss_limit_mb=2048
              -max_len="${max_len[$t]:-8192}" -print_final_stats=1
              -artifact_prefix="$out/crashes/$t-")
  [[ -n "${dict[$t]:-}" ]] && args+=(-dict=tests/fuzz/json.dict)
  mkdir -p "$out/corpus/$t"
  local rc=0
  "$bin/fuzz_$t" "${args[@]}" "$out/corpus/$t" "$out/seeds/$t" >"$out/logs/$t.log" 2>&1 || rc=$?
  echo "$rc" >"$out/logs/$t.rc"
}

# One line per target from its log: runs, coverage and features from libFuzzer's last status
# line, and the verdict.
summarize() {
  local t="$1" rc="$2" log="$out/logs/$t.log"
  local last runs
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  local cov ft corp
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
  if [[ "$rc" -eq 0 ]]; then
    printf '%-14s ok      runs %-9s cov %-6s ft %-6s corpus %s\n' "$t" "${runs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}"
  else
    local kept
    kept=$(sed -n 's/.*Test unit written to \(.*\)/\1/p' "$log" | tail -n 1)
    local what
    what=$(grep -m1 -E '^==[0-9]+==ERROR|^SUMMARY|fuzz property violated|ALARM|out-of-memory|deadly signal' "$log" || true)
    printf '%-14s FAILED  (exit %s) %s\n               input: %s\n               log:   %s\n' \
      "$t" "$rc" "${what:-see the log}" "${kept:-none written}" "$log"
  fi
}

t1=$SECONDS
running=0
for t in "${targets[@]}"; do
  [[ -x "$bin/fuzz_$t" ]] || { echo "fuzz: no target fuzz_$t" >&2; exit 2; }
  if (( running >= jobs )); then
    wait -n || true
    running=$((running - 1))
  fi
  run_target "$t" &
  running=$((running + 1))
done
wait
failed=0
for t in "${targets[@]}"; do
  rc=$(cat "$out/logs/$t.rc" 2>/dev/null || echo 1)
  summarize "$t" "$rc"
  (( rc == 0 )) || failed=1
done
echo "fuzz: build ${build_s}s, ${#targets[@]} targets x ${seconds}s in $((SECONDS - t1))s (${jobs} at a time)"
exit "$failed"
