/*
 * observe_impl.h - what observe.c and observe_net.c share. Not for other
 * modules: they call observe_cluster (observe.h).
 */
#ifndef RMGR_OBSERVE_IMPL_H
#define RMGR_OBSERVE_IMPL_H

#include <stddef.h>

#include "observe.h"

enum net_kind { NET_REDIS, NET_SENTINEL, NET_PROXY };

/* One address to talk to: a record of obs->redis, sentinels or proxies. */
struct net_target {
    enum net_kind kind;
    size_t index;
};

/* What the network part reads (it writes only the records of its targets). */
struct net_ctx {
    const struct observe_options *opts; /* timeouts set */
    struct observed *obs;
    const char *const *config_keys;     /* CONFIG GET of these on every redis */
    size_t nconfig_keys;
    const char *pool;                   /* nutcracker's pool name: the cluster */
    /* what the spec's alert rules need (alerts.h): */
    const char *const *info_fields;     /* numeric INFO fields kept in info_num */
    size_t ninfo_fields;
    bool slowlog;                       /* SLOWLOG LEN and SLOWLOG GET 1 on every redis */
};

/*
 * Observe every target at once on this thread (one poll loop, one
 * deadline per address) and return when each has answered or failed.
 */
void observe_net(const struct net_ctx *x, const struct net_target *targets, size_t n);

#endif
