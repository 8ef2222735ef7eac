/*
 * diag.h - diagnostics collected while reading input, reported all at once.
 *
 * Loaders never stop at the first problem: they add every error and warning
 * here, with the file, line and column it belongs to, and the caller prints
 * them as "file:line:col: error: message".
 */
#ifndef RMGR_DIAG_H
#define RMGR_DIAG_H

#include <stdio.h>
#include <stdarg.h>
#include <stddef.h>

#include "util.h"

enum diag_severity { DIAG_ERROR, DIAG_WARNING };

struct diag {
    enum diag_severity severity;
    char *file;   /* may be NULL for problems not tied to a file */
    int line;     /* 1-based; 0 when unknown */
    int col;      /* 1-based; 0 when unknown */
    char *message;
    size_t seq;   /* order of addition: keeps sorting stable */
};

struct diags {
    struct diag *v;
    size_t n, cap;
};

void diags_add(struct diags *d, enum diag_severity sev, const char *file, int line, int col,
               const char *fmt, ...) RMGR_PRINTF(6, 7);
/* diags_add() with a va_list: for a module's own error helper that takes "...". */
void diags_vadd(struct diags *d, enum diag_severity sev, const char *file, int line, int col,
                const char *fmt, va_list ap) RMGR_PRINTF(6, 0);
size_t diags_count(const struct diags *d, enum diag_severity sev);
/* Sort by file, line, column so output reads top to bottom. */
void diags_sort(struct diags *d);
/* "file:line:col: error: message" lines. */
void diags_print(const struct diags *d, FILE *out);
void diags_release(struct diags *d);

#endif
