#!/usr/bin/env bash
# bench/run.sh - make bench: runs every bench/NN_*.sh in order and prints the
# results table they wrote.
#
# Convention for a bench script:
#   - it runs on its own (bench/NN_name.sh) and cleans up after itself (every
#     process stopped by pid, its temp directory removed);
#   - it prints what it measures as it goes (for humans);
#   - for each figure it appends one Markdown table row to "$BENCH_RESULTS":
#       | what | rmgr (median) | alternative, same run (median) | target | met |
#     with bench_row (bench/lib.sh), figures as medians of several runs;
#   - it exits non-zero only when it could not measure (not when a target is missed).
# BENCH_ONLY=NN runs only the scripts whose name starts with NN.
set -u
cd "$(dirname "$0")/.." || exit 1
[ -x ./rmgr ] || { echo "bench: build rmgr first (make)" >&2; exit 1; }
mkdir -p build/bench
export BENCH_RESULTS=$PWD/build/bench/results.md
: >"$BENCH_RESULTS"
rc=0
start=$(date +%s)
for script in bench/[0-9][0-9]_*.sh; do
    name=$(basename "$script" .sh)
    case $name in "${BENCH_ONLY:-}"*) ;; *) continue ;; esac
    echo "=== bench: $name"
    bash "$script" || { echo "bench: $name could not measure (exit $?)" >&2; rc=1; }
done
echo
echo "## Results ($(date -u +%Y-%m-%d), $(nproc) cores, $(($(date +%s) - start)) s)"
echo
echo "| what | rmgr (median) | alternative, same run (median) | target | met |"
echo "|---|---|---|---|---|"
cat "$BENCH_RESULTS"
exit $rc
