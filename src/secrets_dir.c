/*
 * secrets_dir.c - where a spec's auth.password_file may point: only under the
 * secrets directory the operator configures (--secrets-dir, RMGR_SECRETS_DIR,
 * else /etc/rmgr/secrets and ~/.config/rmgr/secrets), never through a
 * symbolic link, so a proposed spec cannot make rmgr send any other file of
 * the machine (a git token, an ssh key) as its AUTH password. See spec.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secrets_dir.h"
#include "spec.h"
#include "util.h"

static char *configured_dir; /* --secrets-dir; NULL: the environment or the defaults */

void spec_set_secrets_dir(const char *dir)
{
    free(configured_dir);
    configured_dir = dir ? xstrdup(dir) : NULL;
}

/* The secrets directories, without a trailing '/'; returns how many (1 or 2). Caller frees. */
static size_t secrets_dirs(char *dirs[2])
{
    const char *env = getenv("RMGR_SECRETS_DIR");
    const char *one = configured_dir ? configured_dir : env && *env ? env : NULL;
    size_t n = 0;
    if (one) {
        dirs[n++] = xstrdup(one);
    } else {
        dirs[n++] = xstrdup("/etc/rmgr/secrets");
        const char *home = getenv("HOME");
        if (home && home[0] == '/')
            dirs[n++] = xasprintf("%s/.config/rmgr/secrets", home);
    }
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(dirs[i]);
        while (len > 1 && dirs[i][len - 1] == '/')
            dirs[i][--len] = '\0';
    }
    return n;
}

/*
 * Open `rel` (components separated by '/', no "..") below the directory
 * `dir`, one component at a time with O_NOFOLLOW: a symbolic link anywhere
 * below `dir` is refused. Returns the descriptor, or -1 with errno (ELOOP
 * for a link).
 */
static int open_below(const char *dir, const char *rel)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    char *copy = xstrdup(rel), *save = NULL;
    for (char *c = strtok_r(copy, "/", &save); c && fd >= 0;) {
        char *next = strtok_r(NULL, "/", &save);
        int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (next ? O_DIRECTORY : O_NONBLOCK);
        int sub = openat(fd, c, flags);
        int e = errno;
        struct stat st;
        if (sub < 0 && fstatat(fd, c, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
            e = ELOOP; /* O_DIRECTORY reports a link to a directory as ENOTDIR */
        close(fd);
        fd = sub;
        errno = e;
        c = next;
    }
    free(copy);
    return fd;
}

/* The path of `file` below one of `dirs`, or NULL. */
static const char *below(const char *file, char *const *dirs, size_t n, size_t *which)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(dirs[i]);
        if (!strncmp(file, dirs[i], len) && (file[len] == '/' || !strcmp(dirs[i], "/"))) {
            *which = i;
            return file + len + (file[len] == '/');
        }
    }
    return NULL;
}

/* A regular file `rel` below dirs[first] (absolute: that one only) or, for a
 * relative name, below the first of the later ones that has it; -1 with errno
 * (EINVAL: not a regular file, ELOOP: a symbolic link on the way). */
static int open_regular_in(char *const *dirs, size_t n, size_t first, const char *rel,
                           bool absolute)
{
    int fd = -1;
    for (size_t i = first; i < n; i++) {
        fd = open_below(dirs[i], rel);
        if (fd >= 0 || errno != ENOENT || absolute)
            break;
    }
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))) {
        close(fd);
        fd = -1;
        errno = EINVAL;
    }
    return fd;
}

int spec_open_secret_file(const struct spec *s, char **err)
{
    const char *file = s->auth.password_file;
    char *dirs[2];
    size_t n = secrets_dirs(dirs), which = 0;
    int fd = -1;
    const char *rel = file[0] == '/' ? below(file, dirs, n, &which) : file;
    if (!rel || !*rel) {
        struct strbuf sb = {0};
        for (size_t i = 0; i < n; i++)
            sb_addf(&sb, "%s%s", i ? ", " : "", dirs[i]);
        *err = xasprintf("%s:%d:%d: password_file '%s' is not under the secrets directory (%s; "
                         "--secrets-dir DIR or RMGR_SECRETS_DIR sets it)",
                         s->file, s->auth.password_file_pos.line, s->auth.password_file_pos.col,
                         file, sb_str(&sb));
        sb_release(&sb);
    } else {
        /* a relative name: the first secrets directory that has it */
        fd = open_regular_in(dirs, n, file[0] == '/' ? which : 0, rel, file[0] == '/');
        if (fd < 0)
            *err = errno == ELOOP
                       ? xasprintf("%s:%d:%d: password_file '%s': refusing a symbolic link",
                                   s->file, s->auth.password_file_pos.line,
                                   s->auth.password_file_pos.col, file)
                   : errno == EINVAL
                       ? xasprintf("password file '%s' is not a regular file", file)
                       : xasprintf("cannot read password file '%s': %s", file, strerror(errno));
    }
    for (size_t i = 0; i < n; i++)
        free(dirs[i]);
    return fd;
}

int secrets_dir_open(const char *file, char **err)
{
    char *dirs[2];
    size_t n = secrets_dirs(dirs), which = 0;
    int fd = -1;
    const char *rel = file[0] == '/' ? below(file, dirs, n, &which) : file;
    if (!rel || !*rel || strstr(rel, "..")) {
        *err = xasprintf("'%s' is not under the secrets directory (%s%s%s; --secrets-dir DIR "
                         "or RMGR_SECRETS_DIR sets it)",
                         file, dirs[0], n > 1 ? ", " : "", n > 1 ? dirs[1] : "");
    } else {
        fd = open_regular_in(dirs, n, file[0] == '/' ? which : 0, rel, file[0] == '/');
        if (fd < 0)
            *err = errno == ELOOP    ? xasprintf("'%s': refusing a symbolic link", file)
                   : errno == EINVAL ? xasprintf("'%s' is not a regular file", file)
                                     : xasprintf("cannot read '%s': %s", file, strerror(errno));
    }
    for (size_t i = 0; i < n; i++)
        free(dirs[i]);
    return fd;
}
