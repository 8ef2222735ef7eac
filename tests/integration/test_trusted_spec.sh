#!/usr/bin/env bash
# test_trusted_spec.sh - policy mode on a real git repository (issue 14,
# finding 1): a pull request that points a master at another port is refused
# by `plan --trusted-spec origin/main` (exit 1, the field and both values
# named with file:line) and the listener on that port gets no connection at
# all, nor does any address of the trusted spec; without --trusted-spec the
# same plan does connect there and sends the password (what the policy is
# for). Also: the same through --repo (the cache's origin/main), an
# unrelated change passes and is observed, a changed password_env, a new
# cluster, --allow-hosts, status and validate, a trusted spec given as a
# path, and a directory named "origin/main" in the pull request's checkout
# that must not stand in for the ref.
# shellcheck disable=SC1091
set -u
TESTS_DIR=${RMGR_TESTS_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
RMGR=${RMGR_BIN:-$(cd "$TESTS_DIR/.." && pwd)/build/rmgr}
. "$TESTS_DIR/harness.sh"
h_init trusted
export XDG_RUNTIME_DIR=$H_DIR/run XDG_STATE_HOME=$H_DIR/state XDG_CACHE_HOME=$H_DIR/cache
export HOME=$H_DIR/home GIT_CONFIG_NOSYSTEM=1
mkdir -p "$XDG_RUNTIME_DIR" "$HOME"
export RMGR_REDIS_PASSWORD=policy-s3cret-$$

h_free_ports TRUST EVIL SENT || h_fatal "no free port"

# a listener that logs "PORT BYTES" for every connection it accepts
cat >"$H_DIR/recorder.py" <<'PY'
import select, socket, sys
log = sys.argv[1]
socks = []
for p in sys.argv[2:]:
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(p))); s.listen(16); socks.append(s)
print("ready", flush=True)
while True:
    r, _, _ = select.select(socks, [], [])
    for s in r:
        c, _ = s.accept()
        c.settimeout(0.3)
        try:
            data = c.recv(4096)
        except OSError:
            data = b""
        with open(log, "a") as f:
            f.write("%d %r\n" % (s.getsockname()[1], data))
        c.close()
PY
: >"$H_DIR/connects.log"
/usr/bin/python3 "$H_DIR/recorder.py" "$H_DIR/connects.log" "$TRUST" "$EVIL" "$SENT" \
    >"$H_DIR/recorder.out" 2>&1 &
rpid=$!
for _ in $(seq 100); do grep -q ready "$H_DIR/recorder.out" 2>/dev/null && break; sleep 0.05; done
h_track "$rpid" recorder.py || h_fatal "recorder did not start: $(cat "$H_DIR/recorder.out")"
connects() { grep -c "^$1 " "$H_DIR/connects.log"; }
total_connects() { wc -l <"$H_DIR/connects.log"; }

# the upstream repository: main holds the trusted spec
UP=$H_DIR/upstream CI=$H_DIR/ci
git init -q -b main "$UP"
git -C "$UP" config user.email t@example.com; git -C "$UP" config user.name t
mkdir -p "$UP/specs"
cat >"$UP/specs/prod.yaml" <<EOS
cluster: prod
defaults: { transport: local, base_dir: $H_DIR/base }
auth:
  password_env: RMGR_REDIS_PASSWORD
redis:
  config:
    maxmemory: 64mb
shards:
  - name: s1
    master: 127.0.0.1:$TRUST
sentinel:
  quorum: 1
  nodes: [127.0.0.1:$SENT]
EOS
git -C "$UP" add specs && git -C "$UP" commit -qm "prod"

# the CI's checkout of a pull request (origin/main is the base)
git clone -q "$UP" "$CI"
git -C "$CI" config user.email t@example.com; git -C "$CI" config user.name t
branch() { # NAME SED-EXPR: a pull-request branch off main changing specs/prod.yaml
    git -C "$CI" checkout -q -B "$1" origin/main
    sed -i "$2" "$CI/specs/prod.yaml"
    git -C "$CI" commit -qam "$1"
    git -C "$CI" push -q origin "$1" 2>/dev/null
}
branch pr-evil "s/master: 127.0.0.1:$TRUST/master: 127.0.0.1:$EVIL/"
LINE=$(grep -n "master: 127.0.0.1:$EVIL" "$CI/specs/prod.yaml" | cut -d: -f1)
TLINE=$(grep -n "master: 127.0.0.1:$TRUST" "$UP/specs/prod.yaml" | cut -d: -f1)

run() { # OUT, ERR, RC of rmgr ARGS... run in the pull request's checkout
    (cd "$CI" && "$RMGR" "$@" >"$H_DIR/out" 2>"$H_DIR/err"); RC=$?
    OUT=$(cat "$H_DIR/out") ERR=$(cat "$H_DIR/err")
}
T=(--connect-timeout 300 --timeout 500)
refused_with() { [ "$RC" = 1 ] && grep -qF -- "$1" "$H_DIR/err"; }
allowed_and() { ! grep -q "refused by policy" "$H_DIR/err" && [ "$(connects "$1")" -ge 1 ]; }

run plan -f specs/prod.yaml --trusted-spec origin/main "${T[@]}"
h_check "plan --trusted-spec origin/main of a master on another port: exit 1 (rc=$RC)" [ "$RC" = 1 ]
h_check "it names the field, both addresses and the lines" \
    grep -qF "specs/prod.yaml:$LINE:13: error: shards[0].master is 127.0.0.1:$EVIL here but 127.0.0.1:$TRUST in the trusted spec (origin/main:specs/prod.yaml:$TLINE)" "$H_DIR/err"
h_check "it says nothing was connected to" grep -qF "refused by policy (--trusted-spec origin/main): nothing was connected to" "$H_DIR/err"
h_check "no plan on stdout" [ -z "$OUT" ]
sleep 0.3
h_check "the listener on the pull request's port got no connection ($(connects "$EVIL"))" [ "$(connects "$EVIL")" = 0 ]
h_check "nothing at all was connected to ($(total_connects))" [ "$(total_connects)" = 0 ]

run plan --repo "file://$UP" --ref pr-evil --path specs/prod.yaml --trusted-spec origin/main "${T[@]}"
h_check "the same through --repo (the cache's origin/main): exit 1 (rc=$RC)" [ "$RC" = 1 ]
h_check "  and names the field" grep -qF "shards[0].master is 127.0.0.1:$EVIL here but 127.0.0.1:$TRUST" "$H_DIR/err"
sleep 0.3
h_check "  and nothing was connected to ($(total_connects))" [ "$(total_connects)" = 0 ]

run status -f specs/prod.yaml --trusted-spec origin/main "${T[@]}"
h_check "status --trusted-spec refuses too (rc=$RC)" refused_with "shards[0].master is"
run validate specs/prod.yaml --trusted-spec origin/main
h_check "validate --trusted-spec refuses too (rc=$RC)" refused_with "shards[0].master is"
run plan -f specs/prod.yaml --trusted-spec "$UP/specs" "${T[@]}"
h_check "a trusted spec given as a directory path refuses too (rc=$RC)" refused_with "in the trusted spec ($UP/specs/prod.yaml:$TLINE)"

# a pull request that adds a directory named like the ref, holding its own spec
mkdir -p "$CI/origin/main"
cp "$CI/specs/prod.yaml" "$CI/origin/main/prod.yaml"
run plan -f specs/prod.yaml --trusted-spec origin/main "${T[@]}"
h_check "a directory 'origin/main' in the checkout does not stand in for the ref (rc=$RC)" refused_with "(origin/main:specs/prod.yaml:$TLINE)"
rm -rf "$CI/origin"
sleep 0.3
h_check "still nothing connected to ($(total_connects))" [ "$(total_connects)" = 0 ]

run plan -f specs/prod.yaml --trusted-spec origin/nope "${T[@]}"
h_check "an unknown ref is an error (rc=$RC)" refused_with "ref 'origin/nope' not found"
# a trusted spec that does not load (at a ref where it is broken) vouches for nothing
git -C "$UP" checkout -q -b broken && printf 'bogus: [\n' >>"$UP/specs/prod.yaml" &&
    git -C "$UP" commit -qam broken && git -C "$UP" checkout -q main && git -C "$CI" fetch -q origin
run plan -f specs/prod.yaml --trusted-spec origin/broken "${T[@]}"
h_check "a trusted spec that does not load is an error naming it (rc=$RC)" \
    refused_with "the trusted spec does not load, so it cannot vouch for this one: origin/broken:specs/prod.yaml:"

# the threat itself: without policy mode the same plan connects and sends AUTH <password>
run plan -f specs/prod.yaml "${T[@]}"
sleep 0.3
h_check "without --trusted-spec the plan does connect to the pull request's port ($(connects "$EVIL"))" [ "$(connects "$EVIL")" -ge 1 ]
h_check "  and sends it the password (what policy mode prevents)" grep -q "^$EVIL .*$RMGR_REDIS_PASSWORD" "$H_DIR/connects.log"
: >"$H_DIR/connects.log"

branch pr-env "s/password_env: RMGR_REDIS_PASSWORD/password_env: RMGR_REDIS_OTHER/"
run plan -f specs/prod.yaml --trusted-spec origin/main "${T[@]}"
h_check "a changed auth.password_env is refused (rc=$RC)" refused_with "auth.password_env is 'RMGR_REDIS_OTHER' here but 'RMGR_REDIS_PASSWORD' in the trusted spec"

branch pr-new "s/^cluster: prod/cluster: shadow/"
run plan -f specs/prod.yaml --trusted-spec origin/main "${T[@]}"
h_check "a cluster new in the pull request is refused (rc=$RC)" refused_with "cluster 'shadow' is not in the trusted spec (origin/main)"
printf '# test hosts\n10.0.0.0/8\n' >"$H_DIR/allow"
run plan -f specs/prod.yaml --trusted-spec origin/main --allow-hosts "$H_DIR/allow" "${T[@]}"
h_check "  and with --allow-hosts not listing 127.0.0.1 (rc=$RC)" refused_with "shards[0].master: 127.0.0.1:$TRUST (redis) is not in the allow-list '$H_DIR/allow'"
sleep 0.3
h_check "nothing connected to by the refused runs ($(total_connects))" [ "$(total_connects)" = 0 ]
printf '127.0.0.1 # loopback\n' >"$H_DIR/allow"
run plan -f specs/prod.yaml --trusted-spec origin/main --allow-hosts "$H_DIR/allow" "${T[@]}"
sleep 0.3
h_check "a new cluster whose every address is allow-listed is observed ($(connects "$TRUST"))" \
    allowed_and "$TRUST"
: >"$H_DIR/connects.log"

branch pr-ok "s/maxmemory: 64mb/maxmemory: 128mb/"
run plan -f specs/prod.yaml --trusted-spec origin/main "${T[@]}"
sleep 0.3
h_check "an unrelated change (maxmemory) passes the policy" bash -c "! grep -q 'refused by policy\|trusted spec' '$H_DIR/err'"
h_check "  and is observed: the trusted master's port got a connection ($(connects "$TRUST"))" [ "$(connects "$TRUST")" -ge 1 ]
h_check "  the pull request's port none ($(connects "$EVIL"))" [ "$(connects "$EVIL")" = 0 ]
h_check "the password is in no output" bash -c "! grep -qF '$RMGR_REDIS_PASSWORD' '$H_DIR/out' '$H_DIR/err'"

h_done
