/*
 * metrics_http.c - /metrics, / and /api/status over GNU libmicrohttpd (see
 * metrics_http.h). A hand-written HTTP server is exactly what one should
 * not put in front of an operator's network: libmicrohttpd parses requests,
 * limits connections and times idle ones out.
 */
#include "metrics_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "secrets_dir.h"

#define MAX_CONNECTIONS 32
#define CONNECTION_TIMEOUT_S 10
#define MIN_TOKEN_LEN 16

struct metrics_server {
    struct MHD_Daemon *d;
    struct metrics_registry *reg;
    char *token;
};

/* ---------------------------------------------------------------- pure */

int metrics_listen_parse(const char *text, struct metrics_listen *out, char **err)
{
    memset(out, 0, sizeof(*out));
    const char *host = text, *colon;
    size_t hlen;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':')
            goto bad;
        host = text + 1;
        hlen = (size_t)(close - host);
        colon = close + 1;
        out->ipv6 = true;
    } else {
        colon = strrchr(text, ':');
        if (!colon || strchr(text, ':') != colon)
            goto bad;
        hlen = (size_t)(colon - text);
    }
    if (hlen == 0 || hlen >= sizeof(out->ip))
        goto bad;
    memcpy(out->ip, host, hlen);
    out->ip[hlen] = '\0';
    long port;
    if (!parse_long(colon + 1, 1, 65535, &port))
        goto bad;
    out->port = (int)port;
    if (out->ipv6) {
        struct in6_addr a6;
        if (inet_pton(AF_INET6, out->ip, &a6) != 1)
            goto bad;
        out->loopback = IN6_IS_ADDR_LOOPBACK(&a6);
    } else {
        struct in_addr a4;
        if (inet_pton(AF_INET, out->ip, &a4) != 1)
            goto bad;
        out->loopback = (ntohl(a4.s_addr) >> 24) == 127;
    }
    return 0;
bad:
    *err = xasprintf("'%s' is not ADDR:PORT with an IP address (e.g. 127.0.0.1:9121 or "
                     "[::1]:9121)",
                     text);
    return -1;
}

bool metrics_token_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = la != lb;
    size_t n = la > lb ? la : lb;
    for (size_t i = 0; i < n; i++) {
        unsigned char x = i < la ? (unsigned char)a[i] : 0;
        unsigned char y = i < lb ? (unsigned char)b[i] : 0;
        diff |= x ^ y;
    }
    return diff == 0;
}

char *metrics_token_read(const char *file, char **err)
{
    int fd = secrets_dir_open(file, err);
    if (fd < 0)
        return NULL;
    char *text = NULL;
    size_t len = 0;
    if (read_fd(fd, 4096, &text, &len) < 0) {
        *err = xasprintf("cannot read the metrics token file '%s': %s", file, strerror(errno));
        return NULL;
    }
    text[strcspn(text, "\r\n")] = '\0';
    if (strlen(text) < MIN_TOKEN_LEN) {
        secret_free(text);
        *err = xasprintf("the metrics token in '%s' must be one line of at least %d characters",
                         file, MIN_TOKEN_LEN);
        return NULL;
    }
    return text;
}

/* ---------------------------------------------------------------- serving */

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, const char *type,
                               char *body, bool head)
{
    size_t len = strlen(body);
    struct MHD_Response *r =
        head ? MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT)
             : MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (head)
        free(body);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"rmgr\"");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static bool authorized(const struct metrics_server *s, struct MHD_Connection *c)
{
    if (!s->token)
        return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return false;
    h += 7;
    while (*h == ' ')
        h++;
    return metrics_token_equal(h, s->token);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    (void)version;
    (void)upload;
    struct metrics_server *s = cls;
    bool head = str_eq(method, MHD_HTTP_METHOD_HEAD);
    if (!head && !str_eq(method, MHD_HTTP_METHOD_GET))
        return respond(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8",
                       xstrdup("read-only: GET or HEAD\n"), false);
    if (!*con_cls) { /* the headers: answer on the next call */
        *con_cls = s;
        return MHD_YES;
    }
    if (*upload_size) { /* a GET with a body: ignore the body */
        *upload_size = 0;
        return MHD_YES;
    }
    if (!authorized(s, c))
        return respond(c, MHD_HTTP_UNAUTHORIZED, "text/plain; charset=utf-8",
                       xstrdup("a bearer token is required (Authorization: Bearer TOKEN)\n"),
                       head);
    double now = now_s();
    if (str_eq(url, "/metrics"))
        return respond(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                       metrics_render_locked(s->reg, metrics_render_text, now), head);
    if (str_eq(url, "/") || str_eq(url, "/index.html"))
        return respond(c, MHD_HTTP_OK, "text/html; charset=utf-8",
                       metrics_render_locked(s->reg, status_render_html, now), head);
    if (str_eq(url, "/api/status"))
        return respond(c, MHD_HTTP_OK, "application/json",
                       metrics_render_locked(s->reg, status_render_json, now), head);
    return respond(c, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8",
                   xstrdup("not found: /, /metrics or /api/status\n"), head);
}

struct metrics_server *metrics_server_start(const struct metrics_listen *l, const char *token,
                                            struct metrics_registry *reg, char **err)
{
    if (!l->loopback && !token) {
        *err = xasprintf("listening on %s (not loopback) needs --metrics-token-file", l->ip);
        return NULL;
    }
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG;
    if (l->ipv6) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)l->port);
        inet_pton(AF_INET6, l->ip, &a6->sin6_addr);
        flags |= MHD_USE_IPv6;
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)l->port);
        inet_pton(AF_INET, l->ip, &a4->sin_addr);
    }
    struct metrics_server *s = xcalloc(1, sizeof(*s));
    s->reg = reg;
    s->token = xstrdup(token);
    s->d = MHD_start_daemon(flags, (uint16_t)l->port, NULL, NULL, handle, s,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S,
                            MHD_OPTION_END);
    if (!s->d) {
        int e = errno;
        *err = xasprintf("cannot listen on %s%s%s:%d: %s", l->ipv6 ? "[" : "", l->ip,
                         l->ipv6 ? "]" : "", l->port, e ? strerror(e) : "libmicrohttpd failed");
        secret_free(s->token);
        free(s);
        return NULL;
    }
    return s;
}

void metrics_server_stop(struct metrics_server *s)
{
    if (!s)
        return;
    MHD_stop_daemon(s->d);
    secret_free(s->token);
    free(s);
}
