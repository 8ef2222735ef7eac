#!/usr/bin/env bash
# test_faults.sh - faults injected into a real local cluster (1 shard master + replica,
# 3 sentinels, 1 proxy, deployed by rmgr apply):
#   1. a sentinel, the proxy and the replica SIGKILLed, and maxmemory changed in the spec:
#      the plan names each one down and plans its start and the config change of the
#      rest; apply converges; the next plan is empty
#   2. rmgr killed -9 in `reconcile --watch --apply` as it repoints the proxy after a
#      failover (SIGSTOPped the moment it logs the failover, then SIGKILLed): the next run
#      repoints the proxy, writes through it reach the promoted master
#   4. a host that stops answering mid-apply (h1 over ssh to a private sshd: rmgr is
#      frozen the moment h1's first step is done, the sshd and its sessions killed, rmgr
#      let go): apply fails with a message naming host 'h1', no step is left half-done on
#      the local host; with the sshd back the next apply finishes and the plan is empty
#   3. the disk full during install-files (as root: a 12 KB tmpfs as base_dir, a cluster
#      of its own): apply fails with ENOSPC named, every config file there is whole (no
#      torn file, no *.rmgr-tmp.* left); with space again the next apply finishes and the
#      plan after it is empty
# shellcheck disable=SC1091,SC2016
set -u
TESTS_DIR=${RMGR_TESTS_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
RMGR=${RMGR_BIN:-$(cd "$TESTS_DIR/.." && pwd)/rmgr}
. "$TESTS_DIR/harness.sh"
h_init faults
export XDG_RUNTIME_DIR=$H_DIR/run XDG_STATE_HOME=$H_DIR/state XDG_CACHE_HOME=$H_DIR/cache
mkdir -p "$XDG_RUNTIME_DIR"
fatal() { echo "FAIL $*"; H_FAILED=$((H_FAILED + 1)); h_done; exit 1; }

spec() { # spec CLUSTER BASE MAXMEMORY PORTS...(master replica s1 s2 s3 proxy stats)
    cat <<EOS
cluster: $1
defaults: { transport: local, base_dir: $2 }
redis:
  config: { maxmemory: $3, save: "", appendonly: "no", repl-diskless-sync-delay: 0 }
shards:
  - name: s1
    master: 127.0.0.1:$4
    replicas: [127.0.0.1:$5]
sentinel:
  quorum: 2
  down_after_ms: 3000
  nodes: [127.0.0.1:$6, 127.0.0.1:$7, 127.0.0.1:$8]
proxies:
  - host: 127.0.0.1
    listen: 127.0.0.1:$9
    stats_port: ${10}
EOS
}
# track_all PORTS...: every daemon listening on one of PORTS, found by its socket (a
# daemon started on a full disk has no pidfile)
track_all() {
    local p pid
    for p in "$@"; do
        pid=$(ss -Hltnp "sport = :$p" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n 1)
        pid=${pid#pid=}
        [ -n "$pid" ] && h_track "$pid" >/dev/null 2>&1
    done
}
# apply_converges WHAT SPEC PORTS...: apply exits 0, its daemons are tracked, the plan after
# it is empty
apply_converges() {
    local what=$1 spec=$2 out rc plan
    shift 2
    out=$("$RMGR" apply -f "$spec" --auto-approve 2>&1); rc=$?
    track_all "$@"
    h_check "$what (exit $rc)" [ "$rc" -eq 0 ]
    [ "$rc" -eq 0 ] || echo "$out" | tail -n 20 | sed 's/^/    /'
    plan=$("$RMGR" plan -f "$spec" 2>&1)
    h_check "then the plan is empty" grep -q "No changes" <<<"$plan"
    grep -q "No changes" <<<"$plan" || echo "$plan" | sed 's/^/    /'
}
pid_on() { ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2; }

# ---------------------------------------------------------------- 1. parts down
ports=()
for _ in 1 2 3 4 5 6 7; do ports+=("$(h_free_port)") || fatal "no free port"; done
read -r M R S1 S2 S3 PX ST <<<"${ports[*]}"
BASE=$H_DIR/base
SPEC=$H_DIR/spec.yaml
spec faults "$BASE" 64mb "${ports[@]}" >"$SPEC"
out=$("$RMGR" apply -f "$SPEC" --auto-approve 2>&1); rc=$?
track_all "${ports[@]}"
h_check "cluster deployed (exit $rc)" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || { echo "$out"; fatal "apply failed"; }
h_wait_ping "$R" >/dev/null

victims=("$(pid_on "$S2")" "$(pid_on "$PX")" "$(pid_on "$R")")
h_check "a sentinel, the proxy and the replica run (${victims[*]})" [ "${#victims[2]}" -gt 0 ]
kill -KILL "${victims[@]}" 2>/dev/null
for _ in $(seq 50); do [ -z "$(pid_on "$PX")$(pid_on "$R")$(pid_on "$S2")" ] && break; sleep 0.1; done
spec faults "$BASE" 48mb "${ports[@]}" >"$SPEC"
plan=$("$RMGR" plan -f "$SPEC" 2>&1); rc=$?
h_check "plan with three parts down: exit 0 (exit $rc)" [ "$rc" -eq 0 ]
for a in "sentinel 127.0.0.1:$S2" "proxy 127.0.0.1:$PX" "redis 127.0.0.1:$R"; do
    port=${a##*:}
    h_check "plan says $a is down" eval 'grep -E "127.0.0.1:$port.*(refused|not running|down)" <<<"$plan" >/dev/null'
    h_check "plan starts $a" eval 'grep -E "start.*127.0.0.1:$port|127.0.0.1:$port.*start" <<<"$plan" >/dev/null'
done
h_check "plan changes maxmemory on the master that runs" \
    eval 'grep -A1 "config-set 127.0.0.1:$M" <<<"$plan" | grep -q "maxmemory .* -> 48mb"'
[ "$H_FAILED" -eq 0 ] || echo "$plan" | sed 's/^/    /'
apply_converges "apply converges" "$SPEC" "${ports[@]}"
h_check "the replica is back and in sync" \
    eval '[[ $(h_cli "$R" INFO replication 2>/dev/null) == *master_link_status:up* ]]'

# ---------------------------------------------------------------- 2. kill -9 in a repoint
DLOG=$H_DIR/daemon.log
"$RMGR" reconcile -f "$SPEC" --watch --apply --interval 1h --log-level debug --log-file "$DLOG" \
    2>"$H_DIR/daemon.err" &
DAEMON=$!
h_track "$DAEMON" rmgr
wait_log() { h_wait_log "$DLOG" "$@"; } # wait_log PATTERN COUNT TIMEOUT_S
h_check "watch: subscribed to the 3 sentinels" wait_log "watch-subscribed cluster=faults" 3 15
h_check "watch: first run done" wait_log "run-done" 1 30
D=$BASE/faults
proxy_conf=$D/proxy-$PX/nutcracker.yml
[ -e "$proxy_conf" ] || proxy_conf=$(find "$D" -name nutcracker.yml | head -n 1)
h_check "the proxy points at the master" grep -q "127.0.0.1:$M:1" "$proxy_conf"
kill -KILL "$(pid_on "$M")"
# polled every 10 ms (h_wait_log sleeps 50 ms): the repoint follows within milliseconds
seen=
for _ in $(seq 3000); do
    grep -q "failover cluster=faults" "$DLOG" 2>/dev/null && { kill -STOP "$DAEMON"; seen=1; break; }
    sleep 0.01
done
h_check "watch: the failover is seen" [ -n "$seen" ]
state=before
grep -q "repointed cluster=faults" "$DLOG" && state=after
kill -KILL "$DAEMON"
wait "$DAEMON" 2>/dev/null
echo "# rmgr killed $state the repoint had finished; nutcracker.yml names: $(grep -o '127.0.0.1:[0-9]*:1' "$proxy_conf" | tr '\n' ' ')"
# Not a check: the "failover" line can come after the repoint under load (seen on a
# loaded machine), so where the kill lands is reported; the checks below hold either way.
# where the kill landed: before nutcracker.yml was rewritten, or between the rewrite and
# the proxy's restart (both must be healed by the next run)
grep -q "127.0.0.1:$R:1" "$proxy_conf" && echo "# (nutcracker.yml already rewritten)"
promoted=
for _ in $(seq 100); do
    [ "$(h_cli "$R" ROLE 2>/dev/null | head -n 1)" = master ] && { promoted=1; break; }
    sleep 0.1
done
h_check "Sentinel promoted the replica" [ -n "$promoted" ]
out=$("$RMGR" reconcile -f "$SPEC" --once --apply 2>&1); rc=$?
track_all "${ports[@]}"
h_check "the next run (reconcile --once --apply) exits 0 (exit $rc)" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || echo "$out" | tail -n 15 | sed 's/^/    /'
h_check "the next run repointed the proxy at the promoted replica" grep -q "127.0.0.1:$R:1" "$proxy_conf"
ok_write=
for _ in $(seq 50); do
    [ "$(h_cli "$PX" SET faults-key v 2>/dev/null)" = OK ] && { ok_write=1; break; }
    sleep 0.1
done
h_check "writes through the proxy reach the promoted master" \
    eval '[ -n "$ok_write" ] && [ "$(h_cli "$R" GET faults-key 2>/dev/null)" = v ]'

# ---------------------------------------------------------------- 4. host unreachable mid-apply
SSHD_DIR=$H_DIR/sshd
mkdir -p "$SSHD_DIR" /run/sshd
chmod 700 "$SSHD_DIR"
ssh-keygen -q -t ed25519 -N '' -f "$SSHD_DIR/host_key" || fatal "ssh-keygen (host key)"
ssh-keygen -q -t ed25519 -N '' -f "$SSHD_DIR/client_key" || fatal "ssh-keygen (client key)"
cp "$SSHD_DIR/client_key.pub" "$SSHD_DIR/authorized_keys"
SSHP=$(h_free_port) || fatal "no free port"
cat >"$SSHD_DIR/sshd_config" <<EOC
Port $SSHP
ListenAddress 127.0.0.1
HostKey $SSHD_DIR/host_key
PidFile $SSHD_DIR/sshd.pid
AuthorizedKeysFile $SSHD_DIR/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
UseDNS no
PrintMotd no
LogLevel INFO
Subsystem sftp internal-sftp
EOC
echo "[127.0.0.1]:$SSHP $(cat "$SSHD_DIR/host_key.pub")" >"$SSHD_DIR/known_hosts"
SSHD_PID=
sshd_start() {
    /usr/sbin/sshd -D -f "$SSHD_DIR/sshd_config" -E "$SSHD_DIR/sshd.log" &
    SSHD_PID=$!
    h_track "$SSHD_PID" sshd || return 1
    local _
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$SSHP") 2>/dev/null && return 0; sleep 0.05; done
    return 1
}
# sshd_kill: the listener and every session it forked (they hold rmgr's connection)
sshd_kill() {
    local kids
    kids=$(ps -o pid= --ppid "$SSHD_PID" 2>/dev/null | tr -d ' ')
    kill -KILL "$SSHD_PID" $kids 2>/dev/null
    local _
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$SSHP") 2>/dev/null || return 0
        sleep 0.05
    done
}
sshd_start || fatal "sshd did not start"
ports3=()
for _ in 1 2 3 4 5 6 7; do ports3+=("$(h_free_port)") || fatal "no free port"; done
read -r M3 R3 S31 S32 S33 PX3 ST3 <<<"${ports3[*]}"
SPEC3=$H_DIR/spec-ssh.yaml
cat >"$SPEC3" <<EOS
cluster: unreach
hosts:
  h1:
    address: 127.0.0.1
    transport: ssh
    ssh: { port: $SSHP, user: $(id -un), identity: $SSHD_DIR/client_key, known_hosts: $SSHD_DIR/known_hosts }
  here: { address: 127.0.0.1, transport: local }
defaults: { transport: local, base_dir: $H_DIR/base3 }
redis:
  config: { maxmemory: 64mb, save: "", appendonly: "no", repl-diskless-sync-delay: 0 }
shards:
  - name: s1
    master: h1:$M3
    replicas: [here:$R3]
sentinel:
  quorum: 2
  down_after_ms: 3000
  nodes: [h1:$S31, here:$S32, here:$S33]
proxies:
  - host: here
    listen: 127.0.0.1:$PX3
    stats_port: $ST3
EOS
AOUT=$H_DIR/apply-unreach.out
"$RMGR" apply -f "$SPEC3" --auto-approve >"$AOUT" 2>&1 &
APID=$!
h_track "$APID" rmgr
frozen=
for _ in $(seq 3000); do
    # h1's first step done: freeze rmgr there, take h1 away, let rmgr go on
    grep -q "install-files h1:$M3 .*done" "$AOUT" 2>/dev/null && { kill -STOP "$APID"; frozen=1; break; }
    sleep 0.01
done
h_check "apply reached h1's first step" [ -n "$frozen" ]
sshd_kill
kill -CONT "$APID"
wait "$APID"; rc=$?
track_all "${ports3[@]}"
out=$(cat "$AOUT")
h_check "apply with h1 gone fails (exit $rc)" [ "$rc" -ne 0 ]
h_check "the error names host 'h1'" grep -q "host 'h1'" <<<"$out"
h_check "the error says plainly that h1 stopped answering, nothing about a key" \
    eval 'grep -q "host .h1. stopped answering" <<<"$out" && ! grep -qi "host key" <<<"$out"'
h_check "the result says what was done" grep -q "Apply failed: [0-9]* done, 1 failed" <<<"$out"
h_check "the result says what was not run" grep -q "Not run:" <<<"$out"
# the other host: no lane left an instance half-done (a sentinel started without its
# monitors, a proxy configured but not restarted)
for p in $S32 $S33; do
    if [ -n "$(pid_on "$p")" ]; then
        h_check "sentinel $p on here runs with its monitor" \
            eval '[ "$(h_cli "$p" SENTINEL MASTERS 2>/dev/null | grep -c "^s1$")" -ge 1 ]'
    fi
done
[ "$H_FAILED" -eq 0 ] || echo "$out" | tail -n 25 | sed 's/^/    /'
sshd_start || fatal "sshd did not start again"
apply_converges "with h1 back the next apply finishes" "$SPEC3" "${ports3[@]}"

# ---------------------------------------------------------------- 3. disk full
if [ "$(id -u)" -ne 0 ]; then
    echo "FAIL disk full: needs root to mount a tmpfs (CI runs as root)"; H_FAILED=$((H_FAILED + 1))
    h_done; exit 1
fi
MNT=$(mktemp -d /tmp/rmgr-faults-tmpfs-XXXXXX)
# the daemons on it are tracked: the harness stops them first, then the tmpfs goes
unmount() {
    local _
    for _ in $(seq 50); do umount "$MNT" 2>/dev/null && break; sleep 0.1; done
    rmdir "$MNT" || echo "FAIL the tmpfs $MNT could not be removed"
}
trap 'h_cleanup; unmount' EXIT
mount -t tmpfs -o size=12k,mode=0700 tmpfs "$MNT" || fatal "cannot mount a tmpfs on $MNT"
ports2=()
for _ in 1 2 3 4 5 6 7; do ports2+=("$(h_free_port)") || fatal "no free port"; done
SPEC2=$H_DIR/spec-full.yaml
spec full "$MNT" 64mb "${ports2[@]}" >"$SPEC2"
out=$("$RMGR" apply -f "$SPEC2" --auto-approve 2>&1); rc=$?
track_all "${ports2[@]}"
h_check "apply on a full disk fails (exit $rc)" [ "$rc" -ne 0 ]
h_check "the error says the disk is full" grep -q "No space left on device" <<<"$out"
[ "$rc" -ne 0 ] && grep -q "No space left" <<<"$out" || echo "$out" | tail -n 15 | sed 's/^/    /'
torn=
for f in $(find "$MNT" -name '*.conf' -o -name '*.yml'); do
    # a whole file rmgr wrote ends with a newline and names its port
    p=$(basename "$(dirname "$f")"); p=${p##*-}
    { [ -s "$f" ] && [ "$(tail -c 1 "$f" | od -An -c | tr -d ' ')" = '\n' ] && grep -q "$p" "$f"; } || torn+=" $f"
done
h_check "no torn config file on the full disk${torn:+:$torn}" [ -z "$torn" ]
left=$(find "$MNT" -name '*.rmgr-tmp.*' -o -name '*.new' | tr '\n' ' ')
h_check "no temporary file left${left:+: $left}" [ -z "$left" ]
mount -o remount,size=64m "$MNT" || fatal "cannot grow the tmpfs"
apply_converges "with space again the next apply finishes" "$SPEC2" "${ports2[@]}"
h_done
