/* fuzz_info.c - INFO text into the observed model. */
#include <limits.h>

#include "fuzz.h"
#include "observed.h"
#include "redis_parse.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    struct observed *o = xcalloc(1, sizeof(*o));
    o->redis = xcalloc(1, sizeof(*o->redis));
    o->nredis = 1;
    char *err = NULL;
    struct obs_redis *r = &o->redis[0];
    if (redis_parse_info(text, r, &err) == 0) {
        FUZZ_ASSERT(r->role && !err);
        FUZZ_ASSERT(r->keys >= 0 && r->master_port >= 0 && r->master_port <= 65535);
    } else {
        FUZZ_ASSERT(err && r->keys >= 0);
    }
    free(err);
    free(redis_info_field(text, "run_id"));
    free(redis_info_field(text, "role"));
    observed_free(o);
    free(text);
    return 0;
}
