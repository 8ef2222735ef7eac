#!/usr/bin/env bash
# bench/40_failover_local.sh - failover -> writes back through a local proxy (run by bench/run.sh).
#
# A local cluster (3 shards, 3 sentinels, 1 nutcracker on this host) and, in
# one run, BENCH_RUNS (default 12) failovers each followed by `rmgr reconcile
# --watch`, by bench/agent_min.c and by a periodic-only reconcile (1 s); see
# bench/failover_lib.sh. Prints every run, p50/p95 per follower and the
# repoint times rmgr itself logged. Target: --watch p50 ≤ 5 ms.
#
# Everything runs on 127.0.0.1 with free ports; everything started is stopped
# at the end (rmgr destroy; the followers by pid). BENCH_KEEP=1 keeps the
# directory.
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
RUNS=${BENCH_RUNS:-12}
# shellcheck source=bench/lib.sh
. bench/lib.sh
# shellcheck source=bench/failover_lib.sh
. bench/failover_lib.sh
fo_init

FO_PROXY_HOST=127.0.0.1
fo_deploy "" || exit 1
fo_compare "failover -> writes back, local proxy" 5 || exit 1
