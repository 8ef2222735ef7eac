/*
 * harness_sshd.c - a private sshd with generated keys, run through harness.c.
 */
#include "harness_sshd.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define SSHD_BIN "/usr/sbin/sshd"

static char *slurp(const char *path)
{
    char *buf = NULL;
    size_t len;
    if (read_file(path, 16 * 1024 * 1024, &buf, &len) < 0)
        return NULL;
    return buf;
}

static void chomp(char *s)
{
    size_t n = s ? strlen(s) : 0;
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
        s[--n] = '\0';
}

/* "type base64 [comment]" -> "type base64" */
static char *pub_without_comment(const char *line)
{
    const char *sp = strchr(line, ' ');
    const char *sp2 = sp ? strchr(sp + 1, ' ') : NULL;
    char *s = sp2 ? xstrndup(line, (size_t)(sp2 - line)) : xstrdup(line);
    chomp(s);
    return s;
}

static int key_info(const char *pub_path, char **pub_line, char **fp)
{
    char *pub = slurp(pub_path);
    if (!pub) {
        fprintf(stderr, "harness_sshd: cannot read '%s': %s\n", pub_path, strerror(errno));
        return -1;
    }
    if (pub_line)
        *pub_line = pub_without_comment(pub);
    free(pub);
    if (fp) {
        const char *argv[] = {"ssh-keygen", "-l", "-E", "sha256", "-f", pub_path, NULL};
        char *out = NULL, *err = NULL;
        int status = -1;
        if (harness_run(argv, &out, &err, &status) < 0 || status != 0 || !out) {
            fprintf(stderr, "harness_sshd: ssh-keygen -l '%s' failed: %s\n", pub_path,
                    err ? err : "");
            free(out);
            free(err);
            return -1;
        }
        /* "256 SHA256:xxxx comment (ED25519)" */
        const char *p = strstr(out, "SHA256:");
        *fp = p ? xstrndup(p, strcspn(p, " \n")) : xstrdup("?");
        free(out);
        free(err);
    }
    return 0;
}

int harness_ssh_keygen(const char *path, char **pub_line, char **fp)
{
    char *pub_path = xasprintf("%s.pub", path);
    unlink(path);
    unlink(pub_path);
    const char *argv[] = {"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "rmgr-test",
                          "-f", path, NULL};
    char *out = NULL, *err = NULL;
    int status = -1;
    int rc = -1;
    if (harness_run(argv, &out, &err, &status) < 0 || status != 0) {
        fprintf(stderr, "harness_sshd: ssh-keygen '%s' failed (exit %d): %s\n", path, status,
                err ? err : "");
    } else {
        rc = key_info(pub_path, pub_line, fp);
    }
    free(out);
    free(err);
    free(pub_path);
    return rc;
}

static int write_text(const char *path, const char *text, int mode)
{
    if (write_file_atomic(path, text, strlen(text), mode) < 0) {
        fprintf(stderr, "harness_sshd: cannot write '%s': %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

static void hsshd_free(struct hsshd *s)
{
    if (!s)
        return;
    free(s->ip);
    free(s->user);
    free(s->dir);
    free(s->config);
    free(s->log);
    free(s->host_key);
    free(s->host_pub);
    free(s->host_fp);
    free(s->client_key);
    free(s->known_hosts);
    free(s);
}

/* Print the end of the sshd log (why it did not start). */
static void show_log_tail(const char *log)
{
    char *text = slurp(log);
    if (!text || !*text) {
        fprintf(stderr, "harness_sshd: log '%s' is empty\n", log);
    } else {
        size_t n = strlen(text);
        const char *tail = n > 2000 ? text + n - 2000 : text;
        fprintf(stderr, "harness_sshd: end of '%s':\n%s\n", log, tail);
    }
    free(text);
}

static bool log_says_listening(void *arg)
{
    const struct hsshd *s = arg;
    char *text = slurp(s->log);
    bool ok = text && strstr(text, "Server listening on");
    free(text);
    return ok || !hproc_alive(s->proc);
}

/* Keys and files that do not depend on the port. */
static int prepare_keys(struct hsshd *s, const struct hsshd_opts *o)
{
    if (o->host_key) {
        s->host_key = xstrdup(o->host_key);
        char *pub = xasprintf("%s.pub", o->host_key);
        int rc = key_info(pub, &s->host_pub, &s->host_fp);
        free(pub);
        if (rc < 0)
            return -1;
    } else {
        s->host_key = xasprintf("%s/ssh_host_ed25519_key", s->dir);
        if (harness_ssh_keygen(s->host_key, &s->host_pub, &s->host_fp) < 0)
            return -1;
    }
    char *client_pub = NULL;
    if (o->client_key) {
        s->client_key = xstrdup(o->client_key);
        char *pub = xasprintf("%s.pub", o->client_key);
        int rc = key_info(pub, &client_pub, NULL);
        free(pub);
        if (rc < 0)
            return -1;
    } else {
        s->client_key = xasprintf("%s/id_ed25519", s->dir);
        if (harness_ssh_keygen(s->client_key, &client_pub, NULL) < 0)
            return -1;
    }
    char *ak_path = xasprintf("%s/authorized_keys", s->dir);
    char *ak = xasprintf("%s\n", client_pub);
    int rc = write_text(ak_path, ak, 0600);
    free(ak);
    free(ak_path);
    free(client_pub);
    return rc;
}

static int write_config(struct hsshd *s, const struct hsshd_opts *o)
{
    char *conf = xasprintf("# written by tests/harness_sshd.c\n"
                           "Port %d\n"
                           "ListenAddress %s\n"
                           "HostKey %s\n"
                           "PidFile %s/sshd.pid\n"
                           "AuthorizedKeysFile %s/authorized_keys\n"
                           "PubkeyAuthentication yes\n"
                           "PasswordAuthentication no\n"
                           "KbdInteractiveAuthentication no\n"
                           "PermitRootLogin prohibit-password\n"
                           "StrictModes no\n"
                           "UsePAM no\n"
                           "UseDNS no\n"
                           "PrintMotd no\n"
                           "PrintLastLog no\n"
                           "LogLevel INFO\n"
                           "MaxStartups 100:30:200\n"
                           "MaxSessions 50\n"
                           "Subsystem sftp internal-sftp\n"
                           "%s",
                           s->port, s->ip, s->host_key, s->dir, s->dir,
                           o->extra_config ? o->extra_config : "");
    int rc = write_text(s->config, conf, 0600);
    free(conf);
    if (rc < 0)
        return -1;
    char *kh = s->port == 22 ? xasprintf("%s %s\n", s->ip, s->host_pub)
                             : xasprintf("[%s]:%d %s\n", s->ip, s->port, s->host_pub);
    rc = write_text(s->known_hosts, kh, 0600);
    free(kh);
    return rc;
}

struct hsshd *harness_start_sshd(struct harness *h, const struct hsshd_opts *opts)
{
    struct hsshd_opts none = {0};
    const struct hsshd_opts *o = opts ? opts : &none;
    if (access(SSHD_BIN, X_OK) < 0) {
        fprintf(stderr, "harness_sshd: %s is not installed (apt-get install openssh-server)\n",
                SSHD_BIN);
        return NULL;
    }
    if (o->wrap && o->port <= 0) {
        fprintf(stderr, "harness_sshd: a wrapped sshd needs an explicit port\n");
        return NULL;
    }
    /* privilege separation wants this directory; nothing creates it without systemd */
    if (mkdir("/run/sshd", 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "harness_sshd: cannot create '/run/sshd': %s\n", strerror(errno));
        return NULL;
    }
    struct hsshd *s = xcalloc(1, sizeof(*s));
    s->ip = xstrdup(o->ip ? o->ip : "127.0.0.1");
    struct passwd *pw = getpwuid(geteuid());
    s->user = xstrdup(pw ? pw->pw_name : "root");
    static int seq;
    s->dir = xasprintf("%s/sshd-%s-%d", harness_dir(h), s->ip, ++seq);
    if (mkdir(s->dir, 0700) < 0) {
        fprintf(stderr, "harness_sshd: cannot create '%s': %s\n", s->dir, strerror(errno));
        hsshd_free(s);
        return NULL;
    }
    s->config = xasprintf("%s/sshd_config", s->dir);
    s->log = xasprintf("%s/sshd.log", s->dir);
    s->known_hosts = xasprintf("%s/known_hosts", s->dir);
    if (prepare_keys(s, o) < 0) {
        hsshd_free(s);
        return NULL;
    }

    /* a free port can be taken by someone else before sshd binds it: try a few */
    for (int attempt = 0; attempt < 4 && !s->proc; attempt++) {
        s->port = o->port > 0 ? o->port : harness_free_port();
        if (s->port <= 0 || write_config(s, o) < 0)
            break;
        unlink(s->log);
        struct strbuf label = {0};
        sb_addf(&label, "sshd-%s", s->ip);
        const char *sshd[] = {SSHD_BIN, "-D", "-f", s->config, "-E", s->log};
        size_t nwrap = 0;
        while (o->wrap && o->wrap[nwrap])
            nwrap++;
        const char **argv = xcalloc(nwrap + ARRAY_SIZE(sshd) + 1, sizeof(*argv));
        for (size_t i = 0; i < nwrap; i++)
            argv[i] = o->wrap[i];
        for (size_t i = 0; i < ARRAY_SIZE(sshd); i++)
            argv[nwrap + i] = sshd[i];
        s->proc = harness_start_cmd(h, sb_str(&label), argv, o->wrap ? 0 : s->port);
        free(argv);
        sb_release(&label);
        if (s->proc && o->wrap) {
            harness_wait_until(log_says_listening, s, HARNESS_READY_TIMEOUT_MS, 20);
            char *text = slurp(s->log);
            bool ok = text && strstr(text, "Server listening on");
            free(text);
            if (!ok) {
                fprintf(stderr, "harness_sshd: sshd under a wrapper did not start listening\n");
                harness_stop(h, s->proc);
                s->proc = NULL;
                break; /* the port was given: another attempt would not help */
            }
        }
        if (!s->proc) {
            char *text = slurp(s->log);
            bool taken = text && strstr(text, "Address already in use");
            free(text);
            if (!taken || o->port > 0) {
                show_log_tail(s->log);
                break;
            }
        }
    }
    if (!s->proc) {
        fprintf(stderr, "harness_sshd: cannot start sshd (config '%s')\n", s->config);
        hsshd_free(s);
        return NULL;
    }
    return s;
}

int harness_stop_sshd(struct harness *h, struct hsshd *s)
{
    if (!s)
        return 0;
    int rc = harness_stop(h, s->proc);
    hsshd_free(s);
    return rc;
}

int hsshd_logins(const struct hsshd *s)
{
    char *text = slurp(s->log);
    int n = 0;
    for (const char *p = text; p && (p = strstr(p, "Accepted publickey")); p++)
        n++;
    free(text);
    return n;
}

char *hsshd_host_yaml(const struct hsshd *s, const char *name)
{
    return xasprintf("  %s:\n"
                     "    address: %s\n"
                     "    transport: ssh\n"
                     "    ssh:\n"
                     "      port: %d\n"
                     "      user: %s\n"
                     "      identity: %s\n"
                     "      known_hosts: %s\n",
                     name, s->ip, s->port, s->user, s->client_key, s->known_hosts);
}
