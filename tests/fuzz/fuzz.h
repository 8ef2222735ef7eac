/*
 * fuzz.h - what every fuzz target shares. A target defines
 * LLVMFuzzerTestOneInput(); it is linked either with libFuzzer (`make fuzz`,
 * clang) or with replay.c (`make test`, any compiler), which feeds it each
 * file of tests/fuzz/corpus/<target>/.
 *
 * A target must not crash, leak or trip a sanitizer on any input, and
 * checks what must hold whatever the input (FUZZ_ASSERT aborts, which
 * both drivers report).
 */
#ifndef RMGR_FUZZ_H
#define RMGR_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond)                                                         \
    do {                                                                          \
        if (!(cond)) {                                                            \
            fprintf(stderr, "%s:%d: fuzz assertion failed: %s\n", __FILE__,      \
                    __LINE__, #cond);                                             \
            abort();                                                              \
        }                                                                         \
    } while (0)

/* The input as a NUL-terminated string (bytes after an embedded NUL are cut off, as a C
 * caller would see them). Caller frees. */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif
