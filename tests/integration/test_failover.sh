#!/usr/bin/env bash
# test_failover.sh - plan, apply and reconcile straight through real Sentinel
# failovers on loopback (3 shards of master + 2 replicas, 3 sentinels, quorum 2,
# one proxy, a password).
#
#   1. SIGKILL a master and run `plan --detailed-exitcode` every 100 ms from the
#      kill until Sentinel is done: every exit is 0 or 2, never 1; the failover
#      is shown as a state ("Sentinel failover in progress"), no demotion that
#      nobody does is claimed; apply then converges and a second plan is empty
#   2. apply started right after the first sentinel switched: exit 0, the proxy
#      on the new master, the old master back as its replica, next plan empty
#   3. apply started at once after the kill (before the promotion): the same
#   4. --failover-wait 0: exit 2 without waiting; SIGTERM while waiting: exit 1,
#      nothing changed; a failover that does not finish within --failover-wait:
#      exit 1, saying so, nothing changed
#   5. reconcile --once --apply started at once after a kill: no "apply
#      failed", no drift message: one failover message, healed
#      (5b: two overlapping failovers: it waits for both, no drift, no failure)
#   6. an instance to start whose port another process holds: apply refuses
#      to start a second one (it would delete the live one's pidfile)
#
# Every process started (by the harness or by rmgr) is tracked and stopped.
# shellcheck disable=SC1091,SC2016,SC2034,SC2317  # harness; eval strings
set -u
TESTS_DIR=${RMGR_TESTS_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
RMGR=${RMGR_BIN:-$(cd "$TESTS_DIR/.." && pwd)/rmgr}
PY=/usr/bin/python3
. "$TESTS_DIR/harness.sh"
h_init failover

export XDG_RUNTIME_DIR=$H_DIR/run
mkdir -p "$XDG_RUNTIME_DIR"
export RMGR_REDIS_TEST_PASSWORD="pw-$RANDOM-secret-$$"
PW=$RMGR_REDIS_TEST_PASSWORD
CLUSTER=ftest
BASE=$H_DIR/base
SPEC=$H_DIR/spec.yaml
HOOKLOG=$H_DIR/hook.log
: >"$HOOKLOG"

now_ms() { date +%s%3N; }

h_free_ports A1 A2 A3 B1 B2 B3 C1 C2 C3 S1 S2 S3 PX ST || h_fatal "no free port"
SENTINELS=("$S1" "$S2" "$S3")
cat >"$SPEC" <<EOF
cluster: $CLUSTER
defaults:
  transport: local
  base_dir: $BASE
auth:
  password_env: RMGR_REDIS_TEST_PASSWORD
redis:
  config:
    maxmemory: 32mb
    save: ""
    appendonly: "no"
    repl-diskless-sync-delay: 0
shards:
  - name: alpha
    master: 127.0.0.1:$A1
    replicas: [127.0.0.1:$A2, 127.0.0.1:$A3]
  - name: beta
    master: 127.0.0.1:$B1
    replicas: [127.0.0.1:$B2, 127.0.0.1:$B3]
  - name: gamma
    master: 127.0.0.1:$C1
    replicas: [127.0.0.1:$C2, 127.0.0.1:$C3]
sentinel:
  quorum: 2
  down_after_ms: 2000
  failover_timeout_ms: 20000
  nodes: [127.0.0.1:$S1, 127.0.0.1:$S2, 127.0.0.1:$S3]
proxies:
  - host: 127.0.0.1
    listen: 127.0.0.1:$PX
    stats_port: $ST
    hash: murmur
    distribution: ketama
    timeout_ms: 400
EOF

# sentinel_master SHARD PORT: the master port sentinel PORT names for SHARD
sentinel_master() { h_cli "$2" -a "$PW" SENTINEL GET-MASTER-ADDR-BY-NAME "$1" 2>/dev/null | tail -n1; }
# sentinel_busy SHARD: true while any sentinel flags the shard's master failover_in_progress
sentinel_busy() {
    local s
    for s in "${SENTINELS[@]}"; do
        h_cli "$s" -a "$PW" SENTINEL MASTER "$1" 2>/dev/null | grep -q failover_in_progress && return 0
    done
    return 1
}
# settled SHARD OLD: every sentinel names a master other than OLD, none is busy
settled() {
    local s
    for s in "${SENTINELS[@]}"; do
        [ "$(sentinel_master "$1" "$s")" != "$2" ] || return 1
    done
    ! sentinel_busy "$1"
}
role_of() { h_cli "$1" -a "$PW" INFO replication 2>/dev/null | tr -d '\r' | sed -n 's/^role://p'; }
master_port_of() { h_cli "$1" -a "$PW" INFO replication 2>/dev/null | tr -d '\r' | sed -n 's/^master_port://p'; }
kill_master() { # kill_master SHARD: SIGKILL its current master; sets OLD
    OLD=$(sentinel_master "$1" "$S1")
    local pid
    pid=$(head -n1 "$BASE/$CLUSTER/redis-$OLD/redis.pid" 2>/dev/null | tr -dc 0-9)
    [ -n "$pid" ] && kill -KILL "$pid"
    KILLED_AT=$(now_ms)
}
wait_settled() { # wait_settled SHARD OLD: up to 30 s
    local deadline=$(( $(now_ms) + 30000 ))
    until settled "$1" "$2"; do
        [ "$(now_ms)" -ge "$deadline" ] && return 1
        sleep 0.1
    done
}
# check_healed: the proxy on Sentinel's master, the old master its replica, plan empty
check_healed() { # check_healed LABEL SHARD OLD
    HL_NEW=$(sentinel_master "$2" "$S1") HL_OLD=$3
    local yml
    yml=$(cat "$BASE/$CLUSTER/proxy-$PX/nutcracker.yml" 2>/dev/null)
    h_check "$1: the proxy names the new master $HL_NEW for $2" grep -q "127.0.0.1:$HL_NEW:1 $2" <<<"$yml"
    h_check "$1: writes through the proxy succeed" \
        eval '[ "$(h_cli "$PX" -a "$PW" SET "k-$RANDOM" v 2>/dev/null)" = OK ]'
    h_check "$1: the old master $HL_OLD rejoined as a replica of $HL_NEW" \
        eval '[ "$(role_of "$HL_OLD")" = slave ] && [ "$(master_port_of "$HL_OLD")" = "$HL_NEW" ]'
    "$RMGR" plan -f "$SPEC" --detailed-exitcode >"$H_DIR/plan2.out" 2>&1
    local rc=$?
    h_check "$1: a second plan is empty (exit 0)" [ "$rc" -eq 0 ]
    [ "$rc" -eq 0 ] || cat "$H_DIR/plan2.out"
}
# the sentinels must list the restarted replica before the next kill, or it cannot be chosen
calm() { sleep 1; }

# ---------------------------------------------------------------- deploy

h_apply "$BASE/$CLUSTER" -f "$SPEC" --auto-approve
[ "$RC" -eq 0 ] || { echo "$OUT"; h_fatal "apply from nothing failed"; }
h_check "deployed: a second plan is empty" "$RMGR" plan -f "$SPEC" --detailed-exitcode
for i in $(seq 1 60); do h_cli "$PX" -a "$PW" SET "key:$i" "$i" >/dev/null 2>&1; done

# ---------------------------------------------------------------- 1. plan every 100 ms

kill_master alpha
exits=() failover_seen=0 demote=0 plans=0 after=0
deadline=$(( KILLED_AT + 40000 ))
while [ "$(now_ms)" -lt "$deadline" ]; do
    "$RMGR" plan -f "$SPEC" --detailed-exitcode >"$H_DIR/p.out" 2>&1
    rc=$?
    plans=$((plans + 1))
    exits+=("$rc")
    grep -q "Sentinel failover in progress" "$H_DIR/p.out" && failover_seen=1
    grep -qi "demote" "$H_DIR/p.out" && demote=1
    if [ "$rc" -eq 1 ]; then
        echo "--- plan exited 1 at $(( $(now_ms) - KILLED_AT )) ms:"; cat "$H_DIR/p.out"
    fi
    # after Sentinel is done, a few more plans: the converged plan after it, too
    if settled alpha "$OLD"; then
        after=$((after + 1))
        [ "$after" -ge 5 ] && break
    fi
    sleep 0.1
done
ones=0
for rc in "${exits[@]}"; do [ "$rc" -eq 1 ] && ones=$((ones + 1)); done
others=0
for rc in "${exits[@]}"; do [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ] && others=$((others + 1)); done
echo "    $plans plans from the kill until Sentinel was done, exits: ${exits[*]}"
h_check "plan during the failover: never exit 1 (${plans} plans)" [ "$ones" -eq 0 ]
h_check "plan during the failover: only exits 0 and 2" [ "$others" -eq 0 ]
h_check "plan showed the failover as a state (Sentinel failover in progress)" [ "$failover_seen" -eq 1 ]
h_check "plan never claimed a demotion" [ "$demote" -eq 0 ]
h_check "Sentinel finished the failover" settled alpha "$OLD"
h_apply "$BASE/$CLUSTER" -f "$SPEC" --auto-approve
h_check "1: apply after the failover: exit 0" [ "$RC" -eq 0 ]
[ "$RC" -eq 0 ] || echo "$OUT"
check_healed 1 alpha "$OLD"
calm

# ---------------------------------------------------------------- 2. apply after the first switch

kill_master beta
deadline=$(( KILLED_AT + 30000 ))
switched=0
while [ "$(now_ms)" -lt "$deadline" ]; do
    for s in "${SENTINELS[@]}"; do
        m=$(sentinel_master beta "$s")
        [ -n "$m" ] && [ "$m" != "$OLD" ] && { switched=1; break 2; }
    done
    sleep 0.02
done
busy=0; sentinel_busy beta && busy=1
h_apply "$BASE/$CLUSTER" -f "$SPEC" --auto-approve
h_check "2: a sentinel had switched when apply started" [ "$switched" -eq 1 ]
echo "    (the leader was still failing over when apply started: $busy)"
h_check "2: apply started right after the first switch: exit 0" [ "$RC" -eq 0 ]
[ "$RC" -eq 0 ] || echo "$OUT"
h_check "2: apply did not refuse" eval '! grep -q "refusing" <<<"$OUT"'
check_healed 2 beta "$OLD"
calm

# ---------------------------------------------------------------- 3. apply before the promotion

kill_master gamma
OUT=$("$RMGR" apply -f "$SPEC" --auto-approve 2>&1); RC=$?
took=$(( $(now_ms) - KILLED_AT ))
h_track_cluster "$BASE/$CLUSTER"
h_check "3: apply started at the kill: exit 0 (took $took ms)" [ "$RC" -eq 0 ]
[ "$RC" -eq 0 ] || echo "$OUT"
h_check "3: apply said what it waited for" grep -q "^wait: gamma: " <<<"$OUT"
h_check "3: apply waited for the failover, then planned again" \
    grep -q "Sentinel is done; the plan now:" <<<"$OUT"
check_healed 3 gamma "$OLD"
calm

# ---------------------------------------------------------------- 4. not waiting, signals, no failover

kill_master alpha
OUT=$("$RMGR" apply -f "$SPEC" --auto-approve --failover-wait 0 2>&1); RC=$?
h_check "4: --failover-wait 0 does not wait: exit 2" [ "$RC" -eq 2 ]
h_check "4: --failover-wait 0 says why" grep -q "re-run apply after the failover" <<<"$OUT"
h_check "4: --failover-wait 0 started nothing" \
    eval '! h_cli "$OLD" PING >/dev/null 2>&1'

"$RMGR" apply -f "$SPEC" --auto-approve >"$H_DIR/apply-term.out" 2>&1 &
APID=$!
sleep 0.7
kill -TERM "$APID"
wait "$APID"; RC=$?
h_check "4: SIGTERM while waiting: exit 1" [ "$RC" -eq 1 ]
h_check "4: SIGTERM while waiting: says nothing was changed" \
    grep -q "stopped by a signal while waiting for Sentinel; nothing was changed" "$H_DIR/apply-term.out"
h_check "4: SIGTERM while waiting: the dead master was not started" \
    eval '! h_cli "$OLD" PING >/dev/null 2>&1'
wait_settled alpha "$OLD" || h_fatal "Sentinel did not fail over alpha"
h_apply "$BASE/$CLUSTER" -f "$SPEC" --auto-approve
h_check "4: apply after the failover: exit 0" [ "$RC" -eq 0 ]
check_healed 4 alpha "$OLD"
calm

# a failover that does not finish in time: a bound shorter than Sentinel needs
kill_master beta
OUT=$("$RMGR" apply -f "$SPEC" --auto-approve --failover-wait 1s 2>&1); RC=$?
took=$(( $(now_ms) - KILLED_AT ))
h_check "4: failover not done within --failover-wait 1s: exit 1 (took $took ms)" \
    eval '[ "$RC" -eq 1 ] && [ "$took" -ge 1000 ] && [ "$took" -lt 8000 ]'
h_check "4: failover not done in time: says so" \
    grep -q "rmgr: shard beta: Sentinel did not finish within 1.0 s (--failover-wait)" <<<"$OUT"
h_check "4: failover not done in time: the dead master was not started" \
    eval '! h_cli "$OLD" PING >/dev/null 2>&1'
h_apply "$BASE/$CLUSTER" -f "$SPEC" --auto-approve
h_check "4: the next apply waits for the rest and heals: exit 0" [ "$RC" -eq 0 ]
[ "$RC" -eq 0 ] || echo "$OUT"
check_healed 4b beta "$OLD"
calm

# ---------------------------------------------------------------- 5. reconcile in the window

h_start_webhook "$HOOKLOG" || h_fatal "webhook receiver did not start"
HOOK_URL=$H_URL
export XDG_CACHE_HOME=$H_DIR/xdg-cache

RARGS=(-f "$SPEC" --webhook "$HOOK_URL" --webhook-format generic
       --webhook-retries 1)
# the reconciler's baseline of masters, so that it can tell a failover
"$RMGR" reconcile --once "${RARGS[@]}" >"$H_DIR/r0.log" 2>&1
h_check "5: in sync before the kill, nothing posted" [ ! -s "$HOOKLOG" ]
kill_master gamma
sleep 2.3 # in the window: down-after has passed, the failover is under way or about to be
"$RMGR" reconcile --once --apply "${RARGS[@]}" >"$H_DIR/r1.log" 2>&1; RC=$?
h_track_cluster "$BASE/$CLUSTER"
h_check "5: reconcile --once --apply through the failover: exit 0" [ "$RC" -eq 0 ]
[ "$RC" -eq 0 ] || cat "$H_DIR/r1.log"
h_check "5: no apply-failed posted" [ "$(h_webhook_count apply-failed)" -eq 0 ]
h_check "5: no drift-found posted (a failover is no drift)" [ "$(h_webhook_count drift-found)" -eq 0 ]
h_check "5: exactly one failover message" [ "$(h_webhook_count failover-observed)" -eq 1 ]
h_check "5: it names the new master and says it was healed" \
    eval 'grep "\"event\":\"failover-observed\"" "$HOOKLOG" | grep -q "shard gamma master 127.0.0.1:$OLD -> 127.0.0.1:$(sentinel_master gamma "$S1").*Healed by reconcile --apply"'
h_check "5: the log says a failover was in progress, not a refusal" \
    eval 'grep -q "failover-in-progress\|failover-wait" "$H_DIR/r1.log" && ! grep -q "plan-refused" "$H_DIR/r1.log"'
check_healed 5 gamma "$OLD"
"$RMGR" reconcile --once "${RARGS[@]}" >"$H_DIR/r2.log" 2>&1
h_check "5: the next run posts nothing" [ "$(wc -l <"$HOOKLOG")" -eq 1 ]

# ---------------------------------------------------------------- 5b. overlapping failovers

# a second master dies while reconcile waits for the first failover: it waits again
calm
: >"$HOOKLOG"
kill_master alpha
OLD_A=$OLD
( sleep 1.2; kill_master beta; echo "$OLD" >"$H_DIR/old_b" ) &
KB=$!
"$RMGR" reconcile --once --apply "${RARGS[@]}" >"$H_DIR/r3.log" 2>&1; RC=$?
wait "$KB"
OLD_B=$(cat "$H_DIR/old_b")
h_track_cluster "$BASE/$CLUSTER"
h_check "5b: two overlapping failovers, reconcile --once --apply: exit 0" [ "$RC" -eq 0 ]
[ "$RC" -eq 0 ] || tail -n 30 "$H_DIR/r3.log"
h_check "5b: no apply-failed, drift-found or drift-changed posted" \
    eval '[ "$(h_webhook_count apply-failed)" -eq 0 ] && [ "$(h_webhook_count drift-found)" -eq 0 ] && [ "$(h_webhook_count drift-changed)" -eq 0 ]'
h_check "5b: the failover message names both shards" \
    eval 'grep "\"event\":\"failover-observed\"" "$HOOKLOG" | grep -q "shard alpha master" &&
          grep "\"event\":\"failover-observed\"" "$HOOKLOG" | grep -q "shard beta master"'
check_healed 5b-alpha alpha "$OLD_A"
check_healed 5b-beta beta "$OLD_B"

# ---------------------------------------------------------------- 6. a port taken by a stranger

# the proxy dies; before apply restarts it, another process takes its port: a
# second nutcracker would fail to bind and delete the live one's pidfile on exit
ppid=$(head -n1 "$BASE/$CLUSTER/proxy-$PX/proxy.pid" | tr -dc 0-9)
h_stop "$ppid"
"$PY" -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8); time.sleep(120)' "$PX" &
STRANGER=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PX") 2>/dev/null && break; sleep 0.05; done
h_track "$STRANGER" python3 || h_fatal "the stranger did not start"
OUT=$("$RMGR" apply -f "$SPEC" --auto-approve 2>&1); RC=$?
h_check "6: apply with the proxy's port taken: exit 1" [ "$RC" -eq 1 ]
h_check "6: it says the port is held by another process and nothing was started" \
    grep -q "proxy 127.0.0.1:$PX was not running, but port $PX already accepts connections" <<<"$OUT"
h_check "6: no nutcracker was started" eval '! pgrep -f "nutcracker.*proxy-$PX" >/dev/null'
h_stop "$STRANGER"
h_apply "$BASE/$CLUSTER" -f "$SPEC" --auto-approve
h_check "6: the port free again, apply starts the proxy: exit 0" [ "$RC" -eq 0 ]
h_check "6: writes through the proxy succeed" \
    eval '[ "$(h_cli "$PX" -a "$PW" SET k6 v 2>/dev/null)" = OK ]'

OUT=$("$RMGR" destroy -f "$SPEC" --auto-approve --allow-destructive 2>&1) || echo "$OUT"
h_done
