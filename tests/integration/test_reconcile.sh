#!/usr/bin/env bash
# test_reconcile.sh - rmgr reconcile against a real local cluster, specs from a
# local git repository (file://), notifications to a loopback HTTP receiver.
#
#   1. cron style: report-only runs post ONE drift-found across repeated runs
#      (state file), --apply converges and posts ONE drift-resolved, later runs
#      post nothing; commit id and subject travel into the payloads and logs
#   2. one broken spec in the repository: exit 1, the good cluster is still
#      reconciled
#   3. --watch daemon with a long interval: one sentinel stopped (the
#      subscription is lost), SIGKILL a master, Sentinel fails over, the proxy
#      is repointed within seconds (writes through it succeed, nutcracker.yml
#      names the new master); SIGHUP reloads and the run it triggers starts
#      the dead master again as a replica and the sentinel again (subscribed
#      anew); SIGTERM exits 0
#
# Every process started (by the harness or by rmgr) is tracked and stopped.
# shellcheck disable=SC1091,SC2016,SC2034,SC2317  # harness; eval strings and functions run by h_check
set -u
TESTS_DIR=${RMGR_TESTS_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
RMGR=${RMGR_BIN:-$(cd "$TESTS_DIR/.." && pwd)/rmgr}
PY=/usr/bin/python3
. "$TESTS_DIR/harness.sh"
h_init reconcile

# locks (lock_default_path) and caches stay inside the test directory
export XDG_RUNTIME_DIR=$H_DIR/run XDG_CACHE_HOME=$H_DIR/xdg-cache
mkdir -p "$XDG_RUNTIME_DIR"
export RMGR_REDIS_TEST_PASSWORD="pw-$RANDOM-secret-$$"
PW=$RMGR_REDIS_TEST_PASSWORD
CLUSTER=rtest
BASE=$H_DIR/base
CACHE=$H_DIR/cache
HOOKLOG=$H_DIR/hook.log
: >"$HOOKLOG"


# ---------------------------------------------------------------- receiver

h_start_webhook "$HOOKLOG" || h_fatal "webhook receiver did not start"
# events_after N: the events posted after the first N, '"event":"NAME" ' each
events_after() { tail -n +"$(($1 + 1))" "$HOOKLOG" | grep -o '"event":"[a-z-]*"' | tr '\n' ' '; }
HOOK_PORT=$H_PORT
HOOK="http://127.0.0.1:$HOOK_PORT/hook"

# ---------------------------------------------------------------- spec repository

h_free_ports M1 R1 M2 R2 S1 S2 S3 PX ST || h_fatal "no free port"
spec() { # spec MAXMEMORY
    cat <<EOF
cluster: $CLUSTER
defaults:
  transport: local
  base_dir: $BASE
auth:
  password_env: RMGR_REDIS_TEST_PASSWORD
redis:
  config:
    maxmemory: $1
    save: ""
    appendonly: "no"
    repl-diskless-sync-delay: 0
shards:
  - name: shard1
    master: 127.0.0.1:$M1
    replicas: [127.0.0.1:$R1]
  - name: shard2
    master: 127.0.0.1:$M2
    replicas: [127.0.0.1:$R2]
sentinel:
  quorum: 2
  down_after_ms: 2000
  failover_timeout_ms: 60000
  nodes: [127.0.0.1:$S1, 127.0.0.1:$S2, 127.0.0.1:$S3]
proxies:
  - host: 127.0.0.1
    listen: 127.0.0.1:$PX
    stats_port: $ST
EOF
}
git init -q --bare --initial-branch=main "$H_DIR/specs.git"
git clone -q "$H_DIR/specs.git" "$H_DIR/work" 2>/dev/null
git -C "$H_DIR/work" symbolic-ref HEAD refs/heads/main
gitw() { git -C "$H_DIR/work" -c user.name=test -c user.email=test@example.invalid "$@"; }
commit() { # commit SUBJECT: commit everything in the work tree and push
    gitw add -A && gitw commit -q -m "$1" && gitw push -q origin HEAD 2>/dev/null
    gitw rev-parse HEAD
}
mkdir -p "$H_DIR/work/specs"
spec 64mb >"$H_DIR/work/specs/$CLUSTER.yaml"
C1=$(commit "Add cluster $CLUSTER") || h_fatal "cannot commit"
REPO="file://$H_DIR/specs.git"

# the first commit, deployed with rmgr apply --repo
h_apply "$BASE/$CLUSTER" --repo "$REPO" --path specs --cache-dir "$CACHE" --auto-approve
h_check "cluster deployed with rmgr apply --repo" [ "$RC" -eq 0 ]
h_check "apply --repo names the commit and its subject first" \
    eval '[ "$(head -n1 <<<"$OUT")" = "Spec: specs/$CLUSTER.yaml from $REPO at main (${C1:0:12}): Add cluster $CLUSTER" ]'
[ "$RC" -eq 0 ] || { echo "$OUT"; h_fatal "apply failed"; }
h_check "proxy answers" [ "$(h_cli "$PX" -a "$PW" SET k0 v0 2>/dev/null)" = OK ]

# ---------------------------------------------------------------- 1. cron style

RC_ARGS=(--repo "$REPO" --path specs --cache-dir "$CACHE" --webhook "$HOOK"
         --webhook-format generic --webhook-retries 1)
reconcile() { # reconcile ARGS...: sets OUT (the log) and RC
    OUT=$("$RMGR" reconcile --once "${RC_ARGS[@]}" "$@" 2>&1); RC=$?
    printf '%s\n' "$OUT" >>"$H_DIR/all.log"
}

reconcile
h_check "in sync: exit 0" [ "$RC" -eq 0 ]
h_check "in sync: logged with cluster and commit" \
    grep -q "in-sync cluster=$CLUSTER commit=${C1:0:12}" <<<"$OUT"
h_check "in sync: nothing posted" [ ! -s "$HOOKLOG" ]

spec 48mb >"$H_DIR/work/specs/$CLUSTER.yaml"
C2=$(commit "Lower maxmemory to 48mb") || h_fatal "cannot commit"
for i in 1 2 3; do
    reconcile
    h_check "report-only run $i: exit 0, drift logged" \
        eval '[ "$RC" -eq 0 ] && grep -q "drift cluster=$CLUSTER commit=${C2:0:12}" <<<"$OUT"'
done
h_check "report-only runs posted exactly one drift-found" [ "$(h_webhook_count drift-found)" -eq 1 ]
h_check "the drift payload names commit and subject" \
    grep -q "\"commit\":\"$C2\",\"subject\":\"Lower maxmemory to 48mb\"" "$HOOKLOG"
h_check "report-only changed nothing" \
    [ "$(h_cli "$M1" -a "$PW" CONFIG GET maxmemory 2>/dev/null | tail -n1)" = 67108864 ]
reconcile --detailed-exitcode
h_check "--detailed-exitcode: 2 while drift remains" [ "$RC" -eq 2 ]

reconcile --apply --log-format json
h_check "--apply: exit 0" [ "$RC" -eq 0 ]
ok=1
for p in "$M1" "$R1" "$M2" "$R2"; do
    [ "$(h_cli "$p" -a "$PW" CONFIG GET maxmemory 2>/dev/null | tail -n1)" = 50331648 ] || ok=0
done
h_check "--apply: every redis has maxmemory 48mb" [ "$ok" = 1 ]
h_check "--apply: one drift-resolved, still one drift-found, no other message" \
    eval '[ "$(h_webhook_count drift-resolved)" -eq 1 ] && [ "$(h_webhook_count drift-found)" -eq 1 ] &&
          [ "$(wc -l <"$HOOKLOG")" -eq 2 ]'
h_check "--apply: the resolved message says what the apply did" \
    grep -q '"event":"drift-resolved".*Drift resolved by reconcile --apply' "$HOOKLOG"
h_check "--log-format json: every line is JSON with an event" \
    "$PY" -c 'import json, sys
for line in sys.stdin:
    d = json.loads(line); assert d["event"] and d["time"] and d["level"], line
    if d["event"].startswith(("apply", "drift")): assert d["cluster"] and d["commit"], line' <<<"$OUT"
h_check "--log-format json: the apply's steps are logged" \
    grep -q '"event":"apply-step","cluster":"'"$CLUSTER"'","commit":"'"$C2"'"' <<<"$OUT"

posted=$(wc -l <"$HOOKLOG")
reconcile --apply
reconcile
h_check "converged: later runs exit 0 and post nothing" \
    eval '[ "$RC" -eq 0 ] && [ "$(wc -l <"$HOOKLOG")" -eq "$posted" ]'
h_check "drift state file per cluster under the cache dir" [ -s "$CACHE/state/$CLUSTER.json" ]

GIT_ARGS=(--repo "$REPO" --path "specs/$CLUSTER.yaml" --cache-dir "$CACHE")
OUT=$("$RMGR" plan "${GIT_ARGS[@]}" --json 2>&1)
h_check "plan --repo --json: spec.commit and spec.subject" \
    "$PY" -c 'import json, sys
spec = json.load(sys.stdin)["spec"]
assert spec["commit"] == sys.argv[1] and spec["subject"] == sys.argv[2], spec' \
    "$C2" "Lower maxmemory to 48mb" <<<"$OUT"
"$RMGR" plan "${GIT_ARGS[@]}" --out "$H_DIR/plan.json" >/dev/null 2>&1
OUT=$("$RMGR" apply "$H_DIR/plan.json" --cache-dir "$CACHE" --auto-approve 2>&1); RC=$?
h_check "plan --repo --out, then apply PLANFILE at its commit: exit 0" \
    eval '[ "$RC" -eq 0 ] && grep -q "^Spec: specs/$CLUSTER.yaml from .* (${C2:0:12})" <<<"$OUT"'

# the cron job straight away with --apply: a new drift costs exactly one drift and one
# resolved message, and nothing more on the next runs
spec 40mb >"$H_DIR/work/specs/$CLUSTER.yaml"
C3=$(commit "Lower maxmemory to 40mb") || h_fatal "cannot commit"
before=$(wc -l <"$HOOKLOG")
reconcile --apply
h_check "cron --apply on a new drift: exit 0" [ "$RC" -eq 0 ]
h_check "cron --apply: maxmemory 40mb everywhere" \
    [ "$(h_cli "$R2" -a "$PW" CONFIG GET maxmemory 2>/dev/null | tail -n1)" = 41943040 ]
reconcile --apply
reconcile --apply
new_events=$(events_after "$before")
h_check "cron --apply: exactly one drift-found and one drift-resolved, then nothing" \
    [ "$new_events" = '"event":"drift-found" "event":"drift-resolved" ' ]
h_check "cron --apply: both name the new commit" \
    [ "$(tail -n +"$((before + 1))" "$HOOKLOG" | grep -c "\"commit\":\"$C3\"")" -eq 2 ]

# an apply that keeps failing is posted once, not on every cron run
spec lots >"$H_DIR/work/specs/$CLUSTER.yaml"
commit "Break maxmemory" >/dev/null || h_fatal "cannot commit"
before=$(wc -l <"$HOOKLOG")
for i in 1 2 3; do
    reconcile --apply
    h_check "failing apply run $i: exit 1" [ "$RC" -eq 1 ]
done
new_events=$(events_after "$before")
h_check "a failing apply is posted once: drift-found, apply-failed, nothing more" \
    [ "$new_events" = '"event":"drift-found" "event":"apply-failed" ' ]
spec 40mb >"$H_DIR/work/specs/$CLUSTER.yaml"
commit "Restore maxmemory 40mb" >/dev/null || h_fatal "cannot commit"
before=$(wc -l <"$HOOKLOG")
reconcile --apply
reconcile --apply
new_events=$(events_after "$before")
h_check "after the fix: one drift-resolved" [ "$new_events" = '"event":"drift-resolved" ' ]

# ---------------------------------------------------------------- 2. isolation

printf 'cluster: broken\nshards: nope\n' >"$H_DIR/work/specs/broken.yaml"
commit "Add a broken spec" >/dev/null || h_fatal "cannot commit"
reconcile --apply
h_check "a broken spec: exit 1" [ "$RC" -eq 1 ]
h_check "a broken spec: its error is logged by repository path" \
    grep -q "spec-error.*file=specs/broken.yaml" <<<"$OUT"
h_check "a broken spec: the good cluster is still reconciled" \
    grep -q "in-sync cluster=$CLUSTER" <<<"$OUT"
gitw rm -q specs/broken.yaml
commit "Remove the broken spec" >/dev/null || h_fatal "cannot commit"

# ---------------------------------------------------------------- 3. --watch

DLOG=$H_DIR/daemon.log
"$RMGR" reconcile "${RC_ARGS[@]}" --watch --apply --interval 1h --log-level debug \
    --log-file "$DLOG" 2>"$H_DIR/daemon.err" &
DAEMON=$!
h_track "$DAEMON" rmgr
h_check "daemon: subscribed to all 3 sentinels" h_wait_log "$DLOG" "watch-subscribed cluster=$CLUSTER" 3 10
h_check "daemon: first run done" h_wait_log "$DLOG" "run-done" 1 20

proxy_conf=$BASE/$CLUSTER/proxy-$PX/nutcracker.yml
h_check "proxy points at the first master" grep -q "127.0.0.1:$M1:1 shard1" "$proxy_conf"
# a key that the proxy sends to shard1
key=
for i in $(seq 200); do
    h_cli "$PX" -a "$PW" SET "probe$i" x >/dev/null 2>&1
    if [ "$(h_cli "$M1" -a "$PW" EXISTS "probe$i" 2>/dev/null)" = 1 ]; then key=probe$i; break; fi
done
h_check "found a key on shard1" [ -n "$key" ]

# one sentinel down: the subscription is lost, the other two still make a quorum
s3pid=$(tr -dc 0-9 <"$BASE/$CLUSTER/sentinel-$S3/sentinel.pid")
kill -TERM "$s3pid"
h_check "watch: a stopped sentinel is noticed" h_wait_log "$DLOG" "watch-lost cluster=$CLUSTER .*sentinel=127.0.0.1:$S3" 1 10

m1pid=$(tr -dc 0-9 <"$BASE/$CLUSTER/redis-$M1/redis.pid")
t_kill=$(date +%s%3N)
kill -KILL "$m1pid"
repointed() {
    grep -q "127.0.0.1:$R1:1 shard1" "$proxy_conf" &&
        [ "$(h_cli "$PX" -a "$PW" SET "$key" after 2>/dev/null)" = OK ] &&
        [ "$(h_cli "$R1" -a "$PW" GET "$key" 2>/dev/null)" = after ]
}
deadline=$(( t_kill + 15000 ))
until repointed; do
    [ "$(date +%s%3N)" -ge "$deadline" ] && break
    sleep 0.02
done
t_ok=$(date +%s%3N)
h_track_cluster "$BASE/$CLUSTER"
h_check "watch: proxy repointed to the promoted replica, writes succeed ($((t_ok - t_kill)) ms after the kill)" repointed
h_check "watch: well before the interval (< 15 s after the kill)" [ $((t_ok - t_kill)) -lt 15000 ]
h_check "watch: quorum logged and repoint timed" \
    eval 'grep -q "failover cluster=$CLUSTER commit=" "$DLOG" && grep -q "repointed cluster=$CLUSTER .*took_ms=" "$DLOG"'
grep -h "repointed cluster=" "$DLOG" | sed 's/^/# /'
for _ in $(seq 100); do [ "$(h_webhook_count failover-observed)" -ge 1 ] && break; sleep 0.05; done
h_check "watch: failover-observed posted" [ "$(h_webhook_count failover-observed)" -ge 1 ]
# the repoint is the watcher's own: it came before any run after the first
h_check "watch: repointed without a full run (none between the first and the repoint)" \
    eval '[ "$(grep -E "run-done|repointed cluster=" "$DLOG" | sed -n 2p | grep -c "repointed cluster=")" -eq 1 ]'
# with --apply a run follows the repoint at once and heals the old master
h_check "watch --apply: a run follows the repoint" h_wait_log "$DLOG" "run-done" 2 60
h_track_cluster "$BASE/$CLUSTER"
h_check "the run healed the old master: a replica of the new one" \
    eval '[ "$(h_cli "$M1" -a "$PW" ROLE 2>/dev/null | head -n1)" = slave ] &&
          h_cli "$M1" -a "$PW" INFO replication 2>/dev/null | grep -q "master_port:$R1"'

runs=$(grep -c run-done "$DLOG")
kill -HUP "$DAEMON"
h_check "SIGHUP: options reloaded" h_wait_log "$DLOG" "reloaded" 1 10
h_check "SIGHUP: a run follows at once" h_wait_log "$DLOG" "run-done" $((runs + 1)) 60

h_check "the run started the stopped sentinel again: subscribed anew (backoff <= 10 s)" \
    h_wait_log "$DLOG" "info watch-subscribed cluster=$CLUSTER .*sentinel=127.0.0.1:$S3" 1 20

kill -TERM "$DAEMON"
wait "$DAEMON"
h_check "SIGTERM: the daemon exits 0" [ $? -eq 0 ]
h_check "SIGTERM: clean stop logged" grep -q "daemon-stop" "$DLOG"

# ---------------------------------------------------------------- secrets

cat "$H_DIR/all.log" "$DLOG" "$H_DIR/daemon.err" "$HOOKLOG" >"$H_DIR/everything"
h_check "the password appears in no log and no payload" [ "$(grep -c -- "$PW" "$H_DIR/everything")" -eq 0 ]

h_track_cluster "$BASE/$CLUSTER"
h_done
