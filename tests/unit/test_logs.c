/* test_logs.c - log line times and the merge of several logs (pure). */
#include <stdlib.h>
#include <string.h>

#include "logs.h"
#include "test.h"

static long long t(const char *line)
{
    return logs_line_time(line, strlen(line));
}

TEST(times_of_redis_sentinel_and_nutcracker_lines)
{
    /* 2026-12-02 13:24:36.711 UTC */
    long long ms = 1796217876711LL;
    CHECK(t("31434:M 02 Dec 2026 13:24:36.711 * Ready to accept connections tcp") == ms);
    CHECK(t("7:S 02 Dec 2026 13:24:36.711 # Connecting to MASTER") == ms);
    CHECK(t("99:X 02 Dec 2026 13:24:36.711 # +switch-master alpha") == ms);
    CHECK(t("5:C 02 Dec 2026 13:24:36.712 * DB saved on disk") == ms + 1);
    CHECK(t("[2026-12-02 13:24:36.711] nc.c:182 nutcracker-0.5.0 started") == ms);
    CHECK(t("31434:M 01 Jan 2027 00:00:00.000 x") == 1798761600000LL);
    CHECK(t("                _._") == -1);
    CHECK(t("") == -1);
    CHECK(t("31434:M 02 Foo 2026 13:24:36.711 x") == -1);
    CHECK(t("31434:M 02 Dec 2026 13:24:36") == -1);
    CHECK(t("[2026-12-02 13:24:36.711 no bracket") == -1);
    CHECK(t("abc:M 02 Dec 2026 13:24:36.711 x") == -1);
}

TEST(merge_by_time_keeping_each_logs_order)
{
    struct logs_source s[3] = {
        {.label = "127.0.0.1:1 redis",
         .text = "1:M 02 Dec 2026 10:00:00.000 * a1\n"
                 "   logo line\n"
                 "1:M 02 Dec 2026 10:00:02.000 * a2\n"},
        {.label = "127.0.0.1:2 sentinel",
         .text = "no time first\n"
                 "2:X 02 Dec 2026 10:00:01.000 # b1\n"
                 "2:X 02 Dec 2026 10:00:02.000 # b2\n"},
        {.label = "127.0.0.1:3 proxy", .text = NULL},
    };
    struct strbuf out = {0};
    logs_merge(s, 3, &out);
    CHECK_STR_EQ(sb_str(&out),
                 "127.0.0.1:1 redis | 1:M 02 Dec 2026 10:00:00.000 * a1\n"
                 "127.0.0.1:1 redis |    logo line\n"
                 "127.0.0.1:2 sentinel | no time first\n"
                 "127.0.0.1:2 sentinel | 2:X 02 Dec 2026 10:00:01.000 # b1\n"
                 "127.0.0.1:1 redis | 1:M 02 Dec 2026 10:00:02.000 * a2\n"
                 "127.0.0.1:2 sentinel | 2:X 02 Dec 2026 10:00:02.000 # b2\n");
    sb_release(&out);

    /* a log without any time keeps its order, before the timed ones */
    struct logs_source u[2] = {
        {.label = "x", .text = "9:M 02 Dec 2026 10:00:00.000 * late\n"},
        {.label = "y", .text = "two\none"},
    };
    logs_merge(u, 2, &out);
    CHECK_STR_EQ(sb_str(&out), "y | two\ny | one\nx | 9:M 02 Dec 2026 10:00:00.000 * late\n");
    sb_release(&out);
}

int main(void)
{
    RUN(times_of_redis_sentinel_and_nutcracker_lines);
    RUN(merge_by_time_keeping_each_logs_order);
    return test_done();
}
