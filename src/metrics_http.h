/*
 * metrics_http.h - the HTTP edge of `reconcile --metrics-listen`: GNU
 * libmicrohttpd serving /metrics (Prometheus text), / (the status page) and
 * /api/status (JSON) from the metrics registry. Read-only: GET and HEAD
 * only; a request renders what the reconcile loop last handed over and
 * never talks to a cluster.
 *
 * Loopback (127.0.0.0/8, ::1) is the default; any other address needs a
 * bearer token (--metrics-token-file), compared in constant time. With a
 * token, every path needs it, on loopback too.
 */
#ifndef RMGR_METRICS_HTTP_H
#define RMGR_METRICS_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "metrics.h"

struct metrics_listen {
    char ip[64];      /* an IP literal as given (IPv6 without brackets) */
    int port;
    bool ipv6;
    bool loopback;    /* 127.0.0.0/8 or ::1 */
};

/* Parse "ADDR:PORT" ("[::1]:9121" for IPv6). 0, or -1 with *err. Pure. */
int metrics_listen_parse(const char *text, struct metrics_listen *out, char **err);

/* a and b equal, in time that depends on their lengths only. Pure. */
bool metrics_token_equal(const char *a, const char *b);

/*
 * The token from a file under the secrets directory (its first line; at
 * least 16 characters). Caller frees with secret_free. NULL with *err.
 */
char *metrics_token_read(const char *file, char **err);

struct metrics_server;

/*
 * Listen on `l` and serve `reg` (borrowed until stopped) from a thread of
 * libmicrohttpd's. `token` (copied; NULL for none) is required when set and
 * must be set for a non-loopback address. NULL with *err.
 */
struct metrics_server *metrics_server_start(const struct metrics_listen *l, const char *token,
                                            struct metrics_registry *reg, char **err);

/* Stop serving (waits for the thread) and free. NULL is fine. */
void metrics_server_stop(struct metrics_server *s);

#endif
