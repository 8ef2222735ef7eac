/*
 * convert_redismgr.h - `rmgr convert redis-mgr CONF.py`: a redis-mgr
 * cluster dict (idning/redis-mgr's conf/conf.py) as an rmgr spec.
 *
 * The file is read with pylit.h (literal assignments only, never executed).
 * Shard names are redis-mgr's server names, the proxies keep redis-mgr's
 * nutcracker pool settings (hash, distribution, timeouts): nutcracker hashes
 * keys by server name, so every key stays on its shard. REDIS_MONITOR_EXTRA
 * (module-level, overridden by the cluster's own) becomes `alerts:`.
 *
 * Pure but for host names: a redis-mgr host that is not an IP address is
 * resolved through the caller's callback.
 */
#ifndef RMGR_CONVERT_REDISMGR_H
#define RMGR_CONVERT_REDISMGR_H

#include <stddef.h>

#include "diag.h"
#include "util.h"

struct convert_opts {
    const char *cluster; /* --cluster: the dict's variable name or its cluster_name; NULL: the only one */
    /* The IP literal of host `name` (caller frees), or NULL when it has none. */
    char *(*resolve)(const char *name, void *ctx);
    void *resolve_ctx;
};

/*
 * Convert `text` (len bytes; `file` names it in messages and the spec's
 * header) into a spec appended to `out`. Problems go to `d` with
 * file:line:col. Returns 0, or -1 when `d` got an error (`out` is then
 * incomplete).
 */
int convert_redismgr(const char *file, const char *text, size_t len,
                     const struct convert_opts *o, struct strbuf *out, struct diags *d);

#endif
