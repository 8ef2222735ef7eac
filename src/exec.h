/*
 * exec.h - `rmgr exec`: one Redis command on many instances in parallel.
 *
 * The pure part judges a command before it is sent: whether Redis' own
 * command flags (COMMAND INFO) say it writes or administrates, and whether
 * it is one that rmgr refuses because another rmgr command does it safely.
 * The I/O part (exec_run) sends it to every target, each on its own thread,
 * and keeps every answer in target order.
 */
#ifndef RMGR_EXEC_H
#define RMGR_EXEC_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

#include "spec.h"
#include "util.h"

/* KEYS is refused on an instance holding more keys than this (without --force). */
#define EXEC_KEYS_LIMIT 100000

/*
 * Whether a command with these COMMAND INFO flags ("write", "admin", ...)
 * and ACL categories ("@scripting", ...) changes data or the server: the
 * flags write, admin or may_replicate, or a script that is not read-only
 * (EVAL carries no write flag, yet its script may write).
 */
bool exec_flags_write(const char *const *flags, size_t nflags, const char *const *categories,
                      size_t ncategories);

/*
 * Why rmgr refuses argv without --force, naming the rmgr command that does
 * it safely; NULL when it does not. CONFIG SET of a directive rmgr manages
 * (the fixed ones and the spec's redis.config) is refused; `s` may be NULL.
 * Caller frees.
 */
char *exec_refusal(int argc, const char *const *argv, const struct spec *s);

/* Whether argv is KEYS (checked against EXEC_KEYS_LIMIT on each instance). */
bool exec_is_keys(int argc, const char *const *argv);

/* The COMMAND INFO name of argv: "config|set" for a command with a subcommand. */
char *exec_info_name(int argc, const char *const *argv, bool with_subcommand);

/*
 * Write a reply as redis-cli does (bulk strings raw, "(integer) 1",
 * "(nil)", "(error) ...", arrays numbered, nested arrays indented), every
 * line prefixed by `indent`.
 */
void exec_format_reply(struct strbuf *out, const redisReply *r, const char *indent);

struct json_t;
/* A JSON string of n bytes; bytes that are not UTF-8 become '?'. */
struct json_t *exec_json_bytes(const char *s, size_t n);

/* A reply as JSON: strings, integers, null, arrays; an error reply as {"error": text}. */
struct json_t *exec_reply_json(const redisReply *r);

/* ---------------------------------------------------------------- I/O */

struct exec_target {
    const char *ip;       /* borrowed */
    int port;
    const char *role;     /* "master", "replica", "sentinel", "proxy" */
    const char *shard;    /* NULL for sentinels and proxies */
    const char *password; /* borrowed; NULL for none */
    bool check_keys;      /* KEYS: DBSIZE first, refuse above EXEC_KEYS_LIMIT */

    /* results */
    redisReply *reply;    /* may be an error reply */
    char *error;          /* could not connect / no reply / refused; NULL otherwise */
};

struct exec_options {
    long connect_timeout_ms;
    long command_timeout_ms;
    bool force;
};

/* Send argv to every target in parallel; results land in the targets. */
void exec_run(struct exec_target *t, size_t n, int argc, const char *const *argv,
              const struct exec_options *o);

/* Free the results of a target (reply, error). */
void exec_target_release(struct exec_target *t);

/*
 * Ask ip:port for the flags of argv (COMMAND INFO of the subcommand, then
 * of the command). 0 with *writes set and *known false when the server
 * does not know the command; -1 with *err (caller frees) when it could not
 * be asked.
 */
int exec_classify(const char *ip, int port, const char *password, const struct exec_options *o,
                  int argc, const char *const *argv, bool *writes, bool *known, char **err);

#endif
