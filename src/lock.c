#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

struct file_lock {
    struct cluster_lock base;
    int fd;
    char *path;
};

static int file_lock_check(struct cluster_lock *l, char **err)
{
    (void)l;
    (void)err;
    return 0; /* flock(2) is ours until we close it */
}

static void file_lock_release(struct cluster_lock *base)
{
    struct file_lock *l = (struct file_lock *)base;
    if (ftruncate(l->fd, 0) < 0) {
        /* nothing to do: closing drops the lock regardless */
    }
    close(l->fd); /* drops the flock */
    free(l->path);
    free(l);
}

static const struct lock_ops file_lock_ops = {"file", file_lock_check, file_lock_release};

int lock_check(struct cluster_lock *l, char **err)
{
    return l ? l->ops->check(l, err) : 0;
}

void lock_release(struct cluster_lock *l)
{
    if (l)
        l->ops->release(l);
}

char *lock_default_path(const char *cluster)
{
    const char *rt = getenv("XDG_RUNTIME_DIR");
    char *dir = rt && *rt ? xasprintf("%s/rmgr", rt) : xasprintf("/tmp/rmgr-%ld", (long)getuid());
    char *path = xasprintf("%s/%s.lock", dir, cluster);
    free(dir);
    return path;
}

/*
 * The directory holding the lock (by default /tmp/rmgr-<uid>, a name anyone
 * can take first) must be ours and closed to others, or anyone could unlink
 * a held lock or fill the directory; a root-owned sticky directory such as
 * /tmp itself (a --lock-file there) is safe, nobody can remove our entry.
 * Creates it 0700 when missing. Returns 0, or -1 with *err.
 */
static int check_lock_dir(const char *path, char **err)
{
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (!slash) {
        free(dir);
        dir = xstrdup(".");
    } else if (slash == dir) {
        slash[1] = '\0';
    } else {
        *slash = '\0';
        mkdir(dir, 0700); /* errors surface in the lstat below */
    }
    struct stat st;
    const char *why = NULL;
    char mode[32] = "";
    if (lstat(dir, &st) < 0) {
        *err = xasprintf("cannot use lock directory '%s': %s", dir, strerror(errno));
        free(dir);
        return -1;
    }
    bool root_sticky = st.st_uid == 0 && (st.st_mode & S_ISVTX);
    if (!S_ISDIR(st.st_mode)) {
        why = "is not a directory";
    } else if (root_sticky) {
        why = NULL;
    } else if (st.st_uid != geteuid()) {
        why = "belongs to another user";
    } else if (st.st_mode & 077) {
        snprintf(mode, sizeof(mode), "has mode %04o, not 0700", (unsigned)(st.st_mode & 07777));
        why = mode;
    }
    if (why)
        *err = xasprintf("refusing lock directory '%s': it %s", dir, why);
    free(dir);
    return why ? -1 : 0;
}

static char *holder_of(int fd)
{
    char buf[256];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return xstrdup("an unknown process");
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    return xstrdup(buf);
}

/*
 * The lock file is truncated and written: it must be a file of our own, not
 * a symlink or hard link someone planted (the default directory is in /tmp,
 * and a directory there may have been made by anyone) to make us clobber
 * another file (opened with O_NOFOLLOW, and O_NONBLOCK so that a FIFO
 * cannot hang us). Returns 0, or -1 with *err.
 */
static int check_lock_file(int fd, const char *path, char **err)
{
    struct stat st;
    if (fstat(fd, &st) < 0) {
        *err = xasprintf("cannot stat lock file '%s': %s", path, strerror(errno));
        return -1;
    }
    const char *why = !S_ISREG(st.st_mode)    ? "is not a regular file"
                      : st.st_uid != geteuid() ? "belongs to another user"
                      : st.st_nlink != 1       ? "has other hard links"
                                               : NULL;
    if (why) {
        *err = xasprintf("refusing lock file '%s': it %s", path, why);
        return -1;
    }
    return 0;
}

struct cluster_lock *lock_acquire(const char *path, long timeout_ms, char **err)
{
    if (check_lock_dir(path, err) < 0)
        return NULL;
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
    if (fd < 0) {
        *err = errno == ELOOP
                   ? xasprintf("refusing lock file '%s': it is a symbolic link", path)
                   : xasprintf("cannot open lock file '%s': %s", path, strerror(errno));
        return NULL;
    }
    if (check_lock_file(fd, path, err) < 0) {
        close(fd);
        return NULL;
    }
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            break;
        if (errno != EWOULDBLOCK && errno != EINTR) {
            *err = xasprintf("cannot lock '%s': %s", path, strerror(errno));
            close(fd);
            return NULL;
        }
        if (now_ms() >= deadline) {
            char *who = holder_of(fd);
            *err = timeout_ms > 0
                       ? xasprintf("another apply holds the lock '%s' (%s); gave up after %ld ms",
                                   path, who, timeout_ms)
                       : xasprintf("another apply holds the lock '%s' (%s); use --lock-timeout to wait",
                                   path, who);
            free(who);
            close(fd);
            return NULL;
        }
        usleep(100 * 1000);
    }
    char host[256] = "unknown";
    gethostname(host, sizeof(host) - 1);
    char when[64] = "";
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    char *info = xasprintf("held by pid %ld on %s since %s\n", (long)getpid(), host, when);
    if (ftruncate(fd, 0) == 0 && pwrite(fd, info, strlen(info), 0) < 0) {
        /* the lock is ours either way; the holder text is only for messages */
    }
    free(info);
    struct file_lock *l = xcalloc(1, sizeof(*l));
    l->base.ops = &file_lock_ops;
    l->fd = fd;
    l->path = xstrdup(path);
    return &l->base;
}
