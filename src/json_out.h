/*
 * json_out.h - the small pieces every JSON writer of rmgr shares (jansson):
 * a string that may be absent, and a document printed the one way rmgr
 * prints documents.
 */
#ifndef RMGR_JSON_OUT_H
#define RMGR_JSON_OUT_H

#include <jansson.h>

/*
 * `s` with every byte that does not start a well-formed UTF-8 sequence
 * replaced by U+FFFD. Caller frees.
 */
char *utf8_or_replaced(const char *s);

/*
 * A JSON string for `s`, never NULL: bytes that are not UTF-8 become
 * U+FFFD (json_string() would return NULL and the value would vanish).
 * Every JSON writer uses this instead of json_string().
 */
json_t *json_text(const char *s);

/* json_text(s), or null when `s` is NULL. */
json_t *json_str_or_null(const char *s);

/* "ip:port" as json_text() makes it (json_sprintf() would return NULL for bytes not UTF-8). */
json_t *json_addr(const char *ip, int port);

/* json_object_set_new() with `key` made UTF-8 the same way, so neither vanishes. */
void json_set_text_key(json_t *obj, const char *key, json_t *value);

/*
 * `root` as text indented by two, keys in insertion order, followed by a
 * newline ("{}\n" if jansson cannot print it). Takes `root` (decrefs it).
 * Caller frees.
 */
char *json_out_doc(json_t *root);

#endif
