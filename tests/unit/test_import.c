/* test_import.c - import's proxy config reading and spec rendering (pure). */
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "import.h"
#include "spec.h"
#include "test.h"

static const char nc[] = "adopt:\n"
                         "  listen: 127.0.0.1:22121\n"
                         "  hash: murmur\n"
                         "  distribution: \"ketama\"\n"
                         "  hash_tag: \"{}\"\n"
                         "  timeout: 400\n"
                         "  server_retry_timeout: 2000\n"
                         "  server_failure_limit: 1\n"
                         "  auto_eject_hosts: false\n"
                         "  redis: true\n"
                         "  redis_auth: secret-pw\n"
                         "  servers:\n"
                         "   - 127.0.0.1:7001:1 sa\n"
                         "other:\n"
                         "  listen: 127.0.0.1:9999\n";

TEST(proxy_config)
{
    struct import_proxy p;
    char *err = NULL;
    CHECK(import_parse_proxy("/etc/nc.yml", nc, &p, &err) == 0);
    CHECK_STR_EQ(p.listen.ip, "127.0.0.1");
    CHECK(p.listen.port == 22121);
    CHECK_STR_EQ(p.hash, "murmur");
    CHECK_STR_EQ(p.distribution, "ketama");
    CHECK_STR_EQ(p.hash_tag, "{}");
    CHECK(p.timeout_ms == 400 && p.server_retry_timeout_ms == 2000);
    CHECK(p.server_failure_limit == 1 && p.auto_eject_hosts == 0 && p.preconnect == -1);
    struct import_proxy q;
    CHECK(import_parse_proxy("x.yml", "pool:\n  hash: murmur\n", &q, &err) < 0);
    CHECK_CONTAINS(err, "x.yml: no 'listen");
    free(err);
    struct import_model m = {.cluster = xstrdup("adopt"), .password_env = xstrdup("RMGR_REDIS_PW"),
                             .quorum = 2, .down_after_ms = 3000, .failover_timeout_ms = 20000,
                             .parallel_syncs = 1, .all_local = true};
    m.shards = xcalloc(1, sizeof(*m.shards));
    m.nshards = 1;
    m.shards[0] = (struct import_shard){xstrdup("sa"), {xstrdup("127.0.0.1"), 7001}, NULL, 1};
    m.shards[0].replicas = xcalloc(1, sizeof(struct import_addr));
    m.shards[0].replicas[0] = (struct import_addr){xstrdup("127.0.0.1"), 7002};
    m.sentinels = xcalloc(2, sizeof(*m.sentinels));
    m.nsentinels = 2;
    m.sentinels[0] = (struct import_addr){xstrdup("127.0.0.1"), 26379};
    m.sentinels[1] = (struct import_addr){xstrdup("127.0.0.1"), 26380};
    m.proxies = xcalloc(2, sizeof(*m.proxies));
    m.proxies[0] = p;
    m.proxies[1] = q;
    m.nproxies = 1;
    char *yaml = import_render(&m);
    CHECK(!strstr(yaml, "secret-pw"));
    CHECK_CONTAINS(yaml, "  - name: sa\n    master: 127.0.0.1:7001");
    CHECK_CONTAINS(yaml, "    replicas: [127.0.0.1:7002]\n");
    CHECK_CONTAINS(yaml, "nodes: [127.0.0.1:26379, 127.0.0.1:26380]");
    CHECK_CONTAINS(yaml, "password_env: RMGR_REDIS_PW");
    /* what import writes is a spec rmgr loads */
    struct diags d = {0};
    struct spec *s = spec_load_buffer("imported.yaml", yaml, strlen(yaml), &d);
    CHECK(s != NULL);
    if (s) {
        CHECK(s->nshards == 1 && s->shards[0].nreplicas == 1 && s->nproxies == 1);
        CHECK(s->sentinel.quorum == 2 && s->sentinel.down_after_ms == 3000);
        CHECK(s->proxies[0].timeout_ms == 400 && !s->proxies[0].auto_eject_hosts);
        CHECK_STR_EQ(s->proxies[0].hash_tag, "{}");
    }
    spec_free(s);
    diags_release(&d);
    free(yaml);
    m.nproxies = 2; /* q is released with the model too */
    import_model_release(&m);
}

int main(void)
{
    RUN(proxy_config);
    return test_done();
}
