#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void die_oom(size_t n)
{
    fprintf(stderr, "rmgr: out of memory allocating %zu bytes\n", n);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die_oom(n);
    return p;
}

void *xcalloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (!p)
        die_oom(nmemb * size);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        die_oom(n);
    return q;
}

char *xstrdup(const char *s)
{
    if (!s)
        return NULL;
    return xstrndup(s, strlen(s));
}

void secret_free(char *s)
{
    if (!s)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

void strvec_add(struct strvec *sv, char *owned)
{
    VEC_GROW(sv->v, sv->n, sv->cap);
    sv->v[sv->n++] = owned;
}

bool strvec_has(const struct strvec *sv, const char *s)
{
    for (size_t i = 0; i < sv->n; i++)
        if (str_eq(sv->v[i], s))
            return true;
    return false;
}

void strings_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

void strvec_release(struct strvec *sv)
{
    strings_free(sv->v, sv->n);
    memset(sv, 0, sizeof(*sv));
}

char *xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *xvasprintf(const char *fmt, va_list ap)
{
    struct strbuf sb = {0};
    sb_vaddf(&sb, fmt, ap);
    return sb_detach(&sb);
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = xvasprintf(fmt, ap);
    va_end(ap);
    return s;
}

static void sb_reserve(struct strbuf *sb, size_t extra)
{
    if (sb->len + extra + 1 <= sb->cap)
        return;
    size_t cap = sb->cap ? sb->cap : 64;
    while (cap < sb->len + extra + 1)
        cap *= 2;
    sb->buf = xrealloc(sb->buf, cap);
    sb->cap = cap;
}

void sb_addn(struct strbuf *sb, const char *s, size_t n)
{
    sb_reserve(sb, n);
    memcpy(sb->buf + sb->len, s, n);
    sb->len += n;
    sb->buf[sb->len] = '\0';
}

void sb_add(struct strbuf *sb, const char *s)
{
    sb_addn(sb, s, strlen(s));
}

void sb_addc(struct strbuf *sb, char c)
{
    sb_addn(sb, &c, 1);
}

void sb_vaddf(struct strbuf *sb, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0)
        return;
    sb_reserve(sb, (size_t)n);
    vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
    sb->len += (size_t)n;
}

void sb_addf(struct strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sb_vaddf(sb, fmt, ap);
    va_end(ap);
}

const char *sb_str(const struct strbuf *sb)
{
    return sb->buf ? sb->buf : "";
}

char *sb_detach(struct strbuf *sb)
{
    char *s = sb->buf ? sb->buf : xstrdup("");
    sb->buf = NULL;
    sb->len = sb->cap = 0;
    return s;
}

void sb_release(struct strbuf *sb)
{
    free(sb->buf);
    sb->buf = NULL;
    sb->len = sb->cap = 0;
}

bool str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

bool str_ieq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcasecmp(a, b) == 0;
}

bool str_starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool parse_long(const char *s, long min, long max, long *out)
{
    if (!s || !*s || isspace((unsigned char)*s))
        return false;
    errno = 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

bool parse_duration_ms(const char *s, long *out_ms)
{
    if (!s || !isdigit((unsigned char)*s))
        return false;
    errno = 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (errno || v < 0)
        return false;
    static const struct unit ms_per[] = {
        {"", 1000}, {"s", 1000}, {"ms", 1}, {"m", 60 * 1000}, {"h", 3600 * 1000},
    };
    unsigned long long mult;
    if (!unit_lookup(ms_per, ARRAY_SIZE(ms_per), end, false, &mult) || v > LONG_MAX / (long)mult)
        return false;
    *out_ms = v * (long)mult;
    return true;
}

bool unit_lookup(const struct unit *units, size_t n, const char *suffix, bool nocase,
                 unsigned long long *mul)
{
    for (size_t i = 0; i < n; i++)
        if (nocase ? !strcasecmp(units[i].suffix, suffix) : !strcmp(units[i].suffix, suffix)) {
            *mul = units[i].mul;
            return true;
        }
    return false;
}

int read_file(const char *path, size_t max_size, char **out, size_t *out_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    return read_fd(fd, max_size, out, out_len);
}

int read_fd(int fd, size_t max_size, char **out, size_t *out_len)
{
    struct strbuf sb = {0};
    char chunk[8192];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            sb_release(&sb);
            errno = e;
            return -1;
        }
        if (n == 0)
            break;
        if (sb.len + (size_t)n > max_size) {
            close(fd);
            sb_release(&sb);
            errno = EFBIG;
            return -1;
        }
        sb_addn(&sb, chunk, (size_t)n);
    }
    close(fd);
    if (out_len)
        *out_len = sb.len;
    *out = sb_detach(&sb);
    return 0;
}

char *user_cache_path(const char *sub)
{
    const char *xdg = getenv("XDG_CACHE_HOME");
    if (xdg && xdg[0] == '/')
        return xasprintf("%s/rmgr/%s", xdg, sub);
    const char *home = getenv("HOME");
    if (!home || home[0] != '/') {
        struct passwd *pw = getpwuid(getuid());
        home = pw ? pw->pw_dir : NULL;
    }
    if (!home || home[0] != '/')
        return NULL;
    return xasprintf("%s/.cache/rmgr/%s", home, sub);
}

int write_file_atomic(const char *path, const void *data, size_t len, int mode)
{
    /*
     * A temporary name of our own: unique per call (threads of one process
     * may replace the same file), created exclusively and never through a
     * symlink (someone may have planted one at a name they could guess).
     */
    static atomic_uint seq;
    char *tmp = NULL;
    int fd = -1;
    for (int attempt = 0; fd < 0 && attempt < 100; attempt++) {
        free(tmp);
        tmp = xasprintf("%s.rmgr-tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&seq, 1));
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0)
        goto fail;
    if (fchmod(fd, (mode_t)mode) < 0)
        goto fail_fd;
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t n = write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            goto fail_fd;
        }
        p += n;
        left -= (size_t)n;
    }
    if (fsync(fd) < 0)
        goto fail_fd;
    if (close(fd) < 0) {
        fd = -1;
        goto fail_unlink;
    }
    if (rename(tmp, path) < 0)
        goto fail_unlink;
    /* make the rename itself durable */
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        memcpy(dir, ".", 2);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    free(dir);
    free(tmp);
    return 0;

fail_fd: {
    int e = errno;
    close(fd);
    errno = e;
}
fail_unlink: {
    int e = errno;
    unlink(tmp);
    errno = e;
}
fail: {
    int e = errno;
    free(tmp);
    errno = e;
}
    return -1;
}

bool proc_stat_says_gone(const char *stat)
{
    /* "pid (comm) S ...": the state follows the last ')'; num_threads is field 20 */
    const char *paren = stat ? strrchr(stat, ')') : NULL;
    if (!paren || paren[1] != ' ' || (paren[2] != 'Z' && paren[2] != 'X'))
        return false;
    const char *f = paren + 2; /* field 3 */
    for (int field = 3; field < 20 && f; field++) {
        f = strchr(f, ' ');
        if (f)
            f++;
    }
    return !f || strtol(f, NULL, 10) <= 1;
}

long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

void ignore_sigpipe(void)
{
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = SIG_IGN;
        sigaction(SIGPIPE, &sa, NULL);
    }
}

/* ---- base64 ------------------------------------------------------------ */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *base64_encode(const unsigned char *in, size_t len, bool pad)
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

unsigned char *base64_decode(const char *in, size_t len, size_t *out_len)
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
