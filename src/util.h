/*
 * util.h - allocation that cannot fail quietly, a growable string, small helpers.
 *
 * Out of memory is not a condition rmgr recovers from: the x* allocators abort
 * with a message rather than hand NULL to callers that would crash later.
 */
#ifndef RMGR_UTIL_H
#define RMGR_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#if defined(__GNUC__)
#define RMGR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define RMGR_PRINTF(f, a)
#endif

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * A precondition a contract comment states. Active in every build (it does
 * not depend on NDEBUG): a broken one is a bug in rmgr, so it aborts with
 * file:line and the expression rather than go on with a wrong plan.
 */
#define ASSERT(cond)                                                            \
    ((cond) ? (void)0 : rmgr_assert_failed(#cond, __FILE__, __LINE__, __func__))

#if defined(__GNUC__)
__attribute__((noreturn, cold))
#endif
void rmgr_assert_failed(const char *expr, const char *file, int line, const char *func);

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);          /* NULL in, NULL out */
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) RMGR_PRINTF(1, 2);
char *xvasprintf(const char *fmt, va_list ap);

/* Wipe a string that may hold a secret (explicit_bzero) and free it. NULL is fine. */
void secret_free(char *s);

/*
 * Grow an array `arr` holding `n` items with capacity `cap` so that one more
 * item fits. Usage: VEC_GROW(v, n, cap); v[n++] = item;
 */
#define VEC_GROW(arr, n, cap)                                                   \
    do {                                                                        \
        if ((n) >= (cap)) {                                                     \
            (cap) = (cap) ? (cap) * 2 : 8;                                      \
            (arr) = xrealloc((arr), (cap) * sizeof(*(arr)));                    \
        }                                                                       \
    } while (0)

/*
 * Release each of the `n` elements of the array `arr` with `release(&arr[i])`,
 * then free the array. A NULL `arr` is fine. `arr` and `n` are evaluated more
 * than once: pass plain lvalues.
 */
#define ARRAY_FREE(arr, n, release)                                             \
    do {                                                                        \
        for (size_t i_ = 0; (arr) && i_ < (n); i_++)                            \
            release(&(arr)[i_]);                                                \
        free(arr);                                                              \
    } while (0)

/* Free the `n` strings of `v`, then `v`. A NULL `v` is fine. */
void strings_free(char **v, size_t n);

/* A growable array of strings, each owned by it. Zero-initialise to start. */
struct strvec {
    char **v;
    size_t n, cap;
};

void strvec_add(struct strvec *sv, char *owned);             /* takes `owned` */
bool strvec_has(const struct strvec *sv, const char *s);    /* an equal string is in it */
void strvec_release(struct strvec *sv);                     /* frees the strings and the array */

/* A growable, always NUL-terminated string. Zero-initialise to start. */
struct strbuf {
    char *buf;
    size_t len;
    size_t cap;
};

void sb_add(struct strbuf *sb, const char *s);
void sb_addn(struct strbuf *sb, const char *s, size_t n);
void sb_addc(struct strbuf *sb, char c);
void sb_addf(struct strbuf *sb, const char *fmt, ...) RMGR_PRINTF(2, 3);
void sb_vaddf(struct strbuf *sb, const char *fmt, va_list ap);
const char *sb_str(const struct strbuf *sb); /* "" when empty, never NULL */
char *sb_detach(struct strbuf *sb);          /* caller frees; sb is reset */
void sb_release(struct strbuf *sb);

bool str_eq(const char *a, const char *b);   /* NULL-safe */
bool str_starts_with(const char *s, const char *prefix);
bool str_ieq(const char *a, const char *b);

/* Parse a whole decimal integer in [min, max]; false on any junk. */
bool parse_long(const char *s, long min, long max, long *out);

/* Parse "30s", "5m", "1h", "250ms" or plain seconds into milliseconds. */
bool parse_duration_ms(const char *s, long *out_ms);

/* A number's unit: its suffix ("" for none) and what it multiplies by. */
struct unit {
    const char *suffix;
    unsigned long long mul;
};

/*
 * The multiplier of `suffix` among the n rows of `units` (without regard to
 * case when nocase) into *mul; false when no row has that suffix.
 */
bool unit_lookup(const struct unit *units, size_t n, const char *suffix, bool nocase,
                 unsigned long long *mul);

/*
 * Read a whole file. Returns 0, or -1 with errno set. Refuses files larger
 * than max_size (errno EFBIG) so hostile input cannot exhaust memory.
 */
int read_file(const char *path, size_t max_size, char **out, size_t *out_len);
/* The same from an open descriptor, which it closes. */
int read_fd(int fd, size_t max_size, char **out, size_t *out_len);

/*
 * Replace a file atomically: write to a temporary name beside it (unique per
 * call, created with O_EXCL|O_NOFOLLOW), fsync, rename over the target, fsync
 * the directory. Safe from several threads at once. Returns 0 or -1 with errno.
 */
int write_file_atomic(const char *path, const void *data, size_t len, int mode);

/*
 * The directory `sub` of rmgr's per-user cache: $XDG_CACHE_HOME/rmgr/SUB, else
 * HOME/.cache/rmgr/SUB (HOME from the environment, else the passwd entry).
 * NULL when neither names an absolute directory. Caller frees.
 */
char *user_cache_path(const char *sub);

/*
 * Whether a /proc/PID/stat text describes a process that is gone: a zombie
 * (or dead) main thread with at most one thread left. A zombie main thread
 * alone is not enough: the other threads of redis or nutcracker can still
 * hold the listening port.
 */
bool proc_stat_says_gone(const char *stat);

/* Sleep for ms milliseconds, resuming after signals. */
void sleep_ms(long ms);

/* Ignore SIGPIPE unless someone chose a handler: hiredis and libssh2 write to
 * sockets with write(2), and a peer that closed must not kill rmgr. */
void ignore_sigpipe(void);

/* Milliseconds from a monotonic clock. */
long long now_ms(void);

/* Microseconds from a monotonic clock, and a sleep in microseconds (resumed after signals). */
long long now_us(void);
void sleep_us(long us);

/* Standard base64 of `len` bytes; `pad` adds the trailing '=' (OpenSSH fingerprints have none). Caller frees. */
char *base64_encode(const unsigned char *in, size_t len, bool pad);

/* Decode base64, skipping whitespace and stopping at '=' or any other byte. Caller frees. */
unsigned char *base64_decode(const char *in, size_t len, size_t *out_len);

#endif
