/*
 * observed_json.c - the observed model as JSON, and back (jansson).
 *
 * This is what `rmgr observe --json` prints and what planner fixtures
 * (tests/fixtures/plan/<case>/observed.json) contain. Field names are the
 * struct field names of observed.h:
 *
 *   {
 *     "took_ms": 12,
 *     "redis": [ {                      in spec order: per shard master, replicas
 *       "ip": "127.0.0.1", "port": 7001,
 *       "reach": "ok",                  ok|refused|timeout|auth|error|not-checked
 *       "reach_detail": "Connection refused" | null,
 *       "run_id": "...", "config_file": "..." (optional), "role": "master"|"slave",
 *       "version": "7.0.15", "executable": "/usr/bin/redis-server"   (optional, BUILD)
 *       "master_host": "127.0.0.1", "master_port": 7001,    when a replica
 *       "master_link_status": "up", "master_repl_offset": 0, "slave_repl_offset": 0,
 *       "connected_slaves": 1,
 *       "replicas": [ {"ip", "port", "state", "offset"} ],
 *       "keys": 0, "loading": false,
 *       "config": { "maxmemory": "268435456" },             CONFIG GET of managed keys
 *       "files": FILES } ],
 *     "sentinels": [ {
 *       "ip", "port", "reach", "reach_detail", "run_id", BUILD,
 *       "requirepass": "<secret>"|"", "sentinel_pass": "<secret>"|"<secret-mismatch>"|"",
 *                                       only with auth: and when learned
 *       "masters": [ {                  one SENTINEL MASTERS entry
 *         "name": "shard1", "ip", "port", "flags": "master",
 *         "quorum": 2, "down_after_ms": 5000, "failover_timeout_ms": 60000,
 *         "parallel_syncs": 1, "config_epoch": 0, "num_other_sentinels": 2,
 *         "failover_state": "wait_promotion", "odown_ms": 1200,   only while set
 *         "replicas": [ PEER ], "sentinels": [ PEER ] } ],
 *       "files": FILES } ],
 *     "proxies": [ {
 *       "ip", "listen_port", "stats_port", "reach", "reach_detail",
 *       "uptime_s", "timestamp_s", BUILD,
 *       "config_present": true, "config_text": "...", "config_mtime_s": 0,
 *       "files": FILES } ],
 *     "programs": [ {"host", "path", "version"} ]   only when observation probed any:
 *                                   `PATH --version` of the spec's program where an
 *                                   instance runs another (the upgrade's "will run")
 *   }
 *   FILES = { "checked": true, "error": null, "dir_present": true,
 *             "conf_present": true, "conf": { "maxmemory": "256mb" } }
 *   BUILD = "version", "executable": each only when known (older observations have none)
 *   PEER  = { "ip", "port", "flags", "runid",
 *             "voted_leader", "voted_leader_epoch" }   the last two: sentinels, when known
 *
 * Reading: every key may be left out (0, false, null, empty) except "ip",
 * "port" (or "listen_port") and "reach"; an unknown key is an error, so a
 * typo in a fixture cannot pass silently. Secrets never appear here:
 * observation stores CONF_SECRET_PLACEHOLDER in their place (conf.h).
 */
#include "observed.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "json_out.h"
#include "util.h"

/* ---------------------------------------------------------------- writing */

static json_t *kv_to_json(const struct obs_kv *kv, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++)
        if (kv[i].key)
            json_set_text_key(o, kv[i].key, json_str_or_null(kv[i].value));
    return o;
}

static json_t *files_to_json(const struct obs_files *f)
{
    return json_pack("{s:b, s:o, s:b, s:b, s:o}", "checked", f->checked, "error",
                     json_str_or_null(f->error), "dir_present", f->dir_present, "conf_present",
                     f->conf_present, "conf", kv_to_json(f->conf, f->nconf));
}

static json_t *peers_to_json(const struct obs_sentinel_peer *p, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_pack("{s:o, s:i, s:o, s:o}", "ip", json_str_or_null(p[i].ip), "port",
                              p[i].port, "flags", json_str_or_null(p[i].flags), "runid",
                              json_str_or_null(p[i].runid));
        /* a sentinel's vote matters only around a failover: written when known */
        if (p[i].voted_leader) {
            json_object_set_new(x, "voted_leader", json_text(p[i].voted_leader));
            json_object_set_new(x, "voted_leader_epoch", json_integer(p[i].voted_leader_epoch));
        }
        json_array_append_new(a, x);
    }
    return a;
}

/* What a redis and a sentinel write first: where, whether it was reached, its run id. */
static json_t *instance_to_json(const char *ip, int port, enum reach reach,
                                const char *reach_detail, const char *run_id)
{
    json_t *o = json_object();
    json_object_set_new(o, "ip", json_str_or_null(ip));
    json_object_set_new(o, "port", json_integer(port));
    json_object_set_new(o, "reach", json_text(reach_name(reach)));
    json_object_set_new(o, "reach_detail", json_str_or_null(reach_detail));
    json_object_set_new(o, "run_id", json_str_or_null(run_id));
    return o;
}

/* "version" and "executable" into o, each only when known */
static void build_to_json(json_t *o, const struct obs_build *b)
{
    if (b->version)
        json_object_set_new(o, "version", json_string(b->version));
    if (b->executable)
        json_object_set_new(o, "executable", json_string(b->executable));
}

static json_t *redis_to_json(const struct obs_redis *r)
{
    json_t *o = instance_to_json(r->ip, r->port, r->reach, r->reach_detail, r->run_id);
    if (r->config_file) /* only when known: older observations have none */
        json_object_set_new(o, "config_file", json_string(r->config_file));
    build_to_json(o, &r->build);
    json_object_set_new(o, "role", json_str_or_null(r->role));
    json_object_set_new(o, "master_host", json_str_or_null(r->master_host));
    json_object_set_new(o, "master_port", json_integer(r->master_port));
    json_object_set_new(o, "master_link_status", json_str_or_null(r->master_link_status));
    json_object_set_new(o, "master_repl_offset", json_integer(r->master_repl_offset));
    json_object_set_new(o, "slave_repl_offset", json_integer(r->slave_repl_offset));
    json_object_set_new(o, "connected_slaves", json_integer(r->connected_slaves));
    json_t *reps = json_array();
    for (size_t i = 0; i < r->nreplicas; i++) {
        const struct obs_redis_replica *x = &r->replicas[i];
        json_array_append_new(reps, json_pack("{s:o, s:i, s:o, s:I}", "ip", json_str_or_null(x->ip),
                                              "port", x->port, "state",
                                              json_str_or_null(x->state), "offset",
                                              (json_int_t)x->offset));
    }
    json_object_set_new(o, "replicas", reps);
    json_object_set_new(o, "keys", json_integer(r->keys));
    json_object_set_new(o, "loading", json_boolean(r->loading));
    json_object_set_new(o, "config", kv_to_json(r->config, r->nconfig));
    json_object_set_new(o, "files", files_to_json(&r->files));
    /* what alert rules asked for, only when they did */
    if (r->ninfo_num) {
        json_t *info = json_object();
        for (size_t i = 0; i < r->ninfo_num; i++)
            json_object_set_new(info, r->info_num[i].key, json_real(r->info_num[i].value));
        json_object_set_new(o, "info", info);
    }
    if (r->slowlog_checked)
        json_object_set_new(o, "slowlog", json_pack("{s:I, s:I}", "len", (json_int_t)r->slowlog_len,
                                                    "last_id", (json_int_t)r->slowlog_last_id));
    return o;
}

static json_t *sentinel_to_json(const struct obs_sentinel *s)
{
    json_t *o = instance_to_json(s->ip, s->port, s->reach, s->reach_detail, s->run_id);
    build_to_json(o, &s->build);
    json_t *ms = json_array();
    for (size_t i = 0; i < s->nmasters; i++) {
        const struct obs_sentinel_master *m = &s->masters[i];
        json_t *x = json_object();
        json_object_set_new(x, "name", json_str_or_null(m->name));
        json_object_set_new(x, "ip", json_str_or_null(m->ip));
        json_object_set_new(x, "port", json_integer(m->port));
        json_object_set_new(x, "flags", json_str_or_null(m->flags));
        json_object_set_new(x, "quorum", json_integer(m->quorum));
        json_object_set_new(x, "down_after_ms", json_integer(m->down_after_ms));
        json_object_set_new(x, "failover_timeout_ms", json_integer(m->failover_timeout_ms));
        json_object_set_new(x, "parallel_syncs", json_integer(m->parallel_syncs));
        json_object_set_new(x, "config_epoch", json_integer(m->config_epoch));
        json_object_set_new(x, "num_other_sentinels", json_integer(m->num_other_sentinels));
        /* present only while a failover runs / the master is objectively down */
        if (m->failover_state)
            json_object_set_new(x, "failover_state", json_text(m->failover_state));
        if (m->odown_ms >= 0)
            json_object_set_new(x, "odown_ms", json_integer(m->odown_ms));
        json_object_set_new(x, "replicas", peers_to_json(m->replicas, m->nreplicas));
        json_object_set_new(x, "sentinels", peers_to_json(m->sentinels, m->nsentinels));
        json_array_append_new(ms, x);
    }
    if (s->requirepass)
        json_object_set_new(o, "requirepass", json_text(s->requirepass));
    if (s->sentinel_pass)
        json_object_set_new(o, "sentinel_pass", json_text(s->sentinel_pass));
    json_object_set_new(o, "masters", ms);
    json_object_set_new(o, "files", files_to_json(&s->files));
    return o;
}

static json_t *proxy_to_json(const struct obs_proxy *p)
{
    json_t *o = json_object();
    json_object_set_new(o, "ip", json_str_or_null(p->ip));
    json_object_set_new(o, "listen_port", json_integer(p->listen_port));
    json_object_set_new(o, "stats_port", json_integer(p->stats_port));
    json_object_set_new(o, "reach", json_text(reach_name(p->reach)));
    json_object_set_new(o, "reach_detail", json_str_or_null(p->reach_detail));
    json_object_set_new(o, "uptime_s", json_integer(p->uptime_s));
    json_object_set_new(o, "timestamp_s", json_integer(p->timestamp_s));
    build_to_json(o, &p->build);
    json_object_set_new(o, "config_present", json_boolean(p->config_present));
    json_object_set_new(o, "config_text", json_str_or_null(p->config_text));
    json_object_set_new(o, "config_mtime_s", json_integer(p->config_mtime_s));
    json_object_set_new(o, "files", files_to_json(&p->files));
    if (p->pool_stats)
        json_object_set_new(o, "pool", json_pack("{s:I, s:I}", "forward_error",
                                                 (json_int_t)p->forward_error, "server_ejects",
                                                 (json_int_t)p->server_ejects));
    return o;
}

char *observed_to_json(const struct observed *o)
{
    json_t *root = json_object();
    json_object_set_new(root, "took_ms", json_integer(o->took_ms));
    json_t *a = json_array();
    for (size_t i = 0; i < o->nredis; i++)
        json_array_append_new(a, redis_to_json(&o->redis[i]));
    json_object_set_new(root, "redis", a);
    a = json_array();
    for (size_t i = 0; i < o->nsentinels; i++)
        json_array_append_new(a, sentinel_to_json(&o->sentinels[i]));
    json_object_set_new(root, "sentinels", a);
    a = json_array();
    for (size_t i = 0; i < o->nproxies; i++)
        json_array_append_new(a, proxy_to_json(&o->proxies[i]));
    json_object_set_new(root, "proxies", a);
    if (o->nprograms) { /* only when probed: most observations have none */
        a = json_array();
        for (size_t i = 0; i < o->nprograms; i++)
            json_array_append_new(a, json_pack("{s:o, s:o, s:o}", "host",
                                               json_str_or_null(o->programs[i].host), "path",
                                               json_str_or_null(o->programs[i].path), "version",
                                               json_str_or_null(o->programs[i].version)));
        json_object_set_new(root, "programs", a);
    }

    return json_out_doc(root);
}

/* ---------------------------------------------------------------- reading */

/* Parse state: the first error wins, with the path of the value it is about. */
struct rd {
    char *err;
};

static void rd_fail(struct rd *rd, const char *path, const char *fmt, ...) RMGR_PRINTF(3, 4);

static void rd_fail(struct rd *rd, const char *path, const char *fmt, ...)
{
    if (rd->err)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    rd->err = xasprintf("%s: %s", path, msg);
    free(msg);
}

/* Keys an object may have; anything else is reported. */
static void rd_check_keys(struct rd *rd, const char *path, json_t *obj,
                          const char *const *allowed, size_t n)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        bool ok = false;
        for (size_t i = 0; i < n && !ok; i++)
            ok = !strcmp(allowed[i], key);
        if (!ok)
            rd_fail(rd, path, "unknown key '%s'", key);
    }
}

/*
 * obj[key] when it has `type` (JSON_TRUE for either boolean); NULL when it is
 * absent or null, and when it has another type after "'key' must be WHAT".
 */
static json_t *rd_get(struct rd *rd, const char *path, json_t *obj, const char *key,
                      json_type type, const char *what)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return NULL;
    json_type t = json_typeof(v) == JSON_FALSE ? JSON_TRUE : json_typeof(v);
    if (t != type) {
        rd_fail(rd, path, "'%s' must be %s", key, what);
        return NULL;
    }
    return v;
}

static char *rd_str(struct rd *rd, const char *path, json_t *obj, const char *key)
{
    json_t *v = rd_get(rd, path, obj, key, JSON_STRING, "a string");
    return v ? xstrdup(json_string_value(v)) : NULL;
}

static long long rd_int(struct rd *rd, const char *path, json_t *obj, const char *key)
{
    json_t *v = rd_get(rd, path, obj, key, JSON_INTEGER, "an integer");
    return v ? json_integer_value(v) : 0;
}

static int rd_port(struct rd *rd, const char *path, json_t *obj, const char *key, bool required)
{
    json_t *v = json_object_get(obj, key);
    if (!v && required) {
        rd_fail(rd, path, "'%s' is missing", key);
        return 0;
    }
    long long p = rd_int(rd, path, obj, key);
    if (p < 0 || p > 65535)
        rd_fail(rd, path, "'%s' is not a port: %lld", key, p);
    return (int)p;
}

static bool rd_bool(struct rd *rd, const char *path, json_t *obj, const char *key)
{
    json_t *v = rd_get(rd, path, obj, key, JSON_TRUE, "true or false");
    return v && json_is_true(v);
}

static enum reach rd_reach(struct rd *rd, const char *path, json_t *obj)
{
    enum reach r = REACH_NOT_CHECKED;
    json_t *v = json_object_get(obj, "reach");
    if (!v) {
        rd_fail(rd, path, "'reach' is missing");
    } else if (!json_is_string(v) || !reach_from_name(json_string_value(v), &r)) {
        rd_fail(rd, path, "'reach' must be one of ok, refused, timeout, auth, error, not-checked");
    }
    return r;
}

static json_t *rd_array(struct rd *rd, const char *path, json_t *obj, const char *key)
{
    return rd_get(rd, path, obj, key, JSON_ARRAY, "an array");
}

static bool rd_is_object(struct rd *rd, const char *path, json_t *v)
{
    if (json_is_object(v))
        return true;
    rd_fail(rd, path, "must be an object");
    return false;
}

static size_t rd_kv(struct rd *rd, const char *path, json_t *obj, const char *key,
                    struct obs_kv **out)
{
    *out = NULL;
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_object(v)) {
        rd_fail(rd, path, "'%s' must be an object of strings", key);
        return 0;
    }
    size_t n = 0, cap = 0;
    const char *k;
    json_t *x;
    json_object_foreach(v, k, x) {
        if (!json_is_string(x) && !json_is_null(x)) {
            rd_fail(rd, path, "'%s.%s' must be a string", key, k);
            continue;
        }
        VEC_GROW(*out, n, cap);
        (*out)[n].key = xstrdup(k);
        (*out)[n].value = xstrdup(json_string_value(x));
        n++;
    }
    return n;
}

static void rd_files(struct rd *rd, const char *path, json_t *obj, struct obs_files *f)
{
    static const char *const keys[] = {"checked", "error", "dir_present", "conf_present", "conf"};
    json_t *v = json_object_get(obj, "files");
    if (!v || json_is_null(v))
        return;
    char *p = xasprintf("%s.files", path);
    if (rd_is_object(rd, p, v)) {
        rd_check_keys(rd, p, v, keys, ARRAY_SIZE(keys));
        f->checked = rd_bool(rd, p, v, "checked");
        f->error = rd_str(rd, p, v, "error");
        f->dir_present = rd_bool(rd, p, v, "dir_present");
        f->conf_present = rd_bool(rd, p, v, "conf_present");
        f->nconf = rd_kv(rd, p, v, "conf", &f->conf);
    }
    free(p);
}

/* Reads one element of an array into `out` (zeroed); `path` names it in errors. */
typedef void (*rd_elem_fn)(struct rd *rd, const char *path, json_t *v, void *out);

/*
 * The array `key` of `obj` read element by element with `fn` into a new
 * vector of elements of `size` bytes, *n of them (NULL and 0 when the array
 * is absent, null or empty). Elements are named "PATH.KEY[i]" ("KEY[i]"
 * when path is NULL) in errors.
 */
static void *rd_objects(struct rd *rd, const char *path, json_t *obj, const char *key,
                        size_t size, size_t *n, rd_elem_fn fn)
{
    *n = 0;
    json_t *a = rd_array(rd, path ? path : "observed", obj, key);
    if (!a || !json_array_size(a))
        return NULL;
    char *vec = xcalloc(json_array_size(a), size);
    size_t i;
    json_t *x;
    json_array_foreach(a, i, x) {
        char *p = path ? xasprintf("%s.%s[%zu]", path, key, i) : xasprintf("%s[%zu]", key, i);
        fn(rd, p, x, vec + i * size);
        free(p);
    }
    *n = json_array_size(a);
    return vec;
}

/* An object with exactly the keys `allowed` (some may be left out). */
static bool rd_object(struct rd *rd, const char *path, json_t *v, const char *const *allowed,
                      size_t n)
{
    if (!rd_is_object(rd, path, v))
        return false;
    rd_check_keys(rd, path, v, allowed, n);
    return true;
}

/*
 * What every observed instance has: "ip" and the port `port_key` (both
 * required), "reach" and "reach_detail".
 */
static void rd_instance(struct rd *rd, const char *path, json_t *v, char **ip,
                        const char *port_key, int *port, enum reach *reach, char **reach_detail)
{
    *ip = rd_str(rd, path, v, "ip");
    if (!*ip)
        rd_fail(rd, path, "'ip' is missing");
    *port = rd_port(rd, path, v, port_key, true);
    *reach = rd_reach(rd, path, v);
    *reach_detail = rd_str(rd, path, v, "reach_detail");
}

static void rd_replica(struct rd *rd, const char *path, json_t *v, void *out)
{
    static const char *const keys[] = {"ip", "port", "state", "offset"};
    struct obs_redis_replica *rr = out;
    if (!rd_object(rd, path, v, keys, ARRAY_SIZE(keys)))
        return;
    rr->ip = rd_str(rd, path, v, "ip");
    rr->port = rd_port(rd, path, v, "port", false);
    rr->state = rd_str(rd, path, v, "state");
    rr->offset = rd_int(rd, path, v, "offset");
}

static void rd_build(struct rd *rd, const char *path, json_t *v, struct obs_build *b)
{
    b->version = rd_str(rd, path, v, "version");
    b->executable = rd_str(rd, path, v, "executable");
}

static void rd_redis(struct rd *rd, const char *path, json_t *v, void *out)
{
    static const char *const keys[] = {
        "ip", "port", "reach", "reach_detail", "run_id", "config_file", "role", "master_host",
        "master_port", "master_link_status", "master_repl_offset", "slave_repl_offset", "connected_slaves",
        "replicas", "keys", "loading", "config", "files", "info", "slowlog",
        "version", "executable"};
    struct obs_redis *r = out;
    if (!rd_object(rd, path, v, keys, ARRAY_SIZE(keys)))
        return;
    rd_instance(rd, path, v, &r->ip, "port", &r->port, &r->reach, &r->reach_detail);
    r->run_id = rd_str(rd, path, v, "run_id");
    r->config_file = rd_str(rd, path, v, "config_file");
    rd_build(rd, path, v, &r->build);
    r->role = rd_str(rd, path, v, "role");
    r->master_host = rd_str(rd, path, v, "master_host");
    r->master_port = rd_port(rd, path, v, "master_port", false);
    r->master_link_status = rd_str(rd, path, v, "master_link_status");
    r->master_repl_offset = rd_int(rd, path, v, "master_repl_offset");
    r->slave_repl_offset = rd_int(rd, path, v, "slave_repl_offset");
    r->connected_slaves = (int)rd_int(rd, path, v, "connected_slaves");
    r->replicas = rd_objects(rd, path, v, "replicas", sizeof(*r->replicas), &r->nreplicas,
                             rd_replica);
    r->keys = rd_int(rd, path, v, "keys");
    r->loading = rd_bool(rd, path, v, "loading");
    r->nconfig = rd_kv(rd, path, v, "config", &r->config);
    rd_files(rd, path, v, &r->files);
    json_t *info = json_object_get(v, "info");
    if (info && rd_is_object(rd, path, info)) {
        r->info_num = xcalloc(json_object_size(info) + 1, sizeof(*r->info_num));
        const char *k;
        json_t *x;
        json_object_foreach(info, k, x) {
            if (!json_is_number(x)) {
                rd_fail(rd, path, "'info.%s' is not a number", k);
                break;
            }
            r->info_num[r->ninfo_num].key = xstrdup(k);
            r->info_num[r->ninfo_num++].value = json_number_value(x);
        }
    }
    json_t *sl = json_object_get(v, "slowlog");
    if (sl && rd_is_object(rd, path, sl)) {
        r->slowlog_checked = true;
        r->slowlog_len = rd_int(rd, path, sl, "len");
        r->slowlog_last_id = rd_int(rd, path, sl, "last_id");
    }
}

static void rd_peer(struct rd *rd, const char *path, json_t *v, void *out)
{
    static const char *const keys[] = {"ip",    "port",         "flags",
                                       "runid", "voted_leader", "voted_leader_epoch"};
    struct obs_sentinel_peer *pe = out;
    if (!rd_object(rd, path, v, keys, ARRAY_SIZE(keys)))
        return;
    pe->ip = rd_str(rd, path, v, "ip");
    pe->port = rd_port(rd, path, v, "port", false);
    pe->flags = rd_str(rd, path, v, "flags");
    pe->runid = rd_str(rd, path, v, "runid");
    pe->voted_leader = rd_str(rd, path, v, "voted_leader");
    pe->voted_leader_epoch = rd_int(rd, path, v, "voted_leader_epoch");
}

static void rd_master(struct rd *rd, const char *path, json_t *v, void *out)
{
    static const char *const keys[] = {
        "name",           "ip",           "port",        "flags",
        "quorum",         "down_after_ms", "failover_timeout_ms", "parallel_syncs",
        "config_epoch",   "num_other_sentinels", "replicas", "sentinels",
        "failover_state", "odown_ms"};
    struct obs_sentinel_master *m = out;
    if (!rd_object(rd, path, v, keys, ARRAY_SIZE(keys)))
        return;
    m->name = rd_str(rd, path, v, "name");
    if (!m->name)
        rd_fail(rd, path, "'name' is missing");
    m->ip = rd_str(rd, path, v, "ip");
    m->port = rd_port(rd, path, v, "port", false);
    m->flags = rd_str(rd, path, v, "flags");
    m->quorum = (int)rd_int(rd, path, v, "quorum");
    m->down_after_ms = (long)rd_int(rd, path, v, "down_after_ms");
    m->failover_timeout_ms = (long)rd_int(rd, path, v, "failover_timeout_ms");
    m->parallel_syncs = (int)rd_int(rd, path, v, "parallel_syncs");
    m->config_epoch = rd_int(rd, path, v, "config_epoch");
    m->num_other_sentinels = (int)rd_int(rd, path, v, "num_other_sentinels");
    m->failover_state = rd_str(rd, path, v, "failover_state");
    m->odown_ms = json_object_get(v, "odown_ms") ? rd_int(rd, path, v, "odown_ms") : -1;
    m->replicas = rd_objects(rd, path, v, "replicas", sizeof(*m->replicas), &m->nreplicas,
                             rd_peer);
    m->sentinels = rd_objects(rd, path, v, "sentinels", sizeof(*m->sentinels), &m->nsentinels,
                              rd_peer);
}

static void rd_sentinel(struct rd *rd, const char *path, json_t *v, void *out)
{
    static const char *const keys[] = {"ip",           "port",         "reach",
                                       "reach_detail", "run_id",       "requirepass",
                                       "sentinel_pass", "masters",     "files",
                                       "version",      "executable"};
    struct obs_sentinel *s = out;
    if (!rd_object(rd, path, v, keys, ARRAY_SIZE(keys)))
        return;
    rd_instance(rd, path, v, &s->ip, "port", &s->port, &s->reach, &s->reach_detail);
    s->run_id = rd_str(rd, path, v, "run_id");
    rd_build(rd, path, v, &s->build);
    s->requirepass = rd_str(rd, path, v, "requirepass");
    s->sentinel_pass = rd_str(rd, path, v, "sentinel_pass");
    s->masters =
        rd_objects(rd, path, v, "masters", sizeof(*s->masters), &s->nmasters, rd_master);
    rd_files(rd, path, v, &s->files);
}

static void rd_proxy(struct rd *rd, const char *path, json_t *v, void *out)
{
    static const char *const keys[] = {
        "ip",          "listen_port",    "stats_port",  "reach",          "reach_detail",
        "uptime_s",    "timestamp_s",    "config_present", "config_text", "config_mtime_s",
        "files",       "pool",        "version",        "executable"};
    struct obs_proxy *p = out;
    if (!rd_object(rd, path, v, keys, ARRAY_SIZE(keys)))
        return;
    rd_instance(rd, path, v, &p->ip, "listen_port", &p->listen_port, &p->reach,
                &p->reach_detail);
    p->stats_port = rd_port(rd, path, v, "stats_port", false);
    p->uptime_s = rd_int(rd, path, v, "uptime_s");
    p->timestamp_s = rd_int(rd, path, v, "timestamp_s");
    rd_build(rd, path, v, &p->build);
    p->config_present = rd_bool(rd, path, v, "config_present");
    p->config_text = rd_str(rd, path, v, "config_text");
    p->config_mtime_s = rd_int(rd, path, v, "config_mtime_s");
    rd_files(rd, path, v, &p->files);
    json_t *pool = json_object_get(v, "pool");
    if (pool && rd_is_object(rd, path, pool)) {
        p->pool_stats = true;
        p->forward_error = rd_int(rd, path, pool, "forward_error");
        p->server_ejects = rd_int(rd, path, pool, "server_ejects");
    }
}

static void rd_program(struct rd *rd, const char *path, json_t *v, void *out)
{
    static const char *const keys[] = {"host", "path", "version"};
    struct obs_program *p = out;
    if (!rd_object(rd, path, v, keys, ARRAY_SIZE(keys)))
        return;
    p->host = rd_str(rd, path, v, "host");
    p->path = rd_str(rd, path, v, "path");
    p->version = rd_str(rd, path, v, "version");
}

struct observed *observed_from_json(const char *text, char **err)
{
    static const char *const keys[] = {"took_ms", "redis", "sentinels", "proxies", "programs"};
    struct rd rd = {0};
    json_error_t jerr;
    *err = NULL;
    json_t *root = json_loads(text ? text : "", 0, &jerr);
    if (!root) {
        *err = xasprintf("line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    struct observed *o = xcalloc(1, sizeof(*o));
    if (rd_is_object(&rd, "observed", root)) {
        rd_check_keys(&rd, "observed", root, keys, ARRAY_SIZE(keys));
        o->took_ms = rd_int(&rd, "observed", root, "took_ms");
        o->redis = rd_objects(&rd, NULL, root, "redis", sizeof(*o->redis), &o->nredis, rd_redis);
        o->sentinels = rd_objects(&rd, NULL, root, "sentinels", sizeof(*o->sentinels),
                                  &o->nsentinels, rd_sentinel);
        o->proxies = rd_objects(&rd, NULL, root, "proxies", sizeof(*o->proxies), &o->nproxies,
                                rd_proxy);
        o->programs = rd_objects(&rd, NULL, root, "programs", sizeof(*o->programs),
                                 &o->nprograms, rd_program);
    }
    json_decref(root);
    if (rd.err) {
        *err = rd.err;
        observed_free(o);
        return NULL;
    }
    return o;
}
