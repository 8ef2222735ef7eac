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
    CLI_OPT_SPEC(struct backup_args, so),
    {CLI_OPT_STRING, 0, "shard", offsetof(struct backup_args, shard), .arg = "NAME",
     .help = "only this shard"},
    {CLI_OPT_STRING, 0, "to", offsetof(struct backup_args, to), .arg = "DIR",
     .help = "where to save (on the machine running rmgr)"},
    {CLI_OPT_DURATION, 0, "timeout", offsetof(struct backup_args, wait_ms), NULL, 1, 0,
     "10m, 90s", .arg = "DURATION", .help = "bound of each BGSAVE and copy (default 10m)"},
    {CLI_OPT_MS, 0, "connect-timeout", offsetof(struct backup_args, so.connect_timeout_ms),
     NULL, 1, 3600 * 1000, .arg = "MS", .help = "connect timeout per server (default 1000)"},
};

static int run_backup(int argc, char **argv)
{
    struct backup_args a = {.wait_ms = BACKUP_DEFAULT_WAIT_MS};
    const struct command *cmd = &command_backup;
    int rc = cli_parse_spec_command(cmd, argc, argv, &a, &a.so.spec_path);
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

const struct command command_backup = {
    /* name, run, summary (`rmgr help`) */
    "backup", run_backup, "save an RDB of each shard on this machine",
    .usage =
        "usage: rmgr backup -f SPEC [--shard NAME] --to DIR [--timeout DURATION]\n"
        "                   [--connect-timeout MS]\n"
        "\n"
        "Per shard, BGSAVE on its linked replica with the highest offset (the master\n"
        "when it has none), wait for it, copy the RDB over the host's transport to\n"
        "DIR/<cluster>/<shard>/<YYYYmmddTHHMMSSZ>.rdb (mode 0600) with a checksum file\n"
        "beside it ('sha256sum -c' reads it), and print what was saved. redis.config\n"
        "keeps owning save and appendonly. Restoring is described in the README.\n",
    CLI_COMMAND_OPTS(backup_opts),
    .epilog =
        "Exit status: 0 every shard saved, 1 a shard could not be saved, 2 usage error.\n",
};
