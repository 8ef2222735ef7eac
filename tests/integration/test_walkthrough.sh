#!/usr/bin/env bash
# test_walkthrough.sh - the classic walk-through, automated: four Redis hosts
# and a manager (network namespaces on this machine, see walkthrough/hosts.sh),
# rmgr deploying over real ssh, a failover, the old master coming back as a
# replica, a changed host key that stops the whole run, and everything torn
# down again. contrib/vagrant/README.md is the
# same walk-through by hand on five VMs: keep both in step.
#
# Needs root (namespaces, bind mounts, sshd). When it cannot build the hosts
# it FAILS with the reason; it never skips. HARNESS_KEEP=1 keeps the temp dir.
# shellcheck disable=SC1091,SC2016,SC2034,SC2317  # eval strings and indirect calls
set -u
TESTS_DIR=${RMGR_TESTS_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
RMGR=${RMGR_BIN:-$(cd "$TESTS_DIR/.." && pwd)/rmgr}
. "$TESTS_DIR/harness.sh"
. "$TESTS_DIR/integration/walkthrough/hosts.sh"

T0=$(date +%s)
SHARD1=cluster-redis1 SHARD2=cluster-redis2

# ---------------------------------------------------------------- helpers

# finish: tear everything down, check that nothing is left, print the result.
finish() {
    local pids=() i ns leftover dir=$WT_DIR
    wt_track_daemons 2>/dev/null
    for i in "${!H_PIDS[@]}"; do [ -n "${H_PIDS[$i]}" ] && pids+=("${H_PIDS[$i]}"); done
    wt_cleanup
    echo "# step 6: teardown (${#pids[@]} tracked processes)"
    leftover=
    for i in "${pids[@]}"; do h_starttime "$i" >/dev/null && leftover+=" $i"; done
    h_check "6: every process stopped (sshd, redis, sentinel, nutcracker)" [ -z "$leftover" ]
    h_check "6: no untracked process was left in the namespaces ${WT_LEFTOVER:+($WT_LEFTOVER)}" \
        [ -z "$WT_LEFTOVER" ]
    leftover=
    for ns in $(ip netns list 2>/dev/null | cut -d' ' -f1); do
        case $ns in "$WT_PREFIX"-*) leftover+=" $ns" ;; esac
    done
    h_check "6: namespaces removed" [ -z "$leftover" ]
    h_check "6: blackhole route removed" \
        [ -z "$(ip route show proto "$WT_ROUTE_PROTO" 2>/dev/null | grep " metric $$ *\$")" ]
    if [ -n "${HARNESS_KEEP:-}" ] && [ "$HARNESS_KEEP" != 0 ]; then
        echo "# kept $dir"
    else
        h_check "6: temp dir removed" [ ! -e "$dir" ]
    fi
    echo "# $(( $(date +%s) - T0 )) s"
    h_done
    exit
}

# fatal MESSAGE: count a failure that makes the rest pointless, then finish.
fatal() {
    echo "FAIL $*"
    H_FAILED=$((H_FAILED + 1))
    finish
}

# rmgr ARGS...: rmgr on mgr (its network, its private base_dir); sets OUT
# (stdout), ERR (stderr) and RC. Every output is kept in $WT_DIR/out for the
# secret check.
NRUN=0
rmgr() {
    NRUN=$((NRUN + 1))
    local base=$WT_DIR/out/$NRUN-$1
    wt_on mgr env RMGR_REDIS_PASSWORD="$PW" XDG_RUNTIME_DIR="$WT_DIR/run" NO_COLOR=1 \
        "$RMGR" "$@" </dev/null >"$base.out" 2>"$base.err"
    RC=$?
    OUT=$(cat "$base.out") ERR=$(cat "$base.err")
    echo "\$ rmgr $*   # exit $RC"
    sed 's/^/    /' "$base.out"
    sed 's/^/    stderr: /' "$base.err"
}

# cli HOST PORT ARGS...: redis-cli from mgr to HOST:PORT (HOST: a name or 127.0.0.1).
cli() {
    local ip=${WT_IP[$1]:-$1} port=$2; shift 2
    wt_in mgr env REDISCLI_AUTH="$PW" redis-cli --no-auth-warning -h "$ip" -p "$port" "$@" 2>&1
}
# scli HOST ARGS...: a sentinel from mgr (rmgr deploys them behind the password with auth:).
scli() { local h=$1; shift; wt_in mgr env REDISCLI_AUTH="$PW" redis-cli --no-auth-warning -h "${WT_IP[$h]}" -p 26379 "$@" 2>&1; }
proxy() { cli 127.0.0.1 6379 "$@"; }

# info_field HOST FIELD: one field of INFO replication of HOST's redis.
info_field() { cli "$1" 6379 INFO replication | tr -d '\r' | sed -n "s/^$2://p"; }

# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND every 100 ms.
wait_for() {
    local deadline=$(( $(_wt_now_ms) + $1 * 1000 )); shift
    until "${@:2}"; do
        if [ "$(_wt_now_ms)" -ge "$deadline" ]; then echo "# timed out waiting: $1"; return 1; fi
        sleep 0.1
    done
}

# replica_of HOST MASTER: HOST's redis replicates MASTER with the link up.
replica_of() {
    [ "$(info_field "$1" role)" = slave ] &&
        [ "$(info_field "$1" master_host)" = "${WT_IP[$2]}" ] &&
        [ "$(info_field "$1" master_link_status)" = up ]
}

# sentinels_say SHARD HOST: every sentinel names HOST's redis as SHARD's master.
sentinels_say() {
    local s
    for s in redis1 redis2 redis3 redis4; do
        [ "$(scli "$s" SENTINEL get-master-addr-by-name "$1" | head -n1)" = "${WT_IP[$2]}" ] ||
            return 1
    done
}

# plan_steps: the lines of $OUT that are plan steps with an action (+ ~ - -/+).
plan_steps() { grep -E '^ +(\+|~|-|-/\+) [a-z-]+ ' <<<"$OUT"; }

# ---------------------------------------------------------------- topology

echo "# rmgr: $RMGR"
[ -x "$RMGR" ] || { echo "FAIL rmgr binary '$RMGR' not found (build it first)"; echo "0 passed, 1 failed"; exit 1; }
for prog in ip unshare /usr/sbin/sshd ssh ssh-keygen redis-cli /usr/bin/redis-server \
            /usr/bin/redis-sentinel /usr/sbin/nutcracker; do
    command -v "$prog" >/dev/null ||
        { echo "FAIL '$prog' is not installed"; echo "0 passed, 1 failed"; exit 1; }
done

wt_init
wt_net_up || fatal "cannot build the five hosts (network namespaces): see above"
wt_keys || fatal "cannot generate ssh keys"
for h in redis1 redis2 redis3 redis4; do
    wt_sshd_start "$h" || fatal "sshd on $h did not start"
done
for h in redis1 redis2 redis3 redis4; do
    h_check "topology: ssh to $h lands in its own namespace" \
        [ "$(wt_ssh "$h" "ip -4 -o addr show dev eth0 | awk '{print \$4}'")" = "${WT_IP[$h]}/24" ]
done
# each host sees its own base_dir: a marker written on redis1 is not seen on redis2
wt_ssh redis1 "echo redis1 > '$WT_DIR/base/marker'"
h_check "topology: redis1 and redis2 have separate base_dirs" \
    [ "$(wt_ssh redis2 "cat '$WT_DIR/base/marker' 2>/dev/null || echo none")" = none ]
h_check "topology: redis1's files land in its private dir" \
    [ "$(cat "$WT_DIR/hosts/redis1/base/marker" 2>/dev/null)" = redis1 ]
rm -f "$WT_DIR/hosts/redis1/base/marker"
h_check "topology: the root namespace cannot reach the test subnet (blackhole)" \
    [ -n "$(ip route show "$WT_SUBNET" | grep '^blackhole')" ]

PW=wt-$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
sed "s|@DIR@|$WT_DIR|g" "$TESTS_DIR/integration/walkthrough/spec.yaml.in" >"$WT_DIR/spec.yaml"
SPEC=$WT_DIR/spec.yaml
echo "# hosts ready after $(( $(date +%s) - T0 )) s; spec $SPEC"

# ---------------------------------------------------------------- 1. plan, apply

echo "# step 1: plan and apply on bare hosts"
rmgr validate "$SPEC"
h_check "1: the spec is valid" [ "$RC" = 0 ]

logins() { cat "$WT_DIR"/hosts/redis?/sshd/sshd.log | grep -c 'Accepted publickey for root'; }
before=$(logins)
rmgr plan -f "$SPEC" --detailed-exitcode
h_check "1: plan --detailed-exitcode exits 2 (changes)" [ "$RC" = 2 ]
h_check "1: rmgr plan observed the Redis hosts over ssh" [ "$(logins)" -ge $((before + 4)) ]
if [ "$(logins)" -lt $((before + 4)) ]; then
    saved=("$OUT" "$ERR" "$RC")
    echo "# the plan's ssh connections failed and it does not say why; observe now says:"
    echo "# (one known transient cause: libssh2 1.10 counts its API timeout in whole"
    echo "#  seconds, so a handshake that spans a second boundary can time out at once)"
    rmgr observe -f "$SPEC"
    OUT=${saved[0]} ERR=${saved[1]} RC=${saved[2]}
fi
h_check "1: plan only creates (nothing to change or remove)" \
    [ -z "$(plan_steps | grep -vE '^ +\+ ')" ]
h_check "1: plan ends with '0 to change, 0 to remove'" \
    grep -qE '^Plan: [0-9]+ to add, 0 to change, 0 to remove\.' <<<"$OUT"
for h in redis1 redis2 redis3 redis4; do
    h_check "1: plan starts redis and sentinel on $h" \
        eval '[ "$(plan_steps | grep -cE "\+ start $h:(6379|26379)")" = 2 ]'
done
h_check "1: plan starts the proxy on mgr" eval 'plan_steps | grep -qE "\+ start (mgr|127\.0\.0\.1):6379"'

rmgr apply -f "$SPEC" --auto-approve
h_check "1: apply --auto-approve exits 0" [ "$RC" = 0 ]
h_check "1: apply reports completion" grep -q '^Apply complete' <<<"$OUT"$'\n'"$ERR"
wt_track_daemons
for h in redis1 redis2 redis3 redis4; do
    for kind in redis:6379 sentinel:26379; do
        pid=$(wt_daemon_pid "$h" "${kind%:*}" "${kind#*:}")
        # wt_daemon_pid checks the pid is in $h's namespace: only its sshd starts things there
        h_check "1: ${kind%:*} runs on $h (pid ${pid:-none})" [ -n "$pid" ]
        [ -n "$pid" ] || continue
        h_check "1: ${kind%:*} on $h runs the binary shipped from mgr" \
            eval '[[ $(readlink "/proc/$pid/exe") == "$WT_DIR/base/walkthrough/bin/"* ]]'
    done
done
# Redis's CONFIG REWRITE makes the file 0644 again: the 0750 instance dir
# is what keeps the password from other users
conf=$WT_DIR/hosts/redis1/base/walkthrough/redis-6379/redis.conf
modes="$(stat -c %a "$conf" 2>&1) in $(stat -c %a "${conf%/*}" 2>&1)"
h_check "1: redis.conf (it holds the password) is not readable by others ($modes)" \
    eval '[ -f "$conf" ] && { [ $(( 0$(stat -c %a "${conf%/*}") & 05 )) = 0 ] ||
                             [ $(( 0$(stat -c %a "$conf") & 04 )) = 0 ]; }'
h_check "1: no redis files on mgr" [ ! -e "$WT_DIR/hosts/mgr/base/walkthrough/redis-6379" ]
ppid=$(wt_daemon_pid mgr proxy 6379)
h_check "1: nutcracker runs on mgr (pid ${ppid:-none})" [ -n "$ppid" ]
h_check "1: redis3 replicates redis1" replica_of redis3 redis1
h_check "1: redis4 replicates redis2" replica_of redis4 redis2
h_check "1: redis1 and redis2 are masters" \
    eval '[ "$(info_field redis1 role)$(info_field redis2 role)" = mastermaster ]'
for h in redis1 redis2 redis3 redis4; do
    h_check "1: sentinel on $h monitors both shards (quorum 2)" eval \
        '[ "$(scli $h SENTINEL MASTER $SHARD1 | grep -A1 -x quorum | tail -n1)" = 2 ] &&
         [ "$(scli $h SENTINEL MASTER $SHARD2 | grep -A1 -x quorum | tail -n1)" = 2 ]'
done
[ "$H_FAILED" -eq 0 ] || fatal "the deployment is not complete: the rest would only fail"

# ---------------------------------------------------------------- 2. status

echo "# step 2: status"
rmgr status -f "$SPEC"
h_check "2: status exits 0 (healthy)" [ "$RC" = 0 ]
h_check "2: status ends with '2 shards, 4 sentinels, 1 proxy: all healthy'" \
    [ "$(tail -n1 <<<"$OUT")" = "2 shards, 4 sentinels, 1 proxy: all healthy" ]
rmgr status -f "$SPEC" --json
h_check "2: status --json: healthy, no problems" /usr/bin/python3 -c '
import json, sys
d = json.loads(sys.argv[1])
sys.exit(0 if d["healthy"] is True and not d["problems"] else 1)' "$OUT"

# ---------------------------------------------------------------- 3. keys

echo "# step 3: keys through the proxy"
keys=(a b c d e)
for k in "${keys[@]}"; do
    h_check "3: SET $k through the proxy" [ "$(proxy SET "$k" "value-$k")" = OK ]
done
declare -A REPLICA=([redis1]=redis3 [redis2]=redis4) MASTER_OF=()
on1=0 on2=0
for k in "${keys[@]}"; do
    where=
    for m in redis1 redis2; do [ "$(cli "$m" 6379 EXISTS "$k")" = 1 ] && where+=" $m"; done
    where=${where# }
    h_check "3: key $k is on exactly one master (${where:-none})" \
        [ "$where" = redis1 -o "$where" = redis2 ]
    [ "$where" = redis1 ] || [ "$where" = redis2 ] || continue
    MASTER_OF[$k]=$where
    [ "$where" = redis1 ] && on1=$((on1 + 1)) || on2=$((on2 + 1))
    r=${REPLICA[$where]}
    h_check "3: key $k is also on $where's replica $r" \
        wait_for 5 "$k on $r" eval '[ "$(cli $r 6379 GET $k)" = value-$k ]'
done
h_check "3: both shards got keys ($SHARD1: $on1, $SHARD2: $on2)" [ "$on1" -gt 0 -a "$on2" -gt 0 ]

# ---------------------------------------------------------------- 3b. exec, logs over ssh

# redis-mgr's walk-through ran `rediscmd 'keys "*"'` here to show the keys split
# across the shards; rmgr exec does it over the same transports as apply.
echo "# step 3b: exec and logs over ssh"
rmgr exec -f "$SPEC" -- KEYS '*'
h_check "3b: exec KEYS: exit 0" [ "$RC" = 0 ]
for h in redis1 redis2 redis3 redis4; do
    h_check "3b: exec KEYS: ${WT_IP[$h]}:6379 answers under its address" \
        grep -qE "^${WT_IP[$h]}:6379 (master|replica) " <<<"$OUT"
done
# each key under its master and that master's replica, and nowhere else
for k in "${keys[@]}"; do
    m=${MASTER_OF[$k]:-}
    [ -n "$m" ] || continue
    holders=$(awk -v k="$k" '/^[0-9]/ { who = $1; next } $1 == k || $2 == k { print who }' <<<"$OUT" | sort | tr '\n' ' ')
    want=$(printf '%s\n' "${WT_IP[$m]}:6379" "${WT_IP[${REPLICA[$m]}]}:6379" | sort | tr '\n' ' ')
    h_check "3b: exec KEYS: key $k under $m and ${REPLICA[$m]} only (${holders:-none})" \
        [ "$holders" = "$want" ]
done
rmgr exec -f "$SPEC" --json -- INFO replication
h_check "3b: exec --json INFO replication: 4 objects, 2 masters (role:master in the reply)" \
    /usr/bin/python3 -c '
import json, sys
d = json.loads(sys.argv[1])
roles = sorted(o["role"] for o in d)
masters = sum(1 for o in d if "role:master" in (o.get("reply") or ""))
sys.exit(0 if len(d) == 4 and roles == ["master", "master", "replica", "replica"] and masters == 2 else 1)' "$OUT"
rmgr exec -f "$SPEC" --masters -- SET x y
h_check "3b: exec SET without --allow-write: refused over ssh too, nothing written" \
    eval '[ "$RC" = 1 ] && grep -q "writes or administrates" <<<"$ERR" && [ "$(proxy EXISTS x)" = 0 ]'
rmgr logs -f "$SPEC" --kind redis -n 5
h_check "3b: logs --kind redis: exit 0" [ "$RC" = 0 ]
for h in redis1 redis2 redis3 redis4; do
    n=$(grep -c "^${WT_IP[$h]}:6379 redis | " <<<"$OUT")
    h_check "3b: logs --kind redis: 1..5 lines of $h's redis, read over ssh ($n)" \
        [ "$n" -ge 1 -a "$n" -le 5 ]
done
h_check "3b: logs --kind redis: no line without an instance prefix" \
    eval '! grep -vqE "^[0-9.]+:[0-9]+ redis \| " <<<"$OUT"'
rmgr logs -f "$SPEC" --kind sentinel -n 3
h_check "3b: logs --kind sentinel: the 4 sentinels, nothing else" \
    eval '[ "$RC" = 0 ] && [ "$(grep -oE "^[0-9.]+:26379 sentinel \| " <<<"$OUT" | sort -u | wc -l)" = 4 ] && ! grep -vqE "^[0-9.]+:26379 sentinel \| " <<<"$OUT"'

# ---------------------------------------------------------------- 4. failover

echo "# step 4: stop redis1's Redis over ssh, then plan and apply at once: apply waits for Sentinel"
old=$(wt_daemon_pid redis1 redis 6379)
wt_ssh redis1 "redis-cli -a '$PW' --no-auth-warning -h ${WT_IP[redis1]} -p 6379 shutdown"
h_check "4: redis1's Redis is gone" wait_for 15 "redis1 stops" eval '! h_starttime "$old" >/dev/null'
t=$(_wt_now_ms)

# during the failover: a state to wait on, never an error or a promised demotion
rmgr plan -f "$SPEC" --detailed-exitcode
h_check "4: plan right after the shutdown exits 2 (waiting), not 1" [ "$RC" = 2 ]
h_check "4: plan right after the shutdown refuses nothing" eval '! grep -q "refusing" <<<"$OUT$ERR"'
h_check "4: plan right after the shutdown claims no demotion" eval '! grep -qi "demote" <<<"$OUT$ERR"'
h_check "4: plan says the shard is left to Sentinel" \
    eval 'grep -qE "waiting for Sentinel|Sentinel failover in progress" <<<"$OUT"'

rmgr apply -f "$SPEC" --auto-approve
h_check "4: apply at once exits 0" [ "$RC" = 0 ]
echo "# apply done $(( $(_wt_now_ms) - t )) ms after the shutdown"
h_check "4: apply said what it waited for" grep -q "^wait: $SHARD1: " <<<"$OUT"
AFTER=$(sed -n '/^Sentinel is done; the plan now:/,$p' <<<"$OUT")
h_check "4: apply planned again after the failover" [ -n "$AFTER" ]
h_check "4: every sentinel names redis3 as $SHARD1's master" \
    wait_for 30 "failover to redis3" sentinels_say "$SHARD1" redis3
h_check "4: redis3 is a master" wait_for 10 "redis3 master" eval '[ "$(info_field redis3 role)" = master ]'
h_check "4: the new plan repoints the proxy to redis3" \
    eval 'grep -qE "~ proxy-config " <<<"$AFTER" && grep -qE "$SHARD1 ${WT_IP[redis1]}:6379 -> ${WT_IP[redis3]}:6379" <<<"$AFTER"'
h_check "4: the new plan starts redis1 as a replica of redis3" \
    eval 'grep -E "\+ start redis1:6379" <<<"$AFTER" | grep -q "replica of ${WT_IP[redis3]}:6379"'
h_check "4: apply never makes redis1 a master" \
    eval '! grep -E "^ *[-+~].*redis1:6379" <<<"$OUT" | grep -qiE "as master|replicaof no one"'
h_check "4: apply changes no sentinel" eval '! grep -qE "^ *[-+~/]+ (sentinel-[a-z]+|start) redis[1-4]:26379" <<<"$OUT"'
wt_track_daemons
for k in "${keys[@]}"; do
    h_check "4: GET $k through the proxy" [ "$(proxy GET "$k")" = "value-$k" ]
done
# new writes: a..e again (their shards are known from step 3), and f..j
for k in "${keys[@]}"; do
    h_check "4: SET $k (new value) through the proxy" [ "$(proxy SET "$k" "v2-$k")" = OK ]
done
for k in "${keys[@]}"; do
    m=${MASTER_OF[$k]:-}
    [ "$m" = redis1 ] && m=redis3   # cluster-redis1's master now
    [ -n "$m" ] && h_check "4: the new value of $k is on its shard's master $m" \
        [ "$(cli "$m" 6379 GET "$k")" = "v2-$k" ]
done
for k in f g h i j; do
    h_check "4: SET $k through the proxy" [ "$(proxy SET "$k" "value-$k")" = OK ]
done

# ---------------------------------------------------------------- 5. old master back

echo "# step 5: redis1 back as a replica of redis3"
h_check "5: redis1's Redis runs again" eval '[ -n "$(wt_daemon_pid redis1 redis 6379)" ]'
# started with --replicaof it is a replica at once (from its own config it
# would be a master for ~10 s until Sentinel demoted it: FIELD-NOTES)
h_check "5: redis1 is a replica right after apply" [ "$(info_field redis1 role)" = slave ]
h_check "5: redis1 replicates redis3 with the link up" \
    wait_for 10 "redis1 replicates redis3" replica_of redis1 redis3
for k in "${keys[@]}"; do
    [ "${MASTER_OF[$k]:-}" = redis1 ] || continue
    h_check "5: redis1 has $k as written after the failover" \
        wait_for 5 "$k on redis1" eval '[ "$(cli redis1 6379 GET $k)" = v2-$k ]'
done
h_check "5: every sentinel still names redis3 as $SHARD1's master" sentinels_say "$SHARD1" redis3
rmgr plan -f "$SPEC" --detailed-exitcode
h_check "5: plan --detailed-exitcode exits 0 (no changes)" [ "$RC" = 0 ]
h_check "5: plan proposes no step" [ -z "$(plan_steps)" ]
h_check "5: plan never proposes redis1 as master" \
    eval '! plan_steps | grep -E "redis1:6379" | grep -qiE "master|replicaof"'
h_check "5: all ten keys read back through the proxy" \
    [ "$(for k in a b c d e f g h i j; do proxy GET $k; done | tr '\n' ' ')" = \
      "v2-a v2-b v2-c v2-d v2-e value-f value-g value-h value-i value-j " ]

# ---------------------------------------------------------------- 5b. changed host key

echo "# step 5b: redis2's ssh host key changes while redis4's Redis and the proxy are down"
# A host key that changed is an error of the whole run, not an unreachable host:
# apply must refuse before it changes anything on any host (before the fix it
# warned "files ... could not be checked", started redis4 and the proxy, exit 0).
r4=$(wt_daemon_pid redis4 redis 6379) px=$(wt_daemon_pid mgr proxy 6379)
kill -KILL "$r4" "$px" 2>/dev/null
h_check "5b: redis4's Redis and the proxy are gone" \
    wait_for 10 "redis4 and the proxy stop" eval '! h_starttime "$r4" >/dev/null && ! h_starttime "$px" >/dev/null'
rmgr plan -f "$SPEC"
h_check "5b: plan starts redis4 and the proxy again (on redis4 and mgr, not on redis2)" \
    eval 'plan_steps | grep -qE "\+ start redis4:6379" && plan_steps | grep -qE "\+ start (mgr|127\.0\.0\.1):6379" &&
          ! plan_steps | grep -q redis2'
kh=$WT_DIR/keys/known_hosts
cp "$kh" "$WT_DIR/known_hosts.good"
ssh-keygen -q -t ed25519 -N '' -C impostor -f "$WT_DIR/keys/impostor" || fatal "cannot make a key"
old_fp=$(ssh-keygen -lf "$WT_DIR/keys/impostor.pub" | awk '{print $2}')
new_fp=$(ssh-keygen -lf "$WT_DIR/hosts/redis2/sshd/ssh_host_ed25519_key.pub" | awk '{print $2}')
# known_hosts now has another key for redis2 than the one its sshd offers
awk -v ip="${WT_IP[redis2]}" -v key="$(cut -d' ' -f1,2 "$WT_DIR/keys/impostor.pub")" \
    '$1 == ip { print ip " " key; next } { print }' "$WT_DIR/known_hosts.good" >"$kh"
kh_sum=$(sha256sum <"$kh")
fix="ssh-keygen -R '${WT_IP[redis2]}' -f '$kh'"
# every file on every host (logs, Sentinel's own config and dumps aside: servers write
# those themselves) with its mode, size, mtime and content; every daemon's pid
wt_files() {
    local d
    for d in "$WT_DIR"/hosts/*/base; do
        find "$d" \( -name '*.log' -o -name sentinel.conf -o -name dump.rdb \) -prune -o \
            -printf '%p %y %m %s %T@\n'
        find "$d" -type f ! -name '*.log' ! -name sentinel.conf ! -name dump.rdb -exec sha256sum {} +
    done | sort
}
wt_pids() {
    local h k
    for h in "${WT_HOSTS[@]}"; do
        for k in redis:6379 sentinel:26379 proxy:6379; do
            echo "$h ${k%:*} $(wt_daemon_pid "$h" "${k%:*}" "${k#*:}")"
        done
    done
}
files_before=$(wt_files) pids_before=$(wt_pids)
r2_logins() { grep -c 'Accepted publickey' "$WT_DIR/hosts/redis2/sshd/sshd.log"; }
r2_before=$(r2_logins)
for flag in "" --accept-new-host-keys; do
    rmgr apply -f "$SPEC" --auto-approve ${flag:+"$flag"}
    h_check "5b: apply ${flag:+$flag }exits 1" [ "$RC" = 1 ]
    h_check "5b: apply ${flag:+$flag }names redis2, the key type and both fingerprints" \
        eval 'grep -q "host .redis2." <<<"$ERR" && grep -q "CHANGED" <<<"$ERR" &&
              grep -q ED25519 <<<"$ERR" && grep -qF -- "$old_fp" <<<"$ERR" &&
              grep -qF -- "$new_fp" <<<"$ERR"'
    h_check "5b: apply ${flag:+$flag }says how to fix it ($fix)" \
        eval 'grep -qF -- "$fix" <<<"$ERR" && grep -qF -- --accept-new-host-keys <<<"$ERR"'
    h_check "5b: apply ${flag:+$flag }ran no step" eval '! grep -qE "^\[[0-9]+/[0-9]+\] " <<<"$OUT"'
done
rmgr plan -f "$SPEC" --detailed-exitcode
h_check "5b: plan --detailed-exitcode exits 1 (an error, not drift)" [ "$RC" = 1 ]
h_check "5b: plan names redis2's changed key" eval 'grep -q "host .redis2." <<<"$ERR" && grep -qF -- "$new_fp" <<<"$ERR"'
h_check "5b: no file changed on any host" [ "$(wt_files)" = "$files_before" ]
h_check "5b: no process was started or restarted on any host" [ "$(wt_pids)" = "$pids_before" ]
h_check "5b: redis4's Redis and the proxy are still down" \
    eval '[ -z "$(wt_daemon_pid redis4 redis 6379)" ] && [ -z "$(wt_daemon_pid mgr proxy 6379)" ]'
h_check "5b: known_hosts was not touched" [ "$(sha256sum <"$kh")" = "$kh_sum" ]
h_check "5b: rmgr never logged into redis2" [ "$(r2_logins)" = "$r2_before" ]

cp "$WT_DIR/known_hosts.good" "$kh"
rmgr apply -f "$SPEC" --auto-approve
h_check "5b: with the right key back, apply exits 0" [ "$RC" = 0 ]
wt_track_daemons
h_check "5b: redis4 replicates redis2 again" wait_for 10 "redis4 replicates redis2" replica_of redis4 redis2
h_check "5b: the proxy serves the keys again" \
    [ "$(for k in a b c d e f g h i j; do proxy GET $k; done | tr '\n' ' ')" = \
      "v2-a v2-b v2-c v2-d v2-e value-f value-g value-h value-i value-j " ]
rmgr plan -f "$SPEC" --detailed-exitcode
h_check "5b: plan --detailed-exitcode exits 0 (no changes)" [ "$RC" = 0 ]

h_check "the password never appears in rmgr's output" \
    eval '! grep -rqF -- "$PW" "$WT_DIR/out"'

finish
