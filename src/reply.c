/*
 * reply.c - see reply.h.
 */
#include "reply.h"

#include <string.h>

const char *reply_flat_field(const redisReply *e, const char *name)
{
    for (size_t i = 0; e && e->type == REDIS_REPLY_ARRAY && i + 1 < e->elements; i += 2)
        if (e->element[i]->type == REDIS_REPLY_STRING && !strcmp(e->element[i]->str, name) &&
            e->element[i + 1]->type == REDIS_REPLY_STRING)
            return e->element[i + 1]->str;
    return NULL;
}
