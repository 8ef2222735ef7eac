# tests/integration/walkthrough/hosts.sh - five "hosts" on this machine for
# the walk-through: network namespaces on a private bridge, each Redis host
# with its own sshd and its own view of the directories rmgr writes.
# shellcheck shell=bash disable=SC2015,SC2016  # A && B || fail chains; sh -c scripts
#
#   . hosts.sh
#   wt_init                 # names, temp dir ($WT_DIR), traps; cleans dead runs' leftovers
#   wt_net_up               # blackhole route, namespaces, bridge, addresses
#   wt_keys                 # client key, per-host host keys, authorized_keys, known_hosts
#   wt_sshd_start redis1    # sshd inside redis1 (tracked by pid)
#   wt_in mgr CMD...        # run CMD in mgr's network namespace
#   wt_on mgr CMD...        # ... and with mgr's private directories mounted
#   wt_ssh redis1 'CMD'     # CMD on redis1 through its sshd, from mgr
#   wt_track_daemons        # track every redis/sentinel/nutcracker from its pidfile
#
# Layout: mgr 10.77.0.1 holds the bridge br0; redisN 10.77.0.1N is joined to it
# by a veth pair (eth0 inside). Nothing is added to the root namespace but a
# blackhole route for 10.77.0.0/24 (so nothing for the test subnet can leave
# the machine by the default route) tagged proto 177 and metric = our pid.
#
# Names are rmgr-t-<pid>-<host>: namespaces, and temp dirs
# /tmp/rmgr-walkthrough-<pid>-XXXXXX. At start, leftovers of runs whose pid no
# longer runs test_walkthrough are removed (their namespaces' processes are
# stopped first). Every host mounts, in a private mount namespace, its own
# $WT_DIR/hosts/<host>/base over $WT_DIR/base (the spec's base_dir), its own
# empty dir over /run/sshd, and an empty file over ~/.bashrc (a slow root
# .bashrc would slow every ssh command).
#
# Teardown (wt_cleanup, on EXIT/INT/TERM/HUP): daemons from their pidfiles
# (pid checked against program name and namespace), sshd by tracked pid, then
# anything still inside our namespaces (reported: it means a pid was missed),
# namespaces, the route, the temp dir. Uses tests/harness.sh for pid tracking.

WT_HOSTS=(mgr redis1 redis2 redis3 redis4)
declare -A WT_IP=([mgr]=10.77.0.1 [redis1]=10.77.0.11 [redis2]=10.77.0.12
                  [redis3]=10.77.0.13 [redis4]=10.77.0.14)
WT_SUBNET=10.77.0.0/24
WT_ROUTE_PROTO=177
WT_PREFIX=rmgr-t-$$
WT_DIR=
WT_ROUTE=0
WT_NETS=()       # namespaces we created
WT_LEFTOVER=     # untracked processes wt_cleanup found in them

_wt_now_ms() { date +%s%3N; }

# wt_ns HOST: the namespace name of HOST.
wt_ns() { echo "$WT_PREFIX-$1"; }

# wt_in HOST CMD...: CMD in HOST's network namespace.
wt_in() { local h=$1; shift; ip netns exec "$(wt_ns "$h")" "$@"; }

# wt_on HOST CMD...: CMD in HOST's network namespace with HOST's private base_dir.
wt_on() {
    local h=$1; shift
    ip netns exec "$(wt_ns "$h")" unshare --mount --propagation private \
        sh -c 'mount --bind "$1" "$2" && shift 2 && exec "$@"' sh \
        "$WT_DIR/hosts/$h/base" "$WT_DIR/base" "$@"
}

# _wt_run_alive PID: true when PID is a live (non-zombie) run of this test.
_wt_run_alive() {
    h_starttime "$1" >/dev/null || return 1
    case $(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) in
        *test_walkthrough*) return 0 ;;
    esac
    return 1
}

# _wt_kill_ns_pids NS: stop whatever runs in namespace NS (TERM, 3 s, KILL).
# Prints the pids that were found.
_wt_kill_ns_pids() {
    local pids deadline
    pids=$(ip netns pids "$1" 2>/dev/null | tr '\n' ' ')
    [ -z "${pids// /}" ] && return 0
    echo "$pids"
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null
    deadline=$(( $(_wt_now_ms) + 3000 ))
    while [ -n "$(ip netns pids "$1" 2>/dev/null)" ] && [ "$(_wt_now_ms)" -lt "$deadline" ]; do
        sleep 0.05
    done
    pids=$(ip netns pids "$1" 2>/dev/null | tr '\n' ' ')
    # shellcheck disable=SC2086
    [ -n "${pids// /}" ] && kill -KILL $pids 2>/dev/null
    return 0
}

# wt_clean_leftovers: remove namespaces, routes and temp dirs of dead runs.
wt_clean_leftovers() {
    local ns pid pids metric d
    while read -r ns _; do
        [[ $ns =~ ^rmgr-t-([0-9]+)-(mgr|redis[1-4])$ ]] || continue
        pid=${BASH_REMATCH[1]}
        { [ "$pid" = $$ ] || _wt_run_alive "$pid"; } && continue
        pids=$(_wt_kill_ns_pids "$ns")
        ip netns del "$ns" 2>/dev/null &&
            echo "# removed namespace $ns of a dead run${pids:+ (stopped pids $pids)}"
    done < <(ip netns list 2>/dev/null)
    while read -r line; do
        [[ $line =~ metric\ ([0-9]+) ]] || continue
        metric=${BASH_REMATCH[1]}
        _wt_run_alive "$metric" && continue
        ip route del blackhole "$WT_SUBNET" proto "$WT_ROUTE_PROTO" metric "$metric" 2>/dev/null &&
            echo "# removed the blackhole route of a dead run ($metric)"
    done < <(ip route show proto "$WT_ROUTE_PROTO" 2>/dev/null | grep "^blackhole $WT_SUBNET ")
    for d in "${TMPDIR:-/tmp}"/rmgr-walkthrough-*-??????; do
        [ -d "$d" ] && [ ! -e "$d/.kept" ] || continue
        [[ ${d##*/} =~ ^rmgr-walkthrough-([0-9]+)- ]] || continue
        { [ "${BASH_REMATCH[1]}" = $$ ] || _wt_run_alive "${BASH_REMATCH[1]}"; } && continue
        rm -rf -- "$d" && echo "# removed $d of a dead run"
    done
    return 0
}

# wt_init: check we can work, clean leftovers, make the temp dir, set traps.
wt_init() {
    h_init "walkthrough-$$"
    WT_DIR=$H_DIR
    WT_OWNER=$BASHPID
    trap wt_cleanup EXIT
    local sig
    for sig in INT TERM HUP; do
        # shellcheck disable=SC2064
        trap "wt_cleanup; trap - $sig EXIT; kill -$sig \$\$" "$sig"
    done
    wt_clean_leftovers
    mkdir -p "$WT_DIR/base" "$WT_DIR/keys" "$WT_DIR/run" "$WT_DIR/out"
    chmod 700 "$WT_DIR/run"
    local h
    for h in "${WT_HOSTS[@]}"; do
        mkdir -p "$WT_DIR/hosts/$h/base" "$WT_DIR/hosts/$h/sshd" "$WT_DIR/hosts/$h/run-sshd"
    done
    chmod 755 "$WT_DIR/hosts"/*/run-sshd
    : >"$WT_DIR/empty-bashrc"
}

# wt_net_up: the route and the five namespaces. Fails with a message.
wt_net_up() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "walkthrough: must run as root (network namespaces, bind mounts, sshd)" >&2
        return 1
    fi
    local e
    if ! e=$(ip route add blackhole "$WT_SUBNET" proto "$WT_ROUTE_PROTO" metric $$ 2>&1); then
        echo "walkthrough: cannot add 'blackhole $WT_SUBNET' in the root namespace: $e" >&2
        return 1
    fi
    WT_ROUTE=1
    case $(ip route get 10.77.0.11 2>&1) in
        blackhole*|*"No route"*|*"Invalid argument"*|*"unreachable"*) ;;
        *) echo "walkthrough: 10.77.0.11 is still routed from the root namespace:" \
                "$(ip route get 10.77.0.11 2>&1)" >&2
           return 1 ;;
    esac
    local h ns i
    for h in "${WT_HOSTS[@]}"; do
        ns=$(wt_ns "$h")
        if ! e=$(ip netns add "$ns" 2>&1); then
            echo "walkthrough: cannot create network namespace '$ns': $e" >&2
            echo "walkthrough: this test needs root with CAP_SYS_ADMIN and CAP_NET_ADMIN" >&2
            return 1
        fi
        WT_NETS+=("$ns")
        ip -n "$ns" link set lo up || return 1
    done
    ns=$(wt_ns mgr)
    ip -n "$ns" link add br0 type bridge &&
        ip -n "$ns" addr add "${WT_IP[mgr]}/24" dev br0 &&
        ip -n "$ns" link set br0 up || {
        echo "walkthrough: cannot make the bridge in '$ns'" >&2; return 1; }
    for i in 1 2 3 4; do
        h=redis$i
        ip -n "$ns" link add "v$h" type veth peer name eth0 netns "$(wt_ns "$h")" &&
            ip -n "$ns" link set "v$h" master br0 &&
            ip -n "$ns" link set "v$h" up &&
            ip -n "$(wt_ns "$h")" addr add "${WT_IP[$h]}/24" dev eth0 &&
            ip -n "$(wt_ns "$h")" link set eth0 up || {
            echo "walkthrough: cannot link $h to the bridge" >&2; return 1; }
    done
}

# wt_keys: the manager's client key, one host key per Redis host,
# authorized_keys and the manager's known_hosts.
wt_keys() {
    local k=$WT_DIR/keys h
    ssh-keygen -q -t ed25519 -N '' -C rmgr-walkthrough-mgr -f "$k/id_ed25519" || return 1
    cp "$k/id_ed25519.pub" "$k/authorized_keys"
    : >"$k/known_hosts"
    for h in "${WT_HOSTS[@]}"; do
        [ "$h" = mgr ] && continue
        ssh-keygen -q -t ed25519 -N '' -C "$h" -f "$WT_DIR/hosts/$h/sshd/ssh_host_ed25519_key" ||
            return 1
        echo "${WT_IP[$h]} $(cut -d' ' -f1,2 "$WT_DIR/hosts/$h/sshd/ssh_host_ed25519_key.pub")" \
            >>"$k/known_hosts"
    done
}

# wt_sshd_start HOST: sshd on HOST:22 in its own mount namespace; wait until it listens.
wt_sshd_start() {
    local h=$1 d=$WT_DIR/hosts/$1/sshd pid deadline
    cat >"$d/sshd_config" <<EOF
# sshd for walk-through host $h (generated by test_walkthrough.sh)
ListenAddress ${WT_IP[$h]}
Port 22
HostKey $d/ssh_host_ed25519_key
PidFile $d/sshd.pid
AuthorizedKeysFile $WT_DIR/keys/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
UseDNS no
MaxStartups 50
Subsystem sftp internal-sftp
EOF
    mkdir -p /run/sshd   # the mount point; each host mounts its own over it
    local bashrc=${HOME:-/root}/.bashrc
    ip netns exec "$(wt_ns "$h")" unshare --mount --propagation private sh -c '
        mount --bind "$1" "$2" && mount --bind "$3" /run/sshd || exit 97
        if [ -f "$4" ]; then mount --bind "$5" "$4" || exit 97; fi
        exec /usr/sbin/sshd -D -f "$6" -E "$7"' sh \
        "$WT_DIR/hosts/$h/base" "$WT_DIR/base" "$WT_DIR/hosts/$h/run-sshd" \
        "$bashrc" "$WT_DIR/empty-bashrc" "$d/sshd_config" "$d/sshd.log" \
        </dev/null >>"$d/stdout" 2>&1 &
    pid=$!
    deadline=$(( $(_wt_now_ms) + 5000 ))
    until grep -qs "Server listening on ${WT_IP[$h]} port 22" "$d/sshd.log"; do
        if ! h_starttime "$pid" >/dev/null || [ "$(_wt_now_ms)" -ge "$deadline" ]; then
            echo "walkthrough: sshd on $h did not start:" >&2
            tail -n 20 "$d/stdout" "$d/sshd.log" >&2 2>/dev/null
            kill -TERM "$pid" 2>/dev/null
            return 1
        fi
        sleep 0.02
    done
    h_track "$pid" sshd || return 1
}

# wt_ssh HOST CMD: run the shell command CMD on HOST as root over ssh, from mgr.
wt_ssh() {
    local h=$1; shift
    wt_in mgr ssh -F /dev/null -i "$WT_DIR/keys/id_ed25519" -o IdentitiesOnly=yes \
        -o BatchMode=yes -o StrictHostKeyChecking=yes -o GlobalKnownHostsFile=/dev/null \
        -o UserKnownHostsFile="$WT_DIR/keys/known_hosts" -o ConnectTimeout=5 \
        "root@${WT_IP[$h]}" "$@"
}

# _wt_pid_in_ns PID HOST: true when PID lives in HOST's network namespace.
_wt_pid_in_ns() {
    local want have
    want=$(stat -L -c %i "/run/netns/$(wt_ns "$2")" 2>/dev/null) || return 1
    have=$(stat -L -c %i "/proc/$1/ns/net" 2>/dev/null) || return 1
    [ "$want" = "$have" ]
}

# wt_daemon_pid HOST KIND PORT: the live pid in KIND-PORT's pidfile on HOST
# (kind redis, sentinel or proxy), checked against program and namespace.
wt_daemon_pid() {
    local f pid expect=redis
    f=$(ls "$WT_DIR/hosts/$1/base"/*/"$2-$3"/*.pid 2>/dev/null | head -n1)
    [ -n "$f" ] || return 1
    [ "$2" = proxy ] && expect=nutcracker
    pid=$(head -n1 "$f" | tr -dc 0-9)
    [ -n "$pid" ] && h_starttime "$pid" >/dev/null && _wt_pid_in_ns "$pid" "$1" || return 1
    case "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) $(cat "/proc/$pid/comm" 2>/dev/null)" in
        *"$expect"*) echo "$pid" ;;
        *) return 1 ;;
    esac
}

# wt_track_daemons: track every daemon rmgr started, found by its pidfile.
wt_track_daemons() {
    local h f kindport pid i known
    for h in "${WT_HOSTS[@]}"; do
        for f in "$WT_DIR/hosts/$h/base"/*/*-*/*.pid; do
            [ -f "$f" ] || continue
            kindport=${f%/*}; kindport=${kindport##*/}
            pid=$(wt_daemon_pid "$h" "${kindport%-*}" "${kindport##*-}") || continue
            known=0
            for i in "${!H_PIDS[@]}"; do [ "${H_PIDS[$i]}" = "$pid" ] && known=1; done
            [ $known = 1 ] || h_track "$pid"
        done
    done
}

# wt_cleanup: stop everything, remove namespaces, route and temp dir (once).
wt_cleanup() {
    [ "${WT_OWNER:-}" = "$BASHPID" ] && [ -n "$WT_DIR" ] || return 0
    local ns pids idx=() i
    wt_track_daemons 2>/dev/null
    for i in "${!H_PIDS[@]}"; do [ -n "${H_PIDS[$i]}" ] && idx+=("$i"); done
    [ ${#idx[@]} -gt 0 ] && _h_stop_indexes "${idx[@]}"
    for ns in "${WT_NETS[@]}"; do
        pids=$(_wt_kill_ns_pids "$ns")
        [ -n "$pids" ] && WT_LEFTOVER+="$ns: $pids; " &&
            echo "walkthrough: untracked processes were left in $ns: $pids" >&2
        ip netns del "$ns" 2>/dev/null || echo "walkthrough: cannot delete namespace $ns" >&2
    done
    WT_NETS=()
    if [ "$WT_ROUTE" = 1 ]; then
        ip route del blackhole "$WT_SUBNET" proto "$WT_ROUTE_PROTO" metric $$ 2>/dev/null ||
            echo "walkthrough: cannot remove the blackhole route" >&2
        WT_ROUTE=0
    fi
    if [ -n "${HARNESS_KEEP:-}" ] && [ "$HARNESS_KEEP" != 0 ]; then
        : >"$WT_DIR/.kept"
    fi
    h_cleanup
    WT_DIR=
}
