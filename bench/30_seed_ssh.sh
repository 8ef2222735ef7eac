#!/usr/bin/env bash
# bench/30_seed_ssh.sh - the seed layout over ssh, nothing -> healthy (run by bench/run.sh).
#
# The walk-through's five hosts (tests/integration/walkthrough/hosts.sh:
# network namespaces, one sshd per Redis host; needs root) and its spec (4
# redis in 2 shards, 4 sentinels, 1 proxy on the manager, a password) without
# its repl-diskless-sync-delay line, so that Redis' 5 s default applies as in
# a spec of the seed layout. Each run: `rmgr apply` from bare hosts until every
# health check passed, then `rmgr destroy` (not timed). Against, in the same
# run: `rmgr apply --parallel 1` (one instance of a host at a time) and, with
# BENCH_BASELINE_BIN (e.g. /work/main/rmgr), another build. BENCH_RUNS
# (default 3), medians. Target (issue 11): <= 3 s.
# shellcheck disable=SC1091
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
. bench/lib.sh
RMGR=${RMGR_BIN:-$ROOT/rmgr}
OTHER=${BENCH_BASELINE_BIN:-}
RUNS=${BENCH_RUNS:-3}
[ -x "$RMGR" ] || { echo "bench: build rmgr first (make)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "bench: 30_seed_ssh needs root (network namespaces)" >&2; exit 1; }
TESTS_DIR=$ROOT/tests
. "$TESTS_DIR/harness.sh"
. "$TESTS_DIR/integration/walkthrough/hosts.sh"

wt_init
wt_net_up || exit 1
wt_keys || exit 1
for h in redis1 redis2 redis3 redis4; do wt_sshd_start "$h" || exit 1; done
PW=b30-$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
sed -e "s|@DIR@|$WT_DIR|g" -e '/repl-diskless-sync-delay/d' -e '/5 s default delays/d' \
    "$TESTS_DIR/integration/walkthrough/spec.yaml.in" >"$WT_DIR/spec.yaml"
SPEC=$WT_DIR/spec.yaml

# on_mgr BIN ARGS...: BIN on the manager host (its network, its base_dir)
on_mgr() {
    local bin=$1; shift
    wt_on mgr env RMGR_REDIS_PASSWORD="$PW" XDG_RUNTIME_DIR="$WT_DIR/run" NO_COLOR=1 \
        "$bin" "$@" </dev/null
}

# timed_apply BIN [ARGS]: ms from bare hosts to every check passed; sets MS
timed_apply() {
    local bin=$1 t0 t1; shift
    t0=$(date +%s%3N)
    if ! on_mgr "$bin" apply -f "$SPEC" --auto-approve "$@" >"$WT_DIR/apply.out" 2>&1; then
        echo "bench: $bin apply $* failed:" >&2; tail -20 "$WT_DIR/apply.out" >&2; return 1
    fi
    t1=$(date +%s%3N)
    MS=$((t1 - t0))
    on_mgr "$bin" destroy -f "$SPEC" --auto-approve --allow-destructive >"$WT_DIR/destroy.out" 2>&1 ||
        { echo "bench: destroy failed:" >&2; tail -20 "$WT_DIR/destroy.out" >&2; return 1; }
}

declare -A T
variants=("$RMGR" "$RMGR --parallel 1")
[ -n "$OTHER" ] && variants+=("$OTHER")
for ((run = 1; run <= RUNS; run++)); do
    for v in "${variants[@]}"; do
        # shellcheck disable=SC2086  # "BIN ARGS" splits on purpose
        timed_apply $v || exit 1
        T[$v]+="$MS "
        echo "run $run: $v: ${MS} ms"
        # where the time goes: every step and check of the first run
        [ "$v" = "$RMGR" ] && [ "$run" = 1 ] && grep -E '^(check:|\[)' "$WT_DIR/apply.out"
    done
done

med() { tr ' ' '\n' <<<"$1" | grep . | bench_median; }
ours=$(med "${T[$RMGR]}") serial=$(med "${T[$RMGR --parallel 1]}")
met=$(awk -v t="$ours" 'BEGIN { print (t <= 3000) ? "yes" : "no" }')
alt="--parallel 1: ${serial} ms"
[ -n "$OTHER" ] && alt+="; $OTHER: $(med "${T[$OTHER]}") ms"
bench_row "seed layout over ssh (4 redis, 4 sentinels, 1 proxy, password), nothing -> healthy" \
    "${ours} ms" "$alt" "<= 3000 ms" "$met"
exit 0
