/*
 * transport_ssh.c - the transport for remote hosts: one libssh2 session each.
 *
 * transport_open connects, verifies the host key against known_hosts and
 * authenticates once; every later call reuses that session (a connect costs
 * ~110 ms, an exec on a live session ~50 ms). Commands are sent as one sh
 * command line with every argument single-quoted. Files move over SFTP.
 *
 * The session runs in blocking mode with libssh2's per-wait timeout for
 * handshake, auth and SFTP; exec switches to non-blocking so stdout and
 * stderr are read together against one deadline. A timeout or a socket error
 * leaves the session in an unknown state: it is dropped and the next call
 * connects again.
 *
 * A host key that is not trusted (unknown, changed, revoked) is remembered:
 * the transport never connects to that address again, every later call
 * fails with the same message, and transport_host_key_failed() says so.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libssh2.h>
#include <libssh2_sftp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "transport_impl.h"
#include "util.h"

#define SFTP_CHUNK 32768

struct ssh_transport {
    struct transport base;
    char *ip;
    int port;
    char *user;
    char *identity;    /* NULL: ssh-agent */
    char *known_hosts;
    char *label;       /* "ssh 127.0.0.1:2222", the prefix of every message */
    int sock;
    LIBSSH2_SESSION *session;
    LIBSSH2_SFTP *sftp;
    unsigned tmp_seq;  /* makes temp names unique within this process */
    char *host_key_err;/* why the host key is not trusted, once it was not: sticky */
};

/* ---- small helpers ------------------------------------------------------ */

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_rc;

static void ssh_global_init(void)
{
    init_rc = libssh2_init(0);
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard base64; `pad` adds the trailing '=' (OpenSSH fingerprints have none). */
static char *base64_encode(const unsigned char *in, size_t len, bool pad)
{
    struct strbuf sb = {0};
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        size_t n = len - i < 3 ? len - i : 3;
        if (n > 1)
            v |= (unsigned)in[i + 1] << 8;
        if (n > 2)
            v |= in[i + 2];
        sb_addc(&sb, b64_alphabet[(v >> 18) & 63]);
        sb_addc(&sb, b64_alphabet[(v >> 12) & 63]);
        if (n > 1)
            sb_addc(&sb, b64_alphabet[(v >> 6) & 63]);
        else if (pad)
            sb_addc(&sb, '=');
        if (n > 2)
            sb_addc(&sb, b64_alphabet[v & 63]);
        else if (pad)
            sb_addc(&sb, '=');
    }
    return sb_detach(&sb);
}

/* Decode base64, skipping whitespace and stopping at '=' or any other byte. */
static unsigned char *base64_decode(const char *in, size_t len, size_t *out_len)
{
    unsigned char *out = xmalloc(len / 4 * 3 + 3);
    size_t n = 0;
    unsigned v = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        const char *p = in[i] ? strchr(b64_alphabet, in[i]) : NULL;
        if (!p) {
            if (in[i] == '\n' || in[i] == '\r' || in[i] == ' ')
                continue;
            break;
        }
        v = (v << 6) | (unsigned)(p - b64_alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(v >> bits);
        }
    }
    *out_len = n;
    return out;
}

/*
 * SHA-256 (FIPS 180-4) of `len` bytes into out[32]: the fingerprint of a
 * known_hosts key, which libssh2 computes only for the key the server sent.
 */
static void sha256(const unsigned char *in, size_t len, unsigned char out[32])
{
    static const uint32_t k[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    };
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
    /* the message, a 0x80 byte, zeros, and the length in bits: whole 64-byte blocks */
    size_t total = (len + 9 + 63) / 64 * 64;
    for (size_t off = 0; off < total; off += 64) {
        unsigned char blk[64];
        for (size_t i = 0; i < 64; i++) {
            size_t at = off + i;
            blk[i] = at < len ? in[at] : at == len ? 0x80 : 0;
        }
        if (off + 64 == total)
            for (int i = 0; i < 8; i++)
                blk[56 + i] = (unsigned char)((unsigned long long)len * 8 >> (56 - 8 * i));
        uint32_t w[64];
        for (int i = 0; i < 16; i++)
            w[i] = (uint32_t)blk[4 * i] << 24 | (uint32_t)blk[4 * i + 1] << 16 |
                   (uint32_t)blk[4 * i + 2] << 8 | blk[4 * i + 3];
        for (int i = 16; i < 64; i++) {
            uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
            uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16] + s0 + w[i - 7] + s1;
        }
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6],
                 hh = h[7];
        for (int i = 0; i < 64; i++) {
            uint32_t t1 = hh + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) +
                          k[i] + w[i];
            uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
            hh = g;
            g = f;
            f = e;
            e = d + t1;
            d = c;
            c = b;
            b = a;
            a = t1 + t2;
        }
        h[0] += a;
        h[1] += b;
        h[2] += c;
        h[3] += d;
        h[4] += e;
        h[5] += f;
        h[6] += g;
        h[7] += hh;
    }
#undef ROR
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 4; j++)
            out[4 * i + j] = (unsigned char)(h[i] >> (24 - 8 * j));
}

/* "SHA256:<base64 without padding>" of a raw key blob, as ssh-keygen -l prints it. */
static char *key_fingerprint(const unsigned char *key, size_t len)
{
    unsigned char digest[32];
    sha256(key, len, digest);
    char *b64 = base64_encode(digest, sizeof(digest), false);
    char *fp = xasprintf("SHA256:%s", b64);
    free(b64);
    return fp;
}

static const char *session_error(LIBSSH2_SESSION *s)
{
    char *msg = NULL;
    if (!s)
        return "no session";
    libssh2_session_last_error(s, &msg, NULL, 0);
    return msg && *msg ? msg : "unknown error";
}

/* Errors after which the session cannot be trusted to be in step with the server. */
static bool session_is_broken(int rc)
{
    switch (rc) {
    case LIBSSH2_ERROR_TIMEOUT:
    case LIBSSH2_ERROR_SOCKET_SEND:
    case LIBSSH2_ERROR_SOCKET_RECV:
    case LIBSSH2_ERROR_SOCKET_DISCONNECT:
    case LIBSSH2_ERROR_SOCKET_TIMEOUT:
    case LIBSSH2_ERROR_BAD_SOCKET:
    case LIBSSH2_ERROR_DECRYPT:
    case LIBSSH2_ERROR_PROTO:
    case LIBSSH2_ERROR_INVALID_MAC:
    case LIBSSH2_ERROR_KEX_FAILURE:
        return true;
    default:
        return false;
    }
}

static const char *sftp_status_str(unsigned long code)
{
    switch (code) {
    case LIBSSH2_FX_NO_SUCH_FILE:
    case LIBSSH2_FX_NO_SUCH_PATH:
        return "no such file or directory";
    case LIBSSH2_FX_PERMISSION_DENIED:
        return "permission denied";
    case LIBSSH2_FX_FILE_ALREADY_EXISTS:
        return "file exists";
    case LIBSSH2_FX_NO_SPACE_ON_FILESYSTEM:
        return "no space left on device";
    case LIBSSH2_FX_QUOTA_EXCEEDED:
        return "quota exceeded";
    case LIBSSH2_FX_NOT_A_DIRECTORY:
        return "not a directory";
    case LIBSSH2_FX_WRITE_PROTECT:
        return "read-only file system";
    case LIBSSH2_FX_OP_UNSUPPORTED:
        return "operation not supported by the server";
    case LIBSSH2_FX_FAILURE:
        return "failure";
    default:
        return "sftp error";
    }
}

/* ---- connection --------------------------------------------------------- */

static void ssh_drop(struct ssh_transport *st, bool graceful)
{
    if (st->session) {
        if (!graceful && st->sock >= 0)
            shutdown(st->sock, SHUT_RDWR); /* nothing more will be said: don't wait */
        libssh2_session_set_blocking(st->session, 1);
        libssh2_session_set_timeout(st->session, 1000);
        if (st->sftp)
            libssh2_sftp_shutdown(st->sftp);
        if (graceful)
            libssh2_session_disconnect(st->session, "rmgr done");
        libssh2_session_free(st->session);
    }
    st->sftp = NULL;
    st->session = NULL;
    if (st->sock >= 0)
        close(st->sock);
    st->sock = -1;
}

/* TCP connect with a deadline. Returns the socket, or -1 with *err. */
static int tcp_connect(struct ssh_transport *st, char **err)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char port_s[16];
    snprintf(port_s, sizeof(port_s), "%d", st->port);
    int gai = getaddrinfo(st->ip, port_s, &hints, &ai);
    if (gai != 0) {
        *err = xasprintf("%s: '%s' is not an IP address: %s", st->label, st->ip, gai_strerror(gai));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *err = xasprintf("%s: cannot create socket: %s", st->label, strerror(errno));
        freeaddrinfo(ai);
        return -1;
    }
    int e = 0;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        e = errno;
        if (e == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            long long deadline = now_ms() + st->base.opts.connect_timeout_ms;
            int pr;
            do {
                long long left = deadline - now_ms();
                pr = left > 0 ? poll(&p, 1, (int)left) : 0;
            } while (pr < 0 && errno == EINTR);
            if (pr == 0) {
                *err = xasprintf("%s: timed out after %ld ms", st->label,
                                 st->base.opts.connect_timeout_ms);
                freeaddrinfo(ai);
                close(fd);
                return -1;
            }
            socklen_t sl = sizeof(e);
            if (pr < 0)
                e = errno;
            else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &sl) < 0)
                e = errno;
        }
    }
    freeaddrinfo(ai);
    if (e) {
        const char *why = e == ECONNREFUSED   ? "connection refused"
                          : e == EHOSTUNREACH ? "host unreachable"
                          : e == ENETUNREACH  ? "network unreachable"
                          : e == ETIMEDOUT    ? "connection timed out"
                                              : strerror(e);
        *err = xasprintf("%s: %s", st->label, why);
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/* ---- host keys ---------------------------------------------------------- */

struct keytype {
    int session_type; /* LIBSSH2_HOSTKEY_TYPE_* */
    int kh_type;      /* LIBSSH2_KNOWNHOST_KEY_* */
    const char *name; /* as OpenSSH shows it */
    const char *method; /* host key algorithm to prefer when known_hosts has this type */
    const char *file; /* the server's key: /etc/ssh/ssh_host_<file>_key.pub */
};

static const struct keytype keytypes[] = {
    {LIBSSH2_HOSTKEY_TYPE_ED25519, LIBSSH2_KNOWNHOST_KEY_ED25519, "ED25519", "ssh-ed25519",
     "ed25519"},
    {LIBSSH2_HOSTKEY_TYPE_ECDSA_256, LIBSSH2_KNOWNHOST_KEY_ECDSA_256, "ECDSA",
     "ecdsa-sha2-nistp256", "ecdsa"},
    {LIBSSH2_HOSTKEY_TYPE_ECDSA_384, LIBSSH2_KNOWNHOST_KEY_ECDSA_384, "ECDSA",
     "ecdsa-sha2-nistp384", "ecdsa"},
    {LIBSSH2_HOSTKEY_TYPE_ECDSA_521, LIBSSH2_KNOWNHOST_KEY_ECDSA_521, "ECDSA",
     "ecdsa-sha2-nistp521", "ecdsa"},
    {LIBSSH2_HOSTKEY_TYPE_RSA, LIBSSH2_KNOWNHOST_KEY_SSHRSA, "RSA", "ssh-rsa", "rsa"},
    {LIBSSH2_HOSTKEY_TYPE_DSS, LIBSSH2_KNOWNHOST_KEY_SSHDSS, "DSA", "ssh-dss", "dsa"},
};

/* Name of the host in known_hosts: "ip", or "[ip]:port" when the port is not 22. */
static char *known_hosts_name(const struct ssh_transport *st)
{
    return st->port == 22 ? xstrdup(st->ip) : xasprintf("[%s]:%d", st->ip, st->port);
}

/*
 * Load known_hosts line by line: libssh2_knownhost_readfile gives up on the
 * first line it cannot parse (markers, security-key types), which would make
 * every later host unknown. @revoked keys are collected into *revoked
 * (base64, one per line). A missing file is an empty list.
 */
static int load_known_hosts(struct ssh_transport *st, LIBSSH2_KNOWNHOSTS *kh,
                            struct strbuf *revoked, char **err)
{
    FILE *f = fopen(st->known_hosts, "r");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        *err = xasprintf("%s: cannot read known_hosts '%s': %s", st->label, st->known_hosts,
                         strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        const char *p = line + strspn(line, " \t");
        if (str_starts_with(p, "@revoked")) {
            /* "@revoked host-pattern keytype base64": remember the key */
            char pat[1024], type[128], key[8192];
            if (sscanf(p, "@revoked %1023s %127s %8191s", pat, type, key) == 3) {
                sb_add(revoked, key);
                sb_addc(revoked, '\n');
            }
            continue;
        }
        if (*p == '@')
            continue; /* @cert-authority: not supported by libssh2 */
        libssh2_knownhost_readline(kh, line, (size_t)n, LIBSSH2_KNOWNHOST_FILE_OPENSSH);
    }
    free(line);
    fclose(f);
    return 0;
}

/* Key types known_hosts holds for this host, as a LIBSSH2_KNOWNHOST_KEY_* bit set per keytypes[] index. */
static unsigned known_types_for_host(const struct ssh_transport *st, LIBSSH2_KNOWNHOSTS *kh)
{
    /* a key that matches nothing: MISMATCH then means "an entry of this type exists" */
    unsigned mask = 0;
    for (size_t i = 0; i < ARRAY_SIZE(keytypes); i++) {
        int rc = libssh2_knownhost_checkp(kh, st->ip, st->port, "AAAA", 4,
                                          LIBSSH2_KNOWNHOST_TYPE_PLAIN |
                                              LIBSSH2_KNOWNHOST_KEYENC_BASE64 | keytypes[i].kh_type,
                                          NULL);
        if (rc == LIBSSH2_KNOWNHOST_CHECK_MISMATCH)
            mask |= 1u << i;
    }
    return mask;
}

/*
 * The fingerprint of the key known_hosts has for this host with type
 * keytypes[i], or NULL when it has none. A key that matches nothing makes
 * libssh2 hand back the entry it compared with.
 */
static char *known_fingerprint(const struct ssh_transport *st, LIBSSH2_KNOWNHOSTS *kh, size_t i)
{
    struct libssh2_knownhost *entry = NULL;
    int rc = libssh2_knownhost_checkp(kh, st->ip, st->port, "AAAA", 4,
                                      LIBSSH2_KNOWNHOST_TYPE_PLAIN |
                                          LIBSSH2_KNOWNHOST_KEYENC_BASE64 | keytypes[i].kh_type,
                                      &entry);
    if (rc != LIBSSH2_KNOWNHOST_CHECK_MISMATCH || !entry || !entry->key)
        return NULL;
    size_t len = 0;
    unsigned char *blob = base64_decode(entry->key, strlen(entry->key), &len);
    char *fp = key_fingerprint(blob, len);
    free(blob);
    return fp;
}

/* Ask for the host key types known_hosts already has, so a known host is checked with its known key. */
static void prefer_known_types(struct ssh_transport *st, unsigned known)
{
    if (!known)
        return;
    struct strbuf sb = {0};
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < ARRAY_SIZE(keytypes); i++)
            if (((known >> i) & 1u) == (pass == 0 ? 1u : 0u)) {
                if (sb.len)
                    sb_addc(&sb, ',');
                sb_add(&sb, keytypes[i].method);
            }
    libssh2_session_method_pref(st->session, LIBSSH2_METHOD_HOSTKEY, sb_str(&sb));
    sb_release(&sb);
}

/* Append one entry to the known_hosts file, creating it (and its directory) when missing. */
static int append_known_host(struct ssh_transport *st, LIBSSH2_KNOWNHOSTS *kh,
                             const char *name, const char *key, size_t key_len, int kh_type,
                             char **err)
{
    struct libssh2_knownhost *entry = NULL;
    if (libssh2_knownhost_addc(kh, name, NULL, key, key_len, NULL, 0,
                               LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW |
                                   kh_type,
                               &entry) != 0) {
        *err = xasprintf("%s: cannot add host key: %s", st->label, session_error(st->session));
        return -1;
    }
    char line[8192];
    size_t len = 0;
    if (libssh2_knownhost_writeline(kh, entry, line, sizeof(line), &len,
                                    LIBSSH2_KNOWNHOST_FILE_OPENSSH) != 0) {
        *err = xasprintf("%s: cannot format host key: %s", st->label, session_error(st->session));
        return -1;
    }
    char *dir = xstrdup(st->known_hosts);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        mkdir(dir, 0700); /* ~/.ssh may not exist yet; open() below reports real problems */
    }
    free(dir);
    int fd = open(st->known_hosts, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        *err = xasprintf("%s: cannot update known_hosts '%s': %s", st->label, st->known_hosts,
                         strerror(errno));
        return -1;
    }
    struct strbuf sb = {0};
    struct stat sst;
    char last = '\n';
    if (fstat(fd, &sst) == 0 && sst.st_size > 0 && pread(fd, &last, 1, sst.st_size - 1) == 1 &&
        last != '\n')
        sb_addc(&sb, '\n'); /* the file did not end its last line */
    sb_addn(&sb, line, len);
    ssize_t w = write(fd, sb.buf, sb.len);
    int e = errno;
    int rc = 0;
    if (w != (ssize_t)sb.len || fsync(fd) < 0) {
        *err = xasprintf("%s: cannot update known_hosts '%s': %s", st->label, st->known_hosts,
                         w < 0 ? strerror(e) : "short write");
        rc = -1;
    }
    close(fd);
    sb_release(&sb);
    return rc;
}

/* The label with the spec's name for the host: "ssh 10.0.0.1:22 (host 'redis1')". */
static char *host_label(const struct ssh_transport *st)
{
    const char *host = st->base.host;
    if (!host || str_eq(host, st->ip))
        return xstrdup(st->label);
    return xasprintf("%s (host '%s')", st->label, host);
}

/* Record a host key failure: *err gets the message, and the transport keeps it (sticky). */
static int host_key_refused(struct ssh_transport *st, char *msg, char **err)
{
    st->base.host_key_failed = true;
    free(st->host_key_err);
    st->host_key_err = msg;
    *err = xstrdup(msg);
    return -1;
}

/*
 * Check the server's key. Unknown: refuse, or add with accept_new. Changed:
 * always refuse. Every refusal names the host, the key type, the
 * fingerprint the server sent and the one known_hosts has, and the fix.
 */
static int verify_host_key(struct ssh_transport *st, LIBSSH2_KNOWNHOSTS *kh,
                           const struct strbuf *revoked, unsigned known, char **err)
{
    size_t key_len = 0;
    int stype = 0;
    const char *key = libssh2_session_hostkey(st->session, &key_len, &stype);
    if (!key) {
        *err = xasprintf("%s: the server sent no host key", st->label);
        return -1;
    }
    const struct keytype *kt = NULL;
    size_t kt_index = 0;
    for (size_t i = 0; i < ARRAY_SIZE(keytypes); i++)
        if (keytypes[i].session_type == stype) {
            kt = &keytypes[i];
            kt_index = i;
        }
    if (!kt) {
        *err = xasprintf("%s: the server's host key has a type rmgr does not know", st->label);
        return -1;
    }
    char *sent = key_fingerprint((const unsigned char *)key, key_len);
    char *fp = xasprintf("%s %s", kt->name, sent);
    char *name = known_hosts_name(st);
    char *label = host_label(st);
    /* ssh-keygen -R wants the name as known_hosts spells it, quoted for the shell */
    char *remove = xasprintf("ssh-keygen -R '%s' -f '%s'", name, st->known_hosts);
    char *check = xasprintf("check it on the host: ssh-keygen -lf /etc/ssh/ssh_host_%s_key.pub",
                            kt->file);
    int rc = -1;

    char *key_b64 = base64_encode((const unsigned char *)key, key_len, true);
    bool is_revoked = false;
    for (const char *p = sb_str(revoked); *p;) {
        size_t l = strcspn(p, "\n");
        if (l == strlen(key_b64) && memcmp(p, key_b64, l) == 0)
            is_revoked = true;
        p += l + (p[l] == '\n');
    }
    free(key_b64);
    if (is_revoked) {
        rc = host_key_refused(
            st,
            xasprintf("%s: host key for %s (%s) is marked @revoked in '%s'\n"
                      "  server sent: %s, which known_hosts says never to trust\n"
                      "  the host needs a new key; rmgr does not connect to it until then",
                      label, name, fp, st->known_hosts, fp),
            err);
        goto out;
    }

    int check_rc = libssh2_knownhost_checkp(kh, st->ip, st->port, key, key_len,
                                            LIBSSH2_KNOWNHOST_TYPE_PLAIN |
                                                LIBSSH2_KNOWNHOST_KEYENC_RAW | kt->kh_type,
                                            NULL);
    switch (check_rc) {
    case LIBSSH2_KNOWNHOST_CHECK_MATCH:
        rc = 0;
        break;
    case LIBSSH2_KNOWNHOST_CHECK_MISMATCH: {
        char *had = known_fingerprint(st, kh, kt_index);
        rc = host_key_refused(
            st,
            xasprintf("%s: host key CHANGED for %s: the server offers %s, known_hosts has %s "
                      "%s; possible man-in-the-middle (or the host was reinstalled)\n"
                      "  known_hosts: %s %s ('%s')\n"
                      "  server sent: %s\n"
                      "  if the new key is the host's (%s), remove the old entry with\n"
                      "    %s\n"
                      "  then run again with --accept-new-host-keys (it adds keys never seen; "
                      "it never replaces a changed one)",
                      label, name, fp, kt->name, had ? had : "another key", kt->name,
                      had ? had : "another key", st->known_hosts, fp, check, remove),
            err);
        free(had);
        break;
    }
    case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND:
        if (known & ~(1u << kt_index)) {
            /* known with another type the server did not offer: treat like a change */
            size_t other = 0;
            while (other < ARRAY_SIZE(keytypes) && !((known >> other) & 1u))
                other++;
            char *had = known_fingerprint(st, kh, other);
            rc = host_key_refused(
                st,
                xasprintf("%s: host key for %s is not in known_hosts (%s), which has a key of "
                          "another type for it that the server did not offer; possible "
                          "man-in-the-middle\n"
                          "  known_hosts: %s %s ('%s')\n"
                          "  server sent: %s\n"
                          "  if the new key is the host's (%s), remove the old entry with\n"
                          "    %s\n"
                          "  then run again with --accept-new-host-keys",
                          label, name, fp, keytypes[other].name, had ? had : "a key",
                          st->known_hosts, fp, check, remove),
                err);
            free(had);
            break;
        }
        if (!st->base.opts.accept_new_host_keys) {
            rc = host_key_refused(
                st,
                xasprintf("%s: host key for %s is not in known_hosts (%s); add it to '%s' or "
                          "pass --accept-new-host-keys\n"
                          "  known_hosts: no key for %s ('%s')\n"
                          "  server sent: %s\n"
                          "  if that is the host's key (%s), add it to known_hosts, or run "
                          "again with --accept-new-host-keys (trust on first use)",
                          label, name, fp, st->known_hosts, name, st->known_hosts, fp, check),
                err);
            break;
        }
        rc = append_known_host(st, kh, name, key, key_len, kt->kh_type, err);
        if (rc < 0) /* still not trusted: a host key failure, not a host that is down */
            rc = host_key_refused(st, *err, err);
        break;
    default:
        *err = xasprintf("%s: cannot check the host key: %s", st->label,
                         session_error(st->session));
        break;
    }
out:
    free(fp);
    free(sent);
    free(name);
    free(label);
    free(remove);
    free(check);
    return rc;
}

/* ---- authentication ----------------------------------------------------- */

/* True when the private key file (or its .pub) is an RSA key. */
static bool key_is_rsa(const char *identity)
{
    char *pub_path = xasprintf("%s.pub", identity);
    char *buf = NULL;
    size_t len = 0;
    bool rsa = false;
    if (read_file(pub_path, 64 * 1024, &buf, &len) == 0) {
        rsa = str_starts_with(buf, "ssh-rsa ");
    } else if (read_file(identity, 64 * 1024, &buf, &len) == 0) {
        if (strstr(buf, "BEGIN RSA PRIVATE KEY")) {
            rsa = true;
        } else {
            /* OpenSSH format: the key type is a string inside the base64 body */
            const char *begin = strstr(buf, "-----BEGIN OPENSSH PRIVATE KEY-----");
            if (begin) {
                begin += strlen("-----BEGIN OPENSSH PRIVATE KEY-----");
                size_t dlen = 0;
                unsigned char *d = base64_decode(begin, strlen(begin), &dlen);
                rsa = memmem(d, dlen, "ssh-rsa", 7) != NULL;
                free(d);
            }
        }
    }
    free(buf);
    free(pub_path);
    return rsa;
}

static int auth_with_key(struct ssh_transport *st, char **err)
{
    if (access(st->identity, R_OK) < 0) {
        *err = xasprintf("%s: cannot read key '%s': %s", st->label, st->identity,
                         strerror(errno));
        return -1;
    }
    int rc = libssh2_userauth_publickey_fromfile_ex(st->session, st->user,
                                                    (unsigned)strlen(st->user), NULL,
                                                    st->identity, NULL);
    if (rc == 0)
        return 0;
    if (rc == LIBSSH2_ERROR_AUTHENTICATION_FAILED || rc == LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED) {
        if (key_is_rsa(st->identity))
            *err = xasprintf("%s: key %s refused for user %s (libssh2 1.10 signs RSA keys with "
                             "SHA-1, which OpenSSH 8.8 and later refuse: use an ed25519 key)",
                             st->label, st->identity, st->user);
        else
            *err = xasprintf("%s: key %s refused for user %s", st->label, st->identity, st->user);
    } else if (rc == LIBSSH2_ERROR_FILE) {
        *err = xasprintf("%s: cannot use key %s: %s (keys with a passphrase need ssh-agent: "
                         "leave identity unset)",
                         st->label, st->identity, session_error(st->session));
    } else if (rc == LIBSSH2_ERROR_TIMEOUT) {
        *err = xasprintf("%s: timed out after %ld ms during authentication", st->label,
                         st->base.opts.connect_timeout_ms);
    } else {
        *err = xasprintf("%s: authentication as %s failed: %s", st->label, st->user,
                         session_error(st->session));
    }
    return -1;
}

static int auth_with_agent(struct ssh_transport *st, char **err)
{
    const char *sock = getenv("SSH_AUTH_SOCK");
    if (!sock || !*sock) {
        *err = xasprintf("%s: no identity configured for this host and no ssh-agent "
                         "(SSH_AUTH_SOCK is not set)",
                         st->label);
        return -1;
    }
    LIBSSH2_AGENT *agent = libssh2_agent_init(st->session);
    if (!agent) {
        *err = xasprintf("%s: cannot use ssh-agent: %s", st->label, session_error(st->session));
        return -1;
    }
    int rc = -1;
    if (libssh2_agent_connect(agent) != 0) {
        *err = xasprintf("%s: cannot connect to ssh-agent at '%s': %s", st->label, sock,
                         session_error(st->session));
        goto out;
    }
    if (libssh2_agent_list_identities(agent) != 0) {
        *err = xasprintf("%s: cannot list ssh-agent keys: %s", st->label,
                         session_error(st->session));
        goto disconnect;
    }
    struct libssh2_agent_publickey *id = NULL, *prev = NULL;
    int tried = 0;
    while (libssh2_agent_get_identity(agent, &id, prev) == 0) {
        tried++;
        if (libssh2_agent_userauth(agent, st->user, id) == 0) {
            rc = 0;
            break;
        }
        prev = id;
    }
    if (rc != 0)
        *err = tried ? xasprintf("%s: none of the %d ssh-agent keys was accepted for user %s",
                                 st->label, tried, st->user)
                     : xasprintf("%s: ssh-agent has no keys", st->label);
disconnect:
    libssh2_agent_disconnect(agent);
out:
    libssh2_agent_free(agent);
    return rc;
}

/* Connect, verify the host key and authenticate. 0, or -1 with *err and nothing left open. */
static int ssh_connect(struct ssh_transport *st, char **err)
{
    st->sock = tcp_connect(st, err);
    if (st->sock < 0)
        return -1;
    LIBSSH2_KNOWNHOSTS *kh = NULL;
    struct strbuf revoked = {0};
    st->session = libssh2_session_init();
    if (!st->session) {
        *err = xasprintf("%s: cannot create an ssh session", st->label);
        goto fail;
    }
    libssh2_session_set_blocking(st->session, 1);
    /* libssh2 1.10 measures its timeout with time(2), in whole seconds: a wait
     * that crosses a second boundary counts as a full second. Give it a second
     * of slack so a 1000 ms timeout cannot expire after a few milliseconds. */
    libssh2_session_set_timeout(st->session, st->base.opts.connect_timeout_ms + 1000);

    kh = libssh2_knownhost_init(st->session);
    if (!kh) {
        *err = xasprintf("%s: %s", st->label, session_error(st->session));
        goto fail;
    }
    if (load_known_hosts(st, kh, &revoked, err) < 0)
        goto fail;
    unsigned known = known_types_for_host(st, kh);
    prefer_known_types(st, known);

    int rc = libssh2_session_handshake(st->session, st->sock);
    if (rc != 0) {
        if (rc == LIBSSH2_ERROR_TIMEOUT)
            *err = xasprintf("%s: timed out after %ld ms during the ssh handshake", st->label,
                             st->base.opts.connect_timeout_ms);
        else if (rc == LIBSSH2_ERROR_SOCKET_DISCONNECT || rc == LIBSSH2_ERROR_SOCKET_RECV)
            *err = xasprintf("%s: connection closed during the ssh handshake (is it an ssh "
                             "server?): %s",
                             st->label, session_error(st->session));
        else
            *err = xasprintf("%s: ssh handshake failed: %s", st->label,
                             session_error(st->session));
        goto fail;
    }
    if (verify_host_key(st, kh, &revoked, known, err) < 0)
        goto fail;
    libssh2_knownhost_free(kh);
    kh = NULL;
    sb_release(&revoked);

    if ((st->identity ? auth_with_key(st, err) : auth_with_agent(st, err)) < 0)
        goto fail;
    libssh2_session_set_timeout(st->session, st->base.opts.command_timeout_ms + 1000);
    return 0;

fail:
    if (kh)
        libssh2_knownhost_free(kh);
    sb_release(&revoked);
    ssh_drop(st, st->session != NULL);
    return -1;
}

/* Make sure there is a live session: reconnect after one was dropped. */
static int ssh_ready(struct ssh_transport *st, char **err)
{
    if (st->session)
        return 0;
    if (st->host_key_err) {
        /* that address failed its host key check once: never talk to it again */
        *err = xstrdup(st->host_key_err);
        return -1;
    }
    return ssh_connect(st, err);
}

/* Report a libssh2 failure and drop the session when it can no longer be trusted. */
static void ssh_fail(struct ssh_transport *st, int rc, char **err, const char *fmt, ...)
    RMGR_PRINTF(4, 5);
static void ssh_fail(struct ssh_transport *st, int rc, char **err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *what = xvasprintf(fmt, ap);
    va_end(ap);
    if (rc == LIBSSH2_ERROR_TIMEOUT)
        *err = xasprintf("%s: %s: timed out after %ld ms", st->label, what,
                         st->base.opts.command_timeout_ms);
    else if (rc == LIBSSH2_ERROR_SFTP_PROTOCOL && st->sftp)
        *err = xasprintf("%s: %s: %s", st->label, what,
                         sftp_status_str(libssh2_sftp_last_error(st->sftp)));
    else
        *err = xasprintf("%s: %s: %s", st->label, what, session_error(st->session));
    free(what);
    if (session_is_broken(rc))
        ssh_drop(st, false);
}

/* ---- exec --------------------------------------------------------------- */

/* Wait until the socket can move in the direction libssh2 is blocked on. -1 past the deadline. */
static int ssh_wait(struct ssh_transport *st, long long deadline)
{
    long long left = deadline - now_ms();
    if (left <= 0)
        return -1;
    int dir = libssh2_session_block_directions(st->session);
    struct pollfd p = {.fd = st->sock};
    if (dir & LIBSSH2_SESSION_BLOCK_INBOUND)
        p.events |= POLLIN;
    if (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND)
        p.events |= POLLOUT;
    if (!p.events)
        p.events = POLLIN;
    poll(&p, 1, (int)(left < 1000 ? left : 1000));
    return 0;
}

static const struct {
    const char *name;
    int num;
} signals[] = {
    {"HUP", 1},   {"INT", 2},   {"QUIT", 3},  {"ILL", 4},   {"TRAP", 5},  {"ABRT", 6},
    {"BUS", 7},   {"FPE", 8},   {"KILL", 9},  {"USR1", 10}, {"SEGV", 11}, {"USR2", 12},
    {"PIPE", 13}, {"ALRM", 14}, {"TERM", 15}, {"XCPU", 24}, {"XFSZ", 25},
};

static int signal_number(const char *name, size_t len)
{
    if (len > 3 && strncmp(name, "SIG", 3) == 0) {
        name += 3;
        len -= 3;
    }
    for (size_t i = 0; i < ARRAY_SIZE(signals); i++)
        if (strlen(signals[i].name) == len && strncmp(signals[i].name, name, len) == 0)
            return signals[i].num;
    return 127; /* unknown: still report "killed by a signal" */
}

/* Read what stream `id` has now. 0 at EOF, LIBSSH2_ERROR_EAGAIN when drained, <0 error. */
static ssize_t drain_stream(LIBSSH2_CHANNEL *ch, int id, struct strbuf *sb)
{
    char buf[32768];
    for (;;) {
        ssize_t n = libssh2_channel_read_ex(ch, id, buf, sizeof(buf));
        if (n > 0) {
            sb_addn(sb, buf, (size_t)n);
            continue;
        }
        return n;
    }
}

static int ssh_exec(struct transport *t, const char *const *argv, struct exec_result *r,
                    char **err)
{
    struct ssh_transport *st = (struct ssh_transport *)t;
    if (ssh_ready(st, err) < 0)
        return -1;
    char *cmd = transport_sh_quote_argv(argv);
    char *shown = transport_argv_summary(argv);
    struct strbuf sb[2] = {{0}, {0}};
    LIBSSH2_CHANNEL *ch = NULL;
    LIBSSH2_SESSION *s = st->session;
    long long deadline = now_ms() + t->opts.command_timeout_ms;
    int rc = 0;
    const char *stage = "cannot open a channel";

    libssh2_session_set_blocking(s, 0);
    while (!(ch = libssh2_channel_open_session(s)) &&
           libssh2_session_last_errno(s) == LIBSSH2_ERROR_EAGAIN)
        if (ssh_wait(st, deadline) < 0)
            goto timeout;
    if (!ch) {
        rc = libssh2_session_last_errno(s);
        goto fail;
    }
    stage = "cannot start the command";
    while ((rc = libssh2_channel_exec(ch, cmd)) == LIBSSH2_ERROR_EAGAIN)
        if (ssh_wait(st, deadline) < 0)
            goto timeout;
    if (rc)
        goto fail;
    /* the command gets an empty stdin, as locally */
    while ((rc = libssh2_channel_send_eof(ch)) == LIBSSH2_ERROR_EAGAIN)
        if (ssh_wait(st, deadline) < 0)
            goto timeout;
    if (rc)
        goto fail;

    stage = "cannot read the output";
    for (;;) {
        ssize_t n1 = drain_stream(ch, 0, &sb[0]);
        ssize_t n2 = drain_stream(ch, SSH_EXTENDED_DATA_STDERR, &sb[1]);
        if (n1 < 0 && n1 != LIBSSH2_ERROR_EAGAIN) {
            rc = (int)n1;
            goto fail;
        }
        if (n2 < 0 && n2 != LIBSSH2_ERROR_EAGAIN) {
            rc = (int)n2;
            goto fail;
        }
        if (libssh2_channel_eof(ch))
            break;
        if (ssh_wait(st, deadline) < 0)
            goto timeout;
    }
    stage = "cannot close the channel";
    while ((rc = libssh2_channel_close(ch)) == LIBSSH2_ERROR_EAGAIN)
        if (ssh_wait(st, deadline) < 0)
            goto timeout;
    if (rc)
        goto fail;
    while ((rc = libssh2_channel_wait_closed(ch)) == LIBSSH2_ERROR_EAGAIN)
        if (ssh_wait(st, deadline) < 0)
            goto timeout;
    if (rc)
        goto fail;

    char *sig = NULL;
    size_t sig_len = 0;
    r->status = libssh2_channel_get_exit_status(ch);
    if (libssh2_channel_get_exit_signal(ch, &sig, &sig_len, NULL, NULL, NULL, NULL) == 0 && sig) {
        r->status = 128 + signal_number(sig, sig_len);
        libssh2_free(s, sig);
    }
    while (libssh2_channel_free(ch) == LIBSSH2_ERROR_EAGAIN)
        if (ssh_wait(st, deadline) < 0)
            break; /* freed locally anyway on session close */
    libssh2_session_set_blocking(s, 1);
    r->out = sb_detach(&sb[0]);
    r->err = sb_detach(&sb[1]);
    free(cmd);
    free(shown);
    return 0;

timeout:
    *err = xasprintf("%s: command '%s' timed out after %ld ms (session closed; the remote "
                     "command may still be running)",
                     st->label, shown, t->opts.command_timeout_ms);
    ssh_drop(st, false); /* frees the channel with the session */
    goto out;
fail:
    *err = xasprintf("%s: %s '%s': %s", st->label, stage, shown, session_error(s));
    if (ch) {
        libssh2_session_set_blocking(s, 1);
        if (!session_is_broken(rc))
            libssh2_channel_free(ch);
    }
    if (session_is_broken(rc))
        ssh_drop(st, false);
    else
        libssh2_session_set_blocking(s, 1);
out:
    sb_release(&sb[0]);
    sb_release(&sb[1]);
    free(cmd);
    free(shown);
    return -1;
}

/* ---- files (SFTP) ------------------------------------------------------- */

static LIBSSH2_SFTP *sftp_get(struct ssh_transport *st, char **err)
{
    if (ssh_ready(st, err) < 0)
        return NULL;
    if (!st->sftp) {
        st->sftp = libssh2_sftp_init(st->session);
        if (!st->sftp) {
            ssh_fail(st, libssh2_session_last_errno(st->session), err, "cannot start sftp");
            return NULL;
        }
    }
    return st->sftp;
}

static bool sftp_absent(struct ssh_transport *st, int rc)
{
    if (rc != LIBSSH2_ERROR_SFTP_PROTOCOL || !st->sftp)
        return false;
    unsigned long e = libssh2_sftp_last_error(st->sftp);
    return e == LIBSSH2_FX_NO_SUCH_FILE || e == LIBSSH2_FX_NO_SUCH_PATH;
}

static int ssh_read_file(struct transport *t, const char *path, size_t max_size, char **out,
                         size_t *out_len, char **err)
{
    struct ssh_transport *st = (struct ssh_transport *)t;
    LIBSSH2_SFTP *sftp = sftp_get(st, err);
    if (!sftp)
        return -1;
    LIBSSH2_SFTP_HANDLE *h = libssh2_sftp_open(sftp, path, LIBSSH2_FXF_READ, 0);
    if (!h) {
        int rc = libssh2_session_last_errno(st->session);
        if (sftp_absent(st, rc))
            return 1;
        ssh_fail(st, rc, err, "cannot read '%s'", path);
        return -1;
    }
    struct strbuf sb = {0};
    char buf[SFTP_CHUNK];
    ssize_t n;
    while ((n = libssh2_sftp_read(h, buf, sizeof(buf))) > 0) {
        if (sb.len + (size_t)n > max_size) {
            libssh2_sftp_close(h);
            sb_release(&sb);
            *err = xasprintf("%s: cannot read '%s': larger than %zu bytes", st->label, path,
                             max_size);
            return -1;
        }
        sb_addn(&sb, buf, (size_t)n);
    }
    if (n < 0) {
        sb_release(&sb);
        ssh_fail(st, (int)n, err, "cannot read '%s'", path);
        if (st->session)
            libssh2_sftp_close(h);
        return -1;
    }
    libssh2_sftp_close(h);
    *out_len = sb.len;
    *out = sb_detach(&sb);
    return 0;
}

static int ssh_stat_mtime(struct transport *t, const char *path, long long *mtime_s, char **err)
{
    struct ssh_transport *st = (struct ssh_transport *)t;
    LIBSSH2_SFTP *sftp = sftp_get(st, err);
    if (!sftp)
        return -1;
    LIBSSH2_SFTP_ATTRIBUTES a;
    int rc = libssh2_sftp_stat(sftp, path, &a);
    if (rc != 0) {
        if (sftp_absent(st, rc))
            return 1;
        ssh_fail(st, rc, err, "cannot stat '%s'", path);
        return -1;
    }
    if (!(a.flags & LIBSSH2_SFTP_ATTR_ACMODTIME)) {
        *err = xasprintf("%s: cannot stat '%s': the server sent no modification time", st->label,
                         path);
        return -1;
    }
    *mtime_s = (long long)a.mtime;
    return 0;
}

static int set_mode(struct ssh_transport *st, const char *path, int mode, char **err)
{
    LIBSSH2_SFTP_ATTRIBUTES a = {.flags = LIBSSH2_SFTP_ATTR_PERMISSIONS,
                                 .permissions = (unsigned long)mode};
    int rc = libssh2_sftp_setstat(st->sftp, path, &a);
    if (rc != 0) {
        ssh_fail(st, rc, err, "cannot chmod '%s'", path);
        return -1;
    }
    return 0;
}

/* mkdir -p over SFTP; directories it creates get exactly `mode` (the server's umask does not apply). */
static int sftp_mkdir_p(struct ssh_transport *st, const char *path, int mode, char **err)
{
    LIBSSH2_SFTP *sftp = sftp_get(st, err);
    if (!sftp)
        return -1;
    LIBSSH2_SFTP_ATTRIBUTES a;
    if (libssh2_sftp_stat(sftp, path, &a) == 0 && (a.flags & LIBSSH2_SFTP_ATTR_PERMISSIONS) &&
        LIBSSH2_SFTP_S_ISDIR(a.permissions))
        return 0; /* the common case: one round trip */
    char *buf = xstrdup(path);
    size_t len = strlen(buf);
    int rc = 0;
    for (size_t i = 1; i <= len && rc == 0; i++) {
        if ((buf[i] != '/' && buf[i] != '\0') || buf[i - 1] == '/')
            continue;
        char saved = buf[i];
        buf[i] = '\0';
        int mk = libssh2_sftp_mkdir(sftp, buf, mode);
        if (mk == 0) {
            rc = set_mode(st, buf, mode, err);
        } else if (mk != LIBSSH2_ERROR_SFTP_PROTOCOL) {
            ssh_fail(st, mk, err, "cannot create directory '%s'", buf);
            rc = -1;
        } else {
            /* OpenSSH answers FAILURE for an existing path: see what is there */
            unsigned long code = libssh2_sftp_last_error(sftp);
            int sr = libssh2_sftp_stat(sftp, buf, &a);
            if (sr == 0 && (a.flags & LIBSSH2_SFTP_ATTR_PERMISSIONS) &&
                !LIBSSH2_SFTP_S_ISDIR(a.permissions)) {
                *err = xasprintf("%s: cannot create directory '%s': exists and is not a "
                                 "directory",
                                 st->label, buf);
                rc = -1;
            } else if (sr != 0) {
                *err = xasprintf("%s: cannot create directory '%s': %s", st->label, buf,
                                 sftp_status_str(code));
                rc = -1;
            }
        }
        buf[i] = saved;
    }
    free(buf);
    return rc;
}

static int ssh_mkdir(struct transport *t, const char *path, int mode, char **err)
{
    return sftp_mkdir_p((struct ssh_transport *)t, path, mode, err);
}

/* Write all of data to an open SFTP handle. 0, or the libssh2 error. */
static int sftp_write_all(LIBSSH2_SFTP_HANDLE *h, const char *data, size_t len)
{
    while (len) {
        ssize_t n = libssh2_sftp_write(h, data, len < SFTP_CHUNK ? len : SFTP_CHUNK);
        if (n < 0)
            return (int)n;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static int ssh_write_file(struct transport *t, const char *path, const void *data, size_t len,
                          int mode, char **err)
{
    struct ssh_transport *st = (struct ssh_transport *)t;
    const char *slash = strrchr(path, '/');
    char *dir = xstrndup(path, (size_t)(slash - path));
    if (*dir && sftp_mkdir_p(st, dir, 0755, err) < 0) {
        free(dir);
        return -1;
    }
    LIBSSH2_SFTP *sftp = sftp_get(st, err);
    if (!sftp) {
        free(dir);
        return -1;
    }
    /* a temp name in the same directory, so the final rename stays on one file system */
    char *tmp = xasprintf("%s/.%s.rmgr-tmp.%ld.%u", dir, slash + 1, (long)getpid(), ++st->tmp_seq);
    free(dir);
    int rc = -1;
    LIBSSH2_SFTP_HANDLE *h = libssh2_sftp_open(
        sftp, tmp, LIBSSH2_FXF_WRITE | LIBSSH2_FXF_CREAT | LIBSSH2_FXF_EXCL, mode);
    if (!h) {
        ssh_fail(st, libssh2_session_last_errno(st->session), err, "cannot write '%s'", tmp);
        free(tmp);
        return -1;
    }
    int wr = sftp_write_all(h, data, len);
    if (wr != 0) {
        ssh_fail(st, wr, err, "cannot write '%s'", tmp);
        goto fail_handle;
    }
    /* the server's umask applied at open: set the mode exactly */
    LIBSSH2_SFTP_ATTRIBUTES a = {.flags = LIBSSH2_SFTP_ATTR_PERMISSIONS,
                                 .permissions = (unsigned long)mode};
    wr = libssh2_sftp_fsetstat(h, &a);
    if (wr != 0) {
        ssh_fail(st, wr, err, "cannot chmod '%s'", tmp);
        goto fail_handle;
    }
    wr = libssh2_sftp_fsync(h);
    if (wr != 0 && !(wr == LIBSSH2_ERROR_SFTP_PROTOCOL &&
                     libssh2_sftp_last_error(sftp) == LIBSSH2_FX_OP_UNSUPPORTED)) {
        ssh_fail(st, wr, err, "cannot fsync '%s'", tmp);
        goto fail_handle;
    }
    wr = libssh2_sftp_close(h);
    h = NULL;
    if (wr != 0) {
        ssh_fail(st, wr, err, "cannot write '%s'", tmp);
        goto fail_unlink;
    }
    /*
     * SFTP v3 rename refuses to replace an existing file, and libssh2 1.10 has
     * no posix-rename@openssh.com: mv(1) does rename(2), atomic within a directory.
     */
    const char *mv[] = {"mv", "-f", "--", tmp, path, NULL};
    struct exec_result r;
    if (ssh_exec(t, mv, &r, err) < 0)
        goto fail_unlink;
    if (r.status != 0) {
        size_t el = strlen(r.err);
        while (el && r.err[el - 1] == '\n')
            r.err[--el] = '\0';
        *err = xasprintf("%s: cannot rename '%s' to '%s': %s", st->label, tmp, path,
                         *r.err ? r.err : "mv failed");
        exec_result_release(&r);
        goto fail_unlink;
    }
    exec_result_release(&r);
    rc = 0;
    goto out;

fail_handle:
    if (st->session && h)
        libssh2_sftp_close(h);
fail_unlink:
    if (st->session && st->sftp)
        libssh2_sftp_unlink(st->sftp, tmp);
out:
    free(tmp);
    return rc;
}

/* ---- open / close ------------------------------------------------------- */

static void ssh_close(struct transport *t)
{
    struct ssh_transport *st = (struct ssh_transport *)t;
    ssh_drop(st, true);
    free(st->ip);
    free(st->user);
    free(st->identity);
    free(st->known_hosts);
    free(st->label);
    free(st->host_key_err);
    transport_base_release(t);
    free(st);
}

static const struct transport_ops ssh_ops = {
    .close = ssh_close,
    .exec = ssh_exec,
    .read_file = ssh_read_file,
    .stat_mtime = ssh_stat_mtime,
    .write_file = ssh_write_file,
    .mkdir = ssh_mkdir,
};

struct transport *transport_ssh_open(const struct spec *spec, const char *host,
                                     const struct transport_options *opts,
                                     enum transport_failure *failure, char **err)
{
    pthread_once(&init_once, ssh_global_init);
    if (init_rc != 0) {
        *err = xasprintf("ssh %s: cannot initialise libssh2", host);
        return NULL;
    }
    const struct spec_host *h = spec_find_host(spec, host);
    const char *ip = h ? h->address : host;
    unsigned char any[sizeof(struct in6_addr)];
    if (!ip || (inet_pton(AF_INET, ip, any) != 1 && inet_pton(AF_INET6, ip, any) != 1)) {
        *err = xasprintf("ssh %s: not a host of the spec nor an IP address", host);
        return NULL;
    }
    const struct spec_ssh *cfg = spec_host_ssh(spec, host);

    struct ssh_transport *st = xcalloc(1, sizeof(*st));
    transport_base_init(&st->base, &ssh_ops, host, opts);
    st->sock = -1;
    st->ip = xstrdup(ip);
    st->port = cfg && cfg->port > 0 ? cfg->port : 22;
    st->user = xstrdup(cfg && cfg->user ? cfg->user : "root");
    st->identity = xstrdup(cfg ? cfg->identity : NULL);
    if (cfg && cfg->known_hosts) {
        st->known_hosts = xstrdup(cfg->known_hosts);
    } else {
        const char *home = getenv("HOME");
        st->known_hosts = xasprintf("%s/.ssh/known_hosts", home && *home ? home : "/root");
    }
    st->label = strchr(ip, ':') ? xasprintf("ssh [%s]:%d", ip, st->port)
                                : xasprintf("ssh %s:%d", ip, st->port);
    if (ssh_connect(st, err) < 0) {
        *failure = st->base.host_key_failed ? TRANSPORT_FAILURE_HOST_KEY : TRANSPORT_FAILURE_OTHER;
        ssh_close(&st->base);
        return NULL;
    }
    return &st->base;
}
