/*
 * known_hosts.c - OpenSSH known_hosts files, read strictly (see known_hosts.h).
 *
 * libssh2 keeps the list; rmgr reads the file itself, line by line, because
 * libssh2_knownhost_readfile gives up at the first line it cannot parse and
 * knows nothing of @revoked. Fingerprints are computed here (SHA-256) since
 * libssh2 computes one only for the key the server sent.
 */
#include "known_hosts.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct host_key_type keytypes[] = {
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

/*
 * SHA-256 (FIPS 180-4) of `len` bytes into out[32] (known_hosts.h): the fingerprint of a
 * known_hosts key, which libssh2 computes only for the key the server sent.
 */
void sha256_bytes(const unsigned char *in, size_t len, unsigned char out[32])
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
    sha256_bytes(key, len, digest);
    char *b64 = base64_encode(digest, sizeof(digest), false);
    char *fp = xasprintf("SHA256:%s", b64);
    free(b64);
    return fp;
}

const char *ssh_session_error(LIBSSH2_SESSION *s)
{
    char *msg = NULL;
    if (!s)
        return "no session";
    libssh2_session_last_error(s, &msg, NULL, 0);
    return msg && *msg ? msg : "unknown error";
}

/* ---- the list ----------------------------------------------------------- */

int known_hosts_init(struct known_hosts *k, LIBSSH2_SESSION *session, const char *label,
                     char **err)
{
    memset(k, 0, sizeof(*k));
    if (!session) {
        session = k->own = libssh2_session_init();
        if (!session) {
            *err = xasprintf("%s: cannot create an ssh session", label);
            return -1;
        }
    }
    k->session = session;
    k->kh = libssh2_knownhost_init(session);
    if (!k->kh) {
        *err = xasprintf("%s: %s", label, ssh_session_error(session));
        known_hosts_release(k);
        return -1;
    }
    return 0;
}

void known_hosts_release(struct known_hosts *k)
{
    if (!k)
        return;
    if (k->kh)
        libssh2_knownhost_free(k->kh);
    if (k->own)
        libssh2_session_free(k->own);
    sb_release(&k->revoked);
    memset(k, 0, sizeof(*k));
}

/*
 * libssh2_knownhost_readfile would stop at the first line it cannot parse
 * (markers, security-key types) and make every later host unknown: read
 * line by line instead.
 */
int known_hosts_read(struct known_hosts *k, const char *file, const char *label, char **err)
{
    FILE *f = fopen(file, "r");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        *err = xasprintf("%s: cannot read known_hosts '%s': %s", label, file, strerror(errno));
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
                sb_add(&k->revoked, key);
                sb_addc(&k->revoked, '\n');
            }
            continue;
        }
        if (*p == '@')
            continue; /* @cert-authority: not supported by libssh2 */
        libssh2_knownhost_readline(k->kh, line, (size_t)n, LIBSSH2_KNOWNHOST_FILE_OPENSSH);
    }
    free(line);
    fclose(f);
    return 0;
}

bool known_hosts_revoked(const struct known_hosts *k, const char *key, size_t len)
{
    char *key_b64 = base64_encode((const unsigned char *)key, len, true);
    size_t kl = strlen(key_b64);
    bool is_revoked = false;
    for (const char *p = sb_str(&k->revoked); *p;) {
        size_t l = strcspn(p, "\n");
        if (l == kl && memcmp(p, key_b64, l) == 0)
            is_revoked = true;
        p += l + (p[l] == '\n');
    }
    free(key_b64);
    return is_revoked;
}

int known_hosts_check(const struct known_hosts *k, const char *host, int port, const char *key,
                      size_t len, int kh_type)
{
    return libssh2_knownhost_checkp(k->kh, host, port, key, len,
                                    LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW |
                                        kh_type,
                                    NULL);
}

unsigned known_hosts_types(const struct known_hosts *k, const char *host, int port)
{
    /* a key that matches nothing: MISMATCH then means "an entry of this type exists" */
    unsigned mask = 0;
    for (size_t i = 0; i < ARRAY_SIZE(keytypes); i++) {
        int rc = libssh2_knownhost_checkp(k->kh, host, port, "AAAA", 4,
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
static char *known_fingerprint(const struct known_hosts *k, const char *host, int port, size_t i)
{
    struct libssh2_knownhost *entry = NULL;
    int rc = libssh2_knownhost_checkp(k->kh, host, port, "AAAA", 4,
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

void known_hosts_prefer_types(LIBSSH2_SESSION *session, unsigned known)
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
    libssh2_session_method_pref(session, LIBSSH2_METHOD_HOSTKEY, sb_str(&sb));
    sb_release(&sb);
}

/* ---- checking a server's key ------------------------------------------- */

/* Append one entry to the known_hosts file, creating it (and its directory) when missing. */
static int append_known_host(struct known_hosts *k, const struct host_key_peer *p,
                             const char *name, const char *key, size_t key_len, int kh_type,
                             char **err)
{
    struct libssh2_knownhost *entry = NULL;
    if (libssh2_knownhost_addc(k->kh, name, NULL, key, key_len, NULL, 0,
                               LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW |
                                   kh_type,
                               &entry) != 0) {
        *err = xasprintf("%s: cannot add host key: %s", p->label, ssh_session_error(k->session));
        return -1;
    }
    char line[8192];
    size_t len = 0;
    if (libssh2_knownhost_writeline(k->kh, entry, line, sizeof(line), &len,
                                    LIBSSH2_KNOWNHOST_FILE_OPENSSH) != 0) {
        *err = xasprintf("%s: cannot format host key: %s", p->label, ssh_session_error(k->session));
        return -1;
    }
    char *dir = xstrdup(p->file);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        mkdir(dir, 0700); /* ~/.ssh may not exist yet; open() below reports real problems */
    }
    free(dir);
    int fd = open(p->file, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        *err = xasprintf("%s: cannot update known_hosts '%s': %s", p->label, p->file,
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
        *err = xasprintf("%s: cannot update known_hosts '%s': %s", p->label, p->file,
                         w < 0 ? strerror(e) : "short write");
        rc = -1;
    }
    close(fd);
    sb_release(&sb);
    return rc;
}

/*
 * The lines under the headline of a refused key that stands where known_hosts
 * has another (of type `type`, fingerprint `had`): what each side has and how
 * to remove the old entry. Caller frees.
 */
static char *replace_hint(const char *type, const char *had, const char *file, const char *fp,
                          const char *check, const char *remove)
{
    return xasprintf("  known_hosts: %s %s ('%s')\n"
                     "  server sent: %s\n"
                     "  if the new key is the host's (%s), remove the old entry with\n"
                     "    %s\n"
                     "  then run again with --accept-new-host-keys",
                     type, had, file, fp, check, remove);
}

/* A refusal: *err gets `msg`. */
static int refused(char *msg, char **err)
{
    *err = msg;
    return HOST_KEY_REFUSED;
}

/*
 * Every refusal names the host, the key type, the fingerprint the server
 * sent and the one known_hosts has, and the fix.
 */
int known_hosts_verify(struct known_hosts *k, const struct host_key_peer *p, unsigned known,
                       char **err)
{
    size_t key_len = 0;
    int stype = 0;
    const char *key = libssh2_session_hostkey(k->session, &key_len, &stype);
    if (!key) {
        *err = xasprintf("%s: the server sent no host key", p->label);
        return HOST_KEY_ERROR;
    }
    const struct host_key_type *kt = NULL;
    size_t kt_index = 0;
    for (size_t i = 0; i < ARRAY_SIZE(keytypes); i++)
        if (keytypes[i].session_type == stype) {
            kt = &keytypes[i];
            kt_index = i;
        }
    if (!kt) {
        *err = xasprintf("%s: the server's host key has a type rmgr does not know", p->label);
        return HOST_KEY_ERROR;
    }
    char *sent = key_fingerprint((const unsigned char *)key, key_len);
    char *fp = xasprintf("%s %s", kt->name, sent);
    /* the name of the host in known_hosts: "ip", or "[ip]:port" when the port is not 22 */
    char *name = p->port == 22 ? xstrdup(p->ip) : xasprintf("[%s]:%d", p->ip, p->port);
    const char *label = p->host_label;
    /* ssh-keygen -R wants the name as known_hosts spells it, quoted for the shell */
    char *remove = xasprintf("ssh-keygen -R '%s' -f '%s'", name, p->file);
    char *check = xasprintf("check it on the host: ssh-keygen -lf /etc/ssh/ssh_host_%s_key.pub",
                            kt->file);
    int rc = HOST_KEY_ERROR;

    if (known_hosts_revoked(k, key, key_len)) {
        rc = refused(
            xasprintf("%s: host key for %s (%s) is marked @revoked in '%s'\n"
                      "  server sent: %s, which known_hosts says never to trust\n"
                      "  the host needs a new key; rmgr does not connect to it until then",
                      label, name, fp, p->file, fp),
            err);
        goto out;
    }

    int check_rc = known_hosts_check(k, p->ip, p->port, key, key_len, kt->kh_type);
    switch (check_rc) {
    case LIBSSH2_KNOWNHOST_CHECK_MATCH:
        rc = HOST_KEY_TRUSTED;
        break;
    case LIBSSH2_KNOWNHOST_CHECK_MISMATCH: {
        char *had = known_fingerprint(k, p->ip, p->port, kt_index);
        char *hint = replace_hint(kt->name, had ? had : "another key", p->file, fp, check, remove);
        rc = refused(xasprintf("%s: host key CHANGED for %s: the server offers %s, known_hosts has "
                               "%s %s; possible man-in-the-middle (or the host was reinstalled)\n"
                               "%s (it adds keys never seen; it never replaces a changed one)",
                               label, name, fp, kt->name, had ? had : "another key", hint),
                     err);
        free(hint);
        free(had);
        break;
    }
    case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND:
        if (known & ~(1u << kt_index)) {
            /* known with another type the server did not offer: treat like a change */
            size_t other = 0;
            while (other < ARRAY_SIZE(keytypes) && !((known >> other) & 1u))
                other++;
            char *had = known_fingerprint(k, p->ip, p->port, other);
            char *hint = replace_hint(keytypes[other].name, had ? had : "a key", p->file, fp,
                                      check, remove);
            rc = refused(xasprintf("%s: host key for %s is not in known_hosts (%s), which has a "
                                   "key of another type for it that the server did not offer; "
                                   "possible man-in-the-middle\n%s",
                                   label, name, fp, hint),
                         err);
            free(hint);
            free(had);
            break;
        }
        if (!p->accept_new) {
            rc = refused(
                xasprintf("%s: host key for %s is not in known_hosts (%s); add it to '%s' or "
                          "pass --accept-new-host-keys\n"
                          "  known_hosts: no key for %s ('%s')\n"
                          "  server sent: %s\n"
                          "  if that is the host's key (%s), add it to known_hosts, or run "
                          "again with --accept-new-host-keys (trust on first use)",
                          label, name, fp, p->file, name, p->file, fp, check),
                err);
            break;
        }
        rc = append_known_host(k, p, name, key, key_len, kt->kh_type, err);
        if (rc < 0) /* still not trusted: a host key failure, not a host that is down */
            rc = HOST_KEY_REFUSED;
        break;
    default:
        *err = xasprintf("%s: cannot check the host key: %s", p->label,
                         ssh_session_error(k->session));
        break;
    }
out:
    free(fp);
    free(sent);
    free(name);
    free(remove);
    free(check);
    return rc;
}
