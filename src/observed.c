/*
 * observed.c - lifetime and lookups for the observed model (observed.h).
 * Observation itself is in observe.c, the JSON form in observed_json.c.
 */
#include "observed.h"

#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "util.h"

static const char *const reach_names[] = {
    [REACH_OK] = "ok",           [REACH_REFUSED] = "refused", [REACH_TIMEOUT] = "timeout",
    [REACH_AUTH] = "auth",       [REACH_ERROR] = "error",     [REACH_NOT_CHECKED] = "not-checked",
};

const char *reach_name(enum reach r)
{
    if ((size_t)r < ARRAY_SIZE(reach_names) && reach_names[r])
        return reach_names[r];
    return "unknown";
}

bool reach_from_name(const char *name, enum reach *out)
{
    if (!name)
        return false;
    for (size_t i = 0; i < ARRAY_SIZE(reach_names); i++) {
        if (reach_names[i] && !strcmp(reach_names[i], name)) {
            *out = (enum reach)i;
            return true;
        }
    }
    return false;
}

static void files_release(struct obs_files *f)
{
    free(f->error);
    obs_kv_free_array(f->conf, f->nconf);
}

static void peer_release(struct obs_sentinel_peer *p)
{
    free(p->ip);
    free(p->flags);
    free(p->runid);
    free(p->voted_leader);
}

void obs_sentinel_peers_free(struct obs_sentinel_peer *p, size_t n)
{
    ARRAY_FREE(p, n, peer_release);
}

void obs_sentinel_masters_free(struct obs_sentinel_master *m, size_t n)
{
    for (size_t i = 0; m && i < n; i++) {
        free(m[i].name);
        free(m[i].ip);
        free(m[i].flags);
        free(m[i].failover_state);
        obs_sentinel_peers_free(m[i].replicas, m[i].nreplicas);
        obs_sentinel_peers_free(m[i].sentinels, m[i].nsentinels);
    }
    free(m);
}

static void replica_release(struct obs_redis_replica *rr)
{
    free(rr->ip);
    free(rr->state);
}

void obs_redis_release(struct obs_redis *r)
{
    for (size_t i = 0; i < r->ninfo_num; i++)
        free(r->info_num[i].key);
    free(r->info_num);
    free(r->ip);
    free(r->reach_detail);
    free(r->run_id);
    free(r->config_file);
    obs_build_release(&r->build);
    free(r->role);
    free(r->master_host);
    free(r->master_link_status);
    ARRAY_FREE(r->replicas, r->nreplicas, replica_release);
    obs_kv_free_array(r->config, r->nconfig);
    files_release(&r->files);
}

static void sentinel_release(struct obs_sentinel *s)
{
    free(s->ip);
    free(s->reach_detail);
    free(s->run_id);
    obs_build_release(&s->build);
    free(s->requirepass);
    free(s->sentinel_pass);
    obs_sentinel_masters_free(s->masters, s->nmasters);
    files_release(&s->files);
}

static void proxy_release(struct obs_proxy *p)
{
    free(p->ip);
    free(p->reach_detail);
    free(p->config_text);
    obs_build_release(&p->build);
    files_release(&p->files);
}

static void program_release(struct obs_program *p)
{
    free(p->host);
    free(p->path);
    free(p->version);
}

const char *observed_program_version(const struct observed *o, const char *host,
                                     const char *path)
{
    for (size_t i = 0; o && i < o->nprograms; i++)
        if (str_eq(o->programs[i].host, host) && str_eq(o->programs[i].path, path))
            return o->programs[i].version;
    return NULL;
}

void obs_build_release(struct obs_build *b)
{
    free(b->version);
    free(b->executable);
    b->version = b->executable = NULL;
    b->pid = 0;
}

void observed_free(struct observed *o)
{
    if (!o)
        return;
    ARRAY_FREE(o->redis, o->nredis, obs_redis_release);
    ARRAY_FREE(o->sentinels, o->nsentinels, sentinel_release);
    ARRAY_FREE(o->proxies, o->nproxies, proxy_release);
    ARRAY_FREE(o->programs, o->nprograms, program_release);
    free(o);
}

const struct obs_redis *observed_redis(const struct observed *o, const char *ip, int port)
{
    if (!o || !ip)
        return NULL;
    for (size_t i = 0; i < o->nredis; i++)
        if (o->redis[i].port == port && str_eq(o->redis[i].ip, ip))
            return &o->redis[i];
    return NULL;
}

const struct obs_sentinel *observed_sentinel(const struct observed *o, const char *ip, int port)
{
    if (!o || !ip)
        return NULL;
    for (size_t i = 0; i < o->nsentinels; i++)
        if (o->sentinels[i].port == port && str_eq(o->sentinels[i].ip, ip))
            return &o->sentinels[i];
    return NULL;
}

const char *obs_kv_get(const struct obs_kv *kv, size_t n, const char *key)
{
    if (!key)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (str_eq(kv[i].key, key))
            return kv[i].value;
    return NULL;
}

bool obs_num_get(const struct obs_redis *r, const char *key, double *out)
{
    for (size_t i = 0; r && i < r->ninfo_num; i++) {
        if (!strcmp(r->info_num[i].key, key)) {
            *out = r->info_num[i].value;
            return true;
        }
    }
    return false;
}
