#!/usr/bin/env bash
# test_ops.sh - the operator's commands of issue 12 against a cluster rmgr
# deployed on loopback (shard alpha: master + 2 replicas, beta: master + 1
# replica, 3 sentinels with quorum 2, one proxy, a password):
#
#   exec      every instance in spec order with its role; --masters, --replicas,
#             --shard, --sentinels, --proxies; --json; exit 1 on an error reply or
#             an unreachable instance (after printing every answer); writes need
#             --allow-write (by COMMAND INFO); refused commands name the rmgr
#             command; KEYS over 100000 keys refused; the password never shown
#   logs      -n lines of every instance, prefixed "ADDR KIND | ", merged by time;
#             --kind, --shard; --follow prints appended lines; an unreadable log: exit 1
#   top       --once --json: ops/s from two observations under a writer, memory,
#             maxmemory, keys, replicas' lag, the proxy's connections; plain frames
#             without a terminal, redraws on one
#   backup    one RDB per shard from a replica, with a checksum sha256sum accepts;
#             the RDB holds the keys (redis-check-rdb); --shard; the master when the
#             replica is down; --to missing: usage error
#   failover  --to lands on the chosen replica, three times in a row (A1 -> A3 ->
#             A2 -> A1), the proxy repointed, priorities put back, the plan empty
#             after; refused for a non-member --to and when not converged
#
# Every process started (by the harness or by rmgr) is tracked and stopped.
# shellcheck disable=SC1091,SC2016,SC2034,SC2317  # harness; eval strings
set -u
TESTS_DIR=${RMGR_TESTS_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
RMGR=${RMGR_BIN:-$(cd "$TESTS_DIR/.." && pwd)/rmgr}
. "$TESTS_DIR/harness.sh"
h_init ops

export XDG_RUNTIME_DIR=$H_DIR/run
mkdir -p "$XDG_RUNTIME_DIR"
export RMGR_REDIS_OPS_PW="pw-$RANDOM-secret-$$"
PW=$RMGR_REDIS_OPS_PW
CLUSTER=ops
BASE=$H_DIR/base
SPEC=$H_DIR/spec.yaml


for v in A1 A2 A3 B1 B2 S1 S2 S3 PX ST; do
    printf -v "$v" '%s' "$(h_free_port)" || h_fatal "no free port"
done
SENTINELS=("$S1" "$S2" "$S3")
cat >"$SPEC" <<EOF
cluster: $CLUSTER
defaults:
  transport: local
  base_dir: $BASE
auth:
  password_env: RMGR_REDIS_OPS_PW
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
    replicas: [127.0.0.1:$B2]
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
EOF

sentinel_master() { h_cli "$2" -a "$PW" SENTINEL GET-MASTER-ADDR-BY-NAME "$1" 2>/dev/null | tail -n1; }
# run CMD...: OUT, ERR and RC of an rmgr command
run() { "$RMGR" "$@" >"$H_DIR/out" 2>"$H_DIR/err"; RC=$?; OUT=$(cat "$H_DIR/out"); ERR=$(cat "$H_DIR/err"); }
no_password() { ! grep -qF "$PW" "$H_DIR/out" "$H_DIR/err"; }

# ---------------------------------------------------------------- deploy

h_apply "$BASE/$CLUSTER" -f "$SPEC" --auto-approve
[ "$RC" -eq 0 ] || { echo "$OUT"; h_fatal "apply from nothing failed"; }
for i in $(seq 1 40); do h_cli "$PX" -a "$PW" SET "key:$i" "$i" >/dev/null 2>&1; done

# ---------------------------------------------------------------- exec

run exec -f "$SPEC" -- PING
h_check "exec PING: exit 0" [ "$RC" -eq 0 ]
expect=$(printf '127.0.0.1:%s master alpha\n  PONG\n\n127.0.0.1:%s replica alpha\n  PONG\n\n127.0.0.1:%s replica alpha\n  PONG\n\n127.0.0.1:%s master beta\n  PONG\n\n127.0.0.1:%s replica beta\n  PONG' "$A1" "$A2" "$A3" "$B1" "$B2")
h_check "exec PING: every redis in spec order, under address and role" [ "$OUT" = "$expect" ]
[ "$OUT" = "$expect" ] || echo "$OUT"

run exec -f "$SPEC" --masters -- INFO replication
h_check "exec --masters INFO replication: the two masters" \
    eval '[ "$RC" -eq 0 ] && [ "$(grep -c "^127.0.0.1:.* master " <<<"$OUT")" -eq 2 ] && ! grep -q replica <<<"$(grep "^127" <<<"$OUT")"'
h_check "exec: INFO's lines are shown one per line, indented" grep -q '^  role:master$' <<<"$OUT"

run exec -f "$SPEC" --replicas --shard alpha -- ROLE
h_check "exec --replicas --shard alpha: its two replicas" \
    eval '[ "$RC" -eq 0 ] && [ "$(grep -c "^127.0.0.1:" <<<"$OUT")" -eq 2 ] && grep -q "^127.0.0.1:$A2 replica alpha" <<<"$OUT"'

run exec -f "$SPEC" --json -- DBSIZE
h_check "exec --json: one object per instance with address, role, reply" \
    eval '[ "$RC" -eq 0 ] && [ "$(jq length <<<"$OUT")" -eq 5 ] && [ "$(jq -r ".[0].address" <<<"$OUT")" = "127.0.0.1:$A1" ] && [ "$(jq -r ".[0].role" <<<"$OUT")" = master ] && [ "$(jq "[.[].reply] | add" <<<"$OUT")" -ge 40 ]'

run exec -f "$SPEC" --proxies -- GET key:7
h_check "exec --proxies GET: through nutcracker with the spec's password" \
    eval '[ "$RC" -eq 0 ] && grep -q "^127.0.0.1:$PX proxy" <<<"$OUT" && grep -qx "  7" <<<"$OUT"'

run exec -f "$SPEC" --sentinels -- SENTINEL MASTERS
h_check "exec --sentinels SENTINEL MASTERS: admin by COMMAND INFO, needs --allow-write" \
    eval '[ "$RC" -eq 1 ] && grep -q -- --allow-write <<<"$ERR" && [ -z "$OUT" ]'
run exec -f "$SPEC" --sentinels --allow-write -- SENTINEL GET-MASTER-ADDR-BY-NAME alpha
h_check "exec --sentinels --allow-write: three sentinels answer" \
    eval '[ "$RC" -eq 0 ] && [ "$(grep -c " sentinel$" <<<"$OUT")" -eq 3 ] && [ "$(grep -c "2) \"*$A1" <<<"$OUT")" -eq 3 ]'

# writes
run exec -f "$SPEC" --masters -- SET exec:k v
h_check "exec SET without --allow-write: refused, nothing written" \
    eval '[ "$RC" -eq 1 ] && grep -q "writes or administrates" <<<"$ERR" && [ "$(h_cli "$A1" -a "$PW" EXISTS exec:k)" = 0 ]'
run exec -f "$SPEC" --masters --allow-write -- SET exec:k v
h_check "exec --allow-write SET: written on both masters" \
    eval '[ "$RC" -eq 0 ] && [ "$(h_cli "$A1" -a "$PW" GET exec:k)" = v ] && [ "$(h_cli "$B1" -a "$PW" GET exec:k)" = v ]'
run exec -f "$SPEC" --masters -- EVAL "return redis.call('SET','exec:e','1')" 0
h_check "exec EVAL (a script may write): needs --allow-write" \
    eval '[ "$RC" -eq 1 ] && grep -q -- --allow-write <<<"$ERR"'

# refusals, each naming the rmgr command
for c in "SHUTDOWN|rmgr destroy" "FLUSHALL|rmgr destroy" "FLUSHDB|rmgr destroy" \
         "DEBUG SLEEP 0|rmgr status" "REPLICAOF NO ONE|rmgr failover" "SLAVEOF NO ONE|rmgr failover" \
         "CONFIG SET maxmemory 1mb|rmgr apply" "CONFIG SET dir /tmp|rmgr apply"; do
    words=${c%%|*} hint=${c#*|}
    # shellcheck disable=SC2086
    run exec -f "$SPEC" --allow-write -- $words
    h_check "exec $words: refused, naming '$hint', even with --allow-write" \
        eval '[ "$RC" -eq 1 ] && grep -q "refused" <<<"$ERR" && grep -qF "$hint" <<<"$ERR" && [ -z "$OUT" ]'
done
for sub in FAILOVER REMOVE RESET; do
    run exec -f "$SPEC" --sentinels --allow-write -- SENTINEL "$sub" alpha
    h_check "exec SENTINEL $sub: refused" eval '[ "$RC" -eq 1 ] && grep -q "SENTINEL $sub is refused" <<<"$ERR"'
done
h_check "refused commands changed nothing: all masters still up, alpha still on $A1" \
    eval '[ "$(h_cli "$A1" -a "$PW" DBSIZE)" -ge 1 ] && [ "$(sentinel_master alpha "$S1")" = "$A1" ]'
run exec -f "$SPEC" --masters --shard beta --allow-write -- CONFIG SET maxmemory-samples 6
h_check "exec CONFIG SET of a directive rmgr does not manage: allowed with --allow-write" \
    eval '[ "$RC" -eq 0 ] && [ "$(h_cli "$B1" -a "$PW" CONFIG GET maxmemory-samples | tail -n1)" = 6 ]'
run exec -f "$SPEC" --masters --shard beta --allow-write --force -- FLUSHDB
h_check "exec --force --allow-write FLUSHDB: runs" \
    eval '[ "$RC" -eq 0 ] && [ "$(h_cli "$B1" -a "$PW" DBSIZE)" = 0 ]'

# KEYS over 100000 keys
h_cli "$A1" -a "$PW" EVAL "for i = 1, 100001 do redis.call('SET', 'big:' .. i, '1') end" 0 >/dev/null
run exec -f "$SPEC" --masters -- KEYS 'key:*'
h_check "exec KEYS: refused on the instance with 100001 keys, answered on the other, exit 1" \
    eval '[ "$RC" -eq 1 ] && grep -A1 "^127.0.0.1:$A1 master" <<<"$OUT" | grep -q "KEYS is refused: 100.* keys" && grep -A1 "^127.0.0.1:$B1 master" <<<"$OUT" | grep -q "empty array\|key:"'
run exec -f "$SPEC" --masters --shard alpha --force -- KEYS 'nomatch:*'
h_check "exec --force KEYS: runs" eval '[ "$RC" -eq 0 ] && grep -q "empty array" <<<"$OUT"'
h_cli "$A1" -a "$PW" FLUSHALL >/dev/null

# errors and unreachable instances: every answer printed, exit 1
run exec -f "$SPEC" --masters -- GET
h_check "exec with an error reply: printed as (error), exit 1" \
    eval '[ "$RC" -eq 1 ] && [ "$(grep -c "(error) ERR wrong number" <<<"$OUT")" -eq 2 ]'
B2PID=$(head -n1 "$BASE/$CLUSTER/redis-$B2/redis.pid" | tr -dc 0-9)
kill -STOP "$B2PID"
run exec -f "$SPEC" --timeout 300 -- PING
kill -CONT "$B2PID"
h_check "exec with a stalled instance: the others answered, it failed, exit 1" \
    eval '[ "$RC" -eq 1 ] && [ "$(grep -c "^  PONG" <<<"$OUT")" -eq 4 ] && grep -A1 "^127.0.0.1:$B2" <<<"$OUT" | grep -q "(failed)"'
h_check "exec: the password appears nowhere" no_password
run exec -f "$SPEC" --sentinels --shard alpha -- PING
h_check "exec --sentinels --shard: usage error (exit 2)" [ "$RC" -eq 2 ]
run exec -f "$SPEC" --masters --replicas -- PING
h_check "exec --masters --replicas: usage error (exit 2)" [ "$RC" -eq 2 ]
run exec -f "$SPEC" --shard nosuch -- PING
h_check "exec --shard nosuch: exit 1 naming it" eval '[ "$RC" -eq 1 ] && grep -q "no shard .nosuch." <<<"$ERR"'
# ---------------------------------------------------------------- logs

# ts LINE...: the time key of each merged line that has one (Redis or nutcracker format)
ts_keys() {
    sed -n -e 's/^[^|]* | [0-9]*:[A-Z] \([0-9][0-9]\) \([A-Z][a-z][a-z]\) \([0-9]\{4\}\) \([0-9:.]*\) .*/\3 \2 \1 \4/p' \
           -e 's/^[^|]* | \[\([0-9]\{4\}\)-\([0-9][0-9]\)-\([0-9][0-9]\) \([0-9:.]*\)\].*/\1 \2 \3 \4/p' |
        sed -e 's/ Jan / 01 /;s/ Feb / 02 /;s/ Mar / 03 /;s/ Apr / 04 /;s/ May / 05 /;s/ Jun / 06 /' \
            -e 's/ Jul / 07 /;s/ Aug / 08 /;s/ Sep / 09 /;s/ Oct / 10 /;s/ Nov / 11 /;s/ Dec / 12 /'
}
run logs -f "$SPEC" -n 3
sources=$(cut -d'|' -f1 <<<"$OUT" | sort -u | wc -l)
h_check "logs -n 3: exit 0, lines of all 9 instances" eval '[ "$RC" -eq 0 ] && [ "$sources" -eq 9 ]'
h_check "logs -n 3: at most 3 lines from each" \
    eval '[ "$(cut -d"|" -f1 <<<"$OUT" | sort | uniq -c | awk "\$1 > 3" | wc -l)" -eq 0 ]'
h_check "logs: every line prefixed 'ADDR KIND | '" \
    eval '[ "$(grep -cvE "^127\.0\.0\.1:[0-9]+ (redis|sentinel|proxy) \| " <<<"$OUT")" -eq 0 ] && grep -q "^127.0.0.1:$PX proxy | \[" <<<"$OUT" && grep -q "^127.0.0.1:$S2 sentinel | [0-9]*:X " <<<"$OUT"'
keys=$(ts_keys <<<"$OUT")
h_check "logs: merged by time (the timestamps never go back)" \
    eval '[ "$(wc -l <<<"$keys")" -ge 20 ] && [ "$keys" = "$(sort -s <<<"$keys")" ]'
run logs -f "$SPEC" --kind sentinel -n 5
h_check "logs --kind sentinel: only the 3 sentinels" \
    eval '[ "$RC" -eq 0 ] && [ "$(cut -d"|" -f1 <<<"$OUT" | sort -u | wc -l)" -eq 3 ] && ! grep -qv " sentinel | " <<<"$OUT"'
run logs -f "$SPEC" --shard beta --kind redis -n 2
labels=$(cut -d'|' -f1 <<<"$OUT" | sort -u)
want=$(printf '127.0.0.1:%s redis \n127.0.0.1:%s redis \n' "$B1" "$B2" | sort -u)
h_check "logs --shard beta --kind redis: its 2 members" eval '[ "$RC" -eq 0 ] && [ "$labels" = "$want" ]'
run logs -f "$SPEC" --kind nosuch
h_check "logs --kind nosuch: usage error" [ "$RC" -eq 2 ]
"$RMGR" logs -f "$SPEC" --shard beta --kind redis -n 0 --follow >"$H_DIR/follow.out" 2>&1 &
FOLLOW=$!
h_track "$FOLLOW" rmgr
# the follower may still be starting (slow under the sanitizers): a SAVE logged
# before it took its offsets is rightly not shown, so SAVE again until one is
saved() { grep -q "^127.0.0.1:$B1 redis | .*DB saved on disk" "$H_DIR/follow.out"; }
deadline=$(( $(date +%s%3N) + 20000 ))
until saved || [ "$(date +%s%3N)" -ge "$deadline" ]; do
    h_cli "$B1" -a "$PW" SAVE >/dev/null
    for _ in $(seq 15); do saved && break; sleep 0.1; done
done
h_stop "$FOLLOW"
h_check "logs --follow: a line appended later is printed with its prefix" \
    grep -q "^127.0.0.1:$B1 redis | .*DB saved on disk" "$H_DIR/follow.out"
h_check "logs --follow -n 0: nothing older than the start" eval '[ "$(wc -l <"$H_DIR/follow.out")" -le 2 ]'
mv "$BASE/$CLUSTER/redis-$B2/redis.log" "$H_DIR/b2.log"
run logs -f "$SPEC" --shard beta --kind redis -n 1
mv "$H_DIR/b2.log" "$BASE/$CLUSTER/redis-$B2/redis.log"
h_check "logs with one log missing: the others printed, it is named, exit 1" \
    eval '[ "$RC" -eq 1 ] && grep -q "^127.0.0.1:$B1 redis | " <<<"$OUT" && grep -q "127.0.0.1:$B2 redis: cannot read" <<<"$ERR"'

# ---------------------------------------------------------------- top

REDISCLI_AUTH=$PW redis-cli -h 127.0.0.1 -p "$PX" -r 4000 -i 0.001 SET top:k v >/dev/null 2>&1 &
WRITER=$!
h_track "$WRITER" redis-cli
sleep 0.3
run top -f "$SPEC" --once --json --interval 1s
h_check "top --once --json: exit 0, one document" eval '[ "$RC" -eq 0 ] && jq -e . <<<"$OUT" >/dev/null'
ops=$(jq '[.shards[].ops_per_sec // 0] | add' <<<"$OUT")
h_check "top: ops/s of the masters from two observations under a writer ($ops)" \
    eval '[ "$(jq "[.shards[].ops_per_sec // 0] | add > 50" <<<"$OUT")" = true ]'
h_check "top: masters, memory, maxmemory 32mb, keys" \
    eval '[ "$(jq -r ".shards[0].master" <<<"$OUT")" = "127.0.0.1:$A1" ] && [ "$(jq ".shards[0].maxmemory" <<<"$OUT")" = 33554432 ] && [ "$(jq ".shards[0].used_memory > 0" <<<"$OUT")" = true ] && [ "$(jq "[.shards[].keys] | add > 0" <<<"$OUT")" = true ]'
h_check "top: each replica with its lag" \
    eval '[ "$(jq ".shards[0].replicas | length" <<<"$OUT")" = 2 ] && [ "$(jq ".shards[0].replicas[0].lag_bytes >= 0" <<<"$OUT")" = true ]'
h_check "top: the proxy up with the writer's connection" \
    eval '[ "$(jq ".proxies[0].up" <<<"$OUT")" = true ] && [ "$(jq ".proxies[0].connections >= 1" <<<"$OUT")" = true ]'
"$RMGR" top -f "$SPEC" --interval 200ms >"$H_DIR/top.out" 2>&1 &
TOP=$!
h_track "$TOP" rmgr
sleep 1.3
h_stop "$TOP"
h_check "top without a terminal: plain frames one after another, no escapes" \
    eval '[ "$(grep -c "^SHARD" "$H_DIR/top.out")" -ge 3 ] && ! grep -q $'"'"'\033'"'"' "$H_DIR/top.out" && grep -q "^alpha .*127.0.0.1:$A1" "$H_DIR/top.out"'
if command -v script >/dev/null; then
    script -qec "timeout -s INT 1.5 $RMGR top -f $SPEC --interval 300ms" /dev/null >"$H_DIR/toptty.out" 2>&1
    h_check "top on a terminal: redraws in place (home, clear)" grep -q $'\033\[H\033\[2J' "$H_DIR/toptty.out"
fi
h_stop "$WRITER" 2>/dev/null
run top -f "$SPEC" --interval 0s --once
h_check "top --interval 0s: usage error" [ "$RC" -eq 2 ]

# ---------------------------------------------------------------- backup

BK=$H_DIR/backups
run backup -f "$SPEC" --to "$BK"
h_check "backup: exit 0, one line per shard from a replica" \
    eval '[ "$RC" -eq 0 ] && grep -q "^alpha: $BK/$CLUSTER/alpha/[0-9T]*Z.rdb from 127.0.0.1:\($A2\|$A3\) (replica)" <<<"$OUT" && grep -q "^beta: .* from 127.0.0.1:$B2 (replica)" <<<"$OUT"'
[ "$RC" -eq 0 ] || { echo "$OUT"; echo "$ERR"; }
f=$(ls "$BK/$CLUSTER/alpha/"*.rdb 2>/dev/null | head -n1)
h_check "backup: the checksum file verifies with sha256sum -c" \
    eval '[ -n "$f" ] && (cd "$(dirname "$f")" && sha256sum -c --quiet "$(basename "$f").sha256")'
h_check "backup: the RDB is valid (redis-check-rdb) and mode 0600" \
    eval 'redis-check-rdb "$f" >/dev/null 2>&1 && [ "$(stat -c %a "$f")" = 600 ]'
B2PID=$(head -n1 "$BASE/$CLUSTER/redis-$B2/redis.pid" | tr -dc 0-9)
kill -STOP "$B2PID"
sleep 1.1
run backup -f "$SPEC" --shard beta --to "$BK" --connect-timeout 300 --timeout 20s
kill -CONT "$B2PID"
h_check "backup --shard beta with its replica stalled: from the master" \
    eval '[ "$RC" -eq 0 ] && grep -q "^beta: .* from 127.0.0.1:$B1 (master: no linked replica)" <<<"$OUT" && ! grep -q "^alpha" <<<"$OUT"'
[ "$RC" -eq 0 ] || { echo "$OUT"; echo "$ERR"; }
run backup -f "$SPEC"
h_check "backup without --to: usage error" [ "$RC" -eq 2 ]
h_check "backup: the password appears nowhere" no_password

# ---------------------------------------------------------------- failover

proxy_names() { grep -q "127.0.0.1:$1:1 $2" "$BASE/$CLUSTER/proxy-$PX/nutcracker.yml"; }
cur=$A1
for target in "$A3" "$A2" "$A1"; do
    t0=$(date +%s%3N)
    run failover -f "$SPEC" alpha --to "127.0.0.1:$target" --timeout 60s
    took=$(( $(date +%s%3N) - t0 ))
    h_track_cluster "$BASE/$CLUSTER"
    h_check "failover alpha --to $target (from $cur): exit 0 in ${took} ms" [ "$RC" -eq 0 ]
    [ "$RC" -eq 0 ] || { echo "$OUT"; echo "$ERR"; }
    h_check "failover --to $target: every sentinel names it" \
        eval '[ "$(sentinel_master alpha "$S1")" = "$target" ] && [ "$(sentinel_master alpha "$S2")" = "$target" ] && [ "$(sentinel_master alpha "$S3")" = "$target" ]'
    h_check "failover --to $target: it answers role:master" \
        eval '[ "$(h_cli "$target" -a "$PW" INFO replication | tr -d "\r" | sed -n "s/^role://p")" = master ]'
    h_check "failover --to $target: the proxy names it" proxy_names "$target" alpha
    h_check "failover --to $target: the new layout is shown" \
        eval 'grep -q "^  master   127.0.0.1:$target$" <<<"$OUT" && grep -q "^  replica  127.0.0.1:$cur  replica of 127.0.0.1:$target" <<<"$OUT"'
    h_check "failover --to $target: replica-priority put back (100 everywhere)" \
        eval '[ "$(for p in $A1 $A2 $A3; do h_cli $p -a "$PW" CONFIG GET replica-priority | tail -n1; done | sort -u)" = 100 ]'
    run plan -f "$SPEC" --detailed-exitcode
    h_check "failover --to $target: the next plan is empty" [ "$RC" -eq 0 ]
    [ "$RC" -eq 0 ] || echo "$OUT"
    h_check "failover --to $target: writes through the proxy succeed" \
        eval '[ "$(h_cli "$PX" -a "$PW" SET "f:$target" v 2>/dev/null)" = OK ]'
    cur=$target
done
run failover -f "$SPEC" alpha --to "127.0.0.1:$B2"
h_check "failover --to a member of another shard: refused, nothing changed" \
    eval '[ "$RC" -eq 1 ] && grep -q "is not a replica of shard alpha" <<<"$ERR" && [ "$(sentinel_master alpha "$S1")" = "$A1" ]'
run failover -f "$SPEC" nosuch
h_check "failover of an unknown shard: exit 1" eval '[ "$RC" -eq 1 ] && grep -q "no shard" <<<"$ERR"'
run failover -f "$SPEC"
h_check "failover without a shard: usage error" [ "$RC" -eq 2 ]
h_cli "$B1" -a "$PW" CONFIG SET maxmemory 16mb >/dev/null
run failover -f "$SPEC" beta
h_check "failover on a cluster that does not match its spec: refused, nothing changed" \
    eval '[ "$RC" -eq 1 ] && grep -q "refused: the cluster does not match its spec" <<<"$ERR" && [ "$(sentinel_master beta "$S1")" = "$B1" ]'
h_cli "$B1" -a "$PW" CONFIG SET maxmemory 32mb >/dev/null
run failover -f "$SPEC" beta
h_track_cluster "$BASE/$CLUSTER" # the repoint restarted the proxy
h_check "failover beta without --to: onto its one replica" \
    eval '[ "$RC" -eq 0 ] && [ "$(sentinel_master beta "$S1")" = "$B2" ] && proxy_names "$B2" beta'
h_check "failover: the password appears nowhere" no_password

h_done
