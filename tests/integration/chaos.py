#!/usr/bin/python3
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


SENTINEL_PASSWORD = None  # with auth: the sentinels demand the password too (run() sets it)


def sentinel_master(port, shard):
    r = one(port, SENTINEL_PASSWORD, "SENTINEL", "get-master-addr-by-name", shard)
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
    r = one(port, SENTINEL_PASSWORD, "SENTINEL", "MASTER", shard, timeout=0.5)
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
    global SENTINEL_PASSWORD
    password = os.environ[cfg["password_env"]]
    SENTINEL_PASSWORD = password
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
