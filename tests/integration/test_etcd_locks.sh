#!/usr/bin/env bash
# test_etcd_locks.sh - a fleet of `rmgr reconcile --lock etcd://` workers on a
# real etcd (Debian etcd-server 3.4) started on loopback, its data dir in the
# test's directory; twelve tiny local clusters (one redis, one sentinel each).
#
#   1. three workers converge the twelve clusters; `rmgr locks` shows the
#      spread, 4 each (at most ceil(12 / 3))
#   2. kill -9 a worker: its clusters are taken over by the two others within
#      TTL + one interval, 6 each; a drift on one of them is corrected
#   3. `rmgr unlock` refuses a live holder without --force; with --force the
#      holder's next check is fenced (the key's create revision is gone) and
#      it takes the cluster again under a new revision
#   4. SIGSTOP a worker past its TTL, the other takes all; drift its old
#      clusters, SIGCONT: it says it lost its leases and does not act
#   5. etcd stopped: the workers say etcd is unreachable and stop applying (a
#      drift stays); etcd started again: they resume and correct it
#   6. etcd with auth on: `--lock-user-file` (USER:PASSWORD under the secrets
#      directory) for locks and apply, refused outside it or without it
#   7. two --watch workers, one cluster with a replica and a proxy: on a
#      failover only the holder of the cluster's lease repoints the proxy
#   Throughout: every worker appends its step start/end times to one journal
#   ($RMGR_STEP_JOURNAL); no two workers ever have a step of one cluster
#   running at the same time.
#
# Every process started (by the harness, the test or rmgr) is tracked and stopped.
# shellcheck disable=SC1091,SC2016,SC2034,SC2317  # harness; eval strings and functions run by h_check
set -u
TESTS_DIR=${RMGR_TESTS_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
RMGR=${RMGR_BIN:-$(cd "$TESTS_DIR/.." && pwd)/rmgr}
PY=/usr/bin/python3
. "$TESTS_DIR/harness.sh"
h_init etcdlocks

command -v etcd >/dev/null || h_fatal "etcd is not installed (apt-get install etcd-server)"
export XDG_RUNTIME_DIR=$H_DIR/run XDG_CACHE_HOME=$H_DIR/xdg-cache
mkdir -p "$XDG_RUNTIME_DIR" "$H_DIR/specs"
export RMGR_STEP_JOURNAL=$H_DIR/journal
: >"$RMGR_STEP_JOURNAL"
BASE=$H_DIR/base
TTL_S=3
N=12
ETCD_PW="etcd-pw-$RANDOM-$$"

# ---------------------------------------------------------------- etcd

h_free_ports EC EP || h_fatal "no free port"
LOCK=etcd://127.0.0.1:$EC
start_etcd() {
    etcd --name t --data-dir "$H_DIR/etcd" \
        --listen-client-urls "http://127.0.0.1:$EC" --advertise-client-urls "http://127.0.0.1:$EC" \
        --listen-peer-urls "http://127.0.0.1:$EP" --initial-advertise-peer-urls "http://127.0.0.1:$EP" \
        --initial-cluster "t=http://127.0.0.1:$EP" >>"$H_DIR/etcd.log" 2>&1 &
    ETCD_PID=$!
    h_track "$ETCD_PID" etcd || return 1
    local deadline=$(( $(date +%s) + 20 ))
    until curl -s --noproxy '*' "http://127.0.0.1:$EC/health" | grep -q '"health":"true"'; do
        [ "$(date +%s)" -ge "$deadline" ] && return 1
        sleep 0.1
    done
}
start_etcd || h_fatal "etcd did not start (see $H_DIR/etcd.log)"

# ---------------------------------------------------------------- twelve clusters

declare -A RPORT
for i in $(seq 1 $N); do
    h_free_ports R S || h_fatal "no free port"
    RPORT[c$i]=$R
    cat >"$H_DIR/specs/c$i.yaml" <<EOF
cluster: c$i
defaults:
  transport: local
  base_dir: $BASE
redis:
  config:
    maxmemory: 10mb
    save: ""
    appendonly: "no"
shards:
  - name: s1
    master: 127.0.0.1:$R
sentinel:
  quorum: 1
  nodes: [127.0.0.1:$S]
EOF
done

# ---------------------------------------------------------------- workers

declare -A WPID
start_worker() { # start_worker ID
    "$RMGR" reconcile -f "$H_DIR/specs" --apply --interval 1s --lock "$LOCK" \
        --lock-ttl "${TTL_S}s" --worker-id "$1" --log-file "$H_DIR/$1.log" &
    WPID[$1]=$!
    h_track "${WPID[$1]}" rmgr
}
for w in w1 w2 w3; do start_worker $w || h_fatal "worker $w did not start"; done

locks() { "$RMGR" locks --lock "$LOCK" 2>&1; }
# holder CLUSTER: the worker that holds its lock now
holder() { locks | awk -v c="$1" '$1 == c { print $2 }'; }
# held_by WORKER: its clusters
held_by() { locks | awk -v w="$1" 'NR > 1 && $2 == w { print $1 }'; }
# wait_until SECONDS CMD...: true once CMD succeeds
wait_until() {
    local deadline=$(( $(date +%s%3N) + $1 * 1000 )); shift
    until "$@"; do
        [ "$(date +%s%3N)" -ge "$deadline" ] && return 1
        sleep 0.1
    done
}
all_up() {
    local c
    for c in "${!RPORT[@]}"; do
        [ "$(h_cli "${RPORT[$c]}" CONFIG GET maxmemory 2>/dev/null | tail -n1)" = 10485760 ] || return 1
    done
}
spread_is() { locks | grep -q "^$1"; }
track_all() { local d; for d in "$BASE"/c*; do h_track_cluster "$d"; done; }

# check_journal: no two workers with steps of one cluster running at once.
# Steps of a worker killed at a time (KILLED="pid:ms ...") end when it died.
KILLED=
check_journal() {
    "$PY" - "$RMGR_STEP_JOURNAL" "$KILLED" <<'EOF'
import sys
lines = [l.split() for l in open(sys.argv[1]) if l.strip()]
killed = {}
for kv in sys.argv[2].split():
    p, t = kv.split(":")
    killed[p] = int(t)
lines.sort(key=lambda l: int(l[0]))
open_steps = {}   # cluster -> {pid: count}
bad = 0
for ms, pid, worker, cluster, what, kind, target in lines:
    ms = int(ms)
    o = open_steps.setdefault(cluster, {})
    for p in list(o):
        if p in killed and killed[p] <= ms:
            del o[p]
    if what == "start":
        others = [p for p, n in o.items() if n > 0 and p != pid]
        if others:
            bad += 1
            print("overlap: %s %s started %s %s while pid %s had a step running" %
                  (cluster, worker, kind, target, others[0]))
        o[pid] = o.get(pid, 0) + 1
    else:
        o[pid] = o.get(pid, 0) - 1
workers = {(l[3], l[2]) for l in lines}
print("%d journal lines, %d clusters, %d (cluster, worker) pairs, %d overlaps" %
      (len(lines), len({l[3] for l in lines}), len(workers), bad))
sys.exit(1 if bad else 0)
EOF
}

# ---------------------------------------------------------------- 1. spread

h_check "three workers converge twelve clusters" wait_until 120 all_up
track_all
h_check "rmgr locks shows the spread: 4 clusters each" \
    wait_until 30 spread_is "12 clusters locked; 3 live workers: w1 4, w2 4, w3 4"
echo "--- rmgr locks"; locks

# ---------------------------------------------------------------- 2. kill -9

VICTIM=$(holder c1)
VCL=$(held_by "$VICTIM" | tr '\n' ' ')
SURV=$(printf '%s\n' w1 w2 w3 | grep -vx "$VICTIM" | tr '\n' ' ')
t0=$(date +%s%3N)
kill -KILL "${WPID[$VICTIM]}"
KILLED="${WPID[$VICTIM]}:$t0"
took_over() { ! locks | awk 'NR > 1 && NF >= 8 { print $2 }' | grep -qx "$VICTIM" && spread_is "12 clusters locked; 2 live workers"; }
h_check "kill -9 $VICTIM: its clusters ($VCL) are taken over" wait_until 30 took_over
# when: the survivors' own lock-taken log times (ms), not when a poll of `rmgr locks`
# (itself slow on a loaded machine) happened to see it; the last of the victim's clusters counts
taken_at() { # taken_at CLUSTER: ms of the last lock-taken of CLUSTER after t0 in the survivors' logs
    local w t last=0 ms
    for w in $SURV; do
        while read -r t _; do
            ms=$(date -d "$t" +%s%3N) || continue
            [ "$ms" -ge "$t0" ] && [ "$ms" -gt "$last" ] && last=$ms
        done < <(grep " lock-taken cluster=$1 " "$H_DIR/$w.log")
    done
    echo "$last"
}
t1=0 untaken=
for c in $VCL; do
    tc=$(taken_at "$c")
    [ "$tc" -eq 0 ] && untaken="$untaken $c"
    [ "$tc" -gt "$t1" ] && t1=$tc
done
echo "takeover after $((t1 - t0)) ms (TTL ${TTL_S}s + interval 1s; seen by a poll after $(( $(date +%s%3N) - t0 )) ms)"
h_check "each of $VICTIM's clusters has a lock-taken by a survivor (missing:${untaken:- none})" [ -z "$untaken" ]
h_check "taken over within TTL + interval + 1s" [ $((t1 - t0)) -le $(( (TTL_S + 2) * 1000 )) ]
h_check "6 clusters each for the two survivors" \
    wait_until 15 spread_is "12 clusters locked; 2 live workers: $(echo "$SURV" | awk '{ print $1 " 6, " $2 " 6" }')"
h_cli "${RPORT[c1]}" CONFIG SET maxmemory 20mb >/dev/null
h_check "a drift on $VICTIM's cluster c1 is corrected by its new holder" wait_until 20 all_up
h_check "the new holder of c1 ran its step" grep -q " $(holder c1) c1 start config-set" "$RMGR_STEP_JOURNAL"

# ---------------------------------------------------------------- 3. unlock

set -- $SURV
A=$1 B=$2
UC=$(held_by "$A" | head -n1)
"$RMGR" unlock "$UC" --lock "$LOCK" --auto-approve >"$H_DIR/unlock1.out" 2>&1; rc=$?
h_check "unlock refuses a live holder without --force" [ "$rc" = 1 ]
h_check "... and says why" grep -q "holder is alive: pass --force" "$H_DIR/unlock1.out"
REV_BEFORE=$(locks | awk -v c="$UC" '$1 == c { print $7 }')
"$RMGR" unlock "$UC" --lock "$LOCK" --force --auto-approve >"$H_DIR/unlock2.out" 2>&1; rc=$?
h_check "unlock --force removes $UC's lock" [ "$rc" = 0 ]
h_check "the holder is fenced: the key no longer has its create revision" \
    h_wait_log "$H_DIR/$A.log" "lease-lost cluster=$UC .*fenced: /rmgr/lock/$UC is gone" 1 10
retaken() { local r; r=$(locks | awk -v c="$UC" '$1 == c { print $7 }'); [ -n "$r" ] && [ "$r" != "$REV_BEFORE" ]; }
h_check "$UC is taken again under a new create revision" wait_until 10 retaken

# ---------------------------------------------------------------- 4. SIGSTOP past the TTL

SCL=$(held_by "$A" | tr '\n' ' ')
kill -STOP "${WPID[$A]}"
tstop=$(date +%s%3N)
h_check "SIGSTOP $A: $B takes all twelve" wait_until 30 spread_is "12 clusters locked; 1 live worker: $B 12"
for c in $SCL; do h_cli "${RPORT[$c]}" CONFIG SET maxmemory 30mb >/dev/null; done
h_check "$B corrects the drift on $A's old clusters" wait_until 20 all_up
for c in $SCL; do h_cli "${RPORT[$c]}" CONFIG SET maxmemory 40mb >/dev/null; done
kill -CONT "${WPID[$A]}"
h_check "SIGCONT: $A says it lost its leases" h_wait_log "$H_DIR/$A.log" "lease-lost.*lost the lease" 1 10
h_check "... and the drift is corrected (by $B)" wait_until 20 all_up
# when it said so: from then on it may take clusters again, under new leases
tlost=$(date -d "$(grep -m1 "lease-lost.*lost the lease" "$H_DIR/$A.log" | cut -d' ' -f1)" +%s%3N)
acted() { awk -v p="${WPID[$A]}" -v t="$tstop" -v u="$tlost" '$2 == p && $1 > t && $1 <= u' "$RMGR_STEP_JOURNAL" | grep -c . ; }
h_check "$A ran no step between SIGSTOP and knowing it lost its leases (fencing)" [ "$(acted)" = 0 ]
h_check "the fleet heals: 6 each again" \
    wait_until 20 spread_is "12 clusters locked; 2 live workers: $(echo "$SURV" | awk '{ print $1 " 6, " $2 " 6" }')"

# ---------------------------------------------------------------- 5. etcd stopped

h_stop "$ETCD_PID" || h_fatal "etcd did not stop"
tdown=$(date +%s%3N)
for w in $A $B; do
    h_check "etcd stopped: $w says why it does not reconcile" \
        h_wait_log "$H_DIR/$w.log" "etcd-unreachable .*not reconciling any cluster" 1 15
done
h_cli "${RPORT[c2]}" CONFIG SET maxmemory 50mb >/dev/null
sleep_until=$(( $(date +%s) + 3 ))
while [ "$(date +%s)" -lt "$sleep_until" ]; do sleep 0.2; done # the drift must stay: nobody acts
h_check "no worker applied while etcd was down" \
    [ "$(awk -v t="$tdown" '$1 > t' "$RMGR_STEP_JOURNAL" | grep -c .)" = 0 ]
h_check "... the drift stayed" [ "$(h_cli "${RPORT[c2]}" CONFIG GET maxmemory | tail -n1)" = 52428800 ]
start_etcd || h_fatal "etcd did not start again"
for w in $A $B; do
    h_check "etcd back: $w resumes" h_wait_log "$H_DIR/$w.log" "etcd-back" 1 15
done
h_check "... and the drift is corrected" wait_until 30 all_up

# ---------------------------------------------------------------- the journal

h_check "no two workers ever ran steps of one cluster at once" check_journal
echo "--- rmgr locks"; locks

# ---------------------------------------------------------------- 6. etcd auth

for w in $A $B; do h_stop "${WPID[$w]}"; done
h_check "stopped workers release their leases" wait_until 10 spread_is "0 clusters locked; 0 live workers"
EA=http://127.0.0.1:$EC/v3/auth
for req in "role/add {\"name\":\"root\"}" "user/add {\"name\":\"root\",\"password\":\"$ETCD_PW\"}" \
    "user/grant {\"user\":\"root\",\"role\":\"root\"}" "enable {}"; do
    curl -s --noproxy '*' -X POST -d "${req#* }" "$EA/${req%% *}" >>"$H_DIR/auth.log"
done
mkdir -p "$H_DIR/secrets" && chmod 700 "$H_DIR/secrets"
echo "root:$ETCD_PW" >"$H_DIR/secrets/etcd-user" && chmod 600 "$H_DIR/secrets/etcd-user"
export RMGR_SECRETS_DIR=$H_DIR/secrets
OUT=$("$RMGR" locks --lock "$LOCK" 2>&1); rc=$?
h_check "auth on: locks without a user is refused" [ "$rc" = 1 ]
OUT=$("$RMGR" locks --lock "$LOCK" --lock-user-file etcd-user 2>&1); rc=$?
h_check "auth on: locks with --lock-user-file (under the secrets dir) works" [ "$rc" = 0 ]
h_apply "$BASE/c3" -f "$H_DIR/specs/c3.yaml" --auto-approve --lock "$LOCK" --lock-user-file etcd-user
h_check "auth on: apply --lock --lock-user-file takes and releases the lock" [ "$RC" = 0 ]
OUT=$("$RMGR" locks --lock "$LOCK" --lock-user-file "$H_DIR/../etcd-user" 2>&1); rc=$?
h_check "a user file outside the secrets dir is refused" [ "$rc" = 1 ]
pw_hidden() { ! grep -q -- "$ETCD_PW" "$H_DIR"/w*.log "$H_DIR"/unlock*.out && ! grep -q -- "$ETCD_PW" <<<"$OUT"; }
h_check "the etcd password is never printed" pw_hidden

# ---------------------------------------------------------------- 7. --watch: the holder repoints

# one cluster with a replica and a proxy, two --watch workers (through the user file)
h_free_ports WM WR WS WP WT || h_fatal "no free port"
mkdir -p "$H_DIR/wspecs"
cat >"$H_DIR/wspecs/cw.yaml" <<EOF
cluster: cw
defaults:
  transport: local
  base_dir: $BASE
redis:
  config:
    save: ""
    appendonly: "no"
    repl-diskless-sync-delay: 0
shards:
  - name: s1
    master: 127.0.0.1:$WM
    replicas: [127.0.0.1:$WR]
sentinel:
  quorum: 1
  down_after_ms: 1000
  failover_timeout_ms: 60000
  nodes: [127.0.0.1:$WS]
proxies:
  - host: 127.0.0.1
    listen: 127.0.0.1:$WP
    stats_port: $WT
EOF
for w in x1 x2; do
    "$RMGR" reconcile -f "$H_DIR/wspecs" --apply --watch --interval 30s --lock "$LOCK" \
        --lock-user-file etcd-user --lock-ttl "${TTL_S}s" --worker-id "$w" --log-file "$H_DIR/$w.log" &
    WPID[$w]=$!
    h_track "${WPID[$w]}" rmgr || h_fatal "worker $w did not start"
done
locks() { "$RMGR" locks --lock "$LOCK" --lock-user-file etcd-user 2>&1; }
cw_up() { [ "$(h_cli "$WP" SET k v 2>/dev/null)" = OK ]; }
h_check "--watch workers converge cluster cw (auth on)" wait_until 60 cw_up
h_track_cluster "$BASE/cw"
WH=$(holder cw)
WO=$(printf '%s\n' x1 x2 | grep -vx "$WH")
h_check "one worker holds cw" [ -n "$WH" ]
subscribed() { h_wait_log "$H_DIR/x1.log" watch-subscribed 1 10 && h_wait_log "$H_DIR/x2.log" watch-subscribed 1 10; }
h_check "both workers subscribed to the sentinel" subscribed
MPID=$(cat "$BASE"/cw/redis-"$WM"/*.pid 2>/dev/null | head -n1)
h_check "the master's pid is known" [ -n "$MPID" ]
kill -KILL "$MPID"
h_check "failover: the holder $WH repoints the proxy" h_wait_log "$H_DIR/$WH.log" "repointed cluster=cw" 1 30
h_check "... the other worker does not" \
    h_wait_log "$H_DIR/$WO.log" "failover cluster=cw .*another worker holds the lease: not repointing" 1 10
not_repointed() { ! grep -q "repointed cluster=cw" "$H_DIR/$WO.log"; }
h_check "... and never repointed" not_repointed
for w in x1 x2; do h_stop "${WPID[$w]}"; done
"$RMGR" destroy -f "$H_DIR/wspecs/cw.yaml" --auto-approve --allow-destructive >/dev/null 2>&1

# ---------------------------------------------------------------- clean up

for f in "$H_DIR"/specs/*.yaml; do
    "$RMGR" destroy -f "$f" --auto-approve --allow-destructive >/dev/null 2>&1
done
h_done
