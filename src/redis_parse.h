/*
 * redis_parse.h - turn what Redis, Sentinel and nutcracker answer into the
 * observed model (observed.h).
 *
 * Pure: no sockets, no files. observe.c does the talking and hands the
 * replies here, so every format quirk is unit-tested with fixture strings
 * and hand-built reply trees (tests/unit/test_redis_parse.c).
 *
 * Secrets: every value that may hold a password goes through
 * obs_mask_secret() before it is stored, so no secret enters the model.
 */
#ifndef RMGR_REDIS_PARSE_H
#define RMGR_REDIS_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

#include "observed.h"

/*
 * Fill the INFO-derived fields of `r` (run_id, role, master_host/port,
 * master_link_status, offsets, connected_slaves, replicas, keys, loading)
 * from the text of an INFO reply; lines of other sections are ignored.
 * Those fields must be empty (zero) on entry. Returns 0, or -1 and a
 * message in *err (caller frees) when the text has no "role:" line (it is
 * not the INFO of a Redis server) or a "dbN:" line without a plausible
 * key count (negative, junk, over 2^40): an observation error, so a
 * replica can never pass for empty. The sum saturates at LLONG_MAX.
 */
int redis_parse_info(const char *text, struct obs_redis *r, char **err);

/* The value of `field` in an INFO text ("run_id" -> "4c46..."), or NULL. Caller frees. */
char *redis_info_field(const char *text, const char *field);

/*
 * A SENTINEL MASTERS reply (an array of flat name/value arrays) as masters
 * without their replicas and sentinels, sorted by name (Sentinel answers in
 * hash-table order). Returns 0, or -1 and a message in
 * *err (caller frees) when the reply has another shape.
 */
int redis_parse_sentinel_masters(const redisReply *reply, struct obs_sentinel_master **out,
                                 size_t *n, char **err);

/*
 * A SENTINEL REPLICAS or SENTINEL SENTINELS reply as peers, sorted by ip
 * and port. `with_runid` keeps the runid (sentinels); replicas are known by
 * address only.
 * Returns 0, or -1 and *err.
 */
int redis_parse_sentinel_peers(const redisReply *reply, bool with_runid,
                               struct obs_sentinel_peer **out, size_t *n, char **err);

/* Free what the two functions above return. */

/*
 * The value in a CONFIG GET reply for one parameter ([name, value]).
 * Returns 0 and *value (caller frees), 1 when the server does not know the
 * parameter (empty array), -1 and *err for an error or another shape.
 */
int redis_parse_config_get(const redisReply *reply, char **value, char **err);

/* Directives whose values are passwords (requirepass, masterauth; Sentinel's auth-pass, sentinel-pass). */
bool redis_is_secret_directive(const char *key);

/*
 * The `sentinel auth-pass <name> <password>` lines of a sentinel.conf text
 * as {"auth-pass <name>", obs_mask_secret(password, password)}, in file
 * order, the last line per name winning: the password itself is never
 * kept. Returns the count; the caller frees every key and value of *out,
 * then *out (NULL when none).
 */
size_t redis_parse_sentinel_auth_pass(const char *text, const char *password,
                                      struct obs_kv **out);

/*
 * What is stored instead of a secret `value`: "" when it is empty (no
 * password set), CONF_SECRET_PLACEHOLDER when it equals `password`,
 * CONF_SECRET_MISMATCH otherwise (also when `password` is NULL).
 */
const char *obs_mask_secret(const char *value, const char *password);

/*
 * nutcracker.yml text with the value of every redis_auth key replaced by
 * obs_mask_secret(value, password), keeping the quotes and everything
 * else byte for byte. Any YAML form counts (quoted keys, flow mappings,
 * block scalars, aliases); text that is not valid YAML is masked line by
 * line from the error on; and any remaining occurrence of `password` is
 * replaced by CONF_SECRET_PLACEHOLDER. Caller frees.
 */
char *redis_mask_nutcracker_auth(const char *text, const char *password);

/* One server line of a nutcracker pool: "- 10.0.0.1:6379:1 shard1". */
struct nc_server {
    char *name; /* NULL when the line has no name */
    char *ip;
    int port;
};

/*
 * The servers listed in a nutcracker.yml text, in file order, as
 * nc_yml_parse() (nutcracker_yml.h) reads them. Returns the
 * count; *out is freed with nc_servers_free().
 */
size_t redis_parse_nutcracker_servers(const char *text, struct nc_server **out);
void nc_servers_free(struct nc_server *s, size_t n);

/*
 * nutcracker's stats JSON: "uptime" and "timestamp" (seconds). Returns 0,
 * or -1 and a message in *err (caller frees).
 */
int redis_parse_proxy_stats(const char *json, long long *uptime_s, long long *timestamp_s,
                            char **err);

/*
 * The version in what `PROGRAM --version` printed: "7.0.15" from "Redis
 * server v=7.0.15 sha=...", "0.5.0" from "This is nutcracker-0.5.0"; NULL
 * when neither. Caller frees.
 */
char *redis_parse_program_version(const char *text);

/* The "version" of a nutcracker stats document ("0.5.0"), or NULL. Caller frees. */
char *redis_parse_proxy_version(const char *json);

/*
 * The "forward_error" and "server_ejects" counters of pool `pool` in
 * nutcracker's stats JSON; false when either is missing.
 */
bool redis_parse_proxy_pool(const char *json, const char *pool, long long *forward_error,
                            long long *server_ejects);

/*
 * The numeric values of fields[0..nfields) in an INFO text, in that order,
 * leaving out the fields it lacks or that are not numbers. Returns the
 * count; *out (NULL when none) and each key are the caller's.
 */
size_t redis_parse_info_numbers(const char *text, const char *const *fields, size_t nfields,
                                struct obs_num **out);

/* A SLOWLOG GET 1 reply: the newest entry's id, or -1 for an empty log. 0, or -1 for another shape. */
int redis_parse_slowlog_get(const redisReply *reply, long long *last_id);

/*
 * How a failed connection or I/O ended, from hiredis' context error:
 * refused, timeout (connect timeout, or a read that timed out), or error.
 */
enum reach redis_reach_from_io(int err, const char *errstr);

/* Whether an error reply means the password is missing or wrong. */
bool redis_error_is_auth(const char *errstr);

#endif
