/*
 * reply.h - reading Sentinel's flat [name, value, ...] replies (SENTINEL
 * MASTERS / REPLICAS / SENTINELS entries) for switchover and import.
 */
#ifndef RMGR_REPLY_H
#define RMGR_REPLY_H

#include <hiredis/hiredis.h>

/* The value of `name` in a flat [name, value, ...] array reply, or NULL (borrowed). */
const char *reply_flat_field(const redisReply *e, const char *name);

#endif
