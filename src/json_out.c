/*
 * json_out.c - shared pieces of the JSON writers. See json_out.h.
 */
#include "json_out.h"

#include <stdlib.h>

#include "util.h"

json_t *json_str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

char *json_out_doc(json_t *root)
{
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    struct strbuf sb = {0};
    sb_add(&sb, text ? text : "{}");
    sb_addc(&sb, '\n');
    free(text);
    return sb_detach(&sb);
}
