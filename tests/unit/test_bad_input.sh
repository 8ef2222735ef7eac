#!/usr/bin/env bash
# test_bad_input.sh - invalid specs of every kind (tests/fixtures/spec/invalid/*.yaml,
# whose exact messages test_validate.sh checks, plus inputs generated here because they do
# not belong in git: a 100 MB file, 10,000 levels of nesting, a generated alias bomb). For
# each, `validate`, `plan` and `apply` must:
#   - exit 1 with every stderr line "FILE:LINE:COL: error|warning: ...", nothing on stdout;
#   - stay within 20 s and 256 MB (RLIMIT_AS when the build has no sanitizer; peak RSS
#     checked in every build);
#   - touch nothing: no file in the cwd or HOME, no base_dir, no connection to the
#     listener that the generated specs name as master.
set -u
cd "$(dirname "$0")/../.."
repo=$PWD
RMGR_BIN=${RMGR_BIN:-$repo/build/rmgr}
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }

work=$(mktemp -d)
listener_pid=
cleanup() { [ -n "$listener_pid" ] && kill "$listener_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
mkdir "$work/run" "$work/gen"
export HOME=$work/home XDG_STATE_HOME=$work/home/state XDG_RUNTIME_DIR=$work/home/run

# a listener that counts connections: nothing may connect to it
port_file=$work/port count_file=$work/connections
python3 - "$port_file" "$count_file" <<'PY' &
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0)); s.listen(16)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
n = 0
while True:
    c, _ = s.accept(); n += 1
    open(sys.argv[2], "w").write(str(n)); c.close()
PY
listener_pid=$!
for _ in $(seq 100); do [ -s "$port_file" ] && break; sleep 0.05; done
lport=$(cat "$port_file")

# bounded CMD...: runs it in $work/run; sets rc, out, err, rss_kb, secs
sanitized=0
ldd "$RMGR_BIN" 2>/dev/null | grep -qE 'libasan|libubsan|libtsan' && sanitized=1
bounded() {
    python3 "$repo/tests/bounded.py" "$work/stats" "$sanitized" "$work/run" "$@" \
        >"$work/out" 2>"$work/err"
    read -r rc rss_kb secs <"$work/stats"
    out=$(cat "$work/out"); err=$(cat "$work/err")
}

# check NAME FILE: validate, plan and apply on FILE
check() {
    local name=$1 file=$2 cmd bad_lines why
    for cmd in "validate" "plan -f" "apply --auto-approve -f"; do
        bounded "$RMGR_BIN" $cmd "$file"
        why=
        bad_lines=$(printf '%s\n' "$err" | grep -cvE "^$(printf '%s' "$file" | sed 's/[][\.*^$/]/\\&/g'):[0-9]+:[0-9]+: (error|warning): [^ ]")
        [ "$rc" -eq 1 ] || why+=" exit $rc;"
        [ -n "$err" ] && [ "$bad_lines" -eq 0 ] || why+=" $bad_lines stderr lines not FILE:LINE:COL: error: ...;"
        printf '%s\n' "$err" | grep -q ': error: ' || why+=" no error;"
        [ -z "$out" ] || why+=" printed on stdout;"
        [ "$rss_kb" -le $((256 * 1024)) ] || why+=" peak RSS ${rss_kb} KB;"
        if [ -z "$why" ]; then
            ok "$name: ${cmd%% *} (${secs} s, $((rss_kb / 1024)) MB)"
        else
            bad "$name: ${cmd%% *}:$why"
            printf "%s\n" "$err" | tail -n 3 | cut -c1-200 | sed 's/^/    /'
        fi
    done
}

n=0
for f in tests/fixtures/spec/invalid/*.yaml; do
    grep -q ': error: ' "${f%.yaml}.expected" || continue # warnings only: valid
    check "$(basename "$f")" "$repo/$f"
    n=$((n + 1))
done
[ "$n" -ge 40 ] && ok "$n invalid spec fixtures" || bad "only $n invalid spec fixtures (want 40)"

# generated: a valid head (its master is the listener, base_dir under $work) and one defect
head_of() {
    printf 'cluster: gen\ndefaults: { base_dir: %s/base }\nshards:\n  - name: s1\n    master: 127.0.0.1:%s\nsentinel: { quorum: 1, nodes: [127.0.0.1:%s] }\n' \
        "$work" "$lport" "$lport"
}
g=$work/gen
{ head_of; echo "x: 1"; } >"$g/one_defect.yaml"
{ head_of; printf '# '; head -c $((100 * 1024 * 1024)) /dev/zero | tr '\0' 'x'; echo; } >"$g/100mb.yaml"
{ head_of; printf 'x: '; printf '[%.0s' $(seq 10000); printf ']%.0s' $(seq 10000); echo; } >"$g/nest_10000_seq.yaml"
{ head_of; printf 'x: '; printf '{a: %.0s' $(seq 10000); printf '1'; printf '}%.0s' $(seq 10000); echo; } >"$g/nest_10000_map.yaml"
{ head_of; printf 'x:\n'; for i in $(seq 1 10000); do printf '%*s- \n' $((i % 80)) ''; done; } >"$g/nest_10000_block.yaml"
{
    head_of
    echo 'a0: &a0 [x, x, x, x, x, x, x, x, x, x]'
    for i in $(seq 1 30); do
        p=$((i - 1)); printf 'a%d: &a%d [' "$i" "$i"
        for _ in $(seq 10); do printf '*a%d, ' "$p"; done; printf '*a%d]\n' "$p"
    done
} >"$g/alias_bomb_10_pow_30.yaml"
printf 'cluster: "\xc0\xaf"\n' | cat <(head_of | sed 1d) - >"$g/overlong_utf8.yaml"
for f in "$g"/*.yaml; do check "generated/$(basename "$f")" "$f"; done
size=$(stat -c %s "$g/100mb.yaml")
[ "$size" -gt $((100 * 1024 * 1024)) ] && ok "100mb.yaml is $size bytes" || bad "100mb.yaml is only $size bytes"

# nothing touched
left=$(ls -A "$work/run" | tr '\n' ' ')
[ -z "$left" ] && ok "nothing written in the cwd" || bad "the cwd has: $left"
[ ! -e "$HOME" ] && ok "HOME not created" || bad "HOME created: $(find "$HOME" | head -5 | tr '\n' ' ')"
[ ! -e "$work/base" ] && ok "base_dir not created" || bad "base_dir created"
conns=$(cat "$count_file" 2>/dev/null || echo 0)
# the listener itself must work, or the count above proves nothing
python3 -c "import socket; socket.create_connection(('127.0.0.1', $lport)).close()"
for _ in $(seq 100); do [ "$(cat "$count_file" 2>/dev/null || echo 0)" -gt "$conns" ] && break; sleep 0.05; done
if [ "$conns" -eq 0 ] && [ "$(cat "$count_file" 2>/dev/null || echo 0)" -eq 1 ]; then
    ok "no connection to the spec's addresses"
else
    bad "$conns connections to the spec's master before the probe"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
