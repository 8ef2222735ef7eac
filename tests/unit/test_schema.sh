#!/usr/bin/env bash
# test_schema.sh - schemas/rmgr.schema.json is a valid 2020-12 schema, accepts
# every valid fixture, every warning-only fixture and every specs/*.yaml, and
# rejects each invalid fixture listed in tests/fixtures/spec/invalid/schema-rejects.list.
# Uses the system python (/usr/bin/python3) for its jsonschema and ruamel.yaml modules
# (Debian: python3-jsonschema python3-ruamel.yaml).
set -u
cd "$(dirname "$0")/../.."
exec /usr/bin/python3 - <<'PY'
import glob, json, os, re, sys
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
_yaml = YAML(typ="safe", pure=True)

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

# One change at a time to a valid spec: the schema and `rmgr validate` must
# agree on each (JSON is YAML, so the mutated document is written as JSON).
import copy, subprocess, tempfile
rmgr = os.environ.get("RMGR_BIN") or "build/rmgr"
base = load_yaml12(open("tests/fixtures/spec/valid/minimal.yaml").read())

class Raw:
    """A scalar written into the mutated YAML as is, unquoted: `yes`, `0x10`."""
    def __init__(self, text):
        self.text = text

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
    text = json.dumps(mark(doc), ensure_ascii=False)
    for i, r in enumerate(raws):
        text = text.replace('"\\u0000raw%d\\u0000"' % i, r)
    return text

P = {"host": "127.0.0.1", "listen": "127.0.0.1:22121"}
mutations = [  # (accepted?, description, top-level keys to merge)
    (True, "home-relative identity", {"defaults": {"ssh": {"identity": "~/.ssh/id"}}}),
    (True, "root base_dir", {"defaults": {"base_dir": "/"}}),
    (True, "ipv6 address", {"shards": [{"name": "a", "master": "[::1]:7001"}]}),
    (True, "host names in addresses", {"hosts": {"h": {"address": "10.1.1.1"}},
                                       "shards": [{"name": "a", "master": "h:7001"}]}),
    (True, "redis.config ints and strings", {"redis": {"config": {"hz": 10, "save": ""}}}),
    (True, "proxy with every field", {"proxies": [dict(P, stats_port=1, hash="crc32a",
        distribution="random", hash_tag="{}", timeout_ms=1, server_retry_timeout_ms=1,
        server_failure_limit=1, auto_eject_hosts=True, preconnect=False)]}),
    (False, "relative base_dir", {"defaults": {"base_dir": "var/lib"}}),
    (False, "dotdot base_dir", {"defaults": {"base_dir": "/var/.."}}),
    (False, "tilde-user path", {"defaults": {"ssh": {"known_hosts": "~bob/kh"}}}),
    (False, "managed directive, any case", {"redis": {"config": {"Port": 1}}}),
    (False, "secret in redis.config", {"redis": {"config": {"requirepass": "x"}}}),
    (False, "secret key at top level", {"password": "x"}),
    (False, "both auth sources", {"auth": {"password_env": "A", "password_file": "/x"}}),
    (False, "no auth source", {"auth": {}}),
    (False, "bad env name", {"auth": {"password_env": "1A"}}),
    (False, "uppercase cluster", {"cluster": "Bad"}),
    (False, "shard name with slash", {"shards": [{"name": "a/b", "master": "127.0.0.1:1"}]}),
    (False, "port 0 in address", {"shards": [{"name": "a", "master": "127.0.0.1:0"}]}),
    (False, "port 65536 in address", {"shards": [{"name": "a", "master": "127.0.0.1:65536"}]}),
    (False, "no port", {"shards": [{"name": "a", "master": "127.0.0.1"}]}),
    (False, "no shards", {"shards": []}),
    (False, "host address not an IP", {"hosts": {"h": {"address": "h.example"}}}),
    (False, "bad transport", {"defaults": {"transport": "telnet"}}),
    (False, "ship not a boolean", {"defaults": {"binaries": {"ship": "yes"}}}),
    (False, "quorum 0", {"sentinel": {"quorum": 0, "nodes": ["127.0.0.1:26379"]}}),
    (False, "quorum a string", {"sentinel": {"quorum": "2", "nodes": ["127.0.0.1:26379"]}}),
    (False, "no sentinel nodes", {"sentinel": {"quorum": 1, "nodes": []}}),
    (False, "unknown hash", {"proxies": [dict(P, hash="fnv")]}),
    (False, "unknown distribution", {"proxies": [dict(P, distribution="ring")]}),
    (False, "hash_tag of one char", {"proxies": [dict(P, hash_tag="{")]}),
    (False, "stats_port 0", {"proxies": [dict(P, stats_port=0)]}),
    (False, "proxy without listen", {"proxies": [{"host": "127.0.0.1"}]}),
    (False, "unknown proxy key", {"proxies": [dict(P, pool="x")]}),
    (False, "control character in config", {"redis": {"config": {"x": "a\nb"}}}),
    # YAML 1.2: yes/no are strings, 0x and 0o are integers, 1e3 is a number
    (False, "ship: yes (a string)", {"defaults": {"binaries": {"ship": Raw("yes")}}}),
    (True, "ship: True", {"defaults": {"binaries": {"ship": Raw("True")}}}),
    (True, "user: yes (a string)", {"defaults": {"ssh": {"user": Raw("yes")}}}),
    (True, "shard name: no (a string)", {"shards": [{"name": Raw("no"), "master": "127.0.0.1:1"}]}),
    (True, "redis.config appendonly: yes", {"redis": {"config": {"appendonly": Raw("yes")}}}),
    (True, "quorum: 0x1", {"sentinel": {"quorum": Raw("0x1"), "nodes": ["127.0.0.1:26379"]}}),
    (True, "ssh port: 0o26", {"defaults": {"ssh": {"port": Raw("0o26")}}}),
    (False, "cluster: 1e3 (a number)", {"cluster": Raw("1e3")}),
    (False, "cluster: 0x1f (an integer)", {"cluster": Raw("0x1f")}),
    (False, "ssh port: .inf", {"defaults": {"ssh": {"port": Raw(".inf")}}}),
    (False, "quorum: 1_0 (a string in YAML 1.2)", {"sentinel": {"quorum": Raw("1_0"), "nodes": ["127.0.0.1:26379"]}}),
]
with tempfile.TemporaryDirectory() as tmp:
    for accepted, desc, change in mutations:
        doc = copy.deepcopy(base)
        doc.update(change)
        text = yaml_text(doc)
        schema_ok = validator.is_valid(load_yaml12(text))
        path = os.path.join(tmp, "m.yaml")
        with open(path, "w") as f:
            f.write(text)
        rc = subprocess.run([rmgr, "validate", path], capture_output=True).returncode
        result(schema_ok == accepted and (rc == 0) == accepted,
               "%s: %s" % ("accepts" if accepted else "rejects", desc),
               "(schema %s, rmgr exit %d)" % ("accepts" if schema_ok else "rejects", rc))

print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
PY
