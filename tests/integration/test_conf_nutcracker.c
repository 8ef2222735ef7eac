/* test_conf_nutcracker.c - nutcracker 0.5.0 accepts every nutcracker.yml rmgr renders (`nutcracker -t`). */
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "diag.h"
#include "harness.h"
#include "spec.h"
#include "test.h"
#include "util.h"

static struct harness *h;

static struct spec *load_spec(const char *cluster, const char *proxy_extra)
{
    char *yaml = xasprintf("cluster: \"%s\"\n"
                           "defaults:\n  transport: local\n  base_dir: %s\n"
                           "shards:\n"
                           "  - name: shard1\n    master: 127.0.0.1:%d\n"
                           "  - name: shard-2_x\n    master: 127.0.0.1:%d\n"
                           "sentinel:\n  quorum: 1\n  nodes: [127.0.0.1:%d]\n"
                           "proxies:\n  - host: 127.0.0.1\n    listen: 127.0.0.1:%d\n"
                           "    stats_port: %d\n%s",
                           cluster, harness_dir(h), harness_free_port(), harness_free_port(),
                           harness_free_port(), harness_free_port(), harness_free_port(),
                           proxy_extra);
    struct diags d = {0};
    struct spec *s = spec_load_buffer("conftest.yaml", yaml, strlen(yaml), &d);
    diags_print(&d, stdout);
    diags_release(&d);
    free(yaml);
    return s;
}

/* Exit status of `nutcracker -t -c <text written to a file>`, or -1. */
static int nutcracker_test(const char *name, const char *text)
{
    char *path = xasprintf("%s/%s", harness_dir(h), name);
    int status = -1;
    if (write_file_atomic(path, text, strlen(text), 0600) == 0) {
        const char *argv[] = {"nutcracker", "-t", "-c", path, NULL};
        if (harness_run(argv, NULL, NULL, &status) != 0)
            status = -1;
    }
    free(path);
    return status;
}

static void check_accepted(const char *cluster, const char *proxy_extra, const char *password)
{
    struct spec *s = load_spec(cluster, proxy_extra);
    CHECK(s != NULL);
    if (!s)
        return;
    char *text = conf_render_nutcracker(s, &s->proxies[0], NULL, password);
    int status = nutcracker_test("nutcracker.yml", text);
    if (status != 0)
        printf("    nutcracker -t refused (status %d):\n%s", status, text);
    CHECK_INT_EQ(status, 0);
    free(text);
    spec_free(s);
}

TEST(defaults_are_accepted)
{
    check_accepted("conftest", "", NULL);
}

TEST(every_option_and_a_password_are_accepted)
{
    check_accepted("conftest", "    hash: murmur\n    distribution: modula\n    hash_tag: \"{}\"\n"
                   "    timeout_ms: 1000\n    server_retry_timeout_ms: 30000\n"
                   "    server_failure_limit: 3\n    auto_eject_hosts: true\n"
                   "    preconnect: false\n",
                   "p@ss \"w\\rd\" #1: {x}");
}

TEST(pool_names_yaml_would_retype_are_accepted)
{
    /* quoted by the renderer: plain, YAML would read a boolean or null */
    check_accepted("yes", "", NULL);
    check_accepted("null", "", NULL);
    check_accepted("0123", "", NULL);
}

TEST(check_itself_refuses_a_broken_file)
{
    /* proves -t really validates: an unknown hash is refused */
    CHECK(nutcracker_test("broken.yml", "x:\n  listen: 127.0.0.1:1\n  hash: nope\n"
                                        "  servers:\n   - 127.0.0.1:2:1 a\n") > 0);
}

int main(void)
{
    h = harness_new("conf-nutcracker");
    RUN(defaults_are_accepted);
    RUN(every_option_and_a_password_are_accepted);
    RUN(pool_names_yaml_would_retype_are_accepted);
    RUN(check_itself_refuses_a_broken_file);
    harness_cleanup(h);
    return test_done();
}
