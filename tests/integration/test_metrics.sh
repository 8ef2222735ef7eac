#!/usr/bin/env bash
# test_metrics.sh - `rmgr reconcile --watch --metrics-listen` against a real
# local cluster (two shards, three sentinels, one nutcracker):
#
#   1. /metrics passes `promtool check metrics` and has every cluster and
#      per-instance series, with values that match the cluster (drift 0,
#      every instance up, both masters' memory, the proxy's requests)
#   2. / (the status page) loaded in headless Chromium: the DOM names every
#      shard, sentinel and proxy, and the ops/s chart has data points; a
#      screenshot is taken (UPDATE_SCREENSHOT=1 copies it to docs/)
#   3. /api/status is JSON with every shard; no response holds the password;
#      other paths 404, POST 405
#   4. --metrics-file (daemon and --once) passes promtool, replaced atomically
#   5. a token: --metrics-token-file makes every request need the bearer token
#      (401 without or with a wrong one); a non-loopback address without a token
#      is a usage error; 127.0.0.2 is loopback and needs none
#
# Every process started (by the harness or by rmgr) is tracked and stopped.
# shellcheck disable=SC1091,SC2016,SC2034,SC2317  # harness; eval strings
set -u
TESTS_DIR=${RMGR_TESTS_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
ROOT=$(cd "$TESTS_DIR/.." && pwd)
RMGR=${RMGR_BIN:-$ROOT/rmgr}
PY=/usr/bin/python3
. "$TESTS_DIR/harness.sh"
h_init metrics

for tool in promtool chromium curl; do
    command -v "$tool" >/dev/null || h_fatal "$tool is not installed (.ci/run installs it)"
done

export XDG_RUNTIME_DIR=$H_DIR/run XDG_CACHE_HOME=$H_DIR/xdg-cache
mkdir -p "$XDG_RUNTIME_DIR"
export RMGR_REDIS_TEST_PASSWORD="pw-$RANDOM-secret-$$"
PW=$RMGR_REDIS_TEST_PASSWORD
CLUSTER=mtest
BASE=$H_DIR/base
SPEC=$H_DIR/$CLUSTER.yaml

h_free_ports M1 R1 M2 R2 S1 S2 S3 PX ST MP MP2 MP3 || h_fatal "no free port"
cat >"$SPEC" <<EOF
cluster: $CLUSTER
defaults:
  transport: local
  base_dir: $BASE
auth:
  password_env: RMGR_REDIS_TEST_PASSWORD
redis:
  config:
    maxmemory: 64mb
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
  nodes: [127.0.0.1:$S1, 127.0.0.1:$S2, 127.0.0.1:$S3]
proxies:
  - host: 127.0.0.1
    listen: 127.0.0.1:$PX
    stats_port: $ST
EOF

h_apply "$BASE/$CLUSTER" -f "$SPEC" --auto-approve
[ "$RC" -eq 0 ] || { echo "$OUT"; h_fatal "apply failed"; }
h_check "cluster deployed" [ "$RC" -eq 0 ]

# ---------------------------------------------------------------- the daemon

mkdir -p "$H_DIR/textfile"
PROM=$H_DIR/textfile/rmgr.prom
DLOG=$H_DIR/daemon.log
"$RMGR" reconcile -f "$SPEC" --watch --interval "${METRICS_INTERVAL:-2s}" --metrics-listen "127.0.0.1:$MP" \
    --metrics-file "$PROM" --log-file "$DLOG" 2>"$H_DIR/daemon.err" &
DAEMON=$!
h_track "$DAEMON" rmgr
h_check "daemon: says where it listens" h_wait_log "$DLOG" "metrics-listen" 1 10
# traffic through the proxy while the daemon samples, so the charts have rates
(for i in $(seq 4000); do echo "SET key$i v$i"; done | timeout 60 redis-cli -p "$PX" -a "$PW" \
    --no-auth-warning >/dev/null 2>&1) &
TRAFFIC=$!
h_check "daemon: four runs done" h_wait_log "$DLOG" "run-done" 4 60
wait "$TRAFFIC"
if [ "${UPDATE_SCREENSHOT:-0}" = 1 ]; then
    # for the README's screenshot: some minutes of uneven traffic, so the charts have a shape
    end=$(( $(date +%s) + ${SCREENSHOT_RUN_S:-300} ))
    while [ "$(date +%s)" -lt "$end" ]; do
        n=$(( (RANDOM % 6 + 1) * 400 ))
        for i in $(seq "$n"); do echo "SET k$RANDOM v$i"; echo "GET k$RANDOM"; done |
            timeout 60 redis-cli -p "$PX" -a "$PW" --no-auth-warning >/dev/null 2>&1
        sleep $(( RANDOM % 8 + 2 ))
    done
fi

URL=http://127.0.0.1:$MP
fetch() { curl -s -o "$H_DIR/body" -w '%{http_code}' "$@"; }

# ---------------------------------------------------------------- 1. /metrics

code=$(fetch "$URL/metrics")
cp "$H_DIR/body" "$H_DIR/metrics.txt"
h_check "/metrics: 200" [ "$code" = 200 ]
h_check "/metrics: promtool check metrics passes" \
    eval 'promtool check metrics <"$H_DIR/metrics.txt" >"$H_DIR/promtool.out" 2>&1 || { cat "$H_DIR/promtool.out"; false; }'
M=$H_DIR/metrics.txt
h_check "/metrics: no drift" grep -qx "rmgr_drift_steps{cluster=\"$CLUSTER\"} 0" "$M"
h_check "/metrics: last reconcile and success times are recent" \
    "$PY" -c 'import re, sys, time
t = open(sys.argv[1]).read()
for n in ("rmgr_last_reconcile_timestamp_seconds", "rmgr_last_success_timestamp_seconds"):
    v = float(re.search(r"^%s\{cluster=\"%s\"\} (\S+)$" % (n, sys.argv[2]), t, re.M).group(1))
    assert abs(time.time() - v) < 30, (n, v)' "$M" "$CLUSTER"
h_check "/metrics: failovers and apply failures counted from 0" \
    eval 'grep -qx "rmgr_failovers_total{cluster=\"$CLUSTER\"} 0" "$M" &&
          grep -qx "rmgr_apply_failures_total{cluster=\"$CLUSTER\"} 0" "$M"'
h_check "/metrics: observe histogram with at least 4 observations, +Inf = count" \
    "$PY" -c 'import re, sys
t = open(sys.argv[1]).read(); c = sys.argv[2]
inf = int(re.search(r"^rmgr_observe_duration_seconds_bucket\{cluster=\"%s\",le=\"\+Inf\"\} (\d+)$" % c, t, re.M).group(1))
n = int(re.search(r"^rmgr_observe_duration_seconds_count\{cluster=\"%s\"\} (\d+)$" % c, t, re.M).group(1))
assert inf == n >= 4, (inf, n)' "$M" "$CLUSTER"
h_check "/metrics: rmgr_alert_firing declared (the alert rules fill it)" \
    grep -qx "# TYPE rmgr_alert_firing gauge" "$M"
ok=1
for p in "$M1:master:shard1" "$R1:replica:shard1" "$M2:master:shard2" "$R2:replica:shard2"; do
    IFS=: read -r port role shard <<<"$p"
    grep -qx "rmgr_up{cluster=\"$CLUSTER\",shard=\"$shard\",role=\"$role\",address=\"127.0.0.1:$port\"} 1" "$M" || { echo "no up for $p"; ok=0; }
done
for port in "$S1" "$S2" "$S3"; do
    grep -qx "rmgr_up{cluster=\"$CLUSTER\",role=\"sentinel\",address=\"127.0.0.1:$port\"} 1" "$M" || ok=0
done
grep -qx "rmgr_up{cluster=\"$CLUSTER\",role=\"proxy\",address=\"127.0.0.1:$PX\"} 1" "$M" || ok=0
h_check "/metrics: rmgr_up 1 for every redis, sentinel and proxy, labelled" [ "$ok" = 1 ]
h_check "/metrics: both masters' used memory, clients and ops/s" \
    "$PY" -c 'import re, sys
t = open(sys.argv[1]).read()
for port, shard in ((sys.argv[2], "shard1"), (sys.argv[3], "shard2")):
    lab = r"\{cluster=\"mtest\",shard=\"%s\",role=\"master\",address=\"127.0.0.1:%s\"\}" % (shard, port)
    mem = int(re.search(r"^rmgr_redis_memory_used_bytes%s (\d+)$" % lab, t, re.M).group(1))
    assert mem > 100000, mem
    assert int(re.search(r"^rmgr_redis_memory_max_bytes%s (\d+)$" % lab, t, re.M).group(1)) == 64 << 20
    assert int(re.search(r"^rmgr_redis_connected_clients%s (\d+)$" % lab, t, re.M).group(1)) >= 1
    assert float(re.search(r"^rmgr_redis_ops_per_second%s (\S+)$" % lab, t, re.M).group(1)) > 0' \
    "$M" "$M1" "$M2"
h_check "/metrics: replicas' replication lag in bytes" \
    eval 'grep -Eq "^rmgr_redis_replication_lag_bytes\{cluster=\"$CLUSTER\",shard=\"shard1\",role=\"replica\",address=\"127.0.0.1:$R1\"\} [0-9]+$" "$M"'
h_check "/metrics: the proxy's request and forward-error counters" \
    eval 'grep -Eq "^rmgr_proxy_requests_total\{cluster=\"$CLUSTER\",role=\"proxy\",address=\"127.0.0.1:$PX\"\} [0-9]+$" "$M" &&
          grep -Eq "^rmgr_proxy_forward_errors_total\{cluster=\"$CLUSTER\",role=\"proxy\",address=\"127.0.0.1:$PX\"\} 0$" "$M"'

# ---------------------------------------------------------------- 2. the page in Chromium

CHROME=(chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage
        --user-data-dir="$H_DIR/chrome" --no-first-run --hide-scrollbars)
timeout 120 "${CHROME[@]}" --dump-dom "$URL/" >"$H_DIR/dom.html" 2>"$H_DIR/chrome.err"
h_check "chromium: the page loaded (DOM dumped)" grep -q "<h1>rmgr status</h1>" "$H_DIR/dom.html"
h_check "chromium DOM: every shard, sentinel and proxy, and SVG charts with points" \
    "$PY" - "$H_DIR/dom.html" "$CLUSTER" "$M1" "$M2" "$R1" "$R2" "$S1" "$S2" "$S3" "$PX" <<'EOF'
import sys
from html.parser import HTMLParser
dom, cluster = open(sys.argv[1]).read(), sys.argv[2]
m1, m2, r1, r2, s1, s2, s3, px = sys.argv[3:]

class P(HTMLParser):
    def __init__(self):
        super().__init__()
        self.shards, self.charts, self.svg, self.text = [], {}, None, []
        self.sentinels = 0
    def handle_starttag(self, tag, a):
        a = dict(a)
        if tag == "tr" and a.get("class") == "shard":
            self.shards.append(a["data-shard"])
        if tag == "tr" and a.get("class") == "sentinel":
            self.sentinels += 1
        if tag == "svg" and "chart" in a.get("class", ""):
            self.svg = a["aria-label"]; self.charts[self.svg] = 0
        if tag == "circle" and self.svg and a.get("class") == "pt":
            self.charts[self.svg] += 1
    def handle_endtag(self, tag):
        if tag == "svg":
            self.svg = None
    def handle_data(self, d):
        self.text.append(d)

p = P(); p.feed(dom); text = "".join(p.text)
assert p.shards == ["shard1", "shard2"], p.shards
for a in (m1, m2, r1, r2, s1, s2, s3, px):
    assert "127.0.0.1:" + a in text, a
assert p.sentinels == 3, p.sentinels
assert set(p.charts) == {"ops/s per master", "memory per master", "proxy requests/s",
                         "proxy forward errors/s"}, p.charts
assert p.charts["ops/s per master"] >= 2, p.charts
assert p.charts["memory per master"] >= 4, p.charts
assert 'http-equiv="refresh"' in dom
assert "<script" not in dom
EOF
timeout 120 "${CHROME[@]}" --window-size=1280,1500 --screenshot="$H_DIR/status-page.png" \
    "$URL/" >/dev/null 2>>"$H_DIR/chrome.err"
h_check "chromium: a screenshot of the page" \
    eval '[ "$(head -c 8 "$H_DIR/status-page.png" | od -An -tx1 | tr -d " \n")" = 89504e470d0a1a0a ]'
if [ "${UPDATE_SCREENSHOT:-0}" = 1 ]; then
    cp "$H_DIR/status-page.png" "$ROOT/docs/status-page.png" && echo "updated docs/status-page.png"
fi

# ---------------------------------------------------------------- 3. /api/status, others

code=$(fetch "$URL/api/status")
h_check "/api/status: 200, JSON with both shards, their masters and replicas" \
    "$PY" -c 'import json, sys
d = json.load(open(sys.argv[1]))
c = d["clusters"][0]
assert c["name"] == "mtest" and c["drift_steps"] == 0, c
assert [s["name"] for s in c["shards"]] == ["shard1", "shard2"]
assert c["shards"][0]["master"]["address"] == "127.0.0.1:" + sys.argv[2]
assert c["shards"][0]["replicas"][0]["link"] == "up"
assert len(c["sentinels"]) == 3 and all(s["up"] for s in c["sentinels"])
assert c["proxies"][0]["up"] and c["samples"] >= 4' "$H_DIR/body" "$M1"
h_check "/api/status: code 200" [ "$code" = 200 ]
leak=0
for path in / /metrics /api/status; do
    curl -s "$URL$path" | grep -qF "$PW" && leak=1
done
grep -qF "$PW" "$H_DIR/dom.html" "$PROM" && leak=1
h_check "no page, no metrics file holds the password" [ "$leak" = 0 ]
h_check "an unknown path: 404" [ "$(fetch "$URL/nope")" = 404 ]
h_check "POST: 405 (read-only)" [ "$(fetch -X POST -d x "$URL/metrics")" = 405 ]

# ---------------------------------------------------------------- 4. --metrics-file

h_check "--metrics-file: written, promtool check metrics passes" \
    eval '[ -s "$PROM" ] && promtool check metrics <"$PROM" >/dev/null 2>&1'
h_check "--metrics-file: the same series as /metrics" \
    grep -qx "rmgr_drift_steps{cluster=\"$CLUSTER\"} 0" "$PROM"
h_check "--metrics-file: no temporary file left beside it" \
    [ "$(find "$H_DIR/textfile" -type f | wc -l)" -eq 1 ]

kill -TERM "$DAEMON"
wait "$DAEMON"; rc=$?
h_check "daemon: SIGTERM exits 0" [ "$rc" -eq 0 ]
h_check "daemon: the port is closed after it" [ "$(fetch "$URL/metrics")" = 000 ]

OUT=$("$RMGR" reconcile -f "$SPEC" --once --metrics-file "$H_DIR/once.prom" 2>&1); RC=$?
h_check "--once --metrics-file: exit 0, the file passes promtool" \
    eval '[ "$RC" -eq 0 ] && promtool check metrics <"$H_DIR/once.prom" >/dev/null 2>&1 &&
          grep -qx "rmgr_drift_steps{cluster=\"$CLUSTER\"} 0" "$H_DIR/once.prom"'

# ---------------------------------------------------------------- 5. tokens

OUT=$("$RMGR" reconcile -f "$SPEC" --watch --metrics-listen "0.0.0.0:$MP2" 2>&1); RC=$?
h_check "0.0.0.0 without --metrics-token-file: usage error (2), says why" \
    eval '[ "$RC" -eq 2 ] && grep -q "not a loopback address: it needs --metrics-token-file" <<<"$OUT"'
OUT=$("$RMGR" reconcile -f "$SPEC" --once --metrics-listen "127.0.0.1:$MP2" 2>&1); RC=$?
h_check "--once --metrics-listen: usage error" [ "$RC" -eq 2 ]

export RMGR_SECRETS_DIR=$H_DIR/secrets
mkdir -p -m 700 "$RMGR_SECRETS_DIR"
TOKEN="tok-$RANDOM$RANDOM-$$-abcdefgh"
(umask 077; printf '%s\n' "$TOKEN" >"$RMGR_SECRETS_DIR/metrics.token")
DLOG2=$H_DIR/daemon2.log
"$RMGR" reconcile -f "$SPEC" --interval 1h --metrics-listen "127.0.0.1:$MP2" \
    --metrics-token-file metrics.token --log-file "$DLOG2" 2>"$H_DIR/daemon2.err" &
D2=$!
h_track "$D2" rmgr
h_check "token daemon: first run done" h_wait_log "$DLOG2" "run-done" 1 30
URL2=http://127.0.0.1:$MP2
h_check "token: no Authorization header: 401 on / and /metrics" \
    eval '[ "$(fetch "$URL2/")" = 401 ] && [ "$(fetch "$URL2/metrics")" = 401 ]'
h_check "token: a 401 says Bearer" \
    eval 'curl -s -D - -o /dev/null "$URL2/metrics" | grep -qi "^WWW-Authenticate: Bearer"'
h_check "token: a wrong token: 401" \
    [ "$(fetch -H "Authorization: Bearer ${TOKEN}x" "$URL2/metrics")" = 401 ]
h_check "token: a prefix of the token: 401" \
    [ "$(fetch -H "Authorization: Bearer ${TOKEN:0:10}" "$URL2/metrics")" = 401 ]
code=$(fetch -H "Authorization: Bearer $TOKEN" "$URL2/metrics")
h_check "token: the right token: 200 and metrics" \
    eval '[ "$code" = 200 ] && grep -q "^rmgr_drift_steps{cluster=\"$CLUSTER\"} 0" "$H_DIR/body"'
h_check "token: not in any log" eval '! grep -qF "$TOKEN" "$DLOG2" "$H_DIR/daemon2.err"'
kill -TERM "$D2"; wait "$D2"

OUT=$("$RMGR" reconcile -f "$SPEC" --watch --metrics-listen "0.0.0.0:$MP3" \
    --metrics-token-file /etc/passwd 2>&1); RC=$?
h_check "a token file outside the secrets directory: refused" \
    eval '[ "$RC" -ne 0 ] && grep -q "not under the secrets directory" <<<"$OUT"'

DLOG3=$H_DIR/daemon3.log
"$RMGR" reconcile -f "$SPEC" --interval 1h --metrics-listen "127.0.0.2:$MP3" \
    --log-file "$DLOG3" 2>"$H_DIR/daemon3.err" &
D3=$!
h_track "$D3" rmgr
h_check "127.0.0.2 is loopback: no token needed, it serves" \
    eval 'h_wait_log "$DLOG3" "run-done" 1 30 && [ "$(fetch "http://127.0.0.2:$MP3/metrics")" = 200 ]'
kill -TERM "$D3"; wait "$D3"

h_done
