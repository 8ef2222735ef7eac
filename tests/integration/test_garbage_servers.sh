#!/usr/bin/env bash
# test_garbage_servers.sh - servers that answer garbage (real listeners on loopback,
# tests/integration/garbage_server.py) in every place of a spec: redis members, sentinels,
# a proxy's stats port. `plan`, `observe --json` and `status` must name each address with
# an error, never crash, and stay within 20 s and 256 MB (tests/bounded.py):
#   http     a port that speaks HTTP
#   cut      a RESP reply cut in the middle, then the connection closed
#   stall    a RESP reply cut in the middle, then silence (the command timeout)
#   bulk1g   a 1 GB bulk length, streamed (hiredis alone buffered all of it: 4.2 GB)
#   bigarray an array header of 444,444,442 elements (hiredis callocs 3.5 GB for it at once;
#            found by tests/fuzz/fuzz_sentinel)
#   noise    random bytes
#   notjson  a proxy stats port that returns text that is not JSON
# shellcheck disable=SC1091
set -u
TESTS_DIR=${RMGR_TESTS_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
RMGR=${RMGR_BIN:-$(cd "$TESTS_DIR/.." && pwd)/rmgr}
. "$TESTS_DIR/harness.sh"
h_init garbage
export XDG_RUNTIME_DIR=$H_DIR/run XDG_STATE_HOME=$H_DIR/state XDG_CACHE_HOME=$H_DIR/cache
mkdir -p "$XDG_RUNTIME_DIR"
fatal() { echo "FAIL $*"; H_FAILED=$((H_FAILED + 1)); h_done; exit 1; }

sanitized=0
ldd "$RMGR" 2>/dev/null | grep -qE 'libasan|libubsan' && sanitized=1

modes=(http cut stall bulk1g noise http cut bulk1g notjson bigarray)
roles=(master replica replica replica master sentinel sentinel sentinel stats replica)
ports=() args=()
for m in "${modes[@]}"; do
    p=$(h_free_port) || fatal "no free port"
    ports+=("$p"); args+=("$m:$p")
done
/usr/bin/python3 "$TESTS_DIR/integration/garbage_server.py" "${args[@]}" >"$H_DIR/garbage.out" 2>&1 &
gpid=$!
for _ in $(seq 100); do grep -q ready "$H_DIR/garbage.out" 2>/dev/null && break; sleep 0.05; done
h_track "$gpid" garbage_server.py || fatal "garbage server did not start: $(cat "$H_DIR/garbage.out")"

P=("${ports[@]}")
LISTEN=$(h_free_port) || fatal "no free port"
# the address plan and status name an instance by: a proxy by its listen address
NAMED=("${P[@]}")
NAMED[8]=$LISTEN
cat >"$H_DIR/spec.yaml" <<EOS
cluster: garbage
defaults: { transport: local, base_dir: $H_DIR/base }
shards:
  - name: s1
    master: 127.0.0.1:${P[0]}
    replicas: [127.0.0.1:${P[1]}, 127.0.0.1:${P[2]}, 127.0.0.1:${P[3]}]
  - name: s2
    master: 127.0.0.1:${P[4]}
    replicas: [127.0.0.1:${P[9]}]
sentinel:
  quorum: 2
  nodes: [127.0.0.1:${P[5]}, 127.0.0.1:${P[6]}, 127.0.0.1:${P[7]}]
proxies:
  - host: 127.0.0.1
    listen: 127.0.0.1:$LISTEN
    stats_port: ${P[8]}
EOS

# what each mode must be reported as
detail_of() {
    case $1 in
        http) echo 'Protocol error, got "H" as reply type byte' ;;
        cut) echo 'Server closed the connection' ;;
        stall) echo 'timed out' ;;
        bulk1g) echo 'reply larger than 8 MB' ;;
        noise) echo 'Protocol error' ;;
        notjson) echo 'invalid stats JSON' ;;
        bigarray) echo 'Protocol error, an array of 444444442 elements' ;;
    esac
}

# run NAME ARGS...: rmgr ARGS bounded; sets out, err, rc; checks no crash and the bounds
run() {
    local name=$1; shift
    python3 "$TESTS_DIR/bounded.py" "$H_DIR/stats" "$sanitized" "$H_DIR" "$RMGR" "$@" \
        >"$H_DIR/out" 2>"$H_DIR/err"
    read -r rc rss_kb secs <"$H_DIR/stats"
    out=$(cat "$H_DIR/out"); err=$(cat "$H_DIR/err")
    h_check "$name: exits 0 or 1, no crash (exit $rc)" [ "$rc" -le 1 ]
    h_check "$name: no sanitizer report" eval '! grep -qE "AddressSanitizer|runtime error|LeakSanitizer" "$H_DIR/err"'
    h_check "$name: within 20 s and 256 MB (${secs} s, $((rss_kb / 1024)) MB)" [ "$rss_kb" -le $((256 * 1024)) ]
}

run plan plan -f "$H_DIR/spec.yaml" --connect-timeout 500 --timeout 1000
for i in "${!modes[@]}"; do
    line=$(grep -F "127.0.0.1:${NAMED[$i]}: unreachable" <<<"$out" | head -n 1)
    h_check "plan: ${roles[$i]} ${modes[$i]} 127.0.0.1:${NAMED[$i]} is an error naming the address" \
        eval '[[ $line == *"(error: "*"$(detail_of "${modes[$i]}")"* ]] || [[ $line == *"(timeout"* && ${modes[$i]} == stall ]]'
    [[ $line ]] || echo "    $(grep -F "${NAMED[$i]}" <<<"$out$err" | head -n 2)"
done

run "observe --json" observe -f "$H_DIR/spec.yaml" --json --connect-timeout 500 --timeout 1000
echo "$out" >"$H_DIR/obs.json"
for i in "${!modes[@]}"; do
    want=$(detail_of "${modes[$i]}")
    h_check "observe: ${modes[$i]} 127.0.0.1:${P[$i]} not ok, detail '$want'" \
        python3 - "$H_DIR/obs.json" "${P[$i]}" "$want" "${roles[$i]}" <<'PY'
import json, sys
o = json.load(open(sys.argv[1])); port = int(sys.argv[2]); want = sys.argv[3]
kind = {"stats": "proxies", "sentinel": "sentinels"}.get(sys.argv[4], "redis")
key = "stats_port" if kind == "proxies" else "port"
x = [e for e in o[kind] if e.get(key) == port]
ok = len(x) == 1 and x[0]["reach"] != "ok" and \
    (want in (x[0].get("reach_detail") or "") or (want == "timed out" and x[0]["reach"] == "timeout"))
if not ok:
    print("    ", x)
sys.exit(0 if ok else 1)
PY
done

run status status -f "$H_DIR/spec.yaml" --connect-timeout 500 --timeout 1000
for i in "${!modes[@]}"; do
    h_check "status names ${modes[$i]} 127.0.0.1:${NAMED[$i]}" eval 'grep -qF "127.0.0.1:${NAMED[$i]}" <<<"$out$err"'
done
h_check "the garbage server still runs (it was what answered)" h_alive "$gpid"
h_done
