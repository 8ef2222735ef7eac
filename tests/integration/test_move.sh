#!/usr/bin/env bash
# test_move.sh - moving a member (issue 12) on loopback: 2 shards (alpha: master
# + replica, beta: master + replica), 3 sentinels with quorum 2, one proxy, and
# a client writing through the proxy all along, recording every key the proxy
# acknowledged.
#
#   1. alpha's master moves to a new port in the spec: the plan shows the move
#      (install, start as replica, wait-sync, failover [disruptive], the old
#      one's stop and remove-files, one sentinel-reset per sentinel, the proxy)
#   2. the apply is killed (SIGKILL) once its failover step is done: the next
#      plan finishes the move from that state (the old master a replica
#      outside the spec), the next apply does it
#   3. alpha's master moves again, applied straight through
#   after each: no sentinel has the old port as master or replica, the proxy
#   names the new master, the old port is closed and its directory gone, a
#   second plan has no changes; at the end every acknowledged key reads back.
#   4. beta's replica moves to a new port: wait-sync before the old one stops
#
# Every process started (by the harness or by rmgr) is tracked and stopped.
# shellcheck disable=SC1091,SC2016,SC2034,SC2317  # harness; eval strings
set -u
TESTS_DIR=${RMGR_TESTS_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
RMGR=${RMGR_BIN:-$(cd "$TESTS_DIR/.." && pwd)/rmgr}
PY=/usr/bin/python3
. "$TESTS_DIR/harness.sh"
h_init move

export XDG_RUNTIME_DIR=$H_DIR/run
mkdir -p "$XDG_RUNTIME_DIR"
CLUSTER=mtest
BASE=$H_DIR/base
SPEC=$H_DIR/spec.yaml
ACKS=$H_DIR/acks
STOP=$H_DIR/stop-writer

h_free_ports A1 A2 A3 A4 B1 B2 B3 S1 S2 S3 PX ST || h_fatal "no free port"
SENTINELS=("$S1" "$S2" "$S3")
write_spec() { # write_spec ALPHA_MASTER BETA_REPLICA
    cat >"$SPEC" <<EOF2
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
    master: 127.0.0.1:$1
    replicas: [127.0.0.1:$A2]
  - name: beta
    master: 127.0.0.1:$B1
    replicas: [127.0.0.1:$2]
sentinel:
  quorum: 2
  down_after_ms: 5000
  failover_timeout_ms: 20000
  nodes: [127.0.0.1:$S1, 127.0.0.1:$S2, 127.0.0.1:$S3]
proxies:
  - host: 127.0.0.1
    listen: 127.0.0.1:$PX
    stats_port: $ST
    hash: murmur
    distribution: ketama
    timeout_ms: 400
EOF2
}

sentinel_master() { h_cli "$2" SENTINEL GET-MASTER-ADDR-BY-NAME "$1" 2>/dev/null | tail -n1; }
# in_view SHARD PORT: true when any sentinel has PORT as the shard's master or a replica
in_view() {
    local s
    for s in "${SENTINELS[@]}"; do
        [ "$(sentinel_master "$1" "$s")" = "$2" ] && return 0
        h_cli "$s" SENTINEL REPLICAS "$1" 2>/dev/null | grep -qx "$2" && return 0
    done
    return 1
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# check_moved LABEL SHARD OLD NEW [master]: the move from OLD to NEW is complete
check_moved() {
    local label=$1 shard=$2 old=$3 new=$4 role=${5:-}
    h_check "$label: no sentinel has $old in its view of $shard" eval '! in_view "$shard" "$old"'
    if [ "$role" = master ]; then
        h_check "$label: every sentinel names $new as master of $shard" eval '
            for s in "${SENTINELS[@]}"; do [ "$(sentinel_master "$shard" "$s")" = "$new" ] || exit 1; done'
        h_check "$label: the proxy names the new master $new" \
            grep -q "127.0.0.1:$new:1 $shard" "$BASE/$CLUSTER/proxy-$PX/nutcracker.yml"
    else
        h_check "$label: $new is a replica, linked" eval \
            'h_cli "$new" INFO replication | tr -d "\r" | grep -q "^master_link_status:up"'
    fi
    h_check "$label: the old port $old is closed" eval '! port_open "$old"'
    h_check "$label: the old instance directory is gone" [ ! -e "$BASE/$CLUSTER/redis-$old" ]
    "$RMGR" plan -f "$SPEC" --detailed-exitcode >"$H_DIR/plan2.out" 2>&1
    local rc=$?
    h_check "$label: a second plan has no changes (exit 0)" [ "$rc" -eq 0 ]
    [ "$rc" -eq 0 ] || cat "$H_DIR/plan2.out"
}

# ---------------------------------------------------------------- deploy

write_spec "$A1" "$B2"
h_apply "$BASE/$CLUSTER" -f "$SPEC" --auto-approve
[ "$RC" -eq 0 ] || { echo "$OUT"; h_fatal "apply from nothing failed"; }
h_check "deployed: a second plan is empty" "$RMGR" plan -f "$SPEC" --detailed-exitcode

: >"$ACKS"
"$PY" "$TESTS_DIR/integration/move_writer.py" "$PX" "$ACKS" "$STOP" >"$H_DIR/writer.out" 2>&1 &
WRITER=$!
h_track "$WRITER" python3 || h_fatal "the writer did not start"
h_wait_log "$ACKS" "^move:" 50 10 || h_fatal "the writer got no acknowledgement"

# ---------------------------------------------------------------- 1. the plan of a move

write_spec "$A3" "$B2"
"$RMGR" plan -f "$SPEC" --detailed-exitcode >"$H_DIR/plan1.out" 2>&1
rc=$?
h_check "1: the plan of a master move: exit 2 (changes)" [ "$rc" -eq 2 ]
[ "$rc" -eq 2 ] || cat "$H_DIR/plan1.out"
P1=$(cat "$H_DIR/plan1.out")
h_check "1: it starts $A3 as a replica of $A1" \
    grep -q "start 127.0.0.1:$A3: not running; start as replica of 127.0.0.1:$A1" <<<"$P1"
h_check "1: it waits for its sync" grep -q "wait-sync 127.0.0.1:$A3" <<<"$P1"
h_check "1: the failover onto $A3 is marked disruptive" \
    grep -q "failover 127.0.0.1:$A3: .*\[disruptive\]" <<<"$P1"
h_check "1: the old master is stopped and its files removed" \
    eval 'grep -q "stop 127.0.0.1:$A1" <<<"$P1" && grep -q "remove-files 127.0.0.1:$A1" <<<"$P1"'
h_check "1: one sentinel-reset per sentinel" [ "$(grep -c "sentinel-reset" <<<"$P1")" -eq 3 ]
h_check "1: the proxy is repointed at $A3" grep -q "shard alpha\|alpha 127.0.0.1:$A1 -> 127.0.0.1:$A3" <<<"$P1"
h_check "1: no replicaof on the current master $A1" eval '! grep -q "replicaof 127.0.0.1:$A1" <<<"$P1"'

# ---------------------------------------------------------------- 2. interrupted after the failover

"$RMGR" apply -f "$SPEC" --auto-approve --allow-destructive >"$H_DIR/apply2.out" 2>&1 &
APID=$!
killed=0
for _ in $(seq 1 1800); do
    if grep -q "failover 127.0.0.1:$A3.* done" "$H_DIR/apply2.out"; then
        kill -KILL "$APID" 2>/dev/null && killed=1
        break
    fi
    kill -0 "$APID" 2>/dev/null || break
    sleep 0.05
done
wait "$APID" 2>/dev/null
h_track_cluster "$BASE/$CLUSTER"
h_check "2: apply killed right after its failover step" [ "$killed" -eq 1 ]
[ "$killed" -eq 1 ] || cat "$H_DIR/apply2.out"
"$RMGR" plan -f "$SPEC" --detailed-exitcode >"$H_DIR/plan2i.out" 2>&1
rc=$?
P2=$(cat "$H_DIR/plan2i.out")
h_check "2: the next plan finishes the move: exit 2" [ "$rc" -eq 2 ]
# The kill lands within 50 ms of the failover's "done": the apply may already have stopped
# the old master, removed its files, reset some sentinels. The plan finishes what is left.
if port_open "$A1"; then
    h_check "2: it stops $A1 (now a replica outside the spec) and removes its files" \
        eval 'grep -q "stop 127.0.0.1:$A1" <<<"$P2" && grep -q "remove-files 127.0.0.1:$A1" <<<"$P2"'
elif [ -e "$BASE/$CLUSTER/redis-$A1" ]; then
    h_check "2: $A1 was stopped before the kill: the plan removes its files" \
        eval 'grep -q "remove-files 127.0.0.1:$A1" <<<"$P2" && ! grep -q "start 127.0.0.1:$A1" <<<"$P2"'
else
    h_check "2: $A1 stopped and removed before the kill: the plan resets the sentinels" \
        eval 'grep -q "sentinel-reset" <<<"$P2" && ! grep -q "127.0.0.1:$A1:" <<<"$(grep -E "^ *[-+~] (start|install-files)" <<<"$P2")"'
fi
h_check "2: it plans no second failover" eval '! grep -q "failover 127.0.0.1" <<<"$P2"'
{ grep -q "stop 127.0.0.1:$A1" <<<"$P2" && grep -q "remove-files 127.0.0.1:$A1" <<<"$P2"; } ||
    sed 's/^/    | /' "$H_DIR/plan2i.out"
h_apply "$BASE/$CLUSTER" -f "$SPEC" --auto-approve --allow-destructive
h_check "2: the next apply finishes it: exit 0" [ "$RC" -eq 0 ]
[ "$RC" -eq 0 ] || echo "$OUT"
check_moved 2 alpha "$A1" "$A3" master

# ---------------------------------------------------------------- 3. straight through

write_spec "$A4" "$B2"
h_apply "$BASE/$CLUSTER" -f "$SPEC" --auto-approve --allow-destructive
h_check "3: a master move applied straight through: exit 0" [ "$RC" -eq 0 ]
[ "$RC" -eq 0 ] || echo "$OUT"
h_check "3: the apply ran the failover" grep -q "failover 127.0.0.1:$A4.* done" <<<"$OUT"
check_moved 3 alpha "$A3" "$A4" master

# ---------------------------------------------------------------- 4. a replica moves

write_spec "$A4" "$B3"
"$RMGR" plan -f "$SPEC" >"$H_DIR/plan4.out" 2>&1
h_check "4: a replica move waits for the new replica's sync" \
    grep -q "wait-sync 127.0.0.1:$B3" "$H_DIR/plan4.out"
h_check "4: no failover for a replica move" eval '! grep -q "failover 127.0.0.1" "$H_DIR/plan4.out"'
h_apply "$BASE/$CLUSTER" -f "$SPEC" --auto-approve --allow-destructive
h_check "4: a replica move: exit 0" [ "$RC" -eq 0 ]
[ "$RC" -eq 0 ] || echo "$OUT"
check_moved 4 beta "$B2" "$B3"

# ---------------------------------------------------------------- every acknowledged key

touch "$STOP"
wait "$WRITER"
echo "    writer: $(cat "$H_DIR/writer.out")"
nacked=$(wc -l <"$ACKS")
h_check "the writer had writes acknowledged all along ($nacked)" [ "$nacked" -ge 200 ]
"$PY" "$TESTS_DIR/integration/move_writer.py" --check "$PX" "$ACKS" >"$H_DIR/check.out" 2>&1
rc=$?
cat "$H_DIR/check.out"
h_check "every acknowledged key reads back through the proxy" [ "$rc" -eq 0 ]

OUT=$("$RMGR" destroy -f "$SPEC" --auto-approve --allow-destructive 2>&1) || echo "$OUT"
h_done
