#!/usr/bin/env bash
# test_upgrade.sh - a rolling upgrade on loopback: a cluster (2 shards of master
# + replica, 3 sentinels, one proxy) built with the binaries under A, then the
# spec points at copies of the same binaries under B (two "versions": the same
# build under two paths; copies, since /proc/PID/exe resolves symbolic links).
# A client writes through the proxy all along, recording each acknowledged key.
#
#   1. plan: every instance has its upgrade step, disruptive, the version and
#      program it runs now and will run; `status` shows the versions
#   2. apply: exit 0; every instance runs from B; every acknowledged key reads
#      back through the proxy; each shard's master moved by failover onto a
#      replica that already ran B, and no node ever replicated from one that
#      ran A after the failover began (sampled all along); a second plan is empty
#   3. interrupted: back to A by hand for one replica; the next plan lists only
#      it, the apply after it finishes the job
#
# shellcheck disable=SC1091,SC2016,SC2317  # harness; eval strings
set -u
TESTS_DIR=${RMGR_TESTS_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
RMGR=${RMGR_BIN:-$(cd "$TESTS_DIR/.." && pwd)/rmgr}
PY=/usr/bin/python3
. "$TESTS_DIR/harness.sh"
h_init upgrade

export XDG_RUNTIME_DIR=$H_DIR/run
mkdir -p "$XDG_RUNTIME_DIR"
CLUSTER=utest
BASE=$H_DIR/base
SPEC=$H_DIR/spec.yaml

# ---------------------------------------------------------------- two builds
A=$H_DIR/build-a
B=$H_DIR/build-b
for d in "$A" "$B"; do
    mkdir -p "$d"
    cp -L "$(command -v redis-server)" "$d/redis-server"
    cp -L "$(command -v redis-sentinel)" "$d/redis-sentinel"
    cp -L "$(command -v nutcracker || echo /usr/sbin/nutcracker)" "$d/nutcracker"
done

h_free_ports A1 A2 B1 B2 S1 S2 S3 PX ST || h_fatal "no free port"
spec_with() { # spec_with DIR
    cat >"$SPEC" <<EOF
cluster: $CLUSTER
defaults:
  transport: local
  base_dir: $BASE
  binaries:
    redis_server: $1/redis-server
    redis_sentinel: $1/redis-sentinel
    nutcracker: $1/nutcracker
redis:
  config:
    maxmemory: 32mb
    save: ""
    appendonly: "no"
    repl-diskless-sync-delay: 0
shards:
  - name: alpha
    master: 127.0.0.1:$A1
    replicas: [127.0.0.1:$A2]
  - name: beta
    master: 127.0.0.1:$B1
    replicas: [127.0.0.1:$B2]
sentinel:
  quorum: 2
  down_after_ms: 3000
  failover_timeout_ms: 20000
  nodes: [127.0.0.1:$S1, 127.0.0.1:$S2, 127.0.0.1:$S3]
proxies:
  - host: 127.0.0.1
    listen: 127.0.0.1:$PX
    stats_port: $ST
    hash: murmur
    distribution: ketama
    timeout_ms: 1000
EOF
}
REDIS_PORTS=("$A1" "$A2" "$B1" "$B2")
SENTINELS=("$S1" "$S2" "$S3")

info_field() { h_cli "$1" INFO "$2" 2>/dev/null | tr -d '\r' | sed -n "s/^$3://p"; }
exe_of_pidfile() { readlink "/proc/$(head -n1 "$1" 2>/dev/null | tr -dc 0-9)/exe" 2>/dev/null; }
sentinel_master() { h_cli "$S1" SENTINEL GET-MASTER-ADDR-BY-NAME "$1" 2>/dev/null | tail -n1; }

# ---------------------------------------------------------------- deploy on A
spec_with "$A"
h_apply "$BASE/$CLUSTER" -f "$SPEC" --auto-approve
[ "$RC" -eq 0 ] || { echo "$OUT"; h_fatal "apply from nothing failed"; }
h_check "deployed on A: a second plan is empty" eval '"$RMGR" plan -f "$SPEC" --detailed-exitcode >/dev/null'
h_check "deployed: every redis runs from A" eval '
    for p in "${REDIS_PORTS[@]}"; do [ "$(info_field "$p" server executable)" = "$A/redis-server" ] || exit 1; done'
h_check "deployed: the proxy runs from A" \
    eval '[ "$(exe_of_pidfile "$BASE/$CLUSTER/proxy-$PX/proxy.pid")" = "$A/nutcracker" ]'
OBS=$("$RMGR" observe -f "$SPEC" --json 2>/dev/null)
h_check "observe --json: version and executable of a redis, a sentinel and the proxy" \
    eval '[ "$(jq -r ".redis[0].executable" <<<"$OBS")" = "$A/redis-server" ] &&
          [ -n "$(jq -r ".redis[0].version // empty" <<<"$OBS")" ] &&
          [ "$(jq -r ".sentinels[0].executable" <<<"$OBS")" = "$A/redis-sentinel" ] &&
          [ "$(jq -r ".proxies[0].executable" <<<"$OBS")" = "$A/nutcracker" ] &&
          [ "$(jq -r ".proxies[0].version" <<<"$OBS")" = 0.5.0 ]'

# ---------------------------------------------------------------- the writer
ACKED=$H_DIR/acked
STOPW=$H_DIR/stop-writer
cat >"$H_DIR/writer.py" <<'EOF'
import os, socket, sys, time
port, acked, stop = int(sys.argv[1]), sys.argv[2], sys.argv[3]
out = open(acked, "w")
i, s, f = 0, None, None
while not os.path.exists(stop):
    i += 1
    key = "up:%d" % i
    try:
        if s is None:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            f = s.makefile("rb")
        s.sendall(("*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n"
                   % (len(key), key, len(key), key)).encode())
        if f.readline() == b"+OK\r\n":
            out.write(key + "\n")
            out.flush()
    except OSError:
        if s is not None:
            s.close()
        s = f = None
        time.sleep(0.05)
    time.sleep(0.003)
EOF
"$PY" "$H_DIR/writer.py" "$PX" "$ACKED" "$STOPW" &
WRITER=$!
h_track "$WRITER" python3

# sample every 100 ms who replicates from whom, and what each runs
SAMPLES=$H_DIR/samples
cat >"$H_DIR/sampler.sh" <<EOF
while [ ! -e "$STOPW" ]; do
    for p in ${REDIS_PORTS[*]}; do
        i=\$(redis-cli -h 127.0.0.1 -p \$p INFO 2>/dev/null | tr -d '\r')
        echo "\$p \$(sed -n 's/^role://p' <<<"\$i") \$(sed -n 's/^master_port://p' <<<"\$i") \$(sed -n 's/^executable://p' <<<"\$i")"
    done
    echo --
    sleep 0.1
done
EOF
bash "$H_DIR/sampler.sh" >"$SAMPLES" 2>/dev/null &
SAMPLER=$!
h_track "$SAMPLER" bash
sleep 1

# ---------------------------------------------------------------- plan on B
OLD_ALPHA=$(sentinel_master alpha | tail -n1)
OLD_BETA=$(sentinel_master beta | tail -n1)
spec_with "$B"
"$RMGR" plan -f "$SPEC" --detailed-exitcode >"$H_DIR/plan.out" 2>&1
rc=$?
PLAN=$(cat "$H_DIR/plan.out")
h_check "plan after the binaries moved: exit 2 (changes)" [ "$rc" -eq 2 ]
h_check "plan: an upgrade-restart for every redis, sentinel and the proxy (8), a failover per shard (2)" \
    eval '[ "$(grep -c "upgrade-restart" <<<"$PLAN")" -eq 8 ] && [ "$(grep -c "upgrade-failover" <<<"$PLAN")" -eq 2 ]'
h_check "plan: the steps are disruptive" eval '! grep "~ upgrade-" <<<"$PLAN" | grep -vq "\[disruptive\]"'
h_check "plan: each shows the version and program it runs now and will run" \
    eval 'grep -q "7\.[0-9.]* $A/redis-server -> 7\.[0-9.]* $B/redis-server" <<<"$PLAN" &&
          grep -q "7\.[0-9.]* $A/redis-sentinel -> 7\.[0-9.]* $B/redis-sentinel" <<<"$PLAN" &&
          grep -q "0.5.0 $A/nutcracker -> 0.5.0 $B/nutcracker" <<<"$PLAN"'
JPLAN=$("$RMGR" plan -f "$SPEC" --json 2>/dev/null)
h_check "plan --json: replicas first, then per shard failover + old master, sentinels, proxy" \
    eval '[ "$(jq -r "[.steps[] | select(.kind | startswith(\"upgrade\")) | .kind + \" \" + (.port|tostring)] | join(\",\")" <<<"$JPLAN")" = "upgrade-restart $A2,upgrade-restart $B2,upgrade-failover $A1,upgrade-restart $A1,upgrade-failover $B1,upgrade-restart $B1,upgrade-restart $S1,upgrade-restart $S2,upgrade-restart $S3,upgrade-restart $PX" ]'
STATUS=$("$RMGR" status -f "$SPEC" 2>&1)
h_check "status shows the versions" eval 'grep -qi "version" <<<"$STATUS" && grep -q "$A/redis-server" <<<"$STATUS"'

# ---------------------------------------------------------------- apply
T0=$(date +%s)
h_apply "$BASE/$CLUSTER" -f "$SPEC" --auto-approve
echo "$OUT" | sed 's/^/    apply | /'
h_check "apply: exit 0" [ "$RC" -eq 0 ]
echo "    (apply took $(( $(date +%s) - T0 )) s)"
sleep 1
touch "$STOPW"
wait "$WRITER" 2>/dev/null
wait "$SAMPLER" 2>/dev/null

h_check "every redis runs from B" eval '
    for p in "${REDIS_PORTS[@]}"; do [ "$(info_field "$p" server executable)" = "$B/redis-server" ] || exit 1; done'
h_check "every sentinel runs from B" eval '
    for p in "${SENTINELS[@]}"; do [ "$(info_field "$p" server executable)" = "$B/redis-sentinel" ] || exit 1; done'
h_check "the proxy runs from B" \
    eval '[ "$(exe_of_pidfile "$BASE/$CLUSTER/proxy-$PX/proxy.pid")" = "$B/nutcracker" ]'
NEW_ALPHA=$(sentinel_master alpha | tail -n1)
NEW_BETA=$(sentinel_master beta | tail -n1)
h_check "each master moved by failover (alpha $OLD_ALPHA -> $NEW_ALPHA, beta $OLD_BETA -> $NEW_BETA)" \
    eval '[ "$NEW_ALPHA" != "$OLD_ALPHA" ] && [ "$NEW_BETA" != "$OLD_BETA" ]'
h_check "the old masters are replicas of the new ones" \
    eval '[ "$(info_field "$OLD_ALPHA" replication master_port)" = "$NEW_ALPHA" ] && [ "$(info_field "$OLD_BETA" replication master_port)" = "$NEW_BETA" ]'

NACK=$(wc -l <"$ACKED")
missing=0
while read -r k; do
    [ "$(h_cli "$PX" GET "$k" 2>/dev/null)" = "$k" ] || missing=$((missing + 1))
done <"$ACKED"
h_check "every acknowledged key reads back through the proxy ($NACK acknowledged, $missing missing)" \
    eval '[ "$NACK" -gt 100 ] && [ "$missing" -eq 0 ]'

# no node ever followed a master that ran A while it ran B (a sample: "port role master_port exe")
bad=$(awk -v A="$A/redis-server" '
    /^--$/ { for (p in role) if (role[p] == "slave" && (mp[p] in exe) && exe[mp[p]] == A && exe[p] != A) n++;
             delete role; delete mp; delete exe; next }
    { role[$1] = $2; mp[$1] = $3; exe[$1] = $4 }
    END { print n + 0 }' "$SAMPLES")
h_check "no upgraded node ever replicated from a node on A ($bad samples; $(grep -c -- -- "$SAMPLES") taken)" \
    eval '[ "$bad" -eq 0 ] && [ "$(grep -c -- -- "$SAMPLES")" -gt 10 ]'

"$RMGR" plan -f "$SPEC" --detailed-exitcode >"$H_DIR/plan2.out" 2>&1
rc=$?
h_check "a second plan says no changes (exit 0)" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || cat "$H_DIR/plan2.out"

# ---------------------------------------------------------------- interrupted
# a replica put back on A by hand (as an apply stopped before its step would leave it)
REP=$OLD_BETA
pidf=$BASE/$CLUSTER/redis-$REP/redis.pid
pid=$(head -n1 "$pidf" | tr -dc 0-9)
kill -TERM "$pid"
for _ in $(seq 1 100); do [ -e "/proc/$pid" ] || break; sleep 0.05; done
(cd "$BASE/$CLUSTER/redis-$REP" && env -i PATH=/usr/bin:/bin "$A/redis-server" "$BASE/$CLUSTER/redis-$REP/redis.conf" --daemonize yes >/dev/null 2>&1)
h_track_pidfile "$pidf" redis-server >/dev/null
h_wait_ping "$REP" >/dev/null
for _ in $(seq 1 100); do [ "$(info_field "$REP" replication master_link_status)" = up ] && break; sleep 0.1; done
"$RMGR" plan -f "$SPEC" --json >"$H_DIR/plan3.json" 2>/dev/null
h_check "interrupted: the next plan restarts only the node still on A" \
    eval '[ "$(jq -r "[.steps[] | select(.action != \"=\") | .kind + \" \" + (.port|tostring)] | join(\",\")" "$H_DIR/plan3.json")" = "upgrade-restart $REP" ]'
h_apply "$BASE/$CLUSTER" -f "$SPEC" --auto-approve
h_check "interrupted: the apply after it finishes the job" \
    eval '[ "$RC" -eq 0 ] && [ "$(info_field "$REP" server executable)" = "$B/redis-server" ]'
[ "$RC" -eq 0 ] || echo "$OUT"
h_check "interrupted: then the plan says no changes" eval '"$RMGR" plan -f "$SPEC" --detailed-exitcode >/dev/null'

h_done
