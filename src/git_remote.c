/*
 * git_remote.c - URLs, credentials and host keys of the git source's
 * remotes. See git_remote.h.
 */
#include "git_remote.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "git_source.h"
#include "known_hosts.h"
#include "url.h"

void git_set_err(char **err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    if (err) {
        free(*err);
        *err = msg;
    } else {
        free(msg);
    }
}

/* ------------------------------------------------------------------------ */
/* URLs                                                                      */

void git_url_release(struct src_url *u)
{
    free(u->store);
    free(u->display);
    free(u->user);
    secret_free(u->pass);
    memset(u, 0, sizeof(*u));
}

static char *percent_decode(const char *s, size_t n)
{
    char *out = xmalloc(n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
            isxdigit((unsigned char)s[i + 2])) {
            char hex[3] = {s[i + 1], s[i + 2], '\0'};
            out[j++] = (char)strtol(hex, NULL, 16);
            i += 2;
        } else {
            out[j++] = s[i];
        }
    }
    out[j] = '\0';
    return out;
}

/* Split a URL into what libgit2 gets, what users see and the credentials. */
int git_url_parse(const char *in, struct src_url *u, char **err)
{
    memset(u, 0, sizeof(*u));
    u->port = 22;
    struct url_parts p;
    if (url_split(in, &p)) {
        char *scheme = xstrndup(in, p.scheme_len);
        for (char *c = scheme; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        if (!strcmp(scheme, "http") || !strcmp(scheme, "https"))
            u->http = true;
        else if (!strcmp(scheme, "ssh") || !strcmp(scheme, "ssh+git") || !strcmp(scheme, "git+ssh"))
            u->ssh = true;
        else if (!strcmp(scheme, "file"))
            u->local = true;
        else if (strcmp(scheme, "git") != 0) {
            free(scheme);
            char *shown = git_source_redact_url(in);
            git_set_err(err, "unsupported URL scheme in '%s' (use https, ssh, git, file or a path)", shown);
            free(shown);
            return -1;
        }
        if (p.has_userinfo) {
            if (p.user_len)
                u->user = percent_decode(p.auth, p.user_len);
            if (p.has_password)
                u->pass = percent_decode(p.password, p.password_len);
        }
        if (u->ssh) {
            /* the port after the host, for known_hosts ("[host]:port") */
            const char *hend = p.host;
            if (*hend == '[')
                hend = memchr(p.host, ']', p.host_len);
            const char *pc = hend ? memchr(hend, ':', (size_t)(p.rest - hend)) : NULL;
            long port;
            char *ps = pc ? xstrndup(pc + 1, (size_t)(p.rest - pc - 1)) : NULL;
            if (ps && *ps && parse_long(ps, 1, 65535, &port))
                u->port = (int)port;
            free(ps);
        }
        struct strbuf sb = {0};
        sb_addf(&sb, "%s://", scheme);
        /* http(s) keeps no userinfo at all (a token is often the user); others keep the user */
        if (!u->http && p.has_userinfo) {
            sb_addn(&sb, p.auth, p.user_len);
            sb_addc(&sb, '@');
        }
        sb_add(&sb, p.host); /* host, port, path and the rest */
        u->store = sb_detach(&sb);
        u->display = xstrdup(u->store);
        free(scheme);
        if (!p.host_len && !u->local) {
            git_set_err(err, "no host in URL '%s'", u->display);
            git_url_release(u);
            return -1;
        }
        return 0;
    }
    const char *colon = strchr(in, ':');
    const char *slash = strchr(in, '/');
    if (colon && colon != in && (!slash || colon < slash)) {
        /* scp-like user@host:path */
        u->ssh = true;
        const char *at = memchr(in, '@', (size_t)(colon - in));
        if (at && at > in)
            u->user = xstrndup(in, (size_t)(at - in));
        u->store = xstrdup(in);
        u->display = xstrdup(in);
        return 0;
    }
    /* a local path: absolute and canonical, so every spelling shares one cache */
    u->local = true;
    char *abs = realpath(in, NULL);
    if (!abs) {
        if (in[0] == '/') {
            abs = xstrdup(in);
        } else {
            char cwd[PATH_MAX];
            if (!getcwd(cwd, sizeof(cwd))) {
                git_set_err(err, "cannot get the current directory: %s", strerror(errno));
                return -1;
            }
            abs = xasprintf("%s/%s", cwd, in);
        }
        size_t n = strlen(abs);
        while (n > 1 && abs[n - 1] == '/')
            abs[--n] = '\0';
    }
    u->store = xstrdup(abs);
    u->display = abs;
    return 0;
}

char *git_source_redact_url(const char *url)
{
    if (!url)
        return NULL;
    struct url_parts p;
    if (!url_split(url, &p) || !p.has_userinfo)
        return xstrdup(url); /* scp-like and paths carry no password */
    bool http = url_scheme_is(url, &p, "http") || url_scheme_is(url, &p, "https");
    struct strbuf sb = {0};
    sb_addn(&sb, url, (size_t)(p.auth - url));
    if (!http) {
        sb_addn(&sb, p.auth, p.user_len);
        sb_addc(&sb, '@');
    }
    sb_add(&sb, p.host);
    return sb_detach(&sb);
}

/* ------------------------------------------------------------------------ */
/* credentials and host keys                                                 */


static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

int git_remote_credentials(git_credential **out, const char *url, const char *user_from_url,
                        unsigned int allowed, void *payload)
{
    struct remote_ctx *cx = payload;
    (void)url;
    const char *url_user = user_from_url && *user_from_url ? user_from_url : cx->u->user;

    if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) && !cx->tried_userpass) {
        cx->tried_userpass = true;
        const char *user = NULL, *pass = NULL;
        const char *token = env_nonempty("RMGR_GIT_TOKEN");
        if (cx->u->pass) {
            user = cx->u->user ? cx->u->user : "";
            pass = cx->u->pass;
        } else if (token) {
            user = env_nonempty("RMGR_GIT_USERNAME");
            if (!user)
                user = url_user ? url_user : "x-access-token";
            pass = token;
        } else if (env_nonempty("RMGR_GIT_PASSWORD")) {
            user = env_nonempty("RMGR_GIT_USERNAME");
            if (!user)
                user = url_user ? url_user : "";
            pass = getenv("RMGR_GIT_PASSWORD");
        } else if (url_user) {
            /* a token given as the URL's user (https://TOKEN@host/...) */
            user = url_user;
            pass = "";
        }
        if (pass) {
            cx->offered = true;
            return git_credential_userpass_plaintext_new(out, user, pass);
        }
    }
    if (allowed & GIT_CREDENTIAL_SSH_KEY) {
        const char *user = url_user ? url_user : env_nonempty("RMGR_GIT_USERNAME");
        if (!user)
            user = "git";
        const char *key = env_nonempty("RMGR_GIT_SSH_KEY");
        if (key && !cx->tried_key) {
            cx->tried_key = true;
            cx->offered = true;
            char *pub = xasprintf("%s.pub", key);
            int rc = git_credential_ssh_key_new(out, user, access(pub, R_OK) == 0 ? pub : NULL,
                                                key, getenv("RMGR_GIT_SSH_PASSPHRASE"));
            free(pub);
            return rc;
        }
        if (!key && env_nonempty("SSH_AUTH_SOCK") && !cx->tried_agent) {
            cx->tried_agent = true;
            cx->offered = true;
            return git_credential_ssh_key_from_agent(out, user);
        }
    }
    if ((allowed & GIT_CREDENTIAL_USERNAME) && !cx->tried_username) {
        cx->tried_username = true;
        const char *user = url_user ? url_user : env_nonempty("RMGR_GIT_USERNAME");
        return git_credential_username_new(out, user ? user : "git");
    }
    cx->exhausted = true;
    git_error_set_str(GIT_ERROR_NET, "authentication failed");
    return GIT_EAUTH;
}

enum { HOST_KEY_REVOKED = -100 }; /* beside LIBSSH2_KNOWNHOST_CHECK_* */

/*
 * Look the raw host key of host:port up in the known_hosts file `file`, read
 * as the ssh transport reads it (known_hosts.h): HOST_KEY_REVOKED (marked
 * @revoked), LIBSSH2_KNOWNHOST_CHECK_MATCH, _MISMATCH (the host is listed
 * with another key of this type) or _NOTFOUND (also when the file cannot be
 * read).
 */
static int known_host_check(const char *file, const char *host, int port,
                            const git_cert_hostkey *hk)
{
    int keybit;
    switch (hk->raw_type) {
    case GIT_CERT_SSH_RAW_TYPE_RSA: keybit = LIBSSH2_KNOWNHOST_KEY_SSHRSA; break;
    case GIT_CERT_SSH_RAW_TYPE_DSS: keybit = LIBSSH2_KNOWNHOST_KEY_SSHDSS; break;
    case GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_256: keybit = LIBSSH2_KNOWNHOST_KEY_ECDSA_256; break;
    case GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_384: keybit = LIBSSH2_KNOWNHOST_KEY_ECDSA_384; break;
    case GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_521: keybit = LIBSSH2_KNOWNHOST_KEY_ECDSA_521; break;
    case GIT_CERT_SSH_RAW_TYPE_KEY_ED25519: keybit = LIBSSH2_KNOWNHOST_KEY_ED25519; break;
    default: return LIBSSH2_KNOWNHOST_CHECK_NOTFOUND;
    }
    int rc = LIBSSH2_KNOWNHOST_CHECK_NOTFOUND;
    struct known_hosts kh;
    char *msg = NULL;
    if (known_hosts_init(&kh, NULL, "git", &msg) < 0) {
        free(msg);
        return rc;
    }
    if (known_hosts_read(&kh, file, "git", &msg) == 0) {
        if (known_hosts_revoked(&kh, hk->hostkey, hk->hostkey_len))
            rc = HOST_KEY_REVOKED;
        else
            rc = known_hosts_check(&kh, host, port, hk->hostkey, hk->hostkey_len, keybit);
    }
    free(msg);
    known_hosts_release(&kh);
    return rc == LIBSSH2_KNOWNHOST_CHECK_FAILURE ? LIBSSH2_KNOWNHOST_CHECK_NOTFOUND : rc;
}

/*
 * TLS certificates: libgit2's verdict stands. ssh host keys: a key marked
 * @revoked in ~/.ssh/known_hosts or RMGR_GIT_KNOWN_HOSTS is refused; else
 * libgit2 has checked ~/.ssh/known_hosts (`valid`), and RMGR_GIT_KNOWN_HOSTS
 * may add keys. An unknown key is refused (there is nobody to ask in a
 * pipeline), and so is a key that differs from a listed one in either file.
 */
int git_remote_check_cert(git_cert *cert, int valid, const char *host, void *payload)
{
    struct remote_ctx *cx = payload;
    if (cert->cert_type != GIT_CERT_HOSTKEY_LIBSSH2)
        return GIT_PASSTHROUGH;
    const git_cert_hostkey *hk = (const git_cert_hostkey *)cert;
    const char *extra = env_nonempty("RMGR_GIT_KNOWN_HOSTS");
    const char *home = getenv("HOME");
    char *home_file = home ? xasprintf("%s/.ssh/known_hosts", home) : NULL;
    int in_home = LIBSSH2_KNOWNHOST_CHECK_NOTFOUND, in_extra = LIBSSH2_KNOWNHOST_CHECK_NOTFOUND;
    if (hk->type & GIT_CERT_SSH_RAW) {
        if (home_file)
            in_home = known_host_check(home_file, host, cx->u->port, hk);
        if (extra)
            in_extra = known_host_check(extra, host, cx->u->port, hk);
    }
    free(home_file);
    bool revoked = in_home == HOST_KEY_REVOKED || in_extra == HOST_KEY_REVOKED;
    if (valid && !revoked)
        return 0;
    if (!revoked && in_extra == LIBSSH2_KNOWNHOST_CHECK_MATCH &&
        in_home != LIBSSH2_KNOWNHOST_CHECK_MISMATCH)
        return 0;
    cx->cert_rejected = true;
    free(cx->cert_error);
    if (revoked)
        cx->cert_error = xasprintf("host key of '%s' is marked @revoked in %s: never trust it "
                                   "(the host needs a new key)",
                                   host, in_home == HOST_KEY_REVOKED ? "~/.ssh/known_hosts"
                                                                     : "$RMGR_GIT_KNOWN_HOSTS");
    else if (in_home == LIBSSH2_KNOWNHOST_CHECK_MISMATCH ||
             in_extra == LIBSSH2_KNOWNHOST_CHECK_MISMATCH)
        cx->cert_error = xasprintf("host key of '%s' does not match the one in %s: the server's "
                                   "key changed, or someone is in between",
                                   host, in_home == LIBSSH2_KNOWNHOST_CHECK_MISMATCH
                                             ? "~/.ssh/known_hosts" : "$RMGR_GIT_KNOWN_HOSTS");
    else
        cx->cert_error = xasprintf("host key of '%s' is not in ~/.ssh/known_hosts%s (add it with "
                                   "ssh-keyscan after checking its fingerprint)",
                                   host, extra ? " nor in $RMGR_GIT_KNOWN_HOSTS" : "");
    git_error_set_str(GIT_ERROR_SSH, cx->cert_error);
    return GIT_ECERTIFICATE;
}
