/*
 * import.h - `rmgr import`: a spec from a running Sentinel-monitored
 * deployment, so that a cluster rmgr did not build can be adopted.
 *
 * Shards come from one sentinel's SENTINEL MASTERS and REPLICAS, the other
 * sentinels from SENTINEL SENTINELS, proxies from their nutcracker.yml.
 * The model and its rendering as YAML are pure (import_render); gathering
 * is I/O (import_gather).
 */
#ifndef RMGR_IMPORT_H
#define RMGR_IMPORT_H

#include <stdbool.h>
#include <stddef.h>

struct import_addr {
    char *ip;
    int port;
};

struct import_shard {
    char *name;
    struct import_addr master;
    struct import_addr *replicas;
    size_t nreplicas;
};

struct import_proxy {
    char *file;              /* the config it came from, for the comment */
    struct import_addr listen;
    char *hash, *distribution, *hash_tag; /* NULL: not in the file */
    long timeout_ms, server_retry_timeout_ms, server_failure_limit; /* -1: not in the file */
    int auto_eject_hosts, preconnect; /* -1: not in the file, else 0/1 */
};

struct import_model {
    char *cluster;
    char *password_env;      /* NULL: no auth section */
    int quorum;
    long down_after_ms, failover_timeout_ms;
    int parallel_syncs;
    struct import_shard *shards; /* sorted by name */
    size_t nshards;
    struct import_addr *sentinels; /* the asked one first, then by address */
    size_t nsentinels;
    struct import_proxy *proxies;
    size_t nproxies;
    bool all_local;          /* every address is on 127.0.0.0/8: transport local */
};

/* The spec as YAML text, with comments on what was found where. Caller frees. */
char *import_render(const struct import_model *m);

/*
 * Read a nutcracker.yml text (of `file`) into *p: the first pool's listen
 * address and its settings. 0, or -1 with *err.
 */
int import_parse_proxy(const char *file, const char *text, struct import_proxy *p, char **err);

/*
 * Ask the sentinel at ip:port (AUTH with `password` when not NULL; a
 * sentinel without one tolerates it) for the shards, the sentinels and their
 * settings; proxies and all_local are the caller's. 0, or -1 with *err
 * (caller frees).
 */
int import_gather(const char *ip, int port, long timeout_ms, const char *password,
                  struct import_model *m, char **err);

void import_model_release(struct import_model *m);

#endif
