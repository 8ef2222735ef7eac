#!/usr/bin/env bash
# test_etcd_tls.sh - `--lock` over TLS against a real etcd (Debian etcd-server)
# started on loopback with a certificate of a throw-away CA made here by openssl,
# and client certificates required (--client-cert-auth):
#
#   1. `rmgr locks` with --lock-cacert, --lock-cert and --lock-key answers
#   2. without --lock-cacert the server's certificate is not trusted: refused,
#      said plainly, exit 1
#   3. with the CA but without a client certificate etcd refuses the handshake
#   4. a CA that did not sign the server's certificate is refused
#   5. `rmgr apply --lock` over TLS runs its steps under the cluster's lock (the
#      step journal, $RMGR_STEP_JOURNAL, records them) and releases it; without
#      a client certificate it fails and changes nothing
#
# Every process started is tracked and stopped.
# shellcheck disable=SC1091,SC2034  # harness
set -u
TESTS_DIR=${RMGR_TESTS_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
RMGR=${RMGR_BIN:-$(cd "$TESTS_DIR/.." && pwd)/rmgr}
. "$TESTS_DIR/harness.sh"
h_init etcdtls

command -v etcd >/dev/null || h_fatal "etcd is not installed (apt-get install etcd-server)"
command -v openssl >/dev/null || h_fatal "openssl is not installed"
export XDG_RUNTIME_DIR=$H_DIR/run XDG_CACHE_HOME=$H_DIR/xdg-cache
mkdir -p "$XDG_RUNTIME_DIR"

# ---------------------------------------------------------------- certificates

P=$H_DIR/pki
mkdir -p "$P" && chmod 700 "$P"
mkca() { # mkca NAME: a self-signed CA
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=rmgr test $1" \
        -keyout "$P/$1.key" -out "$P/$1.pem" >>"$P/openssl.log" 2>&1
}
mkcert() { # mkcert NAME CA EXT: a certificate signed by CA
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$1" -keyout "$P/$1.key" -out "$P/$1.csr" \
        >>"$P/openssl.log" 2>&1 &&
        printf '%s\n' "$3" >"$P/$1.ext" &&
        openssl x509 -req -in "$P/$1.csr" -CA "$P/$2.pem" -CAkey "$P/$2.key" -CAcreateserial \
            -days 1 -extfile "$P/$1.ext" -out "$P/$1.pem" >>"$P/openssl.log" 2>&1
}
mkca ca && mkca other &&
    mkcert server ca "subjectAltName=IP:127.0.0.1
extendedKeyUsage=serverAuth,clientAuth" &&
    mkcert client ca "extendedKeyUsage=clientAuth" ||
    h_fatal "openssl could not make the certificates (see $P/openssl.log)"

# ---------------------------------------------------------------- etcd with TLS
# etcd 3.4's HTTP gateway calls its own gRPC server with the server certificate
# as a client certificate: with --client-cert-auth that one needs clientAuth too
# (else every gateway request answers {"error":"connection closed"}).

h_free_ports EC EP || h_fatal "no free port"
LOCK=etcd://127.0.0.1:$EC
etcd --name t --data-dir "$H_DIR/etcd" \
    --listen-client-urls "https://127.0.0.1:$EC" --advertise-client-urls "https://127.0.0.1:$EC" \
    --listen-peer-urls "http://127.0.0.1:$EP" --initial-advertise-peer-urls "http://127.0.0.1:$EP" \
    --initial-cluster "t=http://127.0.0.1:$EP" \
    --cert-file "$P/server.pem" --key-file "$P/server.key" \
    --client-cert-auth --trusted-ca-file "$P/ca.pem" >>"$H_DIR/etcd.log" 2>&1 &
h_track $! etcd || h_fatal "etcd did not start"
CURL_TLS=(--cacert "$P/ca.pem" --cert "$P/client.pem" --key "$P/client.key")
up() { curl -s --noproxy '*' "${CURL_TLS[@]}" "https://127.0.0.1:$EC/health" | grep -q '"health":"true"'; }
deadline=$(( $(date +%s) + 20 ))
until up; do
    [ "$(date +%s)" -ge "$deadline" ] && h_fatal "etcd did not answer over TLS (see $H_DIR/etcd.log)"
    sleep 0.1
done

TLS=(--lock-cacert "$P/ca.pem" --lock-cert "$P/client.pem" --lock-key "$P/client.key")

# ---------------------------------------------------------------- 1-4

OUT=$("$RMGR" locks --lock "$LOCK" "${TLS[@]}" 2>&1); rc=$?
h_check "locks over TLS with the CA and a client certificate" [ "$rc" = 0 ]
h_check "... lists no lock yet" grep -q "0 clusters locked" <<<"$OUT"

OUT=$("$RMGR" locks --lock "$LOCK" --lock-cert "$P/client.pem" --lock-key "$P/client.key" 2>&1); rc=$?
# a client certificate alone still means TLS; the system CAs do not know the test CA
h_check "without --lock-cacert: the server is not trusted, exit 1" [ "$rc" = 1 ]
h_check "... said plainly (certificate)" grep -qi "certificate" <<<"$OUT"
echo "$OUT" | sed 's/^/    said: /' 

OUT=$("$RMGR" locks --lock "$LOCK" --lock-cacert "$P/ca.pem" 2>&1); rc=$?
h_check "without a client certificate etcd refuses: exit 1" [ "$rc" = 1 ]
h_check "... and rmgr says no etcd member answers" grep -q "no etcd member answers" <<<"$OUT"
echo "$OUT" | sed 's/^/    said: /' 

OUT=$("$RMGR" locks --lock "$LOCK" --lock-cacert "$P/other.pem" --lock-cert "$P/client.pem" \
    --lock-key "$P/client.key" 2>&1); rc=$?
h_check "a CA that did not sign the server's certificate: exit 1" [ "$rc" = 1 ]

OUT=$("$RMGR" locks --lock "etcd://localhost:$EC" "${TLS[@]}" 2>&1); rc=$?
h_check "a name the certificate does not hold (localhost; it has IP:127.0.0.1): exit 1" [ "$rc" = 1 ]

# ---------------------------------------------------------------- 5. apply under the lock

h_free_ports R S || h_fatal "no free port"
BASE=$H_DIR/base
cat >"$H_DIR/c1.yaml" <<EOF
cluster: tls1
defaults:
  transport: local
  base_dir: $BASE
redis:
  config:
    save: ""
    appendonly: "no"
shards:
  - name: s1
    master: 127.0.0.1:$R
sentinel:
  quorum: 1
  nodes: [127.0.0.1:$S]
EOF
export RMGR_STEP_JOURNAL=$H_DIR/journal
: >"$RMGR_STEP_JOURNAL"
h_apply "$BASE/tls1" -f "$H_DIR/c1.yaml" --auto-approve --lock "$LOCK" "${TLS[@]}"
h_check "apply --lock over TLS" [ "$RC" = 0 ]
h_check "... ran its steps under the cluster's lock (journal)" grep -q " tls1 " "$RMGR_STEP_JOURNAL"
h_check "... the redis answers" h_wait_ping "$R" 10
OUT=$("$RMGR" locks --lock "$LOCK" "${TLS[@]}" 2>&1)
h_check "... and released the lock" grep -q "0 clusters locked" <<<"$OUT"
OUT=$("$RMGR" apply -f "$H_DIR/c1.yaml" --auto-approve --lock "$LOCK" --lock-cacert "$P/ca.pem" 2>&1); rc=$?
h_check "apply --lock without a client certificate changes nothing and fails" [ "$rc" != 0 ]

"$RMGR" destroy -f "$H_DIR/c1.yaml" --auto-approve --allow-destructive >/dev/null 2>&1
h_done
