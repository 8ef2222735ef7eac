/*
 * replay.c - the standalone fuzz driver: feeds every file of the
 * directories (or files) named on the command line to the target, so
 * `make test` replays the corpus with gcc and any sanitizer, without
 * libFuzzer. An input that crashes ends the run (no result line: the
 * test runner counts it as broken); one that trips a FUZZ_ASSERT too.
 *
 *   replay_<target> DIR|FILE...   prints "N passed, N failed"
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int passed, failed;

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("    %s: cannot open\n", path);
        failed++;
        return;
    }
    size_t cap = 4096, len = 0;
    unsigned char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap)
            buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    if (!buf)
        abort();
    /* an exact-size copy, so ASan sees a read past the input */
    unsigned char *exact = malloc(len ? len : 1);
    memcpy(exact, buf, len);
    free(buf);
    fflush(stdout);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    passed++;
}

static void replay(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        printf("    %s: missing\n", path);
        failed++;
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        replay_file(path);
        return;
    }
    DIR *d = opendir(path);
    if (!d) {
        printf("    %s: cannot list\n", path);
        failed++;
        return;
    }
    char **names = NULL;
    size_t nn = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        names = realloc(names, (nn + 1) * sizeof(*names));
        names[nn++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, nn, sizeof(*names), by_name);
    for (size_t i = 0; i < nn; i++) {
        size_t l = strlen(path) + strlen(names[i]) + 2;
        char *p = malloc(l);
        snprintf(p, l, "%s/%s", path, names[i]);
        replay_file(p);
        free(p);
        free(names[i]);
    }
    free(names);
    if (nn == 0) {
        printf("    %s: empty corpus\n", path);
        failed++;
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++)
        replay(argv[i]);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
