/*
 * cmd_unlock.c - `rmgr unlock CLUSTER --lock etcd://...`: delete a
 * cluster's lock key after confirmation. A holder
 * still alive (its worker registered, or its pid running on this host) is
 * only unlocked with --force: it may be in the middle of an apply, which
 * its next step's fencing check then stops.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apply_cli.h"
#include "cli.h"
#include "lock_cli.h"
#include "lock_etcd.h"
#include "opt.h"
#include "util.h"

struct unlock_args {
    const char *cluster;
    const char *lock;
    struct etcd_lock_options eo;
    bool force;
    bool auto_approve;
};

static const struct cli_opt unlock_opts[] = {
    {CLI_OPT_ARG, 0, NULL, offsetof(struct unlock_args, cluster), .arg = "CLUSTER"},
    CLI_OPTS_LOCK(struct unlock_args, lock, eo),
    {CLI_OPT_FLAG, 0, "force", offsetof(struct unlock_args, force),
     .help = "unlock even though the holder is alive"},
    {CLI_OPT_FLAG, 0, "auto-approve", offsetof(struct unlock_args, auto_approve),
     .help = "do not ask for confirmation (needed without a terminal)"},
    CLI_OPT_SECRETS_DIR,
};

/* Whether the holder seems alive: its worker is registered, or its pid runs here. */
static bool holder_alive(const struct etcd_lock_info *x, const struct strvec *workers)
{
    if (strvec_has(workers, x->worker))
        return true;
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    return str_eq(host, x->host) && x->pid > 0 &&
           (kill((pid_t)x->pid, 0) == 0 || errno == EPERM);
}

static int run_unlock(int argc, char **argv)
{
    struct unlock_args a = {0};
    int urc = cli_parse_command(&command_unlock, argc, argv, &a);
    if (urc)
        return urc;
    if (!a.cluster)
        return cli_usage_error(&command_unlock, "unlock needs a CLUSTER");
    const char *url = lock_url(a.lock);
    if (!url)
        return cli_usage_error(&command_unlock, "unlock needs --lock etcd://HOST:PORT (or RMGR_LOCK)");
    a.eo.etcd.url = url;
    struct lock_view lv;
    if (lock_view_read(&a.eo.etcd, false, &lv) < 0)
        return EXIT_FAILURE_;
    const struct etcd_lock_info *v = lv.v;
    size_t n = lv.n;
    char *err = NULL;
    int rc = EXIT_FAILURE_;
    const struct etcd_lock_info *x = NULL;
    for (size_t i = 0; i < n && !x; i++)
        if (str_eq(v[i].cluster, a.cluster))
            x = &v[i];
    if (!x) {
        printf("No lock: " ETCD_LOCK_PREFIX "%s is not held.\n", a.cluster);
        rc = EXIT_OK;
        goto out;
    }
    bool alive = holder_alive(x, &lv.workers);
    printf("%s%s is held by worker %s (pid %ld on %s) since %s, create revision %lld%s.\n",
           ETCD_LOCK_PREFIX, x->cluster, x->worker, x->pid, x->host, x->since, x->revision,
           alive ? "; the holder is alive" : "");
    if (alive && !a.force) {
        fprintf(stderr, "rmgr: the holder is alive: pass --force to unlock anyway (its next "
                        "step is then refused by fencing)\n");
        goto out;
    }
    if (!a.auto_approve) {
        char *q = xasprintf("Unlock cluster '%s'?", a.cluster);
        bool yes = apply_cli_confirm(q, "--auto-approve", "Unlock cancelled.");
        free(q);
        if (!yes)
            goto out;
    }
    int u = etcd_unlock(lv.e, x->cluster, x->revision, &err);
    if (u < 0) {
        fprintf(stderr, "rmgr: %s\n", err ? err : "etcd did not answer");
    } else if (u > 0) {
        fprintf(stderr, "rmgr: the lock changed meanwhile (another holder): not unlocked\n");
    } else {
        printf("Unlocked %s (revision %lld).\n", a.cluster, x->revision);
        rc = EXIT_OK;
    }
out:
    free(err);
    lock_view_release(&lv);
    return rc;
}

const struct command command_unlock = {
    "unlock", run_unlock, "remove a cluster's lock from etcd",
    .usage = "usage: rmgr unlock CLUSTER --lock etcd://HOST:PORT[,...] [--force] [options]\n"
             "\n"
             "Delete /rmgr/lock/CLUSTER, after confirmation. A holder\n"
             "that is alive (its worker registered, or its pid running on this host) needs\n"
             "--force: its next step is then refused by the fencing check.\n",
    CLI_COMMAND_OPTS(unlock_opts),
    .epilog = "Exit status: 0 unlocked (or not locked), 1 refused, cancelled or etcd error,\n"
              "2 usage error.\n",
};
