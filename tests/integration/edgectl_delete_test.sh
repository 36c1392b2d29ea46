#!/usr/bin/env bash
# `edgectl delete` (device, token, operator, site, model) against a running fleet, and -l
# selectors on describe, revoke and delete device: what each removes or retires, its audit row,
# -o json and -o yaml, "not found" (exit 1) and --ignore-not-found, the site and the model
# version that cannot go while something uses them, the blob files a deleted version takes with
# it (and the shared ones it leaves), a backup that verifies after, and mass actions by selector
# that list what they would hit and need --yes.
source "$(dirname "$0")/lib.sh"

E="$LF_BIN/controller/edgectl"
lf_pki
lf_start_controller
"$E" create site plant-7 2>/dev/null || lf_die "create site"
for gw in gw-1 gw-2 gw-3; do lf_add_agent "$gw" plant-7; done
lf_wait_for 30 all_online 3 || lf_die "agents not online"
"$E" label device gw-1 line=3 >/dev/null 2>&1 && "$E" label device gw-2 line=3 >/dev/null 2>&1 &&
  "$E" label device gw-3 line=4 >/dev/null 2>&1 || lf_die "label devices"

# jq_py EXPR: evaluates a Python expression on the JSON read from stdin (as `j`).
jq_py() { python3 -c "import json, sys; j = json.load(sys.stdin); print($1)"; }
audit_rows() {  # ACTION → the audit rows of that action, one "target detail" per line
  "$E" get audit --action "$1" -o json | jq_py "'\n'.join(a['target'] + ' ' + a['detail'] for a in j)"
}

step "describe device -l: every matching device"
ids=$("$E" describe device -l line=3 -o json | jq_py "','.join(d['id'] for d in j)")
[ "$ids" = "gw-1,gw-2" ] || lf_die "describe device -l line=3 -o json gave: $ids"
out=$("$E" describe device -l line=3) || lf_die "describe device -l line=3"
[ "$(grep -c '^Device: ' <<<"$out")" = 2 ] || [ "$(grep -c 'gw-[12]' <<<"$out")" -ge 2 ] || lf_die "describe -l table: $out"
expect_fail 1 "no device matches -l line=9" "$E" describe device -l line=9
ok "gw-1 and gw-2"

step "a mass action by selector lists what it would hit and needs consent"
expect_fail 2 "revoke device: -l line=3 matches 2 device(s): gw-1 (plant-7), gw-2 (plant-7)" "$E" revoke device -l line=3
expect_fail 2 "run the same command with --confirm [0-9a-f]\{12\} to delete device exactly these devices" \
  "$E" delete device -l line=3 --reason test
[ -z "$(audit_rows device.revoke)$(audit_rows device.decommission)" ] || lf_die "a refused mass action changed something"
lf_wait_for 5 all_online 3 || lf_die "a device went offline after a refused mass action"
expect_fail 1 "no device matches -l line=9: nothing to delete device" "$E" delete device -l line=9 --yes
expect_fail 1 "label value .* may only have" "$E" delete device -l "line=a b" --yes
ok "nothing changed without consent"

step "--confirm acts only on the devices that were listed"
token=$("$E" revoke device -l line=3 2>&1 | sed -n 's/.*--confirm \([0-9a-f]\{12\}\).*/\1/p')
[ -n "$token" ] || lf_die "the list printed no --confirm token"
# Someone labels a third device between the list and the confirmation: nothing is revoked.
"$E" label device gw-3 line=3 >/dev/null 2>&1 || lf_die "label gw-3"
expect_fail 1 "not the ones confirmed" "$E" revoke device -l line=3 --confirm "$token" --reason "line 3 stolen"
[ -z "$(audit_rows device.revoke)" ] || lf_die "a confirmation of another set revoked something"
"$E" label device gw-3 line=4 >/dev/null 2>&1 || lf_die "label gw-3 back"
check_usage() { expect_fail 2 "$1" "$E" revoke device "${@:2}"; }
check_usage "not both" -l line=3 --confirm "$token" --yes
check_usage "go with -l SELECTOR" gw-1 --confirm "$token"
ok "a changed set is refused (exit 1); --confirm and --yes are exclusive"

step "revoke device -l --confirm revokes each, -o json lists them"
revoked=$("$E" revoke device -l line=3 --confirm "$token" --reason "line 3 stolen" -o json) || lf_die "revoke -l --confirm: $revoked"
[ "$(jq_py "','.join(d['id'] for d in j if d['revoked'])" <<<"$revoked")" = "gw-1,gw-2" ] || lf_die "revoke -o json: $revoked"
rows=$(audit_rows device.revoke)
[ "$(grep -c 'reason=line 3 stolen' <<<"$rows")" = 2 ] || lf_die "device.revoke audit rows: $rows"
lf_wait_for 10 all_online 1 || lf_die "the revoked devices are still online"
ok "gw-1 and gw-2 revoked, two audit rows"

step "delete device: decommission, one by id or several by selector"
deleted=$("$E" delete device -l line=3 --yes --reason "line 3 retired" -o yaml) || lf_die "delete -l --yes: $deleted"
grep -q '^- ' <<<"$deleted" && grep -q 'id: "gw-1"' <<<"$deleted" && grep -q 'id: "gw-2"' <<<"$deleted" ||
  lf_die "delete device -l -o yaml: $deleted"
rows=$(audit_rows device.decommission)
[ "$(grep -c 'reason=line 3 retired' <<<"$rows")" = 2 ] || lf_die "device.decommission audit rows: $rows"
expect_fail 1 "no device named 'gw-1'" "$E" delete device gw-1
out=$("$E" delete device gw-1 --ignore-not-found 2>&1) || lf_die "--ignore-not-found exited $?: $out"
expect_contains "ignored: --ignore-not-found" "$out"
ok "gw-1 and gw-2 decommissioned; deleting again: not found, or 0 with --ignore-not-found"

step "delete site: refused while anything uses it, then removed with its dead tokens"
expect_fail 1 "site 'plant-7' is still in use: 1 device(s), e.g. gw-3; remove each with: edgectl delete device gw-3" \
  "$E" delete site plant-7
one=$("$E" delete device gw-3 -o json) || lf_die "delete device gw-3"
[ "$(jq_py "j['id'] + ' ' + j['site'] + ' ' + str(len(j['denied_serials']))" <<<"$one")" = "gw-3 plant-7 1" ] ||
  lf_die "delete device -o json: $one"
token=$("$E" token create --site plant-7 2>/dev/null) || lf_die "token create"
id=$("$E" token list --site plant-7 -o json | jq_py "j[0]['id']")
expect_fail 1 "enrollment token $id is unused and not expired; revoke it with: edgectl delete token $id" "$E" delete site plant-7
out=$("$E" delete token "$id" --reason "not needed" -o json) || lf_die "delete token: $out"
[ "$(jq_py "j['state']" <<<"$out")" = revoked ] || lf_die "delete token -o json: $out"
"$E" delete token "$id" >/dev/null 2>&1 || lf_die "deleting a revoked token again is not idempotent"
expect_contains "token=$id reason=not needed" "$(audit_rows token.revoke)"
site=$("$E" delete site plant-7 --reason "plant closed" -o json) || lf_die "delete site: $site"
[ "$(jq_py "j['name'] + ' ' + str(len(j['removed_tokens']))" <<<"$site")" = "plant-7 4" ] || lf_die "delete site -o json: $site"
expect_contains "site/plant-7 tokens_removed=" "$(audit_rows site.delete)"
expect_contains "reason=plant closed" "$(audit_rows site.delete)"
expect_fail 1 "site 'plant-7' does not exist" "$E" delete site plant-7
"$E" delete site plant-7 --ignore-not-found >/dev/null 2>&1 || lf_die "delete site --ignore-not-found"
[ "$("$E" get sites -o json | jq_py "len(j)")" = 0 ] || lf_die "the site is still listed"
ok "plant-7 gone with its 4 token records, one audit row"

step "delete operator: revoked, and refused from then on"
"$E" pki operator --dir "$LF_DIR/pki" --fleet "$LF_FLEET" bob 2>/dev/null || lf_die "pki operator bob"
"$E" operator add bob --role deployer 2>/dev/null || lf_die "operator add bob"
out=$("$E" delete operator bob --reason "left" -o json) || lf_die "delete operator: $out"
[ "$(jq_py "str(j['revoked'])" <<<"$out")" = True ] || lf_die "delete operator -o json: $out"
"$E" delete operator bob >/dev/null 2>&1 || lf_die "deleting a revoked operator again is not idempotent"
expect_contains "operator/bob serial=- reason=left" "$(audit_rows operator.revoke)"
expect_fail 1 "no operator named 'carol'" "$E" delete operator carol
ok "bob revoked once, one audit row"

step "delete model: v1 goes with the blobs only it had, v2 stays while a device wants it"
"$E" create site plant-9 2>/dev/null && "$E" create site plant-empty 2>/dev/null || lf_die "create sites"
lf_add_agent gw-9 plant-9
lf_wait_for 30 all_online 1 || lf_die "gw-9 not online"
mlp_selftest mlp_anomaly.qdq "$LF_DIR/selftest.json"  # one self-test blob: shared by v1 and v2
make_model "$LF_DIR/v1.onnx"
make_model "$LF_DIR/v2.onnx"
b1=$(lf_bundle mlp v1 1 "$LF_DIR/v1.onnx" --selftest "$LF_DIR/selftest.json")
b2=$(lf_bundle mlp v2 1 "$LF_DIR/v2.onnx" --selftest "$LF_DIR/selftest.json")
"$E" model push "$b1" 2>/dev/null && "$E" model push "$b2" 2>/dev/null || lf_die "push v1, v2"
digests() { (cd "$1/blobs" && ls) | sort; }  # a bundle dir holds blobs/<sha256>
only_v1=$(comm -23 <(digests "$b1") <(digests "$b2"))
shared=$(comm -12 <(digests "$b1") <(digests "$b2"))
[ "$(wc -w <<<"$only_v1")" = 1 ] && [ "$(wc -w <<<"$shared")" = 1 ] || lf_die "bundles: v1 only $only_v1, shared $shared"
live="$LF_DIR/controller/blobs/sha256"
for d in $only_v1 $shared; do [ -f "$live/$d" ] || lf_die "blob $d not in the controller's store after push"; done
"$E" deploy model mlp:v2 --site plant-9 --all-at-once --wait --timeout 60s 2>/dev/null || lf_die "deploy v2"
# A rollout of v1 to a site without devices stands, so v1 is still needed until it is aborted.
rollout=$("$E" deploy model mlp:v1 --site plant-empty --allow-empty --all-at-once -o json | jq_py "j['id']") ||
  lf_die "deploy v1 to plant-empty"
expect_fail 1 "model mlp:v1 is still needed: rollout $rollout (completed): its target is standing.*; end it with: edgectl rollout abort $rollout" \
  "$E" delete model mlp:v1
"$E" rollout abort "$rollout" 2>/dev/null || lf_die "rollout abort $rollout"
"$E" pki operator --dir "$LF_DIR/pki" --fleet "$LF_FLEET" dave 2>/dev/null && "$E" operator add dave --role deployer 2>/dev/null ||
  lf_die "deployer dave"
context_file dave "cert=$LF_DIR/pki/operators/dave.pem" "key=$LF_DIR/pki/operators/dave.key"
expect_fail 77 "DeleteModelVersion needs the admin role; operator dave is a deployer" \
  env EDGECTL_CONFIG="$LF_DIR/dave.json" "$E" delete model mlp:v1
out=$("$E" delete model mlp:v1 --reason "never shipped" -o json) || lf_die "delete model mlp:v1: $out"
[ "$(jq_py "j['model'] + ':' + j['version'] + ' ' + ' '.join(j['removed_blobs']) + ' / ' + ' '.join(j['shared_blobs'])" <<<"$out")" = \
  "mlp:v1 $only_v1 / $shared" ] || lf_die "delete model -o json: $out"
[ ! -e "$live/$only_v1" ] || lf_die "v1's own blob $only_v1 is still on disk"
[ -f "$live/$shared" ] || lf_die "the blob v2 shares ($shared) was deleted"
for d in $(digests "$b2"); do [ -f "$live/$d" ] || lf_die "v2's blob $d is gone"; done
expect_contains "model/mlp:v1 security_version=1 blobs_removed=1 blobs_shared=1 reason=never shipped" "$(audit_rows model.delete)"
[ "$("$E" get models -o json | jq_py "','.join(v['version'] for v in j)")" = v2 ] || lf_die "get models: $("$E" get models 2>&1)"
[ "$("$E" rollout get "$rollout" -o json | jq_py "j['version'] + ' ' + j['state']")" = "v1 aborted" ] ||
  lf_die "the aborted rollout of v1 is not readable: $("$E" rollout get "$rollout" 2>&1)"
expect_fail 1 "model mlp:v1 has not been pushed" "$E" delete model mlp:v1
out=$("$E" delete model mlp:v1 --ignore-not-found 2>&1) || lf_die "delete model --ignore-not-found exited $?: $out"
expect_contains "ignored: --ignore-not-found" "$out"
expect_fail 1 "model mlp:v2 is still needed: 1 device(s) have it as their desired version, e.g. gw-9" "$E" delete model v2
[ -f "$live/$shared" ] || lf_die "a refused delete removed a blob"
ok "v1 and its own blob gone, the shared one kept, v2 refused while gw-9 wants it"

step "a backup after a delete verifies"
CTL="$LF_BIN/controller/edge-controller"
"$CTL" backup --config "$LF_DIR/controller.json" --to "$LF_DIR/backup" >/dev/null 2>&1 || lf_die "backup after delete"
"$CTL" restore --config "$LF_DIR/controller.json" --from "$LF_DIR/backup" --dry-run >/dev/null 2>&1 ||
  lf_die "the backup taken after a delete does not verify"
[ "$(find "$LF_DIR/backup/blobs/sha256" -type f | wc -l)" = 2 ] || lf_die "the backup's blobs: $(ls "$LF_DIR/backup/blobs/sha256")"
ok "backup holds v2's two blobs and verifies"
echo "PASS"
