/*
 * backup.h - `rmgr backup`: an RDB snapshot of each shard, taken on one
 * caught-up replica (the master when there is none), copied to the manager
 * as DIR/<cluster>/<shard>/<timestamp>.rdb with a sha256sum-style checksum
 * file beside it. redis.config keeps owning save/appendonly: backup only
 * sends BGSAVE.
 */
#ifndef RMGR_BACKUP_H
#define RMGR_BACKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "observed.h"
#include "spec.h"

#define BACKUP_MAX_RDB_SIZE ((size_t)1 << 32) /* 4 GiB: the copy is held in memory */

/*
 * The member of shard `shard` to snapshot: among its linked replicas of
 * `master` the one with the highest offset, else the master itself. *lag
 * gets that replica's bytes behind the master (0 for the master).
 */
const struct spec_addr *backup_pick(const struct spec *s, const struct observed *o,
                                    size_t shard, const struct spec_addr *master,
                                    long long *lag);

/* "DIR/<cluster>/<shard>/<YYYYmmddTHHMMSSZ>.rdb" for time t (UTC). Caller frees. */
char *backup_path(const char *dir, const char *cluster, const char *shard, time_t t);

/* "<sha256 hex>  <basename of path>\n": the checksum file's text. Caller frees. */
char *backup_checksum_line(const unsigned char *data, size_t len, const char *path);

struct backup_result {
    char *path;          /* where the RDB was saved */
    size_t bytes;
    char sha256[65];
};

/*
 * BGSAVE on `a` (a member of the spec on host a->host), wait for it within
 * timeout_ms (also the bound of the copy), read its RDB over the host's transport and save it at `path`
 * with `path`.sha256. 0 with *r filled, or -1 with *err (caller frees).
 */
int backup_shard(const struct spec *s, const char *password, const struct spec_addr *a,
                 const char *path, long connect_timeout_ms, long timeout_ms,
                 struct backup_result *r, char **err);

#endif
