/* test_spec_list.c - spec_source.c: the spec files of a directory */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spec_source.h"
#include "test.h"
#include "util.h"

static char dir[] = "/tmp/rmgr-test-spec-list-XXXXXX";

static void touch(const char *name)
{
    char *p = xasprintf("%s/%s", dir, name);
    CHECK(write_file_atomic(p, "x: 1\n", 5, 0600) == 0);
    free(p);
}

TEST(lists_sorted_spec_files_only)
{
    char *sub = xasprintf("%s/d", dir);
    CHECK(mkdir(sub, 0700) == 0);
    free(sub);
    sub = xasprintf("%s/d/", dir);
    touch("d/b.yml");
    touch("d/a.yaml");
    touch("d/.hidden.yaml");
    touch("d/c.txt");
    touch("d/yaml");
    char *subdir = xasprintf("%s/d/e.yaml", dir);
    CHECK(mkdir(subdir, 0700) == 0); /* a directory named like a spec */
    free(subdir);
    char **v = NULL;
    size_t n = 0;
    char *err = NULL;
    CHECK_INT_EQ(spec_list_dir(sub, NULL, &v, &n, &err), 0);
    CHECK_INT_EQ(n, 2);
    if (n == 2) {
        char *a = xasprintf("%s/d/a.yaml", dir), *b = xasprintf("%s/d/b.yml", dir);
        CHECK_STR_EQ(v[0], a); /* one '/' even though `sub` ends in one */
        CHECK_STR_EQ(v[1], b);
        free(a);
        free(b);
    }
    spec_list_free(v, n);
    free(sub);
    CHECK(err == NULL);
}

TEST(empty_directory_is_an_empty_list)
{
    char *sub = xasprintf("%s/empty", dir);
    CHECK(mkdir(sub, 0700) == 0);
    char **v = NULL;
    size_t n = 7;
    char *err = NULL;
    CHECK_INT_EQ(spec_list_dir(sub, NULL, &v, &n, &err), 0);
    CHECK_INT_EQ(n, 0);
    spec_list_free(v, n);
    free(sub);
}

TEST(missing_directory_is_an_error)
{
    char *sub = xasprintf("%s/nope", dir);
    char **v = NULL;
    size_t n = 0;
    char *err = NULL;
    CHECK_INT_EQ(spec_list_dir(sub, NULL, &v, &n, &err), -1);
    CHECK_CONTAINS(err, "cannot open directory");
    CHECK_CONTAINS(err, "nope");
    free(err);
    free(sub);
}

TEST(symlink_outside_root_is_refused)
{
    char *repo = xasprintf("%s/repo", dir);
    CHECK(mkdir(repo, 0700) == 0);
    touch("repo/in.yaml");
    touch("outside.yaml");
    char *in_link = xasprintf("%s/repo/link.yaml", dir);
    CHECK(symlink("in.yaml", in_link) == 0);
    char **v = NULL;
    size_t n = 0;
    char *err = NULL;
    CHECK_INT_EQ(spec_list_dir(repo, repo, &v, &n, &err), 0);
    CHECK_INT_EQ(n, 2); /* a link that stays inside is listed */
    spec_list_free(v, n);
    char *out_link = xasprintf("%s/repo/z.yaml", dir);
    char *target = xasprintf("%s/outside.yaml", dir);
    CHECK(symlink(target, out_link) == 0);
    CHECK_INT_EQ(spec_list_dir(repo, repo, &v, &n, &err), -2);
    CHECK_STR_EQ(err, "z.yaml");
    free(err);
    err = NULL;
    /* without a root, links are followed wherever they go */
    CHECK_INT_EQ(spec_list_dir(repo, NULL, &v, &n, &err), 0);
    CHECK_INT_EQ(n, 3);
    spec_list_free(v, n);
    free(repo);
    free(in_link);
    free(out_link);
    free(target);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(lists_sorted_spec_files_only);
    RUN(empty_directory_is_an_empty_list);
    RUN(missing_directory_is_an_error);
    RUN(symlink_outside_root_is_refused);
    char *rm = xasprintf("rm -rf '%s'", dir);
    if (system(rm) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    free(rm);
    return test_done();
}
