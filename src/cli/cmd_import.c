/*
 * cmd_import.c - `rmgr import --sentinel ADDRESS [--proxy-config FILE]...
 * [--cluster NAME] [--password-env VAR] > spec.yaml`: a spec from a running
 * Sentinel-monitored deployment (import.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "import.h"
#include "opt.h"
#include "spec.h"
#include "util.h"

struct import_args {
    const char *sentinel, *cluster, *password_env;
    const char **proxy_configs;
    size_t nproxy_configs;
    long connect_timeout_ms;
};

static int take_proxy_config(void *dest, const struct cli_opt *opt, const char *value, char **err)
{
    (void)opt;
    (void)err;
    struct import_args *a = dest;
    a->proxy_configs = xrealloc(a->proxy_configs, sizeof(char *) * (a->nproxy_configs + 1));
    a->proxy_configs[a->nproxy_configs++] = value;
    return 0;
}

static const struct cli_opt import_opts[] = {
    {CLI_OPT_STRING, 0, "sentinel", offsetof(struct import_args, sentinel), .arg = "ADDRESS",
     .help = "one sentinel of the deployment (IP:PORT)"},
    {CLI_OPT_STRING, 0, "proxy-config", 0, take_proxy_config, .arg = "FILE",
     .help = "a proxy's nutcracker.yml (repeatable)"},
    {CLI_OPT_STRING, 0, "cluster", offsetof(struct import_args, cluster), .arg = "NAME",
     .help = "the cluster's name (default: imported)"},
    {CLI_OPT_STRING, 0, "password-env", offsetof(struct import_args, password_env),
     .arg = "VAR", .help = "the spec's auth.password_env (RMGR_REDIS_...);\nits value AUTHs to the sentinel"},
    {CLI_OPT_MS, 0, "connect-timeout", offsetof(struct import_args, connect_timeout_ms), NULL,
     1, 3600 * 1000, .arg = "MS", .help = "connect and command timeout (default 2000)"},
};

static bool loopback(const char *ip)
{
    return !strncmp(ip, "127.", 4);
}

static bool model_local(const struct import_model *m)
{
    for (size_t i = 0; i < m->nshards; i++) {
        if (!loopback(m->shards[i].master.ip))
            return false;
        for (size_t k = 0; k < m->shards[i].nreplicas; k++)
            if (!loopback(m->shards[i].replicas[k].ip))
                return false;
    }
    for (size_t i = 0; i < m->nsentinels; i++)
        if (!loopback(m->sentinels[i].ip))
            return false;
    for (size_t i = 0; i < m->nproxies; i++)
        if (!loopback(m->proxies[i].listen.ip))
            return false;
    return true;
}

static int run_import(int argc, char **argv)
{
    struct import_args a = {0};
    const struct command *cmd = &command_import;
    int rc = cli_parse_command(cmd, argc, argv, &a);
    const char *colon = a.sentinel ? strrchr(a.sentinel, ':') : NULL;
    long port = 0;
    if (!rc && (!colon || !parse_long(colon + 1, 1, 65535, &port)))
        rc = cli_usage_error(cmd, "import needs --sentinel IP:PORT");
    if (rc) {
        free(a.proxy_configs);
        return rc;
    }
    char *ip = xasprintf("%.*s", (int)(colon - a.sentinel), a.sentinel);
    struct import_model m = {.cluster = xstrdup(a.cluster ? a.cluster : "imported"),
                             .password_env = a.password_env ? xstrdup(a.password_env) : NULL};
    char *err = NULL;
    /* the variable's value, when it is one a spec may name: sentinels with requirepass */
    const char *pw = NULL;
    if (a.password_env && !strncmp(a.password_env, SPEC_PASSWORD_ENV_PREFIX,
                                   strlen(SPEC_PASSWORD_ENV_PREFIX)))
        pw = getenv(a.password_env);
    rc = import_gather(ip, (int)port, a.connect_timeout_ms ? a.connect_timeout_ms : 2000,
                       pw && *pw ? pw : NULL, &m, &err) < 0 ? EXIT_FAILURE_ : EXIT_OK;
    m.proxies = xcalloc(a.nproxy_configs + 1, sizeof(*m.proxies));
    for (size_t i = 0; !rc && i < a.nproxy_configs; i++) {
        char *text = NULL;
        size_t len = 0;
        if (read_file(a.proxy_configs[i], 1 << 20, &text, &len) < 0) {
            err = xasprintf("%s: cannot read it", a.proxy_configs[i]);
            rc = EXIT_FAILURE_;
        } else if (import_parse_proxy(a.proxy_configs[i], text, &m.proxies[m.nproxies], &err) < 0) {
            m.nproxies++; /* released with the model */
            rc = EXIT_FAILURE_;
        } else {
            m.nproxies++;
        }
        free(text);
    }
    if (!rc) {
        m.all_local = model_local(&m);
        char *yaml = import_render(&m);
        fputs(yaml, stdout);
        free(yaml);
    } else {
        fprintf(stderr, "rmgr: import: %s\n", err);
    }
    free(err);
    free(ip);
    free(a.proxy_configs);
    import_model_release(&m);
    return rc;
}

const struct command command_import = {
    /* name, run, summary (`rmgr help`) */
    "import", run_import, "write a spec from a running Sentinel-monitored deployment",
    .usage =
        "usage: rmgr import --sentinel ADDRESS [--proxy-config FILE]... [--cluster NAME]\n"
        "                   [--password-env VAR] [--connect-timeout MS] > spec.yaml\n"
        "\n"
        "Ask the sentinel at ADDRESS (IP:PORT) for the masters it monitors (SENTINEL\n"
        "MASTERS: shards with Sentinel's current master, their settings), their\n"
        "replicas (SENTINEL REPLICAS) and the other sentinels (SENTINEL SENTINELS);\n"
        "read each proxy's nutcracker.yml (its first pool; redis_auth is never copied);\n"
        "print the spec on stdout. 'rmgr plan' with it against the same cluster shows\n"
        "only what rmgr's layout needs (its files under base_dir), never a role change.\n",
    CLI_COMMAND_OPTS(import_opts),
    .epilog =
        "Exit status: 0 written, 1 the sentinel or a file could not be read, 2 usage error.\n",
};
