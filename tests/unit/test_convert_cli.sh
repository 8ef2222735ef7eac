#!/usr/bin/env bash
# shellcheck disable=SC2015  # `check && ok || bad`: ok always succeeds
# test_convert_cli.sh - `rmgr convert redis-mgr` on the command line: the
# walk-through's config converts to its golden spec, which `rmgr validate`
# accepts, its alerts: (REDIS_MONITOR_EXTRA) included; usage errors exit 2,
# a config that cannot be converted exits 1 with file:line:col and no stdout.
set -u
cd "$(dirname "$0")/../.." || exit 1
repo=$PWD
RMGR_BIN=${RMGR_BIN:-$repo/build/rmgr}
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fx=$repo/tests/fixtures/convert

# conv DIR ARGS...: convert from inside DIR (so the file is named conf.py)
conv() { local d=$1; shift; out=$(cd "$d" && timeout 20 "$RMGR_BIN" convert "$@" 2>"$work/err"); rc=$?; err=$(cat "$work/err"); }

hosts=(--host redis1=10.77.0.11 --host redis2=10.77.0.12 --host redis3=10.77.0.13
       --host redis4=10.77.0.14 --host mgr=10.77.0.1)
conv "$fx/walkthrough" redis-mgr conf.py "${hosts[@]}"
[ "$rc" = 0 ] && [ "$out" = "$(cat "$fx/walkthrough/expected.yaml")" ] && [ -z "$err" ] \
    && ok "walk-through: the golden spec" || bad "walk-through: exit $rc: $err"
printf '%s\n' "$out" >"$work/walkthrough.yaml"

# validate it, alerts: and all: no error, and no warning about alerts (the layout's quorum
# warning is one of the risks it is converted with)
"$RMGR_BIN" validate "$work/walkthrough.yaml" >"$work/v.out" 2>"$work/v.err"; vrc=$?
[ "$vrc" = 0 ] && ! grep -q ': error: \|alerts' "$work/v.err" && grep -q "^alerts:" "$work/walkthrough.yaml" \
    && grep -q "cluster 'cluster': 2 shards, 4 redis, 4 sentinels, 1 proxy" "$work/v.out" \
    && ok "walk-through: the spec validates, alerts: included" || bad "walk-through: validate exit $vrc: $(cat "$work/v.err")"
"$RMGR_BIN" validate --ha "$work/walkthrough.yaml" >"$work/ha.out" 2>/dev/null
grep -q "risk: proxies-one-host: the only proxy runs on host mgr" "$work/ha.out" \
    && ok "walk-through: validate --ha names its risks" || bad "walk-through --ha: $(cat "$work/ha.out")"

conv "$fx/redis-mgr-named" redis-mgr conf.py
[ "$rc" = 1 ] && [ -z "$out" ] && [[ $err == *"choose one with --cluster NAME"* ]] \
    && ok "several clusters without --cluster: exit 1, no spec" || bad "several: exit $rc: $err"
conv "$fx/redis-mgr-named" redis-mgr conf.py --cluster cluster0
[ "$rc" = 0 ] && [ "$out" = "$(cat "$fx/redis-mgr-named/expected.yaml")" ] \
    && [[ $err == "conf.py:6:1: warning: skipped: not a literal assignment"* ]] \
    && ok "--cluster: the golden spec, the skipped import warned of" || bad "--cluster: exit $rc: $err"

conv "$fx/invalid-call" redis-mgr conf.py
[ "$rc" = 1 ] && [ -z "$out" ] && [ "$err" = "$(cat "$fx/invalid-call/expected.err")" ] \
    && [ ! -e /tmp/rmgr-convert-must-not-exist ] \
    && ok "a call in the file: refused at its position, not run" || bad "call: exit $rc: $err"

# a name this machine resolves (localhost), on loopback: transport local
cat >"$work/conf.py" <<'PY'
c = {'cluster_name': 'local', 'user': 'me',
     'sentinel': [('localhost:29001', '/tmp/r/s1'), ('localhost:29002', '/tmp/r/s2'), ('localhost:29003', '/tmp/r/s3')],
     'redis': [('localhost:2000', '/tmp/r/r1'), ('localhost:3000', '/tmp/r/r2')]}
PY
conv "$work" redis-mgr conf.py
[ "$rc" = 0 ] && [[ $out == *"  localhost: { address: 127.0.0.1 }"* ]] && [[ $out == *"transport: local"* ]] \
    && [[ $out == *"  - name: local-2000"* ]] && ok "a resolvable name: a hosts: entry, loopback is local" \
    || bad "localhost: exit $rc: $out $err"

conv "$work" redis-mgr
[ "$rc" = 2 ] && [[ $err == *"convert needs a FORMAT and a FILE"* ]] && ok "no FILE: usage error" || bad "no file: $rc $err"
conv "$work" ansible conf.py
[ "$rc" = 2 ] && [[ $err == *"unknown format 'ansible'"* ]] && ok "unknown format: usage error" || bad "format: $rc $err"
conv "$work" redis-mgr conf.py --host redis1=nowhere
[ "$rc" = 2 ] && [[ $err == *"--host' needs NAME=IP"* ]] && ok "--host without an IP: usage error" || bad "--host: $rc $err"
conv "$work" redis-mgr missing.py
[ "$rc" = 1 ] && [[ $err == *"cannot read 'missing.py'"* ]] && ok "a missing file: exit 1" || bad "missing: $rc $err"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
