/* fuzz_proxy_stats.c - nutcracker's stats JSON. */
#include "fuzz.h"
#include "redis_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    long long up = -1, ts = -1;
    char *err = NULL;
    if (redis_parse_proxy_stats(text, &up, &ts, &err) != 0)
        FUZZ_ASSERT(err != NULL);
    free(err);
    free(text);
    return 0;
}
