/*
 * reconcile_fleet.h - several `rmgr reconcile --lock etcd://...` workers
 * share the clusters of one spec repository, one worker per cluster.
 *
 * Each worker registers /rmgr/workers/<id> under a lease of its own. Before
 * each run it lists the live workers and computes, as every worker does
 * from the same lists, who takes which cluster: pairs (cluster, worker)
 * ranked by a rendezvous hash of the two, each cluster to its best-ranked
 * worker that has fewer than ceil(clusters / live workers) clusters. So a
 * worker never takes more than its share, a worker that dies gives only its
 * own clusters to the others, and one that joins takes only its share.
 * The worker then keeps the leases of its clusters (lock_etcd.h), releases
 * those given to another, and tries to take those given to it that are free
 * (a cluster still held elsewhere is taken on a later run). A lock whose
 * lease was lost, or whose key no longer has our create revision, is
 * dropped and said so. When etcd cannot be reached the worker reconciles
 * nothing and says why; it resumes when etcd answers again.
 */
#ifndef RMGR_RECONCILE_FLEET_H
#define RMGR_RECONCILE_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lock.h"
#include "reconcile.h"

struct fleet;

/* The fleet of o->lock ($RMGR_LOCK), or NULL: *err set on a bad option, else no fleet. */
struct fleet *fleet_new(const struct reconcile_options *o, char **err);
void fleet_free(struct fleet *f); /* releases every lease */

/*
 * Before a run over `names` (n clusters): set mine[i] to whether this worker
 * reconciles names[i] now (it holds its lease). Logs what changed.
 */
void fleet_prepare(struct fleet *f, char *const *names, size_t n, const char *commit, bool *mine);

/* The lock held for `cluster` (borrowed until the next fleet_prepare), or NULL. */
struct cluster_lock *fleet_lock(struct fleet *f, const char *cluster);
/* Whether this worker holds the lease of `cluster` now (any thread; the watcher asks). */
bool fleet_holds(void *fleet, const char *cluster);
const char *fleet_worker(const struct fleet *f);

/* ---- pure, for unit tests ---- */

/* The rendezvous score of (worker, cluster). */
uint64_t fleet_score(const char *worker, const char *cluster);
/*
 * owner[i] = index into workers of the worker that takes clusters[i]
 * (greedy by score, at most ceil(nc / nw) each); nw must be > 0.
 */
void fleet_assign(char *const *clusters, size_t nc, char *const *workers, size_t nw,
                  size_t *owner);

#endif
