#!/usr/bin/env bash
# test_failover_retry.sh - apply waits through a Sentinel failover attempt
# that ends without a promotion, until Sentinel's next attempt (real
# redis-server and redis-sentinel on loopback).
#
# An attempt whose election nobody wins (a split vote among the sentinels, or
# too few of them answering) is abandoned after min(10 s, failover-timeout),
# and Sentinel tries again only 2 x failover-timeout after it began: an apply
# bounded by down-after + failover-timeout gave up in between (the walk-through
# failed so in CI, four sentinels splitting their votes). Here the election
# fails for sure: 3 sentinels, quorum 1, two of them stopped (SIGSTOP) while the
# master is killed; the one left flags it o_down alone and cannot win the 2
# votes a majority of 3 needs. The stopped two come back (in TILT, so they do
# not start attempts of their own) after apply's first bound has passed, and
# vote for the first sentinel's second attempt.
#
#   1. apply started at once after the kill: says the attempt was abandoned and
#      when the next one is due, still waits after down-after + failover-timeout
#   2. once Sentinel promotes the replica on its second attempt: apply exits 0,
#      the old master rejoins as a replica, a second plan is empty
#
# Every process started (by the harness or by rmgr) is tracked and stopped.
# shellcheck disable=SC1091,SC2016,SC2034  # harness; eval strings
set -u
TESTS_DIR=${RMGR_TESTS_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
RMGR=${RMGR_BIN:-$(cd "$TESTS_DIR/.." && pwd)/rmgr}
. "$TESTS_DIR/harness.sh"
h_init failover_retry

export XDG_RUNTIME_DIR=$H_DIR/run
mkdir -p "$XDG_RUNTIME_DIR"
CLUSTER=rtest
BASE=$H_DIR/base
SPEC=$H_DIR/spec.yaml
DOWN_AFTER=2000 TIMEOUT=12000
# what apply waits by default before this change's extension: down-after +
# failover-timeout + 3 s of slack (FAILOVER_WAIT_SLACK_MS)
FIRST_BOUND=$(( DOWN_AFTER + TIMEOUT + 3000 ))

now_ms() { date +%s%3N; }

h_free_ports M R S1 S2 S3 || h_fatal "no free port"
cat >"$SPEC" <<EOF
cluster: $CLUSTER
defaults:
  transport: local
  base_dir: $BASE
redis:
  config:
    maxmemory: 32mb
    save: ""
    appendonly: "no"
    repl-diskless-sync-delay: 0
shards:
  - name: alpha
    master: 127.0.0.1:$M
    replicas: [127.0.0.1:$R]
sentinel:
  # one sentinel alone may flag the master down; a failover still needs the
  # votes of 2 of the 3
  quorum: 1
  down_after_ms: $DOWN_AFTER
  failover_timeout_ms: $TIMEOUT
  nodes: [127.0.0.1:$S1, 127.0.0.1:$S2, 127.0.0.1:$S3]
EOF

pid_of() { head -n1 "$BASE/$CLUSTER/$1/$2" 2>/dev/null | tr -dc 0-9; }
role_of() { h_cli "$1" INFO replication 2>/dev/null | tr -d '\r' | sed -n 's/^role://p'; }
master_port_of() { h_cli "$1" INFO replication 2>/dev/null | tr -d '\r' | sed -n 's/^master_port://p'; }

# ---------------------------------------------------------------- deploy

h_apply "$BASE/$CLUSTER" -f "$SPEC" --auto-approve
[ "$RC" -eq 0 ] || { echo "$OUT"; h_fatal "apply from nothing failed"; }
h_check "deployed: a second plan is empty" "$RMGR" plan -f "$SPEC" --detailed-exitcode
# the sentinels must know each other and the replica before the kill
deadline=$(( $(now_ms) + 15000 ))
until [ "$(h_cli "$S1" SENTINEL MASTER alpha 2>/dev/null | grep -A1 -x num-other-sentinels | tail -n1)" = 2 ] &&
      [ "$(h_cli "$S1" SENTINEL MASTER alpha 2>/dev/null | grep -A1 -x num-slaves | tail -n1)" = 1 ]; do
    [ "$(now_ms)" -ge "$deadline" ] && h_fatal "the sentinels did not discover each other"
    sleep 0.1
done

# ---------------------------------------------------------------- 1. the abandoned attempt

P2=$(pid_of "sentinel-$S2" sentinel.pid) P3=$(pid_of "sentinel-$S3" sentinel.pid)
MPID=$(pid_of "redis-$M" redis.pid)
[ -n "$P2" ] && [ -n "$P3" ] && [ -n "$MPID" ] || h_fatal "no pid for a sentinel or the master"
kill -STOP "$P2" "$P3"
kill -KILL "$MPID"
KILLED_AT=$(now_ms)
"$RMGR" apply -f "$SPEC" --auto-approve >"$H_DIR/apply.out" 2>&1 &
APPLY=$!
APPLY_AT=$(now_ms)

h_check "1: the sentinel left abandons its attempt (-failover-abort-not-elected)" \
    h_wait_log "$BASE/$CLUSTER/sentinel-$S1/sentinel.log" "failover-abort-not-elected" 1 25
h_check "1: apply says no sentinel is failing the master over" \
    h_wait_log "$H_DIR/apply.out" "no sentinel is failing it over" 1 10
h_check "1: apply says when Sentinel's next attempt is due, and waits for it" \
    h_wait_log "$H_DIR/apply.out" "Sentinel's next attempt is due in about" 1 5
# past the first bound, apply still waits
while [ $(( $(now_ms) - APPLY_AT )) -lt $(( FIRST_BOUND + 1000 )) ]; do sleep 0.1; done
# (a process that exited but is not reaped yet still answers kill -0: the output says it)
h_check "1: apply still waits $(( FIRST_BOUND + 1000 )) ms after it started (down-after + failover-timeout has passed)" \
    eval 'kill -0 "$APPLY" && ! grep -q "did not finish" "$H_DIR/apply.out"'
kill -CONT "$P2" "$P3"

# ---------------------------------------------------------------- 2. the next attempt

deadline=$(( KILLED_AT + 3 * TIMEOUT + 20000 ))
while kill -0 "$APPLY" 2>/dev/null && [ "$(now_ms)" -lt "$deadline" ]; do sleep 0.1; done
if kill -0 "$APPLY" 2>/dev/null; then
    kill -TERM "$APPLY"
fi
wait "$APPLY"; RC=$?
DONE_AT=$(now_ms)
h_track_cluster "$BASE/$CLUSTER"
echo "# apply exited $RC after $(( DONE_AT - APPLY_AT )) ms"
h_check "2: apply exits 0 once Sentinel's second attempt promoted the replica" [ "$RC" -eq 0 ]
[ "$RC" -eq 0 ] || cat "$H_DIR/apply.out"
h_check "2: apply said Sentinel was done" grep -q "wait: alpha: Sentinel is done" "$H_DIR/apply.out"
h_check "2: the sentinel log shows a second attempt, elected" \
    eval '[ "$(grep -c "try-failover" "$BASE/$CLUSTER/sentinel-$S1/sentinel.log")" -ge 2 ] ||
          grep -q "try-failover" "$BASE/$CLUSTER/sentinel-$S2/sentinel.log" "$BASE/$CLUSTER/sentinel-$S3/sentinel.log"'
h_check "2: the replica is the master" eval '[ "$(role_of "$R")" = master ]'
h_check "2: the old master rejoined as its replica" \
    eval '[ "$(role_of "$M")" = slave ] && [ "$(master_port_of "$M")" = "$R" ]'
h_check "2: apply never made the old master a master again" eval '! grep -q "REPLICAOF NO ONE\|promote 127.0.0.1:$M" "$H_DIR/apply.out"'
OUT=$("$RMGR" plan -f "$SPEC" --detailed-exitcode 2>&1); RC=$?
h_check "2: a second plan is empty (exit 0)" [ "$RC" -eq 0 ]
[ "$RC" -eq 0 ] || echo "$OUT"

OUT=$("$RMGR" destroy -f "$SPEC" --auto-approve --allow-destructive 2>&1) || echo "$OUT"
h_done
