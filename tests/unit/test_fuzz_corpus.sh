#!/usr/bin/env bash
# Replay every fuzz corpus (tests/fuzz/corpus/<target>/) through its target with the
# standalone driver built by this build (plain, sanitizer or valgrind run): every input
# that once crashed, leaked or tripped a sanitizer stays fixed.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
pass=0 fail=0
for src in tests/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c); name=${name#fuzz_}
    bin=$BUILD/tests/fuzz/replay_$name corpus=tests/fuzz/corpus/$name
    if [ ! -x "$bin" ] || [ ! -d "$corpus" ]; then
        echo "FAIL $name: $bin or $corpus missing"; fail=$((fail + 1)); continue
    fi
    run=("$bin" "$corpus")
    if [ -n "${VALGRIND:-}" ]; then
        run=(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
             "${run[@]}")
    fi
    out=$("${run[@]}" 2>&1); rc=$?
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' <<<"$out" | tail -n 1)
    if [ "$rc" -eq 0 ] && [ -n "$line" ] && [ "${line#* passed, }" = "0 failed" ]; then
        echo "ok   $name: ${line%% passed*} corpus inputs"; pass=$((pass + 1))
    else
        echo "FAIL $name (exit $rc):"; tail -n 30 <<<"$out"; fail=$((fail + 1))
    fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
