/*
 * known_hosts.h - OpenSSH known_hosts files: read strictly, check a host's
 * key, add a key (trust on first use). Used by the ssh transport and by the
 * git source's host key check, so both trust exactly the same lines.
 *
 * The file is read line by line: a line libssh2 cannot parse (markers,
 * security-key types) is skipped instead of ending the read, and keys marked
 * @revoked are never trusted.
 */
#ifndef RMGR_KNOWN_HOSTS_H
#define RMGR_KNOWN_HOSTS_H

#include <libssh2.h>
#include <stdbool.h>
#include <stddef.h>

#include "util.h"

/* SHA-256 of `len` bytes into out[32]: key fingerprints, and the checksum of backups. */
void sha256_bytes(const unsigned char *in, size_t len, unsigned char out[32]);

/* A key type as libssh2's session, libssh2's known_hosts and OpenSSH name it. */
struct host_key_type {
    int session_type;   /* LIBSSH2_HOSTKEY_TYPE_* */
    int kh_type;        /* LIBSSH2_KNOWNHOST_KEY_* */
    const char *name;   /* as OpenSSH shows it: "ED25519" */
    const char *method; /* host key algorithm to prefer when known_hosts has this type */
    const char *file;   /* the server's key: /etc/ssh/ssh_host_<file>_key.pub */
};

struct known_hosts {
    LIBSSH2_SESSION *session; /* the session the list belongs to */
    LIBSSH2_SESSION *own;     /* a never-connected session made for the list, or NULL */
    LIBSSH2_KNOWNHOSTS *kh;
    struct strbuf revoked;    /* base64 keys marked @revoked, one a line */
};

/* The message of the last libssh2 error on `s` ("no session" for NULL). */
const char *ssh_session_error(LIBSSH2_SESSION *s);

/*
 * Start an empty list on `session`, or on a session of its own (never
 * connected) when `session` is NULL. 0, or -1 with *err prefixed by `label`.
 */
int known_hosts_init(struct known_hosts *k, LIBSSH2_SESSION *session, const char *label,
                     char **err);

/*
 * Add the lines of `file` to the list: unparsable lines are skipped,
 * @revoked keys remembered, @cert-authority lines ignored. A missing file
 * adds nothing. 0, or -1 with *err ("<label>: cannot read known_hosts ...").
 */
int known_hosts_read(struct known_hosts *k, const char *file, const char *label, char **err);

/* Free the list (and its own session). A zeroed struct is fine. */
void known_hosts_release(struct known_hosts *k);

/* Whether the raw key blob is marked @revoked. */
bool known_hosts_revoked(const struct known_hosts *k, const char *key, size_t len);

/*
 * Look the raw key of type `kh_type` (LIBSSH2_KNOWNHOST_KEY_*) up for
 * host:port: LIBSSH2_KNOWNHOST_CHECK_MATCH, _MISMATCH (listed with another
 * key of this type), _NOTFOUND or _FAILURE.
 */
int known_hosts_check(const struct known_hosts *k, const char *host, int port, const char *key,
                      size_t len, int kh_type);

/* Key types the list holds for host:port, as a bit set over the key type table. */
unsigned known_hosts_types(const struct known_hosts *k, const char *host, int port);

/* Make `session` ask for the key types in `known` first, so a known host shows its known key. */
void known_hosts_prefer_types(LIBSSH2_SESSION *session, unsigned known);

/* Whom a host key belongs to, for known_hosts_verify. */
struct host_key_peer {
    const char *ip;
    int port;
    const char *file;       /* the known_hosts file keys are added to and messages name */
    const char *label;      /* prefix of plain errors: "ssh 10.0.0.1:22" */
    const char *host_label; /* prefix of refusals: "ssh 10.0.0.1:22 (host 'redis1')" */
    bool accept_new;        /* add a key never seen (trust on first use) */
};

enum { HOST_KEY_TRUSTED = 0, HOST_KEY_ERROR = -1, HOST_KEY_REFUSED = -2 };

/*
 * Check the key the server of k->session sent (after the handshake) against
 * the list; `known` is known_hosts_types() from before the handshake.
 * Unknown: refused, or added to the file with accept_new. Changed, of a
 * type the server did not offer, or @revoked: always refused. Returns
 * HOST_KEY_TRUSTED, HOST_KEY_REFUSED with *err naming the host, the key
 * type, both fingerprints and the fix, or HOST_KEY_ERROR with *err when
 * the key could not be checked at all.
 */
int known_hosts_verify(struct known_hosts *k, const struct host_key_peer *p, unsigned known,
                       char **err);

#endif
