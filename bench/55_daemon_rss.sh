#!/usr/bin/env bash
# bench/55_daemon_rss.sh - RSS of the `rmgr reconcile --watch --apply` daemon after 1 and
# after BENCH_ITERATIONS (default 1000) reconcile runs (run by bench/run.sh).
#
# The cluster of bench/failover_lib.sh (3 shards, 3 sentinels, 1 proxy, all
# local) and the daemon following it with --interval 1h; each further run is
# started with SIGHUP (options read again, log reopened, reconciling now: the
# reload path is exercised too) and waited for (its run-done line). VmRSS
# from /proc/PID/status after run 1, 10, 100 and the last. Target: flat (the
# last within 5% or 1 MiB of run 10's, whichever is larger: the first runs
# grow libgit2's and the allocator's caches once).
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
RUNS=1 # failover_lib.sh wants it; no failovers here
ITER=${BENCH_ITERATIONS:-1000}
# shellcheck source=bench/lib.sh
. bench/lib.sh
# shellcheck source=bench/failover_lib.sh
. bench/failover_lib.sh
fo_init
FO_PROXY_HOST=127.0.0.1
fo_deploy "" || exit 1

LOG=$DIR/daemon.log
"$FO_RMGR" reconcile -f "$DIR/bench.yaml" --watch --apply --interval 1h --state-dir "$DIR/state" \
    --log-file "$LOG" &
FO_FOLLOWER=$!
fo_wait_log "$LOG" run-done 1 || exit 1
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$FO_FOLLOWER/status"; }
declare -A at
at[1]=$(rss)
echo "bench: daemon pid $FO_FOLLOWER, RSS after run 1: ${at[1]} KiB; $ITER runs (SIGHUP each)"
start=$(date +%s.%N)
for i in $(seq 2 "$ITER"); do
    kill -HUP "$FO_FOLLOWER"
    until [ "$(grep -c run-done "$LOG")" -ge "$i" ]; do
        kill -0 "$FO_FOLLOWER" 2>/dev/null || { echo "bench: the daemon died" >&2; exit 1; }
        sleep 0.005
    done
    case $i in 10 | 100 | "$ITER") at[$i]=$(rss); echo "bench: RSS after run $i: ${at[$i]} KiB" ;; esac
done
echo "bench: $ITER runs in $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }') s"
errors=$(grep -c "result=error" "$LOG")
[ "$errors" = 0 ] || echo "bench: $errors runs ended with errors (see $LOG)"
met=no
awk -v a="${at[10]}" -v b="${at[$ITER]}" 'BEGIN { d = b - a; lim = a * 0.05; if (lim < 1024) lim = 1024
    exit !(d <= lim) }' && met=yes
bench_row "reconcile --watch daemon RSS, 1 / 10 / 100 / $ITER runs" \
    "${at[1]} / ${at[10]} / ${at[100]} / ${at[$ITER]} KiB" "—" "flat after run 10 (≤ 5% or 1 MiB)" "$met"
