# tests/harness.sh - the C harness (tests/harness.h) for bash integration tests.
# shellcheck shell=bash disable=SC2034  # H_* variables are for the sourcing test
#
#   . "$RMGR_TESTS_DIR/harness.sh"
#   h_init mytest                      # temp dir in $H_DIR, cleanup on EXIT/INT/TERM/HUP
#   h_start_redis 0 "maxmemory 10mb"   # port 0: a free one; sets H_PID and H_PORT
#   m=$H_PORT
#   h_start_sentinel 0 "sentinel monitor m1 127.0.0.1 $m 1"
#   h_start_nutcracker 0 0 "  redis: true
#     servers:
#      - 127.0.0.1:$m:1 s1"               # sets H_PID, H_PORT, H_STATS_PORT
#   h_check "proxy answers" [ "$(h_cli "$H_PORT" SET k v)" = OK ]
#   h_track_pidfile "$dir/nutcracker.pid" nutcracker   # pids started by rmgr
#   h_start_webhook "$H_DIR/hook.log"   # loopback receiver; sets H_PORT and H_URL
#   h_webhook_count drift-found         # how many posts of that event it received
#   h_apply "$BASE/$CLUSTER" -f "$SPEC" --auto-approve  # OUT, RC; the daemons tracked
#   h_fatal "no free port"              # FAIL line, result line, exit 1
#   h_done                              # prints "N passed, N failed", returns 1 on failure
#
# Daemons run as background jobs of the test shell, each in $H_DIR/<kind>-<port>/
# with its config, pidfile (written by the harness for nutcracker), log and
# "stdout". Every pid is recorded with its start time (/proc/PID/stat field 22)
# and signalled only while it still has that start time and is not a zombie.
# Only 127.0.0.1 is used. HARNESS_KEEP=1 keeps the directory.
# Functions return non-zero and explain on stderr when something fails.

H_DIR=
H_PIDS=()      # tracked pids
H_STARTS=()    # their start times
H_PORTS_USED=" "
H_PASSED=0
H_FAILED=0
H_READY_MS=${HARNESS_READY_TIMEOUT_MS:-5000}

# h_init NAME: create the directory and install the cleanup traps.
h_init() {
    H_DIR=$(mktemp -d "${TMPDIR:-/tmp}/rmgr-${1:-test}-XXXXXX") || {
        echo "harness: cannot create a temporary directory" >&2; exit 2; }
    H_OWNER=$BASHPID
    trap h_cleanup EXIT
    local sig
    for sig in INT TERM HUP; do
        # shellcheck disable=SC2064
        trap "h_cleanup; trap - $sig EXIT; kill -$sig \$\$" "$sig"
    done
}

# h_starttime PID: print the start time of PID, or fail if it does not run.
# The command name (field 2) may contain spaces: cut after the last ')'.
# A zombie leader whose other threads still exit (num_threads, field 20, > 1)
# still holds its files and listening ports: it runs until they are gone.
h_starttime() {
    local stat rest
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    rest=${stat##*) }
    # shellcheck disable=SC2086
    set -- $rest
    case $1 in Z|X|x) [ "${18}" -gt 1 ] || return 1 ;; esac
    echo "${20}"
}

# h_alive PID: true while PID runs (not a zombie) and, when tracked, is still
# the process that was tracked.
h_alive() {
    local st i
    st=$(h_starttime "$1") || return 1
    for i in "${!H_PIDS[@]}"; do
        if [ "${H_PIDS[$i]}" = "$1" ]; then
            [ "${H_STARTS[$i]}" = "$st" ]; return
        fi
    done
    return 0
}

# _h_pick_port: a free loopback port (bind port 0) not picked before, in _H_PORT.
_h_pick_port() {
    local port
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        port=$(/usr/bin/python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') || return 1
        case $H_PORTS_USED in *" $port "*) continue ;; esac
        H_PORTS_USED="$H_PORTS_USED$port "
        _H_PORT=$port; return 0
    done
    echo "harness: no unused free port found" >&2; return 1
}

# h_free_port: print a free loopback port, never the same twice (within one
# shell: $(h_free_port) runs in a subshell that forgets it; see h_free_ports).
h_free_port() {
    _h_pick_port && echo "$_H_PORT"
}

# h_free_ports VAR...: set each VAR to a free loopback port, all different.
h_free_ports() {
    local _h_var
    for _h_var in "$@"; do
        _h_pick_port || return 1
        printf -v "$_h_var" '%s' "$_H_PORT"
    done
}

# h_track PID [EXPECT]: stop PID at cleanup. Refused unless it runs and EXPECT
# occurs in its command line, comm or exe.
h_track() {
    local pid=$1 expect=${2:-} st cmd
    st=$(h_starttime "$pid") || { echo "harness: pid $pid is not running" >&2; return 1; }
    if [ -n "$expect" ]; then
        cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) $(cat "/proc/$pid/comm" 2>/dev/null) $(readlink "/proc/$pid/exe" 2>/dev/null)"
        case $cmd in *"$expect"*) ;; *) echo "harness: pid $pid is not '$expect'" >&2; return 1 ;; esac
    fi
    H_PIDS+=("$pid"); H_STARTS+=("$st")
}

# h_track_pidfile FILE EXPECT: wait for FILE to name a live EXPECT, track it,
# set H_PID.
h_track_pidfile() {
    local deadline=$(( $(date +%s%3N) + H_READY_MS )) pid
    while :; do
        pid=$(head -n1 "$1" 2>/dev/null | tr -dc 0-9)
        if [ -n "$pid" ] && h_starttime "$pid" >/dev/null && h_track "$pid" "$2" 2>/dev/null; then
            H_PID=$pid; return 0
        fi
        [ "$(date +%s%3N)" -ge "$deadline" ] && break
        sleep 0.05
    done
    echo "harness: '$1' names no running '$2'" >&2; return 1
}

# h_track_cluster DIR: track every daemon rmgr started under DIR (one
# DIR/<kind>-<port>/*.pid each: redis-*, sentinel-*, else nutcracker) by its
# pidfile, once: a pid already tracked is not waited for again.
h_track_cluster() {
    local f kind pid
    for f in "$1"/*/*.pid; do
        [ -e "$f" ] || continue
        pid=$(head -n1 "$f" 2>/dev/null | tr -dc 0-9)
        [ -n "$pid" ] && [[ " ${H_PIDS[*]} " == *" $pid "* ]] && continue
        case $f in */redis-*) kind=redis-server ;; */sentinel-*) kind=redis-sentinel ;; *) kind=nutcracker ;; esac
        h_track_pidfile "$f" "$kind" >/dev/null 2>&1
    done
}

# h_apply CLUSTER_DIR ARGS...: `$RMGR apply ARGS...` with its stdout and stderr
# in OUT and its exit status in RC, then every daemon it started under
# CLUSTER_DIR tracked (h_track_cluster), whether it succeeded or not.
h_apply() {
    local dir=$1; shift
    OUT=$("${RMGR:?RMGR must name the rmgr binary}" apply "$@" 2>&1); RC=$?
    h_track_cluster "$dir"
}

# h_wait_log FILE PATTERN COUNT TIMEOUT_S: true once FILE has COUNT lines that
# match PATTERN (grep), false after TIMEOUT_S seconds (also while FILE is missing).
h_wait_log() {
    local deadline=$(( $(date +%s) + $4 )) n
    while :; do
        n=$(grep -c -- "$2" "$1" 2>/dev/null)
        [ "${n:-0}" -ge "$3" ] && return 0
        [ "$(date +%s)" -ge "$deadline" ] && return 1
        sleep 0.05
    done
}

# _h_gone INDEX: true when the tracked process at INDEX no longer runs.
_h_gone() {
    local pid=${H_PIDS[$1]} st
    [ -z "$pid" ] && return 0
    st=$(h_starttime "$pid") && [ "$st" = "${H_STARTS[$1]}" ] && return 1
    wait "$pid" 2>/dev/null   # reap it if it was our background job
    return 0
}

# _h_stop_indexes INDEX...: TERM, wait up to 5 s, KILL, wait; untrack.
_h_stop_indexes() {
    local i sig round deadline left
    for i in "$@"; do
        _h_gone "$i" || { kill -TERM "${H_PIDS[$i]}" 2>/dev/null; kill -CONT "${H_PIDS[$i]}" 2>/dev/null; }
    done
    for round in 1 2; do
        deadline=$(( $(date +%s%3N) + (round == 1 ? 5000 : 2000) ))
        while :; do
            left=0
            for i in "$@"; do _h_gone "$i" || left=$((left + 1)); done
            [ "$left" -eq 0 ] && break 2
            [ "$(date +%s%3N)" -ge "$deadline" ] && break
            sleep 0.02
        done
        [ "$round" -eq 1 ] && for i in "$@"; do
            _h_gone "$i" || kill -KILL "${H_PIDS[$i]}" 2>/dev/null
        done
    done
    for i in "$@"; do
        _h_gone "$i" && { wait "${H_PIDS[$i]}" 2>/dev/null; H_PIDS[i]=; }
    done
    [ "${left:-0}" -eq 0 ]
}

# h_stop PID: stop a tracked pid (TERM, 5 s, KILL). 0 when it is gone.
h_stop() {
    local i
    for i in "${!H_PIDS[@]}"; do
        [ "${H_PIDS[$i]}" = "$1" ] && { _h_stop_indexes "$i"; return; }
    done
    echo "harness: pid $1 is not tracked" >&2; return 1
}

# h_cleanup: stop every tracked pid and remove the directory (once).
h_cleanup() {
    [ -n "$H_DIR" ] && [ "${H_OWNER:-}" = "$BASHPID" ] || return 0
    local idx=() i
    for i in "${!H_PIDS[@]}"; do [ -n "${H_PIDS[$i]}" ] && idx+=("$i"); done
    [ ${#idx[@]} -gt 0 ] && _h_stop_indexes "${idx[@]}"
    if [ -n "${HARNESS_KEEP:-}" ] && [ "$HARNESS_KEEP" != 0 ]; then
        echo "harness: kept $H_DIR" >&2
    else
        rm -rf -- "$H_DIR"
    fi
    H_DIR=
}

# h_start_webhook LOG: a loopback HTTP receiver that appends every POST body, as
# one line, to LOG and answers 200; tracked like a daemon. Sets H_PORT and H_URL.
h_start_webhook() {
    local log=$1 port pid deadline
    port=$(h_free_port) || return 1
    cat >"$H_DIR/webhook.py" <<'EOF'
import http.server, sys
port, out = int(sys.argv[1]), sys.argv[2]
class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(out, "ab") as f:
            f.write(body.replace(b"\n", b" ") + b"\n")
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", port), Hook).serve_forever()
EOF
    : >>"$log"
    /usr/bin/python3 "$H_DIR/webhook.py" "$port" "$log" >"$H_DIR/webhook-$port.out" 2>&1 &
    pid=$!
    # tracked once it listens: before its exec the job is still a copy of this shell
    deadline=$(( $(date +%s%3N) + H_READY_MS ))
    until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        if [ "$(date +%s%3N)" -ge "$deadline" ] || ! kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null
            echo "harness: the webhook receiver did not start: $(cat "$H_DIR/webhook-$port.out")" >&2
            return 1
        fi
        sleep 0.05
    done
    h_track "$pid" webhook.py || { kill "$pid" 2>/dev/null; return 1; }
    H_PORT=$port H_URL="http://127.0.0.1:$port/hook" H_WEBHOOK_LOG=$log
}

# h_webhook_count EVENT: how many posts with "event":"EVENT" the receiver of
# h_start_webhook has logged (rmgr's generic and every other format).
h_webhook_count() {
    grep -c "\"event\":\"$1\"" "$H_WEBHOOK_LOG"
}

# h_cli PORT [-a PASSWORD] ARGS...: one command with redis-cli on 127.0.0.1.
h_cli() {
    local port=$1; shift
    if [ "${1:-}" = -a ]; then
        REDISCLI_AUTH=$2 redis-cli -h 127.0.0.1 -p "$port" "${@:3}"
    else
        redis-cli -h 127.0.0.1 -p "$port" "$@"
    fi
}

# h_wait_ping PORT [TIMEOUT_MS]: PING every 50 ms until any reply but LOADING.
h_wait_ping() {
    local deadline=$(( $(date +%s%3N) + ${2:-$H_READY_MS} )) r
    while :; do
        r=$(redis-cli -h 127.0.0.1 -p "$1" PING 2>/dev/null) && [ -n "$r" ] &&
            case $r in LOADING*|*"Could not connect"*) false ;; *) true ;; esac && return 0
        [ "$(date +%s%3N)" -ge "$deadline" ] && return 1
        sleep 0.05
    done
}

# _h_spawn KIND PORT CONF_WRITER EXEC_FN: in a new $H_DIR/KIND-PORT directory,
# CONF_WRITER DIR writes the config, then EXEC_FN DIR execs the daemon as a
# background job (so $! is its pid); wait for PING.
_h_spawn() {
    local kind=$1 port=$2 writer=$3 execfn=$4 auto=0 attempt dir pid
    [ "$port" = 0 ] && auto=1
    for attempt in 1 2 3; do
        [ "$auto" = 1 ] && { port=$(h_free_port) || return 1; }
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            [ "$auto" = 1 ] && continue
            echo "harness: cannot start $kind: port $port is already in use" >&2; return 1
        fi
        dir=$H_DIR/$kind-$port
        [ -e "$dir" ] && dir=$(mktemp -d "$dir-XXXX")
        mkdir -p "$dir"
        H_PORT=$port
        "$writer" "$dir" || return 1
        (cd "$dir" && exec >>"$dir/stdout" 2>&1 </dev/null && "$execfn" "$dir") &
        pid=$!
        H_PIDS+=("$pid"); H_STARTS+=("$(h_starttime "$pid")")
        [ "$kind" = nutcracker ] && echo "$pid" >"$dir/nutcracker.pid"
        local deadline=$(( $(date +%s%3N) + H_READY_MS ))
        while h_starttime "$pid" >/dev/null; do
            if h_wait_ping "$port" 0; then H_PID=$pid H_DIR_LAST=$dir; return 0; fi
            [ "$(date +%s%3N)" -ge "$deadline" ] && break
            sleep 0.05
        done
        if [ "$auto" = 1 ] && grep -qs "in use" "$dir/stdout" "$dir/$kind.log" && [ "$attempt" -lt 3 ]; then
            h_stop "$pid"; continue
        fi
        echo "harness: $kind on port $port did not become ready" >&2
        tail -n 20 "$dir/stdout" "$dir/$kind.log" >&2 2>/dev/null
        h_stop "$pid"
        return 1
    done
}

_h_redis_conf() {
    {
        printf 'port %s\nbind 127.0.0.1\ndaemonize no\n' "$H_PORT"
        printf 'pidfile "%s"\nlogfile "%s"\ndir "%s"\n' "$1/$_H_KIND.pid" "$1/$_H_KIND.log" "$1"
        if [ "$_H_KIND" = redis ]; then
            printf 'save ""\nappendonly no\nrepl-diskless-sync-delay 0\n'
        fi
        if [ -n "$_H_EXTRA" ]; then printf '%s\n' "$_H_EXTRA"; fi
    } >"$1/$_H_KIND.conf"
}

_h_nutcracker_conf() {
    printf 'alpha:\n  listen: 127.0.0.1:%s\n%s\n' "$H_PORT" "$_H_EXTRA" >"$1/nutcracker.yml"
}

_h_exec_redis() { exec redis-server "$1/redis.conf"; }
_h_exec_sentinel() { exec redis-sentinel "$1/sentinel.conf"; }
_h_exec_nutcracker() {
    exec nutcracker -c "$1/nutcracker.yml" -o "$1/nutcracker.log" -s "$H_STATS_PORT" -a 127.0.0.1
}

# h_start_redis PORT [EXTRA_CONF]: sets H_PID, H_PORT, H_DIR_LAST.
h_start_redis() {
    _H_KIND=redis _H_EXTRA=${2:-}
    _h_spawn redis "$1" _h_redis_conf _h_exec_redis
}

# h_start_sentinel PORT [EXTRA_CONF]: a writable sentinel.conf; sets H_PID, H_PORT.
h_start_sentinel() {
    _H_KIND=sentinel _H_EXTRA=${2:-}
    _h_spawn sentinel "$1" _h_redis_conf _h_exec_sentinel
}

# h_start_nutcracker LISTEN_PORT STATS_PORT POOL_BODY: pool "alpha" on
# 127.0.0.1:LISTEN_PORT; POOL_BODY holds its other keys indented by two
# spaces. Sets H_PID, H_PORT, H_STATS_PORT; the config is nutcracker.yml.
h_start_nutcracker() {
    _H_KIND=nutcracker _H_STATS=${2:-0} _H_EXTRA=${3:-}
    [ "$_H_STATS" = 0 ] && { _H_STATS=$(h_free_port) || return 1; }
    H_STATS_PORT=$_H_STATS
    _h_spawn nutcracker "$1" _h_nutcracker_conf _h_exec_nutcracker
}

# h_check DESCRIPTION COMMAND...: run COMMAND, count and print ok/FAIL.
h_check() {
    local what=$1; shift
    if "$@"; then
        H_PASSED=$((H_PASSED + 1)); echo "ok   $what"
    else
        H_FAILED=$((H_FAILED + 1)); echo "FAIL $what"
    fi
}

# h_fatal MESSAGE...: a failed check that ends the test: "FAIL MESSAGE", the
# result line, exit 1 (the EXIT trap stops what was started).
h_fatal() {
    H_FAILED=$((H_FAILED + 1)); echo "FAIL $*"
    h_done
    exit 1
}

# h_done: print the result line; non-zero when a check failed.
h_done() {
    echo "$H_PASSED passed, $H_FAILED failed"
    [ "$H_FAILED" -eq 0 ]
}
