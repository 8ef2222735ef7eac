/*
 * cmd_exec.c - `rmgr exec -f SPEC [--masters|--replicas|--sentinels|--proxies]
 * [--shard NAME] [--allow-write] [--force] [--json] -- CMD ARGS...`: one
 * command on every selected instance in parallel, each answer under its
 * address and role, in spec order.
 *
 * Nothing is sent before the command is judged: a command rmgr refuses
 * (exec_refusal) needs --force, one that Redis' COMMAND INFO flags as
 * writing or administrating needs --allow-write. The password is the
 * spec's, as for every command.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "exec.h"
#include "json_out.h"
#include "opt.h"
#include "select.h"
#include "session.h"
#include "util.h"

struct exec_args {
    struct session_options so;
    bool masters, replicas, sentinels, proxies;
    const char *shard;
    bool allow_write, force, json;
    const char **words; /* CMD ARGS */
    int nwords;
};

static int take_word(void *dest, const struct cli_opt *opt, const char *value, char **err)
{
    (void)opt;
    (void)err;
    struct exec_args *a = dest;
    a->words = xrealloc(a->words, sizeof(*a->words) * (size_t)(a->nwords + 1));
    a->words[a->nwords++] = value;
    return 0;
}

static const struct cli_opt exec_opts[] = {
    CLI_OPTS_SESSION(struct exec_args, so, CLI_TIMEOUT_HELP_OBSERVE),
    {CLI_OPT_FLAG, 0, "masters", offsetof(struct exec_args, masters),
     .help = "only the shards' current masters"},
    {CLI_OPT_FLAG, 0, "replicas", offsetof(struct exec_args, replicas),
     .help = "only the shards' current replicas"},
    {CLI_OPT_FLAG, 0, "sentinels", offsetof(struct exec_args, sentinels),
     .help = "the sentinels instead"},
    {CLI_OPT_FLAG, 0, "proxies", offsetof(struct exec_args, proxies),
     .help = "the proxies (nutcracker) instead"},
    {CLI_OPT_STRING, 0, "shard", offsetof(struct exec_args, shard), .arg = "NAME",
     .help = "only this shard's members"},
    {CLI_OPT_FLAG, 0, "allow-write", offsetof(struct exec_args, allow_write),
     .help = "allow a command that writes or administrates"},
    {CLI_OPT_FLAG, 0, "force", offsetof(struct exec_args, force),
     .help = "allow a refused command"},
    {CLI_OPT_FLAG, 0, "json", offsetof(struct exec_args, json),
     .help = "a JSON array, one object per instance: address, role,\nshard, and reply or error"},
    {CLI_OPT_ARG, 0, NULL, 0, take_word, .flags = CLI_OPT_EMPTY_OK},
};

struct targets {
    struct exec_target *v;
    size_t n, cap;
};

static void add_target(struct targets *t, const char *ip, int port, const char *role,
                       const char *shard, const char *password, bool check_keys)
{
    VEC_GROW(t->v, t->n, t->cap);
    t->v[t->n++] = (struct exec_target){.ip = ip, .port = port, .role = role, .shard = shard,
                                        .password = password, .check_keys = check_keys};
}

/* The members of the selected shards, each with the role it has now. */
static void select_redis(const struct session *s, const struct exec_args *a, struct targets *t)
{
    for (size_t i = 0; i < s->spec->nshards; i++) {
        const struct spec_shard *sh = &s->spec->shards[i];
        if (a->shard && !str_eq(a->shard, sh->name))
            continue;
        const struct spec_addr *m = &s->plan->masters[i];
        if (!m->ip)
            m = &sh->master;
        for (size_t k = 0; k <= sh->nreplicas; k++) {
            const struct spec_addr *x = k == 0 ? &sh->master : &sh->replicas[k - 1];
            bool is_master = str_eq(x->ip, m->ip) && x->port == m->port;
            if ((a->masters && !is_master) || (a->replicas && is_master))
                continue;
            add_target(t, x->ip, x->port, is_master ? "master" : "replica", sh->name,
                       s->password, true);
        }
    }
}

static void select_targets(const struct session *s, const struct exec_args *a,
                           struct targets *t)
{
    if (a->sentinels) {
        for (size_t i = 0; i < s->spec->sentinel.nnodes; i++)
            add_target(t, s->spec->sentinel.nodes[i].ip, s->spec->sentinel.nodes[i].port,
                       "sentinel", NULL, s->password, false);
    } else if (a->proxies) {
        for (size_t i = 0; i < s->spec->nproxies; i++)
            add_target(t, s->spec->proxies[i].listen.ip, s->spec->proxies[i].listen.port,
                       "proxy", NULL, s->password, false);
    } else {
        select_redis(s, a, t);
    }
}

/*
 * Whether the command writes, by the COMMAND INFO of the first selected
 * server that answers it (nutcracker has no COMMAND: a proxy's command is
 * judged by the shards' redis). 0, or -1 after saying why on stderr.
 */
static int command_writes(const struct session *s, const struct exec_args *a,
                          const struct targets *sel, const struct exec_options *eo,
                          bool *writes)
{
    struct targets judges = {0};
    if (a->proxies)
        select_redis(s, &(struct exec_args){0}, &judges);
    const struct targets *j = a->proxies ? &judges : sel;
    char *last = NULL;
    int rc = -1;
    for (size_t i = 0; i < j->n && rc < 0; i++) {
        bool known;
        char *err = NULL;
        if (exec_classify(j->v[i].ip, j->v[i].port, j->v[i].password, eo, a->nwords,
                          a->words, writes, &known, &err) == 0) {
            rc = 0;
            if (!known)
                *writes = false; /* the server will answer "unknown command" */
        }
        free(last);
        last = err;
    }
    if (rc < 0)
        fprintf(stderr, "rmgr: cannot tell whether %s writes: no server answered COMMAND INFO%s%s\n",
                a->words[0], last ? ": " : "", last ? last : "");
    free(last);
    free(judges.v);
    return rc;
}

static char *target_label(const struct exec_target *t)
{
    return t->shard ? xasprintf("%s:%d %s %s", t->ip, t->port, t->role, t->shard)
                    : xasprintf("%s:%d %s", t->ip, t->port, t->role);
}

static bool target_failed(const struct exec_target *t)
{
    return t->error || !t->reply || t->reply->type == REDIS_REPLY_ERROR;
}

static void print_text(const struct targets *t)
{
    struct strbuf out = {0};
    for (size_t i = 0; i < t->n; i++) {
        const struct exec_target *x = &t->v[i];
        char *label = target_label(x);
        sb_addf(&out, "%s%s\n", i ? "\n" : "", label);
        free(label);
        if (x->error)
            sb_addf(&out, "  (failed) %s\n", x->error);
        else
            exec_format_reply(&out, x->reply, "  ");
    }
    fputs(sb_str(&out), stdout);
    sb_release(&out);
}

static void print_json(const struct targets *t)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < t->n; i++) {
        const struct exec_target *x = &t->v[i];
        json_t *o = json_object();
        json_object_set_new(o, "address", json_sprintf("%s:%d", x->ip, x->port));
        json_object_set_new(o, "role", json_string(x->role));
        json_object_set_new(o, "shard", json_str_or_null(x->shard));
        if (x->error)
            json_object_set_new(o, "error", json_string(x->error));
        else if (x->reply && x->reply->type == REDIS_REPLY_ERROR)
            json_object_set_new(o, "error", exec_json_bytes(x->reply->str, x->reply->len));
        else
            json_object_set_new(o, "reply", exec_reply_json(x->reply));
        json_array_append_new(arr, o);
    }
    char *text = json_out_doc(arr);
    fputs(text, stdout);
    free(text);
}

static int check_selection(const struct command *cmd, const struct exec_args *a,
                           const struct spec *sp)
{
    int nsel = a->masters + a->replicas + a->sentinels + a->proxies;
    if (nsel > 1)
        return cli_usage_error(cmd, "give at most one of --masters, --replicas, --sentinels, "
                                    "--proxies");
    if (a->shard && (a->sentinels || a->proxies))
        return cli_usage_error(cmd, "--shard selects redis instances, not %s",
                               a->sentinels ? "sentinels" : "proxies");
    if (!a->nwords)
        return cli_usage_error(cmd, "exec needs a command: -- CMD ARGS...");
    return sp ? select_check_shard(sp, a->shard) : 0;
}

static int run_exec(int argc, char **argv)
{
    struct exec_args a = {0};
    const struct command *cmd = &command_exec;
    int rc = cli_parse_spec_command(cmd, argc, argv, &a, &a.so.spec_path);
    if (!rc)
        rc = check_selection(cmd, &a, NULL);
    if (rc) {
        free(a.words);
        return rc;
    }
    struct exec_options eo = {
        a.so.connect_timeout_ms ? a.so.connect_timeout_ms : SESSION_DEFAULT_CONNECT_TIMEOUT_MS,
        a.so.command_timeout_ms ? a.so.command_timeout_ms : SESSION_DEFAULT_COMMAND_TIMEOUT_MS,
        a.force};

    /* a refusal needs no server: say it before anything is contacted */
    char *no = a.force ? NULL : exec_refusal(a.nwords, a.words, NULL);
    struct session s = {0};
    a.so.skip_files = true;
    if (!no && session_open(&s, &a.so, stderr) < 0) {
        free(a.words);
        return EXIT_FAILURE_;
    }
    if (!no && !a.force)
        no = exec_refusal(a.nwords, a.words, s.spec); /* CONFIG SET of the spec's directives */
    if (no) {
        fprintf(stderr, "rmgr: %s (or --force)\n", no);
        free(no);
        free(a.words);
        session_release(&s);
        return EXIT_FAILURE_;
    }
    rc = check_selection(cmd, &a, s.spec);
    struct targets t = {0};
    if (!rc)
        select_targets(&s, &a, &t);
    bool writes = false;
    if (!rc && t.n && command_writes(&s, &a, &t, &eo, &writes) < 0)
        rc = EXIT_FAILURE_;
    if (!rc && writes && !a.allow_write) {
        fprintf(stderr, "rmgr: %s writes or administrates (its COMMAND INFO flags): run it "
                        "with --allow-write\n", a.words[0]);
        rc = EXIT_FAILURE_;
    }
    if (!rc) {
        exec_run(t.v, t.n, a.nwords, a.words, &eo);
        if (a.json)
            print_json(&t);
        else
            print_text(&t);
        for (size_t i = 0; i < t.n; i++)
            if (target_failed(&t.v[i]))
                rc = EXIT_FAILURE_;
    }
    for (size_t i = 0; i < t.n; i++)
        exec_target_release(&t.v[i]);
    free(t.v);
    free(a.words);
    session_release(&s);
    return rc;
}

const struct command command_exec = {
    /* name, run, summary (`rmgr help`) */
    "exec", run_exec, "run one Redis command on every selected instance",
    .usage =
        "usage: rmgr exec -f SPEC [--masters|--replicas|--sentinels|--proxies] [--shard NAME]\n"
        "                 [--allow-write] [--force] [--json] [--connect-timeout MS]\n"
        "                 [--timeout MS] -- CMD ARGS...\n"
        "\n"
        "Send the command to every selected instance in parallel (no selection flag:\n"
        "every redis instance, masters and replicas) and print each answer under its\n"
        "address and role, in spec order, after every instance answered or failed.\n"
        "Roles are the ones the instances have now (Sentinel's masters).\n"
        "\n"
        "A command that writes or administrates by Redis' own flags (COMMAND INFO:\n"
        "write, admin, may_replicate, or a script) needs --allow-write; CONFIG GET and\n"
        "SENTINEL ... are admin commands. SHUTDOWN, FLUSHALL, FLUSHDB, DEBUG,\n"
        "REPLICAOF, SLAVEOF, SENTINEL FAILOVER/REMOVE/RESET, CONFIG SET of a directive\n"
        "rmgr manages and KEYS on an instance with more than 100000 keys are refused\n"
        "with the rmgr command that does it safely, unless --force is given (a\n"
        "writing command then still needs --allow-write). The password is the spec's.\n",
    CLI_COMMAND_OPTS(exec_opts),
    .parse_flags = CLI_PARSE_DASHDASH,
    .epilog =
        "Exit status: 0 every instance answered, 1 an instance answered an error or\n"
        "could not be reached, or the command was refused, 2 usage error.\n",
};
