#!/usr/bin/env bash
# test_sentinel_auth.sh - with `auth:` the sentinels demand the password (issue 14, finding 2).
#   1. A cluster applied with auth: (1 shard master + replica, 3 sentinels, 1 proxy):
#      SENTINEL FAILOVER without a password gets NOAUTH, sentinel.conf is 0600 and holds
#      requirepass + sentinel-pass, the second plan has no changes, status is clean, and
#      reconcile --watch --apply still repoints the proxy after a kill -9 of the master.
#   2. A cluster applied without auth:, then given auth: in the spec: the plan has the
#      sentinel-auth steps (every sentinel-pass before any requirepass), apply migrates it
#      with the sentinels seeing each other throughout, the next plan has no changes, and
#      the sentinels then refuse commands without the password.
#   Every output is collected: the password appears in none.
# shellcheck disable=SC1091,SC2016
set -u
TESTS_DIR=${RMGR_TESTS_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
RMGR=${RMGR_BIN:-$(cd "$TESTS_DIR/.." && pwd)/rmgr}
. "$TESTS_DIR/harness.sh"
h_init sentinel-auth
export XDG_RUNTIME_DIR=$H_DIR/run XDG_STATE_HOME=$H_DIR/state XDG_CACHE_HOME=$H_DIR/cache
mkdir -p "$XDG_RUNTIME_DIR"
export RMGR_REDIS_SAUTH_TEST="Sp-$RANDOM-$$-qW3e"
PW=$RMGR_REDIS_SAUTH_TEST
BASE=$H_DIR/base
OUTS=$H_DIR/outs
mkdir -p "$OUTS"

spec() { # spec CLUSTER AUTH(yes|no) M R S1 S2 S3 PX ST
    cat <<EOS
cluster: $1
defaults: { transport: local, base_dir: $BASE }
EOS
    [ "$2" = yes ] && printf 'auth:\n  password_env: RMGR_REDIS_SAUTH_TEST\n'
    cat <<EOS
redis:
  config: { save: "", appendonly: "no", repl-diskless-sync-delay: 0 }
shards:
  - name: s1
    master: 127.0.0.1:$3
    replicas: [127.0.0.1:$4]
sentinel:
  quorum: 2
  down_after_ms: 2000
  nodes: [127.0.0.1:$5, 127.0.0.1:$6, 127.0.0.1:$7]
proxies:
  - host: 127.0.0.1
    listen: 127.0.0.1:$8
    stats_port: $9
EOS
}
n=0
out() { # out NAME ARGS...: rmgr ARGS, stdout+stderr kept in OUT and as an output; sets RC
    n=$((n + 1))
    OUT=$("$RMGR" "${@:2}" 2>&1)
    RC=$?
    printf '%s\n' "$OUT" >"$OUTS/$n-$1"
}
# noauth_failover PORT: SENTINEL FAILOVER s1 without a password is refused with NOAUTH
noauth_failover() { [[ $(redis-cli -p "$1" SENTINEL FAILOVER s1 2>&1) == *NOAUTH* ]]; }
# ckquorum PORT: the sentinel (with the password) can reach the quorum for s1
ckquorum() { [[ $(redis-cli -p "$1" --no-auth-warning -a "$PW" SENTINEL CKQUORUM s1 2>&1) == OK* ]]; }

# ---------------------------------------------------------------- 1. new cluster

h_free_ports M R S1 S2 S3 PX ST || h_fatal "no free port"
SPEC=$H_DIR/a.yaml
spec sa yes "$M" "$R" "$S1" "$S2" "$S3" "$PX" "$ST" >"$SPEC"
h_apply "$BASE/sa" -f "$SPEC" --auto-approve
printf '%s\n' "$OUT" >"$OUTS/apply-a"
h_check "cluster with auth: deployed (exit $RC)" [ "$RC" -eq 0 ]
[ "$RC" -eq 0 ] || { echo "$OUT"; h_fatal "apply failed"; }
for p in "$S1" "$S2" "$S3"; do
    h_check "sentinel $p: SENTINEL FAILOVER without a password gets NOAUTH" noauth_failover "$p"
    f=$BASE/sa/sentinel-$p/sentinel.conf
    h_check "sentinel $p: sentinel.conf is 0600" [ "$(stat -c %a "$f")" = 600 ]
    h_check "sentinel $p: sentinel.conf has requirepass and sentinel-pass" \
        eval 'grep -q "^requirepass " "$f" && grep -q "^sentinel sentinel-pass " "$f"'
done
h_check "the sentinels see each other with quorum" \
    eval 'ckquorum "$S1" && ckquorum "$S2" && ckquorum "$S3"'
out plan-a plan -f "$SPEC"
h_check "plan after apply: no changes (exit $RC)" \
    eval '[ "$RC" -eq 0 ] && grep -q "No changes. The cluster matches the spec." <<<"$OUT"'
out plan-a-json plan -f "$SPEC" --json
out observe-a observe -f "$SPEC" --json
sentinel_auth_seen() { # the sentinels' records in observe --json: "requirepass sentinel_pass" each
    /usr/bin/python3 -c 'import json, sys
for s in json.load(sys.stdin)["sentinels"]: print(s.get("requirepass"), s.get("sentinel_pass"))'
}
seen=$(sentinel_auth_seen <<<"$OUT" | sort | uniq -c | tr -s ' ')
h_check "observe: the 3 sentinels demand the spec's password and send it ($seen)" \
    [ "$seen" = " 3 <secret> <secret>" ]
out status-a status -f "$SPEC"
h_check "status: exit 0, no sentinel problem" \
    eval '[ "$RC" -eq 0 ] && ! grep -qi "sentinel.*\(auth\|unreachable\)" <<<"$OUT"'
out exec-a exec -f "$SPEC" --sentinels PING
h_check "exec --sentinels AUTHs (3 PONG)" eval '[ "$(grep -c PONG <<<"$OUT")" -eq 3 ]'

# reconcile --watch --apply: the watcher AUTHs to the sentinels; a kill -9 is repointed
DLOG=$H_DIR/daemon.log
"$RMGR" reconcile -f "$SPEC" --watch --apply --interval 1h --log-level debug \
    --log-file "$DLOG" 2>"$H_DIR/daemon.err" &
DAEMON=$!
h_track "$DAEMON" rmgr
h_check "watch: subscribed to all 3 sentinels" h_wait_log "$DLOG" "watch-subscribed cluster=sa" 3 15
h_check "watch: first run done" h_wait_log "$DLOG" "run-done" 1 30
proxy_conf=$BASE/sa/proxy-$PX/nutcracker.yml
t_kill=$(date +%s%3N)
kill -KILL "$(tr -dc 0-9 <"$BASE/sa/redis-$M/redis.pid")"
repointed() { grep -q "127.0.0.1:$R:1 s1" "$proxy_conf" &&
              [ "$(h_cli "$PX" -a "$PW" SET k after 2>/dev/null)" = OK ]; }
until repointed || [ "$(date +%s%3N)" -ge $((t_kill + 20000)) ]; do sleep 0.05; done
h_check "watch: the proxy is repointed after a kill -9 ($(($(date +%s%3N) - t_kill)) ms)" repointed
h_check "watch --apply: a run follows the repoint" h_wait_log "$DLOG" "run-done" 2 60
h_track_cluster "$BASE/sa"
kill -TERM "$DAEMON"
wait "$DAEMON"
h_check "watch: SIGTERM, exit 0" [ $? -eq 0 ]
cp "$DLOG" "$OUTS/daemon.log"; cp "$H_DIR/daemon.err" "$OUTS/daemon.err"

# ---------------------------------------------------------------- 2. migration

h_free_ports BM BR B1 B2 B3 BPX BST || h_fatal "no free port"
SPEC=$H_DIR/b.yaml
spec sb yes "$BM" "$BR" "$B1" "$B2" "$B3" "$BPX" "$BST" >"$SPEC"
h_apply "$BASE/sb" -f "$SPEC" --auto-approve
h_check "cluster B with auth: deployed (exit $RC)" [ "$RC" -eq 0 ]
[ "$RC" -eq 0 ] || { echo "$OUT"; h_fatal "apply failed"; }
# the sentinels as a release without sentinel auth left them: no requirepass, no
# sentinel-pass, at runtime and in the file (redis and the proxy keep their password)
# (Sentinel keeps writing the requirepass it was started with: restart it from the file)
for p in "$B1" "$B2" "$B3"; do
    f=$BASE/sb/sentinel-$p/sentinel.conf
    pid=$(tr -dc 0-9 <"$BASE/sb/sentinel-$p/sentinel.pid")
    kill -TERM "$pid"
    for _ in $(seq 100); do h_alive "$pid" || break; sleep 0.05; done
    sed -i '/^requirepass /d; /^sentinel sentinel-pass /d; /^user default /d' "$f"
    (umask 077 && redis-sentinel "$f" >/dev/null 2>&1)
    for _ in $(seq 100); do redis-cli -p "$p" PING >/dev/null 2>&1 && break; sleep 0.05; done
    h_track_pidfile "$BASE/sb/sentinel-$p/sentinel.pid" redis-sentinel >/dev/null 2>&1
done
for _ in $(seq 100); do
    ok=1; for p in "$B1" "$B2" "$B3"; do [[ $(redis-cli -p "$p" SENTINEL CKQUORUM s1 2>&1) == OK* ]] || ok=0; done
    [ "$ok" = 1 ] && break; sleep 0.1
done
h_check "cluster B as an older rmgr built it: sentinels answer anyone, no password in sentinel.conf" \
    eval '[ "$(redis-cli -p "$B1" SENTINEL CKQUORUM s1 2>&1 | cut -c1-2)" = OK ] &&
          ! grep -q "^requirepass\|sentinel-pass\|^user default on #" "$BASE"/sb/sentinel-*/sentinel.conf'
out plan-b plan -f "$SPEC"
steps=$(grep -o "sentinel-auth 127.0.0.1:[0-9]*" <<<"$OUT" | wc -l)
h_check "plan: a sentinel-auth step per sentinel and setting (6, got $steps)" [ "$steps" -eq 6 ]
order=$(grep -A1 "sentinel-auth" <<<"$OUT" | grep -e "->" | grep -o "sentinel-pass\|requirepass" | tr '\n' ' ')
h_check "plan: every sentinel-pass before any requirepass ($order)" \
    [ "$order" = "sentinel-pass sentinel-pass sentinel-pass requirepass requirepass requirepass " ]
out plan-b-json plan -f "$SPEC" --json
out plan-b-md plan -f "$SPEC" --markdown
# the sentinels are watched during the migration: each sees two others with quorum. The
# step's CLIENT KILL TYPE normal also cuts this watcher's connection: a reply cut off
# (nothing at all) is asked again, a NOQUORUM is what counts
ckq() { redis-cli -p "$1" --no-auth-warning -a "$PW" SENTINEL CKQUORUM s1 2>/dev/null | cut -c1-8; }
: >"$H_DIR/quorum.log"
( while :; do
      for p in "$B1" "$B2" "$B3"; do
          r=$(ckq "$p"); [ -n "$r" ] || r=$(ckq "$p")
          printf '%s %s\n' "$p" "${r:-no-reply}"
      done >>"$H_DIR/quorum.log"
      sleep 0.2
  done ) &
WATCHER=$!
h_track "$WATCHER" bash
h_apply "$BASE/sb" -f "$SPEC" --auto-approve
printf '%s\n' "$OUT" >"$OUTS/apply-b"
kill "$WATCHER" 2>/dev/null; wait "$WATCHER" 2>/dev/null
h_check "apply migrates the cluster (exit $RC)" [ "$RC" -eq 0 ]
[ "$RC" -eq 0 ] || echo "$OUT"
grep "sentinel-auth" <<<"$OUT" | sed 's/^/# /'
grep -v " OK" "$H_DIR/quorum.log" | sort | uniq -c | sed 's/^/# not OK: /'
h_check "quorum held throughout ($(wc -l <"$H_DIR/quorum.log") samples, none lost)" \
    eval '[ -s "$H_DIR/quorum.log" ] && ! grep -v " OK" "$H_DIR/quorum.log" | grep -q .'
for p in "$B1" "$B2" "$B3"; do
    h_check "migrated sentinel $p: SENTINEL FAILOVER without a password gets NOAUTH" noauth_failover "$p"
done
h_check "migrated: the sentinels see each other with quorum" \
    eval 'ckquorum "$B1" && ckquorum "$B2" && ckquorum "$B3"'
out plan-b2 plan -f "$SPEC"
h_check "second plan: no changes (exit $RC)" \
    eval '[ "$RC" -eq 0 ] && grep -q "No changes. The cluster matches the spec." <<<"$OUT"'
[ "$RC" -eq 0 ] || echo "$OUT"
# a sentinel restarted from the file Sentinel rewrote keeps the password
pid=$(tr -dc 0-9 <"$BASE/sb/sentinel-$B2/sentinel.pid")
kill -TERM "$pid"
for _ in $(seq 100); do h_alive "$pid" || break; sleep 0.05; done
out plan-b3 plan -f "$SPEC"
h_apply "$BASE/sb" -f "$SPEC" --auto-approve
printf '%s\n' "$OUT" >"$OUTS/apply-b3"
h_check "restarted sentinel (exit $RC): still demands the password" noauth_failover "$B2"
h_check "restarted sentinel: the file holds the password only as a hash (user default #...)" \
    eval 'grep -q "^user default on .*#[0-9a-f]\{64\}" "$BASE/sb/sentinel-$B2/sentinel.conf"'
out status-b status -f "$SPEC"
h_check "status after the migration: exit 0" [ "$RC" -eq 0 ]

# ---------------------------------------------------------------- secrets

cat "$OUTS"/* >"$H_DIR/everything"
h_check "outputs were collected ($(wc -l <"$H_DIR/everything") lines)" [ "$(wc -l <"$H_DIR/everything")" -gt 50 ]
h_check "the password appears in no output" [ "$(grep -c -- "$PW" "$H_DIR/everything")" -eq 0 ]

h_track_cluster "$BASE/sa"
h_track_cluster "$BASE/sb"
h_done
