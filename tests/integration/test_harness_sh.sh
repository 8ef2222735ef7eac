#!/usr/bin/env bash
# shellcheck disable=SC1091,SC2016  # eval strings expand later, on purpose
# test_harness_sh.sh - tests/harness.sh: real redis, sentinel and nutcracker
# from a shell test; only their pids are stopped, also when the test dies.
set -u
TESTS_DIR=${RMGR_TESTS_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
. "$TESTS_DIR/harness.sh"

# a child script used below: starts a redis, prints "PID DIR", then ends as told
if [ "${1:-}" = child ]; then
    h_init child
    h_start_redis 0 || exit 3
    echo "$H_PID $H_DIR"
    case $2 in
        exit) exit 1 ;;
        term) kill -TERM $$; sleep 5 ;;
        int) kill -INT $$; sleep 5 ;;
    esac
    exit 4 # the signal did not end it
fi

sleep 120 & bystander=$!
h_init harness-sh

h_check "free ports differ" [ "$(h_free_port)" != "$(h_free_port)" ]
h_free_ports fa fb fc
h_check "h_free_ports sets every variable to a port" eval '[[ "$fa $fb $fc" =~ ^[0-9]+\ [0-9]+\ [0-9]+$ ]]'
h_check "h_free_ports: all different" eval '[ "$fa" != "$fb" ] && [ "$fb" != "$fc" ] && [ "$fa" != "$fc" ]'
h_check "h_free_ports: remembered (not given again)" \
    eval '[[ $H_PORTS_USED == *" $fa "* && $H_PORTS_USED == *" $fb "* && $H_PORTS_USED == *" $fc "* ]]'

h_start_redis 0 "maxmemory 10mb"; rc=$?
h_check "redis starts" [ $rc -eq 0 ]
rpid=$H_PID rport=$H_PORT rdir=$H_DIR_LAST
h_check "redis pidfile holds its pid" [ "$(cat "$rdir/redis.pid")" = "$rpid" ]
h_check "extra conf applied" [ "$(h_cli "$rport" CONFIG GET maxmemory | tail -n1)" = 10485760 ]

h_start_sentinel 0 "sentinel monitor m1 127.0.0.1 $rport 1"; rc=$?
h_check "sentinel starts" [ $rc -eq 0 ]
spid=$H_PID sport=$H_PORT
h_check "sentinel monitors redis" \
    [ "$(h_cli "$sport" SENTINEL GET-MASTER-ADDR-BY-NAME m1 | tail -n1)" = "$rport" ]

h_start_nutcracker 0 0 "  redis: true
  hash: fnv1a_64
  servers:
   - 127.0.0.1:$rport:1 s1"; rc=$?
h_check "nutcracker starts" [ $rc -eq 0 ]
npid=$H_PID nport=$H_PORT
h_check "nutcracker pidfile written" [ "$(cat "$H_DIR_LAST/nutcracker.pid")" = "$npid" ]
h_check "stats port is private" [ "$H_STATS_PORT" != 22222 ]
h_check "SET through the proxy" [ "$(h_cli "$nport" SET k1 v1)" = OK ]
h_check "GET from redis" [ "$(h_cli "$rport" GET k1)" = v1 ]

h_start_redis "$rport" 2>/dev/null; rc=$?
h_check "taken port refused" [ $rc -ne 0 ]
h_check "first redis untouched" h_alive "$rpid"

# a daemon started by someone else, found through its pidfile
oport=$(h_free_port)
redis-server --port "$oport" --bind 127.0.0.1 --daemonize yes --save '' \
    --pidfile "$H_DIR/other.pid" --logfile /dev/null --dir "$H_DIR"
h_check "pidfile tracked" h_track_pidfile "$H_DIR/other.pid" redis-server
opid=$H_PID
h_check "wrong program refused" eval '! h_track "$opid" nutcracker 2>/dev/null'
h_check "tracked daemon stops" h_stop "$opid"
h_check "tracked daemon gone" eval '! h_alive "$opid"'

# daemons rmgr started, one directory each: every pidfile tracked once
cdir=$H_DIR/base/c1
cport=$(h_free_port)
mkdir -p "$cdir/redis-$cport"
redis-server --port "$cport" --bind 127.0.0.1 --daemonize yes --save '' \
    --pidfile "$cdir/redis-$cport/redis.pid" --logfile /dev/null --dir "$cdir/redis-$cport"
for _ in $(seq 100); do [ -s "$cdir/redis-$cport/redis.pid" ] && break; sleep 0.05; done
h_track_cluster "$cdir"
cpid=$(tr -dc 0-9 <"$cdir/redis-$cport/redis.pid")
ntracked=${#H_PIDS[@]}
h_check "cluster daemon tracked" eval '[ -n "$cpid" ] && [[ " ${H_PIDS[*]} " == *" $cpid "* ]]'
h_track_cluster "$cdir"
h_check "cluster daemon tracked once" [ "${#H_PIDS[@]}" -eq "$ntracked" ]
h_check "cluster daemon stops" h_stop "$cpid"

# a log waited for: enough matching lines, or false after the timeout
printf 'run-done\nother\nrun-done\n' >"$H_DIR/wait.log"
h_check "wait_log: two lines found" h_wait_log "$H_DIR/wait.log" run-done 2 1
h_check "wait_log: a third times out" eval '! h_wait_log "$H_DIR/wait.log" run-done 3 1'
h_check "wait_log: a missing file times out" eval '! h_wait_log "$H_DIR/none.log" x 1 1'

# the webhook receiver counts the posts of one event
h_check "webhook receiver starts" h_start_webhook "$H_DIR/hook.log"
for ev in drift-found drift-found apply-failed; do
    curl -s -o /dev/null -d "{\"event\":\"$ev\",\"text\":\"x\"}" "$H_URL"
done
h_check "webhook: two drift-found counted" [ "$(h_webhook_count drift-found)" = 2 ]
h_check "webhook: one apply-failed counted" [ "$(h_webhook_count apply-failed)" = 1 ]
h_check "webhook: none of another event" [ "$(h_webhook_count drift-resolved)" = 0 ]

# h_apply: rmgr's output and status, then the cluster's daemons tracked (a stand-in rmgr)
printf '#!/bin/sh\necho "$*"; exit 3\n' >"$H_DIR/fake-rmgr"; chmod +x "$H_DIR/fake-rmgr"
RMGR=$H_DIR/fake-rmgr h_apply "$H_DIR/base/none" -f spec.yaml --auto-approve
h_check "h_apply: OUT and RC of the apply" eval '[ "$OUT" = "apply -f spec.yaml --auto-approve" ] && [ "$RC" = 3 ]'

# h_fatal: one more failure, the result line, exit 1 (in a subshell: this test goes on)
fatal_expect="$H_PASSED passed, $((H_FAILED + 1)) failed"
fatal_out=$(h_fatal "boom"); fatal_rc=$?
h_check "h_fatal exits 1" [ "$fatal_rc" = 1 ]
h_check "h_fatal says FAIL and the result line" \
    eval '[ "$(printf "%s\n" "$fatal_out" | head -n1)" = "FAIL boom" ] && printf "%s\n" "$fatal_out" | tail -n1 | grep -qx "$fatal_expect"'

h_check "nutcracker stops" h_stop "$npid"
h_check "sentinel stops" h_stop "$spid"
h_check "redis stops" h_stop "$rpid"
for p in "$npid" "$spid" "$rpid"; do
    h_check "pid $p gone" eval "! h_alive $p"
done
h_check "bystander alive" h_alive "$bystander"

# a dying test still stops what it started. The child gets default signal
# handling: started in the background (tests run in parallel), it would
# inherit an ignored SIGINT, which bash can neither trap nor reset.
for how in exit term int; do
    out=$(env --default-signal=INT,TERM bash "$0" child "$how" 2>/dev/null); rc=$?
    case $how in exit) want=1 ;; term) want=$((128 + 15)) ;; int) want=$((128 + 2)) ;; esac
    cpid=${out%% *} cdir=${out#* }
    h_check "child ($how) ended as told (status $rc, want $want)" [ "$rc" -eq "$want" ]
    h_check "child ($how) started a redis" eval '[ -n "$cpid" ] && [ "$cpid" != "$out" ]'
    h_check "child ($how) redis gone" eval "! h_alive ${cpid:-0}"
    h_check "child ($how) dir removed" [ ! -e "$cdir" ]
done

d=$H_DIR
h_start_redis 0 >/dev/null; rc=$?; last=$H_PID
h_check "redis without extra conf starts" [ $rc -eq 0 ] && [ "$last" != "$rpid" ]
h_cleanup
h_check "cleanup stops the rest" eval "! h_alive $last"
h_check "cleanup removes the dir" [ ! -e "$d" ]
h_check "bystander still alive" h_alive "$bystander"
kill "$bystander"; wait "$bystander" 2>/dev/null
h_done
