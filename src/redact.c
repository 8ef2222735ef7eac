/*
 * redact.c - secrets out of text. See redact.h.
 */
#include "redact.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

static int cmp_len_desc(const void *a, const void *b)
{
    size_t x = strlen(*(char *const *)a), y = strlen(*(char *const *)b);
    return x < y ? 1 : x > y ? -1 : 0;
}

char *redact_secrets(const char *text, char *const *secrets, size_t nsecrets)
{
    if (!text)
        return NULL;
    char *out = xstrdup(text);
    if (!nsecrets)
        return out;
    char **sorted = xcalloc(nsecrets, sizeof(*sorted));
    size_t n = 0;
    for (size_t i = 0; i < nsecrets; i++)
        if (secrets[i] && *secrets[i])
            sorted[n++] = secrets[i];
    qsort(sorted, n, sizeof(*sorted), cmp_len_desc);
    for (size_t i = 0; i < n; i++) {
        const char *s = sorted[i];
        size_t sl = strlen(s);
        if (!strstr(out, s))
            continue;
        struct strbuf sb = {0};
        const char *p = out, *hit;
        while ((hit = strstr(p, s))) {
            sb_addn(&sb, p, (size_t)(hit - p));
            sb_add(&sb, REDACTED);
            p = hit + sl;
        }
        sb_add(&sb, p);
        free(out);
        out = sb_detach(&sb);
    }
    free(sorted);
    return out;
}
