#!/usr/bin/env bash
# bench/20_apply_destroy.sh - apply and destroy of 200 redis on one host (run by bench/run.sh).
#
# A local spec of 100 shards (master + replica, 200 redis-servers) and one
# sentinel, applied from nothing with `rmgr apply` (every gate passed) and
# torn down with `rmgr destroy`, against what a shell does in the same run:
# 200 redis-servers started in parallel by a loop, waiting until each answers
# PING; and stopped by a loop (TERM each pid, wait until every one is gone).
# BENCH_RUNS (default 3) runs of each, medians. RMGR_BIN picks the rmgr
# (BENCH_BASELINE_BIN adds a row for a second build, e.g. /work/main/rmgr).
# Targets (issue 11): apply within 1.5x of the shell start; destroy <= 2 s.
set -u
cd "$(dirname "$0")/.." || exit 1
. bench/lib.sh
ROOT=$PWD
RMGR=${RMGR_BIN:-$ROOT/rmgr}
OTHER=${BENCH_BASELINE_BIN:-}
RUNS=${BENCH_RUNS:-3}
SHARDS=${BENCH_SHARDS:-100}
REDIS=/usr/bin/redis-server
[ -x "$RMGR" ] || { echo "bench: build rmgr first (make)" >&2; exit 1; }

DIR=$(mktemp -d "${TMPDIR:-/tmp}/rmgr-bench20-XXXXXX") || exit 1
SHELL_PIDS=()
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
    for b in "$RMGR" $OTHER; do
        [ -f "$DIR/bench.yaml" ] && "$b" destroy -f "$DIR/bench.yaml" --auto-approve \
            --allow-destructive --lock-file "$DIR/lock" >/dev/null 2>&1
    done
    for p in "${SHELL_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    if [ -n "${BENCH_KEEP:-}" ]; then echo "bench: kept $DIR"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ms() { date +%s%3N; }

# 2*SHARDS + 1 distinct free loopback ports, bound at once so none repeats
mapfile -t PORTS < <(/usr/bin/python3 -c 'import socket, sys
n = int(sys.argv[1]); ss = []
for _ in range(n):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); ss.append(s)
print("\n".join(str(s.getsockname()[1]) for s in ss))' $((2 * SHARDS + 1)))

{
    printf 'cluster: bench20\ndefaults:\n  transport: local\n  base_dir: %s/base\n' "$DIR"
    printf 'redis:\n  config:\n    save: ""\n    appendonly: "no"\n    maxmemory: 16mb\n'
    printf 'shards:\n'
    for ((i = 0; i < SHARDS; i++)); do
        printf '  - name: s%d\n    master: 127.0.0.1:%s\n    replicas: [127.0.0.1:%s]\n' \
            "$i" "${PORTS[2 * i]}" "${PORTS[2 * i + 1]}"
    done
    printf 'sentinel:\n  quorum: 1\n  nodes: [127.0.0.1:%s]\n' "${PORTS[2 * SHARDS]}"
} >"$DIR/bench.yaml"

# rmgr_apply BIN: ms of apply from nothing; rmgr_destroy BIN: ms of destroy
rmgr_apply() {
    local t0 t1
    t0=$(now_ms)
    "$1" apply -f "$DIR/bench.yaml" --auto-approve --no-color --lock-file "$DIR/lock" \
        >"$DIR/apply.out" 2>&1 || { echo "bench: apply failed:" >&2; tail -20 "$DIR/apply.out" >&2; return 1; }
    t1=$(now_ms)
    echo $((t1 - t0))
}
rmgr_destroy() {
    local t0 t1
    t0=$(now_ms)
    "$1" destroy -f "$DIR/bench.yaml" --auto-approve --allow-destructive --no-color \
        --lock-file "$DIR/lock" >"$DIR/destroy.out" 2>&1 ||
        { echo "bench: destroy failed:" >&2; tail -20 "$DIR/destroy.out" >&2; return 1; }
    t1=$(now_ms)
    echo $((t1 - t0))
}

# shell_start: 2*SHARDS redis-servers in parallel, then PING each until it
# answers; sets MS and SHELL_PIDS (no subshell: the pids must survive)
shell_start() {
    local t0 t1 p i
    rm -rf "$DIR/sh"; mkdir -p "$DIR/sh"
    t0=$(now_ms)
    for ((i = 0; i < 2 * SHARDS; i++)); do
        p=${PORTS[i]}
        "$REDIS" --port "$p" --bind 127.0.0.1 --daemonize yes --save '' --appendonly no \
            --dir "$DIR/sh" --pidfile "$DIR/sh/$p.pid" --logfile "$DIR/sh/$p.log" &
    done
    wait
    for ((i = 0; i < 2 * SHARDS; i++)); do
        until [ "$(redis-cli -p "${PORTS[i]}" ping 2>/dev/null)" = PONG ]; do :; done
    done
    t1=$(now_ms)
    SHELL_PIDS=()
    for ((i = 0; i < 2 * SHARDS; i++)); do
        until [ -s "$DIR/sh/${PORTS[i]}.pid" ]; do :; done
        SHELL_PIDS+=("$(cat "$DIR/sh/${PORTS[i]}.pid")")
    done
    MS=$((t1 - t0))
}
# shell_stop: TERM every pid, wait until each is gone; sets MS
shell_stop() {
    local t0 t1 p
    t0=$(now_ms)
    kill -TERM "${SHELL_PIDS[@]}" 2>/dev/null
    for p in "${SHELL_PIDS[@]}"; do
        while [ -e "/proc/$p" ] && [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" != Z ]; do :; done
    done
    t1=$(now_ms)
    SHELL_PIDS=()
    MS=$((t1 - t0))
}

declare -A A D
for ((run = 1; run <= RUNS; run++)); do
    shell_start; A[shell]+="$MS "
    shell_stop; D[shell]+="$MS "
    for b in "$RMGR" $OTHER; do
        a=$(rmgr_apply "$b") || exit 1; A[$b]+="$a "
        d=$(rmgr_destroy "$b") || exit 1; D[$b]+="$d "
        echo "run $run: $b apply $a ms, destroy $d ms"
    done
    echo "run $run: shell start + PING, stop: ${A[shell]} / ${D[shell]}"
done
grep '^check:' "$DIR/apply.out"

med() { tr ' ' '\n' <<<"$1" | grep . | bench_median; }
ss=$(med "${A[shell]}"); sd=$(med "${D[shell]}")
ra=$(med "${A[$RMGR]}"); rd=$(med "${D[$RMGR]}")
ratio=$(awk -v a="$ra" -v b="$ss" 'BEGIN { printf "%.2f", a / b }')
met_a=$(awk -v r="$ratio" 'BEGIN { print (r <= 1.5) ? "yes" : "no" }')
met_d=$(awk -v d="$rd" 'BEGIN { print (d <= 2000) ? "yes" : "no" }')
echo "apply ${ra} ms vs shell start ${ss} ms (${ratio}x); destroy ${rd} ms vs shell stop ${sd} ms"
bench_row "apply, $((2 * SHARDS)) redis + 1 sentinel, one host, nothing -> healthy" "${ra} ms (${ratio}x)" \
    "shell loop start + PING: ${ss} ms" "<= 1.5x" "$met_a"
bench_row "destroy of them" "${rd} ms" "shell loop stop: ${sd} ms" "<= 2000 ms" "$met_d"
if [ -n "$OTHER" ]; then
    oa=$(med "${A[$OTHER]}"); od=$(med "${D[$OTHER]}")
    bench_row "apply / destroy, $OTHER (before)" "${oa} ms / ${od} ms" \
        "shell: ${ss} ms / ${sd} ms" "-" "-"
fi
exit 0
