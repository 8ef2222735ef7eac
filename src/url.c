/*
 * url.c - split a URL's authority into userinfo and host. See url.h.
 */
#include "url.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

bool url_split(const char *url, struct url_parts *p)
{
    memset(p, 0, sizeof(*p));
    if (!url || !isalpha((unsigned char)url[0]))
        return false;
    size_t sl = 1;
    while (isalnum((unsigned char)url[sl]) || url[sl] == '+' || url[sl] == '-' ||
           url[sl] == '.')
        sl++;
    if (strncmp(url + sl, "://", 3) != 0)
        return false;
    p->scheme_len = sl;
    p->auth = url + sl + 3;
    p->auth_len = strcspn(p->auth, "/?#");
    p->rest = p->auth + p->auth_len;
    const char *at = NULL;
    for (const char *c = p->auth; c < p->rest; c++)
        if (*c == '@')
            at = c;
    p->host = p->auth;
    if (at) {
        p->has_userinfo = true;
        p->host = at + 1;
        const char *colon = memchr(p->auth, ':', (size_t)(at - p->auth));
        p->user_len = (size_t)((colon ? colon : at) - p->auth);
        if (colon) {
            p->has_password = true;
            p->password = colon + 1;
            p->password_len = (size_t)(at - colon - 1);
        }
    }
    p->host_len = (size_t)(p->rest - p->host);
    return true;
}

bool url_scheme_is(const char *url, const struct url_parts *p, const char *scheme)
{
    return p->scheme_len && strlen(scheme) == p->scheme_len &&
           strncasecmp(url, scheme, p->scheme_len) == 0;
}
