#include "diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void diags_vadd(struct diags *d, enum diag_severity sev, const char *file, int line, int col,
                const char *fmt, va_list ap)
{
    VEC_GROW(d->v, d->n, d->cap);
    struct diag *g = &d->v[d->n++];
    g->severity = sev;
    g->file = xstrdup(file);
    g->line = line;
    g->col = col;
    g->seq = d->n - 1;
    g->message = xvasprintf(fmt, ap);
}

void diags_add(struct diags *d, enum diag_severity sev, const char *file, int line, int col,
               const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diags_vadd(d, sev, file, line, col, fmt, ap);
    va_end(ap);
}

size_t diags_count(const struct diags *d, enum diag_severity sev)
{
    size_t n = 0;
    for (size_t i = 0; i < d->n; i++)
        n += d->v[i].severity == sev;
    return n;
}

static int diag_cmp(const void *a, const void *b)
{
    const struct diag *x = a, *y = b;
    int c = strcmp(x->file ? x->file : "", y->file ? y->file : "");
    if (c)
        return c;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->col != y->col)
        return x->col < y->col ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void diags_sort(struct diags *d)
{
    /* ties at one position keep their order of addition (seq) */
    if (d->n > 1)
        qsort(d->v, d->n, sizeof(*d->v), diag_cmp);
}

void diags_print(const struct diags *d, FILE *out)
{
    for (size_t i = 0; i < d->n; i++) {
        const struct diag *g = &d->v[i];
        const char *sev = g->severity == DIAG_ERROR ? "error" : "warning";
        if (g->file && g->line)
            fprintf(out, "%s:%d:%d: %s: %s\n", g->file, g->line, g->col, sev, g->message);
        else if (g->file)
            fprintf(out, "%s: %s: %s\n", g->file, sev, g->message);
        else
            fprintf(out, "%s: %s\n", sev, g->message);
    }
}

void diags_release(struct diags *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->v[i].file);
        free(d->v[i].message);
    }
    free(d->v);
    d->v = NULL;
    d->n = d->cap = 0;
}
