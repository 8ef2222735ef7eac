/*
 * apply_cli.c - the options, lock, prompt and summary that `rmgr apply` and
 * `rmgr destroy` share. See apply_cli.h.
 */
#include "apply_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "lock.h"
#include "lock_etcd.h"
#include "util.h"

struct cluster_lock *apply_cli_lock(const struct apply_cli_options *o, const char *cluster,
                                    const char *commit)
{
    const char *url = lock_url(o->lock);
    if (url) {
        struct etcd_lock_options eo = o->lock_etcd;
        eo.etcd.url = url;
        char *err = NULL;
        struct etcd_locker *k = etcd_locker_new(&eo, &err);
        struct cluster_lock *l = NULL;
        if (k) {
            if (commit)
                etcd_locker_set_commit(k, commit);
            l = etcd_lock_acquire(k, cluster, o->lock_timeout_ms, true, NULL, &err);
        }
        if (!l)
            fprintf(stderr, "rmgr: %s\n", err ? err : "cannot take the cluster lock");
        free(err);
        return l;
    }
    char *path = o->lock_file ? xstrdup(o->lock_file) : lock_default_path(cluster);
    char *err = NULL;
    struct cluster_lock *l = lock_acquire(path, o->lock_timeout_ms, &err);
    if (!l)
        fprintf(stderr, "rmgr: %s\n", err ? err : "cannot take the cluster lock");
    free(err);
    free(path);
    return l;
}

bool apply_cli_confirm(const char *question, const char *flags_hint, const char *cancelled)
{
    if (!isatty(STDIN_FILENO)) {
        fprintf(stderr, "rmgr: no terminal to confirm on: pass %s to proceed without a prompt\n",
                flags_hint);
        return false;
    }
    printf("\n%s Only 'yes' will be accepted: ", question);
    fflush(stdout);
    char line[64];
    bool yes = false;
    if (fgets(line, sizeof(line), stdin)) {
        line[strcspn(line, "\r\n")] = '\0';
        yes = !strcmp(line, "yes");
    }
    if (!yes)
        printf("%s\n", cancelled);
    return yes;
}

int apply_cli_set_parallel(void *dest, const struct cli_opt *opt, const char *value, char **err)
{
    (void)opt;
    if (!parse_long(value, 1, APPLY_MAX_PARALLEL, (long *)dest)) {
        *err = xasprintf("option '--parallel' needs a number of instances (1-%d), not '%s'",
                         APPLY_MAX_PARALLEL, value);
        return -1;
    }
    return 0;
}

struct apply_options apply_cli_run_options(const struct apply_cli_options *o,
                                           long connect_timeout_ms, long command_timeout_ms)
{
    struct apply_options ao = {
        .transport = {.accept_new_host_keys = o->accept_new_host_keys},
        .connect_timeout_ms = connect_timeout_ms,
        .command_timeout_ms = command_timeout_ms,
        .parallel = o->parallel,
        .out = stdout,
        .color = cli_use_color(o->no_color),
    };
    /* an ssh handshake may take longer than a redis connect: only raise its timeout */
    if (connect_timeout_ms > 0)
        ao.transport.connect_timeout_ms = connect_timeout_ms > 5000 ? connect_timeout_ms : 5000;
    return ao;
}

void apply_cli_print_result(const char *what, const struct apply_result *res, bool color)
{
    const char *on = color ? (res->error ? "\033[1;31m" : "\033[1;32m") : "";
    const char *off = color ? "\033[0m" : "";
    if (!res->error) {
        printf("\n%s%s complete: %zu done.%s\n", on, what, res->done, off);
        fflush(stdout);
        return;
    }
    printf("\n%s%s failed: %zu done, %zu failed, %zu not run.%s\n", on, what, res->done,
           res->failed, res->not_run, off);
    if (res->not_run_list) {
        printf("Not run:\n");
        const char *p = res->not_run_list;
        while (*p) {
            const char *nl = strchr(p, '\n');
            size_t n = nl ? (size_t)(nl - p) : strlen(p);
            printf("  %.*s\n", (int)n, p);
            p += n + (nl ? 1 : 0);
        }
    }
    fflush(stdout);
    fprintf(stderr, "rmgr: %s\n", res->error);
}
