/*
 * conf_render.c - redis.conf, sentinel.conf and nutcracker.yml from the spec.
 *
 * Pure text out: no I/O. The output is deterministic because the proxy
 * config is compared byte for byte with the file found on the host (a
 * spurious difference would restart nutcracker, which has no reload).
 */
#include "conf.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* NULL-terminated. protected-mode is managed only when a password is set. */
const char *const conf_redis_fixed_directives[] = {
    "bind",    "port",           "dir",         "pidfile",    "logfile",
    "daemonize", "protected-mode", "requirepass", "masterauth", NULL,
};

/* ------------------------------------------------------------------------
 * Quoting
 * ---------------------------------------------------------------------- */

/* Whether Redis' argument splitter would take `s` back unchanged, bare. */
static bool arg_is_bare_safe(const char *s)
{
    if (!*s)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isspace(*p) || !isprint(*p) || *p == '"' || *p == '\'' || *p == '\\')
            return false;
    }
    return true;
}

/* Append `s` double-quoted with the escapes Redis' sdscatrepr uses. */
static void sb_add_repr(struct strbuf *sb, const char *s)
{
    sb_addc(sb, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '\\': sb_add(sb, "\\\\"); break;
        case '"': sb_add(sb, "\\\""); break;
        case '\n': sb_add(sb, "\\n"); break;
        case '\r': sb_add(sb, "\\r"); break;
        case '\t': sb_add(sb, "\\t"); break;
        case '\a': sb_add(sb, "\\a"); break;
        case '\b': sb_add(sb, "\\b"); break;
        default:
            if (isprint(*p))
                sb_addc(sb, (char)*p);
            else
                sb_addf(sb, "\\x%02x", *p);
        }
    }
    sb_addc(sb, '"');
}

char *conf_quote_arg(const char *value)
{
    if (!value)
        value = "";
    if (arg_is_bare_safe(value))
        return xstrdup(value);
    struct strbuf sb = {0};
    sb_add_repr(&sb, value);
    return sb_detach(&sb);
}

static void sb_add_arg(struct strbuf *sb, const char *value)
{
    char *q = conf_quote_arg(value);
    sb_add(sb, q);
    free(q);
}

/* Append "key value\n" with the value formatted for redis.conf. */
static void sb_add_directive(struct strbuf *sb, const char *key, const char *value)
{
    char *v = conf_format_value(key, value);
    sb_addf(sb, "%s %s\n", key, v);
    free(v);
}

/* ------------------------------------------------------------------------
 * Paths
 * ---------------------------------------------------------------------- */

static const char *conf_file_name(const char *kind)
{
    if (!strcmp(kind, "redis"))
        return "redis.conf";
    if (!strcmp(kind, "sentinel"))
        return "sentinel.conf";
    return "nutcracker.yml";
}

static char *instance_file(const struct spec *s, const char *kind, int port, const char *name)
{
    char *dir = spec_instance_dir(s, kind, port);
    char *path = xasprintf("%s/%s", dir, name);
    free(dir);
    return path;
}

char *conf_path(const struct spec *s, const char *kind, int port)
{
    return instance_file(s, kind, port, conf_file_name(kind));
}

char *conf_pidfile_path(const struct spec *s, const char *kind, int port)
{
    char *name = xasprintf("%s.pid", kind);
    char *path = instance_file(s, kind, port, name);
    free(name);
    return path;
}

char *conf_logfile_path(const struct spec *s, const char *kind, int port)
{
    char *name = xasprintf("%s.log", kind);
    char *path = instance_file(s, kind, port, name);
    free(name);
    return path;
}

/* dir, pidfile, logfile and daemonize, shared by redis and sentinel files. */
static void sb_add_instance_files(struct strbuf *sb, const struct spec *s, const char *kind,
                                  int port)
{
    char *dir = spec_instance_dir(s, kind, port);
    char *pid = conf_pidfile_path(s, kind, port);
    char *log = conf_logfile_path(s, kind, port);
    sb_add(sb, "dir ");
    sb_add_arg(sb, dir);
    sb_add(sb, "\npidfile ");
    sb_add_arg(sb, pid);
    sb_add(sb, "\nlogfile ");
    sb_add_arg(sb, log);
    sb_add(sb, "\ndaemonize yes\n");
    free(dir);
    free(pid);
    free(log);
}

/* ------------------------------------------------------------------------
 * redis.conf
 * ---------------------------------------------------------------------- */

static bool is_fixed_directive(const char *key)
{
    for (size_t i = 0; conf_redis_fixed_directives[i]; i++)
        if (str_ieq(key, conf_redis_fixed_directives[i]))
            return true;
    return false;
}

/*
 * Protected mode: Redis 7.0 answers DENIED to every non-loopback client that
 * comes without a password, even with an explicit bind. With a password
 * rmgr turns it off (clients must AUTH anyway); without one it keeps Redis'
 * default, so an unauthenticated instance is never reachable from another
 * host: a cluster spread over several hosts needs auth:, or the operator
 * states `protected-mode: "no"` in redis_config (honoured only then).
 */
char *conf_render_redis(const struct spec *s, const char *ip, int port, const char *password)
{
    struct strbuf sb = {0};
    sb_addf(&sb,
            "# Generated by rmgr for cluster %s (redis %s:%d).\n"
            "# Redis may rewrite this file (CONFIG REWRITE); rmgr later changes only the\n"
            "# directives it manages and never writes replicaof: replicas are started\n"
            "# with --replicaof and Sentinel owns the roles afterwards.\n",
            s->cluster, ip, port);
    sb_add(&sb, "bind ");
    sb_add_arg(&sb, ip);
    sb_addf(&sb, "\nport %d\n", port);
    sb_add_instance_files(&sb, s, "redis", port);
    if (password) {
        sb_add(&sb, "protected-mode no\nrequirepass ");
        sb_add_arg(&sb, password);
        sb_add(&sb, "\nmasterauth ");
        sb_add_arg(&sb, password);
        sb_addc(&sb, '\n');
    }
    for (size_t i = 0; i < s->nredis_config; i++) {
        const struct spec_kv *kv = &s->redis_config[i];
        /* the loader rejects these; never let one through anyway */
        if (str_ieq(kv->key, "replicaof") || str_ieq(kv->key, "slaveof"))
            continue;
        if (is_fixed_directive(kv->key) && !(str_ieq(kv->key, "protected-mode") && !password))
            continue;
        sb_add_directive(&sb, kv->key, kv->value);
    }
    return sb_detach(&sb);
}

/* ------------------------------------------------------------------------
 * sentinel.conf
 * ---------------------------------------------------------------------- */

/*
 * With a password, Sentinel demands it (requirepass: Sentinel turns protected
 * mode off, so without it anyone who reaches the port can SENTINEL FAILOVER)
 * and uses it to reach its peers (sentinel sentinel-pass).
 */
char *conf_render_sentinel(const struct spec *s, const char *ip, int port, const char *password)
{
    struct strbuf sb = {0};
    sb_addf(&sb,
            "# Generated by rmgr for cluster %s (sentinel %s:%d).\n"
            "# Sentinel rewrites this file: monitors are added at runtime with\n"
            "# SENTINEL MONITOR and rmgr never writes it again.\n",
            s->cluster, ip, port);
    sb_addf(&sb, "port %d\nbind ", port);
    sb_add_arg(&sb, ip);
    sb_addc(&sb, '\n');
    sb_add_instance_files(&sb, s, "sentinel", port);
    if (password) {
        sb_add(&sb, "requirepass ");
        sb_add_arg(&sb, password);
        sb_add(&sb, "\nsentinel sentinel-pass ");
        sb_add_arg(&sb, password);
        sb_addc(&sb, '\n');
    }
    return sb_detach(&sb);
}

/* ------------------------------------------------------------------------
 * nutcracker.yml
 * ---------------------------------------------------------------------- */

/* Whether `s` is a YAML plain scalar that reads back as the same string. */
static bool yaml_plain_safe(const char *s)
{
    if (!*s)
        return false;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("_-./", *p))
            return false;
    /* words YAML would turn into booleans or null */
    static const char *const special[] = {"true", "false", "yes", "no", "on", "off",
                                          "null", "y", "n", "~"};
    for (size_t i = 0; i < ARRAY_SIZE(special); i++)
        if (str_ieq(s, special[i]))
            return false;
    return true;
}

/* Append `s` as a YAML double-quoted scalar. */
static void sb_add_yaml_quoted(struct strbuf *sb, const char *s)
{
    sb_addc(sb, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            sb_addf(sb, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            sb_addf(sb, "\\x%02x", *p);
        else
            sb_addc(sb, (char)*p);
    }
    sb_addc(sb, '"');
}

static void sb_add_yaml_scalar(struct strbuf *sb, const char *s)
{
    if (yaml_plain_safe(s))
        sb_add(sb, s);
    else
        sb_add_yaml_quoted(sb, s);
}

char *conf_render_nutcracker(const struct spec *s, const struct spec_proxy *p,
                             const struct spec_addr *masters, const char *password)
{
    struct strbuf sb = {0};
    sb_add(&sb, "# Generated by rmgr; rewritten (and nutcracker restarted) on every change.\n");
    sb_add_yaml_scalar(&sb, s->cluster);
    sb_add(&sb, ":\n");
    sb_addf(&sb, "  listen: %s:%d\n", p->listen.ip, p->listen.port);
    sb_add(&sb, "  hash: ");
    sb_add_yaml_scalar(&sb, p->hash);
    sb_add(&sb, "\n  distribution: ");
    sb_add_yaml_scalar(&sb, p->distribution);
    sb_addc(&sb, '\n');
    if (p->hash_tag) {
        sb_add(&sb, "  hash_tag: ");
        sb_add_yaml_quoted(&sb, p->hash_tag);
        sb_addc(&sb, '\n');
    }
    sb_addf(&sb, "  timeout: %d\n", p->timeout_ms);
    sb_add(&sb, "  redis: true\n");
    sb_addf(&sb, "  preconnect: %s\n", p->preconnect ? "true" : "false");
    sb_addf(&sb, "  auto_eject_hosts: %s\n", p->auto_eject_hosts ? "true" : "false");
    sb_addf(&sb, "  server_retry_timeout: %d\n", p->server_retry_timeout_ms);
    sb_addf(&sb, "  server_failure_limit: %d\n", p->server_failure_limit);
    if (password) {
        sb_add(&sb, "  redis_auth: ");
        sb_add_yaml_quoted(&sb, password);
        sb_addc(&sb, '\n');
    }
    sb_add(&sb, "  servers:\n");
    for (size_t i = 0; i < s->nshards; i++) {
        const struct spec_addr *m = masters ? &masters[i] : &s->shards[i].master;
        /* the name, not the address, places keys on the ketama ring */
        sb_addf(&sb, "   - %s:%d:1 %s\n", m->ip, m->port, s->shards[i].name);
    }
    return sb_detach(&sb);
}
