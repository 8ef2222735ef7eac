/*
 * util_assert.c - where a broken ASSERT (util.h) ends the process.
 */
#include "util.h"

#include <stdio.h>
#include <stdlib.h>

void rmgr_assert_failed(const char *expr, const char *file, int line, const char *func)
{
    fprintf(stderr, "rmgr: %s:%d: %s: assertion failed: %s\n", file, line, func, expr);
    fflush(stderr);
    abort();
}
