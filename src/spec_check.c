/*
 * spec_check.c - the spec loader's messages (positions, the path of the
 * value being read, "did you mean"), and checks of single values: names,
 * paths, keys that would hold a secret. See spec_load_impl.h.
 */
#include <ctype.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spec_load_impl.h"

/* ------------------------------------------------------------------------ */
/* messages */

/* Add a diagnostic; the first error past SPEC_MAX_ERRORS stops the load, there. */
static void report(struct loader *L, enum diag_severity sev, const struct ynode *at,
                   const char *fmt, va_list ap)
{
    int line = at ? at->line : 0, col = at ? at->col : 0;
    if (L->stopped)
        return;
    if (sev == DIAG_ERROR && ++L->errors > SPEC_MAX_ERRORS) {
        diags_add(L->d, DIAG_ERROR, L->file, line, col, "too many errors, stopping");
        L->stopped = true;
        return;
    }
    diags_vadd(L->d, sev, L->file, line, col, fmt, ap);
}

void sl_error_at(struct loader *L, const struct ynode *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(L, DIAG_ERROR, at, fmt, ap);
    va_end(ap);
}

void sl_warning_at(struct loader *L, const struct ynode *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(L, DIAG_WARNING, at, fmt, ap);
    va_end(ap);
}

/* An error at a position that has no node of its own (a resolved address). */
void sl_error_pos(struct loader *L, struct spec_pos pos, const char *fmt, ...)
{
    struct ynode at = {.line = pos.line, .col = pos.col};
    va_list ap;
    va_start(ap, fmt);
    report(L, DIAG_ERROR, &at, fmt, ap);
    va_end(ap);
}

size_t sl_path_push_key(struct loader *L, const char *key)
{
    size_t old = L->path.len;
    if (old)
        sb_addc(&L->path, '.');
    sb_add(&L->path, key);
    return old;
}

size_t sl_path_push_index(struct loader *L, size_t i)
{
    size_t old = L->path.len;
    sb_addf(&L->path, "[%zu]", i);
    return old;
}

void sl_path_pop(struct loader *L, size_t old)
{
    L->path.len = old;
    if (L->path.buf)
        L->path.buf[old] = '\0';
}

const char *sl_path(const struct loader *L)
{
    return sb_str(&L->path);
}

struct spec_pos sl_pos(struct loader *L, const struct ynode *v)
{
    struct spec *s = L->s;
    VEC_GROW(s->paths, s->npaths, s->paths_cap);
    char *path = xstrdup(sl_path(L));
    s->paths[s->npaths++] = path;
    return (struct spec_pos){v->line, v->col, path};
}

struct spec_pos sl_pos_key(struct loader *L, const struct ynode *map, const char *key,
                           struct spec_pos dflt)
{
    const struct ynode *v = ynode_get_key(map, key);
    if (!v)
        return dflt;
    size_t old = sl_path_push_key(L, key);
    struct spec_pos pos = sl_pos(L, v);
    sl_path_pop(L, old);
    return pos;
}

/* " in sentinel" or " at top level", for unknown and missing keys */
char *sl_where(const struct loader *L)
{
    return L->path.len ? xasprintf(" in %s", sl_path(L)) : xstrdup(" at top level");
}

/* Levenshtein distance, for "did you mean"; long strings are not compared. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return SIZE_MAX;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The closest of `n` candidates within a small distance, or NULL. */
const char *sl_suggest(const char *word, const char *const *cands, size_t n)
{
    const char *best = NULL;
    size_t bestd = SIZE_MAX, len = strlen(word);
    if (len > 64)
        return NULL; /* not a typo of anything, and costly to compare */
    size_t limit = len <= 3 ? 1 : 2;
    for (size_t i = 0; i < n; i++) {
        size_t dist = edit_distance(word, cands[i]);
        if (dist <= limit && dist < bestd) {
            best = cands[i];
            bestd = dist;
        }
    }
    return best;
}

/* A known key that `word` starts with its first 4+ characters of ("down_after"), or NULL. */
const char *sl_suggest_prefix(const char *word, const char *const *cands, size_t n)
{
    const char *best = NULL;
    size_t len = strlen(word);
    for (size_t i = 0; len >= 4 && i < n; i++)
        if (!strncmp(cands[i], word, len) && (!best || strlen(cands[i]) < strlen(best)))
            best = cands[i];
    return best;
}

/* ------------------------------------------------------------------------ */
/* value checks */

bool sl_valid_name(const char *s)
{
    if (!*s || strlen(s) > MAX_NAME)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-')
            return false;
    return true;
}

/* 1-63 of [a-z0-9-], starting and ending with a letter or digit (a DNS label). */
bool sl_valid_cluster_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > MAX_NAME || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (; *s; s++)
        if (!(*s >= 'a' && *s <= 'z') && !(*s >= '0' && *s <= '9') && *s != '-')
            return false;
    return true;
}

bool sl_valid_env_name(const char *s)
{
    if (!(isalpha((unsigned char)*s) || *s == '_'))
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_')
            return false;
    return true;
}

bool sl_has_control_chars(const struct ynode *v)
{
    for (size_t i = 0; i < v->len; i++)
        if ((unsigned char)v->scalar[i] < 0x20 || v->scalar[i] == 0x7f)
            return true;
    return false;
}

/* Keys that would hold a secret: secrets come from auth.password_env/_file only. */
bool sl_is_secret_key(const char *key)
{
    static const char *const words[] = {
        "pass", "passwd", "password", "secret", "requirepass", "masterauth", "masteruser-pass",
        "auth-pass", "auth_pass", "redis_auth", "redis-auth", "sentinel-pass", "sentinel_pass",
        "primaryauth", "token", NULL};
    char low[128];
    size_t n = strlen(key);
    if (n >= sizeof(low))
        n = sizeof(low) - 1;
    for (size_t i = 0; i < n; i++)
        low[i] = (char)tolower((unsigned char)key[i]);
    low[n] = '\0';
    if (!strcmp(low, "password_env") || !strcmp(low, "password_file"))
        return false;
    for (size_t i = 0; words[i]; i++)
        if (!strcmp(low, words[i]))
            return true;
    /* tls-key-file-pass, tls-client-key-file-pass and the like */
    if (n > 5 && (!strcmp(low + n - 5, "-pass") || !strcmp(low + n - 5, "_pass")))
        return true;
    return strstr(low, "passw") || strstr(low, "secret");
}

/* An ACL rule list ("default on >pw ~* +@all") that sets a password or its hash. */
bool sl_acl_has_password(const char *rules)
{
    for (const char *c = rules; *c; c++)
        if ((*c == '>' || *c == '#') && (c == rules || c[-1] == ' ' || c[-1] == '\t'))
            return true;
    return false;
}

/* Expand a leading "~" or "~/" to the home directory. Caller frees. */
char *sl_expand_home(const char *p)
{
    if (p[0] != '~' || (p[1] && p[1] != '/'))
        return xstrdup(p);
    const char *home = getenv("HOME");
    if (!home || !*home) {
        struct passwd *pw = getpwuid(getuid());
        home = pw ? pw->pw_dir : NULL;
    }
    if (!home)
        return xstrdup(p);
    return xasprintf("%s%s", home, p + 1);
}

bool sl_has_dotdot(const char *p)
{
    for (const char *c = p; *c;) {
        const char *e = strchr(c, '/');
        size_t n = e ? (size_t)(e - c) : strlen(c);
        if (n == 2 && c[0] == '.' && c[1] == '.')
            return true;
        if (!e)
            break;
        c = e + 1;
    }
    return false;
}
