/*
 * etcd.h - a small client of etcd's v3 JSON gateway (etcd 3.4: POST
 * /v3/kv/range, /v3/kv/txn, /v3/lease/grant ...), over HTTP or HTTPS with
 * libcurl and jansson.
 *
 * Keys and values travel base64-encoded, int64 fields (revisions, lease
 * IDs, TTLs) as JSON strings; etcd_b64/etcd_int hide both. A request goes to
 * the endpoint that answered last, then to the others in turn: a member
 * that is down costs one connect timeout, never an error while another
 * answers. With a user ("user:password" from a file under the secrets
 * directory) the client authenticates (/v3/auth/authenticate) and sends the
 * token; an expired token is renewed once per request.
 *
 * Thread-safe: every request uses its own curl handle.
 */
#ifndef RMGR_ETCD_H
#define RMGR_ETCD_H

#include <jansson.h>
#include <stdbool.h>

struct etcd_options {
    const char *url;       /* etcd://HOST:PORT[,HOST:PORT...] */
    const char *cacert;    /* --lock-cacert: verify the members with this CA (https) */
    const char *cert;      /* --lock-cert: client certificate (https) */
    const char *key;       /* --lock-key: its key */
    const char *user_file; /* --lock-user-file: "user:password", under the secrets dir */
    long timeout_ms;       /* per request; 0: 2000 */
};

struct etcd;

/* Parse the URL, read the user file. NULL with *err (nothing contacted yet). */
struct etcd *etcd_new(const struct etcd_options *o, char **err);
void etcd_free(struct etcd *e);

/* "etcd://h1:p1,h2:p2" as given (for messages; never holds a secret). */
const char *etcd_url(const struct etcd *e);

/*
 * POST `body` (its reference is taken) to `path` ("/v3/kv/range"). Returns
 * the decoded answer (caller json_decref's), or NULL with *err: no member
 * answered, or an error answer ({"error": ..., "code": N}).
 */
json_t *etcd_call(struct etcd *e, const char *path, json_t *body, char **err);

/* base64 of a C string, as a new JSON string. */
json_t *etcd_b64(const char *s);
/* A base64 JSON string decoded (caller frees), NULL when absent. */
char *etcd_unb64(const json_t *v);
/* An int64 field ("123" or 123); 0 when absent. */
long long etcd_int(const json_t *obj, const char *field);
/* The int64 as etcd wants it: a new JSON string. */
json_t *etcd_int_json(long long v);
/* The prefix's range end: the prefix with its last byte plus one (caller frees). */
char *etcd_prefix_end(const char *prefix);

#endif
