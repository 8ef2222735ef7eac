/*
 * log.h - one line per event for long-running commands (reconcile).
 *
 * Every line names the event, and the cluster and commit it concerns, so a
 * log collector can follow one cluster across runs:
 *
 *   text: 2026-11-25T10:00:00.123Z info drift-found cluster=local commit=0123456789ab Plan: ...
 *   json: {"time":"2026-11-25T10:00:00.123Z","level":"info","event":"drift-found",
 *          "cluster":"local","commit":"<40 hex>","msg":"Plan: ...", ...fields}
 *
 * The logger is process-wide and thread-safe (a mutex around each line).
 * Messages are kept to one line: newlines become "; " in text form (JSON
 * escapes them). Secrets registered with log_add_secret() are replaced by
 * "******" in every line, a last defence behind callers that never pass
 * them in the first place.
 */
#ifndef RMGR_LOG_H
#define RMGR_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "util.h"

enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* One extra key=value of an event; a NULL value is left out. */
struct log_field {
    const char *key;
    const char *value;
};

/* "text" / "json" and back (false for anything else). */
bool log_format_parse(const char *name, enum log_format *out);
const char *log_level_name(enum log_level l); /* "debug", "info", "warn", "error" */

/*
 * Send lines to `path` (appended, created 0640) or, when NULL, to stderr, in
 * format `f`; lines below `min` are dropped. May be called again to change
 * any of these (the previous file is closed). 0, or -1 with *err set
 * (caller frees); the previous destination is then kept.
 */
int log_open(const char *path, enum log_format f, enum log_level min, char **err);

/* Reopen the same file (after logrotate moved it, on SIGHUP). 0, or -1 with *err. */
int log_reopen(char **err);

/* Close the file; later lines go to stderr. Forgets the secrets. */
void log_close(void);

/* Redact this string from every later line; NULL or "" is ignored. */
void log_add_secret(const char *secret);

/*
 * Write one event. `cluster` and `commit` may be NULL (left out; text form
 * shows the first 12 digits of the commit). `fields` (nfields of them) are
 * extra key/values. `fmt` is the human message.
 */
void log_event(enum log_level level, const char *event, const char *cluster, const char *commit,
               const struct log_field *fields, size_t nfields, const char *fmt, ...)
    RMGR_PRINTF(7, 8);

/*
 * A stream whose every line becomes one event at `level` (e.g. the retry
 * messages of notify.h, which writes to a FILE). `event` must outlive it.
 * Close with fclose(). NULL when the stream cannot be made.
 */
FILE *log_stream(enum log_level level, const char *event);

/* log_stream() whose events name `cluster` and `commit` (either may be NULL; both outlive it). */
FILE *log_stream_cluster(enum log_level level, const char *event, const char *cluster,
                         const char *commit);

/*
 * Format one line without writing it (what log_event writes, minus the
 * newline), for tests: `time_ms` is unix milliseconds. Caller frees.
 */
char *log_format_line(enum log_format f, long long time_ms, enum log_level level,
                      const char *event, const char *cluster, const char *commit,
                      const struct log_field *fields, size_t nfields, const char *msg);

#endif
