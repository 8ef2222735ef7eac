/*
 * fuzz_sentinel.c - Sentinel replies (SENTINEL MASTERS / REPLICAS /
 * SENTINELS, CONFIG GET) as any RESP stream hiredis' reader turns into
 * reply trees, so the parsers see every shape a server could send.
 */
#include <hiredis/hiredis.h>

#include "fuzz.h"
#include "observed.h"
#include "rclient.h"
#include "redis_parse.h"

static void parse_all(const redisReply *reply)
{
    struct obs_sentinel_master *m = NULL;
    size_t n = 0;
    char *err = NULL;
    if (redis_parse_sentinel_masters(reply, &m, &n, &err) == 0)
        obs_sentinel_masters_free(m, n);
    else
        FUZZ_ASSERT(err != NULL);
    free(err);
    err = NULL;
    for (int runid = 0; runid < 2; runid++) {
        struct obs_sentinel_peer *p = NULL;
        n = 0;
        if (redis_parse_sentinel_peers(reply, runid, &p, &n, &err) == 0)
            obs_sentinel_peers_free(p, n);
        else
            FUZZ_ASSERT(err != NULL);
        free(err);
        err = NULL;
    }
    char *value = NULL;
    int rc = redis_parse_config_get(reply, &value, &err);
    FUZZ_ASSERT(rc != -1 || err != NULL);
    free(value);
    free(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    redisReader *rd = redisReaderCreate();
    if (!rd)
        return 0;
    rclient_bound_reader(rd); /* as every reader of rmgr's: "*444444442" took 3.5 GB */
    redisReaderFeed(rd, (const char *)data, size);
    void *reply = NULL;
    int replies = 0;
    while (replies < 16 && redisReaderGetReply(rd, &reply) == REDIS_OK && reply) {
        parse_all(reply);
        freeReplyObject(reply);
        reply = NULL;
        replies++;
    }
    redisReaderFree(rd);
    return 0;
}
