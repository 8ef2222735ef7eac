#!/usr/bin/env bash
# bench/40_failover_local.sh - failover -> writes back through a local proxy (run by bench/run.sh).
#
# failover_repoint: a local cluster (3 shards, 3 sentinels, 1 nutcracker)
# deployed with `rmgr apply` into a temporary directory, `rmgr reconcile
# --watch --apply --interval 1h` following it, and bench/failover_repoint.c forcing
# BENCH_RUNS (default 20) failovers with SENTINEL FAILOVER and measuring, as
# a client sees it, the time from the quorum's +switch-master to the first SET
# through the proxy that lands on the new master. Prints every run, p50/p90,
# and the repoint times rmgr itself logged. Target: p50 < 10 ms on loopback.
#
# Everything runs on 127.0.0.1 with free ports; everything started is stopped
# at the end (rmgr destroy; the daemon by its pid). BENCH_KEEP=1 keeps the
# directory.
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
RMGR=${RMGR_BIN:-$ROOT/rmgr}
RUNS=${BENCH_RUNS:-20}
PY=/usr/bin/python3

[ -x "$RMGR" ] || { echo "bench: build rmgr first (make)" >&2; exit 1; }
mkdir -p build/bench
BIN=build/bench/failover_repoint
if [ ! -x "$BIN" ] || [ bench/failover_repoint.c -nt "$BIN" ]; then
    # shellcheck disable=SC2046
    cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -o "$BIN" bench/failover_repoint.c \
        $(pkg-config --cflags --libs hiredis) -lpthread || exit 1
fi

DIR=$(mktemp -d "${TMPDIR:-/tmp}/rmgr-bench-XXXXXX") || exit 1
DAEMON=
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
    if [ -n "$DAEMON" ] && kill -0 "$DAEMON" 2>/dev/null; then
        kill -TERM "$DAEMON"; wait "$DAEMON" 2>/dev/null
    fi
    [ -f "$DIR/bench.yaml" ] &&
        "$RMGR" destroy -f "$DIR/bench.yaml" --auto-approve --allow-destructive >/dev/null 2>&1
    if [ -n "${BENCH_KEEP:-}" ]; then echo "bench: kept $DIR"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    "$PY" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
ports=()
while [ ${#ports[@]} -lt 11 ]; do
    p=$(free_port)
    case " ${ports[*]} " in *" $p "*) ;; *) ports+=("$p") ;; esac
done
read -r M1 R1 M2 R2 M3 R3 S1 S2 S3 PX ST <<<"${ports[*]}"
export XDG_RUNTIME_DIR=$DIR/run RMGR_BENCH_PASSWORD="bench-$RANDOM$RANDOM"
mkdir -p "$XDG_RUNTIME_DIR"
cat >"$DIR/bench.yaml" <<EOF
cluster: bench
defaults:
  transport: local
  base_dir: $DIR/base
auth:
  password_env: RMGR_BENCH_PASSWORD
redis:
  config:
    save: ""
    appendonly: "no"
    repl-diskless-sync-delay: 0
shards:
  - name: shard1
    master: 127.0.0.1:$M1
    replicas: [127.0.0.1:$R1]
  - name: shard2
    master: 127.0.0.1:$M2
    replicas: [127.0.0.1:$R2]
  - name: shard3
    master: 127.0.0.1:$M3
    replicas: [127.0.0.1:$R3]
sentinel:
  quorum: 2
  down_after_ms: 2000
  failover_timeout_ms: 10000
  nodes: [127.0.0.1:$S1, 127.0.0.1:$S2, 127.0.0.1:$S3]
proxies:
  - host: 127.0.0.1
    listen: 127.0.0.1:$PX
    stats_port: $ST
EOF

echo "bench: deploying a local cluster in $DIR"
"$RMGR" apply -f "$DIR/bench.yaml" --auto-approve >"$DIR/apply.log" 2>&1 ||
    { tail -20 "$DIR/apply.log"; exit 1; }
"$RMGR" reconcile -f "$DIR/bench.yaml" --watch --apply --interval 1h --state-dir "$DIR/state" \
    --log-level debug --log-file "$DIR/reconcile.log" &
DAEMON=$!
for _ in $(seq 200); do
    n=$(grep -c watch-subscribed "$DIR/reconcile.log" 2>/dev/null)
    [ "${n:-0}" -ge 3 ] &&
        grep -q run-done "$DIR/reconcile.log" && break
    sleep 0.05
done

echo "bench: failover_repoint, $RUNS runs (SENTINEL FAILOVER, the shards in turn)"
"$BIN" --shard shard1 --shard shard2 --shard shard3 --proxy "$PX" --sentinel "$S1" --sentinel "$S2" --sentinel "$S3" \
    --quorum 2 --password-env RMGR_BENCH_PASSWORD --runs "$RUNS" | tee "$DIR/runs.txt"
rc=${PIPESTATUS[0]}
# shellcheck source=bench/lib.sh
. bench/lib.sh
if [ "$rc" = 0 ]; then
    runs=$(sed -n 's/^run .*: \([0-9.]*\) ms$/\1/p' "$DIR/runs.txt")
    p50=$(bench_pct 50 <<<"$runs") p95=$(bench_pct 95 <<<"$runs")
    met=no; awk -v v="$p50" 'BEGIN { exit !(v <= 5) }' && met=yes
    bench_row "failover -> writes back, local proxy, $RUNS runs (quorum +switch-master -> first SET on the new master)" \
        "p50 $p50 ms, p95 $p95 ms" "—" "p50 ≤ 5 ms" "$met"
fi

# what rmgr measured itself: quorum's +switch-master -> every proxy answering
grep -o 'took_ms=[0-9.]*' <(grep " repointed " "$DIR/reconcile.log") | cut -d= -f2 | sort -n |
    awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "rmgr: no repoint logged"; exit }
        p50 = v[int(0.5 * (NR - 1) + 1.5)]; p90 = v[int(0.9 * (NR - 1) + 1.5)]
        if (p50 == "") p50 = v[NR]; if (p90 == "") p90 = v[NR]
        printf "rmgr log (event -> proxy answering), %d repoints: min %.2f ms, p50 %.2f ms, p90 %.2f ms, max %.2f ms\n", NR, v[1], p50, p90, v[NR] }'
exit $rc
