/*
 * opt.c - the command line's one option parser. See opt.h.
 */
#include "opt.h"

#include <stdlib.h>
#include <string.h>

#include "notify.h"
#include "spec.h"
#include "util.h"

/*
 * The row that argument `a` names, with *value pointing at its "=VALUE" part
 * (NULL without one); NULL when no row names it. "--name" and "--name=..."
 * match a long name, "-n" and "-n=..." a short one; nothing else does.
 */
static const struct cli_opt *find_opt(const struct cli_opt *opts, size_t n, const char *a,
                                      const char **value)
{
    *value = NULL;
    for (size_t i = 0; i < n; i++) {
        const struct cli_opt *o = &opts[i];
        if (o->type == CLI_OPT_ARG)
            continue;
        const char *rest = NULL;
        if (o->name && a[0] == '-' && a[1] == '-' && str_starts_with(a + 2, o->name))
            rest = a + 2 + strlen(o->name);
        else if (o->short_name && a[0] == '-' && a[1] == o->short_name)
            rest = a + 2;
        if (!rest || (*rest != '\0' && *rest != '='))
            continue; /* another option that starts with the same letters */
        if (*rest == '=') {
            if (o->type == CLI_OPT_FLAG)
                continue; /* a flag takes no value: "--json=x" is unknown */
            *value = rest + 1;
        }
        return o;
    }
    return NULL;
}

static const struct cli_opt *find_arg(const struct cli_opt *opts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (opts[i].type == CLI_OPT_ARG)
            return &opts[i];
    return NULL;
}

/* "--name" or "-n", as the user would type the option; caller frees. */
static char *opt_label(const struct cli_opt *o, const char *typed)
{
    if (typed[1] != '-' && o->short_name)
        return xasprintf("-%c", o->short_name);
    return xasprintf("--%s", o->name);
}

/* Store `value` (NULL for a flag) for row `o`. 0, or -1 with *err. */
static int take(const struct cli_opt *o, const char *label, const char *value, void *base,
                char **err)
{
    void *dest = (char *)base + o->off;
    if (o->fn)
        return o->fn(dest, o, value, err) < 0 ? -1 : 0;
    switch (o->type) {
    case CLI_OPT_FLAG:
        *(bool *)dest = true;
        return 0;
    case CLI_OPT_STRING:
    case CLI_OPT_ARG:
        *(const char **)dest = value;
        return 0;
    case CLI_OPT_MS:
        if (parse_long(value, o->min, o->max, (long *)dest))
            return 0;
        *err = xasprintf("option '%s' needs milliseconds (%ld-%ld), not '%s'", label, o->min,
                         o->max, value);
        return -1;
    case CLI_OPT_DURATION:
        if (parse_duration_ms(value, (long *)dest) && *(long *)dest >= o->min)
            return 0;
        *err = o->min > 0 ? xasprintf("option '%s' needs a duration of at least %ld ms (%s), "
                                      "not '%s'", label, o->min, o->hint, value)
                          : xasprintf("option '%s' needs a duration (%s), not '%s'", label,
                                      o->hint, value);
        return -1;
    case CLI_OPT_GROUP:
        break; /* find_opt never returns a heading: it has no name */
    }
    *err = xasprintf("internal error: option '%s' has no type", label);
    return -1;
}

int cli_opt_parse(const struct cli_opt *opts, size_t n, unsigned flags, int argc, char **argv,
                  void *base, char **err)
{
    const struct cli_opt *arg = find_arg(opts, n);
    bool args_only = false, arg_taken = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *value;
        if (!args_only && (flags & CLI_PARSE_DASHDASH) && !strcmp(a, "--")) {
            args_only = true;
            continue;
        }
        bool is_opt = !args_only && a[0] == '-' && (a[1] || !(flags & CLI_PARSE_DASHDASH));
        if (!is_opt) {
            if (!arg || (!arg->fn && arg_taken)) {
                *err = xasprintf("unexpected argument '%s'", a);
                return -1;
            }
            if (take(arg, a, a, base, err) < 0)
                return -1;
            arg_taken = true;
            continue;
        }
        const struct cli_opt *o = find_opt(opts, n, a, &value);
        if (!o) {
            *err = xasprintf("unknown option '%s'", a);
            return -1;
        }
        char *label = opt_label(o, a);
        if (o->type != CLI_OPT_FLAG && !value) {
            if (i + 1 >= argc) {
                *err = xasprintf("option '%s' needs a value", label);
                free(label);
                return -1;
            }
            value = argv[++i];
        }
        if (value && !*value && !(o->flags & CLI_OPT_EMPTY_OK)) {
            *err = xasprintf("option '%s' needs a value", label);
            free(label);
            return -1;
        }
        int rc = take(o, label, value, base, err);
        free(label);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* "-f, --file SPEC" or "--json": how --help names row `o`; caller frees. */
static char *help_label(const struct cli_opt *o)
{
    struct strbuf sb = {0};
    if (o->short_name)
        sb_addf(&sb, "-%c%s", o->short_name, o->name ? ", " : "");
    if (o->name)
        sb_addf(&sb, "--%s", o->name);
    if (o->type != CLI_OPT_FLAG && o->arg)
        sb_addf(&sb, " %s", o->arg);
    return sb_detach(&sb);
}

/* A row --help lists as an option (headings and positional arguments are not). */
static bool is_listed(const struct cli_opt *o)
{
    return o->type != CLI_OPT_ARG && o->type != CLI_OPT_GROUP;
}

void cli_opt_print_help(FILE *out, const struct cli_opt *opts, size_t n)
{
    /* the help column: after the longest name, and at least where the old texts had it */
    size_t width = 22;
    for (size_t i = 0; i < n; i++) {
        if (!is_listed(&opts[i]))
            continue;
        char *label = help_label(&opts[i]);
        if (strlen(label) > width)
            width = strlen(label);
        free(label);
    }
    for (size_t i = 0; i < n; i++) {
        const struct cli_opt *o = &opts[i];
        if (o->type == CLI_OPT_GROUP) {
            fprintf(out, "%s%s\n", i ? "\n" : "", o->help);
            continue;
        }
        if (!is_listed(o))
            continue;
        char *label = help_label(o);
        const char *name = label; /* on the first line only */
        for (const char *h = o->help ? o->help : "";; name = "") {
            const char *nl = strchr(h, '\n');
            int len = nl ? (int)(nl - h) : (int)strlen(h);
            fprintf(out, "  %-*s  %.*s\n", (int)width, name, len, h);
            if (!nl)
                break;
            h = nl + 1;
        }
        free(label);
    }
}

int cli_opt_notify(void *dest, const struct cli_opt *opt, const char *value, char **err)
{
    return notify_options_set(dest, opt->name, value, err) < 0 ? -1 : 0;
}

int cli_opt_secrets_dir(void *dest, const struct cli_opt *opt, const char *value, char **err)
{
    (void)dest;
    (void)opt;
    (void)err;
    spec_set_secrets_dir(value);
    return 0;
}
