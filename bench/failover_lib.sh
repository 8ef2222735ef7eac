# shellcheck shell=bash
# bench/failover_lib.sh - what 40_failover_local.sh and 41_failover_ssh.sh share (sourced
# after bench/lib.sh).
#
# A local cluster (3 shards of master + replica, 3 sentinels, quorum 2, one
# nutcracker on the spec host $FO_PROXY_HOST) is deployed with `rmgr apply`
# into $DIR; then each follower in turn (fo_series) keeps the proxy pointed
# at the masters while bench/failover_repoint.c forces $RUNS failovers with
# SENTINEL FAILOVER and measures, as a client sees it, the quorum's
# +switch-master -> the first SET through the proxy that lands on the new
# master. The followers compared in one run:
#   watch     rmgr reconcile --watch --apply --interval 1h (the fast repoint)
#   agent     bench/agent_min.c next to the proxy: one sentinel, rewrite, restart
#   periodic  rmgr reconcile --apply --interval 1s, without --watch
# Everything started is stopped by pid; the cluster is destroyed at exit.

FO_RMGR=${RMGR_BIN:-$ROOT/rmgr}
FO_WATCH_ARGS=() # more options of the watch follower
# BENCH_BASELINE_BIN: another build's rmgr, whose --watch is measured in the same run
# (follower watch-base), e.g. a checkout of the commit before a change
FO_BASE_BIN=${BENCH_BASELINE_BIN:-}
# Sentinel's failover-timeout in the spec (a master is failed over again only 2x after)
FO_FAILOVER_TIMEOUT_MS=${FO_FAILOVER_TIMEOUT_MS:-10000}
: "${RUNS:?set RUNS before sourcing}"

fo_build() {
    [ -x "$FO_RMGR" ] || { echo "bench: build rmgr first (make)" >&2; return 1; }
    mkdir -p build/bench
    local src
    for src in failover_repoint failover_kill agent_min; do
        if [ ! -x "build/bench/$src" ] || [ "bench/$src.c" -nt "build/bench/$src" ] ||
           [ bench/failover_bench.h -nt "build/bench/$src" ]; then
            # shellcheck disable=SC2046
            cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -o "build/bench/$src" "bench/$src.c" \
                $(pkg-config --cflags --libs hiredis) -lpthread || return 1
        fi
    done
}

# fo_init: build the helpers, make $DIR, stop and remove everything at exit.
fo_init() {
    fo_build || exit 1
    DIR=$(mktemp -d "${TMPDIR:-/tmp}/rmgr-bench-XXXXXX") || exit 1
    trap fo_cleanup EXIT
    trap 'exit 130' INT TERM
}

FO_FOLLOWER=
FO_EXTRA_PIDS=() # stopped after the cluster (an sshd the proxy host is reached through)
# shellcheck disable=SC2317  # run by the EXIT trap
fo_cleanup() {
    fo_stop_follower
    [ -f "$DIR/bench.yaml" ] &&
        "$FO_RMGR" destroy -f "$DIR/bench.yaml" --auto-approve --allow-destructive >/dev/null 2>&1
    local pid
    for pid in "${FO_EXTRA_PIDS[@]}"; do
        kill -0 "$pid" 2>/dev/null && { kill -TERM "$pid"; wait "$pid" 2>/dev/null; }
    done
    if [ -n "${BENCH_KEEP:-}" ]; then echo "bench: kept $DIR"; else rm -rf "$DIR"; fi
}

fo_stop_follower() {
    if [ -n "$FO_FOLLOWER" ] && kill -0 "$FO_FOLLOWER" 2>/dev/null; then
        kill -TERM "$FO_FOLLOWER"; wait "$FO_FOLLOWER" 2>/dev/null
    fi
    FO_FOLLOWER=
}

# fo_deploy HOSTS_YAML: write $DIR/bench.yaml (HOSTS_YAML: a "hosts:" block or
# empty; the proxy goes on $FO_PROXY_HOST) and apply it.
fo_deploy() {
    local ports=() p
    while [ ${#ports[@]} -lt 11 ]; do
        p=$(bench_free_port)
        case " ${ports[*]} " in *" $p "*) ;; *) ports+=("$p") ;; esac
    done
    read -r M1 R1 M2 R2 M3 R3 S1 S2 S3 PX ST <<<"${ports[*]}"
    export XDG_RUNTIME_DIR=$DIR/run RMGR_REDIS_BENCH_PASSWORD="bench-$RANDOM$RANDOM"
    mkdir -p "$XDG_RUNTIME_DIR"
    cat >"$DIR/bench.yaml" <<EOF
cluster: bench
$1
defaults:
  transport: local
  base_dir: $DIR/base
auth:
  password_env: RMGR_REDIS_BENCH_PASSWORD
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
  failover_timeout_ms: ${FO_FAILOVER_TIMEOUT_MS:-10000}
  nodes: [127.0.0.1:$S1, 127.0.0.1:$S2, 127.0.0.1:$S3]
proxies:
  - host: $FO_PROXY_HOST
    listen: 127.0.0.1:$PX
    stats_port: $ST
EOF
    echo "bench: deploying a cluster in $DIR (proxy on host $FO_PROXY_HOST)"
    "$FO_RMGR" apply -f "$DIR/bench.yaml" --auto-approve >"$DIR/apply.log" 2>&1 ||
        { tail -20 "$DIR/apply.log"; return 1; }
}

# fo_wait_log FILE PATTERN COUNT: wait (10 s at most) until FILE has COUNT lines matching PATTERN.
fo_wait_log() {
    local n
    for _ in $(seq 200); do
        n=$(grep -c -- "$2" "$1" 2>/dev/null)
        [ "${n:-0}" -ge "$3" ] && return 0
        sleep 0.05
    done
    echo "bench: '$2' not seen in $1" >&2
    return 1
}

# fo_start_follower NAME: start the follower NAME (see above) in the background.
fo_start_follower() {
    local log=$DIR/$1.log
    case $1 in
    watch*)
        "${FO_WATCH_BIN:-$FO_RMGR}" reconcile -f "$DIR/bench.yaml" --watch --apply --interval 1h \
            --state-dir "$DIR/state-$1" --log-level debug --log-file "$log" "${FO_WATCH_ARGS[@]}" &
        FO_FOLLOWER=$!
        fo_wait_log "$log" watch-subscribed 3 && fo_wait_log "$log" run-done 1 ;;
    agent)
        local conf pid
        conf=$(find "$DIR/base" -path "*proxy*" -name nutcracker.yml | head -1)
        pid=$(find "$DIR/base" -path "*proxy*" -name proxy.pid | head -1)
        build/bench/agent_min --sentinel "$S1" --conf "$conf" --pidfile "$pid" --proxy "$PX" \
            --password-env RMGR_REDIS_BENCH_PASSWORD 2>"$log" &
        FO_FOLLOWER=$!
        fo_wait_log "$log" "agent: subscribed" 1 ;;
    periodic)
        "$FO_RMGR" reconcile -f "$DIR/bench.yaml" --apply --interval 1s \
            --state-dir "$DIR/state-$1" --log-level debug --log-file "$log" &
        FO_FOLLOWER=$!
        fo_wait_log "$log" run-done 1 ;;
    esac
}

# fo_series NAME LABEL: RUNS failovers followed by NAME; prints every run and
# sets FO_SERIES_P50 / FO_SERIES_P95 (empty when it could not measure).
fo_series() {
    FO_SERIES_P50='' FO_SERIES_P95=''
    echo "bench: $2: $RUNS failovers (SENTINEL FAILOVER, the shards in turn)"
    fo_start_follower "$1" || { fo_stop_follower; return 1; }
    build/bench/failover_repoint --shard shard1 --shard shard2 --shard shard3 --proxy "$PX" \
        --sentinel "$S1" --sentinel "$S2" --sentinel "$S3" --quorum 2 \
        --password-env RMGR_REDIS_BENCH_PASSWORD --runs "$RUNS" | tee "$DIR/runs-$1.txt"
    local rc=${PIPESTATUS[0]}
    fo_stop_follower
    [ "$rc" = 0 ] || return 1
    local runs
    runs=$(sed -n 's/^run .*: \([0-9.]*\) ms$/\1/p' "$DIR/runs-$1.txt")
    FO_SERIES_P50=$(bench_pct 50 <<<"$runs") FO_SERIES_P95=$(bench_pct 95 <<<"$runs")
}

# fo_rmgr_log NAME: what rmgr measured itself in series NAME (quorum -> every proxy answering).
fo_rmgr_log() {
    grep " repointed " "$DIR/$1.log" | grep -o 'took_ms=[0-9.]*' | cut -d= -f2 | sort -n |
        awk -v name="$1" '{ v[NR] = $1 } END {
        if (NR == 0) { print "rmgr " name ": no repoint logged"; exit }
        p50 = v[int(0.5 * (NR - 1) + 1.5)]; p90 = v[int(0.9 * (NR - 1) + 1.5)]
        if (p50 == "") p50 = v[NR]; if (p90 == "") p90 = v[NR]
        printf "rmgr log %s (event -> proxy answering), %d repoints: min %.2f ms, p50 %.2f ms, p90 %.2f ms, max %.2f ms\n", name, NR, v[1], p50, p90, v[NR] }'
}

# fo_cell NAME: "p50 X ms, p95 Y ms" of the last fo_series, or why there is none.
fo_cell() {
    if [ -n "$FO_SERIES_P50" ]; then echo "p50 $FO_SERIES_P50 ms, p95 $FO_SERIES_P95 ms"
    else echo "not measured (see $1's log)"; fi
}

# fo_compare WHAT TARGET_MS: the three followers in one run, one table row. A
# follower whose series could not finish gets "not measured"; exit 1 then.
fo_compare() {
    local w a p rc=0 met=no
    fo_series watch "rmgr reconcile --watch" || rc=1
    w=$(fo_cell watch)
    fo_rmgr_log watch
    awk -v v="${FO_SERIES_P50:-inf}" -v t="$2" 'BEGIN { exit !(v + 0 <= t && v != "inf") }' && met=yes
    local b=""
    if [ -n "$FO_BASE_BIN" ]; then
        FO_WATCH_BIN=$FO_BASE_BIN fo_series watch-base "$FO_BASE_BIN reconcile --watch" || rc=1
        b="; baseline build --watch: $(fo_cell watch-base)"
        fo_rmgr_log watch-base
    fi
    fo_series agent "agent_min (one sentinel, rewrite + restart)" || rc=1
    a=$(fo_cell agent)
    fo_series periodic "rmgr reconcile --apply --interval 1s (no --watch)" || rc=1
    p=$(fo_cell periodic)
    bench_row "$1, $RUNS runs each (quorum's +switch-master -> first SET on the new master)" \
        "--watch: $w" "agent_min: $a; periodic 1 s: $p$b" "p50 ≤ $2 ms" "$met"
    return $rc
}
