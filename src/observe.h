/*
 * observe.h - look at every instance the spec names, in parallel.
 *
 * Every address at once on one event loop (one thread per host for the
 * instance files): a dead or slow address costs its own timeout, not the
 * sum over addresses. Results land in the observed model (observed.h).
 */
#ifndef RMGR_OBSERVE_H
#define RMGR_OBSERVE_H

#include "observed.h"
#include "spec.h"

struct observe_options {
    long connect_timeout_ms; /* default 1000 */
    long command_timeout_ms; /* default 2000 */
    const char *password;    /* from spec_read_password(); NULL for none */
    bool skip_files;         /* do not look at files through transports */
    const bool *only_shards; /* per spec shard; non-NULL: observe only these shards'
                                members and the sentinels (no proxies, no files, no
                                nodes outside the spec): a cheap look while waiting */
};

/* Never fails as a whole: per-instance problems are recorded as reach/detail. */
struct observed *observe_cluster(const struct spec *s, const struct observe_options *opts);

#endif
