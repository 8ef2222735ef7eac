/*
 * test_convert.c - `rmgr convert redis-mgr` (pure): the Python literal
 * reader, and every case under tests/fixtures/convert/.
 *
 * A case is conf.py, an optional `args` file ("cluster NAME", "host
 * NAME=IP" lines: --cluster and --host), expected.err (the diagnostics) and,
 * when it converts, expected.yaml (UPDATE_GOLDEN=1 rewrites both). A
 * converted spec must load without an error, its alerts: included.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "convert_redismgr.h"
#include "pylit.h"
#include "spec.h"
#include "test.h"
#include "util.h"

static const char *fixtures_dir(void)
{
    static char path[4096];
    const char *t = getenv("RMGR_TESTS_DIR");
    snprintf(path, sizeof(path), "%s/fixtures/convert", t && *t ? t : "tests");
    return path;
}

/* ---------------------------------------------------------------- pylit */

static struct py_module read_ok(const char *text)
{
    struct py_module m = {0};
    struct diags d = {0};
    CHECK_INT_EQ(py_module_read(&m, "t.py", text, strlen(text), &d), 0);
    if (d.n)
        diags_print(&d, stdout);
    diags_release(&d);
    return m;
}

/* the first diagnostic of reading text, as "line:col: severity: message" */
static char *first_diag(const char *text)
{
    struct py_module m = {0};
    struct diags d = {0};
    py_module_read(&m, "t.py", text, strlen(text), &d);
    char *s = d.n ? xasprintf("%d:%d: %s: %s", d.v[0].line, d.v[0].col,
                              d.v[0].severity == DIAG_ERROR ? "error" : "warning",
                              d.v[0].message)
                  : xstrdup("");
    diags_release(&d);
    py_module_release(&m);
    return s;
}

TEST(literals)
{
    struct py_module m = read_ok(
        "a = 1\nb = -2.5e1\nc = 'x' \"y\" '''z\nw'''\nd = r'\\d' + u'\\t\\x41'\n"
        "e = (1,)\nf = [1, 2,]\ng = {'k': (0, 8*(2**30)), 'j': set(['ok'])}\n"
        "h = 500*1000 // 7 % 5\ni = 0x1f + 0o17 + 0b11\nj = True, None\nk = 2**-1\n"
        "l = 10/2\nm = 10/4\nn = 7 // -2\no = {1, 2}\n"
        "p = 1 ** 2 ** 62\nq = (-1) ** (2**40 + 1)\nr = 3 ** 39\nt = 0 ** 0\n");
    CHECK_INT_EQ(py_module_get(&m, "a")->i, 1);
    CHECK(py_module_get(&m, "b")->f == -25.0);
    CHECK_STR_EQ(py_module_get(&m, "c")->s, "xyz\nw");
    CHECK_STR_EQ(py_module_get(&m, "d")->s, "\\d\tA");
    CHECK_INT_EQ(py_module_get(&m, "e")->type, PY_TUPLE);
    CHECK_INT_EQ(py_module_get(&m, "e")->n, 1);
    CHECK_INT_EQ(py_module_get(&m, "f")->n, 2);
    const struct py_value *k = py_dict_get(py_module_get(&m, "g"), "k");
    CHECK(k && k->n == 2 && k->items[1]->i == 8LL << 30);
    const struct py_value *j = py_dict_get(py_module_get(&m, "g"), "j");
    CHECK(j && j->type == PY_SET && j->n == 1 && !strcmp(j->items[0]->s, "ok"));
    CHECK_INT_EQ(py_module_get(&m, "h")->i, (500 * 1000 / 7) % 5);
    CHECK_INT_EQ(py_module_get(&m, "i")->i, 31 + 15 + 3);
    CHECK_INT_EQ(py_module_get(&m, "j")->type, PY_TUPLE);
    CHECK(py_module_get(&m, "k")->f == 0.5);
    CHECK_INT_EQ(py_module_get(&m, "l")->type, PY_INT);
    /* by squaring: a huge exponent of 1 or -1 is answered at once */
    CHECK_INT_EQ(py_module_get(&m, "p")->i, 1);
    CHECK_INT_EQ(py_module_get(&m, "q")->i, -1);
    CHECK(py_module_get(&m, "r")->i == 4052555153018976267LL);
    CHECK_INT_EQ(py_module_get(&m, "t")->i, 1);
    CHECK_INT_EQ(py_module_get(&m, "l")->i, 5);
    CHECK(py_module_get(&m, "m")->f == 2.5);
    CHECK_INT_EQ(py_module_get(&m, "n")->i, -4);
    CHECK_INT_EQ(py_module_get(&m, "o")->type, PY_SET);
    py_module_release(&m);
}

TEST(assignments_to_items)
{
    struct py_module m = read_ok("c = {'a': 1}\nc['b'] = [2]\nc['b'].append(3); c['a'] = 4\n"
                                 "x = c\nc['a'] = 5\n");
    const struct py_value *c = py_module_get(&m, "c"), *b = py_dict_get(c, "b");
    CHECK(b && b->n == 2 && b->items[1]->i == 3);
    CHECK_INT_EQ(py_dict_get(c, "a")->i, 5);
    CHECK_INT_EQ(py_dict_get(py_module_get(&m, "x"), "a")->i, 4); /* a copy, as written then */
    py_module_release(&m);
}

TEST(what_is_not_a_literal)
{
    char *s;
    CHECK_STR_EQ(s = first_diag("import os\n"), "1:1: warning: skipped: not a literal assignment "
                                                "(only NAME = literal is read)");
    free(s);
    /* a block is skipped whole, its indented lines with it */
    struct py_module m = {0};
    struct diags d = {0};
    const char *t = "def f(x):\n    y = 1\n    return x\nz = 2\n";
    CHECK_INT_EQ(py_module_read(&m, "t.py", t, strlen(t), &d), 0);
    CHECK_INT_EQ(d.n, 1);
    CHECK(py_module_get(&m, "y") == NULL);
    CHECK_INT_EQ(py_module_get(&m, "z")->i, 2);
    diags_release(&d);
    py_module_release(&m);
    CHECK_STR_EQ(s = first_diag("a = os.getcwd()\n"),
                 "1:5: error: name 'os' is not a literal nor assigned before");
    free(s);
    CHECK_STR_EQ(s = first_diag("a = open('x')\n"), "1:5: error: 'open(...)' is a call, not a literal");
    free(s);
    CHECK_STR_EQ(s = first_diag("a = f'{x}'\n"), "1:5: error: an f-string is not a literal");
    free(s);
    CHECK_STR_EQ(s = first_diag("a = 'x' * 2\n"), "1:9: error: '*' of a str and a int is not a literal");
    free(s);
    CHECK_STR_EQ(s = first_diag("a = 2**10000\n"), "1:6: error: integer out of range");
    free(s);
    CHECK_STR_EQ(s = first_diag("a = 3 ** 40\n"), "1:7: error: integer out of range");
    free(s);
    CHECK_STR_EQ(s = first_diag("a = 1 // 0\n"), "1:7: error: division by zero");
    free(s);
    CHECK_STR_EQ(s = first_diag("a = [1, 2\n"), "2:1: error: expected ',' or ']'");
    free(s);
    CHECK_STR_EQ(s = first_diag("a['k'] = 1\n"), "1:1: error: 'a' is not assigned before");
    free(s);
    /* deep nesting is refused, not a stack overflow */
    struct strbuf deep = {0};
    sb_add(&deep, "a = ");
    for (int i = 0; i < 100000; i++)
        sb_addc(&deep, '[');
    CHECK_CONTAINS(s = first_diag(sb_str(&deep)), "nested too deeply");
    free(s);
    sb_release(&deep);
    /* an error in one statement leaves the next one read */
    m = (struct py_module){0};
    d = (struct diags){0};
    t = "a = [1,,]\nb = 2\n";
    CHECK_INT_EQ(py_module_read(&m, "t.py", t, strlen(t), &d), -1);
    CHECK_INT_EQ(py_module_get(&m, "b")->i, 2);
    diags_release(&d);
    py_module_release(&m);
}

/* ---------------------------------------------------------------- conversion cases */

struct hostmap {
    char *v[32][2];
    size_t n;
};

static char *test_resolve(const char *name, void *ctx)
{
    struct hostmap *h = ctx;
    for (size_t i = 0; i < h->n; i++)
        if (!strcmp(h->v[i][0], name))
            return xstrdup(h->v[i][1]);
    return NULL; /* nothing is looked up on this machine */
}

static void check_spec_loads(const char *name, const char *yaml)
{
    struct diags d = {0};
    struct spec *s = spec_load_buffer(name, yaml, strlen(yaml), &d);
    if (!s)
        diags_print(&d, stdout);
    CHECK(s != NULL);
    /* REDIS_MONITOR_EXTRA converted is alerts: the loader reads */
    if (s && strstr(yaml, "\nalerts:"))
        CHECK(s->nalerts > 0);
    spec_free(s);
    diags_release(&d);
}

static void run_case(const char *name)
{
    char *dir = xasprintf("%s/%s", fixtures_dir(), name);
    char *path = xasprintf("%s/conf.py", dir), *apath = xasprintf("%s/args", dir);
    char *text = test_slurp(path), *args = test_slurp(apath);
    CHECK(text != NULL);
    struct hostmap hm = {0};
    char *cluster = NULL;
    for (char *line = args; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (!strncmp(line, "cluster ", 8))
            cluster = xstrdup(line + 8);
        char *eq = strchr(line, '=');
        if (!strncmp(line, "host ", 5) && eq && hm.n < 32) {
            hm.v[hm.n][0] = xstrndup(line + 5, (size_t)(eq - line - 5));
            hm.v[hm.n++][1] = xstrdup(eq + 1);
        }
        line = nl ? nl + 1 : NULL;
    }
    struct diags d = {0};
    struct strbuf out = {0};
    struct convert_opts o = {.cluster = cluster, .resolve = test_resolve, .resolve_ctx = &hm};
    int rc = text ? convert_redismgr("conf.py", text, strlen(text), &o, &out, &d) : -1;
    /* the diagnostics as the command prints them */
    diags_sort(&d);
    char *errtext = NULL;
    size_t errlen = 0;
    FILE *f = open_memstream(&errtext, &errlen);
    diags_print(&d, f);
    fclose(f);
    char *gold = xasprintf("%s/expected.err", dir);
    check_golden(gold, errtext);
    free(gold);
    bool invalid = !strncmp(name, "invalid-", 8);
    CHECK_INT_EQ(rc, invalid ? -1 : 0);
    if (!invalid) {
        gold = xasprintf("%s/expected.yaml", dir);
        check_golden(gold, sb_str(&out));
        free(gold);
        check_spec_loads(name, sb_str(&out));
    }
    free(errtext);
    for (size_t i = 0; i < hm.n; i++) {
        free(hm.v[i][0]);
        free(hm.v[i][1]);
    }
    free(cluster);
    sb_release(&out);
    diags_release(&d);
    free(text);
    free(args);
    free(apath);
    free(path);
    free(dir);
}

TEST(every_case)
{
    DIR *dd = opendir(fixtures_dir());
    CHECK(dd != NULL);
    size_t n = 0;
    for (struct dirent *e; dd && (e = readdir(dd));) {
        if (e->d_name[0] == '.')
            continue;
        printf("  case %s\n", e->d_name);
        run_case(e->d_name);
        n++;
    }
    if (dd)
        closedir(dd);
    CHECK(n >= 9);
}

static char *convert_case(const char *name, const char *cluster, struct diags *d, int *rc)
{
    char *path = xasprintf("%s/%s/conf.py", fixtures_dir(), name);
    char *text = test_slurp(path);
    struct strbuf out = {0};
    struct hostmap hm = {0};
    struct convert_opts o = {.cluster = cluster, .resolve = test_resolve, .resolve_ctx = &hm};
    *rc = text ? convert_redismgr(name, text, strlen(text), &o, &out, d) : -1;
    free(text);
    free(path);
    return sb_detach(&out);
}

/* The walk-through's config keeps the shard names nutcracker hashes by. */
TEST(walkthrough_keeps_shard_names)
{
    char *path = xasprintf("%s/walkthrough/expected.yaml", fixtures_dir());
    char *yaml = test_slurp(path);
    CHECK(yaml != NULL);
    struct diags d = {0};
    struct spec *s = yaml ? spec_load_buffer("walkthrough", yaml, strlen(yaml), &d) : NULL;
    CHECK(s != NULL);
    if (s) {
        CHECK_INT_EQ(s->nshards, 2);
        CHECK_STR_EQ(s->shards[0].name, "cluster-redis1");
        CHECK_STR_EQ(s->shards[1].name, "cluster-redis2");
        CHECK_STR_EQ(s->shards[0].master.ip, "10.77.0.11");
        CHECK_STR_EQ(s->shards[0].replicas[0].ip, "10.77.0.13");
        CHECK_STR_EQ(s->shards[1].master.ip, "10.77.0.12");
        CHECK_STR_EQ(s->shards[1].replicas[0].ip, "10.77.0.14");
        CHECK_INT_EQ(s->sentinel.nnodes, 4);
        CHECK_INT_EQ(s->sentinel.quorum, 2);
        CHECK_INT_EQ(s->nproxies, 1);
        CHECK_STR_EQ(s->proxies[0].host, "mgr");
        CHECK_STR_EQ(s->proxies[0].hash, "fnv1a_64");
        CHECK_STR_EQ(s->proxies[0].distribution, "modula");
    }
    /* both of the seed's bounds, one to one, loaded as alert rules */
    CHECK(s && s->nalerts == 4);
    bool cpu = false, slowlog = false;
    for (size_t i = 0; s && i < s->nalerts; i++) {
        const struct spec_alert *a = &s->alerts[i];
        cpu = cpu || (!strcmp(a->field, "used_cpu_user") && a->kind == ALERT_INFO &&
                      a->has_min && a->min == 0 && a->has_max && a->max == 1 &&
                      a->on == ALERT_ON_ALL);
        slowlog = slowlog || (!strcmp(a->field, "slowlog_per_sec") &&
                              a->kind == ALERT_SLOWLOG_PER_SEC && a->min == 0 && a->max == 10);
    }
    CHECK(cpu);
    CHECK(slowlog);
    CHECK_CONTAINS(yaml, "  - name: used_cpu_user\n    field: used_cpu_user\n    min: 0\n"
                         "    max: 1\n    on: all\n");
    CHECK_CONTAINS(yaml, "  - name: slowlog_per_sec\n    field: slowlog_per_sec\n    min: 0\n"
                         "    max: 10\n    on: all\n");
    spec_free(s);
    diags_release(&d);
    free(yaml);
    free(path);
}

TEST(several_clusters_need_a_choice)
{
    struct diags d = {0};
    int rc;
    char *out = convert_case("redis-mgr-named", NULL, &d, &rc);
    CHECK_INT_EQ(rc, -1);
    bool said = false;
    for (size_t i = 0; i < d.n; i++)
        said |= strstr(d.v[i].message, "2 clusters (cluster0, cluster1): choose one with "
                                       "--cluster NAME") != NULL;
    CHECK(said);
    free(out);
    diags_release(&d);
    /* by cluster_name as well as by variable */
    d = (struct diags){0};
    out = convert_case("redis-mgr-named", "cluster_offline1", &d, &rc);
    CHECK_INT_EQ(rc, 0);
    CHECK_CONTAINS(out, "cluster: cluster-offline1\n");
    CHECK_CONTAINS(out, "  - name: cluster1-2000\n");
    CHECK_CONTAINS(out, "quorum: 1\n");
    check_spec_loads("cluster1", out);
    free(out);
    diags_release(&d);
}

TEST(nothing_is_executed)
{
    struct stat st;
    CHECK(stat("/tmp/rmgr-convert-must-not-exist", &st) != 0);
}

int main(void)
{
    RUN(literals);
    RUN(assignments_to_items);
    RUN(what_is_not_a_literal);
    RUN(every_case);
    RUN(walkthrough_keeps_shard_names);
    RUN(several_clusters_need_a_choice);
    RUN(nothing_is_executed);
    return test_done();
}
