#!/usr/bin/env bash
# test_validate.sh - `rmgr validate` on every spec fixture: stderr must equal
# <case>.expected exactly, the exit code must match (1 when an error is
# expected, 0 for warnings only), and validate must write nothing.
#
# Runs in an empty temporary directory whose `tests` and `specs` are symlinks
# into the repository, so paths in messages are the same relative paths as
# when run from the repository root.
set -u
cd "$(dirname "$0")/../.."
repo=$PWD
RMGR_BIN=${RMGR_BIN:-$repo/build/rmgr}
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run_dir=$work/run
mkdir "$run_dir" "$work/other"
ln -s "$repo/tests" "$run_dir/tests"
ln -s "$repo/specs" "$run_dir/specs"
export HOME=$work/home # must not be created
must_not_exist=/tmp/rmgr-validate-must-not-create # base_dir of valid/full.yaml
rm -rf "$must_not_exist"

# validate ARGS... -> $out, $err, $rc (run from $run_dir, bounded in time against hangs)
validate() {
    out=$(cd "$run_dir" && timeout 20 "$RMGR_BIN" validate "$@" 2>"$work/stderr")
    rc=$?
    err=$(cat "$work/stderr")
}

# check_case NAME PATH EXPECTED_FILE
check_case() {
    local name=$1 path=$2 expected_file=$3 want_rc=0
    grep -q ': error: ' "$expected_file" && want_rc=1
    validate "$path"
    if [ "$err" != "$(cat "$expected_file")" ]; then
        bad "$name: stderr differs"
        diff <(echo "$err") "$expected_file" | sed 's/^/    /'
    elif [ "$rc" -ne "$want_rc" ]; then
        bad "$name: exit $rc, expected $want_rc"
    elif [ "$want_rc" -eq 1 ] && [ -n "$out" ]; then
        bad "$name: printed a summary although the spec has errors"
    else
        ok "$name"
    fi
}

for f in tests/fixtures/spec/invalid/*.yaml; do
    check_case "invalid/$(basename "$f")" "$f" "${f%.yaml}.expected"
done
for d in tests/fixtures/spec/invalid/*/; do
    d=${d%/}
    check_case "invalid/$(basename "$d")/" "$d" "$d.expected"
done

for f in tests/fixtures/spec/valid/*.yaml; do
    validate "$f"
    if [ "$rc" -eq 0 ] && [ -z "$err" ] && [[ $out == "$f: cluster '"*"': "*" shard"* ]]; then
        ok "valid/$(basename "$f")"
    else
        bad "valid/$(basename "$f") (exit $rc)"
        echo "$err" | sed 's/^/    /'
    fi
done

validate tests/fixtures/spec/valid
n=$(echo "$out" | grep -c "cluster '")
if [ "$rc" -eq 0 ] && [ "$n" -eq "$(ls tests/fixtures/spec/valid/*.yaml | wc -l)" ]; then
    ok "a directory validates each file, sorted"
else
    bad "a directory validates each file (exit $rc, $n summaries)"
fi
if [ "$out" = "$(echo "$out" | sort)" ]; then ok "directory order is sorted"; else bad "directory order"; fi

validate specs/
if [ "$rc" -eq 0 ] && echo "$out" | grep -q "^specs/local.yaml: cluster 'local': 2 shards, 4 redis, 3 sentinels, 1 proxy$"; then
    ok "specs/ validates"
else
    bad "specs/ validates (exit $rc)"
    echo "$err" | sed 's/^/    /'
fi

# one file named twice (twice the same path, a directory and a file in it, a
# symlink) is validated once, not reported as a duplicate cluster
ln -s "$repo/specs/local.yaml" "$work/other/link.yaml"
nspecs=$(ls specs/*.yaml | wc -l)
for args in "specs/local.yaml specs/local.yaml" "specs/ specs/local.yaml" "specs/local.yaml $work/other/link.yaml"; do
    # shellcheck disable=SC2086 # word splitting wanted
    validate $args
    n=$(echo "$out" | grep -c "cluster '")
    want=1
    [ "${args%% *}" = specs/ ] && want=$nspecs
    if [ "$rc" -eq 0 ] && ! echo "$err" | grep -q ': error: ' && [ "$n" -eq "$want" ]; then
        ok "validate $args: each file once"
    else
        bad "validate $args: exit $rc, $n summaries, expected $want"
        echo "$err" | sed 's/^/    /'
    fi
done
rm "$work/other/link.yaml"

validate tests/fixtures/spec/invalid/literal_password.yaml
if ! echo "$out$err" | grep -q hunter2; then ok "secrets never echoed"; else bad "secrets echoed"; fi

# too large: generated here, a megabyte does not belong in git
big=$work/other/big.yaml
{ echo "cluster: big"; head -c 1048576 /dev/zero | tr '\0' '#'; } >"$big"
validate "$big"
if [ "$rc" -eq 1 ] && [ "$err" = "$big:1:1: error: spec is larger than 1048576 bytes" ]; then
    ok "too large"
else
    bad "too large (exit $rc): $err"
fi

# a megabyte of references to undefined hosts: 100 errors, then it stops (this
# took 16 s of edit distances for "did you mean" before there was a limit)
many=$work/other/many.yaml
{
    echo "cluster: many"
    echo "hosts:"
    for i in $(seq 0 255); do echo "  host-number-$i-xxxxxxxxxxxxxxxxxxxx: { address: 10.1.0.$i }"; done
    echo "sentinel: { quorum: 1, nodes: [10.1.0.1:26379] }"
    echo "shards:"
    seq 0 13999 | sed 's/.*/  - { name: s&, master: undefined-host-name-&-yyyyyyyyyy:7001 }/'
} >"$many"
validate "$many"
if [ "$rc" -eq 1 ] && [ "$(echo "$err" | wc -l)" -eq 101 ] && [ "$(echo "$err" | grep -c ': error: undefined host')" -eq 100 ] &&
    echo "$err" | tail -n 1 | grep -q ": error: too many errors, stopping$"; then
    ok "100 errors, then too many errors, stopping"
else
    bad "too many errors (exit $rc, $(echo "$err" | wc -l) lines)"
    echo "$err" | tail -n 2 | sed 's/^/    /'
fi

validate
if [ "$rc" -eq 2 ] && echo "$err" | grep -q "usage: rmgr validate"; then ok "no arguments: usage, exit 2"; else bad "no arguments (exit $rc)"; fi

# -f PATH, as every other command takes a spec
validate -f specs/local.yaml
if [ "$rc" -eq 0 ] && [ "$out" = "specs/local.yaml: cluster 'local': 2 shards, 4 redis, 3 sentinels, 1 proxy" ]; then
    ok "validate -f FILE"
else
    bad "validate -f FILE (exit $rc): $err"
fi
validate --file=tests/fixtures/spec/valid/minimal.yaml --file specs/local.yaml tests/fixtures/spec/valid/full.yaml
if [ "$rc" -eq 0 ] && [ "$(echo "$out" | grep -c "cluster '")" -eq 3 ]; then
    ok "validate --file=FILE --file FILE FILE"
else
    bad "validate --file (exit $rc): $err"
fi
validate -f
if [ "$rc" -eq 2 ] && echo "$err" | grep -q "option '-f' needs a value"; then ok "-f without a value: exit 2"; else bad "-f without a value (exit $rc): $err"; fi
validate -f tests/fixtures/spec/invalid/syntax.yaml
if [ "$rc" -eq 1 ] && [ -z "$out" ]; then ok "validate -f of a bad spec: exit 1"; else bad "validate -f of a bad spec (exit $rc)"; fi

validate --frobnicate specs/
if [ "$rc" -eq 2 ]; then ok "unknown option: exit 2"; else bad "unknown option (exit $rc)"; fi

validate no-such-spec.yaml
if [ "$rc" -eq 1 ] && [ "$err" = "error: cannot access 'no-such-spec.yaml': No such file or directory" ]; then
    ok "missing path"
else
    bad "missing path (exit $rc): $err"
fi

mkdir "$work/other/empty"
validate "$work/other/empty"
if [ "$rc" -eq 1 ] && echo "$err" | grep -q "no \*.yaml or \*.yml files"; then ok "empty directory"; else bad "empty directory (exit $rc)"; fi

validate tests/fixtures/spec/valid/minimal.yaml tests/fixtures/spec/invalid/syntax.yaml
if [ "$rc" -eq 1 ] && [ -z "$out" ]; then ok "one bad file fails the run"; else bad "one bad file fails the run (exit $rc)"; fi

# validate writes nothing: not in the cwd, not in HOME, not the base_dir
left=$(cd "$run_dir" && ls -A | tr '\n' ' ')
if [ "$left" = "specs tests " ] && [ ! -e "$HOME" ] && [ ! -e "$must_not_exist" ]; then
    ok "nothing written"
else
    bad "something was written: cwd has '$left'"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
