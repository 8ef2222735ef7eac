/*
 * lock.h - one apply per cluster at a time.
 *
 * flock(2) on a lock file: the kernel drops the lock when its holder dies,
 * so a lock left by a dead process is taken over without any guessing. The
 * file's contents say who holds it (host, pid, start time) for the message
 * a second apply prints while it waits or gives up.
 */
#ifndef RMGR_LOCK_H
#define RMGR_LOCK_H

struct cluster_lock;

/* Default lock file: $XDG_RUNTIME_DIR/rmgr/<cluster>.lock, else /tmp/rmgr-<uid>/<cluster>.lock. */
char *lock_default_path(const char *cluster);

/*
 * Take the lock at `path`, waiting up to timeout_ms (0: do not wait).
 * Returns the lock, or NULL with a message in *err naming the holder.
 */
struct cluster_lock *lock_acquire(const char *path, long timeout_ms, char **err);
void lock_release(struct cluster_lock *l);

#endif
