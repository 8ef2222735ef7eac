/* test_switchover.c - the pure checks of `rmgr failover` (switchover.c). */
#include <stdlib.h>
#include <string.h>

#include "switchover.h"
#include "test.h"

static struct spec_addr addr = {.host = "127.0.0.1", .ip = "127.0.0.1", .port = 7002};

static char *ready_why(struct switchover_member m, long long moff, size_t ns, bool *ready)
{
    char *why = NULL;
    *ready = switchover_member_ready(&m, moff, ns, &why);
    return why;
}

TEST(member_readiness)
{
    bool ok;
    struct switchover_member good = {&addr, true, true, true, 1000, 3};
    char *w = ready_why(good, 1000, 3, &ok);
    CHECK(ok && !w);
    w = ready_why(good, 900, 3, &ok); /* ahead of the offset read before: caught up */
    CHECK(ok && !w);

    struct switchover_member m = good;
    m.reached = false;
    w = ready_why(m, 1000, 3, &ok);
    CHECK(!ok);
    CHECK_STR_EQ(w, "127.0.0.1:7002: does not answer");
    free(w);
    m = good, m.replica_of_master = false;
    w = ready_why(m, 1000, 3, &ok);
    CHECK_CONTAINS(w, "not a replica of the current master");
    free(w);
    m = good, m.link_up = false;
    w = ready_why(m, 1000, 3, &ok);
    CHECK_CONTAINS(w, "link to the master is down");
    free(w);
    w = ready_why(good, 1500, 3, &ok);
    CHECK(!ok);
    CHECK_CONTAINS(w, "not caught up (500 bytes behind)");
    free(w);
    m = good, m.sentinels_ok = 2;
    w = ready_why(m, 1000, 3, &ok);
    CHECK(!ok);
    CHECK_CONTAINS(w, "known to 2 of 3 sentinels");
    free(w);
}

TEST(priorities_make_the_target_first)
{
    long cur[] = {100, 100, 1, 0};
    long out[4];
    switchover_priorities(cur, 4, 0, out);
    CHECK(out[0] == SWITCHOVER_BEST_PRIORITY);
    CHECK(out[1] == 100);                          /* already worse: kept */
    CHECK(out[2] == SWITCHOVER_BEST_PRIORITY + 1); /* would tie: moved behind */
    CHECK(out[3] == 0);                            /* never promoted: kept */
    switchover_priorities(cur, 4, 3, out);         /* a target at 0 gets the best too */
    CHECK(out[3] == SWITCHOVER_BEST_PRIORITY && out[2] == SWITCHOVER_BEST_PRIORITY + 1);
}

TEST(converged_means_an_empty_plan)
{
    struct plan p = {0};
    char *why = NULL;
    CHECK(switchover_converged(&p, &why));
    CHECK(why == NULL);
    p.unreachable = 1;
    CHECK(!switchover_converged(&p, &why));
    CHECK_CONTAINS(why, "1 instance could not be reached");
    free(why);
    p.unreachable = 0, p.waiting = 2;
    CHECK(!switchover_converged(&p, &why));
    CHECK_CONTAINS(why, "2 shards are left to Sentinel");
    free(why);
    struct plan_refusal r = {"alpha", "two masters"};
    p.waiting = 0, p.refusals = &r, p.nrefusals = 1;
    CHECK(!switchover_converged(&p, &why));
    CHECK_CONTAINS(why, "refuses shard alpha");
    free(why);
}

int main(void)
{
    RUN(member_readiness);
    RUN(priorities_make_the_target_first);
    RUN(converged_means_an_empty_plan);
    return test_done();
}
