#!/usr/bin/env bash
# test_ha_observe.sh - `rmgr validate --ha --observe` against a real cluster on
# loopback (2 shards of master + replica, 3 sentinels): today's masters come
# from Sentinel (after `rmgr failover` too, where the spec still names the old
# one), the full-sync estimate from the largest master's used_memory; without
# --observe the spec's masters and no estimate (no maxmemory).
# shellcheck disable=SC1091,SC2016,SC2034  # harness; eval strings (T, J read in them)
set -u
TESTS_DIR=${RMGR_TESTS_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
RMGR=${RMGR_BIN:-$(cd "$TESTS_DIR/.." && pwd)/rmgr}
PY=/usr/bin/python3
. "$TESTS_DIR/harness.sh"
h_init ha-observe

export XDG_RUNTIME_DIR=$H_DIR/run
mkdir -p "$XDG_RUNTIME_DIR"
CLUSTER=hatest
BASE=$H_DIR/base
SPEC=$H_DIR/spec.yaml
h_free_ports A1 A2 B1 B2 S1 S2 S3 || h_fatal "no free port"
cat >"$SPEC" <<YAML
cluster: $CLUSTER
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
    master: 127.0.0.1:$A1
    replicas: [127.0.0.1:$A2]
  - name: s2
    master: 127.0.0.1:$B1
    replicas: [127.0.0.1:$B2]
sentinel:
  quorum: 2
  down_after_ms: 2000
  failover_timeout_ms: 20000
  nodes: [127.0.0.1:$S1, 127.0.0.1:$S2, 127.0.0.1:$S3]
YAML

h_apply "$BASE/$CLUSTER" -f "$SPEC" --auto-approve
[ "$RC" -eq 0 ] || { echo "$OUT"; h_fatal "apply failed"; }

# s1 holds the most: ~5 MB of values (DEBUG is disabled in Redis 7)
head -c 200000 /dev/zero | tr '\0' x >"$H_DIR/value"
for i in $(seq 1 25); do h_cli "$A1" -x SET "k$i" <"$H_DIR/value" >/dev/null; done

# ha_json ARGS...: validate --ha ARGS... on the spec; JSON in $J, exit status in $RC
ha_json() { J=$("$RMGR" validate --ha --json "$@" "$SPEC" 2>"$H_DIR/err"); RC=$?; }
# jq_py EXPR: evaluate a Python expression over the cluster object c
jq_py() { "$PY" -c "import json,sys; c=json.load(sys.stdin)['clusters'][0]; print($1)" <<<"$J"; }

ha_json
h_check "without --observe: exit 3 (all on one host)" [ "$RC" -eq 3 ]
h_check "without --observe: the spec's masters" \
    eval '[ "$(jq_py "c[\"masters_from\"], c[\"masters\"][0][\"address\"]")" = "spec 127.0.0.1:$A1" ]'
h_check "without --observe: no full-sync estimate (no maxmemory)" \
    eval '[ "$(jq_py "c[\"full_sync\"]")" = None ]'

ha_json --observe
h_check "--observe: exit 3" [ "$RC" -eq 3 ]
h_check "--observe: masters as Sentinel reports them" \
    eval '[ "$(jq_py "c[\"masters_from\"], c[\"masters\"][0][\"address\"], c[\"masters\"][0][\"from\"]")" = "sentinel 127.0.0.1:$A1 sentinel" ]'
USED=$(h_cli "$A1" INFO memory | tr -d '\r' | sed -n 's/^used_memory://p')
h_check "--observe: the estimate is from s1's used_memory ($USED)" \
    eval '[ "$(jq_py "c[\"full_sync\"][\"source\"], c[\"full_sync\"][\"shard\"]")" = "used_memory s1" ] &&
          "$PY" -c "import sys; a, b = int(sys.argv[1]), int(sys.argv[2]); sys.exit(not (0.8 * b < a < 1.25 * b))" \
              "$(jq_py "c[\"full_sync\"][\"bytes\"]")" "$USED"'
T=$("$RMGR" validate --ha --observe "$SPEC" 2>/dev/null)
h_check "--observe text: the assumed throughput is stated" \
    eval '[[ $T == *"at an assumed 50 MB/s"* ]] && [[ $T == *"masters as Sentinel reports them"* ]]'

"$RMGR" failover -f "$SPEC" s1 --to "127.0.0.1:$A2" >"$H_DIR/failover.out" 2>&1 \
    || { cat "$H_DIR/failover.out"; h_fatal "rmgr failover failed"; }
ha_json --observe
h_check "after a failover, --observe: s1's master is the promoted one" \
    eval '[ "$(jq_py "c[\"masters\"][0][\"address\"], c[\"masters\"][0][\"from\"]")" = "127.0.0.1:$A2 sentinel" ]'
ha_json
h_check "after a failover, without --observe: still the spec's" \
    eval '[ "$(jq_py "c[\"masters\"][0][\"address\"]")" = "127.0.0.1:$A1" ]'

h_done
