/* test_transport_quote.c - POSIX sh quoting of argv for the ssh transport. */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "transport.h"
#include "util.h"

/*
 * Undo sh quoting the way sh would for words made only of '...' and \':
 * returns the words split at unquoted spaces, joined with '|', or NULL when
 * the input contains anything else unquoted (which would let sh interpret it).
 */
static char *sh_unquote(const char *s)
{
    struct strbuf sb = {0};
    bool in_word = false;
    for (const char *p = s; *p;) {
        if (*p == '\'') {
            const char *end = strchr(p + 1, '\'');
            if (!end) {
                sb_release(&sb);
                return NULL;
            }
            sb_addn(&sb, p + 1, (size_t)(end - p - 1));
            in_word = true;
            p = end + 1;
        } else if (*p == '\\' && p[1] == '\'') {
            sb_addc(&sb, '\'');
            in_word = true;
            p += 2;
        } else if (*p == ' ' && in_word) {
            sb_addc(&sb, '|');
            in_word = false;
            p++;
        } else {
            sb_release(&sb);
            return NULL; /* a bare character sh would interpret */
        }
    }
    return sb_detach(&sb);
}

static void check_quote(const char *in, const char *expected)
{
    char *q = transport_sh_quote(in);
    CHECK_STR_EQ(q, expected);
    char *back = sh_unquote(q);
    CHECK_STR_EQ(back, in);
    free(q);
    free(back);
}

TEST(quotes_plain_words)
{
    check_quote("abc", "'abc'");
    check_quote("/usr/bin/redis-server", "'/usr/bin/redis-server'");
}

TEST(quotes_empty_argument)
{
    check_quote("", "''");
}

TEST(quotes_single_quotes)
{
    check_quote("it's", "'it'\\''s'");
    check_quote("'", "''\\'''");
    check_quote("''", "''\\'''\\'''");
    check_quote("a'b'c", "'a'\\''b'\\''c'");
}

TEST(leaves_shell_syntax_literal)
{
    check_quote("$(reboot)", "'$(reboot)'");
    check_quote("`id`", "'`id`'");
    check_quote("$HOME ${x:-y}", "'$HOME ${x:-y}'");
    check_quote("a;b&&c||d|e>f<g", "'a;b&&c||d|e>f<g'");
    check_quote("\"double\" \\back", "'\"double\" \\back'");
    check_quote("*?[a-z]~#!", "'*?[a-z]~#!'");
}

TEST(keeps_whitespace_and_newlines)
{
    check_quote("two words", "'two words'");
    check_quote("line1\nline2\n", "'line1\nline2\n'");
    check_quote("\ttab  ", "'\ttab  '");
}

TEST(keeps_non_ascii_bytes)
{
    check_quote("caf\xc3\xa9 \x01\x7f", "'caf\xc3\xa9 \x01\x7f'");
}

TEST(quotes_argv)
{
    const char *argv[] = {"echo", "a b", "", "it's", "$(x)", NULL};
    char *q = transport_sh_quote_argv(argv);
    CHECK_STR_EQ(q, "'echo' 'a b' '' 'it'\\''s' '$(x)'");
    char *back = sh_unquote(q);
    CHECK_STR_EQ(back, "echo|a b||it's|$(x)");
    free(q);
    free(back);

    const char *empty[] = {NULL};
    q = transport_sh_quote_argv(empty);
    CHECK_STR_EQ(q, "");
    free(q);
}

int main(void)
{
    RUN(quotes_plain_words);
    RUN(quotes_empty_argument);
    RUN(quotes_single_quotes);
    RUN(leaves_shell_syntax_literal);
    RUN(keeps_whitespace_and_newlines);
    RUN(keeps_non_ascii_bytes);
    RUN(quotes_argv);
    return test_done();
}
