#!/usr/bin/env bash
# Install what rmgr needs to build, test and run its demo on Debian 12.
# Does nothing when everything is present; otherwise apt-get (as root, or via sudo).
set -euo pipefail
pkgs=(
    build-essential pkg-config git ca-certificates procps iproute2
    libgit2-dev libyaml-dev libhiredis-dev libcurl4-openssl-dev libssh2-1-dev libjansson-dev libssl-dev libmicrohttpd-dev
    redis-server redis-sentinel redis-tools nutcracker openssh-server openssh-client
    python3 python3-jsonschema python3-ruamel.yaml valgrind etcd-server curl openssl prometheus chromium jq
)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}" >&2
sudo=
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "rmgr: run as root or install: apt-get install -y ${missing[*]}" >&2; exit 1; }
    sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update
$sudo apt-get install -y --no-install-recommends "${missing[@]}"
