/*
 * logs.c - read, time and merge the log files of a cluster's instances.
 */
#include "logs.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "parallel.h"

/* ---------------------------------------------------------------- times */

static int month_index(const char *m)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    for (int i = 0; i < 12; i++)
        if (!strncmp(months + 3 * i, m, 3))
            return i;
    return -1;
}

static bool digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

static long num(const char *s, size_t n)
{
    long v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

static long long to_ms(int year, int mon, int day, int h, int mi, int sec, int ms)
{
    struct tm tm = {.tm_year = year - 1900, .tm_mon = mon, .tm_mday = day, .tm_hour = h,
                    .tm_min = mi, .tm_sec = sec};
    return (long long)timegm(&tm) * 1000 + ms;
}

/* "dd Mon yyyy hh:mm:ss.mmm" (24 characters) at p */
static long long redis_time(const char *p, size_t len)
{
    if (len < 24 || !digits(p, 2) || p[2] != ' ' || month_index(p + 3) < 0 || p[6] != ' ' ||
        !digits(p + 7, 4) || p[11] != ' ' || !digits(p + 12, 2) || p[14] != ':' ||
        !digits(p + 15, 2) || p[17] != ':' || !digits(p + 18, 2) || p[20] != '.' ||
        !digits(p + 21, 3))
        return -1;
    return to_ms((int)num(p + 7, 4), month_index(p + 3), (int)num(p, 2), (int)num(p + 12, 2),
                 (int)num(p + 15, 2), (int)num(p + 18, 2), (int)num(p + 21, 3));
}

/* "[yyyy-mm-dd hh:mm:ss.mmm]" (25 characters) at p */
static long long nutcracker_time(const char *p, size_t len)
{
    if (len < 25 || p[0] != '[' || !digits(p + 1, 4) || p[5] != '-' || !digits(p + 6, 2) ||
        p[8] != '-' || !digits(p + 9, 2) || p[11] != ' ' || !digits(p + 12, 2) ||
        p[14] != ':' || !digits(p + 15, 2) || p[17] != ':' || !digits(p + 18, 2) ||
        p[20] != '.' || !digits(p + 21, 3) || p[24] != ']')
        return -1;
    return to_ms((int)num(p + 1, 4), (int)num(p + 6, 2) - 1, (int)num(p + 9, 2),
                 (int)num(p + 12, 2), (int)num(p + 15, 2), (int)num(p + 18, 2),
                 (int)num(p + 21, 3));
}

long long logs_line_time(const char *line, size_t len)
{
    if (len && line[0] == '[')
        return nutcracker_time(line, len);
    /* "pid:R " then the date, R one of M S C X (master, replica, child, sentinel) */
    size_t i = 0;
    while (i < len && isdigit((unsigned char)line[i]))
        i++;
    if (!i || i + 3 > len || line[i] != ':' || !isalpha((unsigned char)line[i + 1]) ||
        line[i + 2] != ' ')
        return -1;
    return redis_time(line + i + 3, len - i - 3);
}

/* ---------------------------------------------------------------- merging */

struct timed_line {
    long long ms;
    size_t source, seq;
    const char *text;
    size_t len;
};

static int cmp_timed_line(const void *a, const void *b)
{
    const struct timed_line *x = a, *y = b;
    if (x->ms != y->ms)
        return x->ms < y->ms ? -1 : 1;
    if (x->source != y->source)
        return x->source < y->source ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void logs_merge(const struct logs_source *s, size_t n, struct strbuf *out)
{
    struct timed_line *v = NULL;
    size_t nv = 0, cap = 0;
    for (size_t i = 0; i < n; i++) {
        const char *t = s[i].text;
        if (!t)
            continue;
        size_t first = nv;
        long long last = -1, earliest = -1;
        for (size_t seq = 0; *t; seq++) {
            size_t l = strcspn(t, "\n");
            long long ms = logs_line_time(t, l);
            if (ms >= 0) {
                last = ms;
                if (earliest < 0)
                    earliest = ms;
            }
            VEC_GROW(v, nv, cap);
            v[nv++] = (struct timed_line){ms >= 0 ? ms : last, i, seq, t, l};
            t += l + (t[l] == '\n');
        }
        for (size_t k = first; k < nv && v[k].ms < 0; k++)
            v[k].ms = earliest; /* lines before the first time: with it (or all -1) */
    }
    if (nv > 1) /* v is NULL when no log had a line: qsort's argument must not be */
        qsort(v, nv, sizeof(*v), cmp_timed_line);
    for (size_t k = 0; k < nv; k++) {
        sb_add(out, s[v[k].source].label);
        sb_add(out, " | ");
        sb_addn(out, v[k].text, v[k].len);
        sb_addc(out, '\n');
    }
    free(v);
}

/* ---------------------------------------------------------------- fetching */

/*
 * One shell line for both fetches: print the file's size, then either its
 * last $3 lines or the bytes after offset $2 (all of it when it shrank).
 */
static const char fetch_script[] =
    "f=$1; [ -r \"$f\" ] || { echo \"cannot read $f\" >&2; exit 3; }; "
    "s=$(wc -c <\"$f\") || exit 3; echo \"$s\"; "
    "if [ \"$3\" -ge 0 ]; then tail -n \"$3\" \"$f\"; "
    "elif [ \"$s\" -lt \"$2\" ]; then cat \"$f\"; "
    "else tail -c +$(($2 + 1)) \"$f\"; fi";

struct fetch_job {
    const struct spec *sp;
    struct logs_source *s;
    long lines;
    const struct transport_options *o;
};

static void *fetch_one(void *arg)
{
    struct fetch_job *j = arg;
    struct logs_source *s = j->s;
    free(s->text);
    free(s->error);
    s->text = s->error = NULL;
    char *err = NULL;
    if (!s->t && !(s->t = transport_open(j->sp, s->host, j->o, &err))) {
        s->error = err;
        return NULL;
    }
    char off[32], n[32];
    snprintf(off, sizeof(off), "%lld", s->offset);
    snprintf(n, sizeof(n), "%ld", s->offset == 0 ? j->lines : -1);
    const char *argv[] = {"sh", "-c", fetch_script, "sh", s->path, off, n, NULL};
    struct exec_result r = {0};
    if (transport_exec(s->t, argv, &r, &err) < 0) {
        s->error = err;
        return NULL;
    }
    if (r.status != 0) {
        size_t l = strcspn(r.err ? r.err : "", "\n");
        s->error = l ? xasprintf("%.*s", (int)l, r.err)
                     : xasprintf("reading %s failed (exit %d)", s->path, r.status);
    } else {
        char *nl = strchr(r.out, '\n');
        long long size = atoll(r.out);
        s->text = xstrdup(nl ? nl + 1 : "");
        s->offset = size;
    }
    exec_result_release(&r);
    return NULL;
}

void logs_fetch(const struct spec *sp, struct logs_source *s, size_t n, long lines,
                const struct transport_options *o)
{
    struct fetch_job *jobs = xcalloc(n ? n : 1, sizeof(*jobs));
    for (size_t i = 0; i < n; i++)
        jobs[i] = (struct fetch_job){sp, &s[i], lines, o};
    parallel_each(jobs, n, sizeof(*jobs), fetch_one);
    free(jobs);
}

void logs_source_release(struct logs_source *s)
{
    free(s->label);
    free(s->host);
    free(s->path);
    free(s->text);
    free(s->error);
    transport_close(s->t);
    memset(s, 0, sizeof(*s));
}
