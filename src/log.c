/*
 * log.c - one line per event, text or JSON (jansson). See log.h.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "json_out.h"
#include "redact.h"

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char *path;          /* NULL: stderr */
    int fd;              /* -1: stderr */
    enum log_format format;
    enum log_level min;
    char **secrets;
    size_t nsecrets, secrets_cap;
} L = {NULL, -1, LOG_FORMAT_TEXT, LOG_INFO, NULL, 0, 0};

bool log_format_parse(const char *name, enum log_format *out)
{
    if (str_eq(name, "text"))
        *out = LOG_FORMAT_TEXT;
    else if (str_eq(name, "json"))
        *out = LOG_FORMAT_JSON;
    else
        return false;
    return true;
}

const char *log_level_name(enum log_level l)
{
    switch (l) {
    case LOG_DEBUG: return "debug";
    case LOG_INFO: return "info";
    case LOG_WARN: return "warn";
    case LOG_ERROR: return "error";
    }
    return "info";
}

static int open_log_file(const char *path, char **err)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        *err = xasprintf("cannot open log file '%s': %s", path, strerror(errno));
    return fd;
}

int log_open(const char *path, enum log_format f, enum log_level min, char **err)
{
    int fd = -1;
    if (path && (fd = open_log_file(path, err)) < 0)
        return -1;
    pthread_mutex_lock(&log_mu);
    if (L.fd >= 0)
        close(L.fd);
    free(L.path);
    L.fd = fd;
    L.path = xstrdup(path);
    L.format = f;
    L.min = min;
    pthread_mutex_unlock(&log_mu);
    return 0;
}

int log_reopen(char **err)
{
    pthread_mutex_lock(&log_mu);
    int rc = 0;
    if (L.path) {
        int fd = open_log_file(L.path, err);
        if (fd < 0) {
            rc = -1;
        } else {
            close(L.fd);
            L.fd = fd;
        }
    }
    pthread_mutex_unlock(&log_mu);
    return rc;
}

void log_close(void)
{
    pthread_mutex_lock(&log_mu);
    if (L.fd >= 0)
        close(L.fd);
    L.fd = -1;
    free(L.path);
    L.path = NULL;
    for (size_t i = 0; i < L.nsecrets; i++)
        free(L.secrets[i]);
    free(L.secrets);
    L.secrets = NULL;
    L.nsecrets = L.secrets_cap = 0;
    pthread_mutex_unlock(&log_mu);
}

void log_add_secret(const char *secret)
{
    if (!secret || !*secret)
        return;
    pthread_mutex_lock(&log_mu);
    bool known = false;
    for (size_t i = 0; i < L.nsecrets && !known; i++)
        known = !strcmp(L.secrets[i], secret);
    if (!known) {
        VEC_GROW(L.secrets, L.nsecrets, L.secrets_cap);
        L.secrets[L.nsecrets++] = xstrdup(secret);
    }
    pthread_mutex_unlock(&log_mu);
}

/* "2026-11-25T10:00:00.123Z" */
static void format_time(long long ms, char *buf, size_t n)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t len = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + len, n - len, ".%03dZ", (int)(ms % 1000));
}

/* A text value: bare when it has no space, quote or control byte, else "quoted". */
static void sb_add_text_value(struct strbuf *sb, const char *v)
{
    bool bare = *v != '\0';
    for (const char *p = v; *p && bare; p++)
        bare = (unsigned char)*p > ' ' && *p != '"' && *p != '=';
    if (bare) {
        sb_add(sb, v);
        return;
    }
    sb_addc(sb, '"');
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\')
            sb_addc(sb, '\\');
        if (*p == '\n')
            sb_add(sb, "\\n");
        else if ((unsigned char)*p < ' ')
            sb_addc(sb, ' ');
        else
            sb_addc(sb, *p);
    }
    sb_addc(sb, '"');
}

/* The message on one line: newlines become "; ", other control bytes spaces. */
static void sb_add_one_line(struct strbuf *sb, const char *msg)
{
    size_t start = sb->len;
    for (const char *p = msg; *p; p++) {
        if (*p == '\n') {
            if (p[1] && sb->len > start)
                sb_add(sb, "; ");
        } else if ((unsigned char)*p < ' ') {
            sb_addc(sb, ' ');
        } else {
            sb_addc(sb, *p);
        }
    }
}

char *log_format_line(enum log_format f, long long time_ms, enum log_level level,
                      const char *event, const char *cluster, const char *commit,
                      const struct log_field *fields, size_t nfields, const char *msg)
{
    char when[40];
    format_time(time_ms, when, sizeof(when));
    if (f == LOG_FORMAT_JSON) {
        json_t *o = json_object();
        json_object_set_new(o, "time", json_text(when));
        json_object_set_new(o, "level", json_text(log_level_name(level)));
        json_object_set_new(o, "event", json_text(event ? event : ""));
        if (cluster)
            json_object_set_new(o, "cluster", json_text(cluster));
        if (commit)
            json_object_set_new(o, "commit", json_text(commit));
        for (size_t i = 0; i < nfields; i++) {
            if (fields[i].value && json_object_get(o, fields[i].key) == NULL)
                json_set_text_key(o, fields[i].key, json_text(fields[i].value));
        }
        json_object_set_new(o, "msg", json_text(msg ? msg : ""));
        char *text = json_dumps(o, JSON_PRESERVE_ORDER | JSON_COMPACT);
        json_decref(o);
        return text ? text : xstrdup("{}");
    }
    struct strbuf sb = {0};
    sb_addf(&sb, "%s %s %s", when, log_level_name(level), event ? event : "-");
    if (cluster) {
        sb_add(&sb, " cluster=");
        sb_add_text_value(&sb, cluster);
    }
    if (commit)
        sb_addf(&sb, " commit=%.12s", commit);
    for (size_t i = 0; i < nfields; i++) {
        if (!fields[i].value)
            continue;
        sb_addf(&sb, " %s=", fields[i].key);
        sb_add_text_value(&sb, fields[i].value);
    }
    if (msg && *msg) {
        sb_addc(&sb, ' ');
        sb_add_one_line(&sb, msg);
    }
    return sb_detach(&sb);
}

static long long wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void log_event(enum log_level level, const char *event, const char *cluster, const char *commit,
               const struct log_field *fields, size_t nfields, const char *fmt, ...)
{
    pthread_mutex_lock(&log_mu);
    if (level < L.min) {
        pthread_mutex_unlock(&log_mu);
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    /* redact the parts, not the line: JSON escaping could hide a secret */
    char *clean = redact_secrets(msg, L.secrets, L.nsecrets);
    struct log_field *fv = xcalloc(nfields ? nfields : 1, sizeof(*fv));
    for (size_t i = 0; i < nfields; i++) {
        fv[i].key = fields[i].key;
        fv[i].value = redact_secrets(fields[i].value, L.secrets, L.nsecrets);
    }
    char *line = log_format_line(L.format, wall_ms(), level, event, cluster, commit, fv,
                                 nfields, clean);
    for (size_t i = 0; i < nfields; i++)
        free((char *)fv[i].value);
    free(fv);
    struct strbuf sb = {0};
    sb_add(&sb, line);
    sb_addc(&sb, '\n');
    int fd = L.fd >= 0 ? L.fd : STDERR_FILENO;
    size_t off = 0;
    while (off < sb.len) { /* one write per line: O_APPEND keeps lines whole */
        ssize_t n = write(fd, sb.buf + off, sb.len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    pthread_mutex_unlock(&log_mu);
    sb_release(&sb);
    free(clean);
    free(line);
    free(msg);
}

/* ---- streams ---------------------------------------------------------------- */

struct log_sink {
    enum log_level level;
    const char *event, *cluster, *commit;
    struct strbuf line;
};

static ssize_t sink_write(void *cookie, const char *buf, size_t n)
{
    struct log_sink *k = cookie;
    for (size_t i = 0; i < n; i++) {
        if (buf[i] != '\n') {
            sb_addc(&k->line, buf[i]);
            continue;
        }
        if (k->line.len)
            log_event(k->level, k->event, k->cluster, k->commit, NULL, 0, "%s", k->line.buf);
        sb_release(&k->line);
    }
    return (ssize_t)n;
}

static int sink_close(void *cookie)
{
    struct log_sink *k = cookie;
    if (k->line.len)
        log_event(k->level, k->event, k->cluster, k->commit, NULL, 0, "%s", k->line.buf);
    sb_release(&k->line);
    free(k);
    return 0;
}

FILE *log_stream(enum log_level level, const char *event)
{
    return log_stream_cluster(level, event, NULL, NULL);
}

FILE *log_stream_cluster(enum log_level level, const char *event, const char *cluster,
                         const char *commit)
{
    struct log_sink *k = xcalloc(1, sizeof(*k));
    k->level = level;
    k->event = event;
    k->cluster = cluster;
    k->commit = commit;
    cookie_io_functions_t io = {.write = sink_write, .close = sink_close};
    FILE *f = fopencookie(k, "w", io);
    if (!f) {
        free(k);
        return NULL;
    }
    setvbuf(f, NULL, _IOLBF, 0);
    return f;
}
