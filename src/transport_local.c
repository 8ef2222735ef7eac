/*
 * transport_local.c - the transport for this machine: posix_spawn and files.
 *
 * Commands run without a shell, in their own process group so a timeout can
 * kill everything they started. stdout and stderr are read together with
 * poll() so a child that fills one pipe while we wait on the other cannot
 * deadlock us.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "transport_impl.h"
#include "util.h"

struct local_transport {
    struct transport base;
};

/* ---- exec --------------------------------------------------------------- */

static int status_of(int wstatus)
{
    if (WIFEXITED(wstatus))
        return WEXITSTATUS(wstatus);
    if (WIFSIGNALED(wstatus))
        return 128 + WTERMSIG(wstatus);
    return 255;
}

/* Read what is available on fd into sb. Returns 1 at EOF, 0 otherwise, -1 on error. */
static int drain(int fd, struct strbuf *sb)
{
    char buf[65536];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n > 0) {
            sb_addn(sb, buf, (size_t)n);
            continue;
        }
        if (n == 0)
            return 1;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        return -1;
    }
}

/*
 * The environment every local command gets: only these variables of rmgr's
 * own (rmgr's may hold RMGR_REDIS_* passwords, RMGR_GIT_TOKEN, webhook
 * URLs, lock credentials: no child needs them). NULL-terminated, for
 * posix_spawn; free with env_free().
 */
static const char *const env_kept[] = {"PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE",
                                       "LC_MESSAGES", "TZ", "TMPDIR", "USER", "LOGNAME"};

static char **env_minimal(void)
{
    char **env = xcalloc(ARRAY_SIZE(env_kept) + 2, sizeof(*env));
    size_t n = 0;
    bool path = false;
    for (size_t i = 0; i < ARRAY_SIZE(env_kept); i++) {
        const char *v = getenv(env_kept[i]);
        if (!v)
            continue;
        env[n++] = xasprintf("%s=%s", env_kept[i], v);
        path = path || i == 0;
    }
    if (!path) /* what a shell would search without one */
        env[n++] = xstrdup("PATH=/usr/local/bin:/usr/bin:/bin");
    return env;
}

static void env_free(char **env)
{
    for (size_t i = 0; env && env[i]; i++)
        free(env[i]);
    free(env);
}

/* Start argv in its own process group with stdout/stderr on pipes. 0, or an errno value. */
static int spawn(const char *const *argv, pid_t *pid, int *out_fd, int *err_fd)
{
    int po[2] = {-1, -1}, pe[2] = {-1, -1};
    if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0) {
        int e = errno;
        if (po[0] >= 0) {
            close(po[0]);
            close(po[1]);
        }
        return e;
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, po[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all); /* e.g. an ignored SIGPIPE must not leak */
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);
    char **env = env_minimal();
    int rc = posix_spawnp(pid, argv[0], &fa, &attr, (char *const *)argv, env);
    env_free(env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(po[1]);
    close(pe[1]);
    if (rc != 0) {
        close(po[0]);
        close(pe[0]);
        return rc;
    }
    fcntl(po[0], F_SETFL, O_NONBLOCK);
    fcntl(pe[0], F_SETFL, O_NONBLOCK);
    *out_fd = po[0];
    *err_fd = pe[0];
    return 0;
}

static int local_exec(struct transport *t, const char *const *argv, struct exec_result *r,
                      char **err)
{
    pid_t pid = 0;
    int fds[2] = {-1, -1};
    int rc = spawn(argv, &pid, &fds[0], &fds[1]);
    if (rc == ENOENT || rc == EACCES || rc == ENOEXEC || rc == ENOTDIR) {
        /* like a shell: the command ran and failed with 127/126 */
        r->status = rc == ENOENT || rc == ENOTDIR ? 127 : 126;
        r->out = xstrdup("");
        r->err = xasprintf("cannot run '%s': %s\n", argv[0], strerror(rc));
        return 0;
    }
    if (rc != 0) {
        *err = xasprintf("cannot run '%s': %s", argv[0], strerror(rc));
        return -1;
    }

    struct strbuf sb[2] = {{0}, {0}};
    long long deadline = now_ms() + t->opts.command_timeout_ms;
    bool exited = false, timed_out = false;
    int wstatus = 0;
    while (fds[0] >= 0 || fds[1] >= 0) {
        long long left = deadline - now_ms();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        struct pollfd p[2];
        nfds_t n = 0;
        for (int i = 0; i < 2; i++)
            if (fds[i] >= 0)
                p[n++] = (struct pollfd){.fd = fds[i], .events = POLLIN};
        /* wake now and then: a daemon it started may hold the pipes open after it exits */
        int pr = poll(p, n, (int)(left < 100 ? left : 100));
        if (pr < 0 && errno != EINTR)
            break;
        if (pr == 0) {
            if (exited)
                break; /* it is gone and nothing more came: don't wait for its children */
            if (waitpid(pid, &wstatus, WNOHANG) == pid)
                exited = true;
            continue;
        }
        for (nfds_t k = 0; k < n && pr > 0; k++) {
            if (!p[k].revents)
                continue;
            int i = p[k].fd == fds[0] ? 0 : 1;
            if (drain(fds[i], &sb[i]) != 0) {
                close(fds[i]);
                fds[i] = -1;
            }
        }
    }
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    /* pipes closed but the process may still be finishing */
    long nap = 1;
    while (!exited && !timed_out) {
        pid_t w = waitpid(pid, &wstatus, WNOHANG);
        if (w == pid || (w < 0 && errno != EINTR)) {
            exited = true;
            break;
        }
        if (now_ms() >= deadline) {
            timed_out = true;
            break;
        }
        sleep_ms(nap);
        if (nap < 20)
            nap *= 2;
    }
    if (timed_out) {
        kill(-pid, SIGKILL); /* the whole group: whatever it started dies with it */
        kill(pid, SIGKILL);
        while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
            ;
        char *cmd = transport_argv_summary(argv);
        *err = xasprintf("command '%s' timed out after %ld ms (its process group was killed)",
                         cmd, t->opts.command_timeout_ms);
        free(cmd);
        sb_release(&sb[0]);
        sb_release(&sb[1]);
        return -1;
    }
    r->status = status_of(wstatus);
    r->out = sb_detach(&sb[0]);
    r->err = sb_detach(&sb[1]);
    return 0;
}

/* ---- files -------------------------------------------------------------- */

static bool absent(int e)
{
    return e == ENOENT || e == ENOTDIR;
}

static int local_read_file(struct transport *t, const char *path, size_t max_size, char **out,
                           size_t *out_len, char **err)
{
    (void)t;
    /* never through a symbolic link: a planted redis.conf -> ~/.netrc would print the
       credentials as a directive's old value (O_NONBLOCK: a FIFO cannot hang us) */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))) {
        close(fd);
        *err = xasprintf("refusing to read '%s': it is not a regular file", path);
        return -1;
    }
    if (fd >= 0 && read_fd(fd, max_size, out, out_len) == 0)
        return 0;
    if (absent(errno))
        return 1;
    if (errno == ELOOP)
        *err = xasprintf("refusing to read '%s': it is a symbolic link", path);
    else if (errno == EFBIG)
        *err = xasprintf("cannot read '%s': larger than %zu bytes", path, max_size);
    else
        *err = xasprintf("cannot read '%s': %s", path, strerror(errno));
    return -1;
}

static int local_stat_mtime(struct transport *t, const char *path, long long *mtime_s,
                            char **err)
{
    (void)t;
    struct stat st;
    if (stat(path, &st) < 0) {
        if (absent(errno))
            return 1;
        *err = xasprintf("cannot stat '%s': %s", path, strerror(errno));
        return -1;
    }
    *mtime_s = (long long)st.st_mtim.tv_sec;
    return 0;
}

/* Why the directory `st` (at `dir`) is not safe to keep instance files in, or NULL. */
static const char *untrusted_because(const struct stat *st)
{
    if (st->st_uid != 0 && st->st_uid != geteuid())
        return "belongs to another user";
    /* a root-owned sticky directory (/tmp): nobody else can rename or remove our entry */
    if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !(st->st_uid == 0 && (st->st_mode & S_ISVTX)))
        return "is writable by group or others";
    return NULL;
}

/*
 * Calls visit() on each directory on the way to `path` and on `path` itself:
 * "/a", "/a/b", ... (a "//" or a trailing slash adds none). Stops at the
 * first nonzero answer: < 0 an error (returned), > 0 nothing more to visit.
 */
static int walk_prefixes(const char *path, int (*visit)(const char *dir, void *ctx, char **err),
                         void *ctx, char **err)
{
    char *buf = xstrdup(path);
    size_t len = strlen(buf);
    int rc = 0;
    for (size_t i = 1; i <= len && rc == 0; i++) {
        if ((buf[i] != '/' && buf[i] != '\0') || buf[i - 1] == '/')
            continue;
        char saved = buf[i];
        buf[i] = '\0';
        rc = visit(buf, ctx, err);
        buf[i] = saved;
    }
    free(buf);
    return rc < 0 ? -1 : 0;
}

/*
 * Every existing directory on the way to `path` (and `path` itself when it
 * is one) must belong to us or root and be writable by nobody else, as
 * OpenSSH's StrictModes wants: else another user could plant a redis.conf
 * (dir /root/.ssh, loadmodule ...) that we would start.
 */
static int check_trusted_dir(const char *dir, void *ctx, char **err)
{
    (void)ctx;
    struct stat st;
    const char *why = NULL;
    if (stat(dir, &st) < 0)
        return 1; /* missing from here on: we create it */
    if (S_ISDIR(st.st_mode))
        why = untrusted_because(&st);
    if (!why && lstat(dir, &st) == 0 && S_ISLNK(st.st_mode) && st.st_uid != 0 &&
        st.st_uid != geteuid())
        why = "is a symbolic link of another user";
    if (why) {
        *err = xasprintf("refusing directory '%s': it %s (owner uid %ld, mode %04o)", dir, why,
                         (long)st.st_uid, (unsigned)(st.st_mode & 07777));
        return -1;
    }
    return 0;
}

static int check_trusted_dirs(const char *path, char **err)
{
    return walk_prefixes(path, check_trusted_dir, NULL, err);
}

/* One step of mkdir -p: the directory gets exactly *mode (umask does not apply). */
static int make_dir(const char *dir, void *ctx, char **err)
{
    mode_t mode = *(const mode_t *)ctx;
    if (mkdir(dir, mode) == 0) {
        if (chmod(dir, mode) < 0) {
            *err = xasprintf("cannot chmod '%s': %s", dir, strerror(errno));
            return -1;
        }
        return 0;
    }
    int e = errno;
    struct stat st;
    if (e == EEXIST && stat(dir, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return 0;
        *err = xasprintf("cannot create directory '%s': exists and is not a directory", dir);
        return -1;
    }
    *err = xasprintf("cannot create directory '%s': %s", dir, strerror(e));
    return -1;
}

/* mkdir -p; directories it creates get exactly `mode` (umask does not apply). */
static int mkdir_p(const char *path, int mode, char **err)
{
    mode_t m = (mode_t)mode;
    return walk_prefixes(path, make_dir, &m, err);
}

static int local_mkdir(struct transport *t, const char *path, int mode, char **err)
{
    (void)t;
    if (check_trusted_dirs(path, err) < 0)
        return -1;
    return mkdir_p(path, mode, err);
}

/* Remove what interrupted writes of `path` left in its directory (transport_stale_temp). */
static void sweep_stale_temps(const char *path)
{
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (!slash) {
        free(dir);
        return;
    }
    const char *base = slash + 1;
    *slash = '\0';
    DIR *d = opendir(*dir ? dir : "/");
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            struct stat st;
            if (transport_stale_temp(e->d_name, base) &&
                fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISREG(st.st_mode) && st.st_uid == geteuid())
                unlinkat(dirfd(d), e->d_name, 0);
        }
        closedir(d);
    }
    free(dir);
}

static int local_write_file(struct transport *t, const char *path, const void *data, size_t len,
                            int mode, char **err)
{
    (void)t;
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    int rc = 0;
    if (slash && slash != dir) {
        *slash = '\0';
        rc = check_trusted_dirs(dir, err) < 0 ? -1 : mkdir_p(dir, 0755, err);
    }
    free(dir);
    if (rc < 0)
        return -1;
    sweep_stale_temps(path); /* an interrupted run's temps may hold the password */
    if (write_file_atomic(path, data, len, mode) < 0) {
        *err = xasprintf("cannot write '%s': %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static void local_close(struct transport *t)
{
    transport_base_release(t);
    free(t);
}

static const struct transport_ops local_ops = {
    .close = local_close,
    .exec = local_exec,
    .read_file = local_read_file,
    .stat_mtime = local_stat_mtime,
    .write_file = local_write_file,
    .mkdir = local_mkdir,
};

struct transport *transport_local_open(const char *host, const struct transport_options *opts,
                                       char **err)
{
    (void)err;
    struct local_transport *lt = xcalloc(1, sizeof(*lt));
    transport_base_init(&lt->base, &local_ops, host, opts);
    return &lt->base;
}
