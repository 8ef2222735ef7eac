/*
 * test_nutcracker_yml.c - the one nutcracker.yml reader: which lines are
 * servers (the planner's diff and status both use it).
 */
#include "nutcracker_yml.h"

#include "test.h"

TEST(servers_only_inside_a_servers_block)
{
    struct nc_yml y;
    nc_yml_parse(&y, "# generated\n"
                     "pool:\n"
                     "  listen: 127.0.0.1:22121   \n"
                     "  servers:\n"
                     "   - 127.0.0.1:7001:1 shard1\n"
                     "   - \"10.0.0.2:6380:1 shard2\"\n"
                     "   - ::1:7000:1\n"
                     "   - 127.0.0.1:99999:1 badport\n"
                     "   - 127.0.0.1:7005:x badweight\n"
                     "  timeout: 400\n"
                     "  - 127.0.0.1:7009:1 outside\n");
    CHECK_INT_EQ(y.nservers, 3);
    if (y.nservers == 3) {
        CHECK_STR_EQ(y.servers[0].name, "shard1");
        CHECK_STR_EQ(y.servers[0].addr, "127.0.0.1:7001");
        CHECK_STR_EQ(y.servers[1].name, "shard2");
        CHECK_STR_EQ(y.servers[1].addr, "10.0.0.2:6380");
        CHECK(y.servers[2].name == NULL);
        CHECK_STR_EQ(y.servers[2].ip, "::1");
        CHECK_INT_EQ(y.servers[2].port, 7000);
        CHECK_STR_EQ(nc_yml_server_key(&y.servers[2]), "::1:7000");
    }
    /* what is not a server is kept, trailing blanks removed, for the planner's diff */
    CHECK_INT_EQ(y.nother, 7);
    if (y.nother == 7) {
        CHECK_STR_EQ(y.other[0], "pool:");
        CHECK_STR_EQ(y.other[1], "  listen: 127.0.0.1:22121");
        CHECK_STR_EQ(y.other[3], "   - 127.0.0.1:99999:1 badport");
        CHECK_STR_EQ(y.other[6], "  - 127.0.0.1:7009:1 outside");
    }
    CHECK(nc_yml_find(&y, "shard2") == &y.servers[1]);
    CHECK(nc_yml_find(&y, "outside") == NULL);
    nc_yml_release(&y);
}

TEST(empty_and_null)
{
    struct nc_yml y;
    nc_yml_parse(&y, NULL);
    CHECK_INT_EQ(y.nservers + y.nother, 0);
    nc_yml_release(&y);
    nc_yml_parse(&y, "\n# only a comment\n\n");
    CHECK_INT_EQ(y.nservers + y.nother, 0);
    nc_yml_release(&y);
}

int main(void)
{
    RUN(servers_only_inside_a_servers_block);
    RUN(empty_and_null);
    return test_done();
}
