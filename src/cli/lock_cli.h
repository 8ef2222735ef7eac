/*
 * lock_cli.h - the command-line options of the etcd lock (lock_etcd.h),
 * shared by apply, destroy, reconcile, locks and unlock:
 *   --lock etcd://HOST:PORT[,HOST:PORT...]   (also $RMGR_LOCK; default: the file lock)
 *   --lock-cacert FILE, --lock-cert FILE, --lock-key FILE   (TLS: https to the members)
 *   --lock-user-file FILE   USER:PASSWORD, under the secrets directory
 *   --lock-ttl DUR          the leases' TTL (default 10s)
 */
#ifndef RMGR_LOCK_CLI_H
#define RMGR_LOCK_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "lock_etcd.h"
#include "opt.h"
#include "util.h"

/* The rows; `url` a const char * member of T, `eo` a struct etcd_lock_options member. */
#define CLI_OPTS_LOCK(T, url, eo)                                                           \
    {CLI_OPT_STRING, 0, "lock", offsetof(T, url), .arg = "etcd://HOST:PORT[,...]",          \
     .help = "take the cluster's lock in etcd (also $RMGR_LOCK;\n"                          \
             "default: the local lock file)"},                                              \
    {CLI_OPT_STRING, 0, "lock-cacert", offsetof(T, eo.etcd.cacert), .arg = "FILE",          \
     .help = "verify the etcd members with this CA (https)"},                               \
    {CLI_OPT_STRING, 0, "lock-cert", offsetof(T, eo.etcd.cert), .arg = "FILE",              \
     .help = "client certificate for etcd (https)"},                                        \
    {CLI_OPT_STRING, 0, "lock-key", offsetof(T, eo.etcd.key), .arg = "FILE",                \
     .help = "the client certificate's key"},                                               \
    {CLI_OPT_STRING, 0, "lock-user-file", offsetof(T, eo.etcd.user_file), .arg = "FILE",    \
     .help = "etcd user as one line USER:PASSWORD, a file under\n"                          \
             "the secrets directory"},                                                      \
    {CLI_OPT_DURATION, 0, "lock-ttl", offsetof(T, eo.ttl_ms), NULL, 1000, 0, "10s, 30s",    \
     .arg = "DUR", .help = "TTL of the etcd leases (default 10s): a holder that\n"          \
                           "dies is replaced after at most this long"}

/* Every lock and every live worker (locks, unlock). */
struct lock_view {
    struct etcd *e;
    struct etcd_lock_info *v;
    size_t n;
    struct strvec workers;
};
/* Connects and reads them; on failure prints why and returns -1 (view empty). */
int lock_view_read(const struct etcd_options *o, bool with_ttl, struct lock_view *view);
void lock_view_release(struct lock_view *view);

#endif
