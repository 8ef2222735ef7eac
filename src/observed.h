/*
 * observed.h - what is really running, as seen by observe.c.
 *
 * One record per instance the spec names (and per extra thing Sentinel
 * reports that the spec does not know). The planner reads only this and the
 * spec; it never talks to a server. The model round-trips through JSON
 * (observed_json.c) so planner tests use fixture files and `rmgr observe
 * --json` shows an operator exactly what the planner saw.
 */
#ifndef RMGR_OBSERVED_H
#define RMGR_OBSERVED_H

#include <stdbool.h>
#include <stddef.h>

/* How an attempt to reach a server ended. */
enum reach {
    REACH_OK,
    REACH_REFUSED,     /* nothing listens: the process is not running */
    REACH_TIMEOUT,     /* no answer within the connect/command timeout */
    REACH_AUTH,        /* wrong or missing password */
    REACH_ERROR,       /* anything else: protocol error, unexpected reply */
    REACH_NOT_CHECKED, /* not attempted (e.g. host transport failed) */
};

const char *reach_name(enum reach r); /* "ok", "refused", "timeout", "auth", "error", "not-checked" */
bool reach_from_name(const char *name, enum reach *out);

struct obs_kv {
    char *key;
    char *value;
};

struct obs_num {            /* one numeric INFO field */
    char *key;
    double value;
};

/*
 * The build an instance runs: what it says of itself and the program file
 * its process was started from. NULL when unknown (not observed, or an
 * observation from before rmgr recorded it). The planner's rolling upgrade
 * compares `executable` with the spec's binary.
 */
struct obs_build {
    char *version;    /* INFO server redis_version; nutcracker's stats "version" */
    char *executable; /* INFO server executable; a proxy: /proc/PID/exe of its pidfile's pid */
    long pid;         /* INFO server process_id (0: unknown); not in the JSON */
};

/* Instance files on its host, read through the host's transport. */
struct obs_files {
    bool checked;        /* false when the host could not be reached */
    char *error;         /* why not, when !checked */
    bool host_key_error; /* !checked because the host's ssh key is unknown, changed or
                            revoked (error says which): an error of the whole run, not
                            an unreachable host (session_check_host_keys) */
    bool dir_present;
    bool conf_present;
    /* managed directives as they stand in the config file; for a proxy the
     * whole file is in obs_proxy.config_text instead */
    struct obs_kv *conf;
    size_t nconf;
};

struct obs_redis_replica {  /* one "slaveN:" line of INFO replication */
    char *ip;
    int port;
    char *state;            /* "online", "wait_bgsave", ... */
    long long offset;
};

struct obs_redis {
    char *ip;
    int port;
    enum reach reach;
    char *reach_detail;       /* human text: "Connection refused", ... */

    /* INFO server / replication / persistence / keyspace, when reach == OK */
    char *run_id;
    char *config_file;        /* INFO config_file: "" when started without one; NULL unknown */
    struct obs_build build;   /* INFO server redis_version, executable */
    char *role;               /* "master" or "slave" */
    char *master_host;        /* when role is slave */
    int master_port;
    char *master_link_status; /* "up" / "down" */
    long long master_repl_offset;
    long long slave_repl_offset;
    int connected_slaves;
    struct obs_redis_replica *replicas;
    size_t nreplicas;
    long long keys;           /* sum of keys over all databases */
    bool loading;

    struct obs_kv *config;    /* CONFIG GET of every directive the spec manages */
    size_t nconfig;

    /* for the spec's alert rules (alerts.h); asked only when a rule needs them */
    struct obs_num *info_num; /* the numeric INFO fields the rules name, as reported */
    size_t ninfo_num;
    bool slowlog_checked;     /* SLOWLOG LEN and SLOWLOG GET 1 answered */
    long long slowlog_len;
    long long slowlog_last_id;/* id of the newest slowlog entry; -1 when the log is empty */

    struct obs_files files;
};

struct obs_sentinel_peer {  /* SENTINEL REPLICAS / SENTINEL SENTINELS entry */
    char *ip;
    int port;
    char *flags;
    char *runid;            /* sentinels only */
    char *voted_leader;     /* sentinels only: run id this peer voted for, "?" for none */
    long long voted_leader_epoch; /* the epoch of that vote */
};

struct obs_sentinel_master {  /* one SENTINEL MASTERS entry */
    char *name;
    char *ip;
    int port;
    char *flags;             /* "master", "s_down,master", ... */
    int quorum;
    long down_after_ms;
    long failover_timeout_ms;
    int parallel_syncs;
    long long config_epoch;
    int num_other_sentinels;
    char *failover_state;    /* while this sentinel leads a failover: "wait_start",
                                "select_slave", "send_slaveof_noone", "wait_promotion",
                                "reconf_slaves", "update_config"; else NULL */
    long long odown_ms;      /* ms since this sentinel flagged the master o_down; -1 if not */
    struct obs_sentinel_peer *replicas;
    size_t nreplicas;
    struct obs_sentinel_peer *sentinels;
    size_t nsentinels;
};

struct obs_sentinel {
    char *ip;
    int port;
    enum reach reach;
    char *reach_detail;
    char *run_id;
    struct obs_build build;  /* INFO server redis_version, executable */
    /* with auth: in the spec (NULL otherwise, or when not learned): whether the
     * sentinel demands the password, "<secret>", or has none, ""
     * (AUTH answered "no password configured"); its sentinel-pass (SENTINEL
     * CONFIG GET), masked: "<secret>", "<secret-mismatch>" or "" (none) */
    char *requirepass;
    char *sentinel_pass;
    struct obs_sentinel_master *masters;
    size_t nmasters;
    struct obs_files files;
};

struct obs_proxy {
    char *ip;                /* proxy host IP */
    int listen_port;
    int stats_port;
    enum reach reach;        /* of the stats port */
    char *reach_detail;
    long long uptime_s;      /* from the stats JSON */
    long long timestamp_s;   /* "timestamp" from the stats JSON */
    struct obs_build build;  /* "version" from the stats JSON; the pid's /proc exe */
    bool config_present;
    char *config_text;       /* nutcracker.yml as found, NULL if absent */
    long long config_mtime_s;/* of nutcracker.yml; 0 if absent */
    bool pool_stats;         /* the pool's counters below were in the stats JSON */
    long long forward_error; /* the pool's forward_error counter */
    long long server_ejects; /* the pool's server_ejects counter */
    struct obs_files files;
};

/*
 * A program the spec names, on a host where an instance of its kind runs
 * another one: what `PROGRAM --version` says, the version the rolling
 * upgrade will bring (observe.c looks only then).
 */
struct obs_program {
    char *host;    /* hosts: name or IP, spec spelling */
    char *path;    /* the spec's program (instance_binary_path) */
    char *version; /* "7.2.4", "0.5.0"; NULL when it did not say (missing, not runnable) */
};

struct observed {
    struct obs_redis *redis;       /* in spec order: per shard, master then replicas */
    size_t nredis;
    struct obs_sentinel *sentinels;/* in spec order */
    size_t nsentinels;
    struct obs_proxy *proxies;     /* in spec order */
    size_t nproxies;
    struct obs_program *programs;  /* the upgrade's programs, see above; often none */
    size_t nprograms;
    long long took_ms;             /* wall time of the whole observation */
};

void observed_free(struct observed *o);
/* Free what an obs_redis holds (not the struct); a zeroed one is fine. */
void obs_redis_release(struct obs_redis *r);
void obs_sentinel_masters_free(struct obs_sentinel_master *m, size_t n);
void obs_sentinel_peers_free(struct obs_sentinel_peer *p, size_t n);
void obs_build_release(struct obs_build *b);
/* The version observation found for program `path` on `host`, or NULL. */
const char *observed_program_version(const struct observed *o, const char *host,
                                     const char *path);

const struct obs_redis *observed_redis(const struct observed *o, const char *ip, int port);
const struct obs_sentinel *observed_sentinel(const struct observed *o, const char *ip, int port);
const char *obs_kv_get(const struct obs_kv *kv, size_t n, const char *key);
/* The value of a numeric INFO field the observation kept; false when it has none. */
bool obs_num_get(const struct obs_redis *r, const char *key, double *out);

/* JSON round trip (observed_json.c). Returns NULL and sets *err on bad input. */
char *observed_to_json(const struct observed *o);
struct observed *observed_from_json(const char *text, char **err);

#endif
