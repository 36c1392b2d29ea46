#!/usr/bin/env bash
# A compromised device and anonymous enrollment callers: every malformed report is refused with
# a status that names the field and nothing of it is stored; a report flood is slowed and its
# events pruned; operators keep their latency; bogus enrollments are refused before any CSR
# work and rate-limited per source.
source "$(dirname "$0")/lib.sh"
probe() { "$LF_BIN/tests/integration/edge-probe" "$@"; }

one_agent_fleet
P="$LF_DIR/pki"
make_model "$LF_DIR/m.onnx"
b=$(lf_bundle kws v1 1 "$LF_DIR/m.onnx")
lf_edgectl model push "$b" 2>/dev/null || lf_die "push"
lf_edgectl deploy model kws:v1 --all-at-once --site plant-7 --wait --timeout 60s 2>/dev/null || lf_die "deploy"
lf_kill_agent gw-1  # the probe now speaks for gw-1, with its certificate
G=(--addr "127.0.0.1:$LF_AGENT_PORT" --ca "$P/fleet-ca.pem" --cert "$LF_DIR/gw-1/identity/cert.pem" --key "$LF_DIR/gw-1/identity/key.pem")
rows() { lf_edgectl describe device gw-1 -o json | grep -v -e last_seen -e updated_at -e received_at; }

step "malformed reports are refused and nothing of them is stored"
probe "${G[@]}" hello --model kws --version v1 >/dev/null || lf_die "a well-formed hello was refused"
before=$(rows)
expect_fail 1 "INVALID_ARGUMENT.*target_version must be" probe "${G[@]}" hostile --case huge-version
expect_fail 1 "INVALID_ARGUMENT.*state must be" probe "${G[@]}" hostile --case escape-state
expect_fail 1 "INVALID_ARGUMENT.*below 2\\^63" probe "${G[@]}" hostile --case max-floor
expect_fail 1 "INVALID_ARGUMENT.*at most 64" probe "${G[@]}" hostile --case many-models
expect_fail 1 "INVALID_ARGUMENT.*reported twice" probe "${G[@]}" hostile --case duplicate-model
[ "$(rows)" = "$before" ] || lf_die "a refused report changed gw-1's rows"
lf_edgectl get devices | grep -q $'\e' && lf_die "an escape byte reached the devices table"
ok "gw-1's rows unchanged; get devices works"

step "an event flood is slowed and pruned; operators keep their latency"
probe "${G[@]}" hostile --case event-flood --seconds 4 >"$LF_DIR/flood.out" &
flood=$!
worst=0
for _ in 1 2 3 4 5 6; do
  t0=$(date +%s%N)
  lf_edgectl get devices >/dev/null || lf_die "get devices failed during the flood"
  ms=$((($(date +%s%N) - t0) / 1000000))
  [ "$ms" -gt "$worst" ] && worst=$ms
  sleep 0.4
done
wait "$flood"
cat "$LF_DIR/flood.out"
acked=$(sed -n 's/.*acked_up_to: \([0-9]*\).*/\1/p' "$LF_DIR/flood.out")
sent=$(sed -n 's/.*events: \([0-9]*\).*/\1/p' "$LF_DIR/flood.out")
elapsed_ms=$(sed -n 's/.*elapsed_ms: \([0-9]*\).*/\1/p' "$LF_DIR/flood.out")
# 20 reports at once, then 5 a second (plus the hello and one in flight).
allowed=$(((22 + 5 * elapsed_ms / 1000 + 5) * 256))
[ "${acked:-0}" -le "$allowed" ] || lf_die "the controller took $acked events in ${elapsed_ms} ms (rate limit: $allowed)"
stored=$(sqlite3 "$LF_DIR/controller/controller.db" "SELECT count(*) FROM device_events WHERE device_id = 'gw-1'")
[ "$stored" -le 1000 ] || lf_die "$stored events stored for gw-1 (bound 1000)"
[ "$worst" -lt $((1000 * LF_TS)) ] || lf_die "an operator call took ${worst} ms during the flood"
ok "sent $sent events, controller took $acked, kept $stored; slowest get devices ${worst} ms"

step "operator-supplied names are checked before any lookup, and errors never echo them"
long=$(head -c 100000 /dev/zero | tr '\0' a)
expect_fail 1 "site name must be" lf_edgectl get devices --site "$long"
expect_fail 1 "site name must be" lf_edgectl deploy model "kws:v1" --all-at-once --site "x$(printf '\033')[2J"
expect_fail 1 "version must be" lf_edgectl deploy model "kws:$long" --all-at-once --site plant-7
expect_fail 1 "device id must match" lf_edgectl describe device "$long"
out=$(lf_edgectl get devices --site "$long" 2>&1)
[ "${#out}" -lt 1000 ] || lf_die "the error echoed ${#out} bytes"

step "bogus enrollments are refused before any CSR work, then rate-limited per source"
sed -e 's/"gw-1"/"gw-x"/' -e "s|$LF_DIR/gw-1|$LF_DIR/gw-x|g" "$LF_DIR/gw-1.json" >"$LF_DIR/gw-x.json"
bogus="edt_$(printf '%064d' 7)"
sed -i "s|\"enrollment_token\": \"[^\"]*\"|\"enrollment_token\": \"$bogus\"|" "$LF_DIR/gw-x.json"
for _ in 1 2 3 4 5; do
  expect_fail 77 "enrollment token is not valid" "$LF_BIN/agent/edge-agent" --config "$LF_DIR/gw-x.json"
done
# The limiter allows 5 failures, then one per 6 s: the next attempt is refused on a quiet
# machine. Where an attempt (an agent process start) takes a second or more (emulation, an
# oversubscribed CI host), the refill lets a few more through before the bucket runs dry; every
# one of those must still be refused as bogus.
limited=0
for _ in $(seq 1 12); do
  out=$("$LF_BIN/agent/edge-agent" --config "$LF_DIR/gw-x.json" 2>&1); rc=$?
  if [ $rc -eq 1 ] && grep -q "too many failed enrollment attempts" <<<"$out"; then limited=1; break; fi
  { [ $rc -eq 77 ] && grep -q "enrollment token is not valid" <<<"$out"; } || lf_die "attempt ended $rc: $out"
done
[ $limited = 1 ] || lf_die "failed enrollments from one source were never rate-limited"
ok "refused (1): too many failed enrollment attempts"
grep -q '"bad CSR' "$LF_DIR/controller.log" && lf_die "a CSR was looked at for a bogus token"
[ ! -e "$LF_DIR/gw-x/identity/cert.pem" ] || lf_die "gw-x got a certificate"
echo "PASS"
