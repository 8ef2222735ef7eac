/*
 * url.h - split a URL's authority (RFC 3986) into userinfo and host, the one
 * set of rules for every URL rmgr shows, stores or redacts (git remotes,
 * webhooks).
 *
 *   scheme://[user[:password]@]host[:port][/path][?query][#fragment]
 *
 * The scheme is ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) followed by
 * "://"; the authority ends at the first '/', '?' or '#'; the userinfo ends
 * at the authority's last '@' (a password with an unescaped '@' still stays
 * in the userinfo), and the user at the userinfo's first ':'.
 */
#ifndef RMGR_URL_H
#define RMGR_URL_H

#include <stdbool.h>
#include <stddef.h>

/* Pieces of a URL, as pointers into it and lengths. */
struct url_parts {
    size_t scheme_len;    /* url[0, scheme_len) is the scheme */
    const char *auth;     /* the authority, right after "://" */
    size_t auth_len;
    bool has_userinfo;    /* the authority has an '@' */
    size_t user_len;      /* auth[0, user_len): the user (0 without userinfo) */
    bool has_password;    /* the userinfo has a ':' */
    const char *password; /* after that ':'; NULL without one */
    size_t password_len;
    const char *host;     /* host[:port], after the userinfo's '@' */
    size_t host_len;
    const char *rest;     /* path, query and fragment: auth + auth_len */
};

/*
 * Split `url`. False (and *p zeroed) when it does not start with
 * "scheme://": scp-like "user@host:path" and plain paths are not URLs.
 */
bool url_split(const char *url, struct url_parts *p);

/* Whether the scheme of a split URL is `scheme` (ASCII case-insensitive). */
bool url_scheme_is(const char *url, const struct url_parts *p, const char *scheme);

#endif
