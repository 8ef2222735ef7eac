#!/usr/bin/env bash
# Run test binaries and scripts, print each one's output, end with the total.
#   tests/run.sh unit|integration|all
# Unit tests: $BUILD/tests/test_* built from tests/unit, and tests/unit/*.sh.
# Integration tests: built from tests/integration, and tests/integration/*.sh.
# Each must end with a line "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
what=${1:-all}
BUILD=${BUILD:-build}
export RMGR_BIN=${RMGR_BIN:-$PWD/$BUILD/rmgr}
export RMGR_TESTS_DIR=$PWD/tests

runs=()
add_dir() { # $1 = unit|integration
    local src
    for src in tests/$1/test_*.c; do
        [ -e "$src" ] || continue
        runs+=("$BUILD/tests/$(basename "$src" .c)")
    done
    for src in tests/$1/test_*.sh; do
        [ -e "$src" ] || continue
        runs+=("$src")
    done
}
case $what in
    unit) add_dir unit ;;
    integration) add_dir integration ;;
    all) add_dir unit; add_dir integration ;;
    *) echo "usage: tests/run.sh unit|integration|all" >&2; exit 2 ;;
esac

total_pass=0 total_fail=0 broken=()
for t in "${runs[@]}"; do
    echo "=== $t"
    log=$(mktemp)
    if [ -n "${VALGRIND:-}" ] && [[ $t != *.sh ]]; then
        valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
            "$t" 2>&1 | tee "$log"
    else
        "$t" 2>&1 | tee "$log"
    fi
    rc=${PIPESTATUS[0]}
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    rm -f "$log"
    if [ -z "$line" ]; then
        echo "!!! $t ended without a result line (exit $rc)"
        broken+=("$t"); total_fail=$((total_fail + 1)); continue
    fi
    p=${line%% passed*}; f=${line#*passed, }; f=${f%% failed*}
    total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "!!! $t exited $rc"
        broken+=("$t"); total_fail=$((total_fail + 1))
    fi
done
echo
[ ${#broken[@]} -gt 0 ] && echo "broken: ${broken[*]}"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
