/*
 * repoint.h - the fast proxy repoint of reconcile --watch (watch.c calls it
 * from a cluster's worker when a shard's master changed).
 */
#ifndef RMGR_REPOINT_H
#define RMGR_REPOINT_H

#include <stddef.h>

#include "spec.h"

/*
 * The configs `nutcracker -t` accepted, per binary and path, kept as hashes
 * only (they hold the password). Thread-safe.
 */
struct repoint_checked;
struct repoint_checked *repoint_checked_new(void);
void repoint_checked_free(struct repoint_checked *c);

/*
 * The transports of a cluster's proxy hosts, kept open between repoints:
 * opening an ssh session costs ~110 ms (key exchange, auth), a call on an
 * open one a few ms. One per host, used by one thread at a time (proxies on
 * the same host take turns; hosts go in parallel). A session that broke is
 * opened again by the next use; repoint_sessions_reset() makes every host
 * open a new one (the spec changed: address, port, key or known_hosts may
 * have). Thread-safe.
 */
struct repoint_sessions;
struct repoint_sessions *repoint_sessions_new(void);
void repoint_sessions_reset(struct repoint_sessions *ss);
void repoint_sessions_free(struct repoint_sessions *ss);

struct repoint_options {
    long connect_timeout_ms; /* sentinels and proxies */
    long ready_timeout_ms;   /* a restarted nutcracker answers PING */
    long lock_timeout_ms;    /* wait for the cluster lock */
    const char *lock_dir;    /* NULL: lock_default_path() */
    bool lock_held;          /* the caller holds the cluster lock (apply): take none */
    const char *commit;      /* the spec's commit, for the log */
    struct repoint_checked *checked; /* may be NULL: check every config at repoint time */
    struct repoint_sessions *sessions; /* may be NULL: a transport opened per repoint */
};

/*
 * Point every proxy of `s` at the shard masters: given[i] ("ip:port") for
 * shard i, asked from the sentinels when NULL or i >= ngiven. Under the
 * cluster lock (a "repoint-wait" warning is logged when it must wait), each
 * proxy's nutcracker.yml is rendered, checked with `nutcracker -t` (unless
 * o->checked holds that very text: repoint_precheck checked it ahead),
 * installed, and nutcracker restarted and waited for, all proxies in
 * parallel (all of them point at a master that is gone). The rendered
 * configs hold the password: they are wiped. 0, or -1 with *err set.
 */
int repoint_proxies(const struct spec *s, const char *password, char *const *given,
                    size_t ngiven, const struct repoint_options *o, char **err);

/*
 * Check ahead, with `nutcracker -t` on a scratch copy next to each proxy's
 * config, the config every proxy would get when one shard's master moves
 * to another member of that shard (current[i]: shard i's master now, "ip:port";
 * NULL: unknown, that shard is skipped), and add the accepted ones to
 * o->checked. This moves the check of a failover's config out of the
 * failover. Stops early when stop(arg) returns true (a repoint is waiting).
 */
void repoint_precheck(const struct spec *s, const char *password, char *const *current,
                      size_t n, const struct repoint_options *o, bool (*stop)(void *),
                      void *arg);

#endif
