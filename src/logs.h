/*
 * logs.h - `rmgr logs`: the log files of a cluster's instances, read over
 * their transports, each line prefixed by its instance and merged by time.
 *
 * Pure parts: the time of a log line (Redis and Sentinel's
 * "pid:role dd Mon yyyy hh:mm:ss.mmm", nutcracker's "[yyyy-mm-dd
 * hh:mm:ss.mmm]") and the merge of several sources' lines. I/O: the tail
 * of each file and, to follow, what was appended since.
 */
#ifndef RMGR_LOGS_H
#define RMGR_LOGS_H

#include <stdbool.h>
#include <stddef.h>

#include "spec.h"
#include "transport.h"
#include "util.h"

/* The time of a log line in ms since the epoch (as UTC), or -1 when it has none. */
long long logs_line_time(const char *line, size_t len);

/* One instance's log. */
struct logs_source {
    char *label;     /* "127.0.0.1:7001 redis" */
    char *host;      /* the spec's host of the instance */
    char *path;      /* its log file */
    struct transport *t;
    long long offset; /* bytes read so far (to follow) */
    char *text;      /* lines read by the last fetch (NUL-terminated, may be NULL) */
    char *error;     /* why the last fetch failed, or NULL */
};

void logs_source_release(struct logs_source *s);

/*
 * Append the lines of every source's `text` to `out` merged by time, each
 * "LABEL | line\n". A line without a time takes the time of the line before
 * it in its source (the first ones: the earliest time of their source);
 * lines of equal time keep source order, and a source's own order is kept.
 */
void logs_merge(const struct logs_source *s, size_t n, struct strbuf *out);

/*
 * Fetch, in parallel: with `lines` >= 0 and offset 0 the last `lines` lines
 * of each file (setting the offset to the file's size), otherwise what was
 * appended since the offset (from the start again when the file shrank).
 * Sets text or error of each source; opens transports on first use.
 */
void logs_fetch(const struct spec *sp, struct logs_source *s, size_t n, long lines,
                const struct transport_options *o);

#endif
