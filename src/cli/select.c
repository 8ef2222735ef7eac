/*
 * select.c - picking instances from a spec for the operator's commands.
 */
#include "select.h"

#include <stdio.h>

#include "exit_code.h"
#include "util.h"

const struct spec_shard *select_shard(const struct spec *sp, const char *name)
{
    for (size_t i = 0; name && i < sp->nshards; i++)
        if (str_eq(sp->shards[i].name, name))
            return &sp->shards[i];
    return NULL;
}

int select_check_shard(const struct spec *sp, const char *name)
{
    if (!name || select_shard(sp, name))
        return 0;
    fprintf(stderr, "rmgr: %s: no shard '%s' in the spec\n", sp->file, name);
    return EXIT_FAILURE_;
}
