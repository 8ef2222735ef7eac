/*
 * cmd_backup.c - `rmgr backup -f SPEC [--shard NAME] --to DIR`: one RDB per
 * shard, from a caught-up replica (the master when there is none), saved
 * on the manager as DIR/<cluster>/<shard>/<timestamp>.rdb with a checksum.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "backup.h"
#include "cli.h"
#include "opt.h"
#include "select.h"
#include "session.h"
#include "util.h"

#define BACKUP_DEFAULT_WAIT_MS (10 * 60 * 1000L)

struct backup_args {
    struct session_options so;
    const char *shard, *to;
    long wait_ms;
};

static const struct cli_opt backup_opts[] = {
    {CLI_OPT_STRING, 'f', "file", offsetof(struct backup_args, so.spec_path)},
    {CLI_OPT_MS, 0, "connect-timeout", offsetof(struct backup_args, so.connect_timeout_ms),
     NULL, 1, 3600 * 1000},
    {CLI_OPT_DURATION, 0, "timeout", offsetof(struct backup_args, wait_ms), NULL, 1, 0,
     "10m, 90s"},
    {CLI_OPT_STRING, 0, "shard", offsetof(struct backup_args, shard)},
    {CLI_OPT_STRING, 0, "to", offsetof(struct backup_args, to)},
};

int cmd_backup(int argc, char **argv)
{
    struct backup_args a = {.wait_ms = BACKUP_DEFAULT_WAIT_MS};
    const struct command *cmd;
    int rc = cli_parse_command("backup", backup_opts, sizeof(backup_opts) / sizeof(backup_opts[0]),
                               0, argc, argv, &a, &cmd);
    if (!rc)
        rc = cli_needs_spec(cmd, a.so.spec_path);
    if (!rc && !a.to)
        rc = cli_usage_error(cmd, "backup needs a directory: --to DIR");
    if (rc)
        return rc;
    struct session s = {0};
    a.so.skip_files = true;
    if (session_open(&s, &a.so, stderr) < 0)
        return EXIT_FAILURE_;
    if (select_check_shard(s.spec, a.shard)) {
        session_release(&s);
        return EXIT_FAILURE_;
    }
    long ct = a.so.connect_timeout_ms ? a.so.connect_timeout_ms : SESSION_DEFAULT_CONNECT_TIMEOUT_MS;
    time_t now = time(NULL);
    size_t failed = 0, saved = 0;
    for (size_t i = 0; i < s.spec->nshards; i++) {
        const struct spec_shard *sh = &s.spec->shards[i];
        if (a.shard && !str_eq(a.shard, sh->name))
            continue;
        const struct spec_addr *m = s.plan->masters[i].ip ? &s.plan->masters[i] : &sh->master;
        long long lag;
        const struct spec_addr *from = backup_pick(s.spec, s.observed, i, m, &lag);
        bool is_master = from == m;
        char *path = backup_path(a.to, s.spec->cluster, sh->name, now);
        struct backup_result r;
        char *err = NULL;
        if (backup_shard(s.spec, s.password, from, path, ct, a.wait_ms, &r, &err) < 0) {
            fprintf(stderr, "rmgr: backup of %s: %s\n", sh->name, err);
            failed++;
        } else {
            printf("%s: %s from %s:%d (%s%s), %zu bytes, sha256 %s\n", sh->name, r.path,
                   from->ip, from->port, is_master ? "master" : "replica",
                   is_master ? ": no linked replica" : "", r.bytes, r.sha256);
            if (!is_master && lag > 0)
                printf("  (the replica was %lld bytes behind the master when observed)\n", lag);
            saved++;
            free(r.path);
        }
        free(err);
        free(path);
    }
    if (!failed)
        printf("%zu shard%s saved under %s; restore: README 'Restoring a backup'\n", saved,
               saved == 1 ? "" : "s", a.to);
    session_release(&s);
    return failed ? EXIT_FAILURE_ : EXIT_OK;
}
