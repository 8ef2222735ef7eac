/*
 * ha_lint.h - `rmgr validate --ha`: the single points of failure of a
 * cluster's layout, each with the hosts it involves and what to change.
 *
 * Pure: a spec in (and, with --observe, today's masters and memory, as
 * ha_observed_from() works them out of an observation), a list of risks
 * out, rendered as text or JSON. No I/O; the command does the observing.
 *
 * A host is an IP address: two names for one address are one machine. It
 * is shown by the name the spec gives it first (a hosts: name, or the IP).
 */
#ifndef RMGR_HA_LINT_H
#define RMGR_HA_LINT_H

#include <stdbool.h>
#include <stddef.h>

#include "observed.h"
#include "spec.h"
#include "util.h"

/* What a full sync is assumed to move per second (BGSAVE, transfer and load in a row). */
#define HA_SYNC_BYTES_PER_SEC (50LL * 1000 * 1000)

/* down_after_ms below this caused spurious failovers (FIELD-NOTES) */
#define HA_MIN_DOWN_AFTER_MS 2000

/* The kinds of risk, in the order a report lists them. */
#define HA_RISK_KINDS(X)                                                                   \
    X(HA_SENTINEL_COUNT, "sentinel-count")                                                 \
    X(HA_QUORUM_NOT_MAJORITY, "quorum-not-majority")                                       \
    X(HA_SENTINEL_HOST_LOSS, "sentinel-host-loss")                                         \
    X(HA_DOWN_AFTER_LOW, "down-after-low")                                                 \
    X(HA_FAILOVER_TIMEOUT_SHORT, "failover-timeout-short")                                 \
    X(HA_SHARD_ONE_HOST, "shard-one-host")                                                 \
    X(HA_MASTERS_ONE_HOST, "masters-one-host")                                             \
    X(HA_PROXIES_ONE_HOST, "proxies-one-host")                                             \
    X(HA_PROXY_WITH_ONLY_REPLICA, "proxy-with-only-replica")

#define HA_KIND_ENUM(id, name) id,
enum ha_risk_kind { HA_RISK_KINDS(HA_KIND_ENUM) HA_NKINDS };
#undef HA_KIND_ENUM

const char *ha_risk_kind_name(enum ha_risk_kind k);

struct ha_risk {
    enum ha_risk_kind kind;
    struct spec_pos pos;  /* the spec line the risk is written at */
    struct strvec hosts;  /* the hosts involved, as shown */
    char *message;        /* what can go wrong */
    char *change;         /* what to change */
};

/*
 * Today's state of each shard, from an observation: the master Sentinel
 * reports (NULL ip: no sentinel answered for it; the spec's bootstrap
 * master is used) and the master's used_memory (-1: unknown).
 */
struct ha_shard_obs {
    char *master_ip;
    int master_port;
    long long used_memory;
};

struct ha_observed {
    struct ha_shard_obs *shards; /* one per spec shard */
    size_t nshards;
};

void ha_observed_release(struct ha_observed *h);

/*
 * Fill *out (zeroed) for spec s from observation o: per shard the address
 * most of the reachable sentinels report for the shard's name (a tie, or
 * no sentinel reporting it: unknown), and used_memory[i] (may be NULL: all
 * unknown) for shard i.
 */
void ha_observed_from(const struct spec *s, const struct observed *o,
                      const long long *used_memory, struct ha_observed *out);

struct ha_master {                /* a shard's master as the rules took it */
    const char *shard;            /* borrowed from the spec */
    char *address;                /* "ip:port" */
    bool from_sentinel;           /* else the spec's bootstrap master */
};

struct ha_report {
    const char *file, *cluster;   /* borrowed from the spec */
    struct ha_master *masters;    /* one per shard */
    size_t nmasters;
    const char *masters_from;     /* "spec", "sentinel" or "sentinel+spec" (some shards) */
    long long sync_bytes;         /* the largest shard's size used for the sync estimate;
                                     -1: none known, failover_timeout_ms not checked */
    const char *sync_source;      /* "used_memory" (observed) or "maxmemory" (redis.config) */
    const char *sync_shard;       /* the shard it is from, with used_memory; else NULL */
    long long sync_ms;            /* the estimate: sync_bytes / HA_SYNC_BYTES_PER_SEC */
    struct ha_risk *risks;
    size_t nrisks, cap;
};

/*
 * Every risk of spec s's layout into *out (zeroed). `obs` may be NULL
 * (masters from the spec, no used_memory), else it has s->nshards entries.
 */
void ha_lint(const struct spec *s, const struct ha_observed *obs, struct ha_report *out);

void ha_report_release(struct ha_report *r);

/*
 * The report as text: a header line per cluster ("FILE: cluster 'x': N HA
 * risks ..."), then per risk "FILE:LINE:COL: risk: KIND: message" and an
 * indented "change: ..." line.
 */
void ha_render_text(const struct ha_report *r, struct strbuf *out);

/* The reports as one JSON document ({"clusters": [...], "risks": N}). Caller frees. */
char *ha_render_json(const struct ha_report *const *r, size_t n);

/* A redis.conf memory value ("64mb", "1g", "1048576") in bytes; -1 when it is not one. */
long long ha_parse_memory(const char *v);

#endif
