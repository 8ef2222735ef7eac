#!/usr/bin/env bash
# bench/42_failover_kill.sh - SIGKILL a master -> writes back through the proxy (run by
# bench/run.sh); issue 17.
#
# A local cluster (3 shards, 3 sentinels quorum 2, down-after 2000 ms, one nutcracker)
# and, in one run, BENCH_RUNS (default 10) master kills each followed by
#   switch     rmgr reconcile --watch --apply --repoint-at switch (the default)
#   promotion  rmgr reconcile --watch --apply --repoint-at promotion
#   agent      bench/agent_min.c (one sentinel's +switch-master, rewrite, restart)
#   periodic   rmgr reconcile --apply --interval 1s, without --watch
# bench/failover_kill.c kills the shard's master (shards in turn), SETs a key of that shard
# through the proxy every 1 ms until one succeeds, and also times the selected replica's
# promotion (polled with ROLE) and the quorum's +switch-master. Prints every run and
# p50/p95 of kill -> write and promotion -> write per follower.
# Target (issue 17): promotion p50 <= down-after + 1.0 s.
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
RUNS=${BENCH_RUNS:-10}
DOWN_AFTER_MS=2000
# . bench/lib.sh and bench/failover_lib.sh
# shellcheck source=bench/lib.sh
. bench/lib.sh
# shellcheck source=bench/failover_lib.sh
. bench/failover_lib.sh
# a failover-timeout of 5 s: the same master may fail over again 10 s later (3 shards in turn)
FO_FAILOVER_TIMEOUT_MS=5000
fo_init

FO_PROXY_HOST=127.0.0.1
fo_deploy "" || exit 1

# kill_series NAME LABEL: RUNS kills followed by NAME; sets K50 K95 P50 P95 (empty: not measured)
kill_series() {
    K50='' K95='' P50='' P95=''
    echo "bench: $2: $RUNS master kills (SIGKILL, the shards in turn)"
    fo_start_follower "$1" || { fo_stop_follower; return 1; }
    build/bench/failover_kill --shard shard1 --shard shard2 --shard shard3 --proxy "$PX" \
        --sentinel "$S1" --sentinel "$S2" --sentinel "$S3" --quorum 2 \
        --password-env RMGR_REDIS_BENCH_PASSWORD --runs "$RUNS" \
        --min-gap-ms $((2 * FO_FAILOVER_TIMEOUT_MS + 1000)) | tee "$DIR/kill-$1.txt"
    local rc=${PIPESTATUS[0]}
    fo_stop_follower
    [ "$rc" = 0 ] || return 1
    K50=$(sed -n 's/^run .*kill->write \([0-9.-]*\) ms.*/\1/p' "$DIR/kill-$1.txt" | bench_pct 50)
    K95=$(sed -n 's/^run .*kill->write \([0-9.-]*\) ms.*/\1/p' "$DIR/kill-$1.txt" | bench_pct 95)
    P50=$(sed -n 's/^run .*promotion->write \([0-9.-]*\) ms.*/\1/p' "$DIR/kill-$1.txt" | bench_pct 50)
    P95=$(sed -n 's/^run .*promotion->write \([0-9.-]*\) ms.*/\1/p' "$DIR/kill-$1.txt" | bench_pct 95)
}
cell() { # cell: "kill->write p50 X / p95 Y ms; promotion->write p50 / p95"
    if [ -n "$K50" ]; then
        echo "kill→write p50 $K50 / p95 $K95 ms (promotion→write p50 ${P50:-?} / p95 ${P95:-?} ms)"
    else echo "not measured"; fi
}

# BENCH_FOLLOWERS: a subset, e.g. "promotion" (default: all four, in this order)
FOLLOWERS=" ${BENCH_FOLLOWERS:-switch promotion agent periodic} "
rc=0 sw="not run" pr="not run" ag="not run" pe="not run" met=no
if [[ $FOLLOWERS == *" switch "* ]]; then
    FO_WATCH_ARGS=(--repoint-at switch)
    kill_series watch-switch "rmgr reconcile --watch --repoint-at switch" || rc=1
    sw=$(cell)
    fo_rmgr_log watch-switch
fi
if [[ $FOLLOWERS == *" promotion "* ]]; then
    FO_WATCH_ARGS=(--repoint-at promotion)
    kill_series watch-promotion "rmgr reconcile --watch --repoint-at promotion" || rc=1
    pr=$(cell)
    awk -v v="${K50:-inf}" -v t=$((DOWN_AFTER_MS + 1000)) 'BEGIN { exit !(v != "inf" && v + 0 <= t) }' && met=yes
    fo_rmgr_log watch-promotion
fi
if [[ $FOLLOWERS == *" agent "* ]]; then
    kill_series agent "agent_min (one sentinel, rewrite + restart)" || rc=1
    ag=$(cell)
fi
if [[ $FOLLOWERS == *" periodic "* ]]; then
    kill_series periodic "rmgr reconcile --apply --interval 1s (no --watch)" || rc=1
    pe=$(cell)
fi
echo "bench: switch:    $sw"
echo "bench: promotion: $pr"
echo "bench: agent_min: $ag"
echo "bench: periodic:  $pe"
bench_row "SIGKILL of a master -> first write through the proxy, local, $RUNS runs each (down-after $DOWN_AFTER_MS ms)" \
    "--repoint-at promotion: $pr; --repoint-at switch: $sw" "agent_min: $ag; periodic 1 s: $pe" \
    "promotion p50 ≤ $((DOWN_AFTER_MS + 1000)) ms" "$met"
exit $rc
