#!/usr/bin/env bash
# test_import.sh - rmgr import on a deployment rmgr did not build (started here
# by hand: two shards of master + replica, three sentinels, one nutcracker, a
# password), then the import -> plan round trip: the spec validates, names
# Sentinel's masters, replicas, sentinels and the proxy, and `rmgr plan` with it
# shows only layout steps, never a role change (no REPLICAOF, no failover).
# shellcheck disable=SC1091,SC2016
set -u
TESTS_DIR=${RMGR_TESTS_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
RMGR=${RMGR_BIN:-$(cd "$TESTS_DIR/.." && pwd)/rmgr}
. "$TESTS_DIR/harness.sh"
h_init import
export RMGR_REDIS_IMPORT_PW="pw-$RANDOM-secret-$$"
PW=$RMGR_REDIS_IMPORT_PW
AUTH="requirepass \"$PW\"
masterauth \"$PW\""

h_start_redis 0 "$AUTH" || h_fatal "master a"; MA=$H_PORT
h_start_redis 0 "$AUTH
replicaof 127.0.0.1 $MA" || h_fatal "replica a"; RA=$H_PORT
h_start_redis 0 "$AUTH" || h_fatal "master b"; MB=$H_PORT
h_start_redis 0 "$AUTH
replicaof 127.0.0.1 $MB" || h_fatal "replica b"; RB=$H_PORT
SENT=()
for i in 1 2 3; do
    h_start_sentinel 0 "sentinel monitor sa 127.0.0.1 $MA 2
sentinel auth-pass sa $PW
sentinel down-after-milliseconds sa 3000
sentinel failover-timeout sa 20000
sentinel monitor sb 127.0.0.1 $MB 2
sentinel auth-pass sb $PW
sentinel down-after-milliseconds sb 3000
sentinel failover-timeout sb 20000" || h_fatal "sentinel $i"
    SENT+=("$H_PORT")
done
h_start_nutcracker 0 0 "  hash: murmur
  distribution: ketama
  timeout: 400
  auto_eject_hosts: false
  redis: true
  redis_auth: $PW
  servers:
   - 127.0.0.1:$MA:1 sa
   - 127.0.0.1:$MB:1 sb" || h_fatal "nutcracker"
PX=$H_PORT NCDIR=$H_DIR_LAST
# the sentinels must have found the replicas and each other
deadline=$(( $(date +%s%3N) + 15000 ))
until [ "$(h_cli "${SENT[0]}" SENTINEL SENTINELS sa 2>/dev/null | grep -c '^ip$')" -ge 2 ] &&
      [ "$(h_cli "${SENT[0]}" SENTINEL REPLICAS sb 2>/dev/null | grep -c '^ip$')" -ge 1 ] &&
      [ "$(h_cli "${SENT[0]}" SENTINEL REPLICAS sa 2>/dev/null | grep -c '^ip$')" -ge 1 ]; do
    [ "$(date +%s%3N)" -ge "$deadline" ] && h_fatal "the sentinels did not discover each other"
    sleep 0.2
done

SPEC=$H_DIR/spec.yaml
"$RMGR" import --sentinel "127.0.0.1:${SENT[0]}" --proxy-config "$NCDIR/nutcracker.yml" \
    --cluster adopt --password-env RMGR_REDIS_IMPORT_PW >"$SPEC" 2>"$H_DIR/err"
RC=$?
h_check "import: exit 0" [ "$RC" -eq 0 ]
[ "$RC" -eq 0 ] || cat "$H_DIR/err"
h_check "import: the spec validates" "$RMGR" validate "$SPEC"
h_check "import: shards with Sentinel's masters and their replicas" \
    eval 'grep -A2 "name: sa" "$SPEC" | grep -q "master: 127.0.0.1:$MA" && grep -A2 "name: sa" "$SPEC" | grep -q "replicas: \[127.0.0.1:$RA\]" && grep -A2 "name: sb" "$SPEC" | grep -q "replicas: \[127.0.0.1:$RB\]"'
h_check "import: the three sentinels and their settings" \
    eval 'for s in "${SENT[@]}"; do grep -q "nodes: .*127.0.0.1:$s" "$SPEC" || exit 1; done; grep -q "quorum: 2" "$SPEC" && grep -q "down_after_ms: 3000" "$SPEC" && grep -q "failover_timeout_ms: 20000" "$SPEC"'
h_check "import: the proxy from its config (listen, hash, distribution, timeout)" \
    eval 'grep -q "listen: 127.0.0.1:$PX" "$SPEC" && grep -q "hash: murmur" "$SPEC" && grep -q "distribution: ketama" "$SPEC" && grep -q "timeout_ms: 400" "$SPEC"'
h_check "import: the password is named, never copied" \
    eval 'grep -q "password_env: RMGR_REDIS_IMPORT_PW" "$SPEC" && ! grep -qF "$PW" "$SPEC" && ! grep -qF "$PW" "$H_DIR/err"'
# base_dir: where rmgr's layout would go (nothing of it exists: the deployment is hand-made)
sed -i "s|^  transport: local|  transport: local\n  base_dir: $H_DIR/base|" "$SPEC"
# nutcracker's stats port is on its command line, not in its config: import says to check it
h_check "import: the stats port is flagged for checking" grep -q "stats_port: 22222   # nutcracker's -s" "$SPEC"
sed -i "s|stats_port: 22222|stats_port: $H_STATS_PORT|" "$SPEC"
"$RMGR" plan -f "$SPEC" >"$H_DIR/plan.out" 2>&1
RC=$?
echo "--- the plan of the imported spec:"; sed 's/^/    /' "$H_DIR/plan.out"
h_check "import -> plan: it plans (exit 0), no shard refused" \
    eval '[ "$RC" -eq 0 ] && ! grep -qi "refuse" "$H_DIR/plan.out"'
# layout steps: rmgr's files, and the proxy restarted onto the nutcracker.yml rmgr writes;
# the hand-made sentinels have no password: auth: gives them one (sentinel-auth)
h_check "import -> plan: only layout steps, each explained" \
    eval '[ "$(grep -cE "^  [+~-] " "$H_DIR/plan.out")" -ge 8 ] && [ "$(grep -cE "^  [+~-] " "$H_DIR/plan.out")" -eq "$(grep -cE "^  (\+ install-files .*instance directory missing|~ proxy-restart .*running without its nutcracker.yml|~ sentinel-auth .*has no (sentinel-pass|requirepass))" "$H_DIR/plan.out")" ]'
h_check "import -> plan: never a role change (no replicaof, failover, promote, demote)" \
    eval '! grep -qiE "replicaof|slaveof|failover|promot|demot" "$H_DIR/plan.out"'
h_check "import -> plan: the masters are still Sentinel's" \
    eval '[ "$(h_cli "${SENT[0]}" SENTINEL GET-MASTER-ADDR-BY-NAME sa | tail -n1)" = "$MA" ]'
"$RMGR" import --sentinel 127.0.0.1:1 >/dev/null 2>"$H_DIR/err"; RC=$?
h_check "import from a sentinel that does not answer: exit 1" eval '[ "$RC" -eq 1 ] && grep -q "127.0.0.1:1" "$H_DIR/err"'
"$RMGR" import >/dev/null 2>&1; RC=$?
h_check "import without --sentinel: usage error" [ "$RC" -eq 2 ]
h_done
