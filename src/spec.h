/*
 * spec.h - the desired state of one cluster, as loaded from a YAML spec.
 *
 * This is the model every later stage reads: the planner compares it with
 * the observed state, the config renderer turns it into redis.conf,
 * sentinel.conf and nutcracker.yml. Loading is in spec_load.c, the lookups,
 * the password and freeing in spec.c; nothing here does I/O except
 * spec_load_file() and spec_read_password().
 *
 * After a successful load every address is resolved: `ip` is an IP literal,
 * `host` names the hosts: entry it came from (or equals the IP), and every
 * default has been applied, so consumers never look at defaults themselves.
 */
#ifndef RMGR_SPEC_H
#define RMGR_SPEC_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"

#define SPEC_VERSION 1

/* limits that keep hostile input from exhausting time or memory */
#define SPEC_MAX_FILE_SIZE (1024 * 1024)
#define SPEC_MAX_DEPTH 32
#define SPEC_MAX_NODES 100000 /* after alias expansion */
#define SPEC_MAX_ERRORS 100   /* then "too many errors, stopping" */

enum transport_kind { TRANSPORT_LOCAL, TRANSPORT_SSH };

struct spec_pos {
    int line, col;    /* 1-based position in the spec file; 0 when generated */
    const char *path; /* where in the document: "shards[1].replicas[0]", "proxies[0]",
                         "redis.config.maxmemory"; owned by the spec (spec->paths), NULL
                         when generated. The planner cites it as a step's source. */
};

struct spec_ssh {
    char *user;        /* default "root" */
    int port;          /* default 22 */
    char *identity;    /* private key file; NULL: ssh-agent only */
    char *known_hosts; /* default ~/.ssh/known_hosts, ~ expanded */
};

struct spec_host {
    char *name;
    char *address;                 /* IP literal */
    enum transport_kind transport; /* defaults.transport unless overridden */
    struct spec_ssh ssh;           /* defaults.ssh merged with the host's own */
    struct spec_pos pos;
};

/* "NAME:PORT" or "IP:PORT", resolved. */
struct spec_addr {
    char *host;  /* hosts: name as written, or the IP itself */
    char *ip;    /* IP literal the instance listens on; every IP is spelled as inet_ntop does */
    int port;
    struct spec_pos pos;
};

struct spec_binaries {
    char *redis_server;   /* default /usr/bin/redis-server */
    char *redis_sentinel; /* default /usr/bin/redis-sentinel */
    char *nutcracker;     /* default /usr/sbin/nutcracker */
    bool ship;            /* copy these binaries to <base_dir>/<cluster>/bin on each host */
};

struct spec_defaults {
    enum transport_kind transport; /* default ssh */
    struct spec_ssh ssh;
    char *base_dir;                /* default /var/lib/rmgr; absolute, no ".." */
    struct spec_binaries binaries;
};

/* The only environment variables a spec may name as its password. */
#define SPEC_PASSWORD_ENV_PREFIX "RMGR_REDIS_"

struct spec_auth {
    char *password_env;  /* name of an environment variable (SPEC_PASSWORD_ENV_PREFIX...), or NULL */
    char *password_file; /* absolute, or relative to the secrets directory; or NULL */
    struct spec_pos password_file_pos;
    struct spec_pos pos; /* where password_env or password_file is written (the key) */
};

/* One redis.conf directive, e.g. { "maxmemory", "256mb" }. */
struct spec_kv {
    char *key;
    char *value;
    struct spec_pos pos;
};

struct spec_shard {
    char *name;
    struct spec_addr master; /* bootstrap master; Sentinel owns the role afterwards */
    struct spec_addr *replicas;
    size_t nreplicas;
    struct spec_pos pos;
};

struct spec_sentinel {
    int quorum;
    long down_after_ms;       /* default 5000 */
    long failover_timeout_ms; /* default 60000 */
    int parallel_syncs;       /* default 1 */
    struct spec_addr *nodes;
    size_t nnodes;
    struct spec_pos pos;
    /* where each option is written (the section's pos when it is left to its default) */
    struct spec_pos quorum_pos, down_after_pos, failover_timeout_pos, parallel_syncs_pos;
};

struct spec_proxy {
    char *host;              /* hosts: name or IP where nutcracker runs */
    char *host_ip;           /* resolved */
    struct spec_addr listen; /* listen address of the pool */
    int stats_port;          /* default 22222 */
    char *hash;              /* default fnv1a_64 */
    char *distribution;      /* default ketama */
    char *hash_tag;          /* NULL: none */
    int timeout_ms;          /* default 400 */
    int server_retry_timeout_ms; /* default 2000 */
    int server_failure_limit;    /* default 1 */
    bool auto_eject_hosts;       /* default false: keys never move silently */
    bool preconnect;             /* default true */
    struct spec_pos pos;
};

/* Which instances an alert rule looks at (`on:`). */
enum alert_on { ALERT_ON_ALL, ALERT_ON_MASTERS, ALERT_ON_REPLICAS, ALERT_ON_PROXIES };

/* What an alert rule's `field` names. */
enum alert_kind {
    ALERT_INFO,            /* a numeric INFO field, as Redis reports it */
    ALERT_RATE,            /* rate(FIELD): an INFO counter's change per second */
    ALERT_SLOWLOG_PER_SEC, /* slowlog entries added per second (SLOWLOG GET 1 ids) */
    ALERT_REPL_LAG_BYTES,  /* replica: master_repl_offset of its master minus its own */
    ALERT_FORWARD_ERROR_PER_SEC, /* proxy: the pool's forward_error per second */
    ALERT_SERVER_EJECTS,   /* proxy: the pool's server_ejects counter */
};

/* One entry of `alerts:`: fire when the value leaves [min, max] for `for_ms`. */
struct spec_alert {
    char *name;        /* default: the field as written; the `alert` label */
    char *field;       /* as written: "used_memory", "rate(evicted_keys)", ... */
    enum alert_kind kind;
    char *info_field;  /* ALERT_INFO and ALERT_RATE: the INFO field; else NULL */
    bool has_min, has_max;
    double min, max;
    long for_ms;       /* 0: fires at the first observation out of range */
    enum alert_on on;  /* default all (redis fields), proxies (proxy fields) */
    struct spec_pos pos;
};

struct spec {
    char *file;     /* path it was loaded from, for messages */
    char *source;   /* the file's bytes, for fingerprints */
    size_t source_len;
    char *cluster;
    struct spec_pos cluster_pos; /* where the cluster name is written */

    struct spec_host *hosts;
    size_t nhosts;
    struct spec_defaults defaults;
    struct spec_auth auth;

    struct spec_kv *redis_config; /* redis.conf directives for every instance */
    size_t nredis_config;

    struct spec_shard *shards;
    size_t nshards;
    struct spec_sentinel sentinel;
    struct spec_proxy *proxies;
    size_t nproxies;
    struct spec_alert *alerts;
    size_t nalerts;

    char **paths; /* the strings spec_pos.path points at; freed with the spec */
    size_t npaths, paths_cap;
};

/*
 * Load and validate one spec file. Every problem is added to `d` (errors and
 * warnings, each with its line and column). Returns the spec when there was
 * no error, NULL otherwise; warnings alone do not fail a load.
 */
struct spec *spec_load_file(const char *path, struct diags *d);

/* The same from a buffer; `name` is used in messages. */
struct spec *spec_load_buffer(const char *name, const char *data, size_t len, struct diags *d);

void spec_free(struct spec *s);
void spec_addr_release(struct spec_addr *a); /* its strings, not `a` */

/* Whether a directory entry is a spec file: *.yaml or *.yml, not hidden. */
bool spec_is_file_name(const char *name);

/* The host entry for a hosts: name, or NULL when `host` is an IP literal. */
const struct spec_host *spec_find_host(const struct spec *s, const char *host);

/* Transport for an instance on `host` (a name or an IP). */
enum transport_kind spec_host_transport(const struct spec *s, const char *host);
const struct spec_ssh *spec_host_ssh(const struct spec *s, const char *host);

/* "<base_dir>/<cluster>/<kind>-<port>"; kind is "redis", "sentinel" or "proxy". Caller frees. */
char *spec_instance_dir(const struct spec *s, const char *kind, int port);

/* The shard that has `host:port` as master or replica, or NULL. */
const struct spec_shard *spec_shard_of(const struct spec *s, const char *ip, int port);

/*
 * Read the password named by auth (environment or file). Returns 0 and sets
 * *out (NULL when the spec has no auth), or -1 with a message in *err.
 * The caller frees both. A password file keeps its bytes up to the first
 * newline.
 */
int spec_read_password(const struct spec *s, char **out, char **err);

/*
 * The secrets directory password_file must be under (--secrets-dir); NULL:
 * $RMGR_SECRETS_DIR, else /etc/rmgr/secrets and ~/.config/rmgr/secrets.
 */
void spec_set_secrets_dir(const char *dir);

/*
 * Open the spec's password_file below the secrets directory, refusing a path
 * outside it and any symbolic link on the way. The descriptor, or -1 with *err.
 */
int spec_open_secret_file(const struct spec *s, char **err);

#endif
