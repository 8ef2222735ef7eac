/*
 * lock_etcd.h - cluster locks as etcd leases, for several rmgr processes on
 * several machines (`--lock etcd://HOST:PORT[,HOST:PORT...]`).
 *
 * A lock is the key /rmgr/lock/<cluster>, created in a transaction only if
 * it is absent and bound to a lease of its own (TTL default 10 s) that a
 * keepalive thread renews every TTL/3. Its value says who holds it:
 *   {"worker": ID, "host": HOST, "pid": PID, "commit": SHA, "since": ISO-8601}
 * The lease is lost when etcd says so (keepalive TTL 0) or when no renewal
 * has succeeded for a whole TTL since it was sent (etcd down, or this
 * process paused): from then on lock_check fails, so the holder stops
 * before its next step. Fencing: the key's create revision, taken with the
 * lock, is the token; lock_check compares it in one transaction, so a
 * process that was paused past its TTL cannot act after another took the
 * cluster (a new key, a new create revision).
 *
 * Workers (`rmgr reconcile --lock`) also register /rmgr/workers/<id> under
 * a lease of their own; see reconcile_fleet.h for how they share clusters.
 */
#ifndef RMGR_LOCK_ETCD_H
#define RMGR_LOCK_ETCD_H

#include <stdbool.h>

#include "etcd.h"
#include "lock.h"
#include "util.h"

#define ETCD_LOCK_PREFIX "/rmgr/lock/"
#define ETCD_WORKER_PREFIX "/rmgr/workers/"
#define ETCD_LOCK_DEFAULT_TTL_MS 10000

struct etcd_lock_options {
    struct etcd_options etcd;
    long ttl_ms;        /* --lock-ttl; 0: 10 s; rounded up to whole seconds */
    const char *worker; /* this process's worker id (the value's "worker"); NULL: HOST-PID */
};

/* The lock URL of the command line: --lock, else $RMGR_LOCK; NULL for the file lock. */
const char *lock_url(const char *option);

/* An etcd client with its keepalive thread. */
struct etcd_locker;

struct etcd_locker *etcd_locker_new(const struct etcd_lock_options *o, char **err);
/* Stops the keepalive, revokes every lease still held (locks, registration). */
void etcd_locker_free(struct etcd_locker *k);
struct etcd *etcd_locker_client(struct etcd_locker *k);
const char *etcd_locker_worker(const struct etcd_locker *k);
long etcd_locker_ttl_ms(const struct etcd_locker *k);
/* Commit of the specs being applied, put in the value of later locks. */
void etcd_locker_set_commit(struct etcd_locker *k, const char *commit);

/*
 * Take /rmgr/lock/<cluster>, retrying up to timeout_ms while another holds
 * it. NULL with *err (the holder, or why etcd could not be asked); *busy
 * (may be NULL) says whether another holds it. With own_locker the lock
 * frees `k` when released (one-shot commands).
 */
struct cluster_lock *etcd_lock_acquire(struct etcd_locker *k, const char *cluster,
                                       long timeout_ms, bool own_locker, bool *busy, char **err);

/* Whether l is an etcd lock whose lease is known lost (no round trip). */
bool etcd_lock_lost(struct cluster_lock *l);

/*
 * Register (or keep) /rmgr/workers/<id>: a no-op while the registration's
 * lease lives. 0, or -1 with *err (etcd unreachable, id taken by another).
 */
int etcd_worker_register(struct etcd_locker *k, char **err);

/* The registered workers' ids (sorted), into *ids. 0, or -1 with *err. */
int etcd_workers(struct etcd *e, struct strvec *ids, char **err);

struct etcd_lock_info {
    char *cluster, *worker, *host, *commit, *since;
    long pid;
    long long revision; /* create revision: the fencing token */
    long long lease;
    long long ttl_left; /* seconds, -1 unknown */
};

/* Every /rmgr/lock/ key, sorted by cluster. 0, or -1 with *err. */
int etcd_locks_list(struct etcd *e, bool with_ttl, struct etcd_lock_info **out, size_t *n,
                    char **err);
void etcd_lock_infos_free(struct etcd_lock_info *v, size_t n);

/*
 * Delete /rmgr/lock/<cluster> if its create revision is still `revision`
 * (the holder seen by the caller). The holder's lease is not revoked: its
 * next lock_check is fenced (the key is gone). 0; 1 when the key changed
 * meanwhile; -1 with *err.
 */
int etcd_unlock(struct etcd *e, const char *cluster, long long revision, char **err);

#endif
