/* test_url.c - url.c: the one URL-authority splitter, and its users' results */
#include "git_source.h"
#include "notify.h"
#include "test.h"
#include "url.h"
#include "util.h"

static char *piece(const char *s, size_t n)
{
    return s ? xstrndup(s, n) : NULL;
}

TEST(splits_userinfo_host_and_rest)
{
    struct url_parts p;
    const char *url = "HTTPS://u%40x:p@ss@Host.example:8443/a/b?q=1#f";
    CHECK(url_split(url, &p));
    CHECK_INT_EQ(p.scheme_len, 5);
    CHECK(url_scheme_is(url, &p, "https"));
    CHECK(!url_scheme_is(url, &p, "http"));
    CHECK(p.has_userinfo);
    char *user = piece(p.auth, p.user_len), *pass = piece(p.password, p.password_len),
         *host = piece(p.host, p.host_len);
    CHECK_STR_EQ(user, "u%40x");
    CHECK_STR_EQ(pass, "p@ss"); /* the last '@' ends the userinfo */
    CHECK_STR_EQ(host, "Host.example:8443");
    CHECK_STR_EQ(p.rest, "/a/b?q=1#f");
    free(user);
    free(pass);
    free(host);
}

TEST(authority_ends_at_slash_query_or_fragment)
{
    struct url_parts p;
    CHECK(url_split("http://h?x=@evil", &p));
    CHECK(!p.has_userinfo); /* an '@' in the query is not userinfo */
    CHECK_INT_EQ(p.host_len, 1);
    CHECK(url_split("http://h#@evil", &p));
    CHECK(!p.has_userinfo);
    CHECK(url_split("ssh://git@h/p@q", &p));
    CHECK_INT_EQ(p.user_len, 3);
    CHECK_INT_EQ(p.host_len, 1);
    CHECK(!p.has_password);
    CHECK(p.password == NULL);
    CHECK(url_split("ssh://:pw@h", &p));
    CHECK(p.has_userinfo);
    CHECK_INT_EQ(p.user_len, 0);
    CHECK(p.has_password);
    CHECK(url_split("file:///srv/repo", &p));
    CHECK_INT_EQ(p.auth_len, 0);
    CHECK_STR_EQ(p.rest, "/srv/repo");
    CHECK(url_split("git+ssh://h", &p));
    CHECK_INT_EQ(p.scheme_len, 7);
}

TEST(only_scheme_colon_slash_slash_is_a_url)
{
    struct url_parts p;
    CHECK(!url_split("git@github.com:o/r.git", &p)); /* scp-like */
    CHECK(!url_split("/srv/a://b", &p));
    CHECK(!url_split("./a://b", &p));
    CHECK(!url_split("1http://h", &p)); /* a scheme starts with a letter */
    CHECK(!url_split("ht_tp://h", &p));
    CHECK(!url_split("slack=https://h", &p));
    CHECK(!url_split("", &p));
    CHECK(!url_split(NULL, &p));
    CHECK_INT_EQ(p.scheme_len, 0);
}

TEST(users_agree)
{
    char *s = notify_url_display("HTTPS://user:secret@hooks.example/T0/B1?x=@y");
    CHECK_STR_EQ(s, "https://hooks.example");
    free(s);
    s = git_source_redact_url("https://user:secret@git.example/r.git");
    CHECK_STR_EQ(s, "https://git.example/r.git");
    free(s);
    s = git_source_redact_url("ssh://git:secret@git.example:2222/r.git");
    CHECK_STR_EQ(s, "ssh://git@git.example:2222/r.git");
    free(s);
    /* an '@' in the query is not userinfo: nothing to redact */
    s = git_source_redact_url("https://git.example/r.git?a=b@c");
    CHECK_STR_EQ(s, "https://git.example/r.git?a=b@c");
    free(s);
    s = git_source_redact_url("git@git.example:r.git");
    CHECK_STR_EQ(s, "git@git.example:r.git");
    free(s);
}

int main(void)
{
    RUN(splits_userinfo_host_and_rest);
    RUN(authority_ends_at_slash_query_or_fragment);
    RUN(only_scheme_colon_slash_slash_is_a_url);
    RUN(users_agree);
    return test_done();
}
