#!/usr/bin/env bash
# `edgectl completion bash|zsh` completes commands and flags from edgectl's own command tree:
# the script is sourced in bash and asked what it offers after a few command lines.
source "$(dirname "$0")/lib.sh"

"$LF_BIN/controller/edgectl" completion bash >"$LF_DIR/edgectl.bash" || lf_die "completion bash"
"$LF_BIN/controller/edgectl" completion zsh >"$LF_DIR/edgectl.zsh" || lf_die "completion zsh"
head -n 1 "$LF_DIR/edgectl.zsh" | grep -q bashcompinit || lf_die "the zsh script does not load bashcompinit"
expect_fail 2 "shell: fish not in" "$LF_BIN/controller/edgectl" completion fish

# offers WORDS...: what completion proposes for the command line WORDS (the last one is being typed).
offers() {
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _edgectl; printf "%s\n" "${COMPREPLY[@]}"' \
    _ "$LF_DIR/edgectl.bash" edgectl "$@"
}
step "commands, subcommands and flags at each depth"
[ "$(offers de | tr '\n' ' ')" = "decommission delete deploy describe " ] || lf_die "after 'de': $(offers de)"
[ "$(offers delete "" | grep -v '^--' | tr '\n' ' ')" = "device model operator rollout site token " ] ||
  lf_die "after 'delete': $(offers delete "")"
[ "$(offers deploy "" | tr '\n' ' ')" = "model --config --connect-timeout-ms --context --controller --help --output --version " ] ||
  lf_die "after 'deploy': $(offers deploy "")"
# has LINE TEXT: one of TEXT's lines is LINE (no pipe into grep -q: pipefail and SIGPIPE).
has() { grep -qx -- "$1" <<<"$2"; }
has --site "$(offers deploy model --si)" || lf_die "after 'deploy model --si': $(offers deploy model --si)"
has --selector "$(offers --context x get --s)" || lf_die "global flags before the command: $(offers --context x get --s)"
has use-context "$(offers config use)" || lf_die "after 'config use': $(offers config use)"
has --yes "$(offers delete device --y)" || lf_die "after 'delete device --y': $(offers delete device --y)"
has --ignore-not-found "$(offers delete model --ig)" || lf_die "after 'delete model --ig': $(offers delete model --ig)"
has --selector "$(offers revoke device --se)" || lf_die "after 'revoke device --se': $(offers revoke device --se)"
has --selector "$(offers describe device --se)" || lf_die "after 'describe device --se': $(offers describe device --se)"
has bundle "$(offers zzz "")" || lf_die "an unknown word changed the path: $(offers zzz "")"
ok "de → decommission delete deploy describe; delete → device model operator rollout site token; deploy model --si → --site; config use → use-context"
echo "PASS"
