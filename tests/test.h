/*
 * test.h - a tiny test framework: every binary ends with "N passed, N failed".
 *
 *   TEST(parses_ports) { CHECK(parse(...) == 0); CHECK_STR_EQ(a, b); }
 *   int main(void) { RUN(parses_ports); return test_done(); }
 *
 * A test passes when none of its checks failed. Golden files are compared
 * with check_golden(); UPDATE_GOLDEN=1 rewrites them instead (review the diff).
 */
#ifndef RMGR_TEST_H
#define RMGR_TEST_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_passed_count, test_failed_count, test_current_failed;

#define TEST(name) static void name(void)

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            printf("    %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);      \
            test_current_failed = 1;                                                 \
        }                                                                            \
    } while (0)

#define CHECK_INT_EQ(a, b)                                                           \
    do {                                                                             \
        long long a_ = (long long)(a), b_ = (long long)(b);                          \
        if (a_ != b_) {                                                              \
            printf("    %s:%d: %s == %s: %lld != %lld\n", __FILE__, __LINE__, #a, #b, \
                   a_, b_);                                                          \
            test_current_failed = 1;                                                 \
        }                                                                            \
    } while (0)

#define CHECK_STR_EQ(a, b)                                                           \
    do {                                                                             \
        const char *a_ = (a), *b_ = (b);                                             \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                     \
            printf("    %s:%d: %s == %s:\n      got:      \"%s\"\n      expected: \"%s\"\n", \
                   __FILE__, __LINE__, #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
            test_current_failed = 1;                                                 \
        }                                                                            \
    } while (0)

#define CHECK_CONTAINS(hay, needle)                                                  \
    do {                                                                             \
        const char *h_ = (hay), *n_ = (needle);                                      \
        if (!h_ || !strstr(h_, n_)) {                                                \
            printf("    %s:%d: \"%s\" not found in:\n%s\n", __FILE__, __LINE__, n_,   \
                   h_ ? h_ : "(null)");                                              \
            test_current_failed = 1;                                                 \
        }                                                                            \
    } while (0)

#define RUN(name) test_run(#name, name)

/*
 * RMGR_TEST_ONLY=a,b (while working on a test): run only the tests whose
 * names contain one of the comma-separated words; the others are not run
 * and not counted.
 */
static inline bool test_selected(const char *name)
{
    const char *only = getenv("RMGR_TEST_ONLY");
    if (!only || !*only)
        return true;
    for (const char *p = only; *p;) {
        size_t n = strcspn(p, ",");
        for (const char *q = name; n && *q; q++)
            if (!strncmp(q, p, n))
                return true;
        p += n + (p[n] == ',');
    }
    return false;
}

static inline void test_run(const char *name, void (*fn)(void))
{
    if (!test_selected(name))
        return;
    test_current_failed = 0;
    fn();
    if (test_current_failed) {
        test_failed_count++;
        printf("FAIL %s\n", name);
    } else {
        test_passed_count++;
        printf("ok   %s\n", name);
    }
    fflush(stdout);
}

static inline int test_done(void)
{
    printf("%d passed, %d failed\n", test_passed_count, test_failed_count);
    return test_failed_count ? 1 : 0;
}

/* Read a whole file into a NUL-terminated buffer, or NULL. */
static inline char *test_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len - 1 == 0)
            buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

/* Compare `actual` with the golden file at `path`; 1 when equal. */
static inline int check_golden(const char *path, const char *actual)
{
    if (getenv("UPDATE_GOLDEN")) {
        FILE *f = fopen(path, "wb");
        if (!f)
            return 0;
        fputs(actual, f);
        fclose(f);
        return 1;
    }
    char *expected = test_slurp(path);
    if (!expected) {
        printf("    golden file %s is missing (run with UPDATE_GOLDEN=1 to create it)\n", path);
        test_current_failed = 1;
        return 0;
    }
    int same = strcmp(expected, actual) == 0;
    if (!same) {
        printf("    %s differs from the output:\n--- expected\n%s--- got\n%s---\n", path,
               expected, actual);
        test_current_failed = 1;
    }
    free(expected);
    return same;
}

#endif
