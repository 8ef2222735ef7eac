/*
 * opt.c - the options the session commands share (-f/--file,
 * --connect-timeout, --timeout) and option values. See cli.h.
 */
#include <string.h>

#include "cli.h"
#include "session.h"
#include "util.h"

int session_option_value(const char *name, const struct command *cmd, int argc, char **argv,
                         int *i, const char **value)
{
    const char *arg = argv[*i];
    size_t n = strlen(name);
    if (strncmp(arg, name, n))
        return 0;
    if (arg[n] == '=') {
        *value = arg + n + 1;
    } else if (arg[n] == '\0') {
        if (*i + 1 >= argc) {
            cli_usage_error(cmd, "option '%s' needs a value", name);
            return -1;
        }
        *value = argv[++*i];
    } else {
        return 0; /* a longer option that starts with the same letters */
    }
    if (!**value) {
        cli_usage_error(cmd, "option '%s' needs a value", name);
        return -1;
    }
    return 1;
}

/* A timeout in milliseconds: 1 .. 1 hour. */
static int parse_timeout(const struct command *cmd, const char *name, const char *v, long *out)
{
    if (!parse_long(v, 1, 3600 * 1000, out)) {
        cli_usage_error(cmd, "option '%s' needs milliseconds (1-3600000), not '%s'", name, v);
        return -1;
    }
    return 1;
}

int session_parse_option(struct session_options *o, const struct command *cmd, int argc,
                         char **argv, int *i)
{
    const char *v;
    int rc;
    if ((rc = session_option_value("-f", cmd, argc, argv, i, &v)) != 0 ||
        (rc = session_option_value("--file", cmd, argc, argv, i, &v)) != 0) {
        if (rc > 0)
            o->spec_path = v;
        return rc;
    }
    if ((rc = session_option_value("--connect-timeout", cmd, argc, argv, i, &v)) != 0)
        return rc < 0 ? rc : parse_timeout(cmd, "--connect-timeout", v, &o->connect_timeout_ms);
    if ((rc = session_option_value("--timeout", cmd, argc, argv, i, &v)) != 0)
        return rc < 0 ? rc : parse_timeout(cmd, "--timeout", v, &o->command_timeout_ms);
    return 0;
}
