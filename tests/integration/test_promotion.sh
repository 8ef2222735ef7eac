#!/usr/bin/env bash
# test_promotion.sh - rmgr reconcile --watch --repoint-at promotion against a real
# local cluster (redis, 3 sentinels quorum 2, nutcracker, all started by rmgr apply).
#
#   1. SIGKILL shard1's master: the proxy serves writes on the promoted replica
#      BEFORE a quorum of sentinels has published +switch-master (both times in the
#      log; the order is asserted, not a duration); the quorum then confirms it;
#      nobody reverts the promotion
#   2. SIGKILL shard2's master, then the replica Sentinel's leader selects, right
#      after the selection: Sentinel times out (failover-timeout), a new election
#      picks the other replica; the proxy ends on the master Sentinel finally
#      announces, which stays master
#   2b. shard1 fails over a second time (back to its first master): still one repoint, at
#      the promotion (the sentinels' stale announcements of the first failover are no quorum)
#   3. the daemon's run after the repoints heals the rest; a later reconcile
#      finds nothing to do; the password appears in no log
#
# Every process started (by the harness or by rmgr) is tracked and stopped.
# shellcheck disable=SC1091,SC2016,SC2317  # harness; eval strings; functions run by h_check
set -u
TESTS_DIR=${RMGR_TESTS_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
RMGR=${RMGR_BIN:-$(cd "$TESTS_DIR/.." && pwd)/rmgr}
. "$TESTS_DIR/harness.sh"
h_init promotion

export XDG_RUNTIME_DIR=$H_DIR/run XDG_CACHE_HOME=$H_DIR/xdg-cache
mkdir -p "$XDG_RUNTIME_DIR"
export RMGR_REDIS_TEST_PASSWORD="pw-$RANDOM-secret-$$"
PW=$RMGR_REDIS_TEST_PASSWORD
CLUSTER=ptest
BASE=$H_DIR/base
SPEC=$H_DIR/$CLUSTER.yaml

h_free_ports M1 R1 M2 R2 R3 S1 S2 S3 PX ST || h_fatal "no free port"
# failover-timeout 3 s: Sentinel aborts a promotion that does not happen within it and
# retries after twice that (FIELD-NOTES)
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
  - name: shard1
    master: 127.0.0.1:$M1
    replicas: [127.0.0.1:$R1]
  - name: shard2
    master: 127.0.0.1:$M2
    replicas: [127.0.0.1:$R2, 127.0.0.1:$R3]
sentinel:
  quorum: 2
  down_after_ms: 2000
  failover_timeout_ms: 3000
  nodes: [127.0.0.1:$S1, 127.0.0.1:$S2, 127.0.0.1:$S3]
proxies:
  - host: 127.0.0.1
    listen: 127.0.0.1:$PX
    stats_port: $ST
EOF

h_apply "$BASE/$CLUSTER" -f "$SPEC" --auto-approve
[ "$RC" -eq 0 ] || { echo "$OUT"; h_fatal "apply failed"; }
h_check "cluster deployed" [ "$RC" -eq 0 ]

h_check "--repoint-at promotion needs --watch" \
    eval '"$RMGR" reconcile -f "$SPEC" --once --repoint-at promotion >/dev/null 2>&1; [ $? -eq 2 ]'
h_check "--repoint-at takes switch or promotion only" \
    eval '"$RMGR" reconcile -f "$SPEC" --watch --repoint-at soon 2>&1 | grep -q "needs switch or promotion"'

DLOG=$H_DIR/daemon.log
"$RMGR" reconcile -f "$SPEC" --watch --repoint-at promotion --apply --interval 1h \
    --log-level debug --log-file "$DLOG" 2>"$H_DIR/daemon.err" &
DAEMON=$!
h_track "$DAEMON" rmgr
h_check "daemon: subscribed to all 3 sentinels" h_wait_log "$DLOG" "watch-subscribed cluster=$CLUSTER" 3 10
h_check "daemon: first run done" h_wait_log "$DLOG" "run-done" 1 30

proxy_conf=$BASE/$CLUSTER/proxy-$PX/nutcracker.yml
# key_on PORT: a key the proxy sends to the shard whose master listens on PORT
key_on() {
    local i
    for i in $(seq 300); do
        h_cli "$PX" -a "$PW" SET "probe$i" x >/dev/null 2>&1
        [ "$(h_cli "$1" -a "$PW" EXISTS "probe$i" 2>/dev/null)" = 1 ] && { echo "probe$i"; return 0; }
    done
    return 1
}
# log_ms LINE: the epoch ms of a log line's timestamp
log_ms() { date -d "$(cut -d' ' -f1 <<<"$1")" +%s%3N; }
# writes_on KEY VALUE PORT: a SET through the proxy that landed on PORT
writes_on() {
    [ "$(h_cli "$PX" -a "$PW" SET "$1" "$2" 2>/dev/null)" = OK ] &&
        [ "$(h_cli "$3" -a "$PW" GET "$1" 2>/dev/null)" = "$2" ]
}
role_of() { h_cli "$1" -a "$PW" ROLE 2>/dev/null | head -n1; }

# ---------------------------------------------------------------- 1. the normal episode

key1=$(key_on "$M1")
h_check "found a key on shard1" [ -n "$key1" ]
m1pid=$(tr -dc 0-9 <"$BASE/$CLUSTER/redis-$M1/redis.pid")
t_kill=$(date +%s%3N)
kill -KILL "$m1pid"
t_write=
deadline=$(( t_kill + 20000 ))
while [ "$(date +%s%3N)" -lt "$deadline" ]; do
    if writes_on "$key1" after "$R1"; then t_write=$(date +%s%3N); break; fi
    sleep 0.01
done
h_check "shard1: the proxy serves writes on the promoted replica" [ -n "$t_write" ]
h_check "shard1: a quorum's +switch-master arrived after that" \
    h_wait_log "$DLOG" "switch-master cluster=$CLUSTER .*shard=shard1 master=127.0.0.1:$R1" 2 20
quorum_line=$(grep "switch-master cluster=$CLUSTER .*shard=shard1 master=127.0.0.1:$R1" "$DLOG" | sed -n 2p)
promoted_line=$(grep "promoted cluster=$CLUSTER .*shard=shard1" "$DLOG" | head -n1)
repointed_line=$(grep "repointed cluster=$CLUSTER .*shard=shard1" "$DLOG" | head -n1)
t_quorum=$(log_ms "$quorum_line")
echo "# kill at $t_kill; first write on the new master at $t_write (+$((t_write - t_kill)) ms);" \
     "the quorum's +switch-master at $t_quorum (+$((t_quorum - t_kill)) ms)"
echo "# $promoted_line"
echo "# $repointed_line"
h_check "shard1: writes on the new master BEFORE the quorum's +switch-master" [ "$t_write" -lt "$t_quorum" ]
h_check "shard1: rmgr saw the promotion and repointed at it" \
    eval '[ -n "$promoted_line" ] && grep -q "after the promotion" <<<"$repointed_line"'
h_check "shard1: the repoint logged before the quorum's +switch-master" \
    [ "$(log_ms "$repointed_line")" -le "$t_quorum" ]
h_check "shard1: the quorum confirms the early repoint" \
    h_wait_log "$DLOG" "promotion-confirmed cluster=$CLUSTER .*shard=shard1 master=127.0.0.1:$R1" 1 10
h_check "shard1: the proxy was repointed once (the quorum needed no second repoint)" \
    [ "$(grep -c "repointed cluster=$CLUSTER .*shard=shard1" "$DLOG")" -eq 1 ]
h_check "shard1: the event chain was logged (odown quorum, leader, selection)" \
    eval 'grep -q "sentinel-event .*+odown" "$DLOG" && grep -q "sentinel-event .*+elected-leader" "$DLOG" &&
          grep -q "sentinel-event .*+selected-slave" "$DLOG"'
h_check "shard1: nothing unexpected" [ "$(grep -c "promotion-unexpected cluster=$CLUSTER .*shard=shard1" "$DLOG")" -eq 0 ]
h_check "shard1: the daemon's run after the repoint" h_wait_log "$DLOG" "run-done" 2 60
h_track_cluster "$BASE/$CLUSTER"
h_check "shard1: the promotion stands (R1 master, the old master its replica)" \
    eval '[ "$(role_of "$R1")" = master ] && [ "$(role_of "$M1")" = slave ]'

# ---------------------------------------------------------------- 2. the selected replica dies

key2=$(key_on "$M2")
h_check "found a key on shard2" [ -n "$key2" ]
runs=$(grep -c run-done "$DLOG")
selected_before=$(grep -c "sentinel-event cluster=$CLUSTER .*shard=shard2 .*+selected-slave" "$DLOG")
m2pid=$(tr -dc 0-9 <"$BASE/$CLUSTER/redis-$M2/redis.pid")
kill -KILL "$m2pid"
# the replica the leader selects is killed at once (SLAVEOF NO ONE follows ~100 ms later)
victim=
deadline=$(( $(date +%s%3N) + 20000 ))
while [ "$(date +%s%3N)" -lt "$deadline" ]; do
    line=$(grep "sentinel-event cluster=$CLUSTER .*shard=shard2 .*+selected-slave" "$DLOG" | sed -n "$((selected_before + 1))p")
    if [ -n "$line" ]; then victim=$(grep -o 'replica=[0-9.]*:[0-9]*' <<<"$line" | cut -d: -f2); break; fi
    sleep 0.005
done
h_check "shard2: Sentinel's leader selected a replica" [ -n "$victim" ]
other=$R2
[ "$victim" = "$R2" ] && other=$R3
vpid=$(tr -dc 0-9 <"$BASE/$CLUSTER/redis-$victim/redis.pid" 2>/dev/null)
[ -n "$vpid" ] && kill -KILL "$vpid"
echo "# killed the selected replica 127.0.0.1:$victim; the other is 127.0.0.1:$other"
h_check "shard2: Sentinel aborts the failover (failover-timeout)" \
    h_wait_log "$DLOG" "sentinel-event cluster=$CLUSTER .*shard=shard2 .*-failover-abort" 1 20
h_check "shard2: a new election selects the other replica" \
    h_wait_log "$DLOG" "sentinel-event cluster=$CLUSTER .*shard=shard2 .*replica=127.0.0.1:$other .*+selected-slave" 1 30
h_check "shard2: a quorum announces the other replica" \
    h_wait_log "$DLOG" "switch-master cluster=$CLUSTER .*shard=shard2 master=127.0.0.1:$other" 2 30
h_check "shard2: the proxy ends on the master Sentinel announced" \
    h_wait_log "$DLOG" "repointed cluster=$CLUSTER .*shard=shard2 master=127.0.0.1:$other" 1 10
last_repoint=$(grep "repointed cluster=$CLUSTER .*shard=shard2" "$DLOG" | tail -n1)
echo "# $last_repoint"
h_check "shard2: the last repoint names it" grep -q "master=127.0.0.1:$other" <<<"$last_repoint"
for _ in $(seq 100); do writes_on "$key2" after "$other" && break; sleep 0.05; done
h_check "shard2: writes through the proxy land on it" writes_on "$key2" again "$other"
h_check "shard2: nutcracker.yml names it" grep -q "127.0.0.1:$other:1 shard2" "$proxy_conf"
grep -h "promotion-unexpected\|sentinel-event.*shard2.*abort" "$DLOG" | sed 's/^/# /'
h_check "shard2: the daemon's run after the repoint" h_wait_log "$DLOG" "run-done" $((runs + 1)) 60
h_track_cluster "$BASE/$CLUSTER"

# ---------------------------------------------------------------- 2b. shard1 again

# The second failover of a shard: the sentinels' last announcements still name the first
# failover's master; none of them may count as a quorum against the early repoint.
sentinels_trust() { # sentinels_trust SHARD: every sentinel lists a healthy replica
    local s out
    for s in "$S1" "$S2" "$S3"; do
        out=$(h_cli "$s" -a "$PW" SENTINEL REPLICAS "$1" 2>/dev/null | tr '\n' ' ')
        [[ $out == *"flags slave "* && $out == *"master-link-status ok "* ]] || return 1
    done
}
for _ in $(seq 300); do sentinels_trust shard1 && break; sleep 0.1; done
h_check "shard1: the sentinels trust the old master as a replica again" sentinels_trust shard1
repoints_before=$(grep -c "repointed cluster=$CLUSTER .*shard=shard1" "$DLOG")
r1pid=$(tr -dc 0-9 <"$BASE/$CLUSTER/redis-$R1/redis.pid")
t_kill=$(date +%s%3N)
kill -KILL "$r1pid"
t_write=
deadline=$(( t_kill + 20000 ))
while [ "$(date +%s%3N)" -lt "$deadline" ]; do
    if writes_on "$key1" again "$M1"; then t_write=$(date +%s%3N); break; fi
    sleep 0.01
done
h_check "shard1 again: the proxy serves writes on the old master, promoted" [ -n "$t_write" ]
h_check "shard1 again: a quorum announces it" \
    h_wait_log "$DLOG" "switch-master cluster=$CLUSTER .*shard=shard1 master=127.0.0.1:$M1" 2 20
sleep 1 # every sentinel's +switch-master, and whatever the watcher makes of them
quorum_line=$(grep "switch-master cluster=$CLUSTER .*shard=shard1 master=127.0.0.1:$M1" "$DLOG" | sed -n 2p)
echo "# second failover of shard1: first write at +$((t_write - t_kill)) ms, quorum at +$(( $(log_ms "$quorum_line") - t_kill )) ms"
h_check "shard1 again: writes before the quorum's +switch-master" [ "$t_write" -lt "$(log_ms "$quorum_line")" ]
h_check "shard1 again: one repoint, at the promotion (none back to the dead master)" \
    [ "$(grep -c "repointed cluster=$CLUSTER .*shard=shard1" "$DLOG")" -eq $((repoints_before + 1)) ]
h_check "shard1 again: confirmed, nothing unexpected" \
    eval 'grep -q "promotion-confirmed cluster=$CLUSTER .*shard=shard1 master=127.0.0.1:$M1" "$DLOG" &&
          ! grep -q "promotion-unexpected cluster=$CLUSTER .*shard=shard1" "$DLOG"'
h_check "shard1 again: the daemon's run after the repoint" h_wait_log "$DLOG" "run-done" $((runs + 2)) 60
h_track_cluster "$BASE/$CLUSTER"
S1M=$M1

# ---------------------------------------------------------------- 3. nothing reverted, nothing left

roles_ok() {
    local s
    for s in "$S1" "$S2" "$S3"; do
        [ "$(h_cli "$s" -a "$PW" SENTINEL GET-MASTER-ADDR-BY-NAME shard1 2>/dev/null | tail -n1)" = "$S1M" ] || return 1
        [ "$(h_cli "$s" -a "$PW" SENTINEL GET-MASTER-ADDR-BY-NAME shard2 2>/dev/null | tail -n1)" = "$other" ] || return 1
    done
    [ "$(role_of "$S1M")" = master ] && [ "$(role_of "$other")" = master ]
}
h_check "no promotion reverted: every sentinel names $S1M and $other, both still master" roles_ok
# the sentinels' own logs: +convert-to-slave is Sentinel demoting an instance that says master
h_check "no sentinel demoted a promoted master (sentinel logs)" \
    eval '! grep -hE "\+convert-to-slave slave 127.0.0.1:($S1M|$other) " "$BASE/$CLUSTER"/sentinel-*/sentinel.log'
h_check "the sentinel logs do show the failovers" \
    eval 'grep -qh "+switch-master shard1 .* $R1" "$BASE/$CLUSTER"/sentinel-*/sentinel.log &&
          grep -qh "+switch-master shard2 .* $other" "$BASE/$CLUSTER"/sentinel-*/sentinel.log'
OUT=$("$RMGR" reconcile -f "$SPEC" --once --detailed-exitcode 2>&1); RC=$?
[ "$RC" -eq 0 ] || echo "$OUT" | sed 's/^/# /'
h_check "a periodic reconcile finds nothing to do (in sync)" \
    eval '[ "$RC" -eq 0 ] && grep -q "in-sync cluster=$CLUSTER" <<<"$OUT"'
h_check "the proxy still serves both shards' new masters" \
    eval 'writes_on "$key1" final "$S1M" && writes_on "$key2" final "$other"'

kill -TERM "$DAEMON"
wait "$DAEMON"
h_check "SIGTERM: the daemon exits 0" [ $? -eq 0 ]
cat "$DLOG" "$H_DIR/daemon.err" >"$H_DIR/everything"
h_check "the password appears in no log" [ "$(grep -c -- "$PW" "$H_DIR/everything")" -eq 0 ]

h_track_cluster "$BASE/$CLUSTER"
h_done
