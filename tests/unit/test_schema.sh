#!/usr/bin/env bash
# test_schema.sh - schemas/rmgr.schema.json says what `rmgr validate` says.
#
#  1. The schema is a valid 2020-12 schema; it accepts every valid fixture, every
#     warning-only fixture and every specs/*.yaml, and rejects the invalid fixtures
#     listed in tests/fixtures/spec/invalid/schema-rejects.list.
#  2. Mutations: a valid spec (BASE) changed in one place per loader rule. For EVERY
#     mutation the schema and `rmgr validate` must agree (both accept or both
#     reject), and agree with the verdict written next to it.
#  3. Checks that need the whole spec (undefined hosts, an address used twice...)
#     are rmgr's alone: the schema accepts those mutations and rmgr rejects them.
#  4. The test itself: each constraint of the schema is removed in turn (in
#     memory), and some mutation must then tell the weakened schema from rmgr. A
#     constraint no mutation depends on is untested, and fails this test.
#
# YAML is read as YAML 1.2 (core schema) on both sides. Uses the system python
# (/usr/bin/python3): Debian packages python3-jsonschema and python3-ruamel.yaml.
set -u
cd "$(dirname "$0")/../.."
exec /usr/bin/python3 - <<'PY'
import copy, glob, json, os, re, subprocess, sys, tempfile
from jsonschema import Draft202012Validator
from ruamel.yaml import YAML

passed = failed = 0
def result(ok, name, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok  ", name)
    else:
        failed += 1
        print("FAIL", name, detail)

schema = json.load(open("schemas/rmgr.schema.json"))
try:
    Draft202012Validator.check_schema(schema)
    result(True, "schema is a valid 2020-12 schema")
except Exception as e:  # SchemaError
    result(False, "schema is a valid 2020-12 schema", str(e).splitlines()[0])
validator = Draft202012Validator(schema)

# ------------------------------------------------------------------------------
# YAML 1.2 core schema, as rmgr reads YAML: ruamel.yaml parses, and plain scalars
# are typed here with the core schema's own patterns (ruamel's resolver adds
# forms the core schema lacks: 1_000, 0b1, dates). Quoted scalars are strings;
# keys are text, as in JSON. `yes`, `no`, `on`, `off` are strings.
CORE = [
    (re.compile(r"null|Null|NULL|~|"), lambda s: None),
    (re.compile(r"true|True|TRUE"), lambda s: True),
    (re.compile(r"false|False|FALSE"), lambda s: False),
    (re.compile(r"[-+]?[0-9]+"), int),
    (re.compile(r"0o[0-7]+"), lambda s: int(s[2:], 8)),
    (re.compile(r"0x[0-9a-fA-F]+"), lambda s: int(s[2:], 16)),
    (re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?"), float),
    (re.compile(r"[-+]?\.(inf|Inf|INF)"), lambda s: float(s.replace(".", ""))),
    (re.compile(r"\.(nan|NaN|NAN)"), lambda s: float("nan")),
]
_yaml = YAML(typ="safe", pure=True)  # the pure parser is the YAML 1.2 one

def from_node(n):
    kind = type(n).__name__
    if kind == "MappingNode":
        return {k.value: from_node(v) for k, v in n.value}
    if kind == "SequenceNode":
        return [from_node(v) for v in n.value]
    if n.style is None:
        for pattern, convert in CORE:
            if pattern.fullmatch(n.value):
                return convert(n.value)
    return n.value

def load_yaml12(text):
    node = _yaml.compose(text)
    return None if node is None else from_node(node)

# ------------------------------------------------------------------------------
# 1. fixtures
def errors(path):
    with open(path) as f:
        doc = load_yaml12(f.read())
    return sorted(validator.iter_errors(doc), key=lambda e: list(e.path))

inv = "tests/fixtures/spec/invalid/"
must_accept = sorted(glob.glob("tests/fixtures/spec/valid/*.yaml")) + sorted(glob.glob("specs/*.yaml"))
for exp in sorted(glob.glob(inv + "*.expected")):
    case = exp[:-len(".expected")]
    if os.path.isfile(case + ".yaml") and " error: " not in open(exp).read():
        must_accept.append(case + ".yaml")  # warnings only: a valid spec
for path in must_accept:
    errs = errors(path)
    result(not errs, "accepts " + path,
           "; ".join("%s: %s" % ("/".join(map(str, e.path)), e.message[:120]) for e in errs[:3]))

listed = [l.strip() for l in open(inv + "schema-rejects.list") if l.strip() and not l.startswith("#")]
for case in listed:
    path = inv + case + ".yaml"
    if not os.path.isfile(path):
        result(False, "rejects " + path, "(fixture missing)")
        continue
    result(bool(errors(path)), "rejects " + path)

# ------------------------------------------------------------------------------
# 2. mutations of one valid spec
BASE = load_yaml12("""
cluster: mut
hosts:
  h1: { address: 10.0.0.1, transport: ssh,
        ssh: { user: deploy, port: 2222, identity: /etc/rmgr/id, known_hosts: /etc/rmgr/kh } }
  h2: { address: "fd00::2", transport: local }
defaults:
  transport: ssh
  ssh: { user: root, port: 22, identity: ~/.ssh/id_ed25519, known_hosts: ~/.ssh/known_hosts }
  base_dir: /var/lib/rmgr
  binaries: { redis_server: /usr/bin/redis-server, redis_sentinel: /usr/bin/redis-sentinel,
              nutcracker: /usr/sbin/nutcracker, ship: false }
auth: { password_env: RMGR_REDIS_PW }
redis:
  config: { maxmemory: 256mb, appendonly: "yes", hz: 10 }
shards:
  - name: s1
    master: h1:7001
    replicas: [10.0.0.2:7001, "[fd00::2]:7001"]
sentinel:
  quorum: 2
  down_after_ms: 5000
  failover_timeout_ms: 60000
  parallel_syncs: 1
  nodes: [h1:26379, 10.0.0.2:26379, h2:26379]
proxies:
  - host: h1
    listen: 127.0.0.1:22121
    stats_port: 22222
    hash: fnv1a_64
    distribution: ketama
    hash_tag: "{}"
    timeout_ms: 400
    server_retry_timeout_ms: 2000
    server_failure_limit: 1
    auto_eject_hosts: false
    preconnect: true
alerts:
  - { field: used_cpu_user, max: 1 }
  - { field: slowlog_per_sec, min: 0, max: 10, for: 30s, on: masters, name: slowlog }
""")

class Raw:
    """A scalar written into the mutated YAML as is, unquoted: `yes`, `0x10`."""
    def __init__(self, text):
        self.text = text
    def __repr__(self):
        return self.text

DELETE = object()

def apply(doc, path, value):
    """Set (or delete) the value at a dotted path ("shards.0.master"; a tuple when a key has a dot)."""
    if path == "":
        return value  # the whole document
    keys = path.split(".") if isinstance(path, str) else list(path)
    keys = [int(k) if isinstance(k, str) and k.isdigit() else k for k in keys]
    root = doc
    for k in keys[:-1]:
        doc = doc[k]
    if value is DELETE:
        del doc[keys[-1]]
    elif isinstance(doc, list) and keys[-1] == len(doc):
        doc.append(value)
    else:
        doc[keys[-1]] = value
    return root

def yaml_text(doc):
    """The document as YAML text (JSON is YAML): Raw values go in unquoted."""
    raws = []
    def mark(v):
        if isinstance(v, Raw):
            raws.append(v.text)
            return "\0raw%d\0" % (len(raws) - 1)
        if isinstance(v, dict):
            return {k: mark(x) for k, x in v.items()}
        if isinstance(v, list):
            return [mark(x) for x in v]
        return v
    text = json.dumps(mark(doc), ensure_ascii=False).replace("\x7f", "\\u007f")  # not printable in YAML
    for i, r in enumerate(raws):
        text = text.replace('"\\u0000raw%d\\u0000"' % i, r)
    return text

M = []  # (accepted?, description, [(path, value), ...])
def ok(desc, *changes):
    M.append((True, desc, changes))
def no(desc, *changes):
    M.append((False, desc, changes))

# one rule, several fields: the same values at each place the rule applies
PORT_FIELDS = ["defaults.ssh.port", "hosts.h1.ssh.port", "proxies.0.stats_port"]
PATH_FIELDS = ["defaults.ssh.identity", "defaults.ssh.known_hosts", "hosts.h1.ssh.identity",
               "hosts.h1.ssh.known_hosts", "defaults.base_dir", "defaults.binaries.redis_server",
               "defaults.binaries.redis_sentinel", "defaults.binaries.nutcracker"]
ADDR_FIELDS = ["shards.0.master", "shards.0.replicas.0", "sentinel.nodes.0", "proxies.0.listen"]
POSITIVE = ["sentinel.down_after_ms", "sentinel.failover_timeout_ms", "proxies.0.timeout_ms",
            "proxies.0.server_retry_timeout_ms", "proxies.0.server_failure_limit"]
MAPS = ["", "hosts.h1", "hosts.h1.ssh", "defaults", "defaults.ssh", "defaults.binaries", "auth",
        "redis", "shards.0", "sentinel", "proxies.0", "alerts.0"]
def key_in(m, k):
    return (m + "." + k) if m else k

# the valid spec itself, and a few valid variants
ok("the base spec")
no("a spec that is a list", ("", [{"cluster": "mut"}]))
no("a spec that is a string", ("", "cluster: mut"))
ok("no optional sections", ("hosts", DELETE), ("defaults", DELETE), ("auth", DELETE),
   ("redis", DELETE), ("proxies", DELETE), ("shards.0.master", "10.0.0.1:7001"),
   ("shards.0.replicas", DELETE), ("sentinel.nodes", ["10.0.0.1:26379", "10.0.0.2:26379"]))

# cluster
ok("cluster a", ("cluster", "a"))
ok("cluster of digits", ("cluster", "42"))
ok("cluster with inner dash", ("cluster", "a-b-0"))
ok("cluster yes (a string in YAML 1.2)", ("cluster", Raw("yes")))
ok("cluster of 63 characters", ("cluster", "a" * 63))
ok("cluster of one digit", ("cluster", "0"))
ok("cluster with two dashes inside", ("cluster", "a--b"))
no("cluster of 64 characters", ("cluster", "a" * 64))
no("cluster starting with -", ("cluster", "-a"))
no("cluster ending with -", ("cluster", "a-"))
no("cluster -", ("cluster", "-"))
no("cluster with uppercase", ("cluster", "Bad"))
no("cluster with underscore", ("cluster", "a_b"))
no("cluster with a dot", ("cluster", "a.b"))
no("empty cluster", ("cluster", ""))
no("cluster an integer", ("cluster", 5))
no("cluster 1e3 (a number)", ("cluster", Raw("1e3")))
no("cluster 0x1f (an integer)", ("cluster", Raw("0x1f")))
no("cluster null", ("cluster", None))
no("cluster a list", ("cluster", ["a"]))
no("cluster with a trailing newline", ("cluster", "a\n"))  # Python's $ matches before it
no("no cluster", ("cluster", DELETE))

# hosts: names
ok("host name with . _ -", (("hosts", "a.b_c-d"), {"address": "10.0.0.9"}))
ok("host name of 63 characters", ("hosts." + "h" * 63, {"address": "10.0.0.9"}))
no("host name of 64 characters", ("hosts." + "h" * 64, {"address": "10.0.0.9"}))
no("host name with a space", ("hosts.bad host", {"address": "10.0.0.9"}))
no("host name with a slash", ("hosts.a/b", {"address": "10.0.0.9"}))
no("host named password", ("hosts.password", {"address": "10.0.0.9"}))
no("host named my-secret", ("hosts.my-secret", {"address": "10.0.0.9"}))
no("host named Token", ("hosts.Token", {"address": "10.0.0.9"}))
no("host named db-pass", ("hosts.db-pass", {"address": "10.0.0.9"}))
ok("host named as its IPv4 address", (("hosts", "10.0.0.9"), {"address": "10.0.0.9"}))
for n in ["300.1.1.1", "10.0.0", "1.2", "7", "10.0.0.09"]:
    no("host named %s (digits and dots are an IP address)" % n, (("hosts", n), {"address": "10.0.0.9"}))
no("host name with a trailing newline", ("hosts.h9\n", {"address": "10.0.0.9"}))
ok("empty hosts", ("hosts", {}), ("shards.0.master", "10.0.0.1:7001"),
   ("shards.0.replicas", []), ("sentinel.nodes", ["10.0.0.1:26379"]), ("sentinel.quorum", 1),
   ("proxies.0.host", "10.0.0.1"))
no("hosts a list", ("hosts", []))
no("host a string", ("hosts.h9", "10.0.0.9"))
no("host null", ("hosts.h9", None))
# hosts: fields
for a in ["10.0.0.5", "0.0.0.0", "255.255.255.255", "::1", "fd00::5", "1:2:3:4:5:6:7:8",
          "::ffff:10.0.0.5", "1::", "::", "FD00::A"]:
    ok("host address %s" % a, ("hosts.h9", {"address": a}))
for a in ["h.example", "300.0.0.1", "10.0.0", "10.0.0.1.2", "010.0.0.1", "10.0.0.-1",
          "1:2:3:4:5:6:7:8:9", "12345::1", ":::::", "1:2", "1::2::3", "::ffff:1.2.3.04",
          "1:2:3:4:5:6:1.2.3.4:5", "fe80::1%eth0", "[::1]", "1.2.3.4/24", " 10.0.0.1",
          ""]:
    no("host address %r" % a, ("hosts.h9", {"address": a}))
no("host address an integer", ("hosts.h9", {"address": 167772161}))
no("host without address", ("hosts.h9", {"transport": "local"}))
ok("host transport local", ("hosts.h1.transport", "local"))
no("host transport telnet", ("hosts.h1.transport", "telnet"))
no("host transport an integer", ("hosts.h1.transport", 1))
no("host ssh a string", ("hosts.h1.ssh", "root"))

# defaults
ok("transport local", ("defaults.transport", "local"))
no("transport telnet", ("defaults.transport", "telnet"))
no("transport SSH", ("defaults.transport", "SSH"))
no("transport null", ("defaults.transport", None))
no("defaults a list", ("defaults", []))
no("defaults.ssh a list", ("defaults.ssh", []))
no("binaries a string", ("defaults.binaries", "/usr/bin"))
ok("ssh user with . _ -", ("defaults.ssh.user", "a.b_c-d"))
ok("ssh user yes (a string in YAML 1.2)", ("defaults.ssh.user", Raw("yes")))
no("ssh user with a space", ("defaults.ssh.user", "deploy user"))
no("ssh user an integer", ("defaults.ssh.user", 1000))
no("ssh user empty", ("defaults.ssh.user", ""))
ok("ssh user of 63 characters", ("defaults.ssh.user", "u" * 63))
no("ssh user of 64 characters", ("defaults.ssh.user", "u" * 64))
no("ssh user with a trailing newline", ("defaults.ssh.user", "root\n"))
ok("ship true", ("defaults.binaries.ship", True))
ok("ship True", ("defaults.binaries.ship", Raw("True")))
no("ship yes (a string in YAML 1.2)", ("defaults.binaries.ship", Raw("yes")))
no("ship \"true\" (quoted)", ("defaults.binaries.ship", "true"))
no("ship 1", ("defaults.binaries.ship", 1))

# ports (integer fields)
for f in PORT_FIELDS:
    ok("%s 1" % f, (f, 1))
    ok("%s 65535" % f, (f, 65535))
    ok("%s 0x16 (YAML 1.2 hex)" % f, (f, Raw("0x16")))
    ok("%s 0o26 (YAML 1.2 octal)" % f, (f, Raw("0o26")))
    ok("%s 022 (decimal)" % f, (f, Raw("022")))
    no("%s 0" % f, (f, 0))
    no("%s -1" % f, (f, -1))
    no("%s 65536" % f, (f, 65536))
    no("%s \"22\" (quoted)" % f, (f, "22"))
    ok("%s 22.0" % f, (f, 22.0))
    no("%s 65536.0" % f, (f, 65536.0))
    no("%s 22.5" % f, (f, 22.5))
    no("%s .inf" % f, (f, Raw(".inf")))
    no("%s true" % f, (f, True))
    no("%s null" % f, (f, None))

# paths
for f in PATH_FIELDS:
    ok("%s absolute" % f, (f, "/opt/x"))
    ok("%s ~/" % f, (f, "~/x"))
    ok("%s with dots inside names" % f, (f, "/a/..b/c../.d/./e"))
    no("%s relative" % f, (f, "opt/x"))
    no("%s ./" % f, (f, "./x"))
    no("%s ~user/" % f, (f, "~bob/x"))
    no("%s /a/../b" % f, (f, "/a/../b"))
    no("%s ending in /.." % f, (f, "/a/.."))
    no("%s ~/.." % f, (f, "~/.."))
    no("%s /.." % f, (f, "/.."))
    no("%s with a newline" % f, (f, "/a\nb"))
    no("%s with a trailing newline" % f, (f, "/a\n"))
    no("%s with a tab" % f, (f, "/a\tb"))
    no("%s empty" % f, (f, ""))
    no("%s an integer" % f, (f, 5))
ok("base_dir /", ("defaults.base_dir", "/"))
ok("identity ~", ("defaults.ssh.identity", "~"))
ok("password_file absolute", ("auth", {"password_file": "/etc/rmgr/pw"}))
ok("password_file relative to the secrets directory", ("auth", {"password_file": "pw"}))
no("password_file an integer", ("auth", {"password_file": 5}))
no("password_file with ..", ("auth", {"password_file": "/etc/../pw"}))

# auth
ok("password_env RMGR_REDIS_X1", ("auth.password_env", "RMGR_REDIS_X1"))
no("password_env RMGR_GIT_TOKEN", ("auth.password_env", "RMGR_GIT_TOKEN"))
no("password_env RMGR_REDIS_ alone", ("auth.password_env", "RMGR_REDIS_"))
no("password_env starting with a digit", ("auth.password_env", "1X"))
no("password_env with a dash", ("auth.password_env", "A-B"))
no("password_env empty", ("auth.password_env", ""))
no("password_env with a trailing newline", ("auth.password_env", "A\n"))
no("password_env an integer", ("auth.password_env", 5))
no("both auth sources", ("auth.password_file", "/x"))
no("no auth source", ("auth", {}))
no("auth a string", ("auth", "RMGR_REDIS_PW"))
no("auth a list", ("auth", ["RMGR_REDIS_PW"]))
no("auth with only an unknown key", ("auth", {"pasword_file": "/x"}))
no("auth with only a secret", ("auth", {"password": "x"}))

# redis.config
ok("redis.config empty", ("redis.config", {}))
ok("redis.config string", ("redis.config.maxmemory-policy", "allkeys-lru"))
ok("redis.config empty string", ("redis.config.save", ""))
ok("redis.config yes", ("redis.config.appendonly", Raw("yes")))
ok("redis.config true", ("redis.config.appendonly", True))
ok("redis.config float", ("redis.config.x", 1.5))
ok("redis.config negative", ("redis.config.x", -1))
ok("redis.config masteruser", ("redis.config.masteruser", "u"))
ok("redis.config bypass (not a -pass)", ("redis.config.bypass", "1"))
ok("redis.config passive (not a password)", ("redis.config.passive", "1"))
ok("redis.config -pass-through", ("redis.config.x-pass-through", "1"))
for k in ["tls-key-file-pass", "tls-client-key-file-pass", "TLS-KEY-FILE-PASS", "foo_pass", "x-Pass"]:
    no("redis.config %s (a secret)" % k, ("redis.config." + k, "x"))
no("redis.config null", ("redis.config.save", None))
no("redis.config list", ("redis.config.save", ["900 1"]))
no("redis.config mapping", ("redis.config.save", {"a": 1}))
no("redis.config newline inside", ("redis.config.x", "a\nb"))
no("redis.config trailing newline", ("redis.config.x", "a\n"))
no("redis.config key with a trailing newline", ("redis.config.x\n", "a"))
no("redis.config DEL", ("redis.config.x", "a\x7fb"))
no("redis.config key with a space", ("redis.config.max memory", "1mb"))
no("redis.config key with a dot", (("redis", "config", "a.b"), "1"))
for k in ["port", "Port", "bind", "dir", "daemonize", "pidfile", "logfile", "replicaof", "SLAVEOF",
          "include", "requirepass", "masterauth"]:
    no("redis.config %s (managed)" % k, ("redis.config." + k, "x"))
no("redis.config a list", ("redis.config", []))
no("redis a list", ("redis", []))

# secrets: in every map, and a few spellings
for m in MAPS + ["redis.config"]:
    for k in ["password", "Passwd", "secret", "token", "auth-pass", "sentinel_pass", "client-secret",
              "tls-key-file-pass"]:
        no("secret key %s in %s" % (k, m or "top level"), (key_in(m, k), "x"))

# unknown keys: at each level, and what look like typos
for m in MAPS:
    no("unknown key in %s" % (m or "top level"), (key_in(m, "bogus"), 1))
no("unknown key replica", ("shards.0.replica", []))
no("unknown key passwordenv", ("auth.passwordenv", "X"))
no("unknown key down_after", ("sentinel.down_after", 5000))

# shards
ok("shard name with . _ -", ("shards.0.name", "a.b_c-d"))
ok("shard name no (a string in YAML 1.2)", ("shards.0.name", Raw("no")))
no("shard name with a slash", ("shards.0.name", "a/b"))
no("shard name empty", ("shards.0.name", ""))
ok("shard name of 63 characters", ("shards.0.name", "s" * 63))
no("shard name of 64 characters", ("shards.0.name", "s" * 64))
no("shard name with a trailing newline", ("shards.0.name", "s1\n"))
no("shard name an integer", ("shards.0.name", 1))
no("shard without name", ("shards.0.name", DELETE))
no("shard without master", ("shards.0.master", DELETE))
ok("no replicas", ("shards.0.replicas", []))
no("replicas a string", ("shards.0.replicas", "10.0.0.2:7001"))
no("replicas null", ("shards.0.replicas", None))
no("no shards", ("shards", []))
no("shards a mapping", ("shards", {"name": "s1"}))
no("shard a string", ("shards.0", "s1"))
no("no shards key", ("shards", DELETE))

# addresses
for f in ADDR_FIELDS:
    ok("%s IPv4" % f, (f, "10.0.0.7:7007"))
    ok("%s port 65535" % f, (f, "10.0.0.7:65535"))
    ok("%s [IPv6]" % f, (f, "[fd00::7]:7007"))
    ok("%s [IPv4-mapped IPv6]" % f, (f, "[::ffff:10.0.0.7]:7007"))
    no("%s port 0" % f, (f, "10.0.0.7:0"))
    no("%s port 65536" % f, (f, "10.0.0.7:65536"))
    no("%s port 99999999999" % f, (f, "10.0.0.7:99999999999"))
    no("%s port with a leading zero" % f, (f, "10.0.0.7:07007"))
    no("%s port 00" % f, (f, "10.0.0.7:00"))
    no("%s no port" % f, (f, "10.0.0.7"))
    no("%s empty port" % f, (f, "10.0.0.7:"))
    no("%s no host" % f, (f, ":7007"))
    no("%s port +7007" % f, (f, "10.0.0.7:+7007"))
    no("%s port with a space" % f, (f, "10.0.0.7: 7007"))
    no("%s unbracketed IPv6" % f, (f, "fd00::7:7007"))
    no("%s name with a space" % f, (f, "h 1:7007"))
    no("%s two colons" % f, (f, "h1:a:7007"))
    no("%s bad IPv4 300.0.0.1" % f, (f, "300.0.0.1:7007"))
    no("%s IPv4 with a leading zero" % f, (f, "10.0.0.07:7007"))
    no("%s digits and dots, not an IPv4" % f, (f, "10.0.0:7007"))
    no("%s [IPv4]" % f, (f, "[10.0.0.7]:7007"))
    no("%s [name]" % f, (f, "[h1]:7007"))
    no("%s [:::::]" % f, (f, "[:::::]:7007"))
    no("%s [1:2]" % f, (f, "[1:2]:7007"))
    no("%s [IPv6 with 9 groups]" % f, (f, "[1:2:3:4:5:6:7:8:9]:7007"))
    no("%s empty brackets" % f, (f, "[]:7007"))
    no("%s [IPv6] with a zone" % f, (f, "[fe80::1%eth0]:7007"))
    no("%s an integer" % f, (f, 7007))
    no("%s with a newline" % f, (f, "10.0.0.7:7007\nx"))
    no("%s with a trailing newline" % f, (f, "10.0.0.7:7007\n"))
ok("replica by name", ("shards.0.replicas.0", "h2:7002"))
ok("address by a name of 63 characters", ("hosts." + "h" * 63, {"address": "10.0.0.9"}),
   ("shards.0.replicas.0", "h" * 63 + ":7002"))
no("address by a name of 64 characters", ("shards.0.replicas.0", "h" * 64 + ":7002"))
ok("sentinel by IPv6", ("sentinel.nodes.0", "[::1]:26379"))

# sentinel
ok("quorum 1 (a warning only)", ("sentinel.quorum", 1))
ok("quorum 3", ("sentinel.quorum", 3))
ok("quorum 0x2", ("sentinel.quorum", Raw("0x2")))
ok("quorum +2", ("sentinel.quorum", Raw("+2")))
no("quorum 0", ("sentinel.quorum", 0))
no("quorum -1", ("sentinel.quorum", -1))
no("quorum 2147483648", ("sentinel.quorum", 2147483648))
no("quorum \"2\" (quoted)", ("sentinel.quorum", "2"))
ok("quorum 2.0 (no fraction: an integer)", ("sentinel.quorum", 2.0))
ok("quorum 2e0", ("sentinel.quorum", Raw("2e0")))
ok("quorum 20e-1", ("sentinel.quorum", Raw("20e-1")))
no("quorum 0.0", ("sentinel.quorum", 0.0))
no("quorum 1e400", ("sentinel.quorum", Raw("1e400")))
no("quorum .nan", ("sentinel.quorum", Raw(".nan")))
no("quorum 2.5", ("sentinel.quorum", 2.5))
no("quorum 1_0 (a string in YAML 1.2)", ("sentinel.quorum", Raw("1_0")))
no("quorum true", ("sentinel.quorum", True))
no("quorum null", ("sentinel.quorum", None))
no("no quorum", ("sentinel.quorum", DELETE))
for f in POSITIVE:
    ok("%s 1" % f, (f, 1))
    ok("%s 2147483647" % f, (f, 2147483647))
    no("%s 0" % f, (f, 0))
    no("%s 2147483648" % f, (f, 2147483648))
    no("%s \"5\" (quoted)" % f, (f, "5"))
    no("%s 1.5" % f, (f, 1.5))
    ok("%s 5e3" % f, (f, Raw("5e3")))
ok("parallel_syncs 1000", ("sentinel.parallel_syncs", 1000))
ok("parallel_syncs 1e3", ("sentinel.parallel_syncs", Raw("1e3")))
no("parallel_syncs 1001.0", ("sentinel.parallel_syncs", 1001.0))
no("parallel_syncs 0", ("sentinel.parallel_syncs", 0))
no("parallel_syncs 1001", ("sentinel.parallel_syncs", 1001))
no("parallel_syncs true", ("sentinel.parallel_syncs", True))
no("no sentinel nodes", ("sentinel.nodes", []), ("sentinel.quorum", 1))
no("sentinel nodes a string", ("sentinel.nodes", "h1:26379"))
no("no nodes key", ("sentinel.nodes", DELETE))
no("sentinel a list", ("sentinel", []))
no("no sentinel", ("sentinel", DELETE))

# proxies
ok("no proxies", ("proxies", []))
ok("proxy host an IPv4", ("proxies.0.host", "10.0.0.7"))
ok("proxy host an IPv6", ("proxies.0.host", "fd00::7"))
ok("proxy host another name", ("proxies.0.host", "h2"))
no("proxy host a name of 64 characters", ("proxies.0.host", "h" * 64))
no("proxy host with a space", ("proxies.0.host", "bad host"))
no("proxy host [IPv6]", ("proxies.0.host", "[fd00::7]"))
for h in ["300.1.1.1", "10.0.0", "10.0.0.07", ":::::", "1:2", "1::2::3"]:
    no("proxy host %s" % h, ("proxies.0.host", h))
no("proxy host with a port", ("proxies.0.host", "h1:1"))
no("proxy host empty", ("proxies.0.host", ""))
no("proxy host with a trailing newline", ("proxies.0.host", "h1\n"))
no("proxy host an integer", ("proxies.0.host", 1))
no("proxy without host", ("proxies.0.host", DELETE))
no("proxy without listen", ("proxies.0.listen", DELETE))
ok("listen on 0.0.0.0", ("proxies.0.listen", "0.0.0.0:22121"))
for h in ["one_at_a_time", "md5", "crc16", "crc32", "crc32a", "fnv1_64", "fnv1a_64", "fnv1_32",
          "fnv1a_32", "hsieh", "murmur", "jenkins"]:
    ok("hash %s" % h, ("proxies.0.hash", h))
no("hash fnv", ("proxies.0.hash", "fnv"))
no("hash MD5", ("proxies.0.hash", "MD5"))
no("hash null", ("proxies.0.hash", None))
for dist in ["ketama", "modula", "random"]:
    ok("distribution %s" % dist, ("proxies.0.distribution", dist))
no("distribution ring", ("proxies.0.distribution", "ring"))
no("distribution an integer", ("proxies.0.distribution", 1))
ok("hash_tag ab", ("proxies.0.hash_tag", "ab"))
ok("hash_tag no (a string in YAML 1.2)", ("proxies.0.hash_tag", Raw("no")))
no("hash_tag of 1 char", ("proxies.0.hash_tag", "{"))
no("hash_tag of 3 chars", ("proxies.0.hash_tag", "{}}"))
no("hash_tag empty", ("proxies.0.hash_tag", ""))
no("hash_tag an integer", ("proxies.0.hash_tag", 12))
no("hash_tag with a newline", ("proxies.0.hash_tag", "{\n"))
no("hash_tag with a space", ("proxies.0.hash_tag", "{ "))
no("hash_tag of 2 multi-byte chars", ("proxies.0.hash_tag", "éé"))
no("hash_tag of 1 two-byte char", ("proxies.0.hash_tag", "é"))
no("hash_tag with DEL", ("proxies.0.hash_tag", "{\x7f"))
ok("auto_eject_hosts true", ("proxies.0.auto_eject_hosts", True))
no("auto_eject_hosts yes (a string in YAML 1.2)", ("proxies.0.auto_eject_hosts", Raw("yes")))
ok("preconnect false", ("proxies.0.preconnect", False))
no("preconnect no (a string in YAML 1.2)", ("proxies.0.preconnect", Raw("no")))
no("preconnect 0", ("proxies.0.preconnect", 0))
no("proxies a mapping", ("proxies", {"host": "h1"}))
no("proxy a string", ("proxies.0", "h1"))

# alerts
ok("no alerts", ("alerts", DELETE))
ok("empty alerts", ("alerts", []))
no("alerts a mapping", ("alerts", {"field": "used_memory"}))
no("alert a string", ("alerts.0", "used_memory"))
no("alert without field", ("alerts.0", {"max": 1}))
no("alert without min or max", ("alerts.0", {"field": "used_memory"}))
ok("alert with min only", ("alerts.0", {"field": "used_memory", "min": 1}))
for fld in ["used_memory", "mem_fragmentation_ratio", "rate(evicted_keys)", "rate(used_cpu_user)",
            "replication_lag_bytes", "a" * 64]:
    ok("alert field %s" % fld, ("alerts.0.field", fld))
ok("alert field forward_error_per_sec on proxies",
   ("alerts.0", {"field": "forward_error_per_sec", "max": 1, "on": "proxies"}))
ok("alert field server_ejects (on defaults to proxies)", ("alerts.0", {"field": "server_ejects", "max": 0}))
for fld in ["Used_memory", "used memory", "rate(used memory)", "rate()", "rate(a)b", "1abc", "",
            "a" * 65, "used_memory\n", "rate(Used)"]:
    no("alert field %r" % fld, ("alerts.0.field", fld))
no("alert field an integer", ("alerts.0.field", 5))
for v in [0, -3, 1.5, Raw("1e9"), Raw("0x10"), Raw("-0.25")]:
    ok("alert max %r" % v, ("alerts.0.max", v))
for v in ["1", Raw("yes"), None, [1], Raw(".inf"), Raw("-.inf")]:
    no("alert max %r" % v, ("alerts.0.max", v))
no("alert min a string", ("alerts.0.min", "0"))
for v in ["30s", "250ms", "5m", "1h", "30", 0, 45]:
    ok("alert for %r" % v, ("alerts.1.for", v))
for v in ["forever", "5d", "-1s", "1.5s", -1, None, Raw("yes"), "30s\n"]:
    no("alert for %r" % v, ("alerts.1.for", v))
for v in ["all", "masters", "replicas"]:
    ok("alert on %s" % v, ("alerts.1.on", v))
for v in ["master", "Masters", "", 1]:
    no("alert on %r" % v, ("alerts.1.on", v))
ok("alert name with . _ -", ("alerts.1.name", "a.b_c-d"))
no("alert name with a space", ("alerts.1.name", "slow log"))
no("alert name of 64 characters", ("alerts.1.name", "n" * 64))
no("alert name empty", ("alerts.1.name", ""))

# ------------------------------------------------------------------------------
# 3. what needs the whole spec: rmgr rejects, the schema cannot know
WHOLE = [
    ("undefined host", [("shards.0.master", "h9:7001")]),
    ("host name in another case", [("shards.0.master", "H1:7001")]),
    ("address used twice", [("shards.0.replicas.0", "h1:7001")]),
    ("an IPv6 address used twice, spelled two ways",
     [("shards.0.replicas.0", "[fd00:0:0:0:0:0:0:2]:7001")]),
    ("a sentinel on a redis address", [("sentinel.nodes.1", "10.0.0.1:7001")]),
    ("stats port on the listen port", [("proxies.0.stats_port", 22121)]),
    ("quorum above the sentinel count", [("sentinel.quorum", 4)]),
    ("duplicate shard name", [("shards.1", {"name": "s1", "master": "10.0.0.3:7001"})]),
    ("a redis.config directive twice, in two cases", [("redis.config.MaxMemory", "1gb")]),
    ("undefined proxy host", [("proxies.0.host", "h9")]),
    ("a host named as another IPv4 address", [(("hosts", "10.0.0.9"), {"address": "10.0.0.8"})]),
    ("an alert's min above its max", [("alerts.0.min", 2)]),
    ("an alert's max .nan (no JSON Schema keyword rejects NaN)", [("alerts.0.max", Raw(".nan"))]),
    ("two alerts of one name", [("alerts.1.name", "used_cpu_user")]),
    ("a proxy alert on masters", [("alerts.1.field", "forward_error_per_sec")]),
    ("a redis alert on proxies", [("alerts.1.on", "proxies")]),
    ("replication lag on masters", [("alerts.1.field", "replication_lag_bytes")]),
]

rmgr = os.environ.get("RMGR_BIN") or "build/rmgr"
env = dict(os.environ, HOME=tempfile.gettempdir() + "/rmgr-test-schema-no-home")

def verdicts(changes, tmp, name):
    doc = copy.deepcopy(BASE)
    for path, value in changes:
        doc = apply(doc, path, value)
    text = yaml_text(doc)
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    rc = subprocess.run([rmgr, "validate", path], capture_output=True, env=env).returncode
    return load_yaml12(text), rc

def error_words(errs):
    """The schema keywords and names on the way to each error: which constraints matter here."""
    words = set()
    for e in errs:
        words.update(w for w in e.schema_path if isinstance(w, str))
        words |= error_words(e.context or [])
    return words

docs = []  # (description, loaded document, rmgr accepted?, error_words)
with tempfile.TemporaryDirectory() as tmp:
    for i, (accepted, desc, changes) in enumerate(M):
        doc, rc = verdicts(changes, tmp, "m%d.yaml" % i)
        schema_ok = validator.is_valid(doc)
        if schema_ok == (rc == 0):  # only agreements can show a weakened schema
            docs.append((desc, doc, rc == 0, error_words(validator.iter_errors(doc))))
        say = lambda b: "accepts" if b else "rejects"
        result(schema_ok == (rc == 0) == accepted, "%s: %s" % (say(accepted), desc),
               "(schema %s, rmgr %s (exit %d))" % (say(schema_ok), say(rc == 0), rc))
    for i, (desc, changes) in enumerate(WHOLE):
        doc, rc = verdicts(changes, tmp, "w%d.yaml" % i)
        result(validator.is_valid(doc) and rc == 1, "only rmgr rejects: " + desc,
               "(schema %s, rmgr exit %d)" % ("accepts" if validator.is_valid(doc) else "rejects", rc))

# ------------------------------------------------------------------------------
# 4. every constraint of the schema matters to some mutation
CONSTRAINTS = {"pattern", "minimum", "maximum", "minLength", "maxLength", "minItems", "enum",
               "required", "additionalProperties", "propertyNames", "type", "oneOf", "anyOf",
               "allOf", "not", "$ref", "items", "const", "multipleOf", "minProperties",
               "maxProperties"}

def weakenings(node, at=()):
    """Each (path, description) whose removal from the schema loosens or changes it."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k in CONSTRAINTS:
                yield at + (k,)
            if k in ("allOf", "anyOf") and isinstance(v, list):
                for i in range(len(v)):
                    yield at + (k, i)
            if k not in ("enum", "required", "const"):
                yield from weakenings(v, at + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from weakenings(v, at + (i,))

def without(s, path):
    s = copy.deepcopy(s)
    node = s
    for k in path[:-1]:
        node = node[k]
    del node[path[-1]]
    return s

for path in weakenings(schema):
    try:
        v = Draft202012Validator(without(schema, path))
        # the mutations whose errors pass through the removed constraint are tried first
        order = sorted(docs, key=lambda d: -len(d[3].intersection(path)))
        caught = next((desc for desc, doc, rmgr_ok, _ in order if v.is_valid(doc) != rmgr_ok), None)
    except Exception as e:  # a removal that breaks a reference is caught too
        caught = "(%s)" % type(e).__name__
    result(caught is not None, "a mutation notices the schema without /" + "/".join(map(str, path)),
           "(no mutation depends on it: add one)")

print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
PY
