#!/usr/bin/env bash
# bench/41_failover_ssh.sh - failover -> writes back through a proxy reached over ssh
# (run by bench/run.sh).
#
# As 40_failover_local.sh, but the nutcracker lives on host "h1", which rmgr
# reaches over ssh: a private sshd on a free loopback port started by this
# script (generated ed25519 host and client keys, key-only auth, a
# known_hosts holding its key: rmgr verifies it as always), as
# tests/harness_sshd.c does. The redis servers and sentinels are local. In
# one run: `rmgr reconcile --watch` (one ssh session per proxy host kept
# open), bench/agent_min.c (runs next to the proxy, as such agents do) and a
# periodic-only reconcile. Target: --watch p50 ≤ 15 ms (a new ssh session per
# repoint cost ~110 ms).
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
RUNS=${BENCH_RUNS:-12}
# shellcheck source=bench/lib.sh
. bench/lib.sh
# shellcheck source=bench/failover_lib.sh
. bench/failover_lib.sh
fo_init

# the sshd of host h1
K=$DIR/sshd
mkdir -p "$K" /run/sshd
ssh-keygen -q -t ed25519 -N "" -C rmgr-bench -f "$K/host_key" || exit 1
ssh-keygen -q -t ed25519 -N "" -C rmgr-bench -f "$K/client_key" || exit 1
cp "$K/client_key.pub" "$K/authorized_keys"
SSH_PORT=$(bench_free_port)
cat >"$K/sshd_config" <<CONF
Port $SSH_PORT
ListenAddress 127.0.0.1
HostKey $K/host_key
PidFile $K/sshd.pid
AuthorizedKeysFile $K/authorized_keys
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
CONF
echo "[127.0.0.1]:$SSH_PORT $(cut -d' ' -f1,2 "$K/host_key.pub")" >"$K/known_hosts"
/usr/sbin/sshd -D -f "$K/sshd_config" -E "$K/sshd.log" &
FO_EXTRA_PIDS+=($!)
fo_wait_log "$K/sshd.log" "Server listening" 1 || { cat "$K/sshd.log"; exit 1; }

FO_PROXY_HOST=h1
fo_deploy "hosts:
  h1:
    address: 127.0.0.1
    transport: ssh
    ssh:
      port: $SSH_PORT
      user: $(id -un)
      identity: $K/client_key
      known_hosts: $K/known_hosts" || exit 1
before=$(grep -c "Accepted publickey" "$K/sshd.log")
fo_compare "failover -> writes back, proxy over ssh" 15 || exit 1
echo "bench: ssh logins during the three series: $(( $(grep -c "Accepted publickey" "$K/sshd.log") - before ))"
