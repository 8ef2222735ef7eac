#!/usr/bin/env bash
# bench/50_plan_rss.sh - peak RSS of a 1000-instance plan (run by bench/run.sh).
#
# A spec of 500 shards (master + replica: 1000 redis), 3 sentinels and a
# proxy on loopback ports where nothing listens (ports bound to find them
# free, then released), planned BENCH_RUNS times (default 5); the peak RSS
# is /usr/bin/time's "maximum resident set size". Beside it, in the same
# run, `rmgr validate` of the same spec: the floor of loading the program,
# its libraries and the spec, without observing or planning.
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
. bench/lib.sh
RMGR=${RMGR_BIN:-$ROOT/rmgr}
RUNS=${BENCH_RUNS:-5}
TIME=/usr/bin/time
NSHARDS=500

[ -x "$RMGR" ] || { echo "bench: build rmgr first (make)" >&2; exit 1; }
[ -x "$TIME" ] || { echo "bench: needs GNU time at $TIME" >&2; exit 1; }
DIR=$(mktemp -d "${TMPDIR:-/tmp}/rmgr-bench-rss-XXXXXX") || exit 1
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() { rm -rf "$DIR"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

read -r -a ports <<<"$(bench_free_ports $((2 * NSHARDS + 5)))"
{
    printf 'cluster: benchrss\ndefaults:\n  transport: local\n  base_dir: %s/base\n' "$DIR"
    printf 'redis:\n  config:\n    save: ""\n    appendonly: "no"\n    maxmemory: 64mb\nshards:\n'
    for ((i = 0; i < NSHARDS; i++)); do
        printf '  - name: s%d\n    master: 127.0.0.1:%s\n    replicas: [127.0.0.1:%s]\n' \
            $((i + 1)) "${ports[2 * i]}" "${ports[2 * i + 1]}"
    done
    n=$((2 * NSHARDS))
    printf 'sentinel:\n  quorum: 2\n  nodes: [127.0.0.1:%s, 127.0.0.1:%s, 127.0.0.1:%s]\n' \
        "${ports[n]}" "${ports[n + 1]}" "${ports[n + 2]}"
    printf 'proxies:\n  - host: 127.0.0.1\n    listen: 127.0.0.1:%s\n    stats_port: %s\n' \
        "${ports[n + 3]}" "${ports[n + 4]}"
} >"$DIR/spec.yaml"

# peak_kb CMD...: the peak RSS in KiB of one run
peak_kb() {
    "$TIME" -f '%M' -o "$DIR/time.out" "$@" >/dev/null 2>&1
    tail -1 "$DIR/time.out"
}

"$RMGR" plan -f "$DIR/spec.yaml" --no-color >"$DIR/plan.out" 2>&1 ||
    { cat "$DIR/plan.out" >&2; exit 1; }
: >"$DIR/plan.kb"; : >"$DIR/validate.kb"
for ((r = 0; r < RUNS; r++)); do
    peak_kb "$RMGR" plan -f "$DIR/spec.yaml" --no-color >>"$DIR/plan.kb"
    peak_kb "$RMGR" validate -f "$DIR/spec.yaml" >>"$DIR/validate.kb"
done
P=$(bench_median <"$DIR/plan.kb" | awk '{ printf "%.1f", $1 / 1024 }')
V=$(bench_median <"$DIR/validate.kb" | awk '{ printf "%.1f", $1 / 1024 }')
echo "plan, $((2 * NSHARDS)) redis (nothing listening): peak RSS $P MiB; validate of the same spec $V MiB (median of $RUNS)"
met=$(awk -v p="$P" 'BEGIN { print (p < 20) ? "yes" : "no" }')
bench_row "plan peak RSS, $((2 * NSHARDS)) redis + 3 sentinels + 1 proxy, nothing listening (MiB)" \
    "$P" "$V (rmgr validate of the same spec: libraries + spec)" "< 20 MiB" "$met"
exit 0
