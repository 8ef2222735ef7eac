/*
 * spec.c - the spec model: lookups (hosts, shards, instance directories),
 * the cluster password, and freeing. Loading is in spec_load.c. See spec.h.
 */
#include "spec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* ---- freeing ------------------------------------------------------------ */

static void ssh_release(struct spec_ssh *ssh)
{
    free(ssh->user);
    free(ssh->identity);
    free(ssh->known_hosts);
}

void spec_addr_release(struct spec_addr *a)
{
    free(a->host);
    free(a->ip);
}

static void host_release(struct spec_host *h)
{
    free(h->name);
    free(h->address);
    ssh_release(&h->ssh);
}

static void kv_release(struct spec_kv *kv)
{
    free(kv->key);
    free(kv->value);
}

static void shard_release(struct spec_shard *sh)
{
    free(sh->name);
    spec_addr_release(&sh->master);
    ARRAY_FREE(sh->replicas, sh->nreplicas, spec_addr_release);
}

static void proxy_release(struct spec_proxy *p)
{
    free(p->host);
    free(p->host_ip);
    spec_addr_release(&p->listen);
    free(p->hash);
    free(p->distribution);
    free(p->hash_tag);
}

static void alert_release(struct spec_alert *a)
{
    free(a->name);
    free(a->field);
    free(a->info_field);
}

void spec_free(struct spec *s)
{
    if (!s)
        return;
    free(s->file);
    free(s->source);
    free(s->cluster);
    ARRAY_FREE(s->hosts, s->nhosts, host_release);
    ssh_release(&s->defaults.ssh);
    free(s->defaults.base_dir);
    free(s->defaults.binaries.redis_server);
    free(s->defaults.binaries.redis_sentinel);
    free(s->defaults.binaries.nutcracker);
    free(s->auth.password_env);
    free(s->auth.password_file);
    ARRAY_FREE(s->redis_config, s->nredis_config, kv_release);
    ARRAY_FREE(s->shards, s->nshards, shard_release);
    ARRAY_FREE(s->sentinel.nodes, s->sentinel.nnodes, spec_addr_release);
    ARRAY_FREE(s->proxies, s->nproxies, proxy_release);
    ARRAY_FREE(s->alerts, s->nalerts, alert_release);
    strings_free(s->paths, s->npaths);
    free(s);
}

/* ---- lookups ------------------------------------------------------------ */

const struct spec_host *spec_find_host(const struct spec *s, const char *host)
{
    if (!s || !host)
        return NULL;
    for (size_t i = 0; i < s->nhosts; i++)
        if (!strcmp(s->hosts[i].name, host))
            return &s->hosts[i];
    return NULL;
}

/* The hosts: entry for a name, or for an IP that one of them has. */
static const struct spec_host *host_by_name_or_ip(const struct spec *s, const char *host)
{
    const struct spec_host *h = spec_find_host(s, host);
    if (h || !host)
        return h;
    for (size_t i = 0; i < s->nhosts; i++)
        if (str_eq(s->hosts[i].address, host))
            return &s->hosts[i];
    return NULL;
}

enum transport_kind spec_host_transport(const struct spec *s, const char *host)
{
    const struct spec_host *h = host_by_name_or_ip(s, host);
    return h ? h->transport : s->defaults.transport;
}

const struct spec_ssh *spec_host_ssh(const struct spec *s, const char *host)
{
    const struct spec_host *h = host_by_name_or_ip(s, host);
    return h ? &h->ssh : &s->defaults.ssh;
}

char *spec_instance_dir(const struct spec *s, const char *kind, int port)
{
    const char *base = s->defaults.base_dir;
    const char *sep = base[0] && base[strlen(base) - 1] == '/' ? "" : "/";
    return xasprintf("%s%s%s/%s-%d", base, sep, s->cluster, kind, port);
}

const struct spec_shard *spec_shard_of(const struct spec *s, const char *ip, int port)
{
    for (size_t i = 0; i < s->nshards; i++) {
        const struct spec_shard *sh = &s->shards[i];
        if (str_eq(sh->master.ip, ip) && sh->master.port == port)
            return sh;
        for (size_t j = 0; j < sh->nreplicas; j++)
            if (str_eq(sh->replicas[j].ip, ip) && sh->replicas[j].port == port)
                return sh;
    }
    return NULL;
}

/* ---- the password and spec files ---------------------------------------- */

int spec_read_password(const struct spec *s, char **out, char **err)
{
    *out = NULL;
    *err = NULL;
    if (s->auth.password_env) {
        const char *v = getenv(s->auth.password_env);
        if (!v || !*v) {
            *err = xasprintf("environment variable '%s' is %s", s->auth.password_env,
                             v ? "empty" : "not set");
            return -1;
        }
        *out = xstrdup(v);
        return 0;
    }
    if (s->auth.password_file) {
        char *data;
        size_t len;
        int fd = spec_open_secret_file(s, err);
        if (fd < 0)
            return -1;
        if (read_fd(fd, 64 * 1024, &data, &len) < 0) {
            *err = xasprintf("cannot read password file '%s': %s", s->auth.password_file,
                             strerror(errno));
            return -1;
        }
        size_t n = 0;
        while (n < len && data[n] != '\n')
            n++;
        if (n > 0 && data[n - 1] == '\r')
            n--; /* a file written on Windows */
        if (n == 0 || memchr(data, '\0', n)) {
            *err = xasprintf("password file '%s' %s", s->auth.password_file,
                             n ? "contains a NUL byte" : "has an empty first line");
            free(data);
            return -1;
        }
        *out = xstrndup(data, n);
        /* wipe our copy of the secret */
        explicit_bzero(data, len);
        free(data);
        return 0;
    }
    return 0;
}

bool spec_is_file_name(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && ((n > 5 && !strcmp(name + n - 5, ".yaml")) ||
                              (n > 4 && !strcmp(name + n - 4, ".yml")));
}
