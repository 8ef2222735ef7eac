#!/usr/bin/env bash
# test_chaos.sh - a chaos run (issue 9): `rmgr reconcile --watch --apply`
# keeps a local cluster (3 shards of master + 2 replicas, 3 sentinels with
# quorum 2, one nutcracker with hash murmur, a password) healthy while a
# client INCRs one counter key per shard through the proxy and a shard master
# is SIGKILLed every CHAOS_INTERVAL_S seconds, shards in turn.
#
# Checks:
#   1. no promotion is ever reverted: every sentinel announces exactly one
#      +switch-master per kill of each shard (no extra failover, no
#      fail-back), each from the killed master; and the role:master nodes
#      sampled every ~0.2 s are always Sentinel's latest choice (or the
#      replica being promoted, between the kill and the announcement), and
#      Sentinel's choice never answers role:slave or stops running unkilled;
#      rmgr follows Sentinel without going back either: the daemon repoints
#      the proxies exactly once per failover, each time at Sentinel's new
#      master (its "repointed" log lines), and every failover its runs tell
#      ("failover-observed") names Sentinel's latest choice
#   2. acknowledged writes: the client counts the INCRs acknowledged per key
#      (a failed INCR is retried later, not counted) and the final values are
#      read at the end; lost = acked - final. Redis replicates asynchronously,
#      so a write the master acknowledged just before SIGKILL may not have
#      reached the replica Sentinel promotes: such a loss is reported, not
#      failed, up to a bound of the writes of LOSS_WINDOW_S (1 s) of the
#      client's rate per kill of the shard (at least 20 per kill). A key that
#      vanished, or a final value / INCR reply that fell back further than
#      that (a reverted promotion or a wiped replica would do it), fails
#   3. writes come back after every failover: time from each kill to the
#      first acknowledged write on that shard after its writes failed; none
#      over 30 s; median and max printed
#   4. at the end, the daemon still running, `rmgr plan --detailed-exitcode`
#      exits 0 within 60 s (old masters restarted as replicas, proxies on the
#      new masters); the daemon logged no apply-failed, plan-refused,
#      failover-timeout or cluster-failed, posted no apply-failed to its
#      (loopback) webhook, and exits 0 on SIGTERM
#
# Environment:
#   CHAOS_KILLS=N         kills in the fixed-count mode (default 4, 3-5 for CI)
#   CHAOS_DURATION_S=S    kill until S seconds have passed instead (make soak: 600)
#   CHAOS_INTERVAL_S=S    seconds from one kill to the next (default 6; it must
#                         exceed down-after 2 s + failover ~1.5 s)
#   CHAOS_SHARDS=N        2 or 3 shards (default 3)
#   CHAOS_HUP=0|1         (default 1) after each kill, SIGHUP the daemon (a run at
#                         once) at one phase of the failover, phases in turn: "down"
#                         (0.5 s after the kill), "failover" (a sentinel reports
#                         failover_in_progress), "switching" (two sentinels announced
#                         +switch-master, the leader not yet: the planner sees them
#                         disagree), "settled" (0.5 s after all three); the CI variant
#                         (4 kills) starts a run in each phase once
#   CHAOS_RECONCILE_INTERVAL  the daemon's --interval (default 30s: a few runs at
#                         phases nobody chose)
#   HARNESS_KEEP=1        keep the temp dir (daemon log, chaos.json with every event)
#
# The client, the sentinel subscribers, the role sampler and the killer are
# one Python script, tests/integration/chaos.py (stdlib only, raw RESP over
# sockets, all to 127.0.0.1), bounded in time. Every process started (by the
# harness or by rmgr) is tracked and stopped. Figures are printed at the end.
# shellcheck disable=SC1091,SC2016,SC2034,SC2317  # harness; eval strings and functions run by h_check
set -u
TESTS_DIR=${RMGR_TESTS_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
RMGR=${RMGR_BIN:-$(cd "$TESTS_DIR/.." && pwd)/rmgr}
PY=/usr/bin/python3
. "$TESTS_DIR/harness.sh"
h_init chaos
T0=$(date +%s)

KILLS=${CHAOS_KILLS:-4}
DURATION=${CHAOS_DURATION_S:-}
INTERVAL=${CHAOS_INTERVAL_S:-6}
NSHARDS=${CHAOS_SHARDS:-3}
RC_INTERVAL=${CHAOS_RECONCILE_INTERVAL:-30s}
HUP=${CHAOS_HUP:-1}
DOWN_AFTER_MS=2000   # FIELD-NOTES: 1000 ms gave spurious second failovers
WRITES_BACK_MAX_S=30
CONVERGE_S=60

# a copy of the binary: a rebuild during the run changes nothing under test
cp "$RMGR" "$H_DIR/rmgr" || { echo "FAIL no rmgr binary at $RMGR"; echo "0 passed, 1 failed"; exit 1; }
RMGR=$H_DIR/rmgr

# locks (lock_default_path) and caches stay inside the test directory
export XDG_RUNTIME_DIR=$H_DIR/run XDG_CACHE_HOME=$H_DIR/xdg-cache
mkdir -p "$XDG_RUNTIME_DIR"
export RMGR_REDIS_TEST_PASSWORD="pw-$RANDOM-chaos-$$"
PW=$RMGR_REDIS_TEST_PASSWORD
CLUSTER=chaos
BASE=$H_DIR/base
SPEC=$H_DIR/chaos.yaml
DLOG=$H_DIR/daemon.log
DAEMON=

FIGS=()   # printed at the end
fig() { FIGS+=("$*"); }

# cluster_procs: every process of this cluster (an instance whose pidfile was
# lost included): what listens on one of its ports, or names $BASE in its
# command line (redis and sentinel rewrite theirs, nutcracker keeps it)
ALL_PORTS=()
cluster_procs() {
    local p
    {
        [ ${#ALL_PORTS[@]} -gt 0 ] && ss -Hltnp 2>/dev/null | awk -v want=" ${ALL_PORTS[*]} " '{
            n = split($4, a, ":")
            if (index(want, " " a[n] " ")) {
                s = $0
                while (match(s, /pid=[0-9]+/)) { print substr(s, RSTART + 4, RLENGTH - 4); s = substr(s, RSTART + RLENGTH) }
            }
        }'
        for p in /proc/[0-9]*; do
            case "$( { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null)" in *"$BASE/"*) echo "${p#/proc/}" ;; esac
        done
    } | sort -u | while read -r p; do h_starttime "$p" >/dev/null && echo "$p"; done
}

# orphans: the processes of this cluster that no pidfile names
orphans() {
    local pid named=" "
    for f in "$BASE/$CLUSTER"/*/*.pid; do
        [ -e "$f" ] && named+="$(head -n1 "$f" 2>/dev/null | tr -dc 0-9) "
    done
    for pid in $(cluster_procs); do
        [[ $named == *" $pid "* ]] || echo "$pid"
    done
}

# track_bg PID EXPECT: h_track a background job once it has exec'd EXPECT
track_bg() {
    local i
    for i in $(seq 100); do
        h_track "$1" "$2" 2>/dev/null && return 0
        h_starttime "$1" >/dev/null || break
        sleep 0.05
    done
    h_track "$1" "$2" && return 0
    kill "$1" 2>/dev/null   # our own job, whatever it runs: not left behind
    return 1
}

# stop the daemon first (it restarts what it finds dead), then track what it
# started, then the harness stops everything
chaos_cleanup() {
    local pid
    [ -n "$DAEMON" ] && h_alive "$DAEMON" && h_stop "$DAEMON" >/dev/null 2>&1
    if [ -n "$H_DIR" ]; then
        h_track_cluster "$BASE/$CLUSTER"
        for pid in $(orphans); do
            [[ " ${H_PIDS[*]} " == *" $pid "* ]] || h_track "$pid" 2>/dev/null
        done
    fi
    h_cleanup
}
trap chaos_cleanup EXIT
for sig in INT TERM HUP; do
    # shellcheck disable=SC2064
    trap "chaos_cleanup; trap - $sig EXIT; kill -$sig \$\$" "$sig"
done

print_figures() {
    local f
    echo "# ---- figures"
    for f in "${FIGS[@]}"; do echo "# $f"; done
    echo "# total time $(( $(date +%s) - T0 )) s"
}

fatal() {
    echo "FAIL $*"; H_FAILED=$((H_FAILED + 1))
    [ -s "$DLOG" ] && { echo "# daemon log (last 30 lines):"; tail -n 30 "$DLOG" | sed 's/^/#   /'; }
    print_figures; h_done; exit 1
}

[[ $KILLS =~ ^[1-9][0-9]?$ ]] || fatal "CHAOS_KILLS must be a number of kills (got '$KILLS')"
[[ $INTERVAL =~ ^[1-9][0-9]{0,2}$ ]] || fatal "CHAOS_INTERVAL_S must be whole seconds (got '$INTERVAL')"
[[ $NSHARDS =~ ^[23]$ ]] || fatal "CHAOS_SHARDS must be 2 or 3 (got '$NSHARDS')"
[[ $HUP =~ ^[01]$ ]] || fatal "CHAOS_HUP must be 0 or 1 (got '$HUP')"
[ -z "$DURATION" ] || [[ $DURATION =~ ^[1-9][0-9]{0,5}$ ]] ||
    fatal "CHAOS_DURATION_S must be whole seconds (got '$DURATION')"
[ "$INTERVAL" -gt $(( DOWN_AFTER_MS / 1000 + 2 )) ] ||
    echo "# warning: CHAOS_INTERVAL_S=$INTERVAL is hardly longer than down-after + failover"

# ---------------------------------------------------------------- the chaos script

# tests/integration/chaos.py, copied like the binary (HARNESS_KEEP=1 keeps it with the rest)
cp "$TESTS_DIR/integration/chaos.py" "$H_DIR/chaos.py" ||
    fatal "no chaos script at $TESTS_DIR/integration/chaos.py"

# ---------------------------------------------------------------- the cluster

SHARD_NAMES=(alpha beta gamma)
SHARD_YAML=
SHARDS_JSON=
for ((i = 0; i < NSHARDS; i++)); do
    h_free_ports PM PR1 PR2 || fatal "no free port"
    ALL_PORTS+=("$PM" "$PR1" "$PR2")
    SHARD_YAML+="  - name: ${SHARD_NAMES[$i]}
    master: 127.0.0.1:$PM
    replicas: [127.0.0.1:$PR1, 127.0.0.1:$PR2]
"
    SHARDS_JSON+="${SHARDS_JSON:+,}{\"name\":\"${SHARD_NAMES[$i]}\",\"nodes\":[\"127.0.0.1:$PM\",\"127.0.0.1:$PR1\",\"127.0.0.1:$PR2\"]}"
done
h_free_ports S1 S2 S3 PX ST || fatal "no free port"
ALL_PORTS+=("$S1" "$S2" "$S3" "$PX" "$ST")
cat >"$SPEC" <<EOF
cluster: $CLUSTER
defaults:
  transport: local
  base_dir: $BASE
auth:
  password_env: RMGR_REDIS_TEST_PASSWORD
redis:
  config:
    save: ""
    appendonly: "no"
    repl-diskless-sync-delay: 0
shards:
$SHARD_YAML
sentinel:
  quorum: 2
  down_after_ms: $DOWN_AFTER_MS
  failover_timeout_ms: 60000
  nodes: [127.0.0.1:$S1, 127.0.0.1:$S2, 127.0.0.1:$S3]
proxies:
  - host: 127.0.0.1
    listen: 127.0.0.1:$PX
    stats_port: $ST
    hash: murmur
    distribution: ketama
    hash_tag: "{}"
    timeout_ms: 400
EOF

t=$(date +%s%3N)
h_apply "$BASE/$CLUSTER" -f "$SPEC" --auto-approve
h_check "cluster deployed: $NSHARDS shards of master + 2 replicas, 3 sentinels, a proxy ($(( $(date +%s%3N) - t )) ms)" [ "$RC" -eq 0 ]
[ "$RC" -eq 0 ] || { printf '%s\n' "$OUT" | tail -n 20 | sed 's/^/#   /'; fatal "apply failed"; }

# a loopback webhook receiver: what the daemon posts is counted in the figures
HOOKLOG=$H_DIR/hook.log
h_start_webhook "$HOOKLOG" || fatal "webhook receiver did not start"
HOOK_PORT=$H_PORT

"$RMGR" reconcile -f "$SPEC" --watch --apply --interval "$RC_INTERVAL" --state-dir "$H_DIR/state" \
    --webhook "http://127.0.0.1:$HOOK_PORT/hook" --webhook-format generic --webhook-retries 1 \
    --log-level debug --log-file "$DLOG" 2>"$H_DIR/daemon.err" &
DAEMON=$!
track_bg "$DAEMON" rmgr || fatal "the reconcile daemon did not start"
h_check "daemon: subscribed to all 3 sentinels" h_wait_log "$DLOG" "watch-subscribed cluster=$CLUSTER" 3 15
h_check "daemon: its first run found the cluster in sync" h_wait_log "$DLOG" "in-sync cluster=$CLUSTER" 1 30

# ---------------------------------------------------------------- chaos

if [ -n "$DURATION" ]; then
    HARD=$(( DURATION + 180 ))
    echo "# chaos: a master SIGKILLed every $INTERVAL s for $DURATION s ($NSHARDS shards in turn)"
else
    HARD=$(( KILLS * (INTERVAL + 35) + 90 ))
    echo "# chaos: $KILLS masters SIGKILLed, one every $INTERVAL s ($NSHARDS shards in turn)"
fi
cat >"$H_DIR/chaos-config.json" <<EOF
{"proxy": $PX, "password_env": "RMGR_REDIS_TEST_PASSWORD", "shards": [$SHARDS_JSON],
 "sentinels": [$S1, $S2, $S3], "base": "$BASE/$CLUSTER", "kills": $KILLS,
 "duration_s": ${DURATION:-0}, "interval_s": $INTERVAL, "hard_limit_s": $HARD,
 "writes_back_max_s": $WRITES_BACK_MAX_S, "daemon_pid": $DAEMON, "hup": $HUP}
EOF
"$PY" "$H_DIR/chaos.py" run "$H_DIR/chaos-config.json" "$H_DIR/chaos.json" >"$H_DIR/chaos.out" 2>&1 &
CHAOS=$!
track_bg "$CHAOS" chaos.py || fatal "the chaos script did not start"
# rmgr restarts the killed masters: track them as they come (for a cleanup mid-run)
while h_alive "$CHAOS"; do
    sleep 1
    h_track_cluster "$BASE/$CLUSTER"
done
wait "$CHAOS"
CHAOS_RC=$?
h_track_cluster "$BASE/$CLUSTER"
h_check "the chaos script ran to its end" eval '[ "$CHAOS_RC" -eq 0 ] && [ -s "$H_DIR/chaos.json" ]'
[ -s "$H_DIR/chaos.json" ] || { sed 's/^/#   /' "$H_DIR/chaos.out"; fatal "no result from the chaos script"; }

# ---------------------------------------------------------------- 4. the daemon healed everything

t=$(date +%s%3N)
deadline=$(( t + CONVERGE_S * 1000 ))
rcs=
while :; do
    POUT=$("$RMGR" plan -f "$SPEC" --detailed-exitcode --no-color 2>&1)
    PRC=$?
    rcs+="${rcs:+ }$PRC"
    [ "$PRC" -eq 0 ] && break
    [ "$(date +%s%3N)" -ge "$deadline" ] && break
    sleep 1
done
took=$(( $(date +%s%3N) - t ))
h_track_cluster "$BASE/$CLUSTER"
h_check "with the daemon running, plan --detailed-exitcode exits 0 within $CONVERGE_S s (after $took ms; exits: $rcs)" \
    [ "$PRC" -eq 0 ]
[ "$PRC" -eq 0 ] || printf '%s\n' "$POUT" | sed 's/^/#   /'
h_check "no plan in between exited 1 (error or refusal)" eval '[[ " $rcs " != *" 1 "* ]]'
fig "plan --detailed-exitcode after the chaos: exit $PRC after $took ms (exits: $rcs)"

h_check "the daemon is still running (no crash)" h_alive "$DAEMON"
# (twice, a second apart: a short-lived helper such as 'nutcracker -t' is no orphan)
ORPHANS=$(orphans | sort)
sleep 1
ORPHANS=$(comm -12 <(printf '%s\n' "$ORPHANS") <(orphans | sort) | tr '\n' ' ')
ORPHANS=${ORPHANS% }
h_check "rmgr lost track of no process: every redis, sentinel and nutcracker of the cluster is named by its pidfile${ORPHANS:+ (not: $ORPHANS)}" \
    [ -z "$ORPHANS" ]
for pid in $ORPHANS; do echo "#   $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"; done
fig "processes of the cluster at the end: $(cluster_procs | wc -l) (expected $(( NSHARDS * 3 + 4 )): redis, sentinels, nutcracker)"
for ev in apply-failed plan-refused failover-timeout cluster-failed; do
    fig "daemon: $(grep -c " $ev " "$DLOG") $ev"
done
fig "daemon: $(grep -c " failover-in-progress " "$DLOG") failover-in-progress, $(grep -c " apply-succeeded " "$DLOG") apply-succeeded, $(grep -c " repointed " "$DLOG") repointed, $(grep -c " run-done " "$DLOG") runs"
h_check "daemon: no apply-failed, plan-refused, failover-timeout or cluster-failed logged" \
    eval '! grep -E -q " (apply-failed|plan-refused|failover-timeout|cluster-failed) " "$DLOG"'
grep -E " (apply-failed|plan-refused|failover-timeout|cluster-failed) " "$DLOG" | head -n 10 | sed 's/^/#   /'

kill -TERM "$DAEMON"
wait "$DAEMON"
DRC=$?
h_check "SIGTERM: the daemon exits 0" [ "$DRC" -eq 0 ]
DAEMON=
# (what it queued is delivered before it exits)
h_check "daemon: no apply-failed posted" eval '[ "$(h_webhook_count apply-failed)" -eq 0 ]'
NKILLS=$("$PY" -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["kills"]))' "$H_DIR/chaos.json")
# issue 9: one notification per failover: the watcher's, nothing from the runs that heal after it
h_check "webhook: one failover-observed per kill ($(h_webhook_count failover-observed) for $NKILLS)" \
    eval '[ "$(h_webhook_count failover-observed)" -eq "$NKILLS" ]'
h_check "webhook: no drift-found or drift-resolved for the failovers" \
    eval '[ "$(h_webhook_count drift-found)" -eq 0 ] && [ "$(h_webhook_count drift-resolved)" -eq 0 ]'
fig "webhook: $(wc -l <"$HOOKLOG") posts ($(grep -o '"event":"[a-z-]*"' "$HOOKLOG" | cut -d'"' -f4 |
    sort | uniq -c | awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2 }'))"

# ---------------------------------------------------------------- 1-3. the run's figures

while IFS= read -r line; do
    case $line in
        "CHECK "*) ok=${line#CHECK }; what=${ok#? }; ok=${ok%% *}
                   h_check "$what" [ "$ok" = 1 ] ;;
        "FIG "*) fig "${line#FIG }" ;;
        "INFO "*) echo "# ${line#INFO }" ;;
        *) echo "# $line" ;;
    esac
done < <("$PY" "$H_DIR/chaos.py" report "$H_DIR/chaos.json" "$DLOG" "$HOOKLOG" 2>&1)
[ -s "$H_DIR/chaos.out" ] && sed 's/^/# chaos.py: /' "$H_DIR/chaos.out"

h_check "the password appears in no log" \
    eval '! cat "$DLOG" "$H_DIR/daemon.err" "$H_DIR/chaos.out" "$HOOKLOG" | grep -q -F -- "$PW"'

if [ "$H_FAILED" -gt 0 ] && grep -q -E "^[^ ]+ (warn|error) " "$DLOG"; then
    echo "# daemon log (warnings and errors, last 30):"
    grep -E "^[^ ]+ (warn|error) " "$DLOG" | tail -n 30 | sed 's/^/#   /'
fi
print_figures
h_done
