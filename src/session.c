/*
 * session.c - load spec, read password, observe, plan: the sequence that
 * plan, apply, status and reconcile share. See session.h.
 */
#include "session.h"

#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "fingerprint.h"
#include "observe.h"
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

int session_load(struct session *s, const struct session_options *o, FILE *err)
{
    struct diags d = {0};
    s->spec = spec_load_file(o->spec_path, &d);
    diags_sort(&d);
    diags_print(&d, err); /* warnings too: they matter before acting */
    diags_release(&d);
    if (!s->spec)
        return -1;
    char *msg = NULL;
    if (spec_read_password(s->spec, &s->password, &msg) < 0) {
        fprintf(err, "rmgr: cannot read the password: %s\n", msg ? msg : "unknown error");
        free(msg);
        return -1;
    }
    return 0;
}

struct observe_options session_observe_options(const struct session *s,
                                               const struct session_options *o)
{
    return (struct observe_options){
        .connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms
                                                        : SESSION_DEFAULT_CONNECT_TIMEOUT_MS,
        .command_timeout_ms = o->command_timeout_ms > 0 ? o->command_timeout_ms
                                                        : SESSION_DEFAULT_COMMAND_TIMEOUT_MS,
        .password = s->password,
        .skip_files = o->skip_files,
    };
}

void session_observe(struct session *s, const struct session_options *o)
{
    struct observe_options oo = session_observe_options(s, o);
    observed_free(s->observed);
    s->observed = observe_cluster(s->spec, &oo);
}

void session_plan(struct session *s, const struct session_options *o)
{
    plan_free(s->plan);
    free(s->fingerprint);
    s->plan = plan_compute(s->spec, s->observed);
    s->fingerprint = fingerprint_compute(s->spec, o->commit, s->observed);
}

int session_open(struct session *s, const struct session_options *o, FILE *err)
{
    if (session_load(s, o, err) < 0)
        return -1;
    session_observe(s, o);
    session_plan(s, o);
    return 0;
}

void session_release(struct session *s)
{
    if (!s)
        return;
    if (s->password) {
        /* volatile: the compiler must not drop a store to memory about to be freed */
        volatile char *p = s->password;
        while (*p)
            *p++ = '\0';
        free(s->password);
    }
    free(s->fingerprint);
    plan_free(s->plan);
    observed_free(s->observed);
    spec_free(s->spec);
    memset(s, 0, sizeof(*s));
}
