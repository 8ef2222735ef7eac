/*
 * backup.c - BGSAVE on one member per shard and a copy of its RDB (see
 * backup.h).
 */
#include "backup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "known_hosts.h"
#include "rclient.h"
#include "redis_parse.h"
#include "transport.h"
#include "util.h"

#define BACKUP_POLL_MS 100
#define BACKUP_COMMAND_TIMEOUT_MS 10000 /* a copy of a large RDB over ssh takes longer: see to */

/* ---------------------------------------------------------------- pure */

const struct spec_addr *backup_pick(const struct spec *s, const struct observed *o,
                                    size_t shard, const struct spec_addr *master,
                                    long long *lag)
{
    const struct spec_shard *sh = &s->shards[shard];
    const struct obs_redis *mo = observed_redis(o, master->ip, master->port);
    const struct spec_addr *best = NULL;
    long long best_off = -1;
    for (size_t k = 0; k <= sh->nreplicas; k++) {
        const struct spec_addr *x = k == 0 ? &sh->master : &sh->replicas[k - 1];
        const struct obs_redis *r = observed_redis(o, x->ip, x->port);
        if (!r || r->reach != REACH_OK || !str_eq(r->role, "slave") ||
            !str_eq(r->master_host, master->ip) || r->master_port != master->port ||
            !str_eq(r->master_link_status, "up") || r->loading)
            continue;
        if (r->slave_repl_offset > best_off) {
            best = x;
            best_off = r->slave_repl_offset;
        }
    }
    if (!best) {
        *lag = 0;
        return master;
    }
    long long moff = mo && mo->reach == REACH_OK ? mo->master_repl_offset : best_off;
    *lag = moff > best_off ? moff - best_off : 0;
    return best;
}

char *backup_path(const char *dir, const char *cluster, const char *shard, time_t t)
{
    struct tm tm;
    char ts[32];
    strftime(ts, sizeof(ts), "%Y%m%dT%H%M%SZ", gmtime_r(&t, &tm));
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    return xasprintf("%.*s/%s/%s/%s.rdb", (int)n, dir, cluster, shard, ts);
}

static void hex(const unsigned char *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

char *backup_checksum_line(const unsigned char *data, size_t len, const char *path)
{
    unsigned char d[32];
    char h[65];
    sha256_bytes(data, len, d);
    hex(d, 32, h);
    const char *base = strrchr(path, '/');
    return xasprintf("%s  %s\n", h, base ? base + 1 : path);
}

/* ---------------------------------------------------------------- I/O */

static long long lastsave(redisContext *c)
{
    redisReply *r = rclient_command(c, NULL, "LASTSAVE", NULL);
    long long t = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    rclient_reply_free(r);
    return t;
}

/* BGSAVE and wait until a save newer than the one before ended well. 0 or -1 with *err. */
static int bgsave_wait(redisContext *c, const char *where, long timeout_ms, char **err)
{
    long long before = lastsave(c);
    redisReply *r = rclient_command(c, NULL, "BGSAVE", NULL);
    bool started = r && r->type == REDIS_REPLY_STATUS;
    bool busy = r && r->type == REDIS_REPLY_ERROR && strstr(r->str, "in progress");
    if (!started && !busy) {
        *err = xasprintf("%s: BGSAVE: %s", where,
                         r && r->type == REDIS_REPLY_ERROR ? r->str : "no reply");
        rclient_reply_free(r);
        return -1;
    }
    rclient_reply_free(r);
    long long until = now_ms() + timeout_ms;
    for (;;) {
        redisReply *info = rclient_command(c, NULL, "INFO", "persistence", NULL);
        char *in = NULL, *status = NULL;
        if (info && info->type == REDIS_REPLY_STRING) {
            in = redis_info_field(info->str, "rdb_bgsave_in_progress");
            status = redis_info_field(info->str, "rdb_last_bgsave_status");
        }
        rclient_reply_free(info);
        bool done = str_eq(in, "0") && lastsave(c) > before;
        bool ok = str_eq(status, "ok");
        free(in);
        free(status);
        if (done && ok)
            return 0;
        if (done) {
            *err = xasprintf("%s: BGSAVE failed (rdb_last_bgsave_status not ok)", where);
            return -1;
        }
        if (now_ms() >= until) {
            *err = xasprintf("%s: BGSAVE did not finish in time", where);
            return -1;
        }
        sleep_ms(BACKUP_POLL_MS);
    }
}

static char *config_get(redisContext *c, const char *name)
{
    redisReply *r = rclient_command(c, NULL, "CONFIG", "GET", name, NULL);
    char *v = NULL, *e = NULL;
    redis_parse_config_get(r, &v, &e);
    free(e);
    rclient_reply_free(r);
    return v;
}

/* mkdir -p of path's directory on the manager. */
static int make_parent(struct transport *local, const char *path, char **err)
{
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    int rc = 0;
    if (slash && slash != dir) {
        *slash = '\0';
        rc = transport_mkdir(local, dir, 0700, err);
    }
    free(dir);
    return rc;
}

int backup_shard(const struct spec *s, const char *password, const struct spec_addr *a,
                 const char *path, long connect_timeout_ms, long timeout_ms,
                 struct backup_result *res, char **err)
{
    memset(res, 0, sizeof(*res));
    char *where = xasprintf("%s:%d", a->ip, a->port);
    struct rclient_opts ro = {connect_timeout_ms, BACKUP_COMMAND_TIMEOUT_MS};
    struct rclient_err e;
    int rc = -1;
    char *dir = NULL, *file = NULL, *rdb = NULL, *data = NULL, *sum = NULL;
    struct transport *t = NULL, *local = NULL;
    size_t len = 0;
    redisContext *c = rclient_connect(a->ip, a->port, &ro, password, &e);
    if (!c) {
        *err = rclient_connect_message(&e, a->ip, a->port);
        goto done;
    }
    if (bgsave_wait(c, where, timeout_ms, err) < 0)
        goto done;
    dir = config_get(c, "dir");
    file = config_get(c, "dbfilename");
    if (!dir || !file) {
        *err = xasprintf("%s: cannot read its dir and dbfilename", where);
        goto done;
    }
    rdb = file[0] == '/' ? xstrdup(file) : xasprintf("%s/%s", dir, file);
    struct transport_options to = {connect_timeout_ms, timeout_ms, false}; /* the copy */
    if (!(t = transport_open(s, a->host, &to, err)))
        goto done;
    int fr = transport_read_file(t, rdb, BACKUP_MAX_RDB_SIZE, &data, &len, err);
    if (fr != 0) {
        if (fr == 1)
            *err = xasprintf("%s: %s does not exist after BGSAVE", where, rdb);
        goto done;
    }
    if (!(local = transport_open(NULL, "127.0.0.1", &to, err)))
        goto done;
    char *sum_path = xasprintf("%s.sha256", path);
    sum = backup_checksum_line((const unsigned char *)data, len, path);
    int wr = make_parent(local, path, err);
    if (wr == 0)
        wr = transport_write_file(local, path, data, len, 0600, err);
    if (wr == 0)
        wr = transport_write_file(local, sum_path, sum, strlen(sum), 0600, err);
    free(sum_path);
    if (wr < 0)
        goto done;
    res->path = xstrdup(path);
    res->bytes = len;
    memcpy(res->sha256, sum, 64);
    res->sha256[64] = '\0';
    rc = 0;
done:
    rclient_close(c);
    transport_close(t);
    transport_close(local);
    free(where);
    free(dir);
    free(file);
    free(rdb);
    free(data);
    free(sum);
    return rc;
}
