#!/usr/bin/env bash
# test_chaos.sh - a chaos run (issue 9): `rmgr reconcile --watch --apply`
# keeps a local cluster (3 shards of master + 2 replicas, 3 sentinels with
# quorum 2, one nutcracker with hash murmur, a password) healthy while a
# client INCRs one counter key per shard through the proxy and a shard master
# is SIGKILLed every CHAOS_INTERVAL_S seconds, shards in turn.
#
# Checks:
#   1. no promotion is ever reverted: every sentinel announces exactly one
#      +switch-master per kill of each shard (no extra failover, no
#      fail-back), each from the killed master; and the role:master nodes
#      sampled every ~0.2 s are always Sentinel's latest choice (or the
#      replica being promoted, between the kill and the announcement), and
#      Sentinel's choice never answers role:slave or stops running unkilled;
#      rmgr follows Sentinel without going back either: the daemon repoints
#      the proxies exactly once per failover, each time at Sentinel's new
#      master (its "repointed" log lines), and every failover its runs tell
#      ("failover-observed") names Sentinel's latest choice
#   2. acknowledged writes: the client counts the INCRs acknowledged per key
#      (a failed INCR is retried later, not counted) and the final values are
#      read at the end; lost = acked - final. Redis replicates asynchronously,
#      so a write the master acknowledged just before SIGKILL may not have
#      reached the replica Sentinel promotes: such a loss is reported, not
#      failed, up to a bound of the writes of LOSS_WINDOW_S (1 s) of the
#      client's rate per kill of the shard (at least 20 per kill). A key that
#      vanished, or a final value / INCR reply that fell back further than
#      that (a reverted promotion or a wiped replica would do it), fails
#   3. writes come back after every failover: time from each kill to the
#      first acknowledged write on that shard after its writes failed; none
#      over 30 s; median and max printed
#   4. at the end, the daemon still running, `rmgr plan --detailed-exitcode`
#      exits 0 within 60 s (old masters restarted as replicas, proxies on the
#      new masters); the daemon logged no apply-failed, plan-refused,
#      failover-timeout or cluster-failed, posted no apply-failed to its
#      (loopback) webhook, and exits 0 on SIGTERM
#
# Environment:
#   CHAOS_KILLS=N         kills in the fixed-count mode (default 4, 3-5 for CI)
#   CHAOS_DURATION_S=S    kill until S seconds have passed instead (make soak: 600)
#   CHAOS_INTERVAL_S=S    seconds from one kill to the next (default 6; it must
#                         exceed down-after 2 s + failover ~1.5 s)
#   CHAOS_SHARDS=N        2 or 3 shards (default 3)
#   CHAOS_HUP=0|1         (default 1) after each kill, SIGHUP the daemon (a run at
#                         once) at one phase of the failover, phases in turn: "down"
#                         (0.5 s after the kill), "failover" (a sentinel reports
#                         failover_in_progress), "switching" (two sentinels announced
#                         +switch-master, the leader not yet: the planner sees them
#                         disagree), "settled" (0.5 s after all three); the CI variant
#                         (4 kills) starts a run in each phase once
#   CHAOS_RECONCILE_INTERVAL  the daemon's --interval (default 30s: a few runs at
#                         phases nobody chose)
#   HARNESS_KEEP=1        keep the temp dir (daemon log, chaos.json with every event)
#
# The client, the sentinel subscribers, the role sampler and the killer are
# one Python script (stdlib only, raw RESP over sockets, all to 127.0.0.1),
# bounded in time. Every process started (by the harness or by rmgr) is
# tracked and stopped. Figures are printed at the end.
# shellcheck disable=SC1091,SC2016,SC2034,SC2317  # harness; eval strings and functions run by h_check
set -u
TESTS_DIR=${RMGR_TESTS_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
RMGR=${RMGR_BIN:-$(cd "$TESTS_DIR/.." && pwd)/rmgr}
PY=/usr/bin/python3
. "$TESTS_DIR/harness.sh"
h_init chaos
T0=$(date +%s)

KILLS=${CHAOS_KILLS:-4}
DURATION=${CHAOS_DURATION_S:-}
INTERVAL=${CHAOS_INTERVAL_S:-6}
NSHARDS=${CHAOS_SHARDS:-3}
RC_INTERVAL=${CHAOS_RECONCILE_INTERVAL:-30s}
HUP=${CHAOS_HUP:-1}
DOWN_AFTER_MS=2000   # FIELD-NOTES: 1000 ms gave spurious second failovers
WRITES_BACK_MAX_S=30
CONVERGE_S=60

# a copy of the binary: a rebuild during the run changes nothing under test
cp "$RMGR" "$H_DIR/rmgr" || { echo "FAIL no rmgr binary at $RMGR"; echo "0 passed, 1 failed"; exit 1; }
RMGR=$H_DIR/rmgr

# locks (lock_default_path) and caches stay inside the test directory
export XDG_RUNTIME_DIR=$H_DIR/run XDG_CACHE_HOME=$H_DIR/xdg-cache
mkdir -p "$XDG_RUNTIME_DIR"
export RMGR_REDIS_TEST_PASSWORD="pw-$RANDOM-chaos-$$"
PW=$RMGR_REDIS_TEST_PASSWORD
CLUSTER=chaos
BASE=$H_DIR/base
SPEC=$H_DIR/chaos.yaml
DLOG=$H_DIR/daemon.log
DAEMON=

FIGS=()   # printed at the end
fig() { FIGS+=("$*"); }

# cluster_procs: every process of this cluster (an instance whose pidfile was
# lost included): what listens on one of its ports, or names $BASE in its
# command line (redis and sentinel rewrite theirs, nutcracker keeps it)
ALL_PORTS=()
cluster_procs() {
    local p
    {
        [ ${#ALL_PORTS[@]} -gt 0 ] && ss -Hltnp 2>/dev/null | awk -v want=" ${ALL_PORTS[*]} " '{
            n = split($4, a, ":")
            if (index(want, " " a[n] " ")) {
                s = $0
                while (match(s, /pid=[0-9]+/)) { print substr(s, RSTART + 4, RLENGTH - 4); s = substr(s, RSTART + RLENGTH) }
            }
        }'
        for p in /proc/[0-9]*; do
            case "$( { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null)" in *"$BASE/"*) echo "${p#/proc/}" ;; esac
        done
    } | sort -u | while read -r p; do h_starttime "$p" >/dev/null && echo "$p"; done
}

# orphans: the processes of this cluster that no pidfile names
orphans() {
    local pid named=" "
    for f in "$BASE/$CLUSTER"/*/*.pid; do
        [ -e "$f" ] && named+="$(head -n1 "$f" 2>/dev/null | tr -dc 0-9) "
    done
    for pid in $(cluster_procs); do
        [[ $named == *" $pid "* ]] || echo "$pid"
    done
}

# track_bg PID EXPECT: h_track a background job once it has exec'd EXPECT
track_bg() {
    local i
    for i in $(seq 100); do
        h_track "$1" "$2" 2>/dev/null && return 0
        h_starttime "$1" >/dev/null || break
        sleep 0.05
    done
    h_track "$1" "$2" && return 0
    kill "$1" 2>/dev/null   # our own job, whatever it runs: not left behind
    return 1
}

# stop the daemon first (it restarts what it finds dead), then track what it
# started, then the harness stops everything
chaos_cleanup() {
    local pid
    [ -n "$DAEMON" ] && h_alive "$DAEMON" && h_stop "$DAEMON" >/dev/null 2>&1
    if [ -n "$H_DIR" ]; then
        h_track_cluster "$BASE/$CLUSTER"
        for pid in $(orphans); do
            [[ " ${H_PIDS[*]} " == *" $pid "* ]] || h_track "$pid" 2>/dev/null
        done
    fi
    h_cleanup
}
trap chaos_cleanup EXIT
for sig in INT TERM HUP; do
    # shellcheck disable=SC2064
    trap "chaos_cleanup; trap - $sig EXIT; kill -$sig \$\$" "$sig"
done

print_figures() {
    local f
    echo "# ---- figures"
    for f in "${FIGS[@]}"; do echo "# $f"; done
    echo "# total time $(( $(date +%s) - T0 )) s"
}

fatal() {
    echo "FAIL $*"; H_FAILED=$((H_FAILED + 1))
    [ -s "$DLOG" ] && { echo "# daemon log (last 30 lines):"; tail -n 30 "$DLOG" | sed 's/^/#   /'; }
    print_figures; h_done; exit 1
}

[[ $KILLS =~ ^[1-9][0-9]?$ ]] || fatal "CHAOS_KILLS must be a number of kills (got '$KILLS')"
[[ $INTERVAL =~ ^[1-9][0-9]{0,2}$ ]] || fatal "CHAOS_INTERVAL_S must be whole seconds (got '$INTERVAL')"
[[ $NSHARDS =~ ^[23]$ ]] || fatal "CHAOS_SHARDS must be 2 or 3 (got '$NSHARDS')"
[[ $HUP =~ ^[01]$ ]] || fatal "CHAOS_HUP must be 0 or 1 (got '$HUP')"
[ -z "$DURATION" ] || [[ $DURATION =~ ^[1-9][0-9]{0,5}$ ]] ||
    fatal "CHAOS_DURATION_S must be whole seconds (got '$DURATION')"
[ "$INTERVAL" -gt $(( DOWN_AFTER_MS / 1000 + 2 )) ] ||
    echo "# warning: CHAOS_INTERVAL_S=$INTERVAL is hardly longer than down-after + failover"

# ---------------------------------------------------------------- the chaos script

cat >"$H_DIR/chaos.py" <<'EOF'
"""chaos.py run CONFIG RESULT | report RESULT [DAEMON_LOG [WEBHOOK_LOG]]: see test_chaos.sh."""
import datetime
import json
import os
import re
import signal
import socket
import statistics
import sys
import threading
import time

LOSS_WINDOW_S = 1.0      # writes of this long per kill may be lost (async replication)
LOSS_MIN_PER_KILL = 20
WRITE_PAUSE_S = 0.005    # between two INCRs of one writer
SAMPLE_PAUSE_S = 0.2     # between two rounds of ROLE samples


def now_ms():
    return time.time() * 1000.0


class Err(str):
    """An error reply."""


class Incomplete(Exception):
    pass


def parse(buf, pos):
    nl = buf.find(b"\r\n", pos)
    if nl < 0:
        raise Incomplete
    kind, line, pos = buf[pos:pos + 1], buf[pos + 1:nl], nl + 2
    if kind == b"+":
        return line.decode(), pos
    if kind == b"-":
        return Err(line.decode(errors="replace")), pos
    if kind == b":":
        return int(line), pos
    if kind == b"$":
        n = int(line)
        if n < 0:
            return None, pos
        if len(buf) < pos + n + 2:
            raise Incomplete
        return buf[pos:pos + n].decode(errors="replace"), pos + n + 2
    if kind == b"*":
        n = int(line)
        if n < 0:
            return None, pos
        out = []
        for _ in range(n):
            v, pos = parse(buf, pos)
            out.append(v)
        return out, pos
    raise ValueError("bad reply type %r" % kind)


class Conn:
    def __init__(self, port, password=None, timeout=1.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        if password:
            r = self.cmd("AUTH", password)
            if isinstance(r, Err):
                self.close()
                raise OSError("AUTH refused: %s" % r)

    def send(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.sock.sendall(b"".join(out))

    def reply(self):
        while True:
            try:
                v, pos = parse(self.buf, 0)
                self.buf = self.buf[pos:]
                return v
            except Incomplete:
                pass
            data = self.sock.recv(65536)  # a timeout leaves the buffer as it is
            if not data:
                raise OSError("connection closed")
            self.buf += data

    def cmd(self, *args):
        self.send(*args)
        return self.reply()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def port_of(node):
    return int(node.rsplit(":", 1)[1])


def one(port, password, *args, timeout=1.0):
    """One command on a new connection; an exception's text as Err."""
    try:
        c = Conn(port, password, timeout)
    except (OSError, ValueError) as e:
        return Err("connect: %s" % e)
    try:
        return c.cmd(*args)
    except (OSError, ValueError) as e:
        return Err("io: %s" % e)
    finally:
        c.close()


# ---------------------------------------------------------------- run

class Writer(threading.Thread):
    """INCRs one key through the proxy, one at a time; counts the acknowledged ones."""

    def __init__(self, idx, key, proxy, password, stop):
        super().__init__(daemon=True)
        self.idx, self.key, self.proxy, self.password, self.stop = idx, key, proxy, password, stop
        self.acked = 0
        self.errors = 0
        self.last = 0          # the key starts at 0
        self.drops = []        # [t, last reply, lower reply]: the counter went back
        self.unacked_applied = 0
        self.trans = []        # [t, "ok"|"err", value or error]: state changes
        self.state = None
        self.first_ack = self.last_ack = None
        self.errmsgs = {}

    def run(self):
        conn = None
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn = Conn(self.proxy, self.password, 1.0)
                r = conn.cmd("INCR", self.key)
            except (OSError, ValueError) as e:
                r = Err("%s: %s" % (type(e).__name__, e))
                if conn is not None:
                    conn.close()
                conn = None
            t = now_ms()
            if isinstance(r, int) and not isinstance(r, Err):
                self.acked += 1
                if r <= self.last:
                    self.drops.append([t, self.last, r])
                elif r > self.last + 1:
                    self.unacked_applied += r - self.last - 1
                self.last = r
                if self.first_ack is None:
                    self.first_ack = t
                self.last_ack = t
                if self.state != "ok":
                    self.trans.append([t, "ok", r])
                    self.state = "ok"
                time.sleep(WRITE_PAUSE_S)
            else:
                self.errors += 1
                msg = str(r)[:80]
                self.errmsgs[msg] = self.errmsgs.get(msg, 0) + 1
                if self.state != "err":
                    self.trans.append([t, "err", msg])
                    self.state = "err"
                time.sleep(0.02)
        if conn is not None:
            conn.close()

    def result(self):
        return {"key": self.key, "acked": self.acked, "errors": self.errors,
                "last_reply": self.last, "drops": self.drops,
                "unacked_applied": self.unacked_applied, "trans": self.trans,
                "first_ack": self.first_ack, "last_ack": self.last_ack,
                "errmsgs": self.errmsgs}


class Subscriber(threading.Thread):
    """SUBSCRIBE +switch-master on one sentinel; every message timestamped."""

    def __init__(self, port, password, stop, events, lock):
        super().__init__(daemon=True)
        self.port, self.password, self.stop, self.events, self.lock = port, password, stop, events, lock
        self.ready = threading.Event()
        self.losses = 0

    def run(self):
        auth = None
        while not self.stop.is_set():
            c = None
            try:
                c = Conn(self.port, auth, 1.0)
                c.send("SUBSCRIBE", "+switch-master")
                r = c.reply()
                if isinstance(r, Err):
                    if r.startswith("NOAUTH") and auth is None:
                        auth = self.password
                        continue
                    raise OSError("SUBSCRIBE: %s" % r)
                self.ready.set()
                c.sock.settimeout(0.3)
                while not self.stop.is_set():
                    try:
                        m = c.reply()
                    except socket.timeout:
                        continue
                    if isinstance(m, list) and len(m) == 3 and m[0] == "message":
                        f = m[2].split()
                        if len(f) == 5:
                            with self.lock:
                                self.events.append({"t": now_ms(), "sentinel": self.port,
                                                    "shard": f[0], "old": "%s:%s" % (f[1], f[2]),
                                                    "new": "%s:%s" % (f[3], f[4])})
            except (OSError, ValueError):
                if not self.stop.is_set():
                    self.losses += 1
                    time.sleep(0.2)
            finally:
                if c is not None:
                    c.close()


class Sampler(threading.Thread):
    """ROLE of every node of every shard, round after round."""

    def __init__(self, shards, password, stop):
        super().__init__(daemon=True)
        self.shards, self.password, self.stop = shards, password, stop
        self.samples = []      # [t_start, t_end, shard index, node, role]
        self.conns = {}

    def probe(self, node):
        c = self.conns.get(node)
        try:
            if c is None:
                c = Conn(port_of(node), self.password, 1.0)
                self.conns[node] = c
            r = c.cmd("ROLE")
            if isinstance(r, list) and r and isinstance(r[0], str):
                return r[0]
            return "error"
        except ConnectionRefusedError:
            role = "down"
        except (OSError, ValueError):
            role = "unknown"
        if c is not None:
            c.close()
        self.conns.pop(node, None)
        return role

    def run(self):
        while not self.stop.is_set():
            for si, s in enumerate(self.shards):
                for node in s["nodes"]:
                    ts = now_ms()
                    role = self.probe(node)
                    self.samples.append([ts, now_ms(), si, node, role])
            self.stop.wait(SAMPLE_PAUSE_S)
        for c in self.conns.values():
            c.close()


def sentinel_master(port, shard):
    r = one(port, None, "SENTINEL", "get-master-addr-by-name", shard)
    if isinstance(r, list) and len(r) == 2:
        return "%s:%s" % (r[0], r[1])
    return None


def find_keys(cfg, password, masters, tag):
    """One key per shard: SET through the proxy, see which master has it."""
    px = Conn(cfg["proxy"], password, 2.0)
    keys = [None] * len(masters)
    try:
        for i in range(2000):
            if all(keys):
                break
            k = "chaos:%s:%d" % (tag, i)
            if px.cmd("SET", k, "0") != "OK":
                continue
            owners = [si for si, m in enumerate(masters)
                      if one(port_of(m), password, "EXISTS", k) == 1]
            if len(owners) == 1 and keys[owners[0]] is None:
                keys[owners[0]] = k
            else:
                px.cmd("DEL", k)
    finally:
        px.close()
    return keys


def pid_of(cfg, node):
    """The pid of the redis-server on node, from rmgr's pidfile, checked."""
    port = port_of(node)
    try:
        with open("%s/redis-%d/redis.pid" % (cfg["base"], port)) as f:
            pid = int(f.read().strip())
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError):
        return None
    if "redis-server" not in cmd or (":%d" % port) not in cmd or state in ("Z", "X"):
        return None
    return pid


HUP_PHASES = ["down", "failover", "switching", "settled"]


def failover_running(port, shard):
    r = one(port, None, "SENTINEL", "MASTER", shard, timeout=0.5)
    if not isinstance(r, list):
        return False
    d = dict(zip(r[0::2], r[1::2]))
    return "failover_in_progress" in (d.get("flags") or "")


def is_daemon(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            args = f.read().split(b"\0")
    except OSError:
        return False
    return len(args) > 1 and args[0].endswith(b"rmgr") and args[1] == b"reconcile"


def run(cfg_path, out_path):
    with open(cfg_path) as f:
        cfg = json.load(f)
    password = os.environ[cfg["password_env"]]
    shards = cfg["shards"]
    n = len(shards)
    sentinels = cfg["sentinels"]
    t_begin = now_ms()
    hard_end = t_begin + cfg["hard_limit_s"] * 1000.0
    res = {"t_begin": t_begin, "cfg": {k: v for k, v in cfg.items()}, "notes": [],
           "kills": [], "switches": [], "hups": [], "planned_kills": cfg["kills"],
           "duration_s": cfg["duration_s"], "interval_s": cfg["interval_s"]}
    stop = threading.Event()
    lock = threading.Lock()

    initial = [sentinel_master(sentinels[0], s["name"]) for s in shards]
    res["initial"] = initial
    if not all(initial):
        res["notes"].append("sentinel %d does not name every shard's master: %s"
                            % (sentinels[0], initial))
        return finish(res, out_path)
    keys = find_keys(cfg, password, initial, "%x" % os.getpid())
    res["keys"] = keys
    if not all(keys):
        res["notes"].append("no key found for some shard: %s" % keys)
        return finish(res, out_path)

    subs = [Subscriber(p, password, stop, res["switches"], lock) for p in sentinels]
    for s in subs:
        s.start()
    for s in subs:
        s.ready.wait(10)
    writers = [Writer(i, keys[i], cfg["proxy"], password, stop) for i in range(n)]
    sampler = Sampler(shards, password, stop)
    try:
        if not all(s.ready.is_set() for s in subs):
            res["notes"].append("could not subscribe to every sentinel")
            return
        for w in writers:
            w.start()
        sampler.start()
        deadline = now_ms() + 10000
        while now_ms() < deadline and not all(w.acked > 0 for w in writers):
            time.sleep(0.05)
        if not all(w.acked > 0 for w in writers):
            res["notes"].append("not every writer got a write acknowledged within 10 s")
            return
        time.sleep(2)  # some steady writes first

        def switches_of(si, port):
            with lock:
                return sum(1 for e in res["switches"]
                           if e["shard"] == shards[si]["name"] and e["sentinel"] == port)

        def kills_of(si):
            return sum(1 for k in res["kills"] if k["shard"] == si)

        def ready_to_kill(si):
            """Sentinel's master of the shard, once the last kill's failover is
            announced everywhere and the master has a replica online."""
            if any(switches_of(si, p) < kills_of(si) for p in sentinels):
                return None
            m = sentinel_master(sentinels[0], shards[si]["name"])
            if m is None:
                return None
            r = one(port_of(m), password, "ROLE")
            if not (isinstance(r, list) and len(r) == 3 and r[0] == "master" and r[2]):
                return None
            return m

        start = now_ms()
        i = 0
        while True:
            if cfg["duration_s"]:
                if now_ms() - start >= cfg["duration_s"] * 1000.0:
                    break
            elif i >= cfg["kills"]:
                break
            if now_ms() >= hard_end:
                res["notes"].append("time limit reached after %d kills" % i)
                break
            si = i % n
            wait_end = now_ms() + 30000
            target = pid = None
            while now_ms() < wait_end:
                target = ready_to_kill(si)
                pid = pid_of(cfg, target) if target else None
                if pid:
                    break
                time.sleep(0.1)
            if not pid:
                res["notes"].append("shard %s not ready for kill %d within 30 s (its last failover "
                                    "not announced by every sentinel, or its master %s has no "
                                    "replica online or no pidfile): kills stopped"
                                    % (shards[si]["name"], i + 1, target))
                res["stuck"] = True
                break
            t = now_ms()
            os.kill(pid, signal.SIGKILL)
            res["kills"].append({"t": t, "shard": si, "node": target, "pid": pid})
            i += 1
            next_t = t + cfg["interval_s"] * 1000.0
            # a reconcile run at a chosen phase of this failover (phases in turn)
            phase = HUP_PHASES[(i - 1) % len(HUP_PHASES)] if cfg["hup"] else None
            last_poll = 0.0
            while now_ms() < next_t and now_ms() < hard_end:
                if phase:
                    with lock:
                        told = [e["t"] for e in res["switches"]
                                if e["shard"] == shards[si]["name"] and e["t"] > t]
                    fire = False
                    if phase == "down":
                        fire = now_ms() >= t + 500
                    elif phase == "failover":
                        if told:
                            fire = True  # missed the start: late, but a run all the same
                        elif now_ms() - last_poll >= 50:
                            last_poll = now_ms()
                            fire = any(failover_running(p, shards[si]["name"]) for p in sentinels)
                    elif phase == "switching":
                        fire = len(told) >= 2
                    elif phase == "settled":
                        fire = len(told) >= len(sentinels) and now_ms() >= max(told) + 500
                    if fire:
                        if is_daemon(cfg["daemon_pid"]):
                            os.kill(cfg["daemon_pid"], signal.SIGHUP)
                            res["hups"].append({"t": now_ms(), "kill": i, "phase": phase,
                                                "switched": len(told)})
                        phase = None
                time.sleep(0.02)

        # let the last failovers finish: announced everywhere, writes back on every shard
        settle_end = min(now_ms() + 40000, hard_end)
        while now_ms() < settle_end:
            done = True
            for si in range(n):
                if any(switches_of(si, p) < kills_of(si) for p in sentinels):
                    done = False
                ks = [k for k in res["kills"] if k["shard"] == si]
                w = writers[si]
                if ks and (w.state != "ok" or w.last_ack is None or w.last_ack < ks[-1]["t"] + 100):
                    done = False
            if done:
                break
            time.sleep(0.1)
        time.sleep(2)
    finally:
        stop.set()
        for t in writers + [sampler] + subs:
            if t.is_alive():
                t.join(5)
        res["writers"] = [w.result() for w in writers]
        res["samples"] = sampler.samples
        res["sub_losses"] = [s.losses for s in subs]
        res["t_end"] = now_ms()
        # the final values, through the proxy and from Sentinel's master
        final = []
        for si, k in enumerate(keys):
            v_proxy = v_master = Err("not read")
            end = now_ms() + 10000
            while now_ms() < end:
                v_proxy = one(cfg["proxy"], password, "GET", k)
                if not isinstance(v_proxy, Err):
                    break
                time.sleep(0.2)
            m = sentinel_master(sentinels[0], shards[si]["name"])
            if m:
                v_master = one(port_of(m), password, "GET", k)
            final.append({"proxy": v_proxy, "master": m, "on_master": v_master})
        res["final"] = final
    return finish(res, out_path)


def finish(res, out_path):
    with open(out_path + ".tmp", "w") as f:
        json.dump(res, f)
    os.rename(out_path + ".tmp", out_path)
    return 0


# ---------------------------------------------------------------- report

def report(path, dlog=None, hooklog=None):
    with open(path) as f:
        res = json.load(f)
    cfg = res["cfg"]
    shards = cfg["shards"]
    names = [s["name"] for s in shards]
    n = len(shards)
    t0 = res["t_begin"]
    rel = lambda t: "%.1f s" % ((t - t0) / 1000.0)

    def check(ok, what):
        print("CHECK %d %s" % (1 if ok else 0, what))

    def info(what):
        print("INFO %s" % what)

    def fig(what):
        print("FIG %s" % what)

    for note in res["notes"]:
        info(note)
    kills = res["kills"]
    kills_of = [[k for k in kills if k["shard"] == si] for si in range(n)]
    if res["duration_s"]:
        check(len(kills) > 0 and not res.get("stuck") and not res["notes"],
              "%d kills in %d s, every shard ready for its next kill" % (len(kills), res["duration_s"]))
    else:
        check(len(kills) == res["planned_kills"] and not res["notes"],
              "%d of %d kills done" % (len(kills), res["planned_kills"]))
    if "writers" not in res:
        check(False, "the chaos run did not start (see above)")
        return

    # 1. +switch-master: one per kill on every sentinel, from the killed master
    sentinels = cfg["sentinels"]
    per = {}
    for e in sorted(res["switches"], key=lambda e: e["t"]):
        per.setdefault((e["shard"], e["sentinel"]), []).append(e)
    counts_ok = True
    desc = []
    for si, name in enumerate(names):
        cs = [len(per.get((name, p), [])) for p in sentinels]
        desc.append("%s %d kills: %s" % (name, len(kills_of[si]), "/".join(map(str, cs))))
        if any(c != len(kills_of[si]) for c in cs):
            counts_ok = False
    foreign = sorted({e["shard"] for e in res["switches"]} - set(names))
    check(counts_ok and not foreign,
          "+switch-master per shard = kills of that shard, on each of the %d sentinels "
          "(no extra failover, no fail-back): %s" % (len(sentinels), "; ".join(desc)))
    if not counts_ok or len(kills) <= 6:
        for si, name in enumerate(names):
            for p in sentinels:
                for e in per.get((name, p), []):
                    info("sentinel %d: %s +switch-master %s -> %s at %s"
                         % (p, name, e["old"], e["new"], rel(e["t"])))
    for p, lost in zip(sentinels, res.get("sub_losses", [])):
        if lost:
            info("the subscription to sentinel %d was lost %d times (resubscribed)" % (p, lost))
    # the i-th change of a shard, as the earliest sentinel told it
    changes = []
    change_ok = True
    to_switch = []
    for si, name in enumerate(names):
        lists = [per.get((name, p), []) for p in sentinels]
        ch = []
        for j in range(max(len(l) for l in lists)):
            es = [l[j] for l in lists if j < len(l)]
            first = min(es, key=lambda e: e["t"])
            if any((e["old"], e["new"]) != (first["old"], first["new"]) for e in es):
                change_ok = False
                info("%s change %d: the sentinels announced different switches: %s"
                     % (name, j + 1, [(e["sentinel"], e["old"], e["new"]) for e in es]))
            ch.append(first)
        for j, e in enumerate(ch):
            k = kills_of[si][j] if j < len(kills_of[si]) else None
            if k is None or e["old"] != k["node"] or e["t"] < k["t"] or e["new"] == k["node"] \
                    or e["new"] not in shards[si]["nodes"]:
                change_ok = False
                info("%s change %d (%s -> %s at %s) does not follow a kill of %s"
                     % (name, j + 1, e["old"], e["new"], rel(e["t"]),
                        k["node"] if k else "its master (no such kill)"))
            elif k is not None:
                to_switch.append(e["t"] - k["t"])
        changes.append(ch)
    check(change_ok, "every failover moved the master away from the killed node to a member of its shard")

    # role samples against Sentinel's latest choice
    initial = res["initial"]

    def choice_at(si, t):
        c, since = initial[si], 0.0
        for e in changes[si]:
            if e["t"] <= t:
                c, since = e["new"], e["t"]
        return c, since

    violations = []
    promoting = 0
    samples = res["samples"]
    for ts, te, si, node, role in samples:
        cs, since = choice_at(si, ts)
        ce, _ = choice_at(si, te)
        if role == "master" and node not in (cs, ce):
            nxt = next((e for e in changes[si] if e["t"] > ts), None)
            if nxt is not None and nxt["new"] == node and any(
                    k["node"] == cs and k["t"] <= te and k["t"] < nxt["t"] for k in kills_of[si]):
                promoting += 1
                continue
            violations.append("%s: %s answered role:master at %s while Sentinel's choice was %s"
                              % (names[si], node, rel(ts), cs))
        elif node == cs == ce and role == "slave":
            violations.append("%s: Sentinel's choice %s answered role:slave at %s"
                              % (names[si], node, rel(ts)))
        elif node == cs == ce and role == "down" and not any(
                k["node"] == node and since <= k["t"] <= te for k in kills_of[si]):
            violations.append("%s: Sentinel's choice %s was not running at %s, and was not killed"
                              % (names[si], node, rel(ts)))
    for v in violations[:20]:
        info(v)
    if len(violations) > 20:
        info("... %d more" % (len(violations) - 20))
    per_shard_samples = [sum(1 for s in samples if s[2] == si) for si in range(n)]
    check(not violations and all(per_shard_samples),
          "%d role samples: every role:master node was Sentinel's latest choice or being promoted "
          "(%d samples), and Sentinel's choice never demoted (%d violations)"
          % (len(samples), promoting, len(violations)))

    # rmgr's own view: the watcher repoints the proxies once per failover, at Sentinel's
    # new master, and no notification claims a move Sentinel did not make
    made = {name: [(e["old"], e["new"]) for e in changes[si]] for si, name in enumerate(names)}
    repoints = {name: [] for name in names}
    if dlog:
        with open(dlog, errors="replace") as f:
            for line in f:
                m = re.search(r" repointed cluster=\S+ shard=(\S+) master=(\S+) old_master=(\S+)", line)
                if m:
                    repoints.setdefault(m.group(1), []).append((m.group(3), m.group(2)))
    bad = []
    for name in names:
        if [new for _, new in repoints[name]] != [new for _, new in made[name]]:
            bad.append("%s: Sentinel moved the master %s; the proxies were repointed %s"
                       % (name, " ".join("-> %s" % new for _, new in made[name]) or "never",
                          " ".join("-> %s" % new for _, new in repoints[name]) or "never"))
    for x in bad:
        info(x)
    fig("proxy repoints (daemon log): %d for %d failovers"
        % (sum(len(v) for v in repoints.values()), sum(len(v) for v in made.values())))
    check(not bad, "the daemon repointed the proxies once per failover, each time at Sentinel's "
          "new master")
    # the failovers the daemon's runs tell (log and webhook) name Sentinel's choice then
    claims = []
    if dlog:
        with open(dlog, errors="replace") as f:
            for line in f:
                m = re.match(r"(\S+)Z \S+ failover-observed cluster=\S+ (.*)", line)
                if not m:
                    continue
                t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f").replace(
                    tzinfo=datetime.timezone.utc).timestamp() * 1000.0
                for c in re.finditer(r"shard (\S+) master (\S+) -> (\d+\.\d+\.\d+\.\d+:\d+)",
                                     m.group(2)):
                    claims.append((t, c.group(1), c.group(2), c.group(3)))
    false_claims = []
    for t, shard, old, new in claims:
        if shard in names and new != choice_at(names.index(shard), t)[0]:
            false_claims.append("%s: the daemon told a failover %s -> %s at %s, but Sentinel's "
                                "master was %s" % (shard, old, new, rel(t),
                                                   choice_at(names.index(shard), t)[0]))
    for x in false_claims:
        info(x)
    check(not false_claims, "every failover the daemon's runs told (failover-observed) names "
          "Sentinel's latest choice (%d told)" % len(claims))

    # 2. acknowledged writes against the final values
    writers = res["writers"]
    final = res.get("final", [])
    tot_acked = tot_final = 0
    vanished = []
    over = []
    reset = []
    hups = res.get("hups", [])
    fig("kills: %d (%s), every %d s; +switch-master events: %d (%d sentinels)"
        % (len(kills), ", ".join("%s %d" % (names[si], len(kills_of[si])) for si in range(n)),
           res["interval_s"], len(res["switches"]), len(sentinels)))
    fig("reconcile runs started by SIGHUP during a failover: %d (%s)"
        % (len(hups), ", ".join("%d %s" % (sum(1 for h in hups if h["phase"] == ph), ph)
                                for ph in HUP_PHASES)))
    for si, w in enumerate(writers):
        f = final[si] if si < len(final) else {"proxy": None}
        v = f["proxy"]
        try:
            fv = int(v)
        except (TypeError, ValueError):
            fv = None
        span = ((w["last_ack"] or 0) - (w["first_ack"] or 0)) / 1000.0
        rate = w["acked"] / span if span > 0 else 0.0
        per_kill = max(LOSS_MIN_PER_KILL, int(rate * LOSS_WINDOW_S + 0.999))
        bound = per_kill * max(1, len(kills_of[si]))
        lost_replies = sum(d[1] - d[2] + 1 for d in w["drops"])
        max_drop = max([d[1] - d[2] + 1 for d in w["drops"]] or [0])
        if fv is None:
            vanished.append("%s key %s: final value %r (GET through the proxy), %r on %s"
                            % (names[si], w["key"], v, f.get("on_master"), f.get("master")))
            lost = None
        else:
            lost = w["acked"] - fv
            tot_final += fv
            if lost > bound:
                over.append("%s: lost %d > bound %d" % (names[si], lost, bound))
        if max_drop > per_kill:
            reset.append("%s: an INCR reply fell back by %d (bound %d per kill)"
                         % (names[si], max_drop, per_kill))
        tot_acked += w["acked"]
        fig("%s: acked %d, final %s, lost %s (bound %d = %d kills x %d, %.0f writes/s); by the "
            "INCR replies: %d lost in %d fall-backs, %d applied unacknowledged; %d failed INCRs"
            % (names[si], w["acked"], fv if fv is not None else v,
               lost if lost is not None else "?", bound, max(1, len(kills_of[si])), per_kill,
               rate, lost_replies, len(w["drops"]), w["unacked_applied"], w["errors"]))
        if fv is not None and f.get("on_master") not in (None, v):
            info("%s: the proxy read %s but Sentinel's master %s has %s"
                 % (names[si], v, f.get("master"), f.get("on_master")))
        errs = sorted(w["errmsgs"].items(), key=lambda kv: -kv[1])[:4]
        info("%s failed INCRs: %s" % (names[si], "; ".join("%dx %s" % (c, m) for m, c in errs) or "none"))
    fig("total: acked %d, final %d, lost %d (Redis replicates asynchronously: a write acknowledged "
        "just before a kill can be missing on the promoted replica; tolerated up to %.0f s of "
        "writes per kill)" % (tot_acked, tot_final, tot_acked - tot_final, LOSS_WINDOW_S))
    for x in vanished + over + reset:
        info(x)
    check(not vanished, "every counter key still exists at the end")
    check(not over and not vanished,
          "no key lost more acknowledged writes than %.0f s of writes per kill (acked - final <= bound)"
          % LOSS_WINDOW_S)
    check(not reset, "no INCR reply fell back by more than the bound of one kill (no reset, no wipe)")

    # 3. writes back after every failover
    back = []
    lines = []
    missing = []
    for k in kills:
        tr = writers[k["shard"]]["trans"]
        before = [x for x in tr if x[0] < k["t"]]
        t_err = k["t"] if before and before[-1][1] == "err" else next(
            (x[0] for x in tr if x[0] >= k["t"] and x[1] == "err"), None)
        t_ok = next((x[0] for x in tr if t_err is not None and x[0] > t_err and x[1] == "ok"), None)
        if t_ok is None:
            missing.append("kill of %s (%s) at %s: %s" % (
                k["node"], names[k["shard"]], rel(k["t"]),
                "writes never failed" if t_err is None else "writes never came back"))
        else:
            back.append((t_ok - k["t"]) / 1000.0)
            lines.append((t_ok - k["t"], "kill %s (%s) at %s: writes back after %.2f s" % (
                k["node"], names[k["shard"]], rel(k["t"]), (t_ok - k["t"]) / 1000.0)))
    if len(lines) > 10:
        lines = sorted(lines, reverse=True)[:5]
        info("the 5 slowest of %d kills:" % len(back))
    for _, x in lines:
        info(x)
    for x in missing:
        info(x)
    lim = cfg["writes_back_max_s"]
    if back:
        fig("writes back after a kill: median %.2f s, max %.2f s (%d kills)"
            % (statistics.median(back), max(back), len(back)))
    if to_switch:
        fig("kill to first +switch-master: median %.2f s, max %.2f s"
            % (statistics.median(to_switch) / 1000.0, max(to_switch) / 1000.0))
    check(not missing and back and max(back) <= lim,
          "writes came back after every kill within %d s (max %s)"
          % (lim, "%.2f s" % max(back) if back else "-"))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "run":
        sys.exit(run(sys.argv[2], sys.argv[3]))
    if 3 <= len(sys.argv) <= 5 and sys.argv[1] == "report":
        report(*sys.argv[2:])
        sys.exit(0)
    print(__doc__, file=sys.stderr)
    sys.exit(2)
EOF

# ---------------------------------------------------------------- the cluster

SHARD_NAMES=(alpha beta gamma)
SHARD_YAML=
SHARDS_JSON=
for ((i = 0; i < NSHARDS; i++)); do
    h_free_ports PM PR1 PR2 || fatal "no free port"
    ALL_PORTS+=("$PM" "$PR1" "$PR2")
    SHARD_YAML+="  - name: ${SHARD_NAMES[$i]}
    master: 127.0.0.1:$PM
    replicas: [127.0.0.1:$PR1, 127.0.0.1:$PR2]
"
    SHARDS_JSON+="${SHARDS_JSON:+,}{\"name\":\"${SHARD_NAMES[$i]}\",\"nodes\":[\"127.0.0.1:$PM\",\"127.0.0.1:$PR1\",\"127.0.0.1:$PR2\"]}"
done
h_free_ports S1 S2 S3 PX ST || fatal "no free port"
ALL_PORTS+=("$S1" "$S2" "$S3" "$PX" "$ST")
cat >"$SPEC" <<EOF
cluster: $CLUSTER
defaults:
  transport: local
  base_dir: $BASE
auth:
  password_env: RMGR_REDIS_TEST_PASSWORD
redis:
  config:
    save: ""
    appendonly: "no"
    repl-diskless-sync-delay: 0
shards:
$SHARD_YAML
sentinel:
  quorum: 2
  down_after_ms: $DOWN_AFTER_MS
  failover_timeout_ms: 60000
  nodes: [127.0.0.1:$S1, 127.0.0.1:$S2, 127.0.0.1:$S3]
proxies:
  - host: 127.0.0.1
    listen: 127.0.0.1:$PX
    stats_port: $ST
    hash: murmur
    distribution: ketama
    hash_tag: "{}"
    timeout_ms: 400
EOF

t=$(date +%s%3N)
h_apply "$BASE/$CLUSTER" -f "$SPEC" --auto-approve
h_check "cluster deployed: $NSHARDS shards of master + 2 replicas, 3 sentinels, a proxy ($(( $(date +%s%3N) - t )) ms)" [ "$RC" -eq 0 ]
[ "$RC" -eq 0 ] || { printf '%s\n' "$OUT" | tail -n 20 | sed 's/^/#   /'; fatal "apply failed"; }

# a loopback webhook receiver: what the daemon posts is counted in the figures
HOOKLOG=$H_DIR/hook.log
h_start_webhook "$HOOKLOG" || fatal "webhook receiver did not start"
HOOK_PORT=$H_PORT

"$RMGR" reconcile -f "$SPEC" --watch --apply --interval "$RC_INTERVAL" --state-dir "$H_DIR/state" \
    --webhook "http://127.0.0.1:$HOOK_PORT/hook" --webhook-format generic --webhook-retries 1 \
    --log-level debug --log-file "$DLOG" 2>"$H_DIR/daemon.err" &
DAEMON=$!
track_bg "$DAEMON" rmgr || fatal "the reconcile daemon did not start"
h_check "daemon: subscribed to all 3 sentinels" h_wait_log "$DLOG" "watch-subscribed cluster=$CLUSTER" 3 15
h_check "daemon: its first run found the cluster in sync" h_wait_log "$DLOG" "in-sync cluster=$CLUSTER" 1 30

# ---------------------------------------------------------------- chaos

if [ -n "$DURATION" ]; then
    HARD=$(( DURATION + 180 ))
    echo "# chaos: a master SIGKILLed every $INTERVAL s for $DURATION s ($NSHARDS shards in turn)"
else
    HARD=$(( KILLS * (INTERVAL + 35) + 90 ))
    echo "# chaos: $KILLS masters SIGKILLed, one every $INTERVAL s ($NSHARDS shards in turn)"
fi
cat >"$H_DIR/chaos-config.json" <<EOF
{"proxy": $PX, "password_env": "RMGR_REDIS_TEST_PASSWORD", "shards": [$SHARDS_JSON],
 "sentinels": [$S1, $S2, $S3], "base": "$BASE/$CLUSTER", "kills": $KILLS,
 "duration_s": ${DURATION:-0}, "interval_s": $INTERVAL, "hard_limit_s": $HARD,
 "writes_back_max_s": $WRITES_BACK_MAX_S, "daemon_pid": $DAEMON, "hup": $HUP}
EOF
"$PY" "$H_DIR/chaos.py" run "$H_DIR/chaos-config.json" "$H_DIR/chaos.json" >"$H_DIR/chaos.out" 2>&1 &
CHAOS=$!
track_bg "$CHAOS" chaos.py || fatal "the chaos script did not start"
# rmgr restarts the killed masters: track them as they come (for a cleanup mid-run)
while h_alive "$CHAOS"; do
    sleep 1
    h_track_cluster "$BASE/$CLUSTER"
done
wait "$CHAOS"
CHAOS_RC=$?
h_track_cluster "$BASE/$CLUSTER"
h_check "the chaos script ran to its end" eval '[ "$CHAOS_RC" -eq 0 ] && [ -s "$H_DIR/chaos.json" ]'
[ -s "$H_DIR/chaos.json" ] || { sed 's/^/#   /' "$H_DIR/chaos.out"; fatal "no result from the chaos script"; }

# ---------------------------------------------------------------- 4. the daemon healed everything

t=$(date +%s%3N)
deadline=$(( t + CONVERGE_S * 1000 ))
rcs=
while :; do
    POUT=$("$RMGR" plan -f "$SPEC" --detailed-exitcode --no-color 2>&1)
    PRC=$?
    rcs+="${rcs:+ }$PRC"
    [ "$PRC" -eq 0 ] && break
    [ "$(date +%s%3N)" -ge "$deadline" ] && break
    sleep 1
done
took=$(( $(date +%s%3N) - t ))
h_track_cluster "$BASE/$CLUSTER"
h_check "with the daemon running, plan --detailed-exitcode exits 0 within $CONVERGE_S s (after $took ms; exits: $rcs)" \
    [ "$PRC" -eq 0 ]
[ "$PRC" -eq 0 ] || printf '%s\n' "$POUT" | sed 's/^/#   /'
h_check "no plan in between exited 1 (error or refusal)" eval '[[ " $rcs " != *" 1 "* ]]'
fig "plan --detailed-exitcode after the chaos: exit $PRC after $took ms (exits: $rcs)"

h_check "the daemon is still running (no crash)" h_alive "$DAEMON"
# (twice, a second apart: a short-lived helper such as 'nutcracker -t' is no orphan)
ORPHANS=$(orphans | sort)
sleep 1
ORPHANS=$(comm -12 <(printf '%s\n' "$ORPHANS") <(orphans | sort) | tr '\n' ' ')
ORPHANS=${ORPHANS% }
h_check "rmgr lost track of no process: every redis, sentinel and nutcracker of the cluster is named by its pidfile${ORPHANS:+ (not: $ORPHANS)}" \
    [ -z "$ORPHANS" ]
for pid in $ORPHANS; do echo "#   $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"; done
fig "processes of the cluster at the end: $(cluster_procs | wc -l) (expected $(( NSHARDS * 3 + 4 )): redis, sentinels, nutcracker)"
for ev in apply-failed plan-refused failover-timeout cluster-failed; do
    fig "daemon: $(grep -c " $ev " "$DLOG") $ev"
done
fig "daemon: $(grep -c " failover-in-progress " "$DLOG") failover-in-progress, $(grep -c " apply-succeeded " "$DLOG") apply-succeeded, $(grep -c " repointed " "$DLOG") repointed, $(grep -c " run-done " "$DLOG") runs"
h_check "daemon: no apply-failed, plan-refused, failover-timeout or cluster-failed logged" \
    eval '! grep -E -q " (apply-failed|plan-refused|failover-timeout|cluster-failed) " "$DLOG"'
grep -E " (apply-failed|plan-refused|failover-timeout|cluster-failed) " "$DLOG" | head -n 10 | sed 's/^/#   /'

kill -TERM "$DAEMON"
wait "$DAEMON"
DRC=$?
h_check "SIGTERM: the daemon exits 0" [ "$DRC" -eq 0 ]
DAEMON=
# (what it queued is delivered before it exits)
h_check "daemon: no apply-failed posted" eval '[ "$(h_webhook_count apply-failed)" -eq 0 ]'
NKILLS=$("$PY" -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["kills"]))' "$H_DIR/chaos.json")
# issue 9: one notification per failover: the watcher's, nothing from the runs that heal after it
h_check "webhook: one failover-observed per kill ($(h_webhook_count failover-observed) for $NKILLS)" \
    eval '[ "$(h_webhook_count failover-observed)" -eq "$NKILLS" ]'
h_check "webhook: no drift-found or drift-resolved for the failovers" \
    eval '[ "$(h_webhook_count drift-found)" -eq 0 ] && [ "$(h_webhook_count drift-resolved)" -eq 0 ]'
fig "webhook: $(wc -l <"$HOOKLOG") posts ($(grep -o '"event":"[a-z-]*"' "$HOOKLOG" | cut -d'"' -f4 |
    sort | uniq -c | awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2 }'))"

# ---------------------------------------------------------------- 1-3. the run's figures

while IFS= read -r line; do
    case $line in
        "CHECK "*) ok=${line#CHECK }; what=${ok#? }; ok=${ok%% *}
                   h_check "$what" [ "$ok" = 1 ] ;;
        "FIG "*) fig "${line#FIG }" ;;
        "INFO "*) echo "# ${line#INFO }" ;;
        *) echo "# $line" ;;
    esac
done < <("$PY" "$H_DIR/chaos.py" report "$H_DIR/chaos.json" "$DLOG" "$HOOKLOG" 2>&1)
[ -s "$H_DIR/chaos.out" ] && sed 's/^/# chaos.py: /' "$H_DIR/chaos.out"

h_check "the password appears in no log" \
    eval '! cat "$DLOG" "$H_DIR/daemon.err" "$H_DIR/chaos.out" "$HOOKLOG" | grep -q -F -- "$PW"'

if [ "$H_FAILED" -gt 0 ] && grep -q -E "^[^ ]+ (warn|error) " "$DLOG"; then
    echo "# daemon log (warnings and errors, last 30):"
    grep -E "^[^ ]+ (warn|error) " "$DLOG" | tail -n 30 | sed 's/^/#   /'
fi
print_figures
h_done
