/*
 * json_out.c - shared pieces of the JSON writers. See json_out.h.
 */
#include "json_out.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Length of the well-formed UTF-8 sequence at `p` (RFC 3629: no overlongs, no surrogates, at
 * most U+10FFFF), or 0 when the bytes there are not one. */
static size_t utf8_seq_len(const unsigned char *p)
{
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* bounds of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* past U+10FFFF */
    } else {
        return 0;
    }
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return n;
}

char *utf8_or_replaced(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    struct strbuf sb = {0};
    while (*p) {
        size_t n = utf8_seq_len(p);
        if (n) {
            sb_addn(&sb, (const char *)p, n);
            p += n;
        } else {
            sb_add(&sb, "\xEF\xBF\xBD"); /* U+FFFD REPLACEMENT CHARACTER */
            p++;
        }
    }
    return sb_detach(&sb);
}

json_t *json_text(const char *s)
{
    json_t *j = json_string(s);
    if (j)
        return j;
    char *fixed = utf8_or_replaced(s);
    j = json_string(fixed);
    free(fixed);
    return j;
}

json_t *json_str_or_null(const char *s)
{
    return s ? json_text(s) : json_null();
}

json_t *json_addr(const char *ip, int port)
{
    char *a = xasprintf("%s:%d", ip, port);
    json_t *j = json_text(a);
    free(a);
    return j;
}

void json_set_text_key(json_t *obj, const char *key, json_t *value)
{
    /* json_object_set_new() would drop the value of a key that is not UTF-8 */
    char *fixed = utf8_or_replaced(key);
    json_object_set_new(obj, fixed, value);
    free(fixed);
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
