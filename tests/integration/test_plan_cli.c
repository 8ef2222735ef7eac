/*
 * test_plan_cli.c - `rmgr plan`, `observe` and `status` as a user runs them,
 * against real clusters: text, --json, --markdown, --detailed-exitcode,
 * --out; a converged cluster gives "No changes" and exit 0; a refused plan
 * exits 1 with no steps; usage errors exit 2. A cluster with a password:
 * every command and render mode runs and the password never appears in
 * stdout, stderr or a saved plan.
 */
#include <git2.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "cluster_fixture.h"
#include "conf.h"
#include "observed.h"
#include "spec.h"
#include "test.h"

#define PW "rmgr-TEST-pw-93f1c0"
#define PW_ENV "RMGR_REDIS_TEST_CLI_PW"

static struct harness *H;
static struct fx_cluster A; /* no auth */
static struct fx_cluster B; /* requirepass PW */
static char *spec_a, *spec_b;
static const char *rmgr_bin;

struct run {
    int status;
    char *out, *err;
};

static void run_release(struct run *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof(*r));
}

/* Run rmgr with up to 8 arguments (NULL-terminated). */
static struct run rmgr(const char *a1, ...)
{
    const char *argv[16] = {rmgr_bin};
    int n = 1;
    va_list ap;
    va_start(ap, a1);
    for (const char *a = a1; a && n < 15; a = va_arg(ap, const char *))
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    struct run r = {0};
    if (harness_run(argv, &r.out, &r.err, &r.status) < 0)
        r.status = -1;
    if (!r.out)
        r.out = xstrdup("");
    if (!r.err)
        r.err = xstrdup("");
    return r;
}

static void show(const struct run *r)
{
    printf("    exit %d\n--- stdout\n%s--- stderr\n%s---\n", r->status, r->out, r->err);
}

/* ------------------------------------------------------- converging by hand */

static struct spec *load(const char *path)
{
    struct diags d = {0};
    struct spec *s = spec_load_file(path, &d);
    if (!s)
        diags_print(&d, stdout);
    diags_release(&d);
    return s;
}

static bool put_file(const struct spec *s, const char *kind, int port, const char *text,
                     bool old)
{
    char *dir = spec_instance_dir(s, kind, port);
    char *cmd = xasprintf("mkdir -p '%s'", dir);
    char *path = conf_path(s, kind, port);
    bool ok = system(cmd) == 0 && write_file_atomic(path, text, strlen(text), 0600) == 0;
    if (ok && old) {
        /* older than the running process: nothing waits for a restart */
        struct timeval tv[2];
        gettimeofday(&tv[0], NULL);
        tv[0].tv_sec -= 3600;
        tv[1] = tv[0];
        ok = utimes(path, tv) == 0;
    }
    free(path);
    free(cmd);
    free(dir);
    return ok;
}

/*
 * Make the cluster match its spec the way `rmgr apply` would leave it:
 * runtime config set, every instance's files installed.
 */
static bool converge(struct fx_cluster *c, const char *spec_path)
{
    struct spec *s = load(spec_path);
    if (!s)
        return false;
    bool ok = true;
    for (int i = 0; i < FX_SHARDS; i++) {
        struct hproc *rs[2] = {c->master[i], c->replica[i]};
        for (int k = 0; k < 2; k++) {
            char *r = harness_redis_cmd(HARNESS_IP, hproc_port(rs[k]), c->password,
                                        "CONFIG SET maxmemory %s", "64mb");
            ok = ok && r && !strcmp(r, "OK");
            free(r);
            char *text = conf_render_redis(s, HARNESS_IP, hproc_port(rs[k]), c->password);
            ok = ok && put_file(s, "redis", hproc_port(rs[k]), text, false);
            free(text);
        }
    }
    for (int i = 0; i < FX_SENTINELS; i++) {
        struct strbuf sb = {0};
        char *text = conf_render_sentinel(s, HARNESS_IP, hproc_port(c->sentinel[i]), c->password);
        sb_add(&sb, text);
        free(text);
        /* what Sentinel writes after apply's SENTINEL SET <shard> auth-pass */
        for (int k = 0; c->password && k < FX_SHARDS; k++)
            sb_addf(&sb, "sentinel auth-pass shard%d %s\n", k + 1, c->password);
        ok = ok && put_file(s, "sentinel", hproc_port(c->sentinel[i]), sb_str(&sb), false);
        sb_release(&sb);
    }
    char *text = conf_render_nutcracker(s, &s->proxies[0], NULL, c->password);
    ok = ok && put_file(s, "proxy", hproc_port(c->proxy), text, true);
    free(text);
    spec_free(s);
    return ok;
}

/* ------------------------------------------------------------------ tests */

TEST(plan_text_json_markdown)
{
    struct run r = rmgr("plan", "-f", spec_a, NULL);
    CHECK_INT_EQ(r.status, 0);
    CHECK_CONTAINS(r.out, "No changes. The cluster matches the spec.");
    CHECK_CONTAINS(r.out, "Fingerprint: ");
    CHECK(!strstr(r.out, "\033["));
    if (r.status)
        show(&r);
    run_release(&r);

    r = rmgr("plan", "-f", spec_a, "--json", NULL);
    CHECK_INT_EQ(r.status, 0);
    json_error_t je;
    json_t *j = json_loads(r.out, 0, &je);
    CHECK(j != NULL);
    CHECK_INT_EQ(json_integer_value(json_object_get(j, "format_version")), 1);
    CHECK(json_is_false(json_object_get(j, "refused")));
    const char *fp = json_string_value(json_object_get(j, "fingerprint"));
    CHECK(fp && strlen(fp) == 40);
    CHECK_INT_EQ(json_array_size(json_object_get(j, "steps")), 0);
    json_decref(j);
    run_release(&r);

    r = rmgr("plan", "--markdown", "--file", spec_a, NULL);
    CHECK_INT_EQ(r.status, 0);
    CHECK(str_starts_with(r.out, "### rmgr plan for `cli`"));
    run_release(&r);

    r = rmgr("plan", "-f", spec_a, "--detailed-exitcode", "--connect-timeout", "500",
             "--timeout=1500", NULL);
    CHECK_INT_EQ(r.status, 0);
    run_release(&r);
}

TEST(detailed_exitcode_reports_changes)
{
    /* the spec asks for more memory than the servers run with */
    char *yaml = test_slurp(spec_a);
    char *changed = NULL;
    if (yaml) {
        char *p = strstr(yaml, "maxmemory: 64mb");
        CHECK(p != NULL);
        if (p) {
            memcpy(p, "maxmemory: 96mb", 15);
            changed = fx_write(&A, "cli-changed.yaml", yaml);
        }
    }
    free(yaml);
    if (!changed)
        return;
    struct run r = rmgr("plan", "-f", changed, "--detailed-exitcode", NULL);
    CHECK_INT_EQ(r.status, 2);
    CHECK_CONTAINS(r.out, "maxmemory 67108864 -> 96mb"); /* as CONFIG GET says it */
    CHECK_CONTAINS(r.out, "Plan: 0 to add, 4 to change, 0 to remove.");
    run_release(&r);
    r = rmgr("plan", "-f", changed, NULL); /* without it: 0 */
    CHECK_INT_EQ(r.status, 0);
    run_release(&r);
    free(changed);
}

/* 1-based number of the line of `text` that holds `what`, or 0 */
static int line_of(const char *text, const char *what)
{
    const char *p = strstr(text, what);
    int n = 1;
    for (const char *c = text; p && c < p; c++)
        n += *c == '\n';
    return p ? n : 0;
}

TEST(explain_and_saved_plan_name_their_source)
{
    char *yaml = test_slurp(spec_a);
    char *p = yaml ? strstr(yaml, "maxmemory: 64mb") : NULL;
    CHECK(p != NULL);
    if (!p) {
        free(yaml);
        return;
    }
    memcpy(p, "maxmemory: 96mb", 15);
    char *changed = fx_write(&A, "cli-explain.yaml", yaml);
    int line = line_of(yaml, "maxmemory: 96mb");
    free(yaml);
    char *cited = xasprintf("from %s:%d: redis.config.maxmemory\n", changed, line);
    char *seen = xasprintf("from observed: redis %s:%d CONFIG GET maxmemory: 67108864\n",
                           HARNESS_IP, hproc_port(A.master[0]));

    struct run r = rmgr("plan", "-f", changed, "--explain", NULL);
    CHECK_INT_EQ(r.status, 0);
    CHECK_CONTAINS(r.out, cited);
    CHECK_CONTAINS(r.out, seen);
    CHECK_CONTAINS(r.out, ": shards[0].master\n");
    CHECK_CONTAINS(r.out, ": shards[1].replicas[0]\n");
    run_release(&r);
    r = rmgr("plan", "-f", changed, NULL); /* without --explain: none */
    CHECK(!strstr(r.out, "\n      from "));
    run_release(&r);
    r = rmgr("plan", "-f", changed, "--markdown", NULL); /* Markdown: always */
    CHECK_CONTAINS(r.out, cited);
    run_release(&r);

    /* the saved plan: every step has a source, the directive's line among it */
    char *out = xasprintf("%s/explain-saved.json", harness_dir(H));
    r = rmgr("plan", "-f", changed, "--out", out, NULL);
    CHECK_INT_EQ(r.status, 0);
    run_release(&r);
    json_error_t je;
    json_t *doc = json_load_file(out, 0, &je);
    json_t *steps = json_object_get(json_object_get(doc, "plan"), "steps");
    CHECK_INT_EQ(json_array_size(steps), 4);
    for (size_t i = 0; i < json_array_size(steps); i++) {
        json_t *refs = json_object_get(json_object_get(json_array_get(steps, i), "source"), "spec");
        CHECK(json_array_size(refs) >= 2);
        bool found = false;
        for (size_t k = 0; k < json_array_size(refs); k++) {
            json_t *ref = json_array_get(refs, k);
            found = found || (str_eq(json_string_value(json_object_get(ref, "path")),
                                     "redis.config.maxmemory") &&
                              json_integer_value(json_object_get(ref, "line")) == line &&
                              str_eq(json_string_value(json_object_get(ref, "file")), changed));
        }
        CHECK(found);
    }
    json_decref(doc);
    free(out);
    free(cited);
    free(seen);
    free(changed);
}

TEST(saved_plan)
{
    char *out = xasprintf("%s/saved.json", harness_dir(H));
    struct run r = rmgr("plan", "-f", spec_a, "--out", out, "--json", NULL);
    CHECK_INT_EQ(r.status, 0);
    CHECK_CONTAINS(r.err, "Saved the plan to");
    struct stat st;
    CHECK(stat(out, &st) == 0 && (st.st_mode & 0777) == 0600);
    json_error_t je;
    json_t *doc = json_load_file(out, 0, &je);
    CHECK(doc != NULL);
    CHECK_STR_EQ(json_string_value(json_object_get(doc, "kind")), "rmgr-saved-plan");
    CHECK_INT_EQ(json_integer_value(json_object_get(doc, "format_version")), 1);
    CHECK_STR_EQ(json_string_value(json_object_get(doc, "spec_file")), spec_a);
    CHECK(json_is_null(json_object_get(doc, "commit")));
    CHECK(json_is_object(json_object_get(doc, "plan")));

    /* spec_sha is the git blob id of the spec's bytes */
    char *bytes = test_slurp(spec_a);
    git_oid oid;
    char hex[GIT_OID_HEXSZ + 1];
    git_libgit2_init();
    CHECK(git_odb_hash(&oid, bytes, strlen(bytes), GIT_OBJECT_BLOB) == 0);
    git_libgit2_shutdown();
    git_oid_tostr(hex, sizeof(hex), &oid);
    CHECK_STR_EQ(json_string_value(json_object_get(doc, "spec_sha")), hex);
    free(bytes);

    /* the fingerprint saved is the one printed */
    json_t *printed = json_loads(r.out, 0, &je);
    CHECK_STR_EQ(json_string_value(json_object_get(doc, "fingerprint")),
                 json_string_value(json_object_get(printed, "fingerprint")));
    json_decref(printed);
    json_decref(doc);
    run_release(&r);
    free(out);
}

TEST(refused_plan_exits_1_without_steps)
{
    /* shard3: two masters holding data, no Sentinel: which one is right? */
    struct hproc *x = harness_start_redis(H, 0, NULL), *y = harness_start_redis(H, 0, NULL);
    CHECK(x && y);
    if (!x || !y)
        return;
    free(harness_redis_cmd(HARNESS_IP, hproc_port(x), NULL, "SET %s %s", "k", "x"));
    free(harness_redis_cmd(HARNESS_IP, hproc_port(y), NULL, "SET %s %s", "k", "y"));
    char *extra = xasprintf("  - name: shard3\n    master: 127.0.0.1:%d\n"
                            "    replicas: [127.0.0.1:%d]\n", hproc_port(x), hproc_port(y));
    char *yaml = fx_spec_yaml(&A, "cli", NULL, extra);
    char *path = fx_write(&A, "cli-refused.yaml", yaml);
    free(yaml);
    free(extra);

    struct run r = rmgr("plan", "-f", path, "--detailed-exitcode", NULL);
    CHECK_INT_EQ(r.status, 1);
    CHECK_CONTAINS(r.err, "refusing to plan shard shard3");
    CHECK_STR_EQ(r.out, "");
    run_release(&r);

    char *saved = xasprintf("%s/refused.json", harness_dir(H));
    r = rmgr("plan", "-f", path, "--json", "--out", saved, NULL);
    CHECK_INT_EQ(r.status, 1);
    json_t *j = json_loads(r.out, 0, NULL);
    CHECK(json_is_true(json_object_get(j, "refused")));
    CHECK_INT_EQ(json_array_size(json_object_get(j, "steps")), 0);
    json_decref(j);
    CHECK_CONTAINS(r.err, "not saving");
    struct stat st;
    CHECK(stat(saved, &st) < 0);
    free(saved);
    run_release(&r);

    r = rmgr("status", "-f", path, NULL);
    CHECK_INT_EQ(r.status, 1);
    CHECK_CONTAINS(r.out, "shard3: the planner refuses it");
    run_release(&r);
    free(path);
    harness_stop(H, x);
    harness_stop(H, y);
}

TEST(usage_errors)
{
    struct run r = rmgr("plan", "--bogus", "-f", spec_a, NULL);
    CHECK_INT_EQ(r.status, 2);
    CHECK_CONTAINS(r.err, "rmgr: unknown option '--bogus'\nusage: rmgr plan -f SPEC");
    CHECK_STR_EQ(r.out, "");
    run_release(&r);

    r = rmgr("plan", NULL);
    CHECK_INT_EQ(r.status, 2);
    CHECK_CONTAINS(r.err, "-f SPEC");
    run_release(&r);

    r = rmgr("plan", "-f", NULL);
    CHECK_INT_EQ(r.status, 2);
    CHECK_CONTAINS(r.err, "option '-f' needs a value");
    run_release(&r);

    r = rmgr("plan", "-f", spec_a, "--timeout", "soon", NULL);
    CHECK_INT_EQ(r.status, 2);
    CHECK_CONTAINS(r.err, "'--timeout' needs milliseconds");
    run_release(&r);

    r = rmgr("plan", "-f", spec_a, "--json", "--markdown", NULL);
    CHECK_INT_EQ(r.status, 2);
    run_release(&r);

    r = rmgr("status", "-f", spec_a, "extra", NULL);
    CHECK_INT_EQ(r.status, 2);
    CHECK_CONTAINS(r.err, "unexpected argument 'extra'");
    run_release(&r);

    r = rmgr("observe", "--file", spec_a, "--markdown", NULL);
    CHECK_INT_EQ(r.status, 2);
    run_release(&r);

    r = rmgr("plan", "--help", NULL);
    CHECK_INT_EQ(r.status, 0);
    CHECK_CONTAINS(r.out, "--detailed-exitcode");
    CHECK_CONTAINS(r.out, "--connect-timeout MS");
    run_release(&r);

    r = rmgr("plan", "-f", "/nonexistent/spec.yaml", NULL);
    CHECK_INT_EQ(r.status, 1);
    CHECK_CONTAINS(r.err, "/nonexistent/spec.yaml");
    CHECK_STR_EQ(r.out, "");
    run_release(&r);
}

TEST(observe_json_is_a_fixture)
{
    struct run r = rmgr("observe", "-f", spec_a, "--json", NULL);
    CHECK_INT_EQ(r.status, 0);
    char *err = NULL;
    struct observed *o = observed_from_json(r.out, &err);
    CHECK(o != NULL);
    if (!o)
        printf("    %s\n", err ? err : "?");
    free(err);
    if (o) {
        CHECK_INT_EQ(o->nredis, 4);
        CHECK_INT_EQ(o->nsentinels, 3);
        CHECK_INT_EQ(o->nproxies, 1);
        CHECK_INT_EQ(o->redis[0].reach, REACH_OK);
        CHECK_STR_EQ(o->redis[1].role, "slave");
    }
    observed_free(o);
    run_release(&r);

    r = rmgr("observe", "-f", spec_a, NULL);
    CHECK_INT_EQ(r.status, 0);
    CHECK_CONTAINS(r.out, "Observed 4 redis, 3 sentinels, 1 proxy in ");
    run_release(&r);
}

TEST(status_healthy_then_not)
{
    struct run r = rmgr("status", "-f", spec_a, NULL);
    CHECK_INT_EQ(r.status, 0);
    CHECK_CONTAINS(r.out, "2 shards, 3 sentinels, 1 proxy: all healthy\n");
    CHECK_CONTAINS(r.out, "chosen by Sentinel (3 of 3 agree)");
    CHECK_CONTAINS(r.out, "link up, lag ");
    if (r.status)
        show(&r);
    run_release(&r);

    r = rmgr("status", "-f", spec_a, "--json", NULL);
    CHECK_INT_EQ(r.status, 0);
    json_t *j = json_loads(r.out, 0, NULL);
    CHECK(json_is_true(json_object_get(j, "healthy")));
    CHECK_INT_EQ(json_array_size(json_object_get(j, "problems")), 0);
    json_decref(j);
    run_release(&r);

    /* a replica goes away */
    CHECK(harness_stop(H, A.replica[1]) == 0);
    r = rmgr("status", "-f", spec_a, NULL);
    CHECK_INT_EQ(r.status, 1);
    CHECK_CONTAINS(r.out, "shard2: replica 127.0.0.1:");
    CHECK_CONTAINS(r.out, "is not running (Connection refused)");
    CHECK_CONTAINS(r.out, "2 shards, 3 sentinels, 1 proxy: 1 problem\n");
    run_release(&r);
    r = rmgr("plan", "-f", spec_a, "--detailed-exitcode", NULL);
    CHECK_INT_EQ(r.status, 2);
    CHECK_CONTAINS(r.out, "+ start 127.0.0.1:");
    run_release(&r);
    CHECK(harness_restart(H, A.replica[1]) == 0);
}

/* Whether `pw` appears anywhere in a run's output. */
static bool leaks(const struct run *r, const char *pw)
{
    return strstr(r->out, pw) || strstr(r->err, pw);
}

TEST(password_never_shown)
{
    const char *saved = "b-saved.json";
    char *saved_path = xasprintf("%s/%s", harness_dir(H), saved);
    const char *modes[][6] = {
        {"plan", "-f", spec_b, NULL},
        {"plan", "-f", spec_b, "--json", NULL},
        {"plan", "-f", spec_b, "--markdown", NULL},
        {"plan", "-f", spec_b, "--explain", NULL},
        {"plan", "-f", spec_b, "--detailed-exitcode", NULL},
        {"plan", "-f", spec_b, "--out", saved_path, NULL},
        {"observe", "-f", spec_b, NULL},
        {"observe", "-f", spec_b, "--json", NULL},
        {"status", "-f", spec_b, NULL},
        {"status", "-f", spec_b, "--json", NULL},
        {"validate", spec_b, NULL},
    };
    for (size_t i = 0; i < ARRAY_SIZE(modes); i++) {
        struct run r = rmgr(modes[i][0], modes[i][1], modes[i][2], modes[i][3], modes[i][4],
                            NULL);
        CHECK(!leaks(&r, PW));
        if (leaks(&r, PW) || (r.status != 0 && strcmp(modes[i][0], "status")))
            show(&r);
        if (!strcmp(modes[i][0], "plan") || !strcmp(modes[i][0], "status"))
            CHECK_INT_EQ(r.status, 0); /* converged and healthy: the password works */
        run_release(&r);
    }
    char *file = test_slurp(saved_path);
    CHECK(file != NULL);
    CHECK(file && !strstr(file, PW));
    free(file);

    /* the observed model says where secrets were, never what they are */
    struct run r = rmgr("observe", "-f", spec_b, "--json", NULL);
    CHECK_CONTAINS(r.out, "\"requirepass\": \"" CONF_SECRET_PLACEHOLDER "\"");
    CHECK_CONTAINS(r.out, "redis_auth: \\\"" CONF_SECRET_PLACEHOLDER "\\\"");
    run_release(&r);

    /* a wrong password: "authentication failed", and neither password shown */
    setenv(PW_ENV, "wrong-pw-5e2d", 1);
    r = rmgr("observe", "-f", spec_b, "--json", NULL);
    CHECK_CONTAINS(r.out, "\"reach\": \"auth\"");
    CHECK_CONTAINS(r.out, "authentication failed");
    CHECK(!leaks(&r, PW) && !leaks(&r, "wrong-pw-5e2d"));
    run_release(&r);
    r = rmgr("status", "-f", spec_b, NULL);
    CHECK_INT_EQ(r.status, 1);
    CHECK_CONTAINS(r.out, "authentication failed");
    CHECK(!leaks(&r, PW) && !leaks(&r, "wrong-pw-5e2d"));
    run_release(&r);
    r = rmgr("plan", "-f", spec_b, "--json", NULL);
    CHECK(!leaks(&r, PW) && !leaks(&r, "wrong-pw-5e2d"));
    run_release(&r);
    r = rmgr("plan", "-f", spec_b, "--explain", NULL); /* the refusal with its sources */
    CHECK_INT_EQ(r.status, 1);
    CHECK_CONTAINS(r.err, "from observed: redis ");
    CHECK_CONTAINS(r.err, ": auth.password_env\n");
    CHECK(!leaks(&r, PW) && !leaks(&r, "wrong-pw-5e2d"));
    run_release(&r);

    /* no password at all: the spec cannot be used */
    unsetenv(PW_ENV);
    r = rmgr("plan", "-f", spec_b, NULL);
    CHECK_INT_EQ(r.status, 1);
    CHECK_CONTAINS(r.err, "cannot read the password: environment variable '" PW_ENV "'");
    run_release(&r);
    setenv(PW_ENV, PW, 1);
    free(saved_path);
}

int main(void)
{
    rmgr_bin = getenv("RMGR_BIN") ? getenv("RMGR_BIN") : "./rmgr";
    setenv(PW_ENV, PW, 1);
    unsetenv("NO_COLOR");
    H = harness_new("plan-cli");
    bool ok = fx_start(&A, H, NULL) && fx_start(&B, H, PW);
    char *ya = ok ? fx_spec_yaml(&A, "cli", NULL, NULL) : NULL;
    char *yb = ok ? fx_spec_yaml(&B, "cli-auth", PW_ENV, NULL) : NULL;
    /* both use <harness>/base; their cluster names keep their files apart */
    spec_a = ok ? fx_write(&A, "cli.yaml", ya) : NULL;
    spec_b = ok ? fx_write(&B, "cli-auth.yaml", yb) : NULL;
    free(ya);
    free(yb);
    ok = ok && spec_a && spec_b && fx_wait_converged(&A, 15000) &&
         fx_wait_converged(&B, 15000) && converge(&A, spec_a) && converge(&B, spec_b);
    if (!ok) {
        printf("clusters did not start or converge\n0 passed, 1 failed\n");
        harness_cleanup(H);
        return 1;
    }
    RUN(plan_text_json_markdown);
    RUN(detailed_exitcode_reports_changes);
    RUN(saved_plan);
    RUN(explain_and_saved_plan_name_their_source);
    RUN(refused_plan_exits_1_without_steps);
    RUN(usage_errors);
    RUN(observe_json_is_a_fixture);
    RUN(status_healthy_then_not);
    RUN(password_never_shown);
    free(spec_a);
    free(spec_b);
    fx_release(&A);
    fx_release(&B);
    harness_cleanup(H);
    return test_done();
}
