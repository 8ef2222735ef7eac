#!/usr/bin/env bash
# bench/10_plan.sh - plan latency (run by bench/run.sh).
#
# Starts 200 plain redis-servers (100 masters, each with one replica that
# replicates it; save "" appendonly no), each from a redis.conf written
# where rmgr looks for it (so plan reads and parses 200 config files, as for
# a deployed cluster), and 3 redis-sentinels (monitoring nothing) on free
# loopback ports, then times `rmgr plan` of specs naming the first 20, 100
# and 200 of them (plus the 3 sentinels and a proxy whose stats port has
# nothing behind it), BENCH_RUNS times each (default 11), each run paired
# with bench/seq_info (built here into build/bench/): a sequential hiredis
# loop sending one INFO to each of the same redis addresses, one after
# another. Both are timed as whole processes (start-up included). Then the
# 200-redis spec with one more address that accepts and never answers
# (a listener that never reads), with --timeout 1000: one timeout, not N.
#
# Prints every figure; appends medians to $BENCH_RESULTS. BENCH_BASELINE=PATH
# also times another rmgr binary (an older build) in the same pairs, for
# before/after figures. Everything started is stopped by pid at the end.
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
. bench/lib.sh
RMGR=${RMGR_BIN:-$ROOT/rmgr}
RUNS=${BENCH_RUNS:-11}
BASE=${BENCH_BASELINE:-}
PY=/usr/bin/python3
SIZES=(20 100 200)
NREDIS=200

[ -x "$RMGR" ] || { echo "bench: build rmgr first (make)" >&2; exit 1; }
mkdir -p build/bench
SEQ=build/bench/seq_info
if [ ! -x "$SEQ" ] || [ bench/seq_info.c -nt "$SEQ" ]; then
    # shellcheck disable=SC2046
    cc -std=c11 -O2 -Wall -Wextra -o "$SEQ" bench/seq_info.c \
        $(pkg-config --cflags --libs hiredis) || exit 1
fi

DIR=$(mktemp -d "${TMPDIR:-/tmp}/rmgr-bench-plan-XXXXXX") || exit 1
PIDS=()
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    if [ -n "${BENCH_KEEP:-}" ]; then echo "bench: kept $DIR"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

read -r -a ports <<<"$(bench_free_ports $((NREDIS + 6)))"
REDIS=("${ports[@]:0:NREDIS}")
SENT=("${ports[@]:NREDIS:3}")
PROXY=${ports[NREDIS + 3]}
SILENT=${ports[NREDIS + 4]}
STATS=${ports[NREDIS + 5]}

echo "starting $NREDIS redis-servers and 3 sentinels in $DIR"
for ((i = 0; i < NREDIS; i++)); do
    p=${REDIS[i]}
    # each from a redis.conf where rmgr looks for it, so that plan reads and parses it
    d=$DIR/base/benchplan/redis-$p
    mkdir -p "$d"
    {
        printf '# written by bench/10_plan.sh\nport %s\nbind 127.0.0.1\ndir %s\n' "$p" "$d"
        printf 'pidfile %s/redis.pid\nlogfile %s/redis.log\ndaemonize no\n' "$d" "$d"
        printf 'save ""\nappendonly no\nmaxmemory 64mb\nprotected-mode yes\n'
        printf 'repl-diskless-sync-delay 0\n'
        ((i % 2)) && printf 'replicaof 127.0.0.1 %s\n' "${REDIS[i - 1]}"
    } >"$d/redis.conf"
    redis-server "$d/redis.conf" >/dev/null 2>&1 &
    PIDS+=($!)
done
for p in "${SENT[@]}"; do
    mkdir -p "$DIR/s$p"
    printf 'port %s\nbind 127.0.0.1\ndir %s\nlogfile %s/log\n' "$p" "$DIR/s$p" "$DIR/s$p" \
        >"$DIR/s$p/sentinel.conf"
    redis-sentinel "$DIR/s$p/sentinel.conf" >/dev/null 2>&1 &
    PIDS+=($!)
done
# the address that accepts and never answers: a listener that never accepts or reads
"$PY" -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64); time.sleep(86400)' "$SILENT" &
PIDS+=($!)

# addresses files for seq_info: the first N redis
for n in "${SIZES[@]}"; do
    for ((i = 0; i < n; i++)); do echo "127.0.0.1 ${REDIS[i]}"; done >"$DIR/addr$n"
done
for try in $(seq 100); do
    "$SEQ" "$DIR/addr$NREDIS" 2>/dev/null && break
    [ "$try" = 100 ] && { echo "bench: the redis-servers did not answer" >&2; exit 1; }
    sleep 0.1
done

# spec_yaml N [SILENT_PORT]: the first N redis as N/2 shards (master, replica)
spec_yaml() {
    local n=$1 silent=${2:-}
    cat <<EOF
cluster: benchplan
defaults:
  transport: local
  base_dir: $DIR/base
redis:
  config:
    save: ""
    appendonly: "no"
    maxmemory: 64mb
shards:
EOF
    for ((i = 0; i < n; i += 2)); do
        printf '  - name: s%d\n    master: 127.0.0.1:%s\n    replicas: [127.0.0.1:%s]\n' \
            $((i / 2 + 1)) "${REDIS[i]}" "${REDIS[i + 1]}"
    done
    [ -n "$silent" ] && printf '  - name: silent\n    master: 127.0.0.1:%s\n' "$silent"
    cat <<EOF
sentinel:
  quorum: 2
  nodes: [127.0.0.1:${SENT[0]}, 127.0.0.1:${SENT[1]}, 127.0.0.1:${SENT[2]}]
proxies:
  - host: 127.0.0.1
    listen: 127.0.0.1:$PROXY
    stats_port: $STATS
EOF
}
for n in "${SIZES[@]}"; do spec_yaml "$n" >"$DIR/spec$n.yaml"; done
spec_yaml "$NREDIS" "$SILENT" >"$DIR/silent.yaml"

# ms CMD...: wall milliseconds of one run (its output thrown away)
ms() {
    local s=$EPOCHREALTIME
    "$@" >/dev/null 2>&1
    local e=$EPOCHREALTIME
    awk -v s="$s" -v e="$e" 'BEGIN { printf "%.2f\n", (e - s) * 1000 }'
}

"$RMGR" plan -f "$DIR/spec$NREDIS.yaml" --no-color >"$DIR/plan.out" 2>&1
rc=$?
echo "plan of $NREDIS redis exits $rc ($(wc -l <"$DIR/plan.out") lines of output)"
[ "$rc" = 0 ] || { cat "$DIR/plan.out" >&2; exit 1; }

for n in "${SIZES[@]}"; do
    : >"$DIR/t.rmgr" ; : >"$DIR/t.seq" ; : >"$DIR/t.ratio" ; : >"$DIR/t.base"
    ms "$RMGR" plan -f "$DIR/spec$n.yaml" >/dev/null   # warm-up
    for ((r = 0; r < RUNS; r++)); do
        a=$(ms "$RMGR" plan -f "$DIR/spec$n.yaml" --no-color)
        b=$(ms "$SEQ" "$DIR/addr$n")
        echo "$a" >>"$DIR/t.rmgr"; echo "$b" >>"$DIR/t.seq"
        awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f\n", b / a }' >>"$DIR/t.ratio"
        [ -n "$BASE" ] && ms "$BASE" plan -f "$DIR/spec$n.yaml" --no-color >>"$DIR/t.base"
    done
    A=$(bench_median <"$DIR/t.rmgr"); B=$(bench_median <"$DIR/t.seq")
    X=$(bench_median <"$DIR/t.ratio")
    echo "plan, $n redis: rmgr $A ms, sequential INFO loop $B ms (median of $RUNS; loop/plan ${X}x)"
    [ -n "$BASE" ] && echo "    baseline $BASE: $(bench_median <"$DIR/t.base") ms"
    if [ "$n" = "$NREDIS" ]; then
        met=$(awk -v a="$A" -v x="$X" 'BEGIN { print (a <= 15 && x >= 2.5) ? "yes" : "no" }')
        bench_row "plan, $n redis + 3 sentinels + 1 proxy (ms)" "$A" \
            "$B (sequential hiredis INFO loop; ${X}x)" "<= 15 ms and >= 2.5x" "$met"
    else
        bench_row "plan, $n redis + 3 sentinels + 1 proxy (ms)" "$A" \
            "$B (sequential hiredis INFO loop; ${X}x)" "-" "-"
    fi
done

: >"$DIR/t.silent"
SRUNS=$(((RUNS + 1) / 2))
for ((r = 0; r < SRUNS; r++)); do
    ms "$RMGR" plan -f "$DIR/silent.yaml" --no-color --timeout 1000 >>"$DIR/t.silent"
done
S=$(bench_median <"$DIR/t.silent")
echo "plan, $NREDIS redis + 1 silent address, --timeout 1000: $S ms (median of $SRUNS)"
met=$(awk -v s="$S" 'BEGIN { print (s >= 1000 && s < 1300) ? "yes" : "no" }')
bench_row "plan, $NREDIS redis + 1 address that never answers, --timeout 1000 (ms)" "$S" \
    "one timeout: 1000" "~ the timeout, not N x" "$met"
exit 0
