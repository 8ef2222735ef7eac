#!/usr/bin/env bash
# test_secrets_nowhere.sh - the password never leaves the config files. A real cluster
# with `auth:` (1 shard master + replica, 1 sentinel, 1 proxy) goes through apply, a drift
# on requirepass and maxmemory (a node set to another password by hand), plan in every
# format and saved, apply of the saved plan, observe, status, validate, reconcile with logs
# in both formats and webhook payloads in every format (tests/harness.sh h_start_webhook).
# Every output is collected; neither password may appear in any of them, nor base64- or
# URL-encoded. The checks that the outputs are there and the password is in force keep the
# test from passing on empty files.
# shellcheck disable=SC1091,SC2016
set -u
TESTS_DIR=${RMGR_TESTS_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
RMGR=${RMGR_BIN:-$(cd "$TESTS_DIR/.." && pwd)/rmgr}
. "$TESTS_DIR/harness.sh"
h_init secrets
export XDG_RUNTIME_DIR=$H_DIR/run XDG_STATE_HOME=$H_DIR/state XDG_CACHE_HOME=$H_DIR/cache
mkdir -p "$XDG_RUNTIME_DIR"
fatal() { echo "FAIL $*"; H_FAILED=$((H_FAILED + 1)); h_done; exit 1; }

export RMGR_REDIS_SECRET_TEST="Pw-$RANDOM-$$-xK9q"
PW=$RMGR_REDIS_SECRET_TEST
OTHER="Other-$RANDOM-$$-zZ7w" # set by hand on one node: drift whose value is secret too
OUTS=$H_DIR/outs
mkdir -p "$OUTS"
BASE=$H_DIR/base
for v in M R S PX ST; do printf -v "$v" '%s' "$(h_free_port)" || fatal "no free port"; done
spec() { # spec MAXMEMORY
    cat <<EOS
cluster: secrets
defaults: { transport: local, base_dir: $BASE }
auth:
  password_env: RMGR_REDIS_SECRET_TEST
redis:
  config: { maxmemory: $1, save: "", appendonly: "no", repl-diskless-sync-delay: 0 }
shards:
  - name: s1
    master: 127.0.0.1:$M
    replicas: [127.0.0.1:$R]
sentinel:
  quorum: 1
  down_after_ms: 2000
  nodes: [127.0.0.1:$S]
proxies:
  - host: 127.0.0.1
    listen: 127.0.0.1:$PX
    stats_port: $ST
EOS
}
SPEC=$H_DIR/spec.yaml
spec 64mb >"$SPEC"

track_all() { # every daemon rmgr started, by its pidfile
    local f kind
    for f in "$BASE"/secrets/*/*.pid; do
        [ -e "$f" ] || continue
        case $f in */redis-*) kind=redis-server ;; */sentinel-*) kind=redis-sentinel ;; *) kind=nutcracker ;; esac
        h_track_pidfile "$f" "$kind" >/dev/null 2>&1
    done
}
n=0
out() { # out NAME ARGS...: run rmgr ARGS, keep stdout and stderr as outputs; sets RC
    n=$((n + 1))
    "$RMGR" "${@:2}" >"$OUTS/$n-$1.stdout" 2>"$OUTS/$n-$1.stderr"
    RC=$?
}

out apply apply -f "$SPEC" --auto-approve
track_all
h_check "cluster deployed (exit $RC)" [ "$RC" -eq 0 ]
[ "$RC" -eq 0 ] || { cat "$OUTS/$n-apply.stdout" "$OUTS/$n-apply.stderr"; fatal "apply failed"; }
h_check "the password is in force: no AUTH, no answer" \
    eval '[[ $(h_cli "$M" PING 2>&1) == *NOAUTH* ]] && [ "$(h_cli "$M" -a "$PW" PING 2>/dev/null)" = PONG ]'

for f in "" --json --markdown; do out "plan$f" plan -f "$SPEC" $f; done
out observe observe -f "$SPEC" --json
for f in "" --json; do out "status$f" status -f "$SPEC" $f; done
out validate validate "$SPEC"

# another requirepass on the replica: refused (rmgr does not rotate passwords), said in
# every format
h_cli "$R" -a "$PW" CONFIG SET requirepass "$OTHER" >/dev/null 2>&1
for f in "" --json --markdown; do out "refused-plan$f" plan -f "$SPEC" $f; done
h_check "a password changed by hand is refused" \
    eval 'cat "$OUTS/$((n - 2))"-refused-plan.std* | grep -q "does not match"'
out refused-apply apply -f "$SPEC" --auto-approve
h_cli "$R" -a "$OTHER" CONFIG SET requirepass "$PW" >/dev/null 2>&1

# drift: another masterauth on the replica, another maxmemory in the spec
h_cli "$R" -a "$PW" CONFIG SET masterauth "$OTHER" >/dev/null 2>&1
spec 48mb >"$SPEC"
for f in "" --json --markdown; do out "drift-plan$f" plan -f "$SPEC" $f; done
out drift-plan-saved plan -f "$SPEC" --out "$OUTS/saved-plan.json"
h_check "the drift plan has steps for both" \
    eval 'grep -q maxmemory "$OUTS/$((n - 3))-drift-plan.stdout" && grep -q masterauth "$OUTS/$((n - 3))-drift-plan.stdout"'
h_check "the saved plan was written" [ -s "$OUTS/saved-plan.json" ]
out apply-saved apply "$OUTS/saved-plan.json" --auto-approve
h_check "apply of the saved plan (exit $RC)" [ "$RC" -eq 0 ]
h_check "the replica has the spec's masterauth again" \
    eval '[ "$(h_cli "$R" -a "$PW" CONFIG GET masterauth 2>/dev/null | tail -n 1)" = "$PW" ]'

# reconcile: logs in both formats, webhook payloads in every format
h_start_webhook "$H_DIR/hook.log" || fatal "webhook receiver did not start"
HOOK=$H_URL
spec 40mb >"$SPEC"
h_cli "$M" -a "$PW" CONFIG SET masterauth "$OTHER" >/dev/null 2>&1
for fmt in generic slack mattermost discord; do
    for lf in text json; do
        out "reconcile-$fmt-$lf" reconcile -f "$SPEC" --once --webhook "$HOOK" --webhook-format "$fmt" \
            --webhook-retries 0 --log-format "$lf" --log-level debug --state-dir "$H_DIR/state-$fmt-$lf"
    done
done
out reconcile-apply reconcile -f "$SPEC" --once --apply --webhook "$HOOK" --webhook-format generic \
    --log-format json --log-level debug --log-file "$OUTS/reconcile.logfile" --state-dir "$H_DIR/state-apply"
h_check "reconcile --apply converged (exit $RC)" [ "$RC" -eq 0 ]
h_check "webhook payloads were posted ($(wc -l <"$H_DIR/hook.log"))" [ "$(wc -l <"$H_DIR/hook.log")" -ge 8 ]
h_check "the JSON log file was written" grep -q '"event"' "$OUTS/reconcile.logfile"
cp "$H_DIR/hook.log" "$OUTS/webhook-payloads"
cp -r "$H_DIR"/state-* "$OUTS/" 2>/dev/null

# the collected outputs, and the password in every encoding a writer might use
files=$(find "$OUTS" -type f | wc -l)
h_check "outputs collected ($files files, $(cat "$OUTS"/* 2>/dev/null | wc -c) bytes)" [ "$files" -ge 30 ]
for secret in "$PW" "$OTHER"; do
    for enc in "$secret" "$(printf %s "$secret" | base64)" "$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$secret")"; do
        hits=$(grep -rlF -- "$enc" "$OUTS")
        h_check "'${enc:0:6}…' found nowhere in the outputs" [ -z "$hits" ]
        [ -z "$hits" ] || echo "    in: $hits"
    done
done
h_check "the password is in the config files (where it must be)" grep -rqF -- "$PW" "$BASE"
h_done
