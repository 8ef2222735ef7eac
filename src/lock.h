/*
 * lock.h - one apply per cluster at a time.
 *
 * flock(2) on a lock file: the kernel drops the lock when its holder dies,
 * so a lock left by a dead process is taken over without any guessing. The
 * file's contents say who holds it (host, pid, start time) for the message
 * a second apply prints while it waits or gives up.
 *
 * A held lock is a struct cluster_lock whose `ops` say what it is: the
 * file lock here (the default) or an etcd lease (lock_etcd.h). Callers hold
 * either through the same three calls: lock_check before each step that
 * acts (fencing), lock_release at the end.
 */
#ifndef RMGR_LOCK_H
#define RMGR_LOCK_H

struct cluster_lock;

struct lock_ops {
    const char *kind; /* "file", "etcd" */
    /* 0 while the lock is still ours; -1 with *err (say why) once it is not */
    int (*check)(struct cluster_lock *l, char **err);
    void (*release)(struct cluster_lock *l);
};

/* Implementations put this first in their own struct. */
struct cluster_lock {
    const struct lock_ops *ops;
};

/*
 * Whether `l` is still held by us: the file lock always is; an etcd lock
 * checks its lease and, in one transaction, that the key still has the
 * create revision it had when taken (the fencing token). NULL: 0.
 */
int lock_check(struct cluster_lock *l, char **err);

/* Default lock file: $XDG_RUNTIME_DIR/rmgr/<cluster>.lock, else /tmp/rmgr-<uid>/<cluster>.lock. */
char *lock_default_path(const char *cluster);

/*
 * Take the lock at `path`, waiting up to timeout_ms (0: do not wait).
 * Returns the lock, or NULL with a message in *err naming the holder.
 */
struct cluster_lock *lock_acquire(const char *path, long timeout_ms, char **err);
void lock_release(struct cluster_lock *l); /* any kind; NULL is fine */

#endif
