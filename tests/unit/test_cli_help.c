/*
 * test_cli_help.c - every command's --help against its option table: each
 * option row has help text and its line in the help, each heading is there,
 * and the help opens with the command's usage line. The help is printed from
 * the table (cli.c, opt.c), so these checks catch a row added without help
 * and a printer that drops rows. Links every src/cli object but main.o.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/opt.h"
#include "test.h"
#include "util.h"

/* `rmgr NAME --help` as one string; caller frees */
static char *help_of(const struct command *cmd)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cli_print_command_help(f, cmd);
    fclose(f);
    return text;
}

/* the line `help` gives row `o`: "\n  -f, --file SPEC " or "\n  --json " */
static char *row_start(const struct cli_opt *o)
{
    char *dashes = o->short_name ? xasprintf("-%c%s", o->short_name, o->name ? ", " : "")
                                 : xstrdup("");
    char *s = xasprintf("\n  %s%s%s%s%s ", dashes, o->name ? "--" : "", o->name ? o->name : "",
                        o->type != CLI_OPT_FLAG ? " " : "",
                        o->type != CLI_OPT_FLAG ? o->arg : "");
    free(dashes);
    return s;
}

TEST(every_option_row_is_in_its_commands_help)
{
    size_t n;
    const struct command *const *cmds = cli_commands(&n);
    CHECK(n >= 7);
    for (size_t c = 0; c < n; c++) {
        const struct command *cmd = cmds[c];
        char *help = help_of(cmd);
        char *usage = xasprintf("usage: rmgr %s ", cmd->name);
        CHECK(str_starts_with(help, usage));
        free(usage);
        CHECK(cmd->opts && cmd->nopts > 0);
        size_t listed = 0;
        for (size_t i = 0; i < cmd->nopts; i++) {
            const struct cli_opt *o = &cmd->opts[i];
            if (o->type == CLI_OPT_ARG)
                continue; /* positional: the usage line names it */
            if (o->type == CLI_OPT_GROUP) {
                char *heading = xasprintf("\n%s\n", o->help);
                CHECK_CONTAINS(help, heading);
                free(heading);
                continue;
            }
            listed++;
            if (!o->help || !*o->help)
                printf("    %s: --%s has no help text\n", cmd->name, o->name);
            CHECK(o->help && *o->help);
            CHECK(o->type == CLI_OPT_FLAG || (o->arg && *o->arg));
            char *start = row_start(o);
            CHECK_CONTAINS(help, start);
            free(start);
            /* every line of the row's help, as given */
            char *copy = xstrdup(o->help ? o->help : "");
            for (char *save, *line = strtok_r(copy, "\n", &save); line;
                 line = strtok_r(NULL, "\n", &save))
                CHECK_CONTAINS(help, line);
            free(copy);
        }
        CHECK(listed > 0);
        CHECK(!cmd->epilog || strstr(help, cmd->epilog));
        free(help);
    }
}

TEST(help_command_and_dash_dash_help_agree_on_lookup)
{
    size_t n;
    const struct command *const *cmds = cli_commands(&n);
    for (size_t c = 0; c < n; c++)
        CHECK(cli_find_command(cmds[c]->name) == cmds[c]);
    CHECK(cli_find_command("no-such-command") == NULL);
}

int main(void)
{
    RUN(every_option_row_is_in_its_commands_help);
    RUN(help_command_and_dash_dash_help_agree_on_lookup);
    return test_done();
}
