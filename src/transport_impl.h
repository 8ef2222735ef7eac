/*
 * transport_impl.h - what transport.c dispatches to; private to transport*.c.
 *
 * Each backend embeds `struct transport` as its first member and fills in
 * `ops`, so transport.c can route calls without knowing the backend.
 */
#ifndef RMGR_TRANSPORT_IMPL_H
#define RMGR_TRANSPORT_IMPL_H

#include <pthread.h>

#include "transport.h"

struct transport_ops {
    /* calls must not overlap (an ssh session is not thread-safe): transport.c
     * runs them one at a time; a backend without it is called concurrently */
    bool serial;
    void (*close)(struct transport *t);
    int (*exec)(struct transport *t, const char *const *argv, struct exec_result *r, char **err);
    int (*read_file)(struct transport *t, const char *path, size_t max_size, char **out,
                     size_t *out_len, char **err);
    int (*stat_mtime)(struct transport *t, const char *path, long long *mtime_s, char **err);
    int (*write_file)(struct transport *t, const char *path, const void *data, size_t len,
                      int mode, char **err);
    int (*mkdir)(struct transport *t, const char *path, int mode, char **err);
};

struct transport {
    const struct transport_ops *ops;
    char *host;                    /* name as given to transport_open */
    struct transport_options opts; /* defaults applied */
    bool host_key_failed;          /* set by a backend; see transport_host_key_failed() */
    pthread_mutex_t serial;        /* held around each call when ops->serial */
};

/* Backends. Both take ownership of nothing; they copy what they keep. */
struct transport *transport_local_open(const char *host, const struct transport_options *opts,
                                       char **err);
struct transport *transport_ssh_open(const struct spec *spec, const char *host,
                                     const struct transport_options *opts,
                                     enum transport_failure *failure, char **err);

/* Fill the fields of `struct transport` common to every backend. */
void transport_base_init(struct transport *t, const struct transport_ops *ops, const char *host,
                         const struct transport_options *opts);
void transport_base_release(struct transport *t);

/*
 * Whether directory entry `name` is a temporary file that an interrupted
 * write of `base` (a file name, no directory) left: "<base>.rmgr-tmp.<pid>.N"
 * (local) or ".<base>.rmgr-tmp.<pid>.N" (SFTP) of another process than this
 * one (threads of this one may be writing right now). Such a file may hold
 * the password: write_file removes them before it writes `base` again.
 */
bool transport_stale_temp(const char *name, const char *base);

/* "'a' 'b c'" for argv[0..] (a short form for messages, at most ~200 bytes). Caller frees. */
char *transport_argv_summary(const char *const *argv);

#endif
