/* fuzz_nutcracker_yml.c - nutcracker.yml text: the line reader, the server list, the masking
 * of redis_auth (which must leave no trace of the password). */
#include "fuzz.h"
#include "nutcracker_yml.h"
#include "redis_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    struct nc_yml y = {0};
    nc_yml_parse(&y, text);
    for (size_t i = 0; i < y.nservers; i++) {
        FUZZ_ASSERT(y.servers[i].port >= 1 && y.servers[i].port <= 65535);
        FUZZ_ASSERT(nc_yml_find(&y, nc_yml_server_key(&y.servers[i])) != NULL);
    }
    nc_yml_release(&y);

    struct nc_server *s = NULL;
    size_t n = redis_parse_nutcracker_servers(text, &s);
    nc_servers_free(s, n);

    /* the password "Zq" must not survive masking, whatever the YAML */
    char *masked = redis_mask_nutcracker_auth(text, "Zq");
    FUZZ_ASSERT(masked && !strstr(masked, "Zq"));
    free(masked);
    free(text);
    return 0;
}
