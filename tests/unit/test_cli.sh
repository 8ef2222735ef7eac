#!/usr/bin/env bash
# CLI basics: --version, help, every command's --help, usage errors exit 2 on stderr.
set -u
RMGR=${RMGR_BIN:?RMGR_BIN must name the rmgr binary}
pass=0 fail=0
check() { # name, command...
    local name=$1; shift
    if "$@"; then pass=$((pass + 1)); echo "ok   $name"; else fail=$((fail + 1)); echo "FAIL $name"; fi
}
run() { # run rmgr, capture stdout/stderr/rc
    OUT=$("$RMGR" "$@" 2>/tmp/rmgr-cli-err.$$); RC=$?; ERR=$(cat /tmp/rmgr-cli-err.$$)
}

run --version
check "--version prints the version" grep -Eqx 'rmgr [0-9]+\.[0-9]+\.[0-9]+' <<<"$OUT"
check "--version exits 0" [ "$RC" = 0 ]

run help
check "help exits 0" [ "$RC" = 0 ]
commands=$(sed -n '/^Commands:/,/^$/p' <<<"$OUT" | awk 'NR>1 && $1 != "help" && NF {print $1}')
check "help lists commands" [ -n "$commands" ]
for c in validate plan apply destroy status observe reconcile; do
    check "help lists '$c'" grep -qw "$c" <<<"$commands"
done
for c in $commands; do
    run "$c" --help
    check "$c --help exits 0 with usage on stdout" [ "$RC" = 0 ]
    check "$c --help starts with 'usage: rmgr $c'" grep -q "^usage: rmgr $c" <<<"$(head -n1 <<<"$OUT")"
    dash_help=$OUT
    run help "$c"
    check "help $c exits 0" [ "$RC" = 0 ]
    check "help $c prints the same as $c --help" [ "$OUT" = "$dash_help" ]
    check "$c --help lists options" grep -q '^  -' <<<"$OUT"
    # every option the help lists is one the command's option table takes
    for opt in $(grep -oE '^  (-[a-z], )?--[a-z-]+' <<<"$OUT" | sed -E 's/^  (-[a-z], )?//'); do
        run "$c" "$opt" 1 --no-such-option # the unknown option last: nothing runs
        check "$c takes $opt (its --help lists it)" bash -c '! grep -qF "unknown option '"'"'$1'"'"'" <<<"$2"' _ "$opt" "$ERR"
    done
    run "$c" --no-such-option
    check "$c --no-such-option exits 2" [ "$RC" = 2 ]
    check "$c --no-such-option: nothing on stdout" [ -z "$OUT" ]
    check "$c --no-such-option: error on stderr" grep -q "^rmgr: " <<<"$ERR"
    check "$c --no-such-option: usage on stderr" grep -q "usage: rmgr $c" <<<"$ERR"
done

# usage errors of the option parser (src/cli/opt.c), word for word
usage() { # expected message, args...
    local msg=$1; shift
    run "$@"
    check "$* exits 2" [ "$RC" = 2 ]
    check "$*: '$msg'" grep -qxF "rmgr: $msg" <<<"$ERR"
}
usage "option '-f' needs a value" plan -f
usage "option '--file' needs a value" plan --file=
usage "option '-f' needs a value" validate -f ''
usage "option '--repo' needs a value" validate --repo=
usage "option '--timeout' needs milliseconds (1-3600000), not '0'" status -f x --timeout=0
usage "option '--failover-wait' needs a duration (90s, 2m, 0 not to wait), not 'soon'" \
    apply -f x --failover-wait soon
usage "option '--lock-timeout' needs a duration (30s, 5m, 250ms), not 'x'" destroy -f x --lock-timeout x
usage "option '--interval' needs a duration of at least 1000 ms (30s, 5m, 1h), not '10ms'" \
    reconcile -f x --interval 10ms
usage "option '--webhook' needs a value" reconcile -f x --once --webhook
usage "--json and --markdown exclude each other" plan -f x --json --markdown
usage "unexpected argument 'b'" apply a b
usage "unexpected argument 'x'" observe -f x x
usage "unknown option '--json=x'" plan -f x --json=x
usage "unknown option '--'" plan -f x --
usage "unknown option '-'" apply -
usage "unknown option '--paths'" validate --paths x
run validate -- --bogus
check "validate: '--' ends the options" grep -qF "cannot access '--bogus'" <<<"$ERR"

run bogus
check "unknown command exits 2" [ "$RC" = 2 ]
check "unknown command is named on stderr" grep -q "unknown command 'bogus'" <<<"$ERR"
check "unknown command prints usage" grep -q "^usage: rmgr" <<<"$ERR"
run --bogus
check "unknown global option exits 2" [ "$RC" = 2 ]
run
check "no command exits 2" [ "$RC" = 2 ]

rm -f /tmp/rmgr-cli-err.$$
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
