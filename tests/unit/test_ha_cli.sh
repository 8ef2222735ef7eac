#!/usr/bin/env bash
# shellcheck disable=SC2015  # `check && ok || bad`: ok always succeeds
# test_ha_cli.sh - `rmgr validate --ha` on the command line: exit 0 with no
# risk, 3 with risks, 1 on a spec error, 2 on usage errors; --json on stdout;
# --observe against a cluster that is not running falls back to the spec's
# masters (nothing answers on the loopback ports bound and closed here).
set -u
cd "$(dirname "$0")/../.." || exit 1
RMGR_BIN=${RMGR_BIN:-$PWD/build/rmgr}
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fx=tests/fixtures/ha

run() { out=$(timeout 30 "$RMGR_BIN" validate "$@" 2>"$work/err"); rc=$?; err=$(cat "$work/err"); }

run --ha "$fx/clean/spec.yaml"
[ "$rc" = 0 ] && [[ $out == *"no HA risk found"* ]] && ok "no risk: exit 0" || bad "no risk: exit $rc: $out"

run --ha "$fx/shard-one-host/spec.yaml"
[ "$rc" = 3 ] && [[ $out == *"risk: shard-one-host: shard s1"* ]] && ok "risks: exit 3" || bad "risks: exit $rc: $out"

run --ha "$fx/clean/spec.yaml" "$fx/proxies-one-host/spec.yaml"
[ "$rc" = 3 ] && [[ $out == *"cluster 'clean': no HA risk"* ]] && [[ $out == *"every proxy runs on host p"* ]] \
    && ok "several specs: each reported, exit 3" || bad "several specs: exit $rc: $out"

run --ha --json "$fx/sentinel-host-loss/spec.yaml"
if [ "$rc" = 3 ] && python3 -c '
import json, sys
d = json.load(sys.stdin)
r = d["clusters"][0]["risks"]
assert d["risks"] == 1 and r[0]["kind"] == "sentinel-host-loss" and r[0]["hosts"] == ["a"], d
assert d["clusters"][0]["masters_from"] == "spec"
' <<<"$out"; then ok "--json: the risks as JSON"; else bad "--json: exit $rc: $out"; fi

printf 'cluster: bad\nshards: []\n' > "$work/bad.yaml"
run --ha "$work/bad.yaml"
[ "$rc" = 1 ] && [ -z "$out" ] && [[ $err == *"bad.yaml:"* ]] && ok "spec error: exit 1, no HA output" \
    || bad "spec error: exit $rc: $out / $err"

run --observe "$fx/clean/spec.yaml"
[ "$rc" = 2 ] && [[ $err == *"--observe needs --ha"* ]] && ok "--observe without --ha: usage error" \
    || bad "--observe without --ha: exit $rc: $err"
run --json "$fx/clean/spec.yaml"
[ "$rc" = 2 ] && [[ $err == *"--json needs --ha"* ]] && ok "--json without --ha: usage error" \
    || bad "--json without --ha: exit $rc: $err"

# --observe with nothing running: ports bound and closed again, so they refuse
ports=$(python3 -c '
import socket
ss = [socket.socket() for _ in range(5)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))
for s in ss: s.close()')
# shellcheck disable=SC2086  # five words
set -- $ports
cat > "$work/down.yaml" <<YAML
cluster: down
defaults: { transport: local, base_dir: $work/base }
shards:
  - name: s1
    master: 127.0.0.1:$1
    replicas: [127.0.0.1:$2]
sentinel:
  quorum: 2
  nodes: [127.0.0.1:$3, 127.0.0.1:$4, 127.0.0.1:$5]
YAML
run --ha --observe --json "$work/down.yaml"
if [ "$rc" = 3 ] && python3 -c '
import json, sys
d = json.load(sys.stdin)
c = d["clusters"][0]
assert c["masters_from"] == "spec", c
assert c["full_sync"] is None, c
kinds = [r["kind"] for r in c["risks"]]
assert kinds == ["sentinel-host-loss", "shard-one-host"], kinds
' <<<"$out"; then ok "--observe, nothing running: the spec's masters"; else bad "--observe down: exit $rc: $out $err"; fi
[ ! -e "$work/base" ] && ok "--observe writes nothing" || bad "--observe created $work/base"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
