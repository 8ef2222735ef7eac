/*
 * lock_cli.c - what `rmgr locks` and `rmgr unlock` both read first: every
 * cluster lock and every live worker, from one etcd connection.
 */
#include <stdio.h>
#include <stdlib.h>

#include "lock_cli.h"

int lock_view_read(const struct etcd_options *o, bool with_ttl, struct lock_view *view)
{
    char *err = NULL;
    *view = (struct lock_view){0};
    view->e = etcd_new(o, &err);
    if (!view->e || etcd_locks_list(view->e, with_ttl, &view->v, &view->n, &err) < 0 ||
        etcd_workers(view->e, &view->workers, &err) < 0) {
        fprintf(stderr, "rmgr: %s\n", err ? err : "etcd did not answer");
        free(err);
        lock_view_release(view);
        return -1;
    }
    return 0;
}

void lock_view_release(struct lock_view *view)
{
    strvec_release(&view->workers);
    etcd_lock_infos_free(view->v, view->n);
    etcd_free(view->e);
    *view = (struct lock_view){0};
}
