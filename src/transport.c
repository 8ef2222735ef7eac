/*
 * transport.c - pick a backend for a host and route every call to it.
 *
 * Also home of the pieces both backends share: option defaults, the
 * exec_result lifecycle and POSIX sh quoting for commands sent over ssh.
 */
#include "transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "transport_impl.h"
#include "util.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 5000
#define DEFAULT_COMMAND_TIMEOUT_MS 30000

void exec_result_release(struct exec_result *r)
{
    if (!r)
        return;
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
    r->status = 0;
}

void transport_base_init(struct transport *t, const struct transport_ops *ops, const char *host,
                         const struct transport_options *opts)
{
    ASSERT(t && ops);
    ASSERT(ops->close && ops->exec && ops->read_file && ops->stat_mtime && ops->write_file &&
           ops->mkdir);
    t->ops = ops;
    t->host = xstrdup(host ? host : "localhost");
    t->host_key_failed = false;
    if (opts)
        t->opts = *opts;
    else
        memset(&t->opts, 0, sizeof(t->opts));
    if (t->opts.connect_timeout_ms <= 0)
        t->opts.connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
    if (t->opts.command_timeout_ms <= 0)
        t->opts.command_timeout_ms = DEFAULT_COMMAND_TIMEOUT_MS;
    pthread_mutex_init(&t->serial, NULL);
}

void transport_base_release(struct transport *t)
{
    free(t->host);
    t->host = NULL;
    pthread_mutex_destroy(&t->serial);
}

/* Around each call: one at a time on a backend whose calls must not overlap. */
static void call_begin(struct transport *t)
{
    if (t->ops->serial)
        pthread_mutex_lock(&t->serial);
}

static int call_end(struct transport *t, int rc)
{
    if (t->ops->serial)
        pthread_mutex_unlock(&t->serial);
    return rc;
}

struct transport *transport_open_ex(const struct spec *spec, const char *host,
                                    const struct transport_options *opts,
                                    enum transport_failure *failure, char **err)
{
    enum transport_failure dummy;
    if (!failure)
        failure = &dummy;
    *failure = TRANSPORT_FAILURE_NONE;
    *err = NULL;
    struct transport *t;
    if (!spec || spec_host_transport(spec, host) == TRANSPORT_LOCAL)
        t = transport_local_open(host, opts, err);
    else
        t = transport_ssh_open(spec, host, opts, failure, err);
    if (!t && *failure == TRANSPORT_FAILURE_NONE)
        *failure = TRANSPORT_FAILURE_OTHER;
    return t;
}

struct transport *transport_open(const struct spec *spec, const char *host,
                                 const struct transport_options *opts, char **err)
{
    return transport_open_ex(spec, host, opts, NULL, err);
}

bool transport_host_key_failed(const struct transport *t)
{
    return t && t->host_key_failed;
}

void transport_close(struct transport *t)
{
    if (t)
        t->ops->close(t);
}

const char *transport_host(const struct transport *t)
{
    ASSERT(t);
    return t->host;
}

int transport_exec(struct transport *t, const char *const *argv, struct exec_result *r, char **err)
{
    ASSERT(t && r && err);
    *err = NULL;
    memset(r, 0, sizeof(*r));
    if (!argv || !argv[0]) {
        *err = xstrdup("empty command");
        return -1;
    }
    call_begin(t);
    return call_end(t, t->ops->exec(t, argv, r, err));
}

int transport_read_file(struct transport *t, const char *path, size_t max_size, char **out,
                        size_t *out_len, char **err)
{
    ASSERT(t && path && out && err);
    *err = NULL;
    *out = NULL;
    if (out_len)
        *out_len = 0;
    size_t len_dummy;
    call_begin(t);
    return call_end(t, t->ops->read_file(t, path, max_size, out,
                                         out_len ? out_len : &len_dummy, err));
}

int transport_stat_mtime(struct transport *t, const char *path, long long *mtime_s, char **err)
{
    ASSERT(t && path && mtime_s && err);
    *err = NULL;
    *mtime_s = 0;
    call_begin(t);
    return call_end(t, t->ops->stat_mtime(t, path, mtime_s, err));
}

int transport_write_file(struct transport *t, const char *path, const void *data, size_t len,
                         int mode, char **err)
{
    ASSERT(t && err && (data || len == 0));
    *err = NULL;
    if (!path || path[0] != '/') {
        *err = xasprintf("cannot write '%s': path is not absolute", path ? path : "");
        return -1;
    }
    call_begin(t);
    return call_end(t, t->ops->write_file(t, path, data, len, mode, err));
}

int transport_mkdir(struct transport *t, const char *path, int mode, char **err)
{
    ASSERT(t && err);
    *err = NULL;
    if (!path || path[0] != '/') {
        *err = xasprintf("cannot create directory '%s': path is not absolute", path ? path : "");
        return -1;
    }
    call_begin(t);
    return call_end(t, t->ops->mkdir(t, path, mode, err));
}

/* ---- quoting ------------------------------------------------------------ */

/* Append `arg` single-quoted: inside '...' sh takes every byte literally except ' itself. */
static void sh_quote_into(struct strbuf *sb, const char *arg)
{
    sb_addc(sb, '\'');
    for (const char *p = arg; *p; p++) {
        if (*p == '\'')
            sb_add(sb, "'\\''"); /* close, escaped quote, reopen */
        else
            sb_addc(sb, *p);
    }
    sb_addc(sb, '\'');
}

char *transport_sh_quote(const char *arg)
{
    struct strbuf sb = {0};
    sh_quote_into(&sb, arg ? arg : "");
    return sb_detach(&sb);
}

/*
 * The words of `argv` joined by spaces, each quoted for sh when `quote`; cut
 * to `max` bytes and "..." when `max` is not 0.
 */
static char *join_argv(const char *const *argv, bool quote, size_t max)
{
    struct strbuf sb = {0};
    for (size_t i = 0; argv && argv[i]; i++) {
        if (i)
            sb_addc(&sb, ' ');
        if (quote)
            sh_quote_into(&sb, argv[i]);
        else
            sb_add(&sb, argv[i]);
        if (max && sb.len > max) {
            sb.len = max;
            sb.buf[sb.len] = '\0';
            sb_add(&sb, "...");
            break;
        }
    }
    return sb_detach(&sb);
}

char *transport_sh_quote_argv(const char *const *argv)
{
    return join_argv(argv, true, 0);
}

char *transport_argv_summary(const char *const *argv)
{
    /* messages show the command the way a user would type it, kept short */
    return join_argv(argv, false, 200);
}

bool transport_stale_temp(const char *name, const char *base)
{
    if (!name || !base || !*base)
        return false;
    const char *p = name;
    if (*p == '.' && strncmp(p, base, strlen(base)) != 0)
        p++; /* the SFTP form hides its temp */
    size_t n = strlen(base);
    if (strncmp(p, base, n) || strncmp(p + n, ".rmgr-tmp.", 10))
        return false;
    p += n + 10;
    char mine[32];
    int m = snprintf(mine, sizeof(mine), "%ld.", (long)getpid());
    return *p && strncmp(p, mine, (size_t)m) != 0;
}
