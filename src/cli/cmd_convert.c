/*
 * cmd_convert.c - `rmgr convert redis-mgr CONF.py [--cluster NAME]
 * [--host NAME=IP]...`: another tool's configuration as an rmgr spec on
 * stdout (convert_redismgr.c). The file is read, never executed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cli.h"
#include "convert_redismgr.h"
#include "diag.h"
#include "opt.h"
#include "util.h"

struct convert_args {
    struct strvec args;  /* FORMAT FILE */
    struct strvec hosts; /* NAME=IP of --host */
    const char *cluster;
};

static int add_arg(void *dest, const struct cli_opt *opt, const char *value, char **err)
{
    (void)opt;
    (void)err;
    strvec_add(dest, xstrdup(value));
    return 0;
}

static int add_host(void *dest, const struct cli_opt *opt, const char *value, char **err)
{
    (void)opt;
    const char *eq = strchr(value, '=');
    unsigned char buf[16];
    if (!eq || eq == value ||
        (inet_pton(AF_INET, eq + 1, buf) != 1 && inet_pton(AF_INET6, eq + 1, buf) != 1)) {
        *err = xasprintf("option '--host' needs NAME=IP (an IP address), not '%s'", value);
        return -1;
    }
    strvec_add(dest, xstrdup(value));
    return 0;
}

static const struct cli_opt convert_opts[] = {
    {CLI_OPT_STRING, 0, "cluster", offsetof(struct convert_args, cluster), .arg = "NAME",
     .help = "the cluster dict to convert (its variable or its\n"
             "cluster_name); needed when the file has several"},
    {CLI_OPT_STRING, 0, "host", offsetof(struct convert_args, hosts), add_host, .arg = "NAME=IP",
     .help = "the address of a host the file names (repeatable);\n"
             "other names are resolved on this machine"},
    {CLI_OPT_ARG, 0, NULL, offsetof(struct convert_args, args), add_arg}, /* FORMAT FILE */
};

/* --host first, then the resolver of this machine (IPv4 first) */
static char *resolve(const char *name, void *ctx)
{
    const struct strvec *hosts = ctx;
    size_t len = strlen(name);
    for (size_t i = hosts->n; i > 0; i--) /* the last --host for a name wins */
        if (!strncmp(hosts->v[i - 1], name, len) && hosts->v[i - 1][len] == '=')
            return xstrdup(hosts->v[i - 1] + len + 1);
    static const int families[] = {AF_INET, AF_INET6};
    for (size_t f = 0; f < ARRAY_SIZE(families); f++) {
        struct addrinfo hints = {.ai_family = families[f], .ai_socktype = SOCK_STREAM}, *res = NULL;
        if (getaddrinfo(name, NULL, &hints, &res) != 0 || !res)
            continue;
        char ip[INET6_ADDRSTRLEN] = "";
        const void *a = res->ai_family == AF_INET
                            ? (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr
                            : (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr;
        inet_ntop(res->ai_family, a, ip, sizeof(ip));
        freeaddrinfo(res);
        if (*ip)
            return xstrdup(ip);
    }
    return NULL;
}

static int run_convert(int argc, char **argv)
{
    const struct command *cmd = &command_convert;
    struct convert_args a = {0};
    int rc = cli_parse_command(cmd, argc, argv, &a);
    if (!rc && a.args.n != 2)
        rc = cli_usage_error(cmd, a.args.n < 2 ? "convert needs a FORMAT and a FILE"
                                               : "unexpected argument '%s'", a.args.n > 2 ? a.args.v[2] : "");
    if (!rc && strcmp(a.args.v[0], "redis-mgr"))
        rc = cli_usage_error(cmd, "unknown format '%s' (known: redis-mgr)", a.args.v[0]);
    if (rc) {
        strvec_release(&a.args);
        strvec_release(&a.hosts);
        return rc;
    }
    const char *file = a.args.v[1];
    char *text = NULL;
    size_t len = 0;
    rc = EXIT_FAILURE_;
    if (read_file(file, 1024 * 1024, &text, &len) < 0) {
        fprintf(stderr, "rmgr: cannot read '%s': %s\n", file, strerror(errno));
    } else {
        struct diags d = {0};
        struct strbuf out = {0};
        struct convert_opts o = {.cluster = a.cluster, .resolve = resolve, .resolve_ctx = &a.hosts};
        int crc = convert_redismgr(file, text, len, &o, &out, &d);
        diags_sort(&d);
        diags_print(&d, stderr);
        if (crc == 0) {
            fputs(sb_str(&out), stdout);
            rc = fflush(stdout) == 0 ? EXIT_OK : EXIT_FAILURE_;
        }
        sb_release(&out);
        diags_release(&d);
        free(text);
    }
    strvec_release(&a.args);
    strvec_release(&a.hosts);
    return rc;
}

const struct command command_convert = {
    /* name, run, summary (`rmgr help`) */
    "convert", run_convert, "another tool's configuration as an rmgr spec",
    .usage =
        "usage: rmgr convert redis-mgr CONF.py [--cluster NAME] [--host NAME=IP]... > spec.yaml\n"
        "\n"
        "Read a redis-mgr configuration (its conf/conf.py) without running it: only\n"
        "literal assignments (NAME = {...}, NAME['k'] = ..., NAME['k'].append(...)) are\n"
        "read, anything else is skipped with a warning. The cluster dict (cluster_name,\n"
        "user, sentinel, redis pairs, nutcracker, migration) becomes a spec on stdout:\n"
        "shards named by redis-mgr's server names (so nutcracker keeps every key on its\n"
        "shard), its sentinel settings, its nutcracker pool settings, and\n"
        "REDIS_MONITOR_EXTRA as alerts:. Host names in the file become hosts: entries\n"
        "with the address --host gives, else what this machine resolves them to.\n"
        "Problems go to stderr as file:line:col.\n",
    CLI_COMMAND_OPTS(convert_opts),
    .epilog = "Exit status: 0 converted, 1 the file cannot be read or converted, 2 usage error.\n",
};
