/*
 * cmd_locks.c - `rmgr locks --lock etcd://...`: who holds which cluster's
 * lease (worker, host, pid, since, commit, create revision, TTL left), and
 * the spread over the live workers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "lock_cli.h"
#include "lock_etcd.h"
#include "opt.h"
#include "secrets_dir.h"
#include "util.h"

struct locks_args {
    const char *lock;
    struct etcd_lock_options eo;
};

static const struct cli_opt locks_opts[] = {
    CLI_OPTS_LOCK(struct locks_args, lock, eo),
    CLI_OPT_SECRETS_DIR,
};

static int run_locks(int argc, char **argv)
{
    struct locks_args a = {0};
    int urc = cli_parse_command(&command_locks, argc, argv, &a);
    if (urc)
        return urc;
    const char *url = lock_url(a.lock);
    if (!url)
        return cli_usage_error(&command_locks, "locks needs --lock etcd://HOST:PORT (or RMGR_LOCK)");
    a.eo.etcd.url = url;
    struct lock_view lv;
    if (lock_view_read(&a.eo.etcd, true, &lv) < 0)
        return EXIT_FAILURE_;
    const struct etcd_lock_info *v = lv.v;
    size_t n = lv.n;
    const struct strvec workers = lv.workers;
    printf("%-20s %-20s %-16s %-8s %-20s %-10s %-9s %s\n", "CLUSTER", "WORKER", "HOST", "PID",
           "SINCE", "COMMIT", "REVISION", "TTL");
    for (size_t i = 0; i < n; i++) {
        char ttl[32] = "?";
        if (v[i].ttl_left >= 0)
            snprintf(ttl, sizeof(ttl), "%llds", v[i].ttl_left);
        printf("%-20s %-20s %-16s %-8ld %-20s %-10.10s %-9lld %s\n", v[i].cluster, v[i].worker,
               v[i].host, v[i].pid, v[i].since, *v[i].commit ? v[i].commit : "-",
               v[i].revision, ttl);
    }
    printf("\n%zu cluster%s locked; %zu live worker%s%s", n, n == 1 ? "" : "s", workers.n,
           workers.n == 1 ? "" : "s", workers.n ? ":" : ".");
    for (size_t w = 0; w < workers.n; w++) {
        size_t cnt = 0;
        for (size_t i = 0; i < n; i++)
            cnt += str_eq(v[i].worker, workers.v[w]);
        printf(" %s %zu%s", workers.v[w], cnt, w + 1 < workers.n ? "," : "");
    }
    printf("\n");
    lock_view_release(&lv);
    return EXIT_OK;
}

const struct command command_locks = {
    "locks", run_locks, "who holds which cluster's lock in etcd (the fleet's spread)",
    .usage = "usage: rmgr locks --lock etcd://HOST:PORT[,HOST:PORT...] [options]\n"
             "\n"
             "List the keys /rmgr/lock/<cluster>: the worker that holds each (its host, pid,\n"
             "since when, the commit it applies), the key's create revision (the fencing\n"
             "token) and the seconds left on its lease; then the live workers registered\n"
             "under /rmgr/workers/ and how many clusters each holds.\n",
    CLI_COMMAND_OPTS(locks_opts),
    .epilog = "Exit status: 0 listed, 1 etcd could not be asked, 2 usage error.\n",
};
