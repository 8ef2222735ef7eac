/*
 * json_out.h - the small pieces every JSON writer of rmgr shares (jansson):
 * a string that may be absent, and a document printed the one way rmgr
 * prints documents.
 */
#ifndef RMGR_JSON_OUT_H
#define RMGR_JSON_OUT_H

#include <jansson.h>

/* A JSON string for `s`, or null when `s` is NULL. */
json_t *json_str_or_null(const char *s);

/*
 * `root` as text indented by two, keys in insertion order, followed by a
 * newline ("{}\n" if jansson cannot print it). Takes `root` (decrefs it).
 * Caller frees.
 */
char *json_out_doc(json_t *root);

#endif
