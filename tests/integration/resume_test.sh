#!/usr/bin/env bash
# An agent killed mid-download resumes after restart without fetching finished bytes again.
source "$(dirname "$0")/lib.sh"

lf_pki
lf_start_controller
lf_edgectl create site plant-7 2>/dev/null || lf_die "create site"
# 1 MiB/s so the 6 MiB download takes long enough to interrupt.
lf_add_agent gw-1 plant-7 '"download_rate_limit": 1048576'
lf_wait_for 30 all_online 1 || lf_die "agent not online"

step "start a 6 MiB download"
make_model "$LF_DIR/m.onnx"
head -c $((6 * 1024 * 1024)) /dev/urandom >"$LF_DIR/big.bin"
b=$(lf_bundle big v1 1 "$LF_DIR/m.onnx" --blob "data=$LF_DIR/big.bin")
lf_edgectl model push "$b" 2>/dev/null || lf_die "push"
lf_edgectl deploy model big:v1 --all-at-once --site plant-7 2>/dev/null || lf_die "deploy"
digest=$(sha256sum "$LF_DIR/big.bin" | cut -d' ' -f1)
partial="$LF_DIR/gw-1/blobs/sha256/$digest.partial"
partial_big() { [ "$(stat -c %s "$partial" 2>/dev/null || echo 0)" -ge $((2 * 1024 * 1024)) ]; }
lf_wait_for 30 partial_big || lf_die "download did not progress"

step "kill -9 mid-download, restart"
lf_kill_agent gw-1 KILL
have=$(stat -c %s "$partial")
ok "killed with $have bytes on disk"
lf_start_agent gw-1
lf_wait_for 60 lf_site_on plant-7 big v1 || lf_die "did not converge after restart"
cmp -s "$LF_DIR/big.bin" "$LF_DIR/gw-1/models/big/v1/data" || lf_die "installed blob differs"

step "the second fetch started where the first stopped"
resume_offset=$(grep '"blob fetch"' "$LF_DIR/controller.log" | tail -n 1 | sed -n 's/.*"offset":\([0-9]*\).*/\1/p')
[ "${resume_offset:-0}" -ge "$have" ] || lf_die "resumed at offset ${resume_offset:-?}, but $have bytes were on disk"
grep -q '"resuming download"' "$LF_DIR/gw-1.log" || lf_die "agent did not log a resume"
ok "resumed at offset $resume_offset (had $have bytes)"
echo "PASS"
