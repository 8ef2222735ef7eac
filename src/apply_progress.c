/*
 * apply_progress.c - what a run prints: a line per step ("[3/12] + start
 * 127.0.0.1:7001 ... done (12 ms)"), a line per health check, the error
 * lines of a failed step.
 */
#include "apply_impl.h"

#include <stdio.h>
#include <stdlib.h>

#define C_GREEN "\033[32m"
#define C_RED "\033[31m"
#define C_RESET "\033[0m"

/* "[3/12] + start 127.0.0.1:7001" (+ the shard for sentinel steps). Caller frees. */
char *run_step_label(const struct run *r, size_t i)
{
    const struct step *st = &r->p->steps[i];
    bool shard = st->shard && step_kind_has(st->kind, STEPF_LABEL_SHARD);
    return xasprintf("[%zu/%zu] %s %s %s%s%s", r->number[i], r->total,
                     step_action_symbol(st->action), step_kind_name(st->kind), st->target,
                     shard ? " " : "", shard ? st->shard : "");
}

/* Indent every line after the first of `msg` for the progress output. */
static void print_error_lines(FILE *out, const char *msg)
{
    fputs("      ", out);
    for (const char *p = msg; *p; p++) {
        fputc(*p, out);
        if (*p == '\n')
            fputs("      ", out);
    }
    fputc('\n', out);
}

void run_print_result(const struct run *r, size_t i, bool ok, const char *note, long long ms,
                      const char *err, bool live)
{
    FILE *out = r->o.out;
    if (!out)
        return;
    if (!live) {
        char *label = run_step_label(r, i);
        fprintf(out, "%s ... ", label);
        free(label);
    }
    if (ok)
        fprintf(out, "%sdone%s (%s%s%lld ms)\n", r->o.color ? C_GREEN : "",
                r->o.color ? C_RESET : "", note ? note : "", note ? ", " : "", ms);
    else
        fprintf(out, "%sfailed%s (%lld ms)\n", r->o.color ? C_RED : "",
                r->o.color ? C_RESET : "", ms);
    if (!ok && err)
        print_error_lines(out, err);
    fflush(out);
}

void run_print_start(struct run *r, size_t i, bool live)
{
    if (!live || !r->o.out)
        return;
    pthread_mutex_lock(&r->lock);
    char *label = run_step_label(r, i);
    fprintf(r->o.out, "%s ... ", label);
    fflush(r->o.out);
    free(label);
    pthread_mutex_unlock(&r->lock);
}

void run_print_check(struct run *r, const char *what)
{
    if (!r->o.out || r->side_by_side)
        return;
    fprintf(r->o.out, "check: %s ... ", what);
    fflush(r->o.out);
}

void run_print_check_result(struct run *r, const char *what, bool ok, long long ms)
{
    if (!r->o.out)
        return;
    pthread_mutex_lock(&r->lock);
    if (r->side_by_side)
        fprintf(r->o.out, "check: %s ... ", what);
    if (ok)
        fprintf(r->o.out, "%sok%s (%lld ms)\n", r->o.color ? C_GREEN : "",
                r->o.color ? C_RESET : "", ms);
    else
        fprintf(r->o.out, "%sfailed%s (%lld ms)\n", r->o.color ? C_RED : "",
                r->o.color ? C_RESET : "", ms);
    fflush(r->o.out);
    pthread_mutex_unlock(&r->lock);
}
