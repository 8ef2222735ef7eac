/* test_backup.c - backup's choice of member, paths and checksum line (pure). */
#include <stdlib.h>
#include <string.h>

#include "backup.h"
#include "test.h"

TEST(paths_and_checksums)
{
    char *p = backup_path("/srv/backups//", "ops", "alpha", 1796217876);
    CHECK_STR_EQ(p, "/srv/backups/ops/alpha/20261202T132436Z.rdb");
    char *line = backup_checksum_line((const unsigned char *)"abc", 3, p);
    CHECK_STR_EQ(line, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  "
                       "20261202T132436Z.rdb\n");
    free(line);
    free(p);
}

TEST(pick_the_linked_replica_furthest_ahead)
{
    struct spec_addr m = {"127.0.0.1", "127.0.0.1", 7001}, r1 = {"127.0.0.1", "127.0.0.1", 7002},
                     r2 = {"127.0.0.1", "127.0.0.1", 7003};
    struct spec_addr reps[] = {r1, r2};
    struct spec_shard sh = {.name = "alpha", .master = m, .replicas = reps, .nreplicas = 2};
    struct spec s = {.shards = &sh, .nshards = 1};
    struct obs_redis o[3] = {
        {.ip = "127.0.0.1", .port = 7001, .reach = REACH_OK, .role = "master",
         .master_repl_offset = 1000},
        {.ip = "127.0.0.1", .port = 7002, .reach = REACH_OK, .role = "slave",
         .master_host = "127.0.0.1", .master_port = 7001, .master_link_status = "up",
         .slave_repl_offset = 900},
        {.ip = "127.0.0.1", .port = 7003, .reach = REACH_OK, .role = "slave",
         .master_host = "127.0.0.1", .master_port = 7001, .master_link_status = "up",
         .slave_repl_offset = 1000},
    };
    struct observed ob = {.redis = o, .nredis = 3};
    long long lag = -1;
    const struct spec_addr *a = backup_pick(&s, &ob, 0, &sh.master, &lag);
    CHECK(a == &sh.replicas[1] && lag == 0);
    o[2].master_link_status = "down";
    a = backup_pick(&s, &ob, 0, &sh.master, &lag);
    CHECK(a == &sh.replicas[0] && lag == 100);
    o[1].reach = REACH_TIMEOUT;
    a = backup_pick(&s, &ob, 0, &sh.master, &lag);
    CHECK(a == &sh.master && lag == 0);
}

int main(void)
{
    RUN(paths_and_checksums);
    RUN(pick_the_linked_replica_furthest_ahead);
    return test_done();
}
