#!/usr/bin/env bash
# make demo: deploy specs/local.yaml on this machine (2 shards of master +
# replica, 3 sentinels, 1 nutcracker, all on 127.0.0.1), show that the plan is
# empty afterwards, write keys through the proxy, read them back and show on
# which shard each landed. Running it again finds no changes.
set -euo pipefail
cd "$(dirname "$0")/.."

RMGR=${RMGR:-./rmgr}
SPEC=${SPEC:-specs/local.yaml}
PROXY_PORT=22121
SENTINEL_PORT=27001
SHARDS=(shard1 shard2)

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then bold=$'\033[1m' off=$'\033[0m'; else bold= off=; fi
say() { printf '\n%s==> %s%s\n' "$bold" "$*" "$off"; }

command -v redis-cli >/dev/null || { echo "demo: redis-cli is missing (apt-get install redis-tools)" >&2; exit 1; }
[ -x "$RMGR" ] || { echo "demo: $RMGR is missing: run make first" >&2; exit 1; }

say "$RMGR apply -f $SPEC --auto-approve"
"$RMGR" apply -f "$SPEC" --auto-approve

say "$RMGR plan -f $SPEC   (the cluster now matches the spec)"
"$RMGR" plan -f "$SPEC"

# the current master of each shard, as Sentinel sees it (it may have failed over)
declare -A master
for s in "${SHARDS[@]}"; do
    addr=$(redis-cli -p "$SENTINEL_PORT" --raw SENTINEL GET-MASTER-ADDR-BY-NAME "$s" | paste -sd: -)
    master[$s]=$addr
done

say "writing keys through the proxy (127.0.0.1:$PROXY_PORT) and reading them back"
printf '%-16s %-10s %-8s %s\n' KEY VALUE SHARD MASTER
for key in user:1001 user:1002 cart:7 cart:8 session:ab12 session:cd34 order:2024-001 order:2024-002; do
    value="v-$RANDOM"
    [ "$(redis-cli -p "$PROXY_PORT" SET "$key" "$value")" = OK ] || { echo "demo: SET $key failed" >&2; exit 1; }
    got=$(redis-cli -p "$PROXY_PORT" --raw GET "$key")
    [ "$got" = "$value" ] || { echo "demo: GET $key returned '$got', not '$value'" >&2; exit 1; }
    where=?
    for s in "${SHARDS[@]}"; do
        m=${master[$s]}
        if [ "$(redis-cli -h "${m%:*}" -p "${m##*:}" EXISTS "$key")" = 1 ]; then
            where=$s
            break
        fi
    done
    printf '%-16s %-10s %-8s %s\n' "$key" "$got" "$where" "${master[$where]:-?}"
done

say "done. The cluster keeps running; to tear it down:"
echo "  $RMGR destroy -f $SPEC --auto-approve --allow-destructive"
