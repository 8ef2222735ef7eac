/*
 * exec.c - judge a command by Redis' own flags, refuse what another rmgr
 * command does safely, and send it to many instances in parallel.
 */
#include "exec.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf.h"
#include "parallel.h"
#include "rclient.h"

/* ---------------------------------------------------------------- judging */

static bool has_word(const char *const *v, size_t n, const char *w)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] && !strcasecmp(v[i], w))
            return true;
    return false;
}

bool exec_flags_write(const char *const *flags, size_t nflags, const char *const *categories,
                      size_t ncategories)
{
    if (has_word(flags, nflags, "write") || has_word(flags, nflags, "admin") ||
        has_word(flags, nflags, "may_replicate"))
        return true;
    return has_word(categories, ncategories, "@scripting") &&
           !has_word(flags, nflags, "readonly");
}

/* A command rmgr refuses, with what to use instead. sub NULL: any subcommand. */
static const struct refused {
    const char *cmd, *sub, *instead;
} refused[] = {
    {"SHUTDOWN", NULL, "rmgr owns the processes: remove the instance from the spec and run "
                       "'rmgr apply', or 'rmgr destroy -f SPEC' for the whole cluster"},
    {"FLUSHALL", NULL, "it deletes every key: 'rmgr destroy -f SPEC' removes a cluster and "
                       "its data, after confirmation"},
    {"FLUSHDB", NULL, "it deletes every key: 'rmgr destroy -f SPEC' removes a cluster and "
                      "its data, after confirmation"},
    {"DEBUG", NULL, "it can crash or stall the server: 'rmgr status -f SPEC' and "
                    "'rmgr observe -f SPEC' show its state"},
    {"REPLICAOF", NULL, "Sentinel owns the roles: 'rmgr failover -f SPEC SHARD' switches a "
                        "master safely"},
    {"SLAVEOF", NULL, "Sentinel owns the roles: 'rmgr failover -f SPEC SHARD' switches a "
                      "master safely"},
    {"SENTINEL", "FAILOVER", "'rmgr failover -f SPEC SHARD' checks the replica, waits for "
                             "the quorum and repoints the proxies"},
    {"SENTINEL", "REMOVE", "remove the shard from the spec and run 'rmgr apply "
                           "--allow-destructive'"},
    {"SENTINEL", "RESET", "'rmgr apply' resets the sentinels one at a time when a shard's "
                          "members change"},
};

static bool directive_managed(const char *key, const struct spec *s)
{
    for (const char *const *d = conf_redis_fixed_directives; *d; d++)
        if (!strcasecmp(*d, key))
            return true;
    if (!strcasecmp(key, "replicaof") || !strcasecmp(key, "slaveof"))
        return true;
    for (size_t i = 0; s && i < s->nredis_config; i++)
        if (!strcasecmp(s->redis_config[i].key, key))
            return true;
    return false;
}

char *exec_refusal(int argc, const char *const *argv, const struct spec *s)
{
    if (argc < 1)
        return NULL;
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        const struct refused *r = &refused[i];
        if (strcasecmp(argv[0], r->cmd))
            continue;
        if (r->sub && (argc < 2 || strcasecmp(argv[1], r->sub)))
            continue;
        return r->sub ? xasprintf("%s %s is refused: %s", r->cmd, r->sub, r->instead)
                      : xasprintf("%s is refused: %s", r->cmd, r->instead);
    }
    if (!strcasecmp(argv[0], "CONFIG") && argc >= 3 && !strcasecmp(argv[1], "SET")) {
        for (int i = 2; i < argc; i += 2)
            if (directive_managed(argv[i], s))
                return xasprintf("CONFIG SET %s is refused: rmgr manages '%s': change "
                                 "redis.config in the spec and run 'rmgr apply'",
                                 argv[i], argv[i]);
    }
    return NULL;
}

bool exec_is_keys(int argc, const char *const *argv)
{
    return argc >= 1 && !strcasecmp(argv[0], "KEYS");
}

char *exec_info_name(int argc, const char *const *argv, bool with_subcommand)
{
    char *name = with_subcommand && argc >= 2 ? xasprintf("%s|%s", argv[0], argv[1])
                                              : xstrdup(argv[0]);
    for (char *p = name; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return name;
}

/* ---------------------------------------------------------------- replies */

static void add_lines(struct strbuf *out, const char *indent, const char *text, size_t len)
{
    /* a bulk string such as INFO's holds \r\n lines: one output line each */
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && text[j] != '\n')
            j++;
        size_t end = j > i && text[j - 1] == '\r' ? j - 1 : j;
        sb_add(out, indent);
        sb_addn(out, text + i, end - i);
        sb_addc(out, '\n');
        i = j + 1;
    }
}

void exec_format_reply(struct strbuf *out, const redisReply *r, const char *indent)
{
    if (!r) {
        sb_addf(out, "%s(no reply)\n", indent);
        return;
    }
    switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
        if (!r->len)
            sb_addf(out, "%s\"\"\n", indent);
        else
            add_lines(out, indent, r->str, r->len);
        break;
    case REDIS_REPLY_ERROR:
        sb_addf(out, "%s(error) %.*s\n", indent, (int)r->len, r->str);
        break;
    case REDIS_REPLY_INTEGER:
        sb_addf(out, "%s(integer) %lld\n", indent, r->integer);
        break;
    case REDIS_REPLY_NIL:
        sb_addf(out, "%s(nil)\n", indent);
        break;
    case REDIS_REPLY_ARRAY:
        if (!r->elements) {
            sb_addf(out, "%s(empty array)\n", indent);
            break;
        }
        for (size_t i = 0; i < r->elements; i++) {
            const redisReply *e = r->element[i];
            char *num = xasprintf("%s%zu) ", indent, i + 1);
            if (e && e->type == REDIS_REPLY_ARRAY && e->elements) {
                sb_add(out, num);
                sb_addc(out, '\n');
                char *sub = xasprintf("%s   ", indent);
                exec_format_reply(out, e, sub);
                free(sub);
            } else {
                struct strbuf one = {0};
                exec_format_reply(&one, e, "");
                /* the element's first line after its number, the rest aligned under it */
                const char *t = sb_str(&one);
                size_t pad = strlen(num);
                bool first = true;
                while (*t) {
                    size_t l = strcspn(t, "\n");
                    if (first)
                        sb_add(out, num);
                    else
                        sb_addf(out, "%*s", (int)pad, "");
                    sb_addn(out, t, l);
                    sb_addc(out, '\n');
                    t += l + (t[l] == '\n');
                    first = false;
                }
                sb_release(&one);
            }
            free(num);
        }
        break;
    default:
        sb_addf(out, "%s(reply of type %d)\n", indent, r->type);
    }
}

/* A JSON string of n bytes; bytes that are not UTF-8 become '?' (jansson needs UTF-8). */
json_t *exec_json_bytes(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n);
    if (j)
        return j;
    char *copy = xmalloc(n + 1);
    for (size_t i = 0; i < n; i++)
        copy[i] = (unsigned char)s[i] < 0x80 && s[i] ? s[i] : '?';
    j = json_stringn(copy, n);
    free(copy);
    return j;
}

json_t *exec_reply_json(const redisReply *r)
{
    if (!r)
        return json_null();
    switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
        return exec_json_bytes(r->str, r->len);
    case REDIS_REPLY_ERROR: {
        json_t *o = json_object();
        json_object_set_new(o, "error", exec_json_bytes(r->str, r->len));
        return o;
    }
    case REDIS_REPLY_INTEGER:
        return json_integer(r->integer);
    case REDIS_REPLY_ARRAY: {
        json_t *a = json_array();
        for (size_t i = 0; i < r->elements; i++)
            json_array_append_new(a, exec_reply_json(r->element[i]));
        return a;
    }
    default:
        return json_null();
    }
}

/* ---------------------------------------------------------------- I/O */

struct exec_job {
    struct exec_target *t;
    int argc;
    const char *const *argv;
    const struct exec_options *o;
};

static struct rclient_opts client_opts(const struct exec_options *o)
{
    return (struct rclient_opts){o->connect_timeout_ms, o->command_timeout_ms};
}

/* Refuse KEYS on an instance above EXEC_KEYS_LIMIT keys: 0 to go on, -1 with t->error. */
static int check_keys(redisContext *c, struct exec_target *t)
{
    struct rclient_err e;
    redisReply *r = rclient_command(c, &e, "DBSIZE", NULL);
    if (r && r->type == REDIS_REPLY_INTEGER && r->integer > EXEC_KEYS_LIMIT) {
        t->error = xasprintf("KEYS is refused: %lld keys (more than %d) would stall the "
                             "server: use SCAN (rmgr exec -f SPEC -- SCAN 0 MATCH PATTERN "
                             "COUNT 1000), or --force",
                             r->integer, EXEC_KEYS_LIMIT);
        rclient_reply_free(r);
        return -1;
    }
    rclient_reply_free(r);
    return 0;
}

static void *exec_one(void *arg)
{
    struct exec_job *j = arg;
    struct exec_target *t = j->t;
    struct rclient_opts ro = client_opts(j->o);
    struct rclient_err e;
    redisContext *c = rclient_connect(t->ip, t->port, &ro, t->password, &e);
    if (!c) {
        t->error = rclient_connect_message(&e, t->ip, t->port);
        return NULL;
    }
    if (t->check_keys && !j->o->force && exec_is_keys(j->argc, j->argv) && check_keys(c, t) < 0) {
        rclient_close(c);
        return NULL;
    }
    t->reply = rclient_call(c, j->argc, j->argv, &e);
    if (!t->reply)
        t->error = xasprintf("%s:%d: no reply: %s", t->ip, t->port, e.text);
    rclient_close(c);
    return NULL;
}

void exec_run(struct exec_target *t, size_t n, int argc, const char *const *argv,
              const struct exec_options *o)
{
    struct exec_job *jobs = xcalloc(n ? n : 1, sizeof(*jobs));
    for (size_t i = 0; i < n; i++)
        jobs[i] = (struct exec_job){&t[i], argc, argv, o};
    parallel_each(jobs, n, sizeof(*jobs), exec_one);
    free(jobs);
}

void exec_target_release(struct exec_target *t)
{
    rclient_reply_free(t->reply);
    free(t->error);
    t->reply = NULL;
    t->error = NULL;
}

/* The strings of an array reply (borrowed), or none. */
static size_t reply_words(const redisReply *r, const char **v, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements && n < max; i++) {
        const redisReply *e = r->element[i];
        if (e && (e->type == REDIS_REPLY_STATUS || e->type == REDIS_REPLY_STRING))
            v[n++] = e->str;
    }
    return n;
}

int exec_classify(const char *ip, int port, const char *password, const struct exec_options *o,
                  int argc, const char *const *argv, bool *writes, bool *known, char **err)
{
    struct rclient_opts ro = client_opts(o);
    struct rclient_err e;
    *writes = false;
    *known = false;
    redisContext *c = rclient_connect(ip, port, &ro, password, &e);
    if (!c) {
        *err = rclient_connect_message(&e, ip, port);
        return -1;
    }
    int rc = 0;
    /* the subcommand's own flags first (Redis 7: "config|set"), then the command's */
    for (int sub = argc >= 2 ? 1 : 0; sub >= 0; sub--) {
        char *name = exec_info_name(argc, argv, sub);
        redisReply *r = rclient_command(c, &e, "COMMAND", "INFO", name, NULL);
        free(name);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 1) {
            *err = r && r->type == REDIS_REPLY_ERROR
                       ? xasprintf("%s:%d: COMMAND INFO: %.*s", ip, port, (int)r->len, r->str)
                       : xasprintf("%s:%d: COMMAND INFO: no answer", ip, port);
            rclient_reply_free(r);
            rc = -1;
            break;
        }
        const redisReply *info = r->element[0];
        if (info->type == REDIS_REPLY_ARRAY && info->elements >= 3) {
            const char *flags[64], *cats[64];
            size_t nf = reply_words(info->element[2], flags, 64);
            size_t nc = info->elements >= 7 ? reply_words(info->element[6], cats, 64) : 0;
            *writes = exec_flags_write(flags, nf, cats, nc);
            *known = true;
            rclient_reply_free(r);
            break;
        }
        rclient_reply_free(r);
    }
    rclient_close(c);
    return rc;
}
