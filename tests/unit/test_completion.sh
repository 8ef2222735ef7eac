#!/usr/bin/env bash
# test_completion.sh - contrib/bash-completion/rmgr completes commands (from
# `rmgr help`), each command's options (from its --help), shard names from
# -f SPEC and --kind values.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RMGR=${RMGR_BIN:-$ROOT/rmgr}
passed=0 failed=0
check() {
    local what=$1; shift
    if "$@"; then passed=$((passed + 1)); echo "ok   $what"; else failed=$((failed + 1)); echo "FAIL $what"; fi
}
# shellcheck disable=SC1091
. "$ROOT/contrib/bash-completion/rmgr"
dir=$(mktemp -d "${TMPDIR:-/tmp}/rmgr-completion-XXXXXX")
trap 'rm -rf "$dir"' EXIT
cat >"$dir/spec.yaml" <<'YAML'
cluster: c
shards:
  - name: alpha
    master: 127.0.0.1:7001
  - name: "beta"   # quoted, with a comment
    master: 127.0.0.1:7002
sentinel:
  nodes: [127.0.0.1:26379]
  # name: notashard
YAML
complete_words() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _rmgr; printf '%s\n' "${COMPREPLY[@]}"; }
out=$(complete_words "$RMGR" "")
for c in validate plan apply status exec logs top failover backup import reconcile; do
    check "command '$c' is completed" grep -qx "$c" <<<"$out"
done
out=$(complete_words "$RMGR" exec -f "$dir/spec.yaml" -- "")
check "exec options: nothing after -- (the Redis command)" [ -z "$out" ]
out=$(complete_words "$RMGR" exec --a)
check "exec --a completes --allow-write" grep -qx -- --allow-write <<<"$out"
out=$(complete_words "$RMGR" logs -)
check "logs options: --follow, --kind, -n" eval 'grep -qx -- --follow <<<"$out" && grep -qx -- --kind <<<"$out" && grep -qx -- -n <<<"$out"'
out=$(complete_words "$RMGR" exec -f "$dir/spec.yaml" --shard "")
check "--shard completes the spec's shards (and only them)" [ "$out" = "$(printf 'alpha\nbeta')" ]
out=$(complete_words "$RMGR" failover -f "$dir/spec.yaml" b)
check "failover SHARD completes shard names" [ "$out" = beta ]
out=$(complete_words "$RMGR" logs --kind s)
check "--kind completes sentinel" [ "$out" = sentinel ]
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
