/* test_redact.c - redact.c: the secrets the log and notifications never print */
#include "redact.h"
#include "test.h"

TEST(redact_replaces_every_occurrence)
{
    char *secrets[] = {"hunter2", NULL, "", "s3cr3t-longer-hunter2x"};
    char *r = redact_secrets("a hunter2 b hunter2hunter2 c s3cr3t-longer-hunter2x", secrets, 4);
    CHECK_STR_EQ(r, "a ****** b ************ c ******");
    free(r);
    CHECK(redact_secrets(NULL, secrets, 4) == NULL);
    r = redact_secrets("nothing", NULL, 0);
    CHECK_STR_EQ(r, "nothing");
    free(r);
}

TEST(longest_secret_first)
{
    /* "pw" inside "pw-long": the longer goes first, so no "-long" is left over */
    char *secrets[] = {"pw", "pw-long"};
    char *r = redact_secrets("x pw-long y pw", secrets, 2);
    CHECK_STR_EQ(r, "x " REDACTED " y " REDACTED);
    free(r);
}

int main(void)
{
    RUN(redact_replaces_every_occurrence);
    RUN(longest_secret_first);
    return test_done();
}
