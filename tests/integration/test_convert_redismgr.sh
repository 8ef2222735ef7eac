#!/usr/bin/env bash
# test_convert_redismgr.sh - a cluster in redis-mgr's layout, converted and
# taken over: the processes are started as redis-mgr starts them (each in a
# directory of its own, sentinels with its settings, nutcracker with its pool
# on 0.0.0.0:PORT, stats on PORT+1000), on loopback: 2 shards of master +
# replica, 3 sentinels, 1 nutcracker. `rmgr convert redis-mgr` of its conf.py
# must give a spec whose plan changes nothing rmgr would not manage
# differently (files in rmgr's directories, the proxy restarted: no role,
# replication, sentinel or config change, no refusal); after redis-mgr's
# nutcracker is stopped (apply refuses to stop a process it did not start)
# `rmgr apply` converges and every key written through redis-mgr's nutcracker
# is read through rmgr's on the same shard, and the next plan is empty.
# shellcheck disable=SC1091,SC2016,SC2034  # harness; eval strings (and the variables they read)
set -u
TESTS_DIR=${RMGR_TESTS_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
RMGR=${RMGR_BIN:-$(cd "$TESTS_DIR/.." && pwd)/rmgr}
PY=/usr/bin/python3
. "$TESTS_DIR/harness.sh"
h_init convert-redismgr

export XDG_RUNTIME_DIR=$H_DIR/run
mkdir -p "$XDG_RUNTIME_DIR"
R=$H_DIR/r # redis-mgr's install paths
h_free_ports M1 R1 M2 R2 S1 S2 S3 N NS || h_fatal "no free port"
NSTATS=$((N + 1000))
# redis-mgr's stats port is the listen port + 1000: it must be free as well
"$PY" -c 'import socket,sys; s=socket.socket(); s.bind(("0.0.0.0", int(sys.argv[1])))' "$NSTATS" 2>/dev/null \
    || h_fatal "port $NSTATS (nutcracker stats) is taken"

# ---------------------------------------------------------------- redis-mgr's layout
start_redis() { # PORT [MASTER_PORT]
    local d=$R/redis-$1
    mkdir -p "$d"
    redis-server --port "$1" --bind 127.0.0.1 --dir "$d" --save '' --appendonly no \
        --repl-diskless-sync-delay 0 --daemonize yes --pidfile "$d/redis.pid" --logfile "$d/redis.log" \
        ${2:+--replicaof 127.0.0.1 "$2"}
    h_track_pidfile "$d/redis.pid" redis-server >/dev/null || h_fatal "redis $1 did not start"
}
start_redis "$M1"; start_redis "$M2"; start_redis "$R1" "$M1"; start_redis "$R2" "$M2"
for s in "$S1" "$S2" "$S3"; do
    d=$R/sentinel-$s
    mkdir -p "$d"
    {
        printf 'port %s\nbind 127.0.0.1\ndaemonize yes\npidfile %s/sentinel.pid\nlogfile %s/sentinel.log\ndir %s\n' \
            "$s" "$d" "$d" "$d"
        for m in "$M1" "$M2"; do
            printf 'sentinel monitor cluster0-%s 127.0.0.1 %s 2\n' "$m" "$m"
            printf 'sentinel down-after-milliseconds cluster0-%s 60000\n' "$m"
            printf 'sentinel failover-timeout cluster0-%s 180000\n' "$m"
            printf 'sentinel parallel-syncs cluster0-%s 1\n' "$m"
        done
    } >"$d/sentinel.conf"
    redis-sentinel "$d/sentinel.conf"
    h_track_pidfile "$d/sentinel.pid" redis-sentinel >/dev/null || h_fatal "sentinel $s did not start"
done
d=$R/nutcracker-$N
mkdir -p "$d"
cat >"$d/nutcracker.conf" <<YAML
cluster0:
  listen: 0.0.0.0:$N
  hash: fnv1a_64
  distribution: modula
  preconnect: true
  auto_eject_hosts: false
  redis: true
  backlog: 512
  timeout: 400
  client_connections: 0
  server_connections: 1
  server_retry_timeout: 2000
  server_failure_limit: 2
  servers:
    - 127.0.0.1:$M1:1 cluster0-$M1
    - 127.0.0.1:$M2:1 cluster0-$M2
YAML
nutcracker -d -c "$d/nutcracker.conf" -o "$d/nutcracker.log" -p "$d/nutcracker.pid" -s "$NSTATS"
h_track_pidfile "$d/nutcracker.pid" nutcracker >/dev/null || h_fatal "nutcracker did not start"
MGR_NC=$(head -n1 "$d/nutcracker.pid" | tr -dc 0-9)

# the replicas linked and the sentinels knowing each other, as after redis-mgr's start
linked() { h_cli "$1" INFO replication 2>/dev/null | grep -q '^master_link_status:up'; }
peers() { h_cli "$S1" SENTINEL MASTER "cluster0-$M1" 2>/dev/null | tr -d '\r' | grep -A1 '^num-other-sentinels$' | tail -n1; }
for _ in $(seq 1 100); do linked "$R1" && linked "$R2" && [ "$(peers)" = 2 ] && break; sleep 0.1; done
h_check "redis-mgr's layout is up (replicas linked, sentinels know each other)" \
    eval 'linked "$R1" && linked "$R2" && [ "$(peers)" = 2 ]'

# keys through redis-mgr's nutcracker, and which master each landed on
for i in $(seq 1 100); do h_cli "$N" SET "key:$i" "v$i" >/dev/null; done
on_shard() { h_cli "$1" --scan --pattern 'key:*' | sort | tr '\n' ' '; }
BEFORE1=$(on_shard "$M1") BEFORE2=$(on_shard "$M2")
h_check "both shards got keys through redis-mgr's nutcracker" eval '[ -n "$BEFORE1" ] && [ -n "$BEFORE2" ]'

# ---------------------------------------------------------------- convert, plan
cat >"$H_DIR/conf.py" <<PY
# redis-mgr's conf/conf.py form (github.com/idning/redis-mgr)
REDIS_MONITOR_EXTRA = {'used_cpu_user': (0, 1), '_slowlog_per_sec': (0, 10)}
cluster0 = {
    'cluster_name': 'cluster0',
    'user': 'root',
    'sentinel': [('127.0.0.1:$S1', '$R/sentinel-$S1'), ('127.0.0.1:$S2', '$R/sentinel-$S2'),
                 ('127.0.0.1:$S3', '$R/sentinel-$S3')],
    'redis': [('127.0.0.1:$M1', '$R/redis-$M1'), ('127.0.0.1:$R1', '$R/redis-$R1'),
              ('127.0.0.1:$M2', '$R/redis-$M2'), ('127.0.0.1:$R2', '$R/redis-$R2')],
    'nutcracker': [('127.0.0.1:$N', '$R/nutcracker-$N')],
}
PY
SPEC=$H_DIR/spec.yaml
"$RMGR" convert redis-mgr "$H_DIR/conf.py" >"$SPEC" 2>"$H_DIR/convert.err"
h_check "convert: exit 0, nothing on stderr" eval '[ $? -eq 0 ] && [ ! -s "$H_DIR/convert.err" ]'
h_check "the spec validates" "$RMGR" validate "$SPEC"
h_check "REDIS_MONITOR_EXTRA became alerts: used_cpu_user 0..1, slowlog_per_sec 0..10" \
    eval 'grep -A3 "field: used_cpu_user" "$SPEC" | grep -q "max: 1" &&
          grep -A3 "field: slowlog_per_sec" "$SPEC" | grep -q "max: 10"'
h_check "the shards keep redis-mgr's server names" \
    eval 'grep -q "name: cluster0-$M1" "$SPEC" && grep -q "name: cluster0-$M2" "$SPEC"'

"$RMGR" plan -f "$SPEC" --json >"$H_DIR/plan.json" 2>"$H_DIR/plan.err"
plan_ok() {
    "$PY" -c '
import json, sys
p = json.load(open(sys.argv[1]))
kinds = sorted({s["kind"] for s in p["steps"]})
assert not p["refused"] and not p["refusals"], p["refusals"]
assert kinds == ["install-files", "proxy-restart"], kinds
assert all(s["reason"] for s in p["steps"])
assert [s["target"] for s in p["steps"] if s["kind"] == "proxy-restart"] == ["127.0.0.1:" + sys.argv[2]]
' "$H_DIR/plan.json" "$N"
}
h_check "the plan: only rmgr's own files and the proxy restart, no refusal, each with its reason" plan_ok \
    || cat "$H_DIR/plan.json"

# apply refuses to stop a nutcracker it did not start; the operator stops it
h_apply "$H_DIR/base-none" -f "$SPEC" --auto-approve
h_check "apply with redis-mgr's nutcracker running: refused to stop it" \
    eval '[ "$RC" -ne 0 ] && [[ $OUT == *"stop it by hand"* ]]'
h_stop "$MGR_NC"
h_apply "$R/cluster0" -f "$SPEC" --auto-approve
h_check "apply after redis-mgr's nutcracker is stopped: exit 0" [ "$RC" -eq 0 ]
[ "$RC" -eq 0 ] || echo "$OUT"

found=0
for i in $(seq 1 100); do [ "$(h_cli "$N" GET "key:$i")" = "v$i" ] && found=$((found + 1)); done
h_check "rmgr's nutcracker reads every key written through redis-mgr's ($found of 100)" [ "$found" -eq 100 ]
# the same 100 keys written again through rmgr's nutcracker go where they were
for i in $(seq 1 100); do h_cli "$N" DEL "key:$i" >/dev/null; h_cli "$N" SET "key:$i" "w$i" >/dev/null; done
h_check "and places keys as redis-mgr's did: each on the same shard" \
    eval '[ "$(on_shard "$M1")" = "$BEFORE1" ] && [ "$(on_shard "$M2")" = "$BEFORE2" ]'
"$RMGR" plan -f "$SPEC" --detailed-exitcode >"$H_DIR/plan2.out" 2>&1
h_check "the next plan is empty" [ $? -eq 0 ]
grep -v '^Fingerprint' "$H_DIR/plan2.out" | grep . | head -5

h_done
