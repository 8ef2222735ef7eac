/*
 * test_spec_policy.c - policy mode (spec_policy.c): the proposed specs of
 * tests/fixtures/policy/pr-*.yaml judged against base.yaml, the allow-list
 * parser and matcher, new clusters, and the two together.
 *
 * Each pr-*.yaml says what it changes on its first line and what must be
 * refused in its "# expect: line N: MESSAGE" lines (N: the line of the
 * changed field in that file), or "# expect: none" when it must pass;
 * "# refusals: N" pins the count where one change causes several.
 */
#include <dirent.h>

#include "spec.h"
#include "spec_policy.h"
#include "test.h"
#include "util.h"

#define FIX "tests/fixtures/policy/"

static struct spec *load(const char *path)
{
    struct diags d = {0};
    struct spec *s = spec_load_file(path, &d);
    if (!s)
        diags_print(&d, stdout);
    diags_release(&d);
    return s;
}

static struct spec *load_text(const char *name, const char *text)
{
    struct diags d = {0};
    struct spec *s = spec_load_buffer(name, text, strlen(text), &d);
    if (!s)
        diags_print(&d, stdout);
    diags_release(&d);
    return s;
}

/* The refusals as "line N: message" lines. */
static char *judge(const struct spec *prop, const struct spec_policy *p, size_t *n)
{
    struct diags d = {0};
    *n = spec_policy_check(prop, p, &d);
    CHECK_INT_EQ(d.n, *n);
    struct strbuf sb = {0};
    for (size_t i = 0; i < d.n; i++) {
        CHECK(d.v[i].severity == DIAG_ERROR);
        CHECK_STR_EQ(d.v[i].file, prop->file);
        sb_addf(&sb, "line %d: %s\n", d.v[i].line, d.v[i].message);
    }
    diags_release(&d);
    return sb.buf ? sb.buf : xstrdup("");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

TEST(every_fixture_against_the_base)
{
    struct spec *base = load(FIX "base.yaml");
    CHECK(base);
    DIR *dir = opendir(FIX);
    CHECK(dir);
    if (!base || !dir)
        return;
    char *names[64];
    size_t nn = 0;
    struct dirent *de;
    while ((de = readdir(dir)) && nn < 64)
        if (!strncmp(de->d_name, "pr-", 3))
            names[nn++] = xstrdup(de->d_name);
    closedir(dir);
    qsort(names, nn, sizeof(*names), cmp_str);
    CHECK(nn >= 15);
    struct spec_policy p = {.trusted_mode = true, .trusted = base, .trusted_name = "base.yaml",
                            .trusted_ref = "main"};
    for (size_t i = 0; i < nn; i++) {
        char *path = xasprintf(FIX "%s", names[i]);
        char *text = NULL;
        size_t len;
        CHECK(read_file(path, 1 << 20, &text, &len) == 0);
        struct spec *prop = load(path);
        CHECK(prop);
        if (!prop || !text) {
            printf("    %s does not load\n", path);
            free(text);
            free(path);
            continue;
        }
        size_t n;
        char *got = judge(prop, &p, &n);
        size_t nexpect = 0;
        long want_count = -1;
        bool none = false;
        for (char *l = text; l && *l;) {
            char *e = strchr(l, '\n');
            size_t ll = e ? (size_t)(e - l) : strlen(l);
            if (!strncmp(l, "# expect: ", 10)) {
                char *want = xstrndup(l + 10, ll - 10);
                if (!strcmp(want, "none"))
                    none = true;
                else if (!strstr(got, want)) {
                    printf("    %s: expected \"%s\" among:\n%s", names[i], want, got);
                    test_current_failed = 1;
                }
                nexpect++;
                free(want);
            } else if (!strncmp(l, "# refusals: ", 12)) {
                want_count = strtol(l + 12, NULL, 10);
            }
            l = e ? e + 1 : NULL;
        }
        if (nexpect == 0) {
            printf("    %s has no '# expect:' line\n", names[i]);
            test_current_failed = 1;
        }
        if (none && n) {
            printf("    %s: expected no refusal, got:\n%s", names[i], got);
            test_current_failed = 1;
        }
        if (!none && want_count < 0 && n != nexpect) {
            printf("    %s: %zu refusals, %zu expected:\n%s", names[i], n, nexpect, got);
            test_current_failed = 1;
        }
        if (want_count >= 0 && (long)n != want_count) {
            printf("    %s: %zu refusals, %ld expected:\n%s", names[i], n, want_count, got);
            test_current_failed = 1;
        }
        if (getenv("RMGR_TEST_VERBOSE"))
            printf("  %s:\n%s", names[i], got);
        free(got);
        spec_free(prop);
        free(text);
        free(path);
        free(names[i]);
    }
    spec_free(base);
}

TEST(the_base_against_itself_passes)
{
    struct spec *base = load(FIX "base.yaml"), *same = load(FIX "base.yaml");
    CHECK(base && same);
    if (!base || !same)
        return;
    struct spec_policy p = {.trusted_mode = true, .trusted = base, .trusted_name = "base.yaml"};
    size_t n;
    char *got = judge(same, &p, &n);
    CHECK_STR_EQ(got, "");
    free(got);
    spec_free(base);
    spec_free(same);
}

TEST(no_policy_judges_nothing)
{
    struct spec *prop = load(FIX "pr-master-address.yaml");
    CHECK(prop);
    struct spec_policy p = {0};
    struct diags d = {0};
    CHECK_INT_EQ(spec_policy_check(prop, &p, &d), 0);
    CHECK_INT_EQ(d.n, 0);
    diags_release(&d);
    spec_free(prop);
}

static const char *const ALLOW =
    "# production hosts\n"
    "10.0.0.1\n"
    "\n"
    "  10.0.0.2   # h2\n"
    "10.0.1.0/24\n"
    "fd00::/8\n";

TEST(allow_list_parses_and_matches)
{
    struct diags d = {0};
    struct allow_list a;
    CHECK_INT_EQ(allow_list_parse("allow.txt", ALLOW, strlen(ALLOW), &a, &d), 0);
    CHECK_INT_EQ(d.n, 0);
    CHECK_INT_EQ(a.n, 4);
    CHECK(allow_list_has(&a, "10.0.0.1"));
    CHECK(allow_list_has(&a, "10.0.0.2"));
    CHECK(!allow_list_has(&a, "10.0.0.3"));
    CHECK(allow_list_has(&a, "10.0.1.0"));
    CHECK(allow_list_has(&a, "10.0.1.255"));
    CHECK(!allow_list_has(&a, "10.0.2.1"));
    CHECK(allow_list_has(&a, "fd12::1"));
    CHECK(!allow_list_has(&a, "fe80::1"));
    CHECK(!allow_list_has(&a, "::ffff:10.0.0.1")); /* another family: not the same entry */
    CHECK(!allow_list_has(&a, "h1"));
    CHECK(!allow_list_has(&a, NULL));
    allow_list_release(&a);
    diags_release(&d);
}

TEST(allow_list_prefixes)
{
    const char *t = "192.168.0.0/17\n0.0.0.0/0\n::1/128\n";
    struct diags d = {0};
    struct allow_list a;
    CHECK_INT_EQ(allow_list_parse("a", t, strlen(t), &a, &d), 0);
    a.n = 1; /* only the /17 */
    CHECK(allow_list_has(&a, "192.168.127.255"));
    CHECK(!allow_list_has(&a, "192.168.128.0"));
    a.n = 2; /* and everything IPv4 */
    CHECK(allow_list_has(&a, "8.8.8.8"));
    CHECK(!allow_list_has(&a, "::1"));
    a.n = 3;
    CHECK(allow_list_has(&a, "::1"));
    allow_list_release(&a);
    diags_release(&d);
}

TEST(allow_list_bad_lines_are_errors_with_their_line)
{
    const char *t = "10.0.0.1\nh1.example.com\n10.0.0.0/33\n10.0.0.0/\n::1/129\n10.0.0.1 10.0.0.2\n"
                    "10.0.0.0/x\n  # fine\n";
    struct diags d = {0};
    struct allow_list a;
    CHECK_INT_EQ(allow_list_parse("allow.txt", t, strlen(t), &a, &d), 6);
    CHECK_INT_EQ(a.n, 1);
    CHECK_INT_EQ(d.n, 6);
    if (d.n == 6) {
        CHECK_INT_EQ(d.v[0].line, 2);
        CHECK_STR_EQ(d.v[0].file, "allow.txt");
        CHECK_CONTAINS(d.v[0].message, "'h1.example.com' is not an IP address or network");
        CHECK_INT_EQ(d.v[1].line, 3);
        CHECK_INT_EQ(d.v[2].line, 4);
        CHECK_INT_EQ(d.v[3].line, 5);
        CHECK_INT_EQ(d.v[4].line, 6);
        CHECK_INT_EQ(d.v[5].line, 7);
    }
    allow_list_release(&a);
    diags_release(&d);
}

TEST(allow_list_line_with_a_nul_byte_is_an_error)
{
    const char t[] = "10.0.0.1\n10.0.0.2\0junk\n";
    struct diags d = {0};
    struct allow_list a;
    CHECK_INT_EQ(allow_list_parse("a", t, sizeof(t) - 1, &a, &d), 1);
    CHECK(!allow_list_has(&a, "10.0.0.2"));
    allow_list_release(&a);
    diags_release(&d);
}

static struct allow_list allow_of(const char *text)
{
    struct diags d = {0};
    struct allow_list a;
    CHECK_INT_EQ(allow_list_parse("allow.txt", text, strlen(text), &a, &d), 0);
    diags_release(&d);
    return a;
}

TEST(allow_list_alone_names_every_address_not_listed)
{
    struct spec *s = load(FIX "base.yaml");
    CHECK(s);
    if (!s)
        return;
    struct allow_list a = allow_of("10.0.0.0/24\n");
    struct spec_policy p = {.allow = &a};
    size_t n;
    char *got = judge(s, &p, &n);
    CHECK_STR_EQ(got, "");
    free(got);
    allow_list_release(&a);

    a = allow_of("10.0.0.1\n10.0.0.2\n");
    got = judge(s, &p, &n);
    /* 10.0.0.3 is a sentinel and an ssh host; line 21 in base.yaml */
    CHECK_INT_EQ(n, 2);
    CHECK_CONTAINS(got, "line 21: sentinel.nodes[2]: 10.0.0.3:26379 (sentinel) is not in the "
                        "allow-list 'allow.txt' (--allow-hosts)");
    CHECK_CONTAINS(got, "10.0.0.3:22 (ssh) is not in the allow-list");
    free(got);
    allow_list_release(&a);

    a = allow_of("10.0.0.2\n10.0.0.3\n");
    got = judge(s, &p, &n);
    CHECK_CONTAINS(got, "line 17: shards[0].master: 10.0.0.1:7001 (redis)");
    CHECK_CONTAINS(got, "proxies[0].listen: 10.0.0.1:22121 (proxy)");
    CHECK_CONTAINS(got, "proxies[0].stats_port: 10.0.0.1:22222 (proxy stats)");
    CHECK_CONTAINS(got, "line 4: hosts.h1 (ssh): 10.0.0.1:22 (ssh)");
    free(got);
    allow_list_release(&a);
    spec_free(s);
}

TEST(a_loopback_or_wildcard_proxy_listen_address_is_its_host)
{
    const char *t = "cluster: p\n"
                    "hosts: { h1: { address: 10.0.0.1 } }\n"
                    "shards: [{ name: s1, master: h1:7001 }]\n"
                    "sentinel: { quorum: 1, nodes: [h1:26379] }\n"
                    "proxies:\n"
                    "  - { host: h1, listen: 0.0.0.0:22121 }\n"
                    "  - { host: h1, listen: 127.0.0.1:22122, stats_port: 22223 }\n";
    struct spec *s = load_text("p.yaml", t);
    CHECK(s);
    if (!s)
        return;
    struct allow_list a = allow_of("10.0.0.1\n");
    struct spec_policy p = {.allow = &a};
    size_t n;
    char *got = judge(s, &p, &n);
    CHECK_STR_EQ(got, "");
    free(got);
    allow_list_release(&a);
    a = allow_of("0.0.0.0/0\n");
    p.allow = &a;
    spec_free(s);
    /* the same proxy on another host: its listen address moves with it */
    s = load_text("p.yaml", "cluster: p\n"
                            "hosts: { h1: { address: 10.0.0.1 } }\n"
                            "shards: [{ name: s1, master: h1:7001 }]\n"
                            "sentinel: { quorum: 1, nodes: [h1:26379] }\n"
                            "proxies:\n"
                            "  - { host: 10.0.0.1, listen: 0.0.0.0:22121 }\n");
    struct spec *moved = load_text("q.yaml", "cluster: p\n"
                                             "hosts: { h1: { address: 10.0.0.1 } }\n"
                                             "shards: [{ name: s1, master: h1:7001 }]\n"
                                             "sentinel: { quorum: 1, nodes: [h1:26379] }\n"
                                             "proxies:\n"
                                             "  - { host: 10.0.0.8, listen: 0.0.0.0:22121 }\n");
    CHECK(s && moved);
    if (s && moved) {
        struct spec_policy q = {.trusted_mode = true, .trusted = s, .trusted_name = "p.yaml"};
        got = judge(moved, &q, &n);
        CHECK_CONTAINS(got, "line 6: proxies[0].listen is 10.0.0.8:22121 here but 10.0.0.1:22121");
        CHECK_CONTAINS(got, "proxies[0].stats_port is 10.0.0.8:22222 here");
        free(got);
    }
    spec_free(moved);
    allow_list_release(&a);
    spec_free(s);
}

static const char *const NEW_CLUSTER =
    "cluster: fresh\n"
    "defaults: { transport: local, base_dir: /var/lib/rmgr }\n"
    "shards:\n"
    "  - name: s1\n"
    "    master: 127.0.0.1:7001\n"
    "    replicas: [127.0.0.1:7002]\n"
    "sentinel: { quorum: 1, nodes: [127.0.0.1:26379] }\n";

TEST(a_new_cluster_needs_every_address_in_the_allow_list)
{
    struct spec *s = load_text("specs/fresh.yaml", NEW_CLUSTER);
    CHECK(s);
    if (!s)
        return;
    struct spec_policy p = {.trusted_mode = true, .trusted = NULL,
                            .trusted_name = "origin/main:specs", .trusted_ref = "origin/main"};
    size_t n;
    char *got = judge(s, &p, &n);
    CHECK_INT_EQ(n, 1);
    CHECK_CONTAINS(got, "line 1: cluster 'fresh' is not in the trusted spec (origin/main): "
                        "--trusted-spec refuses a new cluster unless every address it names "
                        "is in --allow-hosts");
    free(got);

    struct allow_list a = allow_of("127.0.0.1\n");
    p.allow = &a;
    got = judge(s, &p, &n);
    CHECK_STR_EQ(got, "");
    free(got);
    allow_list_release(&a);

    a = allow_of("10.0.0.0/8\n");
    got = judge(s, &p, &n);
    CHECK_INT_EQ(n, 3);
    CHECK_CONTAINS(got, "line 5: shards[0].master: 127.0.0.1:7001 (redis) is not in the allow-list");
    CHECK_CONTAINS(got, "line 7: sentinel.nodes[0]: 127.0.0.1:26379 (sentinel)");
    CHECK_CONTAINS(got, "line 6: shards[0].replicas[0]: 127.0.0.1:7002 (redis)");
    free(got);
    allow_list_release(&a);
    spec_free(s);
}

TEST(with_both_a_changed_address_in_the_allow_list_passes_but_settings_do_not)
{
    struct spec *base = load(FIX "base.yaml"), *prop = load(FIX "pr-master-address.yaml");
    struct spec *bd = load(FIX "pr-base-dir.yaml");
    CHECK(base && prop && bd);
    if (!base || !prop || !bd)
        return;
    struct allow_list a = allow_of("10.0.0.0/24\n");
    struct spec_policy p = {.trusted_mode = true, .trusted = base, .trusted_name = "base.yaml",
                            .allow = &a};
    size_t n;
    char *got = judge(prop, &p, &n); /* 10.0.0.9 is listed */
    CHECK_STR_EQ(got, "");
    free(got);
    got = judge(bd, &p, &n); /* the allow-list does not vouch for base_dir */
    CHECK_INT_EQ(n, 1);
    CHECK_CONTAINS(got, "defaults.base_dir is '/home/ci'");
    free(got);
    allow_list_release(&a);
    a = allow_of("10.0.0.1\n10.0.0.2\n10.0.0.3\n");
    got = judge(prop, &p, &n); /* 10.0.0.9 is not: the allow-list's refusal, once */
    CHECK_INT_EQ(n, 2);
    CHECK_CONTAINS(got, "shards[0].master: 10.0.0.9:7001 (redis) is not in the allow-list");
    CHECK_CONTAINS(got, "10.0.0.9:22 (ssh) is not in the allow-list");
    free(got);
    allow_list_release(&a);
    spec_free(base);
    spec_free(prop);
    spec_free(bd);
}

int main(void)
{
    RUN(every_fixture_against_the_base);
    RUN(the_base_against_itself_passes);
    RUN(no_policy_judges_nothing);
    RUN(allow_list_parses_and_matches);
    RUN(allow_list_prefixes);
    RUN(allow_list_bad_lines_are_errors_with_their_line);
    RUN(allow_list_line_with_a_nul_byte_is_an_error);
    RUN(allow_list_alone_names_every_address_not_listed);
    RUN(a_loopback_or_wildcard_proxy_listen_address_is_its_host);
    RUN(a_new_cluster_needs_every_address_in_the_allow_list);
    RUN(with_both_a_changed_address_in_the_allow_list_passes_but_settings_do_not);
    return test_done();
}
