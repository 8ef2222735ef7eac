/*
 * top.h - `rmgr top`: per shard the master's ops/s, memory, clients, keys,
 * hit rate and each replica's lag; per proxy requests/s, forward errors and
 * connections. Rates come from two observations.
 *
 * Pure: samples from INFO and nutcracker stats texts, frames (rates) from
 * two samples, and their text and JSON. I/O: top_sample().
 */
#ifndef RMGR_TOP_H
#define RMGR_TOP_H

#include <stdbool.h>
#include <stddef.h>

#include "spec.h"
#include "util.h"

struct top_replica {
    char *addr;              /* "ip:port" */
    long long offset;
    long lag_s;              /* INFO's lag= (seconds since its last ack) */
};

struct top_redis {           /* one shard's master as INFO showed it */
    bool ok;
    char *addr;              /* the member answering role:master, or NULL */
    long long commands;      /* total_commands_processed */
    long long used_memory, maxmemory;
    long long clients, keys;
    long long hits, misses;
    long long master_offset;
    struct top_replica *replicas;
    size_t nreplicas;
};

struct top_proxy {
    bool ok;
    long long timestamp_s;   /* nutcracker aggregates its stats every stats interval */
    long long requests, forward_errors, connections;
};

struct top_sample {
    long long at_ms;         /* monotonic */
    struct top_redis *shards; /* per spec shard */
    size_t nshards;
    struct top_proxy *proxies; /* per spec proxy */
    size_t nproxies;
};

/* Fill r (zeroed) from an INFO (all sections) text of a master. 0, or -1 when not a master. */
int top_parse_info(const char *text, const char *addr, struct top_redis *r);

/* Fill p (zeroed) from nutcracker's stats JSON for pool `pool`. 0, or -1 with *err. */
int top_parse_proxy_stats(const char *json, const char *pool, struct top_proxy *p, char **err);

/* Events per second between two counters dt_ms apart; -1 when unknown (reset, no time). */
double top_rate(long long before, long long after, long long dt_ms);

/*
 * Append one frame (a sample and the rates since `prev`) as text: a shard
 * table and a proxy table. `prev` may be NULL (rates unknown: "-").
 */
void top_render_text(const struct spec *s, const struct top_sample *prev,
                     const struct top_sample *cur, struct strbuf *out);

/* The same frame as a JSON document (caller frees). */
char *top_render_json(const struct spec *s, const struct top_sample *prev,
                      const struct top_sample *cur);

/* Observe every shard's members and every proxy's stats, in parallel. */
void top_sample(const struct spec *s, const char *password, long connect_timeout_ms,
                long command_timeout_ms, struct top_sample *out);

void top_sample_release(struct top_sample *t);

#endif
