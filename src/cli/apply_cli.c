/*
 * apply_cli.c - the options, lock, prompt and summary that `rmgr apply` and
 * `rmgr destroy` share. See apply_cli.h.
 */
#include "apply_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "lock.h"
#include "util.h"

int apply_cli_parse_option(struct apply_cli_options *o, const struct command *cmd, int argc,
                           char **argv, int *i)
{
    const char *a = argv[*i], *v;
    int rc;
    if (!strcmp(a, "--auto-approve")) {
        o->auto_approve = true;
        return 1;
    }
    if (!strcmp(a, "--allow-destructive")) {
        o->allow_destructive = true;
        return 1;
    }
    if (!strcmp(a, "--accept-new-host-keys")) {
        o->accept_new_host_keys = true;
        return 1;
    }
    if (!strcmp(a, "--no-color")) {
        o->no_color = true;
        return 1;
    }
    if ((rc = session_option_value("--lock-timeout", cmd, argc, argv, i, &v)) != 0) {
        if (rc < 0)
            return -1;
        if (!parse_duration_ms(v, &o->lock_timeout_ms) || o->lock_timeout_ms < 0) {
            cli_usage_error(cmd, "option '--lock-timeout' needs a duration (30s, 5m, 250ms), "
                                 "not '%s'", v);
            return -1;
        }
        return 1;
    }
    if ((rc = session_option_value("--lock-file", cmd, argc, argv, i, &v)) != 0) {
        if (rc > 0)
            o->lock_file = v;
        return rc;
    }
    return 0;
}

struct cluster_lock *apply_cli_lock(const struct apply_cli_options *o, const char *cluster)
{
    char *path = o->lock_file ? xstrdup(o->lock_file) : lock_default_path(cluster);
    char *err = NULL;
    struct cluster_lock *l = lock_acquire(path, o->lock_timeout_ms, &err);
    if (!l)
        fprintf(stderr, "rmgr: %s\n", err ? err : "cannot take the cluster lock");
    free(err);
    free(path);
    return l;
}

bool apply_cli_confirm(const char *question, const char *flags_hint)
{
    if (!isatty(STDIN_FILENO)) {
        fprintf(stderr, "rmgr: no terminal to confirm on: pass %s to proceed without a prompt\n",
                flags_hint);
        return false;
    }
    printf("\n%s Only 'yes' will be accepted: ", question);
    fflush(stdout);
    char line[64];
    if (!fgets(line, sizeof(line), stdin))
        return false;
    line[strcspn(line, "\r\n")] = '\0';
    return !strcmp(line, "yes");
}

struct apply_options apply_cli_run_options(const struct apply_cli_options *o,
                                           long connect_timeout_ms, long command_timeout_ms)
{
    struct apply_options ao = {
        .transport = {.accept_new_host_keys = o->accept_new_host_keys},
        .connect_timeout_ms = connect_timeout_ms,
        .command_timeout_ms = command_timeout_ms,
        .out = stdout,
        .color = cli_use_color(o->no_color),
    };
    /* an ssh handshake may take longer than a redis connect: only raise its timeout */
    if (connect_timeout_ms > 0)
        ao.transport.connect_timeout_ms = connect_timeout_ms > 5000 ? connect_timeout_ms : 5000;
    return ao;
}

void apply_cli_print_result(const char *what, const struct apply_result *res, bool color)
{
    const char *on = color ? (res->error ? "\033[1;31m" : "\033[1;32m") : "";
    const char *off = color ? "\033[0m" : "";
    if (!res->error) {
        printf("\n%s%s complete: %zu done.%s\n", on, what, res->done, off);
        fflush(stdout);
        return;
    }
    printf("\n%s%s failed: %zu done, %zu failed, %zu not run.%s\n", on, what, res->done,
           res->failed, res->not_run, off);
    if (res->not_run_list) {
        printf("Not run:\n");
        const char *p = res->not_run_list;
        while (*p) {
            const char *nl = strchr(p, '\n');
            size_t n = nl ? (size_t)(nl - p) : strlen(p);
            printf("  %.*s\n", (int)n, p);
            p += n + (nl ? 1 : 0);
        }
    }
    fflush(stdout);
    fprintf(stderr, "rmgr: %s\n", res->error);
}
