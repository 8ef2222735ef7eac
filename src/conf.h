/*
 * conf.h - the config files rmgr generates and the directives it manages.
 *
 * Pure text in, text out: rendering redis.conf, the initial sentinel.conf
 * and nutcracker.yml from the spec, reading directives back out of a
 * redis.conf/sentinel.conf, and comparing values the way Redis does
 * ("256mb" equals "268435456", "YES" equals "yes").
 *
 * Redis and Sentinel rewrite their own files (CONFIG REWRITE, failover), so
 * rmgr writes redis.conf and sentinel.conf once and afterwards changes only
 * the directives it manages; it never writes replicaof, sentinel known-* or
 * current-epoch lines.
 */
#ifndef RMGR_CONF_H
#define RMGR_CONF_H

#include <stdbool.h>
#include <stddef.h>

#include "observed.h"
#include "spec.h"

/*
 * What observation stores in place of a password found in a file or a
 * CONFIG GET reply: the placeholder when it equals the configured password,
 * the mismatch marker otherwise. The planner renders expected files with the
 * placeholder as the password, so secrets never reach the plan.
 */
#define CONF_SECRET_PLACEHOLDER "<secret>"
#define CONF_SECRET_MISMATCH "<secret-mismatch>"

/*
 * repl-diskless-sync-delay: apply sets it to 0 (runtime only) on a new
 * shard's empty master for its replicas' first syncs and puts it back after.
 * Observation always reads it (runtime and file), so a 0 left by an
 * interrupted apply shows as drift, unless the spec sets it.
 */
#define CONF_DISKLESS_DELAY "repl-diskless-sync-delay"
#define CONF_DISKLESS_DELAY_DEFAULT "5" /* Redis' default */

/* Names of directives rmgr owns in redis.conf besides spec->redis_config. */
extern const char *const conf_redis_fixed_directives[];

/*
 * redis.conf for the instance at ip:port. `password` (may be NULL) becomes
 * requirepass + masterauth; such a file must be written with mode 0600.
 * Caller frees.
 */
char *conf_render_redis(const struct spec *s, const char *ip, int port, const char *password);

/*
 * The initial sentinel.conf for the sentinel at ip:port: port, dir, pidfile,
 * logfile, daemonize; no monitor lines (those are added with SENTINEL
 * MONITOR at runtime, so Sentinel alone owns the file afterwards).
 * `password` (may be NULL) becomes requirepass + sentinel sentinel-pass;
 * such a file must be written with mode 0600.
 */
char *conf_render_sentinel(const struct spec *s, const char *ip, int port, const char *password);

/*
 * nutcracker.yml for proxy `p`, pointing each shard's server at masters[i]
 * (index as s->shards), server names = shard names so consistent hashing is
 * stable across failovers. `password` (may be NULL) becomes redis_auth.
 */
char *conf_render_nutcracker(const struct spec *s, const struct spec_proxy *p,
                             const struct spec_addr *masters, const char *password);

/*
 * The directives in `text` (redis.conf / sentinel.conf syntax) whose names
 * are in `keys`, last occurrence wins, quotes removed. Returns the count;
 * *out is an array the caller frees with obs_kv_free_array().
 */
size_t conf_get_directives(const char *text, const char *const *keys, size_t nkeys,
                           struct obs_kv **out);
void obs_kv_free_array(struct obs_kv *kv, size_t n);

/*
 * Replace the managed directives `kv` in `text`, leaving every other line
 * (replicaof, sentinel known-*, comments) untouched; appends those not
 * present. Caller frees.
 */
char *conf_set_directives(const char *text, const struct obs_kv *kv, size_t n);

/* Whether Redis would consider two values of `key` equal (memory units, case of yes/no). */
bool conf_value_equal(const char *key, const char *a, const char *b);

/*
 * `value` as one redis.conf argument: unchanged when it is safe bare,
 * otherwise double-quoted with \\ \" \n \r \t \a \b \xHH escapes, the way
 * CONFIG REWRITE quotes strings; "" for the empty string. Caller frees.
 */
char *conf_quote_arg(const char *value);

/*
 * The text after `key ` on a redis.conf line for a spec value: multi-argument
 * directives (save, bind, client-output-buffer-limit, ...) as separate
 * arguments, anything else as one (quoted when needed). Caller frees.
 */
char *conf_format_value(const char *key, const char *value);

/* Paths inside an instance dir. Caller frees. */
char *conf_path(const struct spec *s, const char *kind, int port); /* .../redis.conf etc. */
char *conf_pidfile_path(const struct spec *s, const char *kind, int port);
char *conf_logfile_path(const struct spec *s, const char *kind, int port);

#endif
