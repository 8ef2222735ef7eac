/*
 * instance.c - the one instance controller. See instance.h.
 */
#include "instance.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "conf.h"
#include "util.h"

#define MAX_PIDFILE_SIZE 64
#define MAX_CMDLINE_SIZE (64 * 1024)
#define MAX_STAT_SIZE 4096
#define MAX_BINARY_SIZE (512L * 1024 * 1024)

/* what a started daemon's environment holds: nothing of rmgr's */
#define DAEMON_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define FIRST_POLL_US 1000

void instance_backoff(long *delay_us, long cap_us)
{
    long d = *delay_us < cap_us ? *delay_us : cap_us;
    sleep_us(d);
    *delay_us = d * 2 < cap_us ? d * 2 : cap_us;
}

struct instance_policy instance_policy_default(long term_timeout_ms, long connect_timeout_ms)
{
    struct instance_policy p = {
        .poll_us = 20000,
        .term_timeout_ms = term_timeout_ms,
        .kill_timeout_ms = 5000,
        .pid_min = 2,
        .pid_max = 4194304, /* PID_MAX_LIMIT */
        .connect_timeout_ms = connect_timeout_ms,
        .direct = false,
    };
    return p;
}

/* ====================================================================
 * Pure pieces
 * ==================================================================== */

const char *instance_bin_name(enum instance_kind k)
{
    switch (k) {
    case INSTANCE_REDIS: return "redis-server";
    case INSTANCE_SENTINEL: return "redis-sentinel";
    case INSTANCE_PROXY: return "nutcracker";
    }
    return "unknown";
}

static const char *spec_bin(const struct spec *s, enum instance_kind k)
{
    switch (k) {
    case INSTANCE_REDIS: return s->defaults.binaries.redis_server;
    case INSTANCE_SENTINEL: return s->defaults.binaries.redis_sentinel;
    case INSTANCE_PROXY: return s->defaults.binaries.nutcracker;
    }
    return NULL;
}

char *instance_binary_path(const struct spec *s, enum instance_kind k)
{
    if (!s->defaults.binaries.ship)
        return xstrdup(spec_bin(s, k));
    const char *base = s->defaults.base_dir ? s->defaults.base_dir : "/";
    size_t n = strlen(base);
    return xasprintf("%s%s%s/bin/%s", base, n && base[n - 1] == '/' ? "" : "/", s->cluster,
                     instance_bin_name(k));
}

void instance_answer_addr(const struct spec *s, enum instance_kind k, const char *ip, int port,
                          const char **aip, int *aport)
{
    *aip = ip;
    *aport = port;
    if (k != INSTANCE_PROXY)
        return;
    const struct spec_proxy *sp = instance_proxy(s, ip, port);
    if (sp)
        *aip = sp->listen.ip;
}

/* Whether NUL-separated `args` (len bytes) has an argument equal to `want`. */
static bool has_arg(const char *args, size_t len, const char *want)
{
    size_t wl = strlen(want);
    for (size_t i = 0; i < len;) {
        size_t n = strnlen(args + i, len - i);
        if (n == wl && !memcmp(args + i, want, wl))
            return true;
        i += n + 1;
    }
    return false;
}

/* Whether ":port" occurs in `text` not followed by another digit. */
static bool has_port_token(const char *text, int port)
{
    char tok[16];
    snprintf(tok, sizeof(tok), ":%d", port);
    size_t tl = strlen(tok);
    for (const char *p = strstr(text, tok); p; p = strstr(p + 1, tok))
        if (p[tl] < '0' || p[tl] > '9')
            return true;
    return false;
}

/*
 * Whether the program of a command line is `name`: the base name of its
 * first word (redis puts its whole title into argv[0], "redis-server
 * 127.0.0.1:7001", and a path may come first).
 */
static bool program_is(const char *cmdline, size_t len, const char *name)
{
    size_t n = strnlen(cmdline, len);
    size_t end = 0;
    while (end < n && cmdline[end] != ' ')
        end++;
    size_t start = end;
    while (start > 0 && cmdline[start - 1] != '/')
        start--;
    return end - start == strlen(name) && !memcmp(cmdline + start, name, end - start);
}

bool instance_cmdline_matches(const char *cmdline, size_t len, enum instance_kind k, int port,
                           const char *conf)
{
    if (!cmdline || !len)
        return false;
    /* the whole command line as one string, for the process title */
    char *flat = xmalloc(len + 1);
    for (size_t i = 0; i < len; i++)
        flat[i] = cmdline[i] ? cmdline[i] : ' ';
    flat[len] = '\0';
    bool with_conf = conf && has_arg(cmdline, len, conf);
    bool sentinel_mode = strstr(flat, "[sentinel]") || has_arg(cmdline, len, "--sentinel");
    bool ok;
    switch (k) {
    case INSTANCE_REDIS:
        ok = program_is(cmdline, len, "redis-server") && !sentinel_mode &&
             (has_port_token(flat, port) || with_conf);
        break;
    case INSTANCE_SENTINEL:
        ok = (program_is(cmdline, len, "redis-sentinel") ||
              (program_is(cmdline, len, "redis-server") && sentinel_mode)) &&
             (has_port_token(flat, port) || with_conf);
        break;
    case INSTANCE_PROXY:
    default:
        ok = program_is(cmdline, len, "nutcracker") && with_conf;
        break;
    }
    free(flat);
    return ok;
}

const struct spec_proxy *instance_proxy(const struct spec *s, const char *ip, int port)
{
    for (size_t i = 0; i < s->nproxies; i++)
        if (str_eq(s->proxies[i].host_ip, ip) && s->proxies[i].listen.port == port)
            return &s->proxies[i];
    return NULL;
}

struct argv_builder {
    char **v;
    size_t n, cap;
};

static void argv_add(struct argv_builder *a, char *owned)
{
    VEC_GROW(a->v, a->n, a->cap);
    a->v[a->n++] = owned;
}

char **instance_start_argv(const struct spec *s, const struct step *st, const char *bin)
{
    struct argv_builder a = {0};
    const char *kind = instance_kind_name(st->instance);
    argv_add(&a, xstrdup(bin));
    switch (st->instance) {
    case INSTANCE_REDIS:
        argv_add(&a, conf_path(s, kind, st->port));
        argv_add(&a, xstrdup("--replicaof"));
        if (st->master_ip) {
            argv_add(&a, xstrdup(st->master_ip));
            argv_add(&a, xasprintf("%d", st->master_port));
        } else {
            argv_add(&a, xstrdup("no"));
            argv_add(&a, xstrdup("one"));
        }
        break;
    case INSTANCE_SENTINEL:
        argv_add(&a, conf_path(s, kind, st->port));
        break;
    case INSTANCE_PROXY: {
        const struct spec_proxy *sp = instance_proxy(s, st->ip, st->port);
        if (!sp) {
            for (size_t i = 0; i < a.n; i++)
                free(a.v[i]);
            free(a.v);
            return NULL;
        }
        argv_add(&a, xstrdup("-d"));
        argv_add(&a, xstrdup("-c"));
        argv_add(&a, conf_path(s, kind, st->port));
        argv_add(&a, xstrdup("-p"));
        argv_add(&a, conf_pidfile_path(s, kind, st->port));
        argv_add(&a, xstrdup("-o"));
        argv_add(&a, conf_logfile_path(s, kind, st->port));
        argv_add(&a, xstrdup("-s"));
        argv_add(&a, xasprintf("%d", sp->stats_port));
        argv_add(&a, xstrdup("-a"));
        argv_add(&a, xstrdup(sp->host_ip));
        break;
    }
    }
    argv_add(&a, NULL);
    return a.v;
}

void instance_argv_free(char **argv)
{
    for (size_t i = 0; argv && argv[i]; i++)
        free(argv[i]);
    free(argv);
}

char *instance_tail_lines(const char *text, size_t n)
{
    if (!text)
        text = "";
    size_t len = strlen(text);
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        len--;
    size_t start = len, lines = 0;
    while (start > 0 && lines < n) {
        start--;
        if (text[start] == '\n' && ++lines == n) {
            start++;
            break;
        }
    }
    struct strbuf sb = {0};
    const char *p = text + start, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        sb_addf(&sb, "%s    %.*s", sb.len ? "\n" : "", (int)l, p);
        p += l + 1;
    }
    if (!sb.buf)
        return xstrdup("");
    return sb_detach(&sb);
}

/* ====================================================================
 * On a host
 * ==================================================================== */

/* First line(s) of a command's stderr/stdout for a message. Caller frees. */
static char *exec_reason(const struct exec_result *er)
{
    const char *text = er->err && *er->err ? er->err : er->out && *er->out ? er->out : "";
    char *t = instance_tail_lines(text, 3);
    /* the indentation is for log tails; here one line reads better */
    struct strbuf sb = {0};
    for (const char *p = t; *p; p++) {
        if (*p == '\n') {
            sb_add(&sb, "; ");
            while (p[1] == ' ')
                p++;
        } else if (!(sb.len == 0 && *p == ' ')) {
            sb_addc(&sb, *p);
        }
    }
    free(t);
    if (!sb.buf)
        return xstrdup("no output");
    return sb_detach(&sb);
}

/* argv joined by spaces, cut at ~200 bytes, for messages. Caller frees. */
static char *argv_summary(const char *const *argv)
{
    struct strbuf sb = {0};
    for (size_t i = 0; argv[i] && sb.len < 200; i++)
        sb_addf(&sb, "%s%s", i ? " " : "", argv[i]);
    if (sb.len > 200) {
        sb.len = 200;
        sb.buf[200] = '\0';
        sb_add(&sb, "...");
    }
    return sb_detach(&sb);
}

int instance_run(struct transport *t, const char *const *argv, const char *const *shown,
                 char **out, char **err)
{
    struct exec_result er;
    char *e = NULL;
    if (transport_exec(t, argv, &er, &e) < 0) {
        *err = e ? e : xstrdup("cannot run a command");
        return -1;
    }
    int rc = 0;
    if (er.status != 0) {
        char *cmd = argv_summary(shown ? shown : argv);
        char *why = exec_reason(&er);
        *err = xasprintf("'%s' failed with status %d: %s", cmd, er.status, why);
        free(cmd);
        free(why);
        rc = -1;
    } else if (out) {
        *out = er.out;
        er.out = NULL;
    }
    exec_result_release(&er);
    return rc;
}

int instance_pid_gone(struct transport *t, const struct instance_policy *pol, long pid,
                      char **err)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    char *text = NULL, *e = NULL;
    size_t len = 0;
    int rc;
    if (pol->direct) {
        rc = read_file(path, MAX_STAT_SIZE, &text, &len) == 0 ? 0
             : errno == ENOENT || errno == ESRCH                ? 1
                                                                : -1;
        if (rc < 0)
            e = xasprintf("cannot read '%s': %s", path, strerror(errno));
    } else {
        rc = transport_read_file(t, path, MAX_STAT_SIZE, &text, &len, &e);
    }
    if (rc < 0) {
        *err = e;
        return -1;
    }
    free(e);
    if (rc == 1) {
        free(text);
        return 1;
    }
    bool gone = proc_stat_says_gone(text);
    free(text);
    return gone ? 1 : 0;
}

/* Send SIGTERM or SIGKILL to pid: kill(2) with a direct policy, else `kill -TERM pid` on t. */
static int send_signal(struct transport *t, const struct instance_policy *pol, long pid, int sig,
                       char **err)
{
    if (pol->direct) {
        if (kill((pid_t)pid, sig) < 0 && errno != ESRCH) {
            *err = xasprintf("cannot signal pid %ld: %s", pid, strerror(errno));
            return -1;
        }
        return 0;
    }
    char num[32], opt[16];
    snprintf(num, sizeof(num), "%ld", pid);
    snprintf(opt, sizeof(opt), "-%s", sig == SIGKILL ? "KILL" : "TERM");
    const char *argv[] = {"kill", opt, num, NULL};
    return instance_run(t, argv, NULL, NULL, err);
}

int instance_wait_gone(struct transport *t, const struct instance_policy *pol, long pid,
                       long timeout_ms, char **err)
{
    long long deadline = now_us() + timeout_ms * 1000LL;
    long delay_us = FIRST_POLL_US;
    for (;;) {
        int g = instance_pid_gone(t, pol, pid, err);
        if (g != 0)
            return g;
        if (now_us() >= deadline)
            return 0;
        instance_backoff(&delay_us, pol->poll_us);
    }
}

/*
 * Signal pid; a failure is fatal only when the host key failed (the process
 * may have exited just now: the wait after tells). 0 or -1 and *err.
 */
static int signal_checked(struct transport *t, const struct instance_policy *pol, long pid,
                          int sig, char **err)
{
    char *e = NULL;
    if (send_signal(t, pol, pid, sig, &e) < 0 && transport_host_key_failed(t)) {
        *err = e;
        return -1;
    }
    free(e);
    return 0;
}

void instance_pids_executables(struct transport *t, const long *pids, size_t n, const char *want,
                               char **exe)
{
    /* readlink -m /proc/P1/exe ... WANT: both canonical (the spec's program may be a
       symbolic link to what runs), one line each */
    const char **argv = xcalloc(n + 4, sizeof(*argv));
    char **paths = xcalloc(n ? n : 1, sizeof(*paths));
    size_t argc = 0, *line_of = xcalloc(n ? n : 1, sizeof(*line_of));
    argv[argc++] = "readlink";
    argv[argc++] = "-m";
    for (size_t i = 0; i < n; i++) {
        exe[i] = NULL;
        line_of[i] = SIZE_MAX;
        if (pids[i] <= 0)
            continue;
        paths[i] = xasprintf("/proc/%ld/exe", pids[i]);
        line_of[i] = argc - 2;
        argv[argc++] = paths[i];
    }
    size_t nlinks = argc - 2;
    argv[argc++] = want;
    struct exec_result er = {0};
    char *e = NULL;
    if (nlinks && transport_exec(t, argv, &er, &e) == 0 && er.status == 0 && er.out) {
        char **lines = xcalloc(nlinks + 1, sizeof(*lines));
        size_t got = 0;
        for (char *p = er.out; *p && got <= nlinks;) {
            char *nl = strchr(p, '\n');
            if (nl)
                *nl = '\0';
            lines[got++] = p;
            p = nl ? nl + 1 : p + strlen(p);
        }
        /* a line per argument, or none is trusted (a path with a newline in it) */
        for (size_t i = 0; got == nlinks + 1 && i < n; i++) {
            const char *l = line_of[i] == SIZE_MAX ? NULL : lines[line_of[i]];
            /* an unreadable link (another user's process) comes back as itself */
            if (l && *l == '/' && strncmp(l, "/proc/", 6) != 0)
                exe[i] = xstrdup(str_eq(l, lines[nlinks]) ? want : l);
        }
        free(lines);
    }
    exec_result_release(&er);
    free(e);
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
    free(line_of);
    free(argv);
}

char *instance_pid_executable(struct transport *t, long pid, const char *want)
{
    char *exe = NULL;
    instance_pids_executables(t, &pid, 1, want, &exe);
    return exe;
}

bool instance_pid_is(struct transport *t, enum instance_kind k, int port, long pid)
{
    char path[64], *cmdline = NULL, *e = NULL;
    size_t len = 0;
    snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
    bool is = pid > 0 && transport_read_file(t, path, MAX_CMDLINE_SIZE, &cmdline, &len, &e) == 0 &&
              instance_cmdline_matches(cmdline, len, k, port, NULL);
    free(cmdline);
    free(e);
    return is;
}

char *instance_pid_executable_of(struct transport *t, enum instance_kind k, int port, long pid,
                                 const char *want)
{
    return instance_pid_is(t, k, port, pid) ? instance_pid_executable(t, pid, want) : NULL;
}

char *instance_executable(struct transport *t, const struct spec *s, enum instance_kind k,
                          int port)
{
    const char *kind = instance_kind_name(k);
    char *pidfile = conf_pidfile_path(s, kind, port);
    char *conf = conf_path(s, kind, port);
    char *text = NULL, *cmdline = NULL, *e = NULL, *exe = NULL;
    size_t len = 0;
    long pid = 0;
    if (transport_read_file(t, pidfile, MAX_PIDFILE_SIZE, &text, &len, &e) == 0) {
        text[strcspn(text, " \t\r\n")] = '\0';
        if (!parse_long(text, 2, 4194304, &pid))
            pid = 0;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
    if (pid && transport_read_file(t, path, MAX_CMDLINE_SIZE, &cmdline, &len, &e) == 0 &&
        instance_cmdline_matches(cmdline, len, k, port, conf)) {
        char *want = instance_binary_path(s, k);
        exe = instance_pid_executable(t, pid, want);
        free(want);
    }
    free(e);
    free(text);
    free(cmdline);
    free(pidfile);
    free(conf);
    return exe;
}

int instance_stop(struct transport *t, const struct instance_policy *pol, const struct spec *s,
                  enum instance_kind k, const char *ip, int port, const char **note, char **err)
{
    const char *kind = instance_kind_name(k);
    const char *aip;
    int aport;
    instance_answer_addr(s, k, ip, port, &aip, &aport);
    char *pidfile = conf_pidfile_path(s, kind, port);
    char *conf = conf_path(s, kind, port);
    char *text = NULL, *cmdline = NULL, *e = NULL;
    size_t len = 0;
    long pid = 0;
    int rc = -1;

    int st = transport_read_file(t, pidfile, MAX_PIDFILE_SIZE, &text, &len, &e);
    if (st < 0) {
        *err = e;
        e = NULL;
        goto out;
    }
    if (st == 0) {
        text[strcspn(text, " \t\r\n")] = '\0';
        if (!parse_long(text, pol->pid_min, pol->pid_max, &pid))
            pid = 0;
    }
    if (pid) {
        char cmdpath[64];
        snprintf(cmdpath, sizeof(cmdpath), "/proc/%ld/cmdline", pid);
        st = transport_read_file(t, cmdpath, MAX_CMDLINE_SIZE, &cmdline, &len, &e);
        if (st < 0) {
            *err = e;
            e = NULL;
            goto out;
        }
        if (st == 1 || !instance_cmdline_matches(cmdline, len, k, port, conf))
            pid = 0; /* gone, or the pid now belongs to someone else */
    }
    if (!pid) {
        struct rclient_opts ro = {.connect_timeout_ms = pol->connect_timeout_ms};
        if (rclient_port_open(aip, aport, &ro)) {
            *err = xasprintf("%s %s:%d answers but its pidfile '%s' names no such process: "
                             "stop it by hand",
                             kind, aip, aport, pidfile);
            goto out;
        }
        if (note)
            *note = "not running";
        rc = 0;
        goto out;
    }
    if (signal_checked(t, pol, pid, SIGTERM, err) < 0)
        goto out;
    int g = instance_wait_gone(t, pol, pid, pol->term_timeout_ms, err);
    if (g < 0)
        goto out;
    if (g == 0) {
        if (signal_checked(t, pol, pid, SIGKILL, err) < 0)
            goto out;
        g = instance_wait_gone(t, pol, pid, pol->kill_timeout_ms, err);
        if (g < 0)
            goto out;
        if (g == 0) {
            *err = xasprintf("%s %s:%d (pid %ld) survived SIGKILL", kind, aip, aport, pid);
            goto out;
        }
    }
    rc = 0;
out:
    free(e);
    free(text);
    free(cmdline);
    free(pidfile);
    free(conf);
    return rc;
}

int instance_start(struct transport *t, const struct spec *s, const struct step *st,
                   const char *bin, const char *umask, char **err)
{
    char **argv = instance_start_argv(s, st, bin);
    if (!argv) {
        *err = xasprintf("no proxy in the spec listens on %s:%d", st->ip, st->port);
        return -1;
    }
    size_t n = 0;
    while (argv[n])
        n++;
    const char **cmd = xcalloc(n + 8, sizeof(*cmd)); /* 7 words before, NULL after */
    char *script = umask ? xasprintf("umask %s && exec \"$@\"", umask) : NULL;
    size_t c = 0;
    cmd[c++] = "env";
    cmd[c++] = "-i";
    cmd[c++] = DAEMON_PATH;
    if (script) {
        cmd[c++] = "sh";
        cmd[c++] = "-c";
        cmd[c++] = script;
        cmd[c++] = "sh";
    }
    for (size_t i = 0; i < n; i++)
        cmd[c++] = argv[i];
    int rc = instance_run(t, cmd, (const char *const *)argv, NULL, err);
    free(script);
    free(cmd);
    instance_argv_free(argv);
    return rc;
}

bool instance_wait_answers(const char *ip, int port, const struct rclient_opts *o,
                           const char *password, const struct instance_policy *pol,
                           long timeout_ms, char **why)
{
    long long deadline = now_us() + timeout_ms * 1000LL;
    long delay_us = FIRST_POLL_US;
    for (;;) {
        free(*why);
        *why = NULL;
        if (rclient_answers(ip, port, o, password, why))
            return true;
        if (now_us() >= deadline)
            return false;
        instance_backoff(&delay_us, pol->poll_us);
    }
}

int instance_ship_binary(struct transport *t, const struct spec *s, enum instance_kind k,
                         char **err)
{
    const char *local = spec_bin(s, k);
    char *data = NULL, *have = NULL, *e = NULL;
    size_t len = 0, have_len = 0;
    if (read_file(local, MAX_BINARY_SIZE, &data, &len) < 0) {
        *err = xasprintf("cannot read '%s' to ship it: %s", local, strerror(errno));
        return -1;
    }
    char *remote = instance_binary_path(s, k);
    int rc = transport_read_file(t, remote, len, &have, &have_len, &e);
    bool same = rc == 0 && have_len == len && !memcmp(have, data, len);
    free(have);
    free(e);
    e = NULL;
    rc = 0;
    if (!same && transport_write_file(t, remote, data, len, 0755, &e) < 0) {
        *err = xasprintf("cannot ship '%s' to %s: %s", local, transport_host(t),
                         e ? e : "write failed");
        rc = -1;
    }
    free(e);
    free(data);
    free(remote);
    return rc;
}

/* Whether local files a and b hold the same bytes (the same file, or equal copies). */
static bool same_local_bytes(const char *a, const char *b)
{
    char *ra = realpath(a, NULL), *rb = realpath(b, NULL);
    bool same = ra && rb && !strcmp(ra, rb);
    free(ra);
    free(rb);
    if (same)
        return true;
    struct stat sa, sb; /* another size is another program: read nothing */
    if (stat(a, &sa) < 0 || stat(b, &sb) < 0 || sa.st_size != sb.st_size)
        return false;
    char *da = NULL, *db = NULL;
    size_t la = 0, lb = 0;
    same = read_file(a, MAX_BINARY_SIZE, &da, &la) == 0 &&
           read_file(b, MAX_BINARY_SIZE, &db, &lb) == 0 && la == lb && !memcmp(da, db, la);
    free(da);
    free(db);
    return same;
}

/* Run argv on t: 0 when it exited 0, 1 when it exited otherwise, -1 and *err. */
static int run_on_host(struct transport *t, const char *const *argv, char **err)
{
    struct exec_result x = {0};
    if (transport_exec(t, argv, &x, err) < 0)
        return -1;
    int rc = x.status == 0 ? 0 : 1;
    if (rc && err && !*err)
        *err = xasprintf("%s exited %d: %s", argv[0], x.status, x.err ? x.err : "");
    exec_result_release(&x);
    return rc;
}

int instance_ship_copy(struct transport *t, const struct spec *s, enum instance_kind k,
                       enum instance_kind from, char **err)
{
    if (!same_local_bytes(spec_bin(s, k), spec_bin(s, from)))
        return 0;
    char *src = instance_binary_path(s, from), *dst = instance_binary_path(s, k);
    char *tmp = xasprintf("%s.new", dst);
    char *e = NULL;
    const char *cmp[] = {"cmp", "-s", "--", src, dst, NULL};
    const char *cp[] = {"cp", "-f", "--", src, tmp, NULL};
    const char *mv[] = {"mv", "-f", "--", tmp, dst, NULL};
    int rc = run_on_host(t, cmp, &e); /* an earlier run's copy */
    free(e);
    e = NULL;
    if (rc != 0)
        rc = run_on_host(t, cp, &e) == 0 && run_on_host(t, mv, &e) == 0 ? 0 : -1;
    if (rc < 0)
        *err = xasprintf("cannot copy %s to %s on %s: %s", src, dst, transport_host(t),
                         e ? e : "failed");
    free(e);
    free(tmp);
    free(src);
    free(dst);
    return rc < 0 ? -1 : 1;
}

int instance_install_checked(struct transport *t, const struct instance_policy *pol,
                             const char *bin, const char *conf, const char *text, int mode,
                             const char *who, char **err)
{
    char *next = xasprintf("%s.new", conf);
    char *e = NULL;
    int rc = -1;
    if (transport_write_file(t, next, text, strlen(text), mode, &e) < 0) {
        *err = e;
        e = NULL;
        goto out;
    }
    const char *check[] = {bin, "-t", "-c", next, NULL};
    if (instance_run(t, check, NULL, NULL, &e) < 0) {
        *err = xasprintf("nutcracker -t rejects the new config for %s (it gives no "
                         "reason; the file is left at '%s')",
                         who, next);
        goto out;
    }
    if (pol->direct) {
        /* the checked file itself: written and synced above */
        if (rename(next, conf) < 0) {
            *err = xasprintf("cannot rename '%s' to '%s': %s", next, conf, strerror(errno));
            goto out;
        }
    } else {
        if (transport_write_file(t, conf, text, strlen(text), mode, &e) < 0) {
            *err = e;
            e = NULL;
            goto out;
        }
        const char *rm[] = {"rm", "-f", "--", next, NULL};
        if (instance_run(t, rm, NULL, NULL, err) < 0)
            goto out;
    }
    rc = 0;
out:
    free(e);
    free(next);
    return rc;
}
