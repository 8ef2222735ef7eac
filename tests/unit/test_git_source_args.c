/* test_git_source_args.c - --repo/--ref/--path/--cache-dir checks, URL
 * redaction and cache naming; nothing here touches disk or network. (Their
 * parsing is the command line's: tests/unit/test_cli_opt.c.) */
#include <stdlib.h>
#include <string.h>

#include "git_source.h"
#include "test.h"
#include "util.h"

TEST(check_opts_needs_repo)
{
    char *err = NULL;
    struct git_source_opts none = {0};
    CHECK_INT_EQ(git_source_check_opts(&none, &err), 0);
    CHECK(err == NULL);
    const struct {
        struct git_source_opts o;
        const char *msg;
    } cases[] = {
        {{.ref = "main"}, "--ref needs --repo"},
        {{.path = "specs"}, "--path needs --repo"},
        {{.cache_dir = "/c"}, "--cache-dir needs --repo"},
        {{.repo = ""}, "--repo needs a URL"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        CHECK_INT_EQ(git_source_check_opts(&cases[i].o, &err), -1);
        CHECK_STR_EQ(err, cases[i].msg);
        free(err);
        err = NULL;
    }
}

TEST(check_opts_keeps_path_inside_the_repository)
{
    char *err = NULL;
    const char *ok[] = {"specs", "specs/prod/", "./specs", "a//b", ".", "a/.gitx", "..a/b"};
    for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
        struct git_source_opts o = {.repo = "/r", .path = ok[i]};
        CHECK_INT_EQ(git_source_check_opts(&o, &err), 0);
        if (err)
            printf("    %s: %s\n", ok[i], err);
        free(err);
        err = NULL;
    }
    const struct {
        const char *path, *msg;
    } bad[] = {
        {"..", "--path '..' leaves the repository"},
        {"../x", "--path '../x' leaves the repository"},
        {"specs/../../x", "--path 'specs/../../x' leaves the repository"},
        {"a/..", "--path 'a/..' leaves the repository"},
        {"/etc", "--path '/etc' must be relative to the repository"},
        {".git", "--path '.git' points into the .git directory"},
        {"a/.git/x", "--path 'a/.git/x' points into the .git directory"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct git_source_opts o = {.repo = "/r", .path = bad[i].path};
        CHECK_INT_EQ(git_source_check_opts(&o, &err), -1);
        CHECK_STR_EQ(err, bad[i].msg);
        free(err);
        err = NULL;
    }
}

TEST(check_opts_refuses_odd_refs)
{
    char *err = NULL;
    const char *ok[] = {"main", "v1.2.3", "feature/x", "refs/pull/7/head", "0123abcd", "HEAD"};
    for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
        struct git_source_opts o = {.repo = "/r", .ref = ok[i]};
        CHECK_INT_EQ(git_source_check_opts(&o, &err), 0);
        free(err);
        err = NULL;
    }
    const char *bad[] = {"-x", "a b", "a..b", "main@{1}", "HEAD~1", "x^", "a:b", "", "a\nb", "*"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct git_source_opts o = {.repo = "/r", .ref = bad[i]};
        CHECK_INT_EQ(git_source_check_opts(&o, &err), -1);
        CHECK_CONTAINS(err, "invalid --ref");
        free(err);
        err = NULL;
    }
}

TEST(urls_are_redacted)
{
    const struct {
        const char *in, *out;
    } cases[] = {
        {"https://bot:s3cret@git.example/o/r.git", "https://git.example/o/r.git"},
        {"https://ghp_tokenAsUser@git.example/r", "https://git.example/r"},
        {"HTTP://u:p@git.example/r", "HTTP://git.example/r"},
        {"ssh://git:pw@git.example:2222/r", "ssh://git@git.example:2222/r"},
        {"ssh://git@git.example/r", "ssh://git@git.example/r"},
        {"git@git.example:o/r.git", "git@git.example:o/r.git"},
        {"https://git.example/a@b", "https://git.example/a@b"},
        {"/srv/git/specs.git", "/srv/git/specs.git"},
        {"file:///srv/git/specs.git", "file:///srv/git/specs.git"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *s = git_source_redact_url(cases[i].in);
        CHECK_STR_EQ(s, cases[i].out);
        free(s);
    }
    CHECK(git_source_redact_url(NULL) == NULL);
}

TEST(cache_path_is_stable_safe_and_secret_free)
{
    char *err = NULL;
    struct git_source_opts a = {.repo = "https://bot:s3cret@git.example/ops/specs.git",
                                .cache_dir = "/var/cache/rmgr"};
    struct git_source_opts b = {.repo = "https://git.example/ops/specs.git",
                                .cache_dir = "/var/cache/rmgr"};
    struct git_source_opts c = {.repo = "https://git.example/ops/other.git",
                                .cache_dir = "/var/cache/rmgr"};
    char *pa = git_source_cache_path(&a, &err);
    char *pb = git_source_cache_path(&b, &err);
    char *pc = git_source_cache_path(&c, &err);
    /* credentials change neither the cache nor appear in it */
    CHECK_STR_EQ(pa, pb);
    CHECK(pa && !strstr(pa, "s3cret") && !strstr(pa, "bot"));
    CHECK(pa && pc && strcmp(pa, pc) != 0);
    CHECK(pa && str_starts_with(pa, "/var/cache/rmgr/git.example-ops-specs.git-"));
    const char *name = pa ? strrchr(pa, '/') + 1 : "";
    for (const char *p = name; *p; p++)
        CHECK(strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_", *p));
    free(pa);
    free(pb);
    free(pc);

    struct git_source_opts bad = {.repo = "gopher://x/y", .cache_dir = "/c"};
    CHECK(git_source_cache_path(&bad, &err) == NULL);
    CHECK_CONTAINS(err, "unsupported URL scheme");
    free(err);
}

int main(void)
{
    RUN(check_opts_needs_repo);
    RUN(check_opts_keeps_path_inside_the_repository);
    RUN(check_opts_refuses_odd_refs);
    RUN(urls_are_redacted);
    RUN(cache_path_is_stable_safe_and_secret_free);
    return test_done();
}
